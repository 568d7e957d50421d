"""--match TOOL: each preset against the tool itself (its own code, our random-weight network in place of
the one it downloads), or against the tool's definitions where it is not on PyPI (issue 24).

Every comparison also checks that the default settings (no --match) miss the tool's number by far more
than the tolerance: a test that would pass without its preset proves nothing. The runs share a --cache
of network outputs (keyed by pixels, weights and resize), so each resize mode costs one pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import inception_score
from inception_score import InceptionScore
from inception_score.cli import main
from inception_score.errors import OptionsError
from inception_score.features.network import InceptionV3
from inception_score.features.preprocess import preprocess
from inception_score.metrics.inception import inception_score_from_logits
from inception_score.options import Options
from inception_score.presets import PRESETS

from .conftest import make_images, write_images

N = 8  # samples; the reference has N_REAL, so that clean-fid's and StyleGAN's m = min(N, M) subsets differ by draw
N_REAL = 10
RUN: dict[str, Any] = dict(bootstrap=0, progress=False, splits=4)


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("match")
    write_images(root / "samples", make_images(N, (40, 56), seed=71))  # not 299 px, not square: resizes differ
    write_images(root / "real", make_images(N_REAL, (40, 56), seed=72))
    return {"samples": root / "samples", "real": root / "real", "cache": root / "cache", "root": root}


@pytest.fixture(scope="module")
def state(checkpoint_path: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint_path, weights_only=True)


@pytest.fixture(scope="module")
def network(state) -> InceptionV3:
    net = InceptionV3()
    net.load_checkpoint(state)
    return net.eval()


def ours(sets: dict[str, Path], checkpoint_path: Path, **options: Any) -> inception_score.Result:
    run = {**RUN, "weights": str(checkpoint_path), "cache": str(sets["cache"]), **options}
    return inception_score.compute(str(sets["samples"]), ref=str(sets["real"]), **run)  # type: ignore[return-value]


def files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir())


def features_fid(x: np.ndarray, y: np.ndarray, ddof: int = 1) -> float:
    """The Fréchet distance of the Gaussians fitted to the features ``x`` (N x D) and ``y`` (M x D), the
    covariances divided by N - ``ddof`` (1: np.cov's, the tools' N - 1; 0: StyleGAN's N), computed
    from the features: with A = (x - mean) / sqrt(N - ddof) and B likewise, S1 = A^T A, S2 = B^T B,
    tr S1 = |A|_F^2, and the non-zero eigenvalues of S1 S2 are the squared singular values of the N x M
    A B^T, so tr (S1 S2)^{1/2} is its nuclear norm. Exact for the rank-7 covariances of 8 and 10 images,
    where scipy's sqrtm (the tools' route) loses digits or returns an imaginary part; independent of
    this package's eigendecomposition route (tested against sqrtm on full-rank statistics in
    tests/test_frechet.py), and an N x M problem instead of a 2048 x 2048 one. What is compared here
    is what the presets change: the features and the statistics."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    a = (x - x.mean(0)) / np.sqrt(len(x) - ddof)
    b = (y - y.mean(0)) / np.sqrt(len(y) - ddof)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + (a**2).sum() + (b**2).sum() - 2 * nuclear)


def far_from(default: float, theirs: float, tolerance: float) -> bool:
    """The default settings miss the tool's number by more than 20 tolerances: the preset is what matches."""
    return abs(default - theirs) > 20 * tolerance * abs(theirs)


# --------------------------------------------------------------------------- PyPI tools, their own code


