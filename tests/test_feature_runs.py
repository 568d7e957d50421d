"""DINOv2 and CLIP metrics through the paths a user takes: compute(), the CLI, shards + merge,
--state, --cache, the metric object, --check-precision, and the refusals before any work.

The networks are the stand-ins of ``feature_standins.py`` (the factories' interface, tiny
projections): what is under test is that each batch is decoded once and given to every network
a requested metric needs, that the numbers equal the formulas on those networks' vectors, and
that everything that works for FID works for these spaces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import inception_score
from inception_score import InceptionScore, InputError, OptionsError
from inception_score.cli import main
from inception_score.features.extractor import FACTORIES, release_network
from inception_score.metrics.frechet import frechet_distance

from .conftest import make_images, write_images
from .feature_standins import factory, save_weights
from .test_feature_spaces import reference_cmmd

ALL = "fd_dinov2,kd_dinov2,pr_dinov2,prdc_dinov2,fd_clip,cmmd"


@pytest.fixture
def nets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    calls: list[tuple[str, str]] = []
    for field in ("dinov2", "clip"):
        monkeypatch.setitem(FACTORIES, field, factory(field, calls))
    release_network()
    weights = {field: save_weights(tmp_path / f"{field}.pth", field) for field in ("dinov2", "clip")}
    yield {**weights, "calls": calls}
    release_network()


@pytest.fixture
def sets(tmp_path: Path) -> dict[str, Any]:
    samples, real = make_images(40, (32, 32), seed=7), make_images(36, (24, 40), seed=8)
    write_images(tmp_path / "samples", samples)
    write_images(tmp_path / "real", real)
    return {"samples": tmp_path / "samples", "real": tmp_path / "real", "samples_u8": samples, "real_u8": real}


def vectors(field: str, weights: Path, images: np.ndarray, resize: str = "torch") -> np.ndarray:
    """The stand-in network's vectors of uint8 N x H x W x 3 images, computed directly."""
    prepare, forward, _ = factory(field)(weights, "cpu", resize=resize)
    with torch.no_grad():
        return forward(prepare(torch.from_numpy(images).permute(0, 3, 1, 2))).double().numpy()


def fd(x: np.ndarray, y: np.ndarray) -> float:
    return frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))


def options(nets: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"dinov2_weights": str(nets["dinov2"]), "clip_weights": str(nets["clip"]), "progress": False,
            "device": "cpu", "splits": 2, "kid_subsets": 5, "kid_subset_size": 10, "bootstrap": 0, **extra}  # fmt: skip


def test_every_space_from_one_pass_equals_the_formulas_on_its_vectors(nets, sets, stand_in) -> None:
    result = inception_score.compute(
        str(sets["samples"]), network=stand_in, ref=str(sets["real"]), metrics=ALL, **options(nets)
    )
    d_x, d_y = (vectors("dinov2", nets["dinov2"], sets[k]) for k in ("samples_u8", "real_u8"))
    c_x, c_y = (vectors("clip", nets["clip"], sets[k]) for k in ("samples_u8", "real_u8"))
    assert result.fd_dinov2 == pytest.approx(fd(d_x, d_y), rel=1e-6)
    assert result.fd_clip == pytest.approx(fd(c_x, c_y), rel=1e-6)
    # the embeddings of a batch of 8 and of all images at once differ in float32's last bits (~1e-7)
    expected_cmmd = reference_cmmd(c_x.astype(np.float32), c_y.astype(np.float32), np.float64)
    assert result.cmmd == pytest.approx(expected_cmmd, rel=1e-4) and result.cmmd > 0.1
    assert result.cmmd_drop_remainder is False and result.cmmd_num_samples == 40
    for name in ("kd_dinov2_mean", "improved_precision_dinov2", "improved_recall_dinov2", "density_dinov2",
                 "coverage_dinov2"):  # fmt: skip
        assert getattr(result, name) is not None, name
    assert result.fid is None and result.kid_mean is None  # pool3's were not asked for
    assert result.mean > 1  # IS is always computed, by the first network
    assert result.dinov2_resize == "torch" and result.dinov2_weights_sha256 and result.clip_weights_sha256
    assert sorted(nets["calls"]) == [("clip", "exact"), ("dinov2", "exact")]  # each built once, for both sets


def test_a_network_nobody_needs_is_not_loaded(nets, sets, stand_in) -> None:
    result = inception_score.compute(str(sets["samples"]), network=stand_in, ref=str(sets["real"]),
                                     metrics="fd_dinov2", **options(nets, clip_weights=None))  # fmt: skip
    assert nets["calls"] == [("dinov2", "exact")] and result.fd_clip is None and result.clip_weights_sha256 is None
    with pytest.raises(OptionsError, match="clip_weights: only for the CLIP metrics"):
        inception_score.compute(str(sets["samples"]), network=stand_in, ref=str(sets["real"]), metrics="fd_dinov2",
                                **options(nets))  # fmt: skip
    with pytest.raises(OptionsError, match="cmmd_drop_remainder: only for the CMMD metrics"):
        inception_score.compute(str(sets["samples"]), network=stand_in, ref=str(sets["real"]), metrics="fd_clip",
                                cmmd_drop_remainder=True, **options(nets, dinov2_weights=None))  # fmt: skip


