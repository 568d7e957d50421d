"""FID and sFID (metrics/frechet.py): the formula against scipy's sqrtm, torch-fidelity and closed forms;
the accumulators against np.mean/np.cov; merging; the sFID vector layout; FID at infinite N.

Features are fed to the accumulators directly (no network): these are tests of the mathematics.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from inception_score.errors import InputError
from inception_score.features.network import InceptionOutput
from inception_score.metrics.features import PooledFeatures
from inception_score.metrics.frechet import (
    SPATIAL_DIM,
    FIDInfinity,
    FrechetDistance,
    SpatialFrechetDistance,
    frechet_distance,
    moments_from_sums,
    psd_factor,
    spatial_vectors,
    trace_sqrt_product,
)
from inception_score.metrics.inception import ISAccumulator
from inception_score.metrics.reference import Reference
from inception_score.metrics.uncertainty import NestedSubsets, subset_sizes


def covariance(dim: int, seed: int, ridge: float = 0.1) -> np.ndarray:
    """A random well-conditioned covariance (condition number ~ 10-100)."""
    a = np.random.default_rng(seed).normal(size=(2 * dim, dim))
    return a.T @ a / (2 * dim) + ridge * np.eye(dim)


def sqrtm_fid(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """The ADM evaluator's / pytorch-fid's formula (GD:72-115): scipy sqrtm of s1 s2, real part."""
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def pool3_like(n: int, dim: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    """Non-negative, correlated float32 features, as pool3 (averages of ReLU outputs)."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(dim, dim, generator=g) / dim**0.5
    return torch.relu(torch.randn(n, dim, generator=g) @ mix + 0.3 + shift).float()


# ------------------------------------------------------------------ spatial_vectors


def test_spatial_vectors_are_nhwc_first_seven_channels_in_h_w_c_order() -> None:
    n, c, h, w = 2, 192, 17, 17
    # each value encodes its position: n * 1e5 + c * 289 + h * 17 + w (exact in float32)
    nn, cc, hh, ww = torch.meshgrid(*(torch.arange(s) for s in (n, c, h, w)), indexing="ij")
    spatial = (nn * 100_000 + cc * 289 + hh * 17 + ww).float()
    v = spatial_vectors(spatial)
    assert v.shape == (n, SPATIAL_DIM) == (2, 2023) and v.dtype == torch.float32
    for image, row, col, channel in [(0, 0, 0, 0), (0, 0, 0, 6), (0, 0, 1, 0), (1, 3, 5, 2), (1, 16, 16, 6)]:
        position = (row * w + col) * 7 + channel  # the evaluator's mixed_6/conv[..., :7] flattened (GD:599)
        assert v[image, position] == image * 100_000 + channel * 289 + row * 17 + col
    expected = spatial.numpy().transpose(0, 2, 3, 1)[..., :7].reshape(n, -1)  # NHWC as TensorFlow holds it
    np.testing.assert_array_equal(v.numpy(), expected)
    assert not torch.equal(v, spatial[:, :7].reshape(n, -1))  # the C-first flattening is a different vector


@pytest.mark.parametrize("shape", [(2, 6, 17, 17), (2, 192, 289), (192, 17, 17)])
def test_spatial_vectors_refuse_other_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(InputError, match=r"spatial features: expected N x 192 x 17 x 17.*got shape"):
        spatial_vectors(torch.zeros(shape))


# ------------------------------------------------------------------ frechet_distance


@pytest.mark.parametrize("dim", [64, 256])
def test_frechet_distance_equals_scipy_sqrtm_and_torch_fidelity(dim: int) -> None:
    rng = np.random.default_rng(dim)
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    s1, s2 = covariance(dim, 1), covariance(dim, 2)
    got = frechet_distance(mu1, s1, mu2, s2)
    want = sqrtm_fid(mu1, s1, mu2, s2)
    assert got == pytest.approx(want, rel=1e-10)  # measured: ~1e-15
    tfd = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, verbose=False)
    assert got == pytest.approx(tfd["frechet_inception_distance"], rel=1e-12)
    # torch tensors (float32 means too) give the same number
    assert frechet_distance(torch.from_numpy(mu1), torch.from_numpy(s1), mu2, s2) == pytest.approx(got, rel=1e-14)


