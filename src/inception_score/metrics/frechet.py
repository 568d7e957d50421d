"""FID, sFID, FD_DINOv2...: the Fréchet distance between Gaussians fitted to the samples' and the reference's features.

One accumulator, :class:`FrechetDistance`, over any feature space (an output field: ``pool3`` for
FID, ``dinov2`` for FD_DINOv2 as EDM2 computes it, ``clip`` for FD_CLIP; ``spatial`` for sFID
through :class:`SpatialFrechetDistance`): it knows the space's name, never its network.

For two Gaussians N(mu1, S1) and N(mu2, S2) the Fréchet (2-Wasserstein) distance is
(Dowson & Landau 1982; FID: Heusel et al. 2017, "GANs trained by a two time-scale update rule
converge to a local Nash equilibrium", NeurIPS, section "Fréchet Inception Distance")

    FID = |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr (S1 S2)^{1/2}.

**The trace of the square root** is computed exactly from the non-null eigenspaces, with
symmetric eigen-solvers only (:func:`trace_sqrt_product`): S2 = V L V^T (``eigh``), the
eigenvalues of S2 above its rounding level D ε λmax kept (r of them), R = V_r L_r^{1/2} (D x r,
S2 = R R^T), and tr (S1 S2)^{1/2} = Σ √μ_i over the eigenvalues μ_i of the r x r symmetric
positive semi-definite M = R^T S1 R (the non-zero eigenvalues of S1 S2 = S1 R R^T are those of
R^T S1 R), again those above M's rounding level r ε μmax. In exact arithmetic this is the
nuclear norm of A B^T (A, B the centred features / √(n − 1), S1 = A^T A, S2 = B^T B): tested
equal to it within 1e-6 relative at 68 vs 54 images, and to torch-fidelity's and scipy's value
within 1e-9 where both covariances have full rank.

*Deviation from the reference tools, for exactness and speed*: torch-fidelity >= 0.4 (TFd
metric_fid.py:39) takes the general (non-symmetric) eigenvalues of S1 S2; pytorch-fid, clean-fid
and the ADM evaluator ``scipy.linalg.sqrtm(S1 S2)`` (GD:72-115, PF fid_score.py:179-236, CF
fid.py:79-83). Where both covariances have full rank (more images than dimensions, 2049+ for
pool3) all of these agree to ~1e-13 relative. With fewer images the covariances are singular,
S1 S2 has D - r zero eigenvalues, and a general solver returns them as ±1e-13-sized numbers,
each of which adds a square root of that size (~1e-7 of the scale) to the trace: ~2000 of them
at 50 images, 5e-5 to 1e-4 relative in FID (issue 21), and FID(A, A) ≈ -3e-5 instead of 0. Here
the null eigenspaces are discarded first, so those tools' numbers differ from this one at small N
by exactly that noise. The symmetric solvers are also faster (``benchmarks/fid_exact.py``). The
evaluator retries sqrtm with ``1e-6 I`` added when it is not finite, and raises when its diagonal
has an imaginary part above 1e-3; neither happens here, for any finite positive semi-definite
statistics. S1 is the samples', S2 the reference's (GD:56).

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

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from ..features.outputs import NetworkOutputs
from ..features.spaces import SPACES, part_key
from .base import Accumulator, zeros
from .features import PooledFeatures
from .names import metric_name
from .reference import Reference
from .uncertainty import fit_infinity, infinity_warning, subset_sizes

__all__ = [
    "spatial_vectors",
    "frechet_distance",
    "trace_sqrt_product",
    "psd_factor",
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


def psd_factor(sigma: Tensor, name: str = "sigma") -> Tensor:
    """R (D x r, float64) with R R^T = ``sigma`` on its numerically non-null eigenspace.

    ``sigma`` = V diag(λ) V^T by ``torch.linalg.eigh``; R = V_r diag(λ_r)^{1/2} over the r
    eigenvalues above D ε λmax (ε = float64's machine epsilon: numpy.linalg.matrix_rank's default
    tolerance; eigh determines each eigenvalue only to a few ε λmax, so smaller ones, and the
    rounding-level negatives of a positive semi-definite matrix, cannot be told from 0). A
    covariance of n < D images has r <= n - 1. r = 0 for a zero matrix (a set of identical images).

    Args:
        sigma: D x D symmetric float64 (only its lower triangle is read, as eigh reads it).
        name: what ``sigma`` is, for the error.

    The factors of the last :data:`FACTOR_CACHE_SIZE` matrices are kept, keyed by their content
    (a BLAKE2 digest of the bytes) and device: a training loop's FID against one reference, or
    several runs against one statistics file, pays the D x D eigendecomposition once (~1 s on a
    2-core CPU at D = 2048) instead of at every evaluation. A copy is returned.

    Raises:
        InputError: ``sigma`` is not positive semi-definite (an eigenvalue below -1e-5 λmax: far
            beyond the rounding of a covariance, even one stored in float32), so not a covariance;
            or the solver did not converge.

    Example:
        >>> r = psd_factor(torch.tensor([[4.0, 0.0], [0.0, 0.0]], dtype=torch.float64))
        >>> r.shape, (r @ r.T).tolist()
        (torch.Size([2, 1]), [[4.0, 0.0], [0.0, 0.0]])
    """
    key = _content_key(sigma)
    cached = _FACTORS.get(key)
    if cached is not None:
        _FACTORS.move_to_end(key)
        return cached.clone()
    factor = _psd_factor(sigma, name)
    _FACTORS[key] = factor
    while len(_FACTORS) > FACTOR_CACHE_SIZE:
        _FACTORS.popitem(last=False)
    return factor.clone()


#: how many matrices' factors :func:`psd_factor` keeps (D x r float64 each: 32 MB at D = 2048, r = D)
FACTOR_CACHE_SIZE = 4
_FACTORS: OrderedDict[tuple[str, str, tuple[int, ...], bytes], Tensor] = OrderedDict()


def _content_key(sigma: Tensor) -> tuple[str, str, tuple[int, ...], bytes]:
    """What determines :func:`psd_factor`'s result: the device, the dtype, the shape and the bytes."""
    data = sigma.detach().contiguous().cpu().numpy()
    digest = hashlib.blake2b(data.data, digest_size=16).digest()
    return str(sigma.device), str(sigma.dtype), tuple(sigma.shape), digest


