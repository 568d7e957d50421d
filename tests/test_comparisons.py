"""FID, KID and sFID from the same pass as IS, against any reference: parity, files, merges, refusals (issue 12).

The first run (``ours``, checked against torch-fidelity) fills a ``--cache`` of network outputs that
the runs whose subject is what comes after the network (statistics files, references, shards,
torchrun ranks) read: each image costs one network pass, not one a test. Every run here takes batches
of one image, so a cached output is the fresh one bit for bit. The metric object's runs compute
their own.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import inception_score
from inception_score.cli import main
from inception_score.errors import InputError, OptionsError

from .conftest import make_images, run_torchrun, write_images

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sets")
    write_images(root / "samples", make_images(6, (32, 32), seed=61))
    write_images(root / "samples", make_images(2, (48, 40), seed=62), start=6)  # mixed sizes
    write_images(root / "real", make_images(7, (32, 32), seed=63))
    write_images(root / "real", make_images(2, (64, 64), seed=64), start=7)
    return {"samples": root / "samples", "real": root / "real", "root": root, "cache": root / "cache"}


RUN = dict(splits=2, bootstrap=0, progress=False, batch_size=1, kid_subset_size=4, kid_subsets=20)


def cached(sets: dict[str, Path]) -> dict:
    """RUN with the module's output cache (the module docstring)."""
    return {**RUN, "cache": str(sets["cache"])}


@pytest.fixture(scope="module")
def ours(sets, checkpoint_path: Path) -> inception_score.Result:
    return inception_score.compute(sets["samples"], ref=sets["real"], weights=str(checkpoint_path), **cached(sets))


def test_fid_and_kid_equal_torch_fidelity(sets, checkpoint_path: Path, ours) -> None:
    import torch_fidelity

    theirs = torch_fidelity.calculate_metrics(
        input1=str(sets["samples"]), input2=str(sets["real"]), fid=True, kid=True, kid_subset_size=4,
        kid_subsets=20, feature_extractor_weights_path=str(checkpoint_path), batch_size=1, cuda=False, verbose=False,
    )  # fmt: skip
    assert ours.metrics == ["is", "fid", "kid"]  # the default with a reference of images
    assert ours.fid == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)
    assert ours.kid_mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-5, abs=1e-7)
    assert ours.kid_std == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-5, abs=1e-7)
    ref = ours.fid_reference
    assert ref["kind"] == "images" and ref["num_images"] == 9 and ref["path"] == str(sets["real"])
    summary = ours.summary()
    assert f"FID: {ours.fid:.4f}" in summary and "KID: " in summary and "reference: " in summary


def test_statistics_files_give_the_same_fid(sets, checkpoint_path: Path, ours, tmp_path: Path) -> None:
    stats = tmp_path / "ref.npz"
    info = inception_score.compute_statistics(sets["real"], str(stats), features=True, weights=str(checkpoint_path),
                                              batch_size=1, progress=False, cache=str(sets["cache"]))  # fmt: skip
    assert info["num_images"] == 9 and len(info["weights_sha256"]) == 64
    with np.load(stats) as npz:  # pytorch-fid reads it: its keys, float64, covariance divisor N - 1
        mu, sigma = npz["mu"], npz["sigma"]
        assert mu.shape == (2048,) and sigma.shape == (2048, 2048) and sigma.dtype == np.float64
        pytorch_fid = tmp_path / "pytorch_fid.npz"
        np.savez_compressed(pytorch_fid, mu=mu, sigma=sigma)  # what fid_score.py --save-stats writes
    run = dict(weights=str(checkpoint_path), **cached(sets))
    # (each FID costs a 2048 x 2048 eigenvalue problem, ~10 s here: KID from our file, FID from pytorch-fid's,
    # whose mu and sigma are our file's)
    from_ours = inception_score.compute(sets["samples"], ref=str(stats), metrics=("kid",), **run)
    assert from_ours.kid_mean == pytest.approx(ours.kid_mean, rel=1e-12)
    assert from_ours.fid_reference["kind"] == "inception-score statistics"
    from_pf = inception_score.compute(sets["samples"], ref=str(pytorch_fid), **run)
    assert from_pf.fid == pytest.approx(ours.fid, rel=1e-12)
    assert from_pf.metrics == ["is", "fid"] and from_pf.kid_mean is None  # mu and sigma only: no KID by default
    with pytest.raises(InputError, match="pytorch-fid statistics without the reference images' features"):
        inception_score.compute(sets["samples"], ref=str(pytorch_fid), metrics=("kid",), **run)


