"""Precision/recall and density/coverage: the published definitions, the ADM evaluator's float16 steps.

The oracle below is written from the definitions (Kynkäänniemi et al. 2019; Naeem et al. 2020)
and from the steps of guided-diffusion's ``evaluations/evaluator.py`` (GD:241-430), in NumPy on
full N x M matrices: float64 for the exact definitions, and an emulation of the evaluator's float16
graph (float16 cast, squares and norms rounded to float16, the dot products rounded once to
float16, ``(|u|^2 - 2m) + |v|^2`` in float16, a block falling back to float32 when not finite,
radius = element k of ``np.partition``, ``<=``). The package computes the same in blocks, on
tensors, with a running top-k instead of full rows.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from inception_score.errors import InceptionScoreWarning, InputError, OptionsError
from inception_score.features.network import InceptionOutput
from inception_score.metrics.features import PooledFeatures
from inception_score.metrics.manifold import DensityCoverage, PrecisionRecall, density_coverage, precision_recall
from inception_score.metrics.reference import Reference

# ---------------------------------------------------------------- data


def pool3_like(n: int, seed: int, shift: float = 0.0, scale: float = 1.0, dim: int = 2048) -> np.ndarray:
    """n float32 vectors shaped like pool3 features: positive, mean ~0.3, |u|^2 ~ 450, on a 64-d manifold."""
    net = np.random.default_rng(1234)  # the same "network" for every set
    w = net.normal(0, 1, (64, dim)) / 8.0
    b = net.normal(-1.0, 0.5, dim)
    rng = np.random.default_rng(seed)
    h = rng.normal(shift, scale, (n, 64)) @ w + b + rng.normal(0, 0.3, (n, dim))
    return (np.logaddexp(0, 1.5 * h) / 1.5).astype(np.float32)  # softplus


def on_a_line(*xs: float, dim: int = 8) -> torch.Tensor:
    """Points x e_1 in ``dim`` dimensions (exact in float16: small integers and halves)."""
    out = torch.zeros(len(xs), dim)
    out[:, 0] = torch.tensor(xs)
    return out


# ---------------------------------------------------------------- the oracle


def squared64(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Exact squared Euclidean distances (float64), u rows x v rows."""
    u, v = u.astype(np.float64), v.astype(np.float64)
    return np.maximum((u * u).sum(1)[:, None] - 2 * u @ v.T + (v * v).sum(1)[None, :], 0)


