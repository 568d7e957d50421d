"""FID and sFID: the Fréchet distance between Gaussians fitted to the samples' and the reference's features.

For two Gaussians N(mu1, S1) and N(mu2, S2) the Fréchet (2-Wasserstein) distance is
(Dowson & Landau 1982; FID: Heusel et al. 2017, "GANs trained by a two time-scale update rule
converge to a local Nash equilibrium", NeurIPS, section "Fréchet Inception Distance")

    FID = |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr (S1 S2)^{1/2}.

**The trace of the square root** is computed as torch-fidelity >= 0.4 does (TFd metric_fid.py:39):
the eigenvalues of S1 S2 in float64, taken as complex, their principal square roots, the sum of
the real parts. No scipy. The ADM evaluator and pytorch-fid take ``scipy.linalg.sqrtm(S1 S2)``
(GD:72-115); the two agree to about 3e-14 relative (REFERENCE-METRICS §1). *Deviations from the
evaluator*, neither of which changes a finite result: it retries with ``1e-6 I`` added when sqrtm
returns a non-finite matrix, which the eigenvalue route never does for finite covariances; it
raises when the diagonal of sqrtm has an imaginary part above 1e-3, where this (like TFd 0.4)
keeps the real parts. S1 is the samples', S2 the reference's (GD:56).

**The statistics** are float64 sums over images, count n, sum x, sum x x^T, so that batches,
shards and ranks merge by adding; mean = sum x / n (float64; the evaluator's float32 np.mean
differs by ~1e-8 relative in FID) and covariance = (sum x x^T - n mean mean^T) / (n - 1), the
divisor of ``np.cov`` (GD:174-177; StyleGAN3 divides by n, 1e-4 relative at 10k). The features
are pool3 (N x 2048) for FID and, for sFID (Nash et al. 2021, "Generating images with sparse
representations", ICML; the evaluator's ``mixed_6/conv``, GD:57,599), the first 7 channels of the
N x 192 x 17 x 17 spatial output in NHWC order (:func:`spatial_vectors`, 2023 dims).

**FID at infinite N** (Chong & Forsyth 2020, "Effectively unbiased FID and Inception Score and
where to find them", CVPR): FID_N of nested random subsets of N/10..N images, fitted against 1/N
and extrapolated (:class:`FIDInfinity`).

Example:
    >>> import torch
    >>> mu, sigma = torch.zeros(3), torch.eye(3)
    >>> frechet_distance(mu, sigma, mu + 1, 4 * torch.eye(3))  # 3 x 1^2 + 3 x (2 - 1)^2
    6.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from ..features.network import FEATURE_DIM, InceptionOutput
from .base import Accumulator, zeros
from .features import PooledFeatures
from .reference import Reference
from .uncertainty import fit_infinity, subset_sizes

__all__ = [
    "spatial_vectors",
    "frechet_distance",
    "moments_from_sums",
    "FrechetDistance",
    "SpatialFrechetDistance",
    "FIDInfinity",
    "SPATIAL_KEPT_CHANNELS",
    "SPATIAL_DIM",
]

SPATIAL_KEPT_CHANNELS = 7  # the evaluator keeps mixed_6/conv[..., :7] (GD:599)
SPATIAL_DIM = 17 * 17 * SPATIAL_KEPT_CHANNELS  # 2023


def spatial_vectors(spatial: Tensor) -> Tensor:
    """The ADM evaluator's sFID vectors: N x C x H x W (NCHW) -> N x (H W 7), float32.

    ``mixed_6/conv[..., :7]`` flattened per image (GD:157-158, 599): the network's NCHW tensor as
    NHWC, channels 0..6, flattened in (h, w, c) order, so element ``(h * W + w) * 7 + c`` is
    ``spatial[n, c, h, w]``. Flattening the NCHW slice directly (c, h, w) permutes the vector, and
    its statistics no longer match a reference batch's ``mu_s``/``sigma_s`` (guided-diffusion#159).

    Raises:
        InputError: not 4-D with at least 7 channels.

    Example:
        >>> x = torch.arange(2 * 8 * 2 * 2.0).reshape(2, 8, 2, 2)  # N=2, C=8, H=W=2
        >>> v = spatial_vectors(x)
        >>> tuple(v.shape), v[0, :8].tolist()  # (h=0,w=0,c=0..6), then (h=0,w=1,c=0)
        ((2, 28), [0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 1.0])
    """
    if spatial.dim() != 4 or spatial.shape[1] < SPATIAL_KEPT_CHANNELS:
        raise InputError(
            f"spatial features: expected N x 192 x 17 x 17 (NCHW, at least {SPATIAL_KEPT_CHANNELS} channels), "
            f"got shape {tuple(spatial.shape)}"
        )
    n = spatial.shape[0]
    # slicing first copies 7 of the 192 channels only; same values as permute(0, 2, 3, 1)[..., :7]
    nhwc = spatial[:, :SPATIAL_KEPT_CHANNELS].permute(0, 2, 3, 1)  # N x H x W x 7
    return nhwc.reshape(n, -1).float()  # N x (H W 7)


def _float64(value: Tensor | np.ndarray, name: str, device: torch.device) -> Tensor:
    tensor = torch.as_tensor(value).detach().to(device, torch.float64)
    if not bool(torch.isfinite(tensor).all()):
        raise InputError(f"frechet_distance: {name} holds NaN or inf; a Fréchet distance needs finite statistics")
    return tensor


def frechet_distance(
    mu1: Tensor | np.ndarray, sigma1: Tensor | np.ndarray, mu2: Tensor | np.ndarray, sigma2: Tensor | np.ndarray
) -> float:
    """``|mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr (S1 S2)^{1/2}`` (Heusel et al. 2017), in float64.

    ``tr (S1 S2)^{1/2}`` = the sum of the real parts of the principal square roots of the complex
    eigenvalues of S1 S2 (TFd metric_fid.py:39): no scipy, no added epsilon, finite (and about 0
    for the zero eigenvalues) for singular covariances, i.e. statistics of fewer images than
    dimensions. Computed on the device of ``mu1`` when it is a tensor, else on the CPU.

    Args:
        mu1, sigma1: mean (D) and covariance (D x D) of the samples (any float dtype, numpy or torch).
        mu2, sigma2: the same of the reference.

    Returns:
        The distance, a Python float in squared feature units.

    Raises:
        InputError: shapes that are not D and D x D, or differ between the two sets (both shapes
            named); a NaN or inf in any input; an eigenvalue solver that does not converge.

    Example:
        >>> import numpy as np
        >>> round(frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.ones(2), np.diag([4.0, 9.0])), 12)
        4.0
    """
    device = mu1.device if isinstance(mu1, Tensor) else torch.device("cpu")
    shapes = [tuple(np.shape(v)) for v in (mu1, sigma1, mu2, sigma2)]
    for i, (mu_shape, sigma_shape) in enumerate((shapes[:2], shapes[2:]), start=1):
        if len(mu_shape) != 1 or sigma_shape != mu_shape * 2:
            raise InputError(
                f"frechet_distance: mu{i} has shape {mu_shape} and sigma{i} {sigma_shape}; expected D and D x D"
            )
    if shapes[0] != shapes[2]:
        raise InputError(
            f"frechet_distance: the two sets' statistics differ in shape: mu1 {shapes[0]}, sigma1 {shapes[1]} vs "
            f"mu2 {shapes[2]}, sigma2 {shapes[3]}; both must come from the same features"
        )
    m1, s1, m2, s2 = (_float64(v, n, device) for v, n in zip((mu1, sigma1, mu2, sigma2), _NAMES, strict=True))
    diff = m1 - m2  # D
    try:
        eigenvalues = torch.linalg.eigvals(s1 @ s2)  # D complex128
    except torch.linalg.LinAlgError as exc:
        raise InputError(f"frechet_distance: the eigenvalues of sigma1 @ sigma2 did not converge ({exc})") from None
    tr_covmean = eigenvalues.sqrt().real.sum()  # negative (rounding) eigenvalues: sqrt imaginary, real part 0
    value = float(diff.dot(diff) + s1.trace() + s2.trace() - 2 * tr_covmean)
    if not np.isfinite(value):
        raise InputError(f"frechet_distance: the result overflowed ({value}); the statistics are too large")
    return value


_NAMES = ("mu1", "sigma1", "mu2", "sigma2")


def moments_from_sums(
    count: Tensor | float, total: Tensor, outer: Tensor, what: str = "features"
) -> tuple[Tensor, Tensor]:
    """(mean, covariance) from the sums n, sum x (D), sum x x^T (D x D), float64 on their device.

    mean = sum x / n; covariance = (sum x x^T - n mean mean^T) / (n - 1), ``np.cov``'s divisor
    (GD:174-177). These are what ``inception-score stats`` files store as ``mu`` and ``sigma``.

    Raises:
        InputError: fewer than 2 images (no covariance), or sums holding NaN or inf (some image's
            ``what`` was not finite).

    Example:
        >>> x = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]], dtype=torch.float64)
        >>> mu, sigma = moments_from_sums(3, x.sum(0), x.T @ x)
        >>> mu.tolist(), sigma.tolist()  # = np.mean(x, 0), np.cov(x, rowvar=False)
        ([2.0, 4.0], [[4.0, 7.0], [7.0, 13.0]])
    """
    n = float(count)
    if n < 2:
        raise InputError(f"{what}: a covariance needs at least 2 images, got {int(n)}")
    _check_finite(total, outer, what)
    mu = total.double() / n  # D
    sigma = outer.double().clone()  # D x D
    sigma.addr_(mu, mu, alpha=-n).div_(n - 1)
    return mu, sigma


def _check_finite(total: Tensor, outer: Tensor, what: str) -> None:
    if not bool(torch.isfinite(total).all()) or not bool(torch.isfinite(outer).all()):
        raise InputError(f"{what}: the features of some image hold NaN or inf (or overflow), so no FID can be computed")


def _reference_part(reference: Reference, parts: tuple[str, str], metric: str) -> tuple[Tensor, Tensor]:
    mu, sigma = (getattr(reference, p) for p in parts)
    where = reference.info.get("path") or reference.info.get("kind") or "the reference"
    if mu is None or sigma is None:
        raise InputError(f"{metric} needs the reference's {parts[0]} and {parts[1]}; {where} holds none")
    mu, sigma = torch.as_tensor(mu).double(), torch.as_tensor(sigma).double()
    if mu.dim() != 1 or tuple(sigma.shape) != (len(mu), len(mu)):
        raise InputError(
            f"{metric}: {where}: {parts[0]} has shape {tuple(mu.shape)} and {parts[1]} {tuple(sigma.shape)}; "
            f"expected D and D x D"
        )
    if not bool(torch.isfinite(mu).all()) or not bool(torch.isfinite(sigma).all()):
        raise InputError(f"{metric}: {where}: {parts[0]} or {parts[1]} holds NaN or inf")
    return mu, sigma


class FrechetDistance(Accumulator):
    """FID: float64 sums n, sum x, sum x x^T of the pool3 features, and their Fréchet distance to a reference.

    State (summed when merging): ``count`` (scalar), ``total`` (D), ``outer`` (D x D; 32 MB at
    D = 2048), all float64 on ``device``; each batch costs one float64 n x D x D matrix product there.

    Args:
        reference: a :class:`~.reference.Reference` with ``mu`` and ``sigma``; None to only
            accumulate (``inception-score stats`` reads :meth:`moments`), and then no field.
        feature_dim: D when there is no reference (default 2048; sFID 2023); with one, its D.
        device: where the sums live (the run's device).

    Raises:
        InputError: at construction, a reference without the statistics, of the wrong shapes or
            not finite; in ``update``, features of another width than the reference's (both
            named); in ``fields``, fewer than 2 images or non-finite features.

    Example:
        >>> import numpy as np
        >>> from inception_score.features.network import InceptionOutput
        >>> x = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
        >>> fid = FrechetDistance(Reference(mu=np.array([2.0, 4.0]), sigma=np.array([[4.0, 7.0], [7.0, 13.0]])))
        >>> fid.update(InceptionOutput(pool3=x), np.arange(3))
        >>> abs(fid.fields({})["fid"]) < 1e-9  # the reference is these three images' statistics
        True
    """

    name = "fid"
    needs = frozenset({"pool3"})
    states = {"count": "count", "total": "total", "outer": "outer"}
    result_field: ClassVar[str] = "fid"
    reference_parts: ClassVar[tuple[str, str]] = ("mu", "sigma")
    default_dim: ClassVar[int] = FEATURE_DIM
    feature_name: ClassVar[str] = "pool3 features"
    label: ClassVar[str] = "FID"  # in messages

    def __init__(
        self, reference: Reference | None = None, feature_dim: int | None = None, device: torch.device | str = "cpu"
    ) -> None:
        self.reference: tuple[Tensor, Tensor] | None = None
        if reference is not None:
            self.reference = _reference_part(reference, self.reference_parts, self.label)  # CPU float64
        dim = len(self.reference[0]) if self.reference is not None else feature_dim or self.default_dim
        if feature_dim is not None and feature_dim != dim:
            raise InputError(
                f"{self.label}: the reference's {self.reference_parts[0]} has {dim} dimensions, but feature_dim is "
                f"{feature_dim}"
            )
        self.dim = dim
        self.count = zeros((), device)  # n
        self.total = zeros(dim, device)  # D: sum x
        self.outer = zeros((dim, dim), device)  # D x D: sum x x^T

    def vectors(self, outputs: InceptionOutput) -> Tensor:
        """The batch's feature vectors, n x D: pool3 here."""
        return outputs.require("pool3")

    def update(self, outputs: InceptionOutput, indices: np.ndarray) -> None:
        """Add the batch's vectors (n x D) to the sums, in float64 on the sums' device."""
        x = self.vectors(outputs).detach()
        if x.dim() != 2 or x.shape[1] != self.dim:
            expected = f"the reference's {self.reference_parts[0]} has" if self.reference else "expected"
            raise InputError(
                f"{self.label}: the {self.feature_name} have shape {tuple(x.shape)}, but {expected} {self.dim} "
                f"dimensions; they must come from the same network layer"
            )
        x = x.to(self.total.device, torch.float64)  # n x D
        self.count += x.shape[0]
        self.total += x.sum(dim=0)
        self.outer.addmm_(x.T, x)  # D x D

    def moments(self) -> tuple[Tensor, Tensor]:
        """(mu, sigma) of the images so far: float64 D and D x D on the sums' device (:func:`moments_from_sums`)."""
        return moments_from_sums(self.count, self.total, self.outer, self.feature_name)

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        """``{"fid": FID}`` (``sfid`` for :class:`SpatialFrechetDistance`); nothing without a reference."""
        if self.reference is None:
            return {}
        mu, sigma = self.moments()
        ref_mu, ref_sigma = (t.to(mu.device) for t in self.reference)
        return {self.result_field: frechet_distance(mu, sigma, ref_mu, ref_sigma)}

    def warnings(self, fields: Mapping[str, Any]) -> list[str]:
        """A warning when n <= D: the covariance is singular and FID biased far above its 50k value."""
        n = int(self.count)
        if self.reference is None or n > self.dim or n < 2:
            return []
        metric = self.label
        return [
            f"{metric} from {n:,} images, no more than the {self.dim} dimensions of the {self.feature_name}: their "
            f"covariance is singular; {metric} at this N is biased (upwards) and not comparable with numbers from "
            f"50,000 images"
        ]


