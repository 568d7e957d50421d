"""Statistics stored in batches and files (issue 21, items 2, 4 and 5): ``evaluate`` reads the sample
batch's stored mu/sigma/mu_s/sigma_s as the ADM evaluator does; the reference's provenance (precision,
preprocessing, package version) is in ``fid_reference`` and a difference that moves the numbers is warned
about; the documents say which tools read a ``stats`` file.

The runs share a ``--cache`` of network outputs (the module's), so that each set of images costs one
network pass in the module, not one a run: what these tests check comes after the network. A set is
one batch of 6, so a cached output is the fresh one bit for bit."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import inception_score
from inception_score.cli import build_stats_parser, main
from inception_score.features.cache import PREPROCESS_VERSION
from inception_score.metrics.frechet import frechet_distance

from .conftest import make_images, write_images

FAST = dict(progress=False, batch_size=6)


def psd(dim: int, seed: int) -> np.ndarray:
    """A full-rank covariance unlike any these images give (a VIRTUAL batch's statistics come from 10,000 images)."""
    a = np.random.default_rng(seed).normal(size=(dim, 48))
    return a @ a.T / 48 + 0.01 * np.eye(dim)


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("batches")
    rng = np.random.default_rng(5)
    images = make_images(6, (24, 24), seed=81)
    virtual = root / "VIRTUAL_like.npz"  # arr_0 and the four stored statistics, as guided-diffusion ships them
    np.savez(virtual, arr_0=images, mu=rng.uniform(0, 1, 2048), sigma=psd(2048, 1),
             mu_s=rng.uniform(0, 1, 2023), sigma_s=psd(2023, 2))  # fmt: skip
    plain = root / "ref_images.npz"
    np.savez(plain, arr_0=make_images(6, (24, 24), seed=82))
    write_images(root / "real", make_images(6, (24, 24), seed=83))
    return {"virtual": virtual, "plain": plain, "real": root / "real", "root": root, "cache": root / "cache"}


def cached(batches: dict[str, Path]) -> dict:
    """FAST with the module's output cache (the module docstring)."""
    return {**FAST, "cache": str(batches["cache"])}


def test_a_virtual_batch_against_itself_gives_fid_and_sfid_zero(batches, checkpoint_path: Path, capsys) -> None:
    """The evaluator reads both batches' stored statistics (read_statistics, GD:43-49): the same file on both
    sides gives FID = sFID = 0 there. Before issue 21 the samples' statistics came from arr_0: FID 2.7, sFID 68."""
    virtual = str(batches["virtual"])
    argv = ["evaluate", virtual, virtual, "--weights", str(checkpoint_path), "--quiet", "--batch-size", "6",
            "--cache", str(batches["cache"])]  # fmt: skip
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fid"] == 0.0 and out["sfid"] == 0.0
    assert out["precision"] == 1.0 and out["recall"] == 1.0  # from arr_0 of both, as the evaluator
    details = out["details"]
    assert details["sample_statistics"]["read"] == ["mu", "sigma", "mu_s", "sigma_s"]
    assert details["sample_statistics"]["computed"] == [] and details["sample_statistics"]["path"] == virtual
    assert details["fid_reference"]["read"][:4] == ["mu", "sigma", "mu_s", "sigma_s"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "FID: 0.0\n" in text and "sFID: 0.0\n" in text  # the same statistics: 0 exactly, not rounding
    assert f"samples: {virtual}; mu, sigma, mu_s, sigma_s read from the file (as the ADM evaluator" in text


def test_what_a_sample_batch_lacks_is_computed_and_said(batches, checkpoint_path: Path, tmp_path: Path) -> None:
    """A sample batch storing mu/sigma only: FID from them, sFID from its images; compute() (not evaluate)
    always scores the images."""
    run = dict(weights=str(checkpoint_path), metrics=("fid", "sfid"), **cached(batches))
    ref_stats = tmp_path / "ref.npz"
    inception_score.compute_statistics(batches["plain"], str(ref_stats), spatial=True, weights=str(checkpoint_path),
                                       **cached(batches))  # fmt: skip
    with np.load(ref_stats) as npz:
        ref_mu, ref_sigma = npz["mu"], npz["sigma"]
    samples = tmp_path / "samples.npz"  # its stored mu/sigma are the reference images' own
    np.savez(samples, arr_0=make_images(6, (24, 24), seed=84), mu=ref_mu, sigma=ref_sigma)
    result = inception_score.evaluate(str(batches["plain"]), str(samples), **run)
    assert result.fid == 0.0 and result.sfid > 1.0
    assert result.sample_statistics["read"] == ["mu", "sigma"]
    assert result.sample_statistics["computed"] == ["mu_s", "sigma_s"]
    assert result.fid_reference["computed"] == ["mu", "sigma", "mu_s", "sigma_s"]  # an ADM batch of images only
    run = {**run, "metrics": ("fid",)}  # (each distance is a 2048 x 2048 eigenvalue problem: FID alone below)
    scored = inception_score.compute(str(samples), ref=str(batches["plain"]), splits=1, **run)
    assert scored.fid > 1.0 and scored.sample_statistics is None
    # against another reference (its stored statistics): the samples' stored mu/sigma against the reference's
    other = inception_score.evaluate(str(batches["virtual"]), str(samples), **run)
    with np.load(batches["virtual"]) as npz:
        assert other.fid == pytest.approx(frechet_distance(ref_mu, ref_sigma, npz["mu"], npz["sigma"]), rel=1e-12)


def test_a_fast_reference_against_exact_samples_is_shown_and_warned(batches, checkpoint_path: Path, capsys) -> None:
    """A reference written with --precision fast, scored against exact samples: its provenance is in
    fid_reference and a warning says that the precision differs (a set against its own fast statistics
    gives FID ~0.02, not 0)."""
    root = batches["root"]
    weights = str(checkpoint_path)
    for precision in ("fast", "exact"):
        assert main(["stats", str(batches["real"]), "-o", str(root / f"{precision}.npz"), "--weights", weights,
                     "--precision", precision, "--quiet", "--cache", str(batches["cache"])]) == 0  # fmt: skip
    capsys.readouterr()
    argv = [str(batches["real"]), "--weights", weights, "--quiet", "--splits", "1", "--metrics", "fid", "--cache",
            str(batches["cache"])]  # fmt: skip
    assert main([*argv, "--ref", str(root / "fast.npz"), "--json"]) == 0
    captured = capsys.readouterr()
    ref = json.loads(captured.out)["fid_reference"]
    assert ref["precision"] == "fast" and ref["preprocess_version"] == PREPROCESS_VERSION
    assert ref["package_version"] == inception_score.__version__ and len(ref["weights_sha256"]) == 64
    assert "was computed with --precision fast and these samples with exact" in captured.err
    assert "same --precision" in captured.err
    assert main([*argv, "--ref", str(root / "fast.npz")]) == 0
    assert "(inception-score statistics, 6 images" in capsys.readouterr().out  # and the line names the precision
    # the same images' exact statistics: no warning, FID 0
    result = inception_score.compute(batches["real"], ref=str(root / "exact.npz"), weights=weights, splits=1,
                                     metrics=("fid",), **cached(batches))  # fmt: skip
    assert result.fid_reference["precision"] == "exact" and result.fid == 0.0
    assert not [w for w in result.warnings if "precision" in w]
    # a file that records another preprocessing version is warned about too
    other = root / "old.npz"
    with np.load(root / "exact.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    record = json.loads(str(arrays["inception_score"]))
    arrays["inception_score"] = np.array(json.dumps({**record, "preprocess_version": PREPROCESS_VERSION - 1}))
    np.savez(other, **arrays)
    old = inception_score.compute(batches["real"], ref=str(other), weights=weights, splits=1, metrics=("fid",),
                                  **cached(batches))  # fmt: skip
    assert any(f"preprocessing version {PREPROCESS_VERSION - 1}" in w for w in old.warnings)


def test_a_reference_computed_in_the_run_records_this_run(batches, checkpoint_path: Path) -> None:
    result = inception_score.compute(batches["real"], ref=batches["real"], weights=str(checkpoint_path), splits=1,
                                     metrics=("fid",), **cached(batches))  # fmt: skip
    ref = result.fid_reference
    assert (ref["precision"], ref["preprocess_version"]) == ("exact", PREPROCESS_VERSION)
    assert ref["computed"] == ["mu", "sigma"]
    pytorch_fid = batches["root"] / "pf.npz"
    np.savez(pytorch_fid, mu=np.zeros(2048), sigma=np.eye(2048))
    from_pf = inception_score.compute(batches["real"], ref=str(pytorch_fid), weights=str(checkpoint_path), splits=1,
                                      metrics=("fid",), **cached(batches))  # fmt: skip
    assert from_pf.fid_reference["precision"] is None
    assert from_pf.fid_reference["produced_by"] == "not recorded (pytorch-fid statistics)"


def test_the_documents_say_which_tools_read_a_stats_file(batches, checkpoint_path: Path, tmp_path: Path) -> None:
    """pytorch-fid reads `stats` output (its fid_score takes mu and sigma from any .npz path); the ADM evaluator
    opens arr_0 of both batches first (GD:43, 517), which the file has not: the help and README must not say
    that the evaluator reads it."""
    from pytorch_fid.fid_score import compute_statistics_of_path

    stats = tmp_path / "ref.npz"
    inception_score.compute_statistics(batches["real"], str(stats), weights=str(checkpoint_path), **cached(batches))
    mu, sigma = compute_statistics_of_path(str(stats), None, 1, 2048, "cpu")  # no model: the .npz route
    with np.load(stats) as npz:
        np.testing.assert_array_equal(mu, npz["mu"])
        np.testing.assert_array_equal(sigma, npz["sigma"])
    with zipfile.ZipFile(stats) as zf:
        assert "arr_0.npy" not in zf.namelist()  # the evaluator's open_npz_array(path, "arr_0") fails on it
    help_text = " ".join(build_stats_parser().format_help().split())
    assert "pytorch-fid's fid_score.py reads the file; the ADM evaluator does not" in help_text
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert "pytorch-fid and the ADM evaluator read" not in readme
    assert "The ADM evaluator does **not**" in readme
    source = Path(inception_score.__file__).parent
    for path in source.rglob("*.py"):
        text = " ".join(path.read_text(encoding="utf-8").split())
        assert "the ADM evaluator read the file" not in text and "the ADM evaluator read it" not in text, path