def test_shards_merge_and_resume_equal_one_run(nets, sets, stand_in, tmp_path: Path) -> None:
    common = {"network": stand_in, "ref": str(sets["real"]), "metrics": ALL, "cmmd_drop_remainder": True,
              "batch_size": 8, **options(nets)}  # fmt: skip
    whole = inception_score.compute(str(sets["samples"]), **common)
    parts = [tmp_path / f"s{i}.pt" for i in range(3)]
    for i, path in enumerate(parts):
        inception_score.compute(str(sets["samples"]), shard=(i, 3), save_stats=str(path), **common)
    merged = inception_score.merge_stats([str(p) for p in parts])
    state = tmp_path / "state.pt"
    inception_score.compute(str(sets["samples"]), state=str(state), **common)
    resumed = inception_score.compute(str(sets["samples"]), state=str(state), **common)  # from the saved rows
    for result in (merged, resumed):
        for name in ("fd_dinov2", "fd_clip", "cmmd", "kd_dinov2_mean", "density_dinov2", "improved_recall_dinov2"):
            assert getattr(result, name) == pytest.approx(getattr(whole, name), rel=1e-9), name
    assert merged.cmmd_num_samples == 32 and merged.cmmd_drop_remainder is True
    assert merged.dinov2_weights_sha256 == whole.dinov2_weights_sha256
    other = tmp_path / "other.pth"
    save_weights(other, "dinov2", seed=5)
    with pytest.raises(InputError, match="used other DINOv2 or CLIP weights"):
        inception_score.compute(str(sets["samples"]), state=str(state), **{**common, "dinov2_weights": str(other)})