def _psd_factor(sigma: Tensor, name: str) -> Tensor:
    """:func:`psd_factor`, computed."""
    try:
        eigenvalues, vectors = torch.linalg.eigh(sigma)  # D ascending, D x D
    except torch.linalg.LinAlgError as exc:
        raise InputError(f"frechet_distance: the eigenvalues of {name} did not converge ({exc})") from None
    largest = float(eigenvalues[-1]) if len(eigenvalues) else 0.0
    smallest = float(eigenvalues[0]) if len(eigenvalues) else 0.0
    if smallest < -_NOT_PSD * max(largest, 0.0) or (largest <= 0.0 and smallest < 0.0):
        raise InputError(
            f"frechet_distance: {name} is not positive semi-definite (eigenvalues from {smallest:.3g} to "
            f"{largest:.3g}), so it is not a covariance matrix"
        )
    keep = eigenvalues > len(eigenvalues) * _EPS * largest  # D bools; none when sigma = 0
    return vectors[:, keep] * eigenvalues[keep].sqrt()  # D x r


_EPS = float(torch.finfo(torch.float64).eps)  # 2.2e-16
_NOT_PSD = 1e-5  # an eigenvalue below -1e-5 λmax is not rounding: float32 storage moves them ~1e-8 λmax


def trace_sqrt_product(sigma1: Tensor, factor2: Tensor, name1: str = "sigma1") -> Tensor:
    """tr (S1 S2)^{1/2} for positive semi-definite S1 and S2 = R R^T (``factor2`` = R, :func:`psd_factor`).

    The non-zero eigenvalues of S1 S2 = S1 R R^T are those of the r x r symmetric positive
    semi-definite M = R^T S1 R (for any A, B: AB and BA share their non-zero eigenvalues), and
    tr (S1 S2)^{1/2} is the sum of their square roots. M's eigenvalues at or below its rounding
    level r ε μmax (ε = float64's machine epsilon) are taken as 0: they are S1's null space seen
    through R (rank M = min(rank S1, r); with fewer sample images than reference images, the
    extra ones are zeros computed as ±ε μmax), and the square root of such noise (~1e-8 μmax^{1/2}
    each) is what this route exists to avoid. Where S1 S2 has a true eigenvalue that small, its
    square root (< 1.5e-8 r^{1/2} μmax^{1/2}) is below what float64 statistics determine.

    Args:
        sigma1: D x D float64, symmetric positive semi-definite.
        factor2: D x r float64 (r may be 0), on the same device.
        name1: what ``sigma1`` is, for the error.

    Returns:
        A float64 scalar tensor on their device, >= 0.

    Raises:
        InputError: ``sigma1`` is not positive semi-definite where S2 is not null (M has an
            eigenvalue below -1e-5 μmax, as :func:`psd_factor` refuses); the solver did not converge.

    Example:
        >>> s1 = torch.diag(torch.tensor([1.0, 4.0, 0.0], dtype=torch.float64))
        >>> s2 = torch.diag(torch.tensor([9.0, 1.0, 5.0], dtype=torch.float64))
        >>> float(trace_sqrt_product(s1, psd_factor(s2)))  # sqrt(1 x 9) + sqrt(4 x 1) + sqrt(0 x 5)
        5.0
    """
    rank = factor2.shape[1]
    if rank == 0:  # S2 = 0: S1 S2 = 0
        return torch.zeros((), dtype=torch.float64, device=sigma1.device)
    m = factor2.T @ (sigma1 @ factor2)  # r x r
    m = (m + m.T) / 2  # symmetric to the last bit (the products round differently above and below)
    try:
        mu = torch.linalg.eigvalsh(m)  # r ascending
    except torch.linalg.LinAlgError as exc:
        raise InputError(f"frechet_distance: the eigenvalues of R^T {name1} R did not converge ({exc})") from None
    largest, smallest = float(mu[-1]), float(mu[0])
    if smallest < -_NOT_PSD * max(largest, 0.0) or (largest <= 0.0 and smallest < 0.0):
        raise InputError(f"frechet_distance: {name1} is not positive semi-definite, so it is not a covariance matrix")
    kept = mu[mu > rank * _EPS * largest]
    return kept.sqrt().sum()