def squared16(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The evaluator's DistanceBlock (GD:370-384, 414-430) on one block, as float32."""
    u16, v16 = u.astype(np.float32).astype(np.float16), v.astype(np.float32).astype(np.float16)

    def norm(x16: np.ndarray) -> np.ndarray:  # tf.reduce_sum(tf.square(x)), float16 in and out
        squares = np.square(x16.astype(np.float64)).astype(np.float16)
        return squares.astype(np.float64).sum(1).astype(np.float16)

    with np.errstate(over="ignore", invalid="ignore"):
        m = (u16.astype(np.float64) @ v16.astype(np.float64).T).astype(np.float16)  # fp32 accumulation, fp16 out
        d = (norm(u16)[:, None] - np.float16(2) * m) + norm(v16)[None, :]  # float16 arithmetic
    if not np.isfinite(d).all():  # tf.cond: the block again in float32
        u32, v32 = u.astype(np.float32), v.astype(np.float32)
        d = (u32 * u32).sum(1)[:, None] - 2 * u32 @ v32.T + (v32 * v32).sum(1)[None, :]
    return np.maximum(d, 0).astype(np.float32)


def oracle_pr(samples: np.ndarray, reference: np.ndarray, k: int = 3, half: bool = False) -> tuple[float, float]:
    """Precision and recall from full matrices: radius = element k of the partitioned row (GD:270-276), <=."""
    dist = squared16 if half else squared64
    ref_radii = np.partition(dist(reference, reference), k, axis=1)[:, k]
    smp_radii = np.partition(dist(samples, samples), k, axis=1)[:, k]
    d = dist(reference, samples)  # rows: reference, as GD evaluate_pr
    precision = (d <= ref_radii[:, None]).any(axis=0).mean()
    recall = (d <= smp_radii[None, :]).any(axis=1).mean()
    return float(precision), float(recall)


def oracle_dc(samples: np.ndarray, reference: np.ndarray, k: int = 5) -> tuple[float, float]:
    """Density and coverage (PRDC prdc.py:27-94): plain distances, k-th neighbour other than itself, strict <."""
    real = np.sqrt(squared64(reference, reference))
    np.fill_diagonal(real, 0)
    radii = np.sort(real, axis=1)[:, k]
    d = np.sqrt(squared64(reference, samples))
    density = (d < radii[:, None]).sum() / (k * len(samples))
    coverage = (d.min(axis=1) < radii).mean()
    return float(density), float(coverage)


@pytest.fixture(scope="module")
def realistic() -> tuple[np.ndarray, np.ndarray]:
    """300 samples from a shifted distribution, 250 reference points: P, R ~ 0.47, D ~ 0.9, C ~ 0.98."""
    return pool3_like(300, seed=1, shift=0.2), pool3_like(250, seed=2)


# ---------------------------------------------------------------- agreement with the oracle


@pytest.mark.parametrize("precision", ["float32", "float16"])
def test_precision_recall_match_the_oracle_on_pool3_like_features(realistic, precision) -> None:
    samples, reference = realistic
    p, r = precision_recall(torch.from_numpy(samples), torch.from_numpy(reference), precision=precision)
    expected = oracle_pr(samples, reference, half=precision == "float16")
    assert 0.1 < expected[0] < 0.95 and 0.1 < expected[1] < 0.95  # neither trivially 0 nor 1
    assert abs(p - expected[0]) <= 1 / len(samples) + 1e-12
    assert abs(r - expected[1]) <= 1 / len(reference) + 1e-12


def test_float16_follows_the_evaluator_where_float16_changes_the_answer() -> None:
    # The same features moved by 3 in every dimension: the distances do not change, but |u|^2
    # grows to ~22,000 (float16 ulp 16) against squared radii of ~330, so float16's cancellation
    # moves many decisions, and the float16 mode must move the same ones as the evaluator's graph.
    samples, reference = pool3_like(200, seed=1, shift=0.2) + 3.0, pool3_like(160, seed=2) + 3.0
    exact, emulated = oracle_pr(samples, reference), oracle_pr(samples, reference, half=True)
    assert abs(exact[0] - emulated[0]) >= 10 / 200 and abs(exact[1] - emulated[1]) >= 10 / 160  # float16 matters
    p16, r16 = precision_recall(samples, reference, precision="float16", block=64)
    assert abs(p16 - emulated[0]) <= 1 / 200 + 1e-12 and abs(r16 - emulated[1]) <= 1 / 160 + 1e-12
    p32, r32 = precision_recall(samples, reference, precision="float32", block=64)
    assert abs(p32 - exact[0]) <= 1 / 200 + 1e-12 and abs(r32 - exact[1]) <= 1 / 160 + 1e-12


def test_density_coverage_match_the_oracle(realistic) -> None:
    samples, reference = realistic
    density, coverage = density_coverage(torch.from_numpy(samples), torch.from_numpy(reference))
    expected = oracle_dc(samples, reference)
    assert 0.05 < expected[0] and 0.05 < expected[1] < 1
    assert density == pytest.approx(expected[0], abs=1 / (5 * len(samples)) + 1e-12)  # one ball of one sample
    assert coverage == pytest.approx(expected[1], abs=1 / len(reference) + 1e-12)


@pytest.mark.parametrize("block", [13, 64, 97])
def test_blocks_do_not_change_the_numbers(realistic, block) -> None:
    samples, reference = (torch.from_numpy(a[:230]) for a in realistic)  # 230 and 230: no block size divides
    reference = reference[:170]
    for precision in ("float16", "float32"):
        whole = precision_recall(samples, reference, precision=precision)
        assert precision_recall(samples, reference, precision=precision, block=block) == whole
    assert density_coverage(samples, reference, block=block) == density_coverage(samples, reference)


# ---------------------------------------------------------------- closed forms and crafted configurations


@pytest.mark.parametrize("precision", ["float16", "float32"])
def test_a_set_against_itself(realistic, precision) -> None:
    reference = torch.from_numpy(realistic[1])
    assert precision_recall(reference, reference, precision=precision) == (1.0, 1.0)
    # each ball (strict <) holds its centre and its k-1 nearest neighbours: k per ball, density 1
    assert density_coverage(reference, reference, k=5) == (1.0, 1.0)


def test_far_apart_clusters_give_zero(realistic) -> None:
    samples, reference = torch.from_numpy(realistic[0]), torch.from_numpy(realistic[1])
    for precision in ("float16", "float32"):
        assert precision_recall(samples + 3.0, reference, precision=precision) == (0.0, 0.0)
    assert density_coverage(samples + 3.0, reference) == (0.0, 0.0)


REAL = on_a_line(0, 1, 3, 6, 10, 15)
# k = 3: the 3rd nearest other point of 0, 1, 3, 6, 10, 15 is 6, 5, 3, 5, 7, 12 away
FAKE = on_a_line(-6, -5.5, 2, 27, 28)
# -6 and 27 lie exactly on the balls of 0 (radius 6) and 15 (radius 12): inside for <=, outside for <;
# -5.5 is inside the ball of 0 only; 2 inside those of 0, 1, 3, 6; 28 in none.


@pytest.mark.parametrize("precision", ["float16", "float32"])
def test_precision_counts_the_kth_neighbour_ball_boundary_as_inside(precision) -> None:
    p, r = precision_recall(FAKE, REAL, k=3, precision=precision)
    assert p == 4 / 5  # all but 28; with the 2nd neighbour -5.5 would be out, with the 4th 28 would be in
    assert r == 1.0  # the fakes' own radii are large (33, 32.5, 25, 32.5, 33.5): every real is inside one
    assert precision_recall(REAL, FAKE, k=3, precision=precision) == (r, p)  # the roles swap
    # k = 2: radii 3, 2, 3, 4, 5, 9: only 2 is inside a ball (1 away from 1)
    assert precision_recall(FAKE, REAL, k=2, precision=precision)[0] == 1 / 5


def test_float16_mode_casts_the_features_to_float16_first() -> None:
    # -6.001 is -6 in float16 (ulp 1/256 there): on the boundary of the ball of 0 for the evaluator
    fake = on_a_line(-6.001, 28, 40, 50)
    assert precision_recall(fake, REAL, k=3, precision="float16")[0] == 1 / 4
    assert precision_recall(fake, REAL, k=3, precision="float32")[0] == 0.0


def test_density_and_coverage_are_strict_and_use_the_kth_other_point() -> None:
    density, coverage = density_coverage(FAKE, REAL, k=3)
    assert density == pytest.approx((0 + 1 + 4 + 0 + 0) / (3 * 5))  # -6 and 27 on the boundaries count 0
    assert coverage == 4 / 6  # 10 (nearest fake 8 away, radius 7) and 15 (12 away, radius 12) uncovered
    assert density_coverage(on_a_line(-6.5, 27.5), REAL, k=3) == (0.0, 0.0)


def test_overflowing_float16_blocks_fall_back_to_float32(realistic) -> None:
    samples, reference = (torch.from_numpy(a[:120]) * 20 for a in realistic)  # |u|^2 ~ 180,000 > 65504
    with pytest.warns(InceptionScoreWarning, match="overflowed and were computed in float32"):
        pr16 = precision_recall(samples, reference, precision="float16", block=50)
    assert pr16 == precision_recall(samples, reference, precision="float32", block=50)
    # one row that overflows makes only its blocks fall back: 3 x 3 reference blocks hold it in a
    # row or column 5 times, the 3 x 3 reference x sample blocks 3 times
    small = (torch.from_numpy(a[:120]) for a in realistic)
    samples, reference = next(small), next(small).clone()
    reference[0] *= 20
    with pytest.warns(InceptionScoreWarning, match="^precision/recall: 8 block"):
        precision_recall(samples, reference, precision="float16", block=50)


# ---------------------------------------------------------------- inputs


def test_inputs_of_any_dtype_layout_and_storage_give_the_same_numbers(realistic, tmp_path) -> None:
    samples, reference = realistic[0][:100], realistic[1][:80]
    expected = precision_recall(torch.from_numpy(samples), torch.from_numpy(reference))
    assert precision_recall(samples, reference) == expected  # numpy arrays
    assert precision_recall(torch.from_numpy(samples).double(), torch.from_numpy(reference)) == expected
    mapped = np.lib.format.open_memmap(tmp_path / "rows.npy", mode="w+", dtype=np.float32, shape=samples.shape)
    mapped[:] = samples
    assert precision_recall(torch.from_numpy(mapped), torch.from_numpy(reference)) == expected  # memory-mapped


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s, r: precision_recall(s, r[:, :100]), InputError, "2048 dimensions and the reference's 100"),
        (lambda s, r: precision_recall(s, r[:3]), InputError, "reference has 3 images, expected at least 4"),
        (lambda s, r: precision_recall(s[:3], r), InputError, "got 3 samples, expected at least 4"),
        (lambda s, r: density_coverage(s, r[:5]), InputError, "reference has 5 images, expected at least 6"),
        (lambda s, r: density_coverage(s[0], r), InputError, "samples: expected an N x D matrix"),
        (lambda s, r: precision_recall(s, r.bool()), InputError, "reference: expected real-valued features"),
        (lambda s, r: precision_recall(s, "features.npy"), InputError, "expected an N x D tensor or array"),
        (lambda s, r: precision_recall(s, r, precision="fp16"), OptionsError, "expected one of float16, float32"),
        (lambda s, r: precision_recall(s, r, k=0), OptionsError, "precision/recall k: got 0"),
        (lambda s, r: density_coverage(s, r, block=0), OptionsError, "density/coverage block: got 0"),
    ],
)
def test_bad_inputs_are_one_clear_line(realistic, call, error, message) -> None:
    samples, reference = torch.from_numpy(realistic[0][:20]), torch.from_numpy(realistic[1][:20])
    with pytest.raises(error, match=message) as caught:
        call(samples, reference)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == (3 if error is InputError else 2)