def test_frechet_distance_of_a_set_with_itself_is_zero() -> None:
    mu, sigma = np.random.default_rng(0).normal(size=256) + 5, covariance(256, 3)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6  # measured: ~1e-12


def test_frechet_distance_closed_forms() -> None:
    rng = np.random.default_rng(1)
    dim = 50
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    a, b = rng.uniform(0.1, 3, dim), rng.uniform(0.1, 3, dim)
    # commuting covariances (the same eigenvectors): tr (S1 S2)^1/2 = sum sqrt(a_i b_i)
    closed = float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(closed, rel=1e-12)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    got = frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(closed, rel=1e-10)
    # one dimension: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]])) == 10.0


def test_frechet_distance_of_singular_covariances_is_finite_and_right() -> None:
    """Fewer images than dimensions (N < D): rank-deficient covariances, the case where sqrtm gives
    complex or NaN results (TTUR#4, pytorch-fid#13). The value equals the symmetric form
    tr (S2^1/2 S1 S2^1/2)^1/2 computed with eigh, to the accuracy of the eigenvalue route: the ~D - N
    zero eigenvalues of S1 S2 come out at rounding level (~1e-16 x scale), and the square root of each
    adds ~1e-8 (measured: 1.4e-8 relative here)."""
    dim = 128
    x1, x2 = pool3_like(50, dim, 1).double().numpy(), pool3_like(60, dim, 2, shift=0.2).double().numpy()
    mu1, s1 = x1.mean(0), np.cov(x1, rowvar=False)
    mu2, s2 = x2.mean(0), np.cov(x2, rowvar=False)
    assert np.linalg.matrix_rank(s1) < dim and np.linalg.matrix_rank(s2) < dim
    got = frechet_distance(mu1, s1, mu2, s2)
    w, v = np.linalg.eigh(s2)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(root @ s1 @ root), 0, None)).sum()
    want = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)
    assert np.isfinite(got) and got > 0
    assert got == pytest.approx(want, rel=1e-6)


def decaying_features(n: int, dim: int, seed: int, power: float = 1.0) -> np.ndarray:
    """float64 rows of one fixed distribution (the same for every seed): ReLU of a rotated Gaussian whose
    standard deviations fall as k^-power, as pool3's spectrum falls; seeds draw different images of it."""
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(dim, dim)))
    z = np.random.default_rng(seed).normal(size=(n, dim)) * np.arange(1, dim + 1) ** -power
    return np.maximum(3 * z @ q.T + 0.3, 0)


def exact_low_rank_fid(x1: np.ndarray, x2: np.ndarray) -> float:
    """FID from the features themselves: S1 = A^T A, S2 = B^T B with A, B the centred rows / sqrt(n - 1), so
    the non-zero eigenvalues of S1 S2 are those of (A B^T)(A B^T)^T and tr (S1 S2)^1/2 = the sum of the
    singular values of A B^T (n1 x n2): no D x D eigenvalue problem, nothing singular."""
    mu1, mu2 = x1.mean(0), x2.mean(0)
    a, b = (x1 - mu1) / np.sqrt(len(x1) - 1), (x2 - mu2) / np.sqrt(len(x2) - 1)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    return float(((mu1 - mu2) ** 2).sum() + (a * a).sum() + (b * b).sum() - 2 * nuclear)


def test_frechet_distance_is_exact_below_d_images() -> None:
    """68 samples and 54 references in 256 dimensions (issue 21): both covariances singular. The general
    eigenvalue solver (torch-fidelity, main before issue 21) was 5e-6 off here and scipy's sqrtm as much;
    the non-null eigenspace route is exact to rounding (measured: 1e-12; issue 21 asks for 1e-6, and 1e-9
    also fails when either rounding-level cut-off of frechet.py is left out: 1e-7 off then)."""
    x1, x2 = decaying_features(68, 256, 1), decaying_features(54, 256, 2)
    exact = exact_low_rank_fid(x1, x2)
    got = frechet_distance(x1.mean(0), np.cov(x1, rowvar=False), x2.mean(0), np.cov(x2, rowvar=False))
    assert got == pytest.approx(exact, rel=1e-9)
    # the other way round (the reference has more images), and through the accumulator
    back = frechet_distance(x2.mean(0), np.cov(x2, rowvar=False), x1.mean(0), np.cov(x1, rowvar=False))
    assert back == pytest.approx(exact, rel=1e-9)
    fid = FrechetDistance(Reference(mu=x2.mean(0), sigma=np.cov(x2, rowvar=False)))
    feed(fid, torch.from_numpy(x1), batch=20)
    assert fid.fields({})["fid"] == pytest.approx(exact, rel=1e-9)