def test_pytorch_fid_preset_equals_pytorch_fid(sets, checkpoint_path, state, monkeypatch) -> None:
    import pytorch_fid.fid_score as fid_score
    import pytorch_fid.inception as pf_inception

    # pytorch-fid's own network, loader, resize and 2x - 1, with our random weights in its FID layout
    monkeypatch.setattr(pf_inception, "load_state_dict_from_url", lambda *a, **k: state)
    model = pf_inception.InceptionV3([pf_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    # its calculate_activation_statistics is these activations' mean and np.cov (divisor N - 1)
    x, y = (fid_score.get_activations(files(sets[k]), model, batch_size=N, device="cpu", num_workers=0)
            for k in ("samples", "real"))  # fmt: skip
    theirs = features_fid(x, y)  # pytorch-fid's statistics (its network, resize, np.cov)
    matched = ours(sets, checkpoint_path, match="pytorch-fid", metrics="fid")
    default = ours(sets, checkpoint_path, metrics="fid")
    assert matched.resize == "pytorch-fid" and matched.match["name"] == "pytorch-fid"
    assert matched.fid == pytest.approx(theirs, rel=1e-5)  # measured 8e-7 (two ports of the graph, float32)
    assert far_from(default.fid, theirs, 1e-5)


def clean_fid_features(folder: Path, mode: str, network: InceptionV3) -> np.ndarray:
    """clean-fid's own folder reading and resize (``get_folder_features``) with our network in place of
    its TorchScript one: (x - 128) / 128 of the 299 px floats in ``clean`` mode, as its wrapper does; in
    ``legacy_tensorflow`` mode the network resizes (the port's job), here with the TF1 resize."""
    from cleanfid import fid as cf

    def extract(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if mode == "clean":
                return network.features((x - 128) / 128)
            return network.features(preprocess(x.round().to(torch.uint8)))

    return cf.get_folder_features(str(folder), extract, num_workers=0, batch_size=N, device=torch.device("cpu"),
                                  mode=mode, verbose=False)  # fmt: skip


@pytest.mark.parametrize("preset,mode", [("clean-fid", "clean"), ("clean-fid-legacy", "legacy_tensorflow")])
def test_clean_fid_presets_equal_clean_fid(sets, checkpoint_path, network, preset, mode) -> None:
    from cleanfid import fid as cf

    x, y = (clean_fid_features(sets[k], mode, network) for k in ("samples", "real"))
    fid = features_fid(x, y)  # as compare_folders: mean and np.cov
    np.random.seed(2020)  # clean-fid draws from the unseeded global generator; ours is seeded with --kid-seed
    kid = cf.kernel_distance(x, y, num_subsets=100, max_subset_size=1000)  # compute_kid(fdir1, fdir2)
    matched = ours(sets, checkpoint_path, match=preset)
    assert matched.fid == pytest.approx(fid, rel=1e-5)  # measured 1.4e-6
    assert matched.kid_mean == pytest.approx(kid, rel=1e-4, abs=1e-6)  # the same subsets; float32 sums
    assert matched.kid_protocol == "clean-fid" and matched.match["overridden"] == {}
    default = ours(sets, checkpoint_path, kid_subset_size=N)
    if mode == "clean":
        assert far_from(default.fid, fid, 1e-5)
    assert abs(default.kid_mean - kid) > 1e-3 * abs(kid)  # torch-fidelity's draws are other subsets


def test_torchmetrics_preset_equals_torchmetrics(sets, checkpoint_path, monkeypatch) -> None:
    from PIL import Image
    from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

    def images(folder: Path) -> torch.Tensor:
        return torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("RGB"))).permute(2, 0, 1)
                            for p in files(folder)])  # fmt: skip

    samples, real = images(sets["samples"]), images(sets["real"])
    net = NoTrainInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"], str(checkpoint_path))  # antialias
    with torch.no_grad():  # its forward, which NoTrainInceptionV3.forward would cut to the first output
        pool3 = {k: net._torch_fidelity_forward(v) for k, v in (("samples", samples), ("real", real))}

    class Cached(torch.nn.Module):  # torchmetrics' own network's outputs, given back per metric
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index, self.num_features = index, 2048 if index == 0 else 1008

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            key = "samples" if torch.equal(x, samples) else "real"
            return pool3[key][self.index]

    fid = FrechetInceptionDistance(feature=Cached(0))
    fid.update(real, real=True)
    fid.update(samples, real=False)
    kid = KernelInceptionDistance(feature=Cached(0), subset_size=6)
    kid.update(real, real=True)
    kid.update(samples, real=False)
    torch.manual_seed(2020)  # torchmetrics' randperm is unseeded: seeded as --kid-seed
    kid_mean, kid_std = (float(v) for v in kid.compute())
    inception = InceptionScore(feature=Cached(1), splits=4)
    inception.update(samples)
    torch.manual_seed(0)  # its permutation, seeded as protocol torchmetrics
    is_mean, is_std = (float(v) for v in inception.compute())

    matched = ours(sets, checkpoint_path, match="torchmetrics", kid_subset_size=6)
    assert matched.protocol == "torchmetrics" and matched.resize == "torchmetrics"
    assert matched.match["overridden"] == {"kid_subset_size": {"preset": 1000, "used": 6}}
    their_fid = float(fid.compute())  # computed once: a 2048 x 2048 general eigenvalue problem
    assert matched.fid == pytest.approx(their_fid, rel=1e-5)
    assert matched.kid_mean == pytest.approx(kid_mean, rel=1e-4, abs=1e-6)
    assert matched.kid_std == pytest.approx(kid_std, rel=1e-3, abs=1e-6)
    assert matched.inception_score_mean == pytest.approx(is_mean, rel=1e-5)  # torchmetrics: float32
    assert matched.inception_score_std == pytest.approx(is_std, rel=1e-4)  # its Tensor.std: ddof 1
    default = ours(sets, checkpoint_path, kid_subset_size=6)
    assert far_from(default.fid, their_fid, 1e-5)
    assert abs(default.inception_score_std - is_std) > 1e-3 * is_std