def test_stats_file_per_space_is_the_reference_of_its_images(nets, sets, stand_in, checkpoint_path, tmp_path,
                                                               capsys) -> None:  # fmt: skip
    out = tmp_path / "ref.npz"
    code = main(["stats", str(sets["real"]), "-o", str(out), "--metrics", "fd_dinov2,cmmd", "--with-features",
                 "--weights", str(checkpoint_path), "--dinov2-weights", str(nets["dinov2"]), "--clip-weights",
                 str(nets["clip"]), "--quiet", "--json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    with np.load(out) as npz:
        assert {"mu_dinov2", "sigma_dinov2", "features_dinov2", "features_clip"} <= set(npz.files)
        assert "mu" not in npz.files  # no pool3 metric asked for: Inception did not run
        assert npz["features_dinov2"].dtype == np.float32 and npz["features_dinov2"].shape == (36, 12)
        np.testing.assert_allclose(npz["features_dinov2"], vectors("dinov2", nets["dinov2"], sets["real_u8"]),
                                   rtol=1e-5, atol=1e-5)  # fmt: skip
    common = {"network": stand_in, "metrics": "fd_dinov2,kd_dinov2,cmmd", **options(nets)}
    from_file = inception_score.compute(str(sets["samples"]), ref=str(out), **common)
    from_images = inception_score.compute(str(sets["samples"]), ref=str(sets["real"]), **common)
    for name in ("fd_dinov2", "kd_dinov2_mean", "cmmd"):
        assert getattr(from_file, name) == pytest.approx(getattr(from_images, name), rel=1e-9), name
    # what the file lacks is refused before any work, naming what is missing (exit 3 from the CLI)
    capsys.readouterr()
    code = main([str(sets["samples"]), "--ref", str(out), "--metrics", "fid", "--weights", str(checkpoint_path),
                 "--quiet"])  # fmt: skip
    assert code == 3 and "without mu and sigma" in capsys.readouterr().err
    moments = tmp_path / "moments.npz"  # no --with-features: mu_dinov2 and sigma_dinov2 only
    assert main(["stats", str(sets["real"]), "-o", str(moments), "--metrics", "fd_dinov2", "--weights",
                 str(checkpoint_path), "--dinov2-weights", str(nets["dinov2"]), "--quiet"]) == 0  # fmt: skip
    code = main([str(sets["samples"]), "--ref", str(moments), "--metrics", "kd_dinov2", "--weights",
                 str(checkpoint_path), "--dinov2-weights", str(nets["dinov2"]), "--quiet"])  # fmt: skip
    assert code == 3 and "without features_dinov2, which kd_dinov2 needs" in capsys.readouterr().err
    other = tmp_path / "other.pth"
    save_weights(other, "dinov2", seed=5)
    with pytest.raises(InputError, match="computed with dinov2_weights_sha256"):
        inception_score.compute(str(sets["samples"]), ref=str(out), **{**common, "dinov2_weights": str(other)})


def test_cache_is_keyed_by_network_and_resize(nets, checkpoint_path, tmp_path: Path) -> None:
    write_images(tmp_path / "s", make_images(6, (32, 32), seed=1))
    write_images(tmp_path / "r", make_images(6, (32, 32), seed=2))
    common = {"ref": str(tmp_path / "r"), "metrics": "fid,fd_dinov2", "weights": str(checkpoint_path),
              "cache": str(tmp_path / "cache"), **options(nets, clip_weights=None)}  # fmt: skip
    first = inception_score.compute(str(tmp_path / "s"), **common)
    again = inception_score.compute(str(tmp_path / "s"), **common)
    assert (first.cache_misses, again.cache_hits, again.cache_misses) == (12, 12, 0)  # samples and reference
    assert again.fd_dinov2 == pytest.approx(first.fd_dinov2, rel=1e-6) and again.fid == pytest.approx(first.fid)
    pil = inception_score.compute(str(tmp_path / "s"), **{**common, "dinov2_resize": "pil"})
    assert pil.cache_misses == 12 and pil.fd_dinov2 != pytest.approx(first.fd_dinov2, rel=1e-3)
    names = sorted(p.name.split("-")[0] + "-" + p.name.split("-")[1] for p in (tmp_path / "cache").iterdir())
    assert names == ["dinov2-resize", "dinov2-resize", "v2-" + names[2].split("-")[1]]


def test_check_precision_reports_each_network(nets, checkpoint_path, tmp_path: Path) -> None:
    write_images(tmp_path / "s", make_images(6, (32, 32), seed=1))
    write_images(tmp_path / "r", make_images(6, (32, 32), seed=2))
    result = inception_score.compute(
        str(tmp_path / "s"), ref=str(tmp_path / "r"), metrics="fd_dinov2", weights=str(checkpoint_path),
        precision="fast", check_precision=4, **options(nets, clip_weights=None),
    )  # fmt: skip
    check = result.precision_check
    assert 0 < check["dinov2_max_deviation"] < 0.05  # the stand-in's bf16 product
    assert check["fd_dinov2_exact"] != check["fd_dinov2_fast"] and "relative_deviation" in check


def test_metric_object_equals_compute(nets, checkpoint_path, tmp_path: Path) -> None:
    samples = make_images(8, (32, 32), seed=3)
    write_images(tmp_path / "s", samples)
    write_images(tmp_path / "r", make_images(8, (32, 32), seed=4))
    kwargs = {"ref": str(tmp_path / "r"), "metrics": ["fd_dinov2", "cmmd"], "weights": str(checkpoint_path),
              "dinov2_weights": str(nets["dinov2"]), "clip_weights": str(nets["clip"]), "splits": 1,
              "bootstrap": 0}  # fmt: skip
    expected = inception_score.compute(str(tmp_path / "s"), progress=False, device="cpu", **kwargs)
    for num_samples in (None, 8):
        metric = InceptionScore(num_samples=num_samples, image_range=None, **kwargs)
        metric.update(torch.from_numpy(samples[:5]).permute(0, 3, 1, 2))
        metric.update(torch.from_numpy(samples[5:]).permute(0, 3, 1, 2))
        got = metric.compute()
        assert got.fd_dinov2 == pytest.approx(expected.fd_dinov2, rel=1e-6), num_samples
        assert got.cmmd == pytest.approx(expected.cmmd, rel=1e-6), num_samples
        assert got.dinov2_weights_sha256 == expected.dinov2_weights_sha256


@pytest.mark.parametrize("preset,mode", [("dgm-eval", "pil"), ("edm2", "torch")])
def test_a_presets_dinov2_resize_reaches_fd_dinov2(nets, sets, stand_in, preset, mode) -> None:
    run = {"network": stand_in, "ref": str(sets["real"]), "metrics": "fd_dinov2", **options(nets)}
    run.pop("clip_weights")  # refused where no CLIP metric runs
    result = inception_score.compute(str(sets["samples"]), match=preset, **run)
    assert result.dinov2_resize == mode and result.match["settings"]["dinov2_resize"] == mode
    expected = fd(*(vectors("dinov2", nets["dinov2"], sets[k], resize=mode) for k in ("samples_u8", "real_u8")))
    assert result.fd_dinov2 == pytest.approx(expected, rel=1e-6)
    other = "torch" if mode == "pil" else "pil"  # the two resizes differ on these images: the preset decides
    unmatched = fd(*(vectors("dinov2", nets["dinov2"], sets[k], resize=other) for k in ("samples_u8", "real_u8")))
    assert result.fd_dinov2 != pytest.approx(unmatched, rel=1e-3)
    overridden = inception_score.compute(str(sets["samples"]), match=preset, dinov2_resize=other, **run)
    assert overridden.dinov2_resize == other and overridden.fd_dinov2 == pytest.approx(unmatched, rel=1e-6)
    assert overridden.match["overridden"]["dinov2_resize"] == {"preset": mode, "used": other}


def test_cli_json_and_exit_codes(nets, sets, checkpoint_path, capsys) -> None:
    base = [str(sets["samples"]), "--weights", str(checkpoint_path), "--quiet"]
    assert main([*base, "--dinov2-weights", str(nets["dinov2"])]) == 2
    assert "--dinov2-weights: only for the DINOv2 metrics" in capsys.readouterr().err
    assert main([*base, "--ref", str(sets["real"]), "--metrics", "fd_dinov2", "--dinov2-resize", "bicubic"]) == 2
    assert "--dinov2-resize: invalid choice: 'bicubic'" in capsys.readouterr().err