def test_a_set_against_itself_is_exactly_zero_never_negative() -> None:
    """FID(A, A) = 0 within rounding, for singular and full-rank covariances alike, and never below 0
    (the general solver gave -7e-6 to -1e-4 here: printed as -0.0000). The same images summed in another
    order (np.cov against the accumulator's sums of the reversed rows) differ in the last bits, so the
    eigenvalue route runs: -1e-10 to -7e-12 before the clamp to 0 on one machine, +4e-12 to +2e-11 on
    another (measured; the clamp is tested on its own below)."""
    for n, dim in ((68, 256), (40, 512), (600, 64)):
        x = decaying_features(n, dim, 3, power=1.5)
        mu, sigma = x.mean(0), np.cov(x, rowvar=False)
        reversed_rows = torch.from_numpy(x[::-1].copy())
        mu2, sigma2 = moments_from_sums(n, reversed_rows.sum(0), reversed_rows.T @ reversed_rows)
        assert not np.array_equal(sigma, sigma2.numpy())  # not the shortcut for identical statistics
        value = frechet_distance(mu, sigma, mu2, sigma2)
        assert 0.0 <= value <= 1e-9 * np.trace(sigma)
        assert np.copysign(1.0, value) == 1.0  # not -0.0
        assert frechet_distance(mu, sigma, mu, sigma) == 0.0  # identical statistics: 0 exactly
    # identical images: a zero covariance, r = 0; the distance is the means' alone
    assert frechet_distance(np.zeros(3), np.zeros((3, 3)), np.ones(3), np.zeros((3, 3))) == 3.0
    assert frechet_distance(np.ones(3), np.zeros((3, 3)), np.ones(3), np.zeros((3, 3))) == 0.0


def test_full_rank_covariances_equal_torch_fidelity_within_1e9() -> None:
    """More images than dimensions, a pool3-like falling spectrum (condition number ~1e5): torch-fidelity's
    general eigenvalues and scipy's sqrtm are accurate here, and the symmetric route equals them."""
    x1, x2 = decaying_features(900, 128, 4), decaying_features(700, 128, 5)
    stats = [{"mu": x.mean(0), "sigma": np.cov(x, rowvar=False)} for x in (x1, x2)]
    assert min(np.linalg.eigvalsh(s["sigma"]).min() for s in stats) > 1e-9  # both full rank
    got = frechet_distance(stats[0]["mu"], stats[0]["sigma"], stats[1]["mu"], stats[1]["sigma"])
    tfd = fid_statistics_to_metric(stats[0], stats[1], verbose=False)["frechet_inception_distance"]
    assert got == pytest.approx(tfd, rel=1e-9)
    assert got == pytest.approx(sqrtm_fid(*stats[0].values(), *stats[1].values()), rel=1e-9)
    assert got == pytest.approx(exact_low_rank_fid(x1, x2), rel=1e-9)


def test_trace_sqrt_product_closed_forms_and_factor() -> None:
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.normal(size=(40, 40)))
    a = np.concatenate([rng.uniform(0.5, 3, 25), np.zeros(15)])  # rank 25
    b = np.concatenate([np.zeros(10), rng.uniform(0.5, 3, 30)])  # rank 30, overlapping a's range in 15 directions
    s1, s2 = (torch.from_numpy(q @ np.diag(v) @ q.T) for v in (a, b))
    factor = psd_factor(s2)
    assert factor.shape == (40, 30)
    torch.testing.assert_close(factor @ factor.T, s2, rtol=0, atol=1e-13)
    assert float(trace_sqrt_product(s1, factor)) == pytest.approx(np.sqrt(a * b).sum(), rel=1e-12)
    assert float(trace_sqrt_product(s1, psd_factor(torch.zeros(40, 40, dtype=torch.float64)))) == 0.0


