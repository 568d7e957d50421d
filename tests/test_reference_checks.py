"""Nothing computed and then lost: what the reference must hold is checked before any image is scored
(issue 21 items 3 and 4), for every kind of reference; and what the numbers of a degenerate reference
mean is said."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import inception_score
from inception_score.cli import main
from inception_score.errors import InputError, ordinal
from inception_score.metrics.manifold import density_coverage
from inception_score.run.reference import REFERENCE_FORMAT

from .conftest import PooledStandIn, make_images, write_images


class CountingSamples:
    """A sample function that records every call (so a test sees whether any sample was generated)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, n: int) -> np.ndarray:
        self.calls += 1
        return make_images(n, (32, 32), seed=100 + self.calls)


def our_statistics_file(path: Path, features: np.ndarray) -> str:
    """A file in the layout of `inception-score stats --with-features` (no weights recorded)."""
    mu, sigma = features.mean(0).astype(np.float64), np.eye(2048)
    record = {"format": REFERENCE_FORMAT, "num_images": len(features), "with_features": True}
    np.savez(path, mu=mu, sigma=sigma, features=features.astype(np.float32), inception_score=json.dumps(record))
    return str(path)


def references(tmp_path: Path, n: int) -> dict[str, Any]:
    """A reference of n images in every form --ref takes."""
    images = make_images(n, (32, 32), seed=90)
    write_images(tmp_path / "folder", images)
    write_images(tmp_path / "part1", images[:1])
    write_images(tmp_path / "part2", images[1:])
    np.savez(tmp_path / "adm.npz", arr_0=images)
    np.savez(tmp_path / "adm_stats.npz", arr_0=images, mu=np.zeros(2048), sigma=np.eye(2048))
    features = np.random.default_rng(0).random((n, 2048), dtype=np.float32)
    return {
        "folder": str(tmp_path / "folder"),
        "two folders": [str(tmp_path / "part1"), str(tmp_path / "part2")],
        "array": images,
        "tensor": torch.from_numpy(images).permute(0, 3, 1, 2),
        "ADM batch": str(tmp_path / "adm.npz"),
        "ADM batch with statistics": str(tmp_path / "adm_stats.npz"),
        "inception-score statistics": our_statistics_file(tmp_path / "ours.npz", features),
    }


KINDS = ("folder", "two folders", "array", "tensor", "ADM batch", "ADM batch with statistics",
         "inception-score statistics")  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("metric", "options", "size", "message"),
    [
        ("pr", {}, 3, r"precision/recall with k=3: the reference has 3 images, expected at least 4 \(each one's "
                      r"radius is the distance to its 3rd nearest neighbour among them\)"),
        ("prdc", {}, 5, "density/coverage with k=5: the reference has 5 images, expected at least 6 .* 5th nearest"),
        ("prdc", {"prdc_k": 2}, 2, "density/coverage with k=2: the reference has 2 images, expected at least 3 .* "
                                   "2nd nearest"),
        ("pr", {"pr_k": 5}, 5, "precision/recall with k=5: the reference has 5 images, expected at least 6 .* "
                               "5th nearest"),
        ("kid", {"kid_subset_size": 4}, 3, "KID subset size 4 .* 8 samples, 3 reference images"),
    ],
)  # fmt: skip
def test_a_reference_too_small_is_refused_before_any_image_is_scored(
    tmp_path: Path, kind: str, metric: str, options: dict, size: int, message: str
) -> None:
    ref = references(tmp_path, size)[kind]
    samples, network = CountingSamples(), PooledStandIn()
    with pytest.raises(InputError, match=message) as caught:
        inception_score.compute(samples, num_samples=8, network=network, ref=ref, metrics=(metric,), splits=1,
                                bootstrap=0, batch_size=4, progress=False, **options)  # fmt: skip
    assert "\n" not in str(caught.value) and str(caught.value).startswith(("ref:", "KID"))
    assert samples.calls == 0  # no sample generated
    assert network.images_seen == 0  # nor any reference image scored (their number is known before)


def test_a_covariance_of_one_reference_image_is_refused_before_any_image_is_scored(tmp_path: Path) -> None:
    write_images(tmp_path / "one", make_images(1, (32, 32), seed=3))
    samples, network = CountingSamples(), PooledStandIn()
    with pytest.raises(InputError, match="1 image; a covariance needs at least 2"):
        inception_score.compute(samples, num_samples=4, network=network, ref=str(tmp_path / "one"),
                                metrics=("fid",), splits=1, progress=False)  # fmt: skip
    assert samples.calls == 0 and network.images_seen == 0


