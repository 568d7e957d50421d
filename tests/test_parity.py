"""End to end against torch-fidelity on the same folder and checkpoint, and against the formulas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity

import inception_score
from inception_score.features.network import InceptionV3
from inception_score.features.preprocess import preprocess
from inception_score.features.weights import load_state_dict

from .conftest import make_images, torch_fidelity_image_by_image, write_images
from .test_score import improved_gan_formula


@pytest.fixture(scope="module")
def sample_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 PNGs of one size (torch-fidelity cannot batch mixed sizes; see the next test for those)."""
    folder = tmp_path_factory.mktemp("parity") / "samples"
    write_images(folder, make_images(24, (40, 56), seed=11))
    return folder


@pytest.fixture(scope="module")
def our_result(sample_folder: Path, checkpoint_path: Path) -> inception_score.Result:
    # torch-fidelity's batches (64: the 24 images in one): convolutions of another batch size may take
    # another oneDNN algorithm, ~1e-6 off in IS (1 thread, held to AVX2); of the same, bit for bit
    return inception_score.compute(sample_folder, weights=str(checkpoint_path), splits=4, progress=False, batch_size=64)


def test_folder_score_equals_torch_fidelity(sample_folder: Path, checkpoint_path: Path, our_result) -> None:
    ref = torch_fidelity.calculate_metrics(
        input1=str(sample_folder),
        isc=True,
        isc_splits=4,
        cuda=False,
        cache=False,
        verbose=False,
        feature_extractor_weights_path=str(checkpoint_path),
    )
    assert our_result.mean > 3.0  # a confident, diverse classifier: parity means something
    assert our_result.mean == pytest.approx(ref["inception_score_mean"], rel=1e-12)
    assert our_result.std == pytest.approx(ref["inception_score_std"], rel=1e-9)
    assert our_result.num_images == 24 and our_result.splits == 4 and len(our_result.split_scores) == 4


def test_result_records_provenance(our_result, checkpoint_path: Path) -> None:
    import hashlib

    assert our_result.weights_sha256 == hashlib.sha256(checkpoint_path.read_bytes()).hexdigest()
    assert our_result.protocol == "torch-fidelity"
    assert our_result.package_version == inception_score.__version__
    payload = json.loads(our_result.to_json())
    for key in (
        "inception_score_mean",
        "inception_score_std",
        "num_images",
        "splits",
        "protocol",
        "weights_sha256",
        "package_version",
    ):
        assert key in payload


def test_original_protocol_equals_improved_gan_formula_on_the_network(checkpoint_path: Path) -> None:
    images = make_images(12, (32, 32), seed=4)
    net = InceptionV3()
    net.load_checkpoint(load_state_dict(checkpoint_path))
    with torch.no_grad():
        logits = net.eval()(preprocess(torch.from_numpy(images).permute(0, 3, 1, 2))).logits_unbiased
    ref = improved_gan_formula(torch.softmax(logits.double(), 1).numpy(), 3)
    result = inception_score.compute(
        images, weights=str(checkpoint_path), splits=3, protocol="original", progress=False
    )
    np.testing.assert_allclose(result.split_scores, ref, rtol=1e-6)
    assert result.mean == pytest.approx(np.mean(ref), rel=1e-6)


def test_mixed_sizes_equal_torch_fidelity_image_by_image(tmp_path: Path, checkpoint_path: Path) -> None:
    folder = tmp_path / "mixed"
    sizes = [(20, 20), (299, 299), (310, 250), (64, 32), (33, 47), (128, 128)]
    for i, size in enumerate(sizes):
        write_images(folder, make_images(1, size, seed=50 + i), start=i)
    ref = torch_fidelity_image_by_image(folder, checkpoint_path, splits=2)
    # one image a batch, as the oracle: each size's decoding and resize are torch-fidelity's, bit for bit
    alone = inception_score.compute(folder, weights=str(checkpoint_path), splits=2, progress=False, batch_size=1)
    assert alone.mean == pytest.approx(ref["inception_score_mean"], rel=1e-12)
    assert alone.std == pytest.approx(ref["inception_score_std"], rel=1e-9, abs=1e-12)
    # mixed sizes batched together: the same images, within float32 rounding of the convolutions, which
    # oneDNN computes with another algorithm for another batch size (measured up to 5.6e-7 in IS, one
    # thread; 2.7e-6 in its std over 2 splits)
    result = inception_score.compute(folder, weights=str(checkpoint_path), splits=2, progress=False, batch_size=4)
    assert result.mean == pytest.approx(alone.mean, rel=1e-5)
    assert result.std == pytest.approx(alone.std, rel=1e-4, abs=1e-9)