class SpatialFrechetDistance(FrechetDistance):
    """sFID: :class:`FrechetDistance` of the :func:`spatial_vectors` (2023 dims) against ``mu_s``, ``sigma_s``.

    Example:
        >>> import numpy as np
        >>> from inception_score.features.network import InceptionOutput
        >>> sfid = SpatialFrechetDistance(feature_dim=4 * 7)  # no reference: sums only
        >>> sfid.update(InceptionOutput(spatial=torch.rand(3, 192, 2, 2)), np.arange(3))
        >>> tuple(sfid.moments()[1].shape), sfid.fields({})
        ((28, 28), {})
    """

    name = "sfid"
    needs = frozenset({"spatial"})
    result_field = "sfid"
    reference_parts = ("mu_s", "sigma_s")
    default_dim = SPATIAL_DIM
    feature_name = "spatial features"
    label = "sFID"

    def vectors(self, outputs: InceptionOutput) -> Tensor:
        """:func:`spatial_vectors` of the batch's ``spatial`` output, n x 2023 (computed once a batch,
        in ``outputs.memo``, where a holder of already flattened vectors may also put them)."""
        if "spatial_vectors" not in outputs.memo:
            outputs.memo["spatial_vectors"] = spatial_vectors(outputs.require("spatial"))
        return outputs.memo["spatial_vectors"]  # type: ignore[no-any-return]