def frechet_distance(
    mu1: Tensor | np.ndarray, sigma1: Tensor | np.ndarray, mu2: Tensor | np.ndarray, sigma2: Tensor | np.ndarray
) -> float:
    """``|mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr (S1 S2)^{1/2}`` (Heusel et al. 2017), in float64.

    ``tr (S1 S2)^{1/2}`` by :func:`trace_sqrt_product` from the non-null eigenspace of S2
    (:func:`psd_factor`): exact for singular covariances too (statistics of fewer images than
    dimensions), where the general eigenvalue solver of torch-fidelity and scipy's sqrtm add
    rounding noise (module docstring). No scipy, no added epsilon. Computed on the device of
    ``mu1`` when it is a tensor, else on the CPU.

    Statistics identical bit for bit give 0.0 at once. *A negative result is returned as 0.0*: the
    distance is >= 0 for positive semi-definite
    covariances (tr (S1 S2)^{1/2} = ||R1^T R2||_* <= (||R1||_F^2 + ||R2||_F^2) / 2), so a value
    below 0 is the rounding of the traces and eigenvalues (~1e-13 of tr S1 + tr S2 for a set
    against its own statistics), and 0.0 (never -0.0) is the distance within that rounding.

    Args:
        mu1, sigma1: mean (D) and covariance (D x D) of the samples (any float dtype, numpy or torch).
        mu2, sigma2: the same of the reference.

    Returns:
        The distance, a Python float >= 0 in squared feature units.

    Raises:
        InputError: shapes that are not D and D x D, or differ between the two sets (both shapes
            named); a NaN or inf in any input; a covariance that is not positive semi-definite;
            an eigenvalue solver that does not converge.

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
    if _identical(m1, s1, m2, s2):
        return 0.0
    return _distance(m1, s1, m2, s2.trace(), psd_factor(s2, "sigma2"), "sigma1")


def _identical(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> bool:
    """The same statistics bit for bit (a batch against itself, its stored statistics on both sides): the
    distance is 0 exactly, where the eigenvalue route would give its rounding (~1e-13 of tr S)."""
    return bool(torch.equal(mu1, mu2) and torch.equal(sigma1, sigma2))


def _distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, trace2: Tensor, factor2: Tensor, name1: str) -> float:
    """The Fréchet distance from S1 and S2's trace and factor (:func:`psd_factor`), clamped at 0."""
    diff = mu1 - mu2  # D
    value = float(diff.dot(diff) + sigma1.trace() + trace2 - 2 * trace_sqrt_product(sigma1, factor2, name1))
    if not np.isfinite(value):
        raise InputError(f"frechet_distance: the result overflowed ({value}); the statistics are too large")
    return value if value > 0 else 0.0  # >= 0 for PSD covariances: a negative value is rounding (docstring)


