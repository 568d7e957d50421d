"""Metrics over any feature space: one accumulator per kind, a space is a name; CMMD against its formula.

FD, KD, P/R, D/C and FD at infinite N read a field by name (pool3, dinov2, clip) and name their
result fields and reference parts after it; CMMD equals Google's reference formula written in
NumPy (float32, full matrices) within float32 rounding, and the same formula in float64 exactly,
whatever the block size, and with its drop-remainder rule. No network runs here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inception_score import InputError
from inception_score.features.outputs import NetworkOutputs
from inception_score.metrics.cmmd import CMMD, cmmd
from inception_score.metrics.features import PooledFeatures
from inception_score.metrics.frechet import FrechetDistance, frechet_distance
from inception_score.metrics.reference import Reference
from inception_score.metrics.registry import MetricSpec, build_accumulators
from inception_score.report.result import build_result
from inception_score.run.measurement import Measurement
from inception_score.run.reference import ReferenceNeeds, load_statistics, save_reference


def unit_rows(n: int, d: int, seed: int, spread: float = 1.0) -> np.ndarray:
    """n L2-normalised float32 rows, like CLIP embeddings (spread: how far apart they are)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * spread + rng.normal(size=d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def reference_cmmd(x: np.ndarray, y: np.ndarray, dtype: type = np.float32) -> float:
    """google-research cmmd/distance.py ``mmd``, in NumPy: full matrices, diagonals included."""
    x, y = x.astype(dtype), y.astype(dtype)
    gamma = dtype(1 / (2 * 10**2))
    xx, yy, xy = x @ x.T, y @ y.T, x @ y.T
    x_sq, y_sq = np.diag(xx), np.diag(yy)
    k_xx = np.mean(np.exp(-gamma * (-2 * xx + x_sq[:, None] + x_sq[None, :])))
    k_xy = np.mean(np.exp(-gamma * (-2 * xy + x_sq[:, None] + y_sq[None, :])))
    k_yy = np.mean(np.exp(-gamma * (-2 * yy + y_sq[:, None] + y_sq[None, :])))
    return float(1000 * (k_xx + k_yy - 2 * k_xy))


# ------------------------------------------------------------------ CMMD


def test_cmmd_equals_the_reference_formula_in_any_block_size() -> None:
    x, y = unit_rows(300, 48, 0), unit_rows(250, 48, 1, spread=0.8)
    exact = reference_cmmd(x, y, np.float64)  # the formula on the float32 embeddings, without rounding
    ours = cmmd(torch.from_numpy(x), torch.from_numpy(y))
    assert ours > 1.0  # the two sets differ: far above float32 rounding
    assert ours == pytest.approx(exact, rel=1e-6)
    # the reference's float32 means: 1000 x ~1e-7 relative rounding of means near 1
    assert abs(ours - reference_cmmd(x, y)) < 1e-3
    for block in (64, 299):  # blocks, the symmetric triangle, ragged edges: the same number
        assert cmmd(x, y, block=block) == pytest.approx(ours, rel=1e-7)  # float32 products in other blocks


def test_cmmd_is_zero_for_a_set_against_itself_and_biased_otherwise() -> None:
    x = unit_rows(64, 16, 2)
    assert cmmd(x, x) == pytest.approx(0.0, abs=1e-9)
    # diagonals included (the V-statistic): two halves of one distribution still give a positive value
    assert cmmd(x[:32], x[32:]) > 0


def test_cmmd_drop_remainder_keeps_whole_batches_of_32() -> None:
    x, y = unit_rows(70, 16, 3), unit_rows(100, 16, 4, spread=0.5)
    dropped = cmmd(x, y, drop_remainder=True)
    assert dropped == pytest.approx(reference_cmmd(x[:64], y[:96], np.float64), rel=1e-6)
    assert dropped != pytest.approx(cmmd(x, y), rel=1e-6)
    with pytest.raises(InputError, match="CMMD: 31 sample image.*at least 32"):
        cmmd(x[:31], y, drop_remainder=True)


def test_cmmd_refuses_bad_embeddings() -> None:
    x = unit_rows(10, 8, 5)
    with pytest.raises(InputError, match="8 dimensions and the reference's 4"):
        cmmd(x, x[:, :4])
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(InputError, match="sample embeddings hold NaN or inf"):
        cmmd(bad, x)


def test_cmmd_accumulator_merges_shards_and_says_what_it_compared() -> None:
    x, y = unit_rows(80, 16, 6), unit_rows(90, 16, 7, spread=0.5)
    spec = MetricSpec("original", 1, 80, 4, False, bootstrap=0, metrics=("is", "cmmd"),
                      cmmd_drop_remainder=True, feature_dims=(("clip", 16),))  # fmt: skip
    ref = Reference(features_clip=torch.from_numpy(y), info={"kind": "test"})
    halves = []
    for lo, hi in ((0, 50), (50, 80)):  # two shards, merged by adding their states
        accumulators = build_accumulators(spec, reference=ref)
        logits = torch.eye(4)[torch.arange(lo, hi) % 4] * 5
        out = NetworkOutputs(logits_unbiased=logits, clip=torch.from_numpy(x[lo:hi]))
        for a in accumulators:
            a.update(out, np.arange(lo, hi))
        halves.append(accumulators)
    for a, b in zip(*halves, strict=True):
        a.merge_(b)
    result = build_result(Measurement(halves[0], spec, {"num_images": 80, "splits": 1, "protocol": "original",
                                                       "weights_sha256": None}))  # fmt: skip
    assert result.cmmd == pytest.approx(reference_cmmd(x[:64], y[:64], np.float64), rel=1e-6)
    assert (result.cmmd_drop_remainder, result.cmmd_num_samples, result.cmmd_num_reference) == (True, 64, 64)
    assert "CMMD: " in result.summary()


def test_cmmd_refuses_a_reference_without_embeddings_before_any_work() -> None:
    kept = PooledFeatures(10, 8, space="clip")
    with pytest.raises(InputError, match=r"CMMD needs the reference images' CLIP embeddings \(features_clip\)"):
        CMMD(kept, Reference(mu_clip=np.zeros(8), sigma_clip=np.eye(8), info={"path": "ref.npz"}))


# ------------------------------------------------------------------ every kind in every space


def test_each_kind_reads_its_space_and_names_its_fields() -> None:
    rng = np.random.default_rng(8)
    n, d = 60, 6
    samples = {s: rng.normal(size=(n, d)).astype(np.float32) for s in ("pool3", "dinov2")}
    real = rng.normal(0.3, 1.0, size=(70, d)).astype(np.float32)
    mu, sigma = real.mean(0).astype(np.float64), np.cov(real.astype(np.float64), rowvar=False)
    ref = Reference(mu=mu, sigma=sigma, features=torch.from_numpy(real), mu_dinov2=mu, sigma_dinov2=sigma,
                    features_dinov2=torch.from_numpy(real), info={"kind": "test"})  # fmt: skip
    metrics = ("is", "fid", "kid", "pr", "prdc", "fd_dinov2", "kd_dinov2", "pr_dinov2", "prdc_dinov2",
               "fd_infinity_dinov2")  # fmt: skip
    spec = MetricSpec("original", 1, n, 3, False, bootstrap=0, metrics=metrics, kid_subsets=5, kid_subset_size=20,
                      feature_dims=(("pool3", d), ("dinov2", d)))  # fmt: skip
    accumulators = build_accumulators(spec, reference=ref)
    names = [a.name for a in accumulators]
    assert {"features", "features_dinov2", "fid", "fd_dinov2", "kid", "kd_dinov2", "pr_dinov2", "prdc_dinov2",
            "fd_infinity_dinov2"} <= set(names)  # fmt: skip
    logits = torch.eye(3)[torch.arange(n) % 3] * 4
    vectors = {s: torch.from_numpy(v) for s, v in samples.items()}
    out = NetworkOutputs(logits_unbiased=logits, **vectors)
    for a in accumulators:
        a.update(out, np.arange(n))
    result = build_result(Measurement(accumulators, spec, {"num_images": n, "splits": 1, "protocol": "original",
                                                            "weights_sha256": None}), show_warnings=False)  # fmt: skip
    x = samples["dinov2"].astype(np.float64)
    assert result.fd_dinov2 == pytest.approx(frechet_distance(x.mean(0), np.cov(x, rowvar=False), mu, sigma), rel=1e-9)
    assert result.fid != pytest.approx(result.fd_dinov2)  # each read its own field
    assert result.kd_dinov2_mean is not None and result.kd_dinov2_std is not None
    assert 0 <= result.improved_precision_dinov2 <= 1 and 0 <= result.coverage_dinov2 <= 1
    assert result.fd_infinity_dinov2_fit is not None and len(result.fd_infinity_dinov2_fit["fd_n"]) == 15
    assert "FD_DINOv2: " in result.summary() and "KD_DINOv2: " in result.summary()


def test_a_space_is_a_name_the_same_numbers_in_any_space() -> None:
    """The same vectors in pool3 and in dinov2 give the same distance under each name."""
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(9))
    ref_parts = {"mu": np.zeros(5), "sigma": np.eye(5), "mu_dinov2": np.zeros(5), "sigma_dinov2": np.eye(5)}
    fid, fd = FrechetDistance(Reference(**ref_parts)), FrechetDistance(Reference(**ref_parts), space="dinov2")
    fid.update(NetworkOutputs(pool3=x), np.arange(40))
    fd.update(NetworkOutputs(dinov2=x), np.arange(40))
    assert fid.fields({})["fid"] == fd.fields({})["fd_dinov2"]
    with pytest.raises(InputError, match="FD_DINOv2 needs the reference's mu_dinov2 and sigma_dinov2"):
        FrechetDistance(Reference(mu=np.zeros(5), sigma=np.eye(5)), space="dinov2")