def test_nan_features_name_the_row(realistic) -> None:
    samples = torch.from_numpy(realistic[0][:20]).clone()
    samples[13, 7] = float("nan")
    with pytest.raises(InputError, match="samples: row 13 of the features holds NaN"):
        precision_recall(samples, torch.from_numpy(realistic[1][:20]))


def test_the_users_matmul_precision_setting_is_restored(realistic) -> None:
    samples, reference = torch.from_numpy(realistic[0][:100]), torch.from_numpy(realistic[1][:80])
    before = torch.get_float32_matmul_precision()
    broken = samples.clone()
    broken[5, 5] = float("inf")
    try:
        torch.set_float32_matmul_precision("medium")  # products are computed with "highest" inside the call
        density_coverage(samples, reference)
        assert torch.get_float32_matmul_precision() == "medium"
        with pytest.raises(InputError):
            precision_recall(broken, reference)
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision(before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_give_the_cpu_numbers(realistic) -> None:
    samples, reference = torch.from_numpy(realistic[0]), torch.from_numpy(realistic[1])
    n, m = len(samples), len(reference)
    cpu = {p: precision_recall(samples, reference, precision=p) for p in ("float16", "float32")}
    dc = density_coverage(samples, reference)
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")  # TF32 products (10-bit mantissas): refused inside the calls
        for precision, (p, r) in cpu.items():
            for gpu in (
                precision_recall(samples.cuda(), reference.cuda(), precision=precision),
                precision_recall(samples.cuda(), reference, precision=precision, block=64),  # mixed devices
            ):  # within one image: the BLAS libraries add in different orders
                assert abs(gpu[0] - p) <= 1 / n + 1e-12 and abs(gpu[1] - r) <= 1 / m + 1e-12
        gpu = density_coverage(samples.cuda(), reference.cuda())
    finally:
        torch.set_float32_matmul_precision(before)
    assert gpu[0] == pytest.approx(dc[0], abs=1 / (5 * n) + 1e-12) and gpu[1] == pytest.approx(dc[1], abs=1 / m)


# ---------------------------------------------------------------- the accumulators


@pytest.mark.parametrize("on_disk", [False, True])
def test_accumulators_read_the_kept_features_at_the_end(realistic, on_disk) -> None:
    samples, reference = torch.from_numpy(realistic[0][:100]), torch.from_numpy(realistic[1][:80])
    kept = PooledFeatures(num_images=103, feature_dim=2048, memory_limit=0 if on_disk else 2**30)
    assert kept.on_disk == on_disk  # rows in memory, or memory-mapped from a temporary file
    ref = Reference(features=reference, info={"kind": "test"})
    pr, prdc = PrecisionRecall(kept, ref, precision="float32", block=30), DensityCoverage(kept, ref, k=4)
    order = np.random.default_rng(0).permutation(100)  # any order, any batches; rows 100-102 never written
    for lo in range(0, 100, 16):
        kept.update(InceptionOutput(pool3=samples[order[lo : lo + 16]]), order[lo : lo + 16])
    p, r = precision_recall(samples, reference, precision="float32")
    assert pr.fields({}) == {"improved_precision": p, "improved_recall": r, "pr_k": 3, "pr_distances": "float32",
                             "prdc_subsample": None}  # fmt: skip
    d, c = density_coverage(samples, reference, k=4)
    assert prdc.fields({}) == {"density": d, "coverage": c, "prdc_k": 4, "prdc_subsample": None}
    assert pr.state() == {} and prdc.state() == {} and pr.warnings({}) == []  # nothing to merge or save


def test_a_device_can_be_named(realistic) -> None:
    samples, reference = torch.from_numpy(realistic[0][:40]), torch.from_numpy(realistic[1][:30])
    assert precision_recall(samples, reference, device="cpu") == precision_recall(samples, reference)
    with pytest.raises(OptionsError, match="device: got 'gpu0', expected a torch device"):
        density_coverage(samples, reference, device="gpu0")


def test_a_reference_of_statistics_only_is_refused_at_once() -> None:
    stats = Reference(mu=np.zeros(2048), sigma=np.eye(2048), info={"path": "VIRTUAL_imagenet256.npz"})
    for make in (PrecisionRecall, DensityCoverage):
        with pytest.raises(InputError, match=r"\(VIRTUAL_imagenet256.npz\) holds statistics only.*arr_0"):
            make(SimpleNamespace(rows=torch.zeros(10, 2048)), stats)
    with pytest.raises(OptionsError, match="precision/recall precision: got 'half'"):
        PrecisionRecall(SimpleNamespace(rows=None), Reference(features=torch.zeros(5, 2048)), precision="half")


# ---------------------------------------------------------------- dgm-eval's subsets (--prdc-subsample)


def dgm_eval_subsets(reference: np.ndarray, samples: np.ndarray, reduced_n: int, seed: int) -> tuple[Any, Any]:
    """dgm-eval __main__.py L172-181, its global generator seeded: m = min(reduced_n, M, N), the
    reference's rows drawn first, then the samples' (``choice`` over an index array, as it does)."""
    np.random.seed(seed)
    m = min(reduced_n, len(reference), len(samples))
    inds0 = np.random.choice(len(reference), m, replace=False)
    inds1 = np.random.choice(np.arange(len(samples)), m, replace=False)
    return reference[inds0], samples[inds1]


@pytest.mark.parametrize("seed", [0, 13579])
def test_subsets_are_dgm_evals_draws_after_seeding_its_generator(realistic, seed) -> None:
    samples, reference = realistic[0][:90], realistic[1][:70]
    kept = PooledFeatures(num_images=96, feature_dim=2048)  # rows 90-95 never written: the subset is of 90
    order = np.random.default_rng(1).permutation(90)
    kept.update(InceptionOutput(pool3=torch.from_numpy(samples[order])), order)
    ref = Reference(features=torch.from_numpy(reference), info={"kind": "test"})
    pr = PrecisionRecall(kept, ref, k=5, precision="float32", subsample=40, seed=seed)
    dc = DensityCoverage(kept, ref, k=5, subsample=40, seed=seed)
    real, fake = dgm_eval_subsets(reference, samples, 40, seed)
    p, r = oracle_pr(fake, real, k=5)
    d, c = oracle_dc(fake, real, k=5)
    got_pr, got_dc = pr.fields({}), dc.fields({})
    assert (got_pr["improved_precision"], got_pr["improved_recall"]) == pytest.approx((p, r), abs=1e-12)
    assert (got_dc["density"], got_dc["coverage"]) == pytest.approx((d, c), abs=1e-12)
    assert got_pr["prdc_subsample"] == got_dc["prdc_subsample"] == 40 and got_pr["pr_k"] == 5
    # the draw matters: the whole sets give other numbers (else the test could not tell)
    whole = oracle_pr(samples, reference, k=5) + oracle_dc(samples, reference, k=5)
    assert whole != pytest.approx((p, r, d, c), abs=1e-9)
    assert pr.sizes == dc.sizes == (40, 40)  # what the small-N warnings count


def test_a_subset_larger_than_both_sets_scores_them_all_and_cuts_to_the_smaller() -> None:
    from inception_score.metrics.manifold import subsample

    ref, smp = subsample(70, 90, 10_000, seed=0)  # dgm-eval: both cut to min(10,000, M, N) = 70
    assert len(ref) == len(smp) == 70 and torch.equal(ref, torch.arange(70))
    assert len(smp.unique()) == 70 and bool((smp < 90).all())
    assert subsample(70, 90, None, seed=0) is None
    with pytest.raises(OptionsError, match="precision/recall subsample: got 3, expected an integer >= 4"):
        PrecisionRecall(SimpleNamespace(rows=torch.zeros(9, 4)), torch.rand(9, 4), subsample=3)