def test_torchmetrics_resize_antialiases_where_it_shrinks(checkpoint_path) -> None:
    """The shared images are smaller than 299 px, where antialiasing changes nothing: two larger
    ones, through torchmetrics' own network (its resize) and ours, pool3 compared."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    from inception_score.features.extractor import inception_extractor

    big = torch.from_numpy(make_images(2, (360, 420), seed=73)).permute(0, 3, 1, 2)  # shrunk to 299 both ways
    net = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(checkpoint_path))
    with torch.no_grad():
        theirs = net._torch_fidelity_forward(big)[0]
        fields = ("logits_unbiased", "pool3")
        ours_ = inception_extractor(str(checkpoint_path), torch.device("cpu"), "exact", fields, progress=False,
                                    resize="torchmetrics")(big).pool3  # fmt: skip
    # measured: 5e-5 of values up to 1.4; without antialiasing (mutant torchmetrics-no-antialias) 0.75
    assert torch.allclose(ours_, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n,splits", [(10, 4), (9, 4), (12, 5), (7, 7)])
def test_torchmetrics_is_protocol_splits_as_tensor_chunk(n, splits) -> None:
    from torchmetrics.image.inception import InceptionScore

    logits = torch.randn(n, 20, generator=torch.Generator().manual_seed(n)) * 4

    class Given(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return logits

    metric = InceptionScore(feature=Given(), splits=splits)
    metric.update(torch.zeros(n, 3, 2, 2, dtype=torch.uint8))
    torch.manual_seed(0)
    mean, std = (float(v) for v in metric.compute())
    ours_mean, ours_std, scores = inception_score_from_logits(logits, splits=splits, protocol="torchmetrics")
    assert len(scores) == len(torch.arange(n).chunk(splits))
    assert (ours_mean, ours_std) == pytest.approx((mean, std), rel=1e-5, abs=1e-6)  # 1-image splits: std 0


def test_torch_fidelity_preset_equals_torch_fidelity(sets, checkpoint_path) -> None:
    import torch_fidelity

    theirs = torch_fidelity.calculate_metrics(
        input1=str(sets["samples"]), input2=str(sets["real"]), isc=True, fid=True, kid=True, isc_splits=4,
        kid_subset_size=6, feature_extractor_weights_path=str(checkpoint_path), verbose=False, cuda=False,
    )  # fmt: skip
    matched = ours(sets, checkpoint_path, match="torch-fidelity", kid_subset_size=6)
    assert matched.fid == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)
    assert matched.kid_mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-5, abs=1e-7)
    assert matched.inception_score_mean == pytest.approx(theirs["inception_score_mean"], rel=1e-6)
    assert matched.pr_distances is None and matched.match["settings"]["pr_precision"] == "float32"


# --------------------------------------------------------------------------- not on PyPI: their definitions


def our_features(sets: dict[str, Path], checkpoint_path: Path, key: str, resize: str = "tf1") -> np.ndarray:
    """pool3 rows of a set, through `inception-score stats --with-features` (the same cache)."""
    out = sets["root"] / f"{key}-{resize}.npz"
    if not out.exists():
        inception_score.compute_statistics(str(sets[key]), str(out), features=True, weights=str(checkpoint_path),
                                           cache=str(sets["cache"]), resize=resize, progress=False)  # fmt: skip
    with np.load(out) as npz:
        return npz["features"].astype(np.float64)


def stylegan_kid(gen: np.ndarray, real: np.ndarray, num_subsets: int = 100, max_subset_size: int = 1000) -> float:
    """StyleGAN3 metrics/kernel_inception_distance.py:34-44, as written there (global np.random)."""
    n = real.shape[1]
    m = min(min(real.shape[0], gen.shape[0]), max_subset_size)
    t = 0.0
    for _ in range(num_subsets):
        x = gen[np.random.choice(gen.shape[0], m, replace=False)]
        y = real[np.random.choice(real.shape[0], m, replace=False)]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        t += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(t / num_subsets / m)


def test_stylegan_preset_divides_the_covariance_by_n_and_draws_kid_as_stylegan(sets, checkpoint_path) -> None:
    x, y = (our_features(sets, checkpoint_path, k).astype(np.float32) for k in ("samples", "real"))
    fid = features_fid(x, y, ddof=0)  # np.cov(bias=True): divisor N
    np.random.seed(2020)
    kid = stylegan_kid(x, y)
    matched = ours(sets, checkpoint_path, match="stylegan")
    assert (matched.cov_divisor, matched.protocol, matched.kid_protocol) == ("n", "original", "stylegan")
    assert matched.fid == pytest.approx(fid, rel=1e-6)
    assert matched.kid_mean == pytest.approx(kid, rel=1e-4, abs=1e-6)
    default = ours(sets, checkpoint_path, kid_subset_size=N)
    assert far_from(default.fid, fid, 1e-6)  # n - 1: about 1/N apart here
    overridden = ours(sets, checkpoint_path, match="stylegan", cov_divisor="n-1")
    assert overridden.fid == pytest.approx(default.fid, rel=1e-9)
    assert overridden.match["overridden"] == {"cov_divisor": {"preset": "n", "used": "n-1"}}


def test_edm2_preset_is_edms_fid(sets, checkpoint_path) -> None:
    x, y = (our_features(sets, checkpoint_path, k) for k in ("samples", "real"))
    # EDM fid.py / EDM2 calculate_metrics.py: float64 sums, divisor N - 1, scipy sqrtm
    fid = features_fid(x, y)
    matched = ours(sets, checkpoint_path, match="edm2", metrics="fid")
    assert matched.fid == pytest.approx(fid, rel=1e-6)
    # its DINOv2 resize is set (tested on FD_DINOv2 in test_feature_runs), and not refused without DINOv2
    assert matched.match["settings"]["dinov2_resize"] == "torch" and matched.dinov2_resize is None


def test_dgm_eval_preset_is_pytorch_fids_inception_and_dgm_evals_kid(sets, checkpoint_path) -> None:
    x, y = (our_features(sets, checkpoint_path, k, resize="pytorch-fid") for k in ("samples", "real"))
    np.random.seed(2020)  # dgm-eval metrics/mmd.py compute_mmd: the reference's subset first, m = min(N, M, 1000)
    m, d, mmds = min(len(x), len(y), 1000), x.shape[1], []
    for _ in range(100):
        g = y[np.random.choice(len(y), m, replace=False)]
        r = x[np.random.choice(len(x), m, replace=False)]
        k_xx, k_yy, k_xy = ((u @ v.T / d + 1) ** 3 for u, v in ((g, g), (r, r), (g, r)))
        mmds.append(((k_xx.sum() - np.trace(k_xx)) + (k_yy.sum() - np.trace(k_yy))) / (m * (m - 1))
                    - 2 * k_xy.sum() / m**2)  # fmt: skip
    matched = ours(sets, checkpoint_path, match="dgm-eval", metrics="fid,kid,pr,prdc")
    assert matched.resize == "pytorch-fid" and matched.kid_mean == pytest.approx(np.mean(mmds), rel=1e-4, abs=1e-6)
    fid = features_fid(x, y)
    assert matched.fid == pytest.approx(fid, rel=1e-6)
    # precision, recall, density, coverage: its subsets (m = min(10,000, 10, 8) = 8: the reference is cut) and
    # prdc's code with nearest_k = 5, its global generator seeded as --seed (0) seeds ours
    theirs = dgm_eval_prdc(y, x, seed=0)
    assert (matched.improved_precision, matched.improved_recall, matched.density, matched.coverage) == pytest.approx(
        theirs, abs=1e-12
    )
    assert (matched.pr_k, matched.prdc_k, matched.prdc_subsample, matched.pr_distances) == (5, 5, 8, "float32")
    default = ours(sets, checkpoint_path, resize="pytorch-fid", metrics="pr,prdc")  # k = 3, all reference images
    assert (default.improved_precision, default.improved_recall, default.density, default.coverage) != theirs


def dgm_eval_prdc(real: np.ndarray, fake: np.ndarray, seed: int, reduced_n: int = 10_000, k: int = 5) -> tuple:
    """dgm-eval __main__.py L172-188 and metrics/prdc.py (prdc's compute_prdc), as written there, with
    scipy's float64 distances for sklearn's: its subsets from the global generator, radii = the
    (k + 1)-th smallest distance of a row (itself included), strict < everywhere."""
    from scipy.spatial.distance import cdist

    np.random.seed(seed)
    reduced = min(reduced_n, real.shape[0], fake.shape[0])
    real = real[np.random.choice(real.shape[0], reduced, replace=False)]
    fake = fake[np.random.choice(np.arange(fake.shape[0]), min(fake.shape[0], reduced), replace=False)]
    real_radii = np.sort(cdist(real, real), axis=1)[:, k]
    fake_radii = np.sort(cdist(fake, fake), axis=1)[:, k]
    d = cdist(real, fake)
    precision = (d < real_radii[:, None]).any(axis=0).mean()
    recall = (d < fake_radii[None, :]).any(axis=1).mean()
    density = (1.0 / k) * (d < real_radii[:, None]).sum(axis=0).mean()
    coverage = (d.min(axis=1) < real_radii).mean()
    return float(precision), float(recall), float(density), float(coverage)


def test_the_metric_object_takes_a_preset_as_compute_does(sets, checkpoint_path) -> None:
    expected = ours(sets, checkpoint_path, match="stylegan", metrics="fid,kid", seed=0)
    kwargs = {"weights": checkpoint_path, "ref": str(sets["real"]), "metrics": "fid,kid", "splits": 4, "bootstrap": 0}
    metric = InceptionScore(match="stylegan", image_range=None, **kwargs)
    metric.update(torch.from_numpy(make_images(N, (40, 56), seed=71)).permute(0, 3, 1, 2))  # the samples' pixels
    got = metric.compute()
    assert got.match == expected.match and (got.cov_divisor, got.kid_protocol) == ("n", "stylegan")
    assert got.fid == pytest.approx(expected.fid, rel=1e-6) and got.kid_mean == pytest.approx(expected.kid_mean)
    assert got.mean == pytest.approx(expected.mean, rel=1e-6)  # protocol original: one permutation-free split
    # a value given explicitly wins over the preset's, and is recorded as overriding it
    explicit = InceptionScore(match="stylegan", cov_divisor="n-1", **kwargs)
    assert explicit.options.cov_divisor == "n-1" and explicit.options.kid_protocol == "stylegan"


def test_adm_preset_is_what_evaluate_does(sets, checkpoint_path) -> None:
    run = {**RUN, "weights": str(checkpoint_path), "cache": str(sets["cache"])}
    run.pop("splits")  # the adm protocol splits into chunks of 5000
    evaluated = inception_score.evaluate(str(sets["real"]), str(sets["samples"]), **run)
    matched = inception_score.compute(str(sets["samples"]), ref=str(sets["real"]), match="adm", **run)
    fields = ("inception_score_mean", "fid", "sfid", "improved_precision", "improved_recall", "density", "coverage")
    assert {f: getattr(matched, f) for f in fields} == {f: getattr(evaluated, f) for f in fields}
    assert matched.protocol == "adm" and matched.metrics == ["is", "fid", "sfid", "pr", "prdc"]


# --------------------------------------------------------------------------- the option itself


def test_explicit_options_override_the_preset_and_the_result_says_which() -> None:
    options = Options.from_kwargs(match="torchmetrics", protocol="torch-fidelity", resize="tf1")
    assert (options.protocol, options.resize, options.kid_protocol) == ("torch-fidelity", "tf1", "torchmetrics")
    from inception_score.presets import match_record

    record = match_record(options)
    assert set(record["overridden"]) == {"protocol", "resize"}
    assert record["settings"]["kid_protocol"] == "torchmetrics"
    # Options built directly: a value other than the default counts as given
    assert Options(match="stylegan", cov_divisor="n").cov_divisor == "n"
    assert Options(match="stylegan").cov_divisor == "n"
    with pytest.raises(OptionsError, match="match: got 'tf'"):
        Options(match="tf")


def test_subsets_and_k_of_precision_recall_are_options_checked_before_the_work(sets, checkpoint_path, capsys) -> None:
    assert Options.from_kwargs(match="dgm-eval", prdc_subsample=0).prdc_subsample is None  # 0: every image
    assert Options.from_kwargs(prdc_subsample=6, pr_k=5).prdc_subsample == 6
    with pytest.raises(OptionsError, match=r"prdc_subsample: got 5, expected at least 6 \(k \+ 1 images"):
        Options.from_kwargs(prdc_subsample=5)  # prdc_k 5 needs 6
    with pytest.raises(OptionsError, match="pr_k: got 0, expected a positive integer"):
        Options.from_kwargs(pr_k=0)
    # a preset's setting of a network no metric runs is not refused; the same option given is
    assert Options.from_kwargs(match="dgm-eval").set_by_match("dinov2_resize")
    assert not Options.from_kwargs(match="dgm-eval", dinov2_resize="pil").set_by_match("dinov2_resize")
    assert main(["x.png", "--pr-k", "two"]) == 2 and "--pr-k: invalid int value: 'two'" in capsys.readouterr().err
    args = [str(sets["samples"]), "--ref", str(sets["real"]), "--weights", str(checkpoint_path), "--metrics", "pr",
            "--splits", "4"]  # fmt: skip
    assert main([*args, "--pr-k", "8"]) == 3  # 8 samples: k = 8 needs 9, refused before any image is scored
    assert "pr: needs at least 9 sample images, got 8 images (k = 8, --pr-k, needs k + 1)" in capsys.readouterr().err


def test_every_preset_names_only_real_options_with_valid_values() -> None:
    from inception_score.features.preprocess import RESIZE_MODES
    from inception_score.metrics.kernel import KID_PROTOCOLS
    from inception_score.presets import KID_PROTOCOL_NAMES, RESIZES

    assert tuple(RESIZE_MODES) == RESIZES and tuple(KID_PROTOCOLS) == KID_PROTOCOL_NAMES
    required = {"torch-fidelity", "pytorch-fid", "clean-fid", "clean-fid-legacy", "torchmetrics", "stylegan", "adm",
                "edm2", "dgm-eval"}  # fmt: skip
    assert required <= set(PRESETS)
    for name in PRESETS:
        Options(match=name, ref="real/")  # every value passes the options' own checks


def test_match_on_the_command_line(sets, checkpoint_path, capsys) -> None:
    args = [str(sets["samples"]), "--ref", str(sets["real"]), "--weights", str(checkpoint_path), "--cache",
            str(sets["cache"]), "--splits", "4", "--bootstrap", "0", "--quiet", "--metrics", "fid",
            "--match", "stylegan", "--protocol", "torch-fidelity"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        "matching stylegan: StyleGAN2-ADA / StyleGAN3 metrics" in out and "overridden: protocol=torch-fidelity" in out
    )
    assert main([*args[:-4], "--match", "nope"]) == 2
    assert "--match: invalid choice: 'nope'" in capsys.readouterr().err
