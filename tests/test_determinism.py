"""Determinism and robustness properties: same inputs, same bits on CPU; fuzzed bytes never crash."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import inception_score
from inception_score.errors import InputError
from inception_score.features.network import InceptionOutput
from inception_score.features.runner import HalvingOnOOM
from inception_score.inputs.files import decode_image
from inception_score.metrics.inception import ISAccumulator
from inception_score.metrics.protocols import SplitPlan

from .conftest import make_images, write_images


def test_repeated_runs_and_batch_sizes_on_the_real_network(tmp_path: Path, checkpoint_path: Path) -> None:
    write_images(tmp_path / "d", make_images(6, (32, 32), seed=41))
    run = dict(weights=str(checkpoint_path), splits=2, progress=False)
    first = inception_score.compute(tmp_path / "d", batch_size=3, **run)
    again = inception_score.compute(tmp_path / "d", batch_size=3, **run)
    other_batches = inception_score.compute(tmp_path / "d", batch_size=6, **run)
    assert again.split_scores == first.split_scores  # bit-identical
    assert other_batches.mean == pytest.approx(first.mean, rel=1e-6)


SEEDED = ("ci95", "bootstrap_std", "is_infinity", "is_infinity_fit")  # what the seed draws
UNSEEDED = ("inception_score_mean", "inception_score_std", "split_scores", "sharpness", "diversity")


def test_the_seed_reaches_the_bootstrap_and_the_subsets(png_folder: Path, stand_in) -> None:
    def run(**options) -> dict:
        return inception_score.compute(png_folder, network=stand_in, splits=4, batch_size=8, progress=False, **options)

    one, two, again = run(seed=1).to_dict(), run(seed=2).to_dict(), run(seed=1).to_dict()
    for key in SEEDED + UNSEEDED:
        assert again[key] == one[key], key  # the same seed: the same numbers, bit for bit
    assert one["ci95"] != pytest.approx(two["ci95"], rel=1e-6)
    assert one["bootstrap_std"] != pytest.approx(two["bootstrap_std"], rel=1e-3)
    assert one["is_infinity"] != pytest.approx(two["is_infinity"], rel=1e-9)
    for key in UNSEEDED:  # the splits are torch-fidelity's (seed 2020), whatever the seed
        assert two[key] == one[key], key
    default = run().to_dict()
    assert default["ci95"] == run(seed=0).to_dict()["ci95"] != one["ci95"]  # the default is seed 0


@pytest.mark.parametrize("num_samples", [60, None])
def test_the_metric_object_passes_its_seed_on(num_samples: int | None) -> None:
    from inception_score.metric import InceptionScore

    from .test_statistics import state_of

    logits = torch.randn(60, 12, generator=torch.Generator().manual_seed(8)) * 3

    def fields(seed: int) -> dict:
        metric = InceptionScore(
            network=torch.nn.Identity(), num_classes=12, splits=3, num_samples=num_samples, seed=seed
        )
        metric.update_logits(logits[:25])
        metric.update_logits(logits[25:])
        return metric.compute().to_dict()

    one, two = fields(1), fields(2)
    want = state_of(logits, "torch-fidelity", 3, bootstrap=200, seed=1).fields()
    for key in ("ci95", "bootstrap_std", "is_infinity"):
        assert one[key] == pytest.approx(want[key], rel=1e-12), key
    assert one["ci95"] != pytest.approx(two["ci95"], rel=1e-6)
    assert one["is_infinity"] != pytest.approx(two["is_infinity"], rel=1e-9)


def test_out_of_memory_halves_the_batch_and_says_so() -> None:
    calls: list[int] = []

    def network(x: torch.Tensor) -> InceptionOutput:
        calls.append(len(x))
        if len(x) > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return InceptionOutput(logits_unbiased=x.flatten(1)[:, :5] * 2)

    forward = HalvingOnOOM(network)
    x = torch.arange(10 * 3 * 2 * 2, dtype=torch.float32).view(10, 3, 2, 2)
    with pytest.warns(UserWarning, match="GPU out of memory at 10 images per forward pass; continuing with 5"):
        out = forward(x)
    assert torch.equal(out.logits_unbiased, x.flatten(1)[:, :5] * 2)
    assert forward.max_batch == 2 and max(calls[-5:]) <= 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_random_bytes_decode_or_fail_with_input_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.png"
    path.write_bytes(data)
    try:
        image, _ = decode_image(path)
    except InputError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
    else:
        assert image.dtype == torch.uint8 and image.shape[0] == 3


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(make_images(1, (12, 12), seed=5)[0]).save(buf, format=fmt)
    return buf.getvalue()


SEEDS = {fmt: _encoded(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fmt=st.sampled_from(sorted(SEEDS)),
    cut=st.integers(0, 2000),
    flips=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=6),
)
def test_mutated_images_decode_or_fail_with_input_error(tmp_path: Path, fmt: str, cut: int, flips) -> None:
    data = bytearray(SEEDS[fmt])
    for pos, value in flips:
        if data:
            data[pos % len(data)] = value
    data = data[: max(1, len(data) - cut % max(1, len(data)))]
    path = tmp_path / f"mutant.{fmt.lower()}"
    path.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow may warn about odd metadata; not our concern here
        try:
            image, _ = decode_image(path)
        except InputError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        else:
            assert image.dtype == torch.uint8 and image.dim() == 3 and image.shape[0] == 3


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(1, 80),
    splits=st.integers(1, 8),
    protocol=st.sampled_from(["torch-fidelity", "original"]),
    cut=st.integers(0, 80),
    seed=st.integers(0, 1000),
)
def test_merge_of_any_two_parts_equals_one_pass(n: int, splits: int, protocol: str, cut: int, seed: int) -> None:
    splits = min(splits, n)
    logits = torch.randn(n, 20, generator=torch.Generator().manual_seed(seed)) * 5
    plan = SplitPlan(protocol, n, splits)
    ids = plan.split_of(np.arange(n))
    whole, a, b = ISAccumulator(splits, 20), ISAccumulator(splits, 20), ISAccumulator(splits, 20)
    whole.update(logits, ids)
    cut = min(cut, n)
    a.update(logits[:cut], ids[:cut])
    b.update(logits[cut:], ids[cut:])
    np.testing.assert_allclose((a + b).split_scores(), whole.split_scores(), rtol=1e-12)
    assert np.all(whole.split_scores() >= 1 - 1e-12)


def test_the_seed_reaches_every_seeded_accumulator() -> None:
    """Every accumulator that draws with a seed gets the run's (IS at infinite N, the bootstrap, FID at
    infinite N, the subsets of precision/recall and density/coverage), except KID, whose subsets are
    torch-fidelity's RandomState(2020) by definition."""
    import inspect

    from inception_score.metrics.kernel import KID, KID_SEED
    from inception_score.metrics.reference import Reference
    from inception_score.metrics.registry import MetricSpec, build_accumulators

    reference = Reference(mu=np.zeros(2048), sigma=np.eye(2048), mu_s=np.zeros(2023), sigma_s=np.eye(2023),
                          features=torch.rand(20, 2048, generator=torch.Generator().manual_seed(0)))  # fmt: skip
    metrics = ("is", "fid", "kid", "sfid", "pr", "prdc")
    spec = MetricSpec(protocol="original", splits=2, num_images=20, num_classes=4, named=False, bootstrap=5, seed=7,
                      metrics=metrics, fid_infinity=True, kid_subset_size=10)  # fmt: skip
    seeded = {}
    for accumulator in build_accumulators(spec, reference=reference):
        if "seed" in inspect.signature(type(accumulator).__init__).parameters:
            seeded[type(accumulator).__name__] = accumulator.seed
    assert seeded == {"PoissonBootstrap": 7, "NestedSubsets": 7, "FIDInfinity": 7, "KID": KID_SEED,
                      "PrecisionRecall": 7, "DensityCoverage": 7}  # fmt: skip
    assert KID.__name__ in seeded  # (its fixed seed is part of its definition: README, kernel.py)