def test_a_set_against_itself(sets, checkpoint_path: Path, ours) -> None:
    same = inception_score.compute(sets["real"], ref=sets["real"], weights=str(checkpoint_path), metrics=("fid",),
                                   **cached(sets))  # fmt: skip
    # 9 images give a covariance of rank 8 in 2048 dimensions: the general eigenvalue solver gave a
    # negative FID here, printed "FID: -0.0000"; the non-null eigenspace gives 0 to rounding, never below
    assert 0.0 <= same.fid <= 1e-9 * ours.fid and ours.fid > 10
    assert "FID: 0.0000" in same.summary() and "-0.0000" not in same.summary()
    # the text never shows -0.0000, for an intercept of FID at infinite N a hair below 0 either
    lines = dataclasses.replace(same, fid=0.0, fid_infinity=-2e-7, sfid=-0.0).summary_lines()
    assert "FID: 0.0000; at infinite N 0.0000" in lines and "sFID: 0.0000" in lines


def test_adm_reference_batches_use_their_stored_statistics(sets, checkpoint_path: Path, ours, tmp_path: Path) -> None:
    other = make_images(10, (32, 32), seed=65)
    mu = np.full(2048, 0.5)
    sigma = np.eye(2048) * 0.01
    np.savez(tmp_path / "adm.npz", arr_0=other, mu=mu, sigma=sigma)
    run = dict(weights=str(checkpoint_path), **cached(sets))
    stored = inception_score.compute(sets["samples"], ref=str(tmp_path / "adm.npz"), metrics=("fid",), **run)
    from inception_score.metrics.frechet import frechet_distance

    # the FID against the stored mu/sigma, not against arr_0's statistics
    sample_stats = tmp_path / "s.npz"
    inception_score.compute_statistics(sets["samples"], str(sample_stats), weights=str(checkpoint_path),
                                       batch_size=1, progress=False, cache=str(sets["cache"]))  # fmt: skip
    with np.load(sample_stats) as npz:
        expected = frechet_distance(npz["mu"], npz["sigma"], mu, sigma)
    assert stored.fid == pytest.approx(expected, rel=1e-9)
    assert stored.fid_reference["kind"] == "ADM reference batch"


