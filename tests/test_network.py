"""The network is the 2015 graph: same logits as torch-fidelity's extractor on the same checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from inception_score.errors import WeightsError
from inception_score.features.network import InceptionV3
from inception_score.features.preprocess import preprocess
from inception_score.features.weights import load_state_dict

from .conftest import make_images


@pytest.fixture(scope="module")
def both_networks(checkpoint_path: Path) -> tuple[InceptionV3, FeatureExtractorInceptionV3]:
    ours = InceptionV3()
    ours.load_checkpoint(load_state_dict(checkpoint_path))
    theirs = FeatureExtractorInceptionV3(
        "inception-v3-compat",
        ["logits_unbiased", "logits", "2048"],
        feature_extractor_weights_path=str(checkpoint_path),
    )
    return ours.eval(), theirs.eval()


# smaller than, equal to and larger than 299; square and not
@pytest.mark.parametrize("size", [(32, 32), (299, 299), (320, 400), (100, 40)])
def test_logits_and_features_match_torch_fidelity(both_networks, size: tuple[int, int]) -> None:
    ours, theirs = both_networks
    images = torch.from_numpy(make_images(2, size, seed=sum(size))).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        out = ours(preprocess(images))
        ref_unbiased, ref_logits, ref_pool3 = theirs(images)
    scale = ref_unbiased.abs().max()
    assert (out.logits_unbiased - ref_unbiased).abs().max() <= 1e-5 * scale
    assert (out.logits - ref_logits).abs().max() <= 1e-5 * ref_logits.abs().max()
    assert (out.pool3 - ref_pool3).abs().max() <= 1e-5 * ref_pool3.abs().max()
    # the checkpoint is confident: parity on near-uniform predictions would prove little
    assert out.logits_unbiased.softmax(1).max(1).values.mean() > 0.2  # uniform would be 0.001


def test_logits_differ_from_biased_logits_by_the_bias(both_networks) -> None:
    ours, _ = both_networks
    with torch.no_grad():
        out = ours(torch.zeros(1, 3, 299, 299))
    assert torch.allclose(out.logits - out.logits_unbiased, ours.fc.bias[None], atol=1e-5)


def test_checkpoint_with_wrong_keys_or_shapes_is_refused(checkpoint_path: Path) -> None:
    state = load_state_dict(checkpoint_path)
    state.pop("Mixed_7c.branch_pool.conv.weight")
    state["fc.weight"] = torch.zeros(1000, 2048)
    state["AuxLogits.fc.weight"] = torch.zeros(1000, 768)
    with pytest.raises(WeightsError) as err:
        InceptionV3().load_checkpoint(state, origin="mine.pth")
    message = str(err.value)
    assert "mine.pth" in message and "\n" not in message
    assert "missing: Mixed_7c.branch_pool.conv.weight" in message
    assert "unexpected: AuxLogits.fc.weight" in message
    assert "fc.weight: (1000, 2048) (expected (1008, 2048))" in message


def test_checkpoint_without_num_batches_tracked_loads(checkpoint_path: Path) -> None:
    state = {k: v for k, v in load_state_dict(checkpoint_path).items() if "num_batches_tracked" not in k}
    InceptionV3().load_checkpoint(state)