def _psd_sqrt(sigma: Tensor) -> Tensor:
    """The symmetric square root of a (numerically) positive semi-definite matrix, by eigh."""
    w, v = torch.linalg.eigh(sigma)  # D, D x D
    return (v * w.clamp_min(0).sqrt()) @ v.T


class FIDInfinity(Accumulator):
    """FID at infinite N (Chong & Forsyth 2020): FID_N of nested random subsets, fitted against 1/N.

    Subset j holds the images whose rank in ``RandomState(seed).permutation(N)`` is below
    N_j = ``subset_sizes(N)[j]`` (linspace(N/10, N, 15): the same subsets, for the same seed, as
    IS at infinite N, :class:`~.uncertainty.NestedSubsets`). One sweep over the rows in rank
    order adds each block of rows to running float64 sums (sum x, sum x x^T), and at each N_j
    the covariance and FID_N against the reference are computed: memory is four D x D float64
    matrices (the running sum, the reference's square root, the covariance and a product: 128 MB
    at D = 2048), the eigenvalue solver's workspace and a block of rows, whatever N.

    *Deviation, for speed*: tr (S_j S_ref)^{1/2} is computed as the sum of the square roots of the
    (clamped non-negative) eigenvalues of the symmetric S_ref^{1/2} S_j S_ref^{1/2}, with S_ref^{1/2}
    computed once: the same eigenvalues as S_j S_ref, by a symmetric solver about 6 times faster
    than the general one of :func:`frechet_distance` (15 solves at D = 2048). Agreement with
    :func:`frechet_distance`: ~1e-13 relative (tested to 1e-9).

    Fields: ``fid_infinity`` (the intercept, or None with fewer than 3 subsets) and
    ``fid_infinity_fit`` (``fid_infinity``, ``slope``, ``r2``, ``n``, ``fid_n``; the fit of
    :func:`~.uncertainty.fit_infinity`).

    Args:
        features: the run's :class:`~.features.PooledFeatures` (read when the fields are computed).
        reference: a :class:`~.reference.Reference` with ``mu`` and ``sigma``.
        seed: the run's seed (the one of IS at infinite N).
        block: rows added at a time (memory: block x D float64).

    Raises:
        InputError: at construction, a reference without mu/sigma or of another width than the
            features; in ``fields``, non-finite features.

    Example:
        >>> import numpy as np
        >>> from inception_score.features.network import InceptionOutput
        >>> kept = PooledFeatures(num_images=200, feature_dim=2)
        >>> kept.update(InceptionOutput(pool3=torch.randn(200, 2, generator=torch.Generator().manual_seed(0))),
        ...             np.arange(200))
        >>> fit = FIDInfinity(kept, Reference(mu=np.zeros(2), sigma=np.eye(2))).fields({})["fid_infinity_fit"]
        >>> fit["n"][:3], len(fit["fid_n"])
        ([20, 33, 46], 15)
    """

    name = "fid_infinity"
    needs = frozenset({"pool3"})  # read through ``features``, which keeps them
    states: ClassVar[dict[str, str]] = {}

    def __init__(self, features: PooledFeatures, reference: Reference, seed: int = 0, block: int = 2048) -> None:
        self.features, self.seed, self.block = features, seed, block
        self.reference = _reference_part(reference, ("mu", "sigma"), "FID at infinite N")
        if len(self.reference[0]) != features.rows.shape[1]:
            raise InputError(
                f"FID at infinite N: the reference's mu has {len(self.reference[0])} dimensions, the pool3 features "
                f"{features.rows.shape[1]}; they must come from the same network layer"
            )

    def update(self, outputs: InceptionOutput, indices: np.ndarray) -> None:
        """Nothing: the features are kept by ``features``."""

    def fid_n(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_j, FID of the nested subset j, which holds n_j images) for every subset, float64.

        n_j = N_j unless the run skipped images: their rows are left out (as their predictions are
        from IS at infinite N), and n_j counts the images the subset really holds.
        """
        rows = self.features.rows  # N x D float32 (device, or CPU memory map)
        num_images, dim = rows.shape
        device = self.features.device
        filled = self.features.filled().cpu().numpy()  # N bools
        perm = np.random.RandomState(self.seed).permutation(num_images)  # perm[r]: the image of rank r
        ref_mu, ref_sigma = (t.to(device) for t in self.reference)
        root = _psd_sqrt(ref_sigma)  # D x D
        tr_ref = ref_sigma.trace()
        del ref_sigma
        total, outer = zeros(dim, device), zeros((dim, dim), device)  # running sums over ranks < N_j
        cov, product = zeros((dim, dim), device), zeros((dim, dim), device)  # reused at each N_j
        counts, fids, start, n = [], [], 0, 0
        for size in subset_sizes(num_images).tolist():
            for lo in range(start, size, self.block):  # the band of ranks start..size-1
                band = np.sort(perm[lo : min(lo + self.block, size)])  # sorted: local reads
                band = band[filled[band]]
                x = rows.index_select(0, torch.from_numpy(band).to(rows.device)).to(device, torch.float64)  # b x D
                n += len(band)
                total += x.sum(dim=0)
                outer.addmm_(x.T, x)
            start = size
            if n < 2:
                continue
            _check_finite(total, outer, "pool3 features")
            mu = total / n  # D
            cov.copy_(outer).addr_(mu, mu, alpha=-n).div_(n - 1)  # D x D, as moments_from_sums
            diff = mu - ref_mu
            tr_sigma = cov.trace()
            torch.mm(root, cov, out=product)
            torch.mm(product, root, out=cov)  # S_ref^1/2 S_j S_ref^1/2: symmetric PSD, eigenvalues of S_j S_ref
            tr_covmean = torch.linalg.eigvalsh(cov).clamp_min(0).sqrt().sum()
            counts.append(n)
            fids.append(float(diff.dot(diff) + tr_sigma + tr_ref - 2 * tr_covmean))
        return np.array(counts, dtype=np.int64), np.array(fids, dtype=np.float64)

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        fit = fit_infinity(*self.fid_n())
        if fit is None:
            return {"fid_infinity": None, "fid_infinity_fit": None}
        renamed = {"is_infinity": "fid_infinity", "is_n": "fid_n"}
        fit = {renamed.get(k, k): v for k, v in fit.items()}
        return {"fid_infinity": fit["fid_infinity"], "fid_infinity_fit": fit}