def test_a_matrix_that_is_not_a_covariance_is_refused() -> None:
    bad = np.diag([1.0, 2.0, -0.5])
    with pytest.raises(InputError, match=r"sigma2 is not positive semi-definite \(eigenvalues from -0.5 to 2\)"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), bad)
    with pytest.raises(InputError, match="sigma1 is not positive semi-definite"):
        frechet_distance(np.zeros(3), bad, np.zeros(3), np.eye(3))
    ref = Reference(mu=np.zeros(3), sigma=bad)
    fid = FrechetDistance(ref)
    feed(fid, torch.rand(10, 3), batch=10)
    with pytest.raises(InputError, match="the reference's sigma is not positive semi-definite"):
        fid.fields({})
    # rounding-level negatives (a PSD matrix stored in float32) are 0, not an error
    x = decaying_features(30, 64, 6)
    sigma32 = np.cov(x, rowvar=False).astype(np.float32)
    assert frechet_distance(x.mean(0), sigma32, x.mean(0), np.cov(x, rowvar=False)) >= 0.0


def test_frechet_distance_refuses_mismatched_and_non_finite_statistics() -> None:
    mu, sigma = np.zeros(4), np.eye(4)
    with pytest.raises(InputError, match=r"mu1 \(4,\), sigma1 \(4, 4\) vs mu2 \(3,\), sigma2 \(3, 3\)"):
        frechet_distance(mu, sigma, np.zeros(3), np.eye(3))
    with pytest.raises(InputError, match=r"mu2 has shape \(4,\) and sigma2 \(4, 3\); expected D and D x D"):
        frechet_distance(mu, sigma, mu, np.zeros((4, 3)))
    bad = sigma.copy()
    bad[1, 2] = np.nan
    with pytest.raises(InputError, match="sigma2 holds NaN or inf"):
        frechet_distance(mu, sigma, mu, bad)


# ------------------------------------------------------------------ the accumulators


def feed(acc, x: torch.Tensor, batch: int, field: str = "pool3") -> None:
    for lo in range(0, len(x), batch):
        acc.update(InceptionOutput(**{field: x[lo : lo + batch]}), np.arange(lo, min(lo + batch, len(x))))


def test_moments_equal_numpy_mean_and_cov_and_fid_equals_torch_fidelity() -> None:
    dim = 96
    x, y = pool3_like(500, dim, 1), pool3_like(700, dim, 2, shift=0.05)
    ref = Reference(mu=y.double().mean(0).numpy(), sigma=np.cov(y.double().numpy(), rowvar=False))
    fid = FrechetDistance(ref)
    feed(fid, x, batch=64)
    mu, sigma = fid.moments()
    assert mu.dtype == sigma.dtype == torch.float64
    np.testing.assert_allclose(mu.numpy(), x.double().mean(0).numpy(), rtol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), np.cov(x.numpy(), rowvar=False), rtol=1e-9, atol=1e-14)
    value = fid.fields({})["fid"]
    want = frechet_distance(x.double().mean(0), np.cov(x.numpy(), rowvar=False), ref.mu, ref.sigma)
    assert value == pytest.approx(want, rel=1e-10)
    # torch-fidelity on the same float32 features: its mean stays float32 (as the ADM evaluator's), ~1e-8 relative
    tfd = fid_statistics_to_metric(fid_features_to_statistics(x), fid_features_to_statistics(y), verbose=False)
    assert value == pytest.approx(tfd["frechet_inception_distance"], rel=1e-6)


def test_two_halves_merged_equal_one_pass_whatever_the_batches() -> None:
    dim = 64
    x, y = pool3_like(300, dim, 3), pool3_like(300, dim, 4, shift=0.1)
    ref = Reference(mu=y.double().mean(0).numpy(), sigma=np.cov(y.double().numpy(), rowvar=False))
    one = FrechetDistance(ref)
    feed(one, x, batch=300)
    first, second = FrechetDistance(ref), FrechetDistance(ref)
    for lo in range(0, 120, 7):  # odd batches, the first 120 images
        first.update(InceptionOutput(pool3=x[lo : min(lo + 7, 120)]), np.arange(lo, min(lo + 7, 120)))
    second.update(InceptionOutput(pool3=x[120:]), np.arange(120, 300))
    merged = first.merge_(second)
    assert merged.fields({})["fid"] == pytest.approx(one.fields({})["fid"], rel=1e-12)
    # through the statistics files' form (state_dict), too
    restored = FrechetDistance(ref)
    restored.load_state_dict(merged.state_dict())
    assert restored.fields({})["fid"] == pytest.approx(one.fields({})["fid"], rel=1e-12)