# ------------------------------------------------------------------ references per space


def test_statistics_file_round_trip_per_space(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    parts = {
        "mu_dinov2": rng.normal(size=12), "sigma_dinov2": np.eye(12),
        "features_dinov2": torch.from_numpy(rng.normal(size=(30, 12)).astype(np.float32)),
        "mu_clip": rng.normal(size=8), "sigma_clip": np.eye(8) * 2,
        "features_clip": torch.from_numpy(unit_rows(30, 8, 11)),
    }  # fmt: skip
    path = tmp_path / "ref.npz"
    save_reference(path, Reference(**parts), {"num_images": 30, "dinov2_weights_sha256": "d" * 64})
    with np.load(path) as npz:
        assert npz["features_dinov2"].dtype == np.float32 and npz["mu_clip"].dtype == np.float64
        assert "mu" not in npz.files  # no pool3 part asked for, none written
    needs = ReferenceNeeds.of(("is", "fd_dinov2", "kd_dinov2", "cmmd"))
    ref, images_needed = load_statistics(path, needs, None, {"dinov2_weights_sha256": "d" * 64})
    assert not images_needed
    np.testing.assert_array_equal(ref.mu_dinov2, parts["mu_dinov2"])
    assert torch.equal(ref.features_clip, parts["features_clip"])
    assert ref.has("fd_dinov2") and ref.has("cmmd") and not ref.has("fid")
    with pytest.raises(InputError, match="computed with dinov2_weights_sha256 dddddddddddddddd, this run uses eeee"):
        load_statistics(path, needs, None, {"dinov2_weights_sha256": "e" * 64})
    with pytest.raises(InputError, match="without mu and sigma"):  # refused before any work
        load_statistics(path, ReferenceNeeds.of(("fid",)), None)
    with pytest.raises(InputError, match="without features_clip"):
        save_reference(path, Reference(mu_clip=parts["mu_clip"], sigma_clip=parts["sigma_clip"]), {})
        load_statistics(path, ReferenceNeeds.of(("cmmd",)), None)


def test_report_table_shows_fd_dinov2_and_cmmd(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from inception_score.report.data import ReportData
    from inception_score.report.html import write_report
    from inception_score.report.result import Result

    result = Result(inception_score_mean=9.5, inception_score_std=0.1, split_scores=[9.4, 9.6], num_images=100,
                    splits=2, protocol="original", weights_sha256="ab" * 32, fd_dinov2=123.25, cmmd=0.5625,
                    cmmd_drop_remainder=True, cmmd_num_samples=96, cmmd_num_reference=64, kd_dinov2_mean=0.01,
                    kd_dinov2_std=0.002)  # fmt: skip
    text = write_report(tmp_path, ReportData(result)).read_text(encoding="utf-8")
    assert '<th>FD_DINOv2</th><td class="num">123.2500</td>' in text
    assert '<th>CMMD</th><td class="num">0.5625</td>' in text and "96 vs 64 images, last partial batches" in text
    assert '<th>KD_DINOv2</th><td class="num">0.01000 ± 0.00200</td>' in text