_NAMES = ("mu1", "sigma1", "mu2", "sigma2")


def moments_from_sums(
    count: Tensor | float, total: Tensor, outer: Tensor, what: str = "features", ddof: int = 1
) -> tuple[Tensor, Tensor]:
    """(mean, covariance) from the sums n, sum x (D), sum x x^T (D x D), float64 on their device.

    mean = sum x / n; covariance = (sum x x^T - n mean mean^T) / (n - ddof): ddof 1 is ``np.cov``'s
    divisor (GD:174-177), what ``inception-score stats`` files store as ``mu`` and ``sigma``; ddof 0
    is StyleGAN3's biased covariance (SG3 metric_utils.py:130-135, ``--match stylegan``).

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
    sigma.addr_(mu, mu, alpha=-n).div_(n - ddof)
    return mu, sigma


def _check_finite(total: Tensor, outer: Tensor, what: str) -> None:
    if not bool(torch.isfinite(total).all()) or not bool(torch.isfinite(outer).all()):
        raise InputError(f"{what}: the features of some image hold NaN or inf (or overflow), so no FID can be computed")


def _reference_part(reference: Reference, parts: tuple[str, str], metric: str) -> tuple[Tensor, Tensor]:
    mu, sigma = (getattr(reference, p) for p in parts)
    where = reference.where()
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
    """The Fréchet distance in one feature space: float64 sums n, sum x, sum x x^T, and the distance to a reference.

    FID in ``pool3`` (name and field ``fid``, the reference's ``mu``/``sigma``), FD_DINOv2 in
    ``dinov2`` (``fd_dinov2``, ``mu_dinov2``/``sigma_dinov2``: EDM2's statistics, float64 sums,
    divisor N - 1, the same distance), FD_CLIP in ``clip`` (``fd_clip``).

    State (summed when merging): ``count`` (scalar), ``total`` (D), ``outer`` (D x D; 32 MB at
    D = 2048), all float64 on ``device``; each batch costs one float64 n x D x D matrix product there.

    Args:
        reference: a :class:`~.reference.Reference` with the space's mean and covariance; None to
            only accumulate (``inception-score stats`` reads :meth:`moments`), and then no field.
        feature_dim: D when there is no reference (default: the space's width; sFID 2023); with
            one, its D.
        device: where the sums live (the run's device).
        samples: statistics stored with the samples (a :class:`~.reference.Reference` holding
            ``mu``/``sigma``, for sFID ``mu_s``/``sigma_s``): used *instead of* the sums for the
            distance when it holds them, as the ADM evaluator reads a sample batch's stored
            statistics (GD:48-49, 164-172; ``inception_score.evaluate``). The sums are still kept.
        ddof: the covariance divisor is n - ddof (:func:`moments_from_sums`).
        space: the output field it reads (:data:`~inception_score.features.spaces.SPACES`).

    Raises:
        InputError: at construction, a reference without the statistics, of the wrong shapes or
            not finite; in ``update``, features of another width than the reference's (both
            named); in ``fields``, fewer than 2 images or non-finite features.

    Example:
        >>> import numpy as np
        >>> from inception_score.features.outputs import NetworkOutputs
        >>> x = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
        >>> fid = FrechetDistance(Reference(mu=np.array([2.0, 4.0]), sigma=np.array([[4.0, 7.0], [7.0, 13.0]])))
        >>> fid.update(NetworkOutputs(pool3=x), np.arange(3))
        >>> abs(fid.fields({})["fid"]) < 1e-9  # the reference is these three images' statistics
        True
        >>> fd = FrechetDistance(Reference(mu_dinov2=np.zeros(2), sigma_dinov2=np.eye(2)), space="dinov2")
        >>> fd.update(NetworkOutputs(dinov2=x), np.arange(3))
        >>> fd.name, round(fd.fields({})["fd_dinov2"], 4)
        ('fd_dinov2', 29.9525)
    """

    states = {"count": "count", "total": "total", "outer": "outer"}
    default_space: ClassVar[str] = "pool3"

    def __init__(
        self,
        reference: Reference | None = None,
        feature_dim: int | None = None,
        device: torch.device | str = "cpu",
        samples: Reference | None = None,
        ddof: int = 1,
        space: str | None = None,
    ) -> None:
        self.ddof = ddof  # the covariance divisor n - ddof: 1 as np.cov, 0 as StyleGAN3 (--cov-divisor)
        space = space or self.default_space
        self.space = space
        self.name = self.result_field = metric_name("fd", space)  # fid, sfid, fd_dinov2, fd_clip
        self.needs = frozenset({space})
        self.reference_parts = (part_key("mu", space), part_key("sigma", space))
        self.feature_name = SPACES[space].label
        self.label = SPACES[space].fd_label  # in messages: FID, sFID, FD_DINOv2
        self.reference: tuple[Tensor, Tensor] | None = None
        if reference is not None:
            self.reference = _reference_part(reference, self.reference_parts, self.label)  # CPU float64
        self.stored: tuple[Tensor, Tensor] | None = None  # the samples' stored (mu, sigma), CPU float64
        if samples is not None and all(getattr(samples, p) is not None for p in self.reference_parts):
            self.stored = _reference_part(samples, self.reference_parts, self.label)
        dim = len(self.reference[0]) if self.reference is not None else feature_dim or SPACES[space].dim
        if feature_dim is not None and feature_dim != dim:
            raise InputError(
                f"{self.label}: the reference's {self.reference_parts[0]} has {dim} dimensions, but feature_dim is "
                f"{feature_dim}"
            )
        self.dim = dim
        if self.stored is not None and len(self.stored[0]) != dim:
            raise InputError(
                f"{self.label}: the samples' stored {self.reference_parts[0]} has {len(self.stored[0])} dimensions, "
                f"the reference's {dim}"
            )
        self.count = zeros((), device)  # n
        self.total = zeros(dim, device)  # D: sum x
        self.outer = zeros((dim, dim), device)  # D x D: sum x x^T

    def vectors(self, outputs: NetworkOutputs) -> Tensor:
        """The batch's feature vectors, n x D: the space's field."""
        return outputs.require(self.space)

    def update(self, outputs: NetworkOutputs, indices: np.ndarray) -> None:
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
        return moments_from_sums(self.count, self.total, self.outer, self.feature_name, self.ddof)

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        """``{"fid": FID}`` (``sfid``, ``fd_dinov2``... in the other spaces); nothing without a reference."""
        if self.reference is None:
            return {}
        mu, sigma = self.moments()
        if self.stored is not None:  # the sample batch's own statistics, as the ADM evaluator reads them
            mu, sigma = (t.to(mu.device) for t in self.stored)
        ref_mu, ref_sigma = (t.to(mu.device) for t in self.reference)
        if _identical(mu, sigma, ref_mu, ref_sigma):
            return {self.result_field: 0.0}
        ref_name = f"the reference's {self.reference_parts[1]}"
        factor = psd_factor(ref_sigma, ref_name)  # D x r
        return {
            self.result_field: _distance(
                mu, sigma, ref_mu, ref_sigma.trace(), factor, f"the samples' {self.label} covariance"
            )
        }

    def warnings(self, fields: Mapping[str, Any]) -> list[str]:
        """A warning when n <= D: the covariance is singular and FID biased far above its 50k value."""
        n = int(self.count)
        if self.reference is None or self.stored is not None or n > self.dim or n < 2:
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
        >>> from inception_score.features.outputs import NetworkOutputs
        >>> sfid = SpatialFrechetDistance(feature_dim=4 * 7)  # no reference: sums only
        >>> sfid.update(NetworkOutputs(spatial=torch.rand(3, 192, 2, 2)), np.arange(3))
        >>> tuple(sfid.moments()[1].shape), sfid.fields({})
        ((28, 28), {})
    """

    default_space = "spatial"

    def __init__(
        self,
        reference: Reference | None = None,
        feature_dim: int | None = None,
        device: torch.device | str = "cpu",
        samples: Reference | None = None,
        ddof: int = 1,
    ) -> None:
        super().__init__(reference, feature_dim, device, samples, ddof=ddof, space="spatial")

    def vectors(self, outputs: NetworkOutputs) -> Tensor:
        """:func:`spatial_vectors` of the batch's ``spatial`` output, n x 2023 (computed once a batch,
        in ``outputs.memo``, where a holder of already flattened vectors may also put them)."""
        if "spatial_vectors" not in outputs.memo:
            outputs.memo["spatial_vectors"] = spatial_vectors(outputs.require("spatial"))
        return outputs.memo["spatial_vectors"]  # type: ignore[no-any-return]


class FIDInfinity(Accumulator):
    """FID at infinite N (Chong & Forsyth 2020): FID_N of nested random subsets, fitted against 1/N.

    In the space of its ``features`` (pool3: ``fid_infinity``; ``dinov2``: ``fd_infinity_dinov2``...).

    Subset j holds the images whose rank in ``RandomState(seed).permutation(N)`` is below
    N_j = ``subset_sizes(N)[j]`` (linspace(N/10, N, 15): the same subsets, for the same seed, as
    IS at infinite N, :class:`~.uncertainty.NestedSubsets`). One sweep over the rows in rank
    order adds each block of rows to running float64 sums (sum x, sum x x^T), and at each N_j
    the covariance and FID_N against the reference are computed: memory is four D x D float64
    matrices (the running sum, the reference's factor, the covariance and a product: 128 MB at
    D = 2048), the eigenvalue solver's workspace and a block of rows, whatever N.

    Each FID_N is :func:`frechet_distance`'s computation, with the reference's factor R
    (:func:`psd_factor`, S_ref = R R^T) computed once: per subset, M = R^T S_j R and its symmetric
    eigenvalues (:func:`trace_sqrt_product`): exact at any subset size, and the last point equals
    the ``fid`` field (tested to 1e-9).

    Fields: ``fid_infinity`` (the intercept, or None with fewer than 3 subsets) and
    ``fid_infinity_fit`` (``fid_infinity``, ``slope``, ``r2``, ``n``, ``fid_n``; the fit of
    :func:`~.uncertainty.fit_infinity`); in another space ``fd_infinity_dinov2`` and
    ``fd_infinity_dinov2_fit`` (``fd_infinity``, ``slope``, ``r2``, ``n``, ``fd_n``).

    Args:
        features: the run's :class:`~.features.PooledFeatures` (read when the fields are computed).
        reference: a :class:`~.reference.Reference` with the space's mean and covariance.
        seed: the run's seed (the one of IS at infinite N).
        block: rows added at a time (memory: block x D float64).

    Raises:
        InputError: at construction, a reference without mu/sigma or of another width than the
            features; in ``fields``, non-finite features.

    Example:
        >>> import numpy as np
        >>> from inception_score.features.outputs import NetworkOutputs
        >>> kept = PooledFeatures(num_images=200, feature_dim=2)
        >>> kept.update(NetworkOutputs(pool3=torch.randn(200, 2, generator=torch.Generator().manual_seed(0))),
        ...             np.arange(200))
        >>> fit = FIDInfinity(kept, Reference(mu=np.zeros(2), sigma=np.eye(2))).fields({})["fid_infinity_fit"]
        >>> fit["n"][:3], len(fit["fid_n"])
        ([20, 33, 46], 15)
    """

    states: ClassVar[dict[str, str]] = {}

    def __init__(self, features: PooledFeatures, reference: Reference, seed: int = 0, block: int = 2048) -> None:
        self.features, self.seed, self.block = features, seed, block
        space = self.space = getattr(features, "space", "pool3")
        self.name = metric_name("fd_infinity", space)  # fid_infinity, fd_infinity_dinov2...
        self.needs = frozenset({space})  # read through ``features``, which keeps them
        self.label = f"{SPACES[space].fd_label} at infinite N"
        parts = (part_key("mu", space), part_key("sigma", space))
        self.reference = _reference_part(reference, parts, self.label)
        if len(self.reference[0]) != features.rows.shape[1]:
            raise InputError(
                f"{self.label}: the reference's {parts[0]} has {len(self.reference[0])} dimensions, the "
                f"{SPACES[space].label} {features.rows.shape[1]}; they must come from the same network layer"
            )

    def update(self, outputs: NetworkOutputs, indices: np.ndarray) -> None:
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
        factor = psd_factor(ref_sigma, "the reference's sigma")  # D x r
        tr_ref = ref_sigma.trace()
        del ref_sigma
        total, outer = zeros(dim, device), zeros((dim, dim), device)  # running sums over ranks < N_j
        cov = zeros((dim, dim), device)  # reused at each N_j
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
            _check_finite(total, outer, SPACES[self.space].label)
            mu = total / n  # D
            cov.copy_(outer).addr_(mu, mu, alpha=-n).div_(n - 1)  # D x D, as moments_from_sums
            counts.append(n)
            fids.append(
                _distance(mu, cov, ref_mu, tr_ref, factor, f"the covariance of {n} samples' {SPACES[self.space].label}")
            )
        return np.array(counts, dtype=np.int64), np.array(fids, dtype=np.float64)

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        fit = fit_infinity(*self.fid_n())
        if fit is None:
            return {self.name: None, f"{self.name}_fit": None}
        short = "fid" if self.space == "pool3" else "fd"  # the fit's own keys: fid_infinity, fid_n / fd_...
        renamed = {"is_infinity": f"{short}_infinity", "is_n": f"{short}_n"}
        fit = {renamed.get(k, k): v for k, v in fit.items()}
        return {self.name: fit[f"{short}_infinity"], f"{self.name}_fit": fit}

    def warnings(self, fields: Mapping[str, Any]) -> list[str]:
        fit = fields.get(f"{self.name}_fit")
        return infinity_warning(self.label, {"n": fit["n"]} if fit else None)