def test_an_implied_kid_is_left_out_before_the_reference_pass(tmp_path: Path) -> None:
    """Without --metrics, KID is left out (with its warning) when a set is smaller than a subset: decided
    from the reference's size before its pass (here a pass that fails on its last image)."""
    paths = write_images(tmp_path / "real", make_images(5, (32, 32), seed=4))
    paths[-1].write_bytes(paths[-1].read_bytes()[:60])  # a valid header, truncated pixel data: found when decoded
    with pytest.warns(UserWarning, match="KID not computed: its subsets hold 1000 images from each set, and there "
                                         "are 6 samples and 5 reference images"):  # fmt: skip
        with pytest.raises(InputError, match="truncated"):
            inception_score.compute(CountingSamples(), num_samples=6, network=PooledStandIn(),
                                    ref=str(tmp_path / "real"), splits=1, bootstrap=0, progress=False)  # fmt: skip


def test_the_metric_object_checks_its_reference_before_any_image(tmp_path: Path) -> None:
    from inception_score.metric import InceptionScore

    write_images(tmp_path / "real", make_images(3, (32, 32), seed=5))
    with pytest.raises(InputError, match="precision/recall with k=3: the reference has 3 images.*3rd nearest"):
        InceptionScore(ref=str(tmp_path / "real"), metrics=("pr",), num_samples=8)  # before any weights are loaded


def test_the_command_line_refuses_at_once_and_loses_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    """The case of the report: IS and FID were computed, then P/R refused, exit 3, nothing on stdout."""
    write_images(tmp_path / "samples", make_images(8, (32, 32), seed=6))
    write_images(tmp_path / "real", make_images(3, (32, 32), seed=7))
    network, real = PooledStandIn(), inception_score.compute
    monkeypatch.setattr(inception_score, "compute", lambda sources, options: real(sources, options, network=network))
    code = main([str(tmp_path / "samples"), "--ref", str(tmp_path / "real"), "--metrics", "fid,pr", "--splits", "1"])
    out, err = capsys.readouterr()
    assert code == 3 and out == "" and network.images_seen == 0  # refused before any work, so nothing lost
    assert err.strip().splitlines() == [
        f"inception-score: error: ref: {tmp_path / 'real'}: precision/recall with k=3: the reference has 3 images, "
        "expected at least 4 (each one's radius is the distance to its 3rd nearest neighbour among them)"
    ]


def test_ordinals_in_messages() -> None:
    assert [ordinal(k) for k in (1, 2, 3, 4, 5, 11, 12, 13, 21, 22, 23, 100, 101, 112)] == [
        "1st", "2nd", "3rd", "4th", "5th", "11th", "12th", "13th", "21st", "22nd", "23rd", "100th", "101st", "112th",
    ]  # fmt: skip


# ---------------------------------------------------------------- item 4: zero reference radii


def test_zero_reference_radii_are_said_whatever_their_share(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(1)
    distinct = torch.rand(10, 2048, generator=g) * 0.3  # pool3-like magnitudes (float32 rounding is not 0)
    samples = torch.cat([distinct[:1].repeat(3, 1), torch.rand(5, 2048, generator=g) * 0.3])
    # every image the same: every radius 0; density = coverage = 0 whatever the samples (prdc's numbers)
    with pytest.warns(
        UserWarning,
        match=r"density/coverage: every reference image has a radius of 0 \(within "
        r"float32 rounding: its 5th nearest other reference image is identical",
    ):
        assert density_coverage(samples, distinct[:1].repeat(8, 1)) == (0.0, 0.0)  # fmt: skip
    # one pair of identical images among 12 with k = 1: 2 radii of 0
    pair = torch.cat([distinct[:1], distinct])  # 11 rows, rows 0 and 1 identical
    with pytest.warns(UserWarning, match="density/coverage: 2 of the 11 reference images have a radius of 0"):
        density_coverage(samples, pair, k=1)
    # 6 of 10 (as a user met it, with precision = recall = 1 beside it)
    six = torch.cat([distinct[:1].repeat(6, 1), distinct[1:5]])
    with pytest.warns(UserWarning, match="6 of the 10 reference images have a radius of 0"):
        density_coverage(six, six)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # distinct reference images: no warning
        density_coverage(samples, distinct, k=3)


def test_a_run_with_duplicated_reference_images_says_so(tmp_path: Path) -> None:
    one = make_images(1, (32, 32), seed=8)
    ref = np.concatenate([one.repeat(6, axis=0), make_images(4, (32, 32), seed=9)])
    samples = np.concatenate([one.repeat(2, axis=0), make_images(6, (32, 32), seed=10)])
    network = PooledStandIn()
    result = inception_score.compute(samples, network=network, ref=ref, metrics=("pr", "prdc"), splits=1,
                                     bootstrap=0, progress=False)  # fmt: skip
    said = [w for w in result.warnings if "radius of 0" in w]
    assert said and said[0].startswith("density/coverage: 6 of the 10 reference images have a radius of 0")
    # the numbers are those of the pure function on the same features (prdc's arithmetic), unchanged
    with torch.no_grad():
        from inception_score.features.preprocess import preprocess

        def feats(x: np.ndarray) -> torch.Tensor:
            return network(preprocess(torch.from_numpy(x).permute(0, 3, 1, 2))).pool3

        with pytest.warns(UserWarning, match="radius of 0"):
            assert (result.density, result.coverage) == density_coverage(feats(samples), feats(ref))