def test_the_seed_reaches_fid_at_infinite_n(tmp_path: Path) -> None:
    """FID at infinite N through compute(): its points are the FIDs of IS-at-infinite-N's nested subsets for
    the run's seed, computed here independently (against mu = 0, sigma = I, tr sqrt(S) from the n x n Gram
    matrix of the subset)."""
    from inception_score.features.preprocess import preprocess
    from inception_score.metrics.uncertainty import subset_sizes

    from .conftest import PooledStandIn

    images = make_images(4, (32, 32), seed=44)  # 3 subsets (2, 3, 4 images): 4 eigenvalue problems of 2048
    np.savez(tmp_path / "pytorch_fid.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    network = PooledStandIn()
    result = inception_score.compute(images, network=network, ref=str(tmp_path / "pytorch_fid.npz"), metrics=("is",),
                                     fid_infinity=True, seed=7, splits=1, bootstrap=0, progress=False)  # fmt: skip
    fit = result.fid_infinity_fit
    assert fit["n"] == result.is_infinity_fit["n"] == subset_sizes(4).tolist() == [2, 3, 4]
    with torch.no_grad():
        x = network(preprocess(torch.from_numpy(images).permute(0, 3, 1, 2))).pool3.double().numpy()  # 4 x 2048
    perm = np.random.RandomState(7).permutation(4)  # perm[r]: the image of rank r; subset j: ranks below N_j

    def fid_against_identity(rows: np.ndarray) -> float:
        centred = rows - rows.mean(0)
        gram = centred @ centred.T / (len(rows) - 1)  # the non-zero eigenvalues of the covariance
        root_trace = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0, None)).sum()
        return float(rows.mean(0) @ rows.mean(0) + np.trace(gram) + 2048 - 2 * root_trace)

    want = [fid_against_identity(x[np.sort(perm[:n])]) for n in fit["n"]]
    np.testing.assert_allclose(fit["fid_n"], want, rtol=1e-6)
    other = [fid_against_identity(x[np.sort(np.random.RandomState(0).permutation(4)[:n])]) for n in fit["n"]]
    assert not np.allclose(other[:2], want[:2], rtol=1e-3)  # seed 0's subsets ({2, 3}, {1, 2, 3}): other points