def test_fewer_images_than_dimensions_warns_but_gives_a_number() -> None:
    dim = 64
    ref_x = pool3_like(400, dim, 5).double().numpy()
    ref = Reference(mu=ref_x.mean(0), sigma=np.cov(ref_x, rowvar=False))
    small, large = FrechetDistance(ref), FrechetDistance(ref)
    feed(small, pool3_like(40, dim, 6), batch=16)
    feed(large, pool3_like(200, dim, 6), batch=64)
    value = small.fields({})["fid"]
    assert np.isfinite(value) and value > large.fields({})["fid"]  # biased upwards at small N
    (message,) = small.warnings({})
    assert "FID from 40 images" in message and "64 dimensions" in message and "singular" in message
    assert large.warnings({}) == []


def test_frechet_accumulator_errors() -> None:
    with pytest.raises(InputError, match="FID needs the reference's mu and sigma; refs.npz holds none"):
        FrechetDistance(Reference(features=torch.zeros(3, 2), info={"path": "refs.npz"}))
    with pytest.raises(InputError, match=r"sFID needs the reference's mu_s and sigma_s"):
        SpatialFrechetDistance(Reference(mu=np.zeros(2), sigma=np.eye(2)))
    with pytest.raises(InputError, match=r"mu has shape \(2,\) and sigma \(3, 3\); expected D and D x D"):
        FrechetDistance(Reference(mu=np.zeros(2), sigma=np.eye(3)))
    with pytest.raises(InputError, match="the reference's mu has 2 dimensions, but feature_dim is 2048"):
        FrechetDistance(Reference(mu=np.zeros(2), sigma=np.eye(2)), feature_dim=2048)
    fid = FrechetDistance(Reference(mu=np.zeros(2048), sigma=np.eye(2048)))
    with pytest.raises(InputError, match=r"shape \(4, 1024\), but the reference's mu has 2048 dimensions"):
        fid.update(InceptionOutput(pool3=torch.zeros(4, 1024)), np.arange(4))
    one = FrechetDistance(Reference(mu=np.zeros(3), sigma=np.eye(3)))
    one.update(InceptionOutput(pool3=torch.ones(1, 3)), np.arange(1))
    with pytest.raises(InputError, match="at least 2 images, got 1"):
        one.fields({})
    one.update(InceptionOutput(pool3=torch.tensor([[1.0, float("nan"), 0.0]])), np.arange(1, 2))
    with pytest.raises(InputError, match="NaN or inf"):
        one.fields({})


def test_without_a_reference_it_only_accumulates() -> None:
    x = pool3_like(30, 8, 1)
    fid = FrechetDistance(feature_dim=8)
    feed(fid, x, batch=10)
    assert fid.fields({}) == {} and fid.warnings({}) == []
    mu, sigma = moments_from_sums(fid.count, fid.total, fid.outer)
    assert torch.equal(mu, fid.moments()[0]) and sigma.shape == (8, 8)


def test_sfid_is_the_frechet_distance_of_the_spatial_vectors() -> None:
    g = torch.Generator().manual_seed(0)
    spatial = torch.relu(torch.randn(150, 192, 3, 3, generator=g))  # a small H x W: 3 x 3 x 7 = 63 dims
    spatial_ref = torch.relu(torch.randn(200, 192, 3, 3, generator=g) + 0.1)
    v, v_ref = spatial_vectors(spatial).double().numpy(), spatial_vectors(spatial_ref).double().numpy()
    ref = Reference(mu_s=v_ref.mean(0), sigma_s=np.cov(v_ref, rowvar=False))
    sfid = SpatialFrechetDistance(ref)
    feed(sfid, spatial, batch=25, field="spatial")
    want = sqrtm_fid(v.mean(0), np.cov(v, rowvar=False), ref.mu_s, ref.sigma_s)
    assert sfid.fields({}) == {"sfid": pytest.approx(want, rel=1e-9)}
    assert sfid.name == "sfid" and sfid.needs == {"spatial"} and sfid.warnings({}) == []
    few = SpatialFrechetDistance(ref)
    feed(few, spatial[:60], batch=60, field="spatial")
    assert np.isfinite(few.fields({})["sfid"])
    assert "sFID from 60 images, no more than the 63 dimensions" in few.warnings({})[0]


# ------------------------------------------------------------------ FID at infinite N