@pytest.mark.parametrize(
    "make,message",
    [
        (
            lambda p: np.savez(p, labels=np.zeros(3)),
            "not a reference; expected images (arr_0, an ADM batch) or statistics (mu and sigma",
        ),
        (lambda p: np.savez(p, mu=np.zeros(10), sigma=np.eye(10)), "mu has shape (10,), expected (2048,)"),
        (lambda p: np.savez(p, mu=np.zeros(2048), sigma=np.full((2048, 2048), np.nan)), "sigma holds NaN or inf"),
    ],
)
def test_bad_reference_files_are_one_line(make, message: str, sets, checkpoint_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    make(bad)
    with pytest.raises(InputError) as info:
        inception_score.compute(sets["samples"], ref=str(bad), weights=str(checkpoint_path), **RUN)
    assert message in str(info.value) and str(bad) in str(info.value)


def test_other_bad_references(sets, checkpoint_path: Path, tmp_path: Path, capsys) -> None:
    run = dict(weights=str(checkpoint_path), **RUN)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images found"):
        inception_score.compute(sets["samples"], ref=tmp_path / "empty", **run)
    with pytest.raises(InputError, match=r"KID.*subset.*(8|9).*20|20.*(8|9)"):
        inception_score.compute(sets["samples"], ref=sets["real"], metrics=("kid",), **{**run, "kid_subset_size": 20})
    with pytest.raises(OptionsError, match="give them with --ref REF"):
        inception_score.compute(sets["samples"], metrics=("fid",), **run)
    # a reference computed with other weights is refused: its numbers are not comparable
    other = tmp_path / "other.pth"
    state = torch.load(checkpoint_path, weights_only=True)
    state["fc.bias"] = state["fc.bias"] + 1.0  # other weights (another sha256), without building a second network
    torch.save(state, other)
    stats = tmp_path / "ref.npz"
    inception_score.compute_statistics(sets["real"], str(stats), weights=str(other), progress=False)
    code = main([str(sets["samples"]), "--ref", str(stats), "--weights", str(checkpoint_path), "--splits", "2"])
    err = capsys.readouterr().err
    assert code == 3 and "computed with other Inception weights" in err and err.count("error:") == 1


def test_shards_and_merge_give_the_single_run(sets, checkpoint_path: Path, ours, tmp_path: Path) -> None:
    files = []
    for i in range(2):
        path = tmp_path / f"s{i}.pt"
        inception_score.compute(sets["samples"], ref=sets["real"], weights=str(checkpoint_path), shard=(i, 2),
                                save_stats=str(path), **cached(sets))  # fmt: skip
        files.append(str(path))
    merged = inception_score.merge_stats(files)
    assert merged.fid == pytest.approx(ours.fid, rel=1e-8)  # float64 sums in another order
    assert merged.kid_mean == pytest.approx(ours.kid_mean, rel=1e-6) and merged.kid_std == pytest.approx(ours.kid_std)
    assert merged.fid_reference == ours.fid_reference


def test_torchrun_with_two_ranks_gives_the_single_run(sets, checkpoint_path: Path, ours, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    script = (
        "import sys, json, torch, inception_score\n"
        "torch.set_num_threads(1)\n"
        f"r = inception_score.compute({str(sets['samples'])!r}, ref={str(sets['real'])!r}, "
        f"weights={str(checkpoint_path)!r}, **{cached(sets)!r})\n"
        "if torch.distributed.get_rank() == 0:\n"
        f"    open({str(out)!r}, 'w').write(r.to_json())\n"
    )
    (tmp_path / "run.py").write_text(script)
    done = run_torchrun([str(tmp_path / "run.py")])
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(out.read_text())
    assert got["fid"] == pytest.approx(ours.fid, rel=1e-6)  # equal thread counts aside, ~1e-7
    assert got["kid_mean"] == pytest.approx(ours.kid_mean, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("num_samples,metrics", [(None, ("fid", "kid")), (8, ("kid",))])
def test_the_metric_object_takes_a_reference_and_gives_the_same_fields(sets, checkpoint_path: Path, ours,
                                                                       num_samples, metrics) -> None:  # fmt: skip
    from PIL import Image

    metric = inception_score.InceptionScore(weights=checkpoint_path, ref=str(sets["real"]), num_samples=num_samples,
                                            splits=2, bootstrap=0, kid_subset_size=4, kid_subsets=20,
                                            metrics=metrics)  # fmt: skip
    for path in sorted(sets["samples"].iterdir()):  # one image at a time, as compute() with batch_size=1
        metric.update(np.asarray(Image.open(path).convert("RGB"))[None])
    got = metric.compute()
    # the same reference, less the moments a KID-only run has no use for (and does not compute)
    expected = {**ours.fid_reference, "computed": ours.fid_reference["computed"] if "fid" in metrics else []}
    assert got.metrics == ["is", *metrics] and got.fid_reference == expected
    assert got.kid_mean == pytest.approx(ours.kid_mean, rel=1e-6)
    assert got.fid is None if "fid" not in metrics else got.fid == pytest.approx(ours.fid, rel=1e-9)
    assert got.split_scores == pytest.approx(ours.split_scores, rel=1e-12)


def test_sfid_statistics_are_those_of_mixed_6d_branch1x1(sets, checkpoint_path: Path, tmp_path: Path, capsys) -> None:
    """`stats --spatial` keeps the ADM evaluator's mixed_6/conv: the output of Mixed_6d.branch1x1 (after
    batch norm and ReLU), its first 7 channels, NHWC. Checked against a forward hook on that very module
    of torch-fidelity's extractor on the same weights, image by image: any other slice of Mixed_6d's
    768 channels (the last 192, say) or another flattening gives other mu_s and sigma_s."""
    from PIL import Image
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    out = tmp_path / "ref.npz"
    code = main(["stats", str(sets["real"]), "-o", str(out), "--spatial", "--weights", str(checkpoint_path), "--quiet"])
    assert code == 0, capsys.readouterr().err
    extractor = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(checkpoint_path)
    ).eval()
    seen: list[torch.Tensor] = []
    hook = extractor.Mixed_6d.branch1x1.register_forward_hook(lambda module, args, output: seen.append(output))
    try:
        for path in sorted(sets["real"].iterdir()):  # mixed sizes: one image at a time
            image = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None]
            with torch.no_grad():
                extractor(image)
    finally:
        hook.remove()
    branch = torch.cat(seen).double()  # N x 192 x 17 x 17, after BN + ReLU
    assert branch.shape == (9, 192, 17, 17) and bool((branch >= 0).all())
    vectors = branch[:, :7].permute(0, 2, 3, 1).reshape(9, -1).numpy()  # first 7 channels, (h, w, c) order
    with np.load(out) as npz:
        mu_s, sigma_s = npz["mu_s"], npz["sigma_s"]
    assert mu_s.shape == (2023,) and sigma_s.shape == (2023, 2023)
    scale = np.abs(vectors).max()
    np.testing.assert_allclose(mu_s, vectors.mean(0), rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(sigma_s, np.cov(vectors, rowvar=False), rtol=0, atol=1e-5 * scale**2)