def fid_infinity_setup(n: int, dim: int, seed: int = 0) -> tuple[PooledFeatures, Reference, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(dim, dim, generator=g, dtype=torch.float64) / dim**0.5 + torch.eye(dim, dtype=torch.float64)
    mu = torch.rand(dim, generator=g, dtype=torch.float64)
    x = (torch.randn(n, dim, generator=g, dtype=torch.float64) @ mix + mu).float()  # N(mu, mix^T mix)
    kept = PooledFeatures(n, dim)
    feed(kept, x, batch=97)
    return kept, Reference(mu=mu.numpy(), sigma=(mix.T @ mix).numpy()), x


def test_fid_infinity_points_are_the_fid_of_the_nested_subsets() -> None:
    kept, ref, x = fid_infinity_setup(n=1000, dim=16)
    fit = FIDInfinity(kept, ref, seed=3, block=50).fields({})["fid_infinity_fit"]
    sizes = subset_sizes(1000)
    assert fit["n"] == sizes.tolist() and len(fit["fid_n"]) == 15
    perm = np.random.RandomState(3).permutation(1000)  # the subsets of NestedSubsets for the same seed
    for n, value in zip(fit["n"], fit["fid_n"], strict=True):
        subset = x[perm[:n]].double().numpy()
        want = frechet_distance(subset.mean(0), np.cov(subset, rowvar=False), ref.mu, ref.sigma)
        assert value == pytest.approx(want, rel=1e-9)
    # the last point is the whole set: the FID field, computed by the other route
    fid = FrechetDistance(ref)
    feed(fid, x, batch=128)
    assert fit["fid_n"][-1] == pytest.approx(fid.fields({})["fid"], rel=1e-9)


def test_fid_infinity_points_are_exact_below_d_images() -> None:
    """Subsets of 20..200 images in 256 dimensions against a 54-image reference: every point is singular on
    one side or both, and each equals the exact low-rank FID of its subset."""
    x, ref_x = decaying_features(200, 256, 8), decaying_features(54, 256, 9)
    kept = PooledFeatures(200, 256)
    feed(kept, torch.from_numpy(x).float(), batch=64)
    rows = kept.rows.double().numpy()
    ref = Reference(mu=ref_x.mean(0), sigma=np.cov(ref_x, rowvar=False))
    fit = FIDInfinity(kept, ref, seed=1).fields({})["fid_infinity_fit"]
    perm = np.random.RandomState(1).permutation(200)
    for n, value in zip(fit["n"], fit["fid_n"], strict=True):
        assert value == pytest.approx(exact_low_rank_fid(rows[np.sort(perm[:n])], ref_x), rel=1e-9)


def test_fid_infinity_uses_the_subsets_of_is_infinity() -> None:
    """Image i predicts class 1 when i < 100, else class 0: IS_N of a subset reveals how many of the
    first 100 images it holds, and FIDInfinity's subsets must hold the same counts."""
    n, seed = 400, 5
    logits = torch.zeros(n, 2)
    logits[:100, 1] = logits[100:, 0] = 50.0
    nested = NestedSubsets(n, num_classes=2, seed=seed)
    nested.update(InceptionOutput(logits_unbiased=logits), np.arange(n))
    sizes, is_n = nested.is_n()
    perm = np.random.RandomState(seed).permutation(n)  # what FIDInfinity sweeps (tested above)
    for size, score in zip(sizes, is_n, strict=True):
        acc = ISAccumulator(1, 2)
        acc.update(logits[np.sort(perm[:size])], torch.zeros(size, dtype=torch.long))
        assert score == pytest.approx(float(acc.split_scores()[0]), rel=1e-12)


def test_fid_infinity_extrapolates_the_bias_away() -> None:
    """Samples drawn from the reference's own Gaussian: FID_N > 0 falls like 1/N and FID_inf ~ 0.

    Measured (D = 64, N = 5000, seeds 0-2): FID_500 ~ 3.0, FID_5000 ~ 0.29, FID_inf within +-0.017."""
    kept, ref, _ = fid_infinity_setup(n=5000, dim=64, seed=1)
    fields = FIDInfinity(kept, ref, seed=0).fields({})
    fit = fields["fid_infinity_fit"]
    assert np.all(np.diff(fit["fid_n"]) < 0) and fit["fid_n"][-1] > 0
    assert fit["slope"] > 0 and fit["r2"] > 0.95
    assert abs(fields["fid_infinity"]) < 0.1 * fit["fid_n"][-1]


def test_fid_infinity_leaves_out_skipped_images() -> None:
    kept, ref, x = fid_infinity_setup(n=300, dim=4)
    skipped = [5, 77, 200]
    kept.rows[skipped] = 0  # as if never written
    fit = FIDInfinity(kept, ref, seed=2).fields({})["fid_infinity_fit"]
    perm = np.random.RandomState(2).permutation(300)
    for size, n, value in zip(subset_sizes(300), fit["n"], fit["fid_n"], strict=True):
        members = np.setdiff1d(perm[:size], skipped)
        assert n == len(members)  # the images the subset really holds
        subset = x[members].double().numpy()
        want = frechet_distance(subset.mean(0), np.cov(subset, rowvar=False), ref.mu, ref.sigma)
        assert value == pytest.approx(want, rel=1e-9)


def test_fid_infinity_errors_and_small_n() -> None:
    kept = PooledFeatures(10, 4)
    with pytest.raises(InputError, match="the reference's mu has 3 dimensions, the pool3 features 4"):
        FIDInfinity(kept, Reference(mu=np.zeros(3), sigma=np.eye(3)))
    with pytest.raises(InputError, match="FID at infinite N needs the reference's mu and sigma"):
        FIDInfinity(kept, Reference(features=torch.zeros(5, 4)))
    tiny = PooledFeatures(3, 2)
    feed(tiny, torch.rand(3, 2), batch=3)
    assert FIDInfinity(tiny, Reference(mu=np.zeros(2), sigma=np.eye(2))).fields({}) == {
        "fid_infinity": None,
        "fid_infinity_fit": None,
    }  # subsets of 2 and 3 images only: no fit through fewer than 3 points


def test_the_references_factor_is_computed_once_per_content(monkeypatch: pytest.MonkeyPatch) -> None:
    """A training loop's FID against one reference pays the D x D eigendecomposition once: the factor
    is kept by content (an equal matrix in a new tensor hits), and any changed number recomputes it."""
    from inception_score.metrics import frechet

    monkeypatch.setattr(frechet, "_FACTORS", frechet.OrderedDict())
    calls = []
    eigh = torch.linalg.eigh
    monkeypatch.setattr(torch.linalg, "eigh", lambda m: calls.append(m.shape) or eigh(m))
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 16)), rng.normal(size=(25, 16)) + 0.3
    mu1, s1, mu2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    first = frechet_distance(mu1, s1, mu2, s2)
    again = frechet_distance(mu1 + 0.1, s1 * 1.1, mu2, s2.copy())  # other samples, the same reference
    assert len(calls) == 1
    changed = s2.copy()
    changed[3, 3] += 1e-12  # one number in the last bits: another matrix
    frechet_distance(mu1, s1, mu2, changed)
    assert len(calls) == 2
    monkeypatch.setattr(frechet, "_FACTORS", frechet.OrderedDict())  # the values are those computed afresh
    assert frechet_distance(mu1, s1, mu2, s2) == first
    assert frechet_distance(mu1 + 0.1, s1 * 1.1, mu2, s2) == again
    for i in range(frechet.FACTOR_CACHE_SIZE + 2):  # a bounded number of matrices is kept
        frechet_distance(mu1, s1, mu2, s2 + i)
    assert len(frechet._FACTORS) == frechet.FACTOR_CACHE_SIZE


def test_a_negative_rounding_residue_is_returned_as_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sign of FID(A, A)'s rounding residue depends on the BLAS and the thread count (this machine
    gives +2e-11 where another gave -1e-10): the residue is planted here, tr √ one
    part in 1e10 too large, so that the clamp to 0 is tested wherever the suite runs."""
    from inception_score.metrics import frechet

    exact = frechet.trace_sqrt_product
    monkeypatch.setattr(frechet, "trace_sqrt_product", lambda *args: exact(*args) * (1 + 1e-10))
    x = decaying_features(68, 256, 3, power=1.5)
    reversed_rows = torch.from_numpy(x[::-1].copy())
    mu2, sigma2 = moments_from_sums(68, reversed_rows.sum(0), reversed_rows.T @ reversed_rows)
    value = frechet_distance(x.mean(0), np.cov(x, rowvar=False), mu2, sigma2)
    assert value == 0.0 and np.copysign(1.0, value) == 1.0
