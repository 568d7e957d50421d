"""KID: the kernel inception distance, exactly as torch-fidelity defines and seeds it.

KID (Bińkowski et al. 2018, "Demystifying MMD GANs", ICLR, section 5 / appendix) is the squared
maximum mean discrepancy between the samples' and the reference's pool3 features under the
cubic polynomial kernel, estimated without bias on random subsets. As torch-fidelity 0.4 computes
it (TFd = toshas/torch-fidelity 5e211a9; REFERENCE-METRICS §2), with its defaults:

* kernel k(x, y) = (x^T y / d + 1)^3, d = the feature width, 2048 (TFd metric_kid.py:63-70,
  defaults.py:24-27);
* per subset of m samples X and m reference images Y, the unbiased MMD^2
  ``[sum_{i!=j} k(x_i, x_j) + sum_{i!=j} k(y_i, y_j)] / (m (m - 1)) - 2 sum_{i,j} k(x_i, y_j) / m^2``
  (TFd metric_kid.py:21-60);
* 100 subsets of m = 1000 (defaults.py:22-23), drawn with ``numpy.random.RandomState(2020)``
  (defaults.py:59): for each subset ``rng.choice(n_samples, m, replace=False)`` for the samples,
  then the same for the reference (metric_kid.py:117-123), so the same features give the same
  subsets as torch-fidelity;
* the result is the mean over subsets and their population std (``np.std``, ddof 0; :127-130);
* a subset size above either N is refused (:106-111), not shrunk as StyleGAN3 and clean-fid do.

**Other tools' subsets** (``kid_protocol``, set by ``--match``; :data:`KID_PROTOCOLS`): the same
kernel and estimator, drawn as each tool draws them (REFERENCE-METRICS §2):

* ``stylegan`` (StyleGAN2-ADA/StyleGAN3 ``kernel_inception_distance.py``): m = min(N, M, 1000),
  never refused; per subset ``np.random.choice(N, m, replace=False)`` for the samples, then the
  same for the reference; it reports the mean only;
* ``clean-fid`` (CF ``fid.py`` ``kernel_distance``; also dgm-eval ``metrics/mmd.py``): the same
  shrinking m, the **reference drawn first**, then the samples;
* ``torchmetrics`` (TM ``image/kid.py``): refused when m exceeds N or M; per subset
  ``torch.randperm(M)[:m]`` for the reference, then ``torch.randperm(N)[:m]`` for the samples;
  mean and population std.

All three draw from a global, **unseeded** generator, so their numbers change from run to run.
Here the draws come from ``numpy.random.RandomState(seed)`` (``torch.Generator().manual_seed(seed)``
for torchmetrics), with ``--kid-seed``: the same subsets as the tool after ``np.random.seed(seed)``
(``torch.manual_seed(seed)``), which is how the tests compare them.

*Arithmetic*: float32 throughout, as torch-fidelity: the product x^T y, the kernel values and
their sums (NumPy on the CPU, in torch-fidelity's order, so the number is its number to the
bit; torch on a GPU, TF32 off). Float32 sums of 10^6 kernel values carry ~1e-7 absolute
rounding, ~1e-5 relative on a small KID: a float64 computation of the definition would be more
accurate, but would not be the number papers quote from torch-fidelity (tests/test_kernel.py
measures both).

:func:`kernel_inception_distance` is the pure function; :class:`KID` is the run's accumulator,
which keeps no state of its own and reads the samples' features kept by a
:class:`~.features.PooledFeatures` when its fields are computed.

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x, y = torch.rand(60, 8, generator=g), torch.rand(50, 8, generator=g) + 0.5
    >>> mean, std = kernel_inception_distance(x, y, subsets=10, subset_size=40)
    >>> round(mean, 3), round(std, 3)
    (3.343, 0.137)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..checks import check_int
from ..errors import InputError, OptionsError, a
from ..features.outputs import NetworkOutputs
from ..features.runner import ieee_fp32
from ..features.spaces import SPACES, part_key
from .base import Accumulator
from .features import PooledFeatures
from .names import metric_name
from .reference import Reference

__all__ = [
    "kernel_inception_distance",
    "check_kid_sizes",
    "KID",
    "KID_SUBSETS",
    "KID_SUBSET_SIZE",
    "KID_SEED",
    "KID_PROTOCOLS",
    "KIDProtocol",
]

KID_SUBSETS = 100  # TFd defaults.py:22
KID_SUBSET_SIZE = 1000  # TFd defaults.py:23
KID_SEED = 2020  # TFd defaults.py:59 (rng_seed)


@dataclass(frozen=True)
class KIDProtocol:
    """How a tool draws KID's subsets: m shrunk to the smaller set or refused, which set first, which generator."""

    name: str
    shrink: bool  # m = min(N, M, subset_size) instead of refusing a subset larger than a set
    reference_first: bool  # the reference's subset is drawn before the samples'
    generator: str  # numpy: RandomState(seed).choice; torch: randperm(generator seeded)[:m]
    source: str


KID_PROTOCOLS: dict[str, KIDProtocol] = {
    p.name: p
    for p in (
        KIDProtocol("torch-fidelity", False, False, "numpy", "torch-fidelity 0.4 metric_kid.py (seed 2020)"),
        KIDProtocol("stylegan", True, False, "numpy", "StyleGAN3 metrics/kernel_inception_distance.py (unseeded)"),
        KIDProtocol("clean-fid", True, True, "numpy", "clean-fid 0.1.35 fid.py kernel_distance (unseeded)"),
        KIDProtocol("torchmetrics", False, True, "torch", "torchmetrics 1.9 image/kid.py (unseeded randperm)"),
    )
}


def _features(x: Tensor | np.ndarray, name: str) -> Tensor:
    """``x`` as an N x D real tensor, without copying; InputError naming ``name`` otherwise."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "fiu":
            raise InputError(f"KID: the {name} features must be real numbers, got {a(str(x.dtype) + ' array')}")
        x = torch.from_numpy(x)
    if not isinstance(x, Tensor) or x.dtype.is_complex or x.dtype == torch.bool:
        raise InputError(f"KID: the {name} features must be an N x D real tensor or array, got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] == 0:
        raise InputError(f"KID: the {name} features must be an N x D matrix (one row per image), got {tuple(x.shape)}")
    return x


def check_kid_sizes(n_samples: int, n_reference: int, subset_size: int) -> None:
    """Refuse a subset size above either set's size (torch-fidelity refuses it too, TFd metric_kid.py:106-111)."""
    if subset_size > min(n_samples, n_reference):
        raise InputError(
            f"KID subset size {subset_size} (--kid-subset-size) is larger than the number of images: {n_samples:,} "
            f"samples, {n_reference:,} reference images; use --kid-subset-size {min(n_samples, n_reference)} or fewer"
        )


def kernel_inception_distance(
    x: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = KID_SEED,
    device: torch.device | str | None = None,
    protocol: str = "torch-fidelity",
) -> tuple[float, float]:
    """KID of samples ``x`` against reference ``y``: (mean, population std) of the unbiased MMD^2 over subsets.

    Args:
        x: the samples' features, N x D (float32 as torch-fidelity; any real dtype is cast per
            subset), numpy or torch, any device (a CPU memory map is fine: only subsets are read).
        y: the reference's features, M x D.
        subsets: the number of random subsets (torch-fidelity: 100).
        subset_size: m, the images per subset from each set (torch-fidelity: 1000).
        seed: the seed of ``numpy.random.RandomState`` that draws the subsets (torch-fidelity: 2020).
        device: where the kernels are computed (default: ``x``'s device).
        protocol: how the subsets are drawn (:data:`KID_PROTOCOLS`; torch-fidelity's by default).

    Returns:
        (mean, std) as Python floats, in the squared units of the kernel (dimensionless for pool3).

    Raises:
        OptionsError: ``subsets`` < 1 or ``subset_size`` < 2 (the estimator divides by m (m - 1)).
        InputError: not N x D matrices, different D, ``subset_size`` above N or M (both numbers
            named), a NaN or inf among the features.

    Example:
        >>> x = torch.rand(2000, 4, generator=torch.Generator().manual_seed(1))
        >>> mean, std = kernel_inception_distance(x[:1000], x[1000:], subsets=5, subset_size=500)
        >>> abs(mean) < 2 * std  # two halves of one distribution: 0 within the spread over subsets
        True
    """
    subsets = check_int(subsets, "kid_subsets")
    subset_size = check_int(subset_size, "kid_subset_size", minimum=2)
    kind = _protocol(protocol)
    return _kid(_features(x, "sample"), None, _features(y, "reference"), subsets, subset_size, seed, device, kind)


def _protocol(name: str) -> KIDProtocol:
    if name not in KID_PROTOCOLS:
        raise OptionsError(f"kid_protocol: got {name!r}, expected one of {', '.join(KID_PROTOCOLS)}")
    return KID_PROTOCOLS[name]


def _all_finite(t: Tensor, block: int = 4096) -> bool:
    """No NaN or inf, read in blocks of rows: isfinite makes several temporaries of its input's size."""
    return not t.dtype.is_floating_point or all(
        bool(torch.isfinite(t[lo : lo + block]).all()) for lo in range(0, len(t), block)
    )


def _kid(
    x: Tensor,
    x_index: np.ndarray | None,
    y: Tensor,
    subsets: int,
    m: int,
    seed: int,
    device: torch.device | str | None,
    protocol: KIDProtocol = KID_PROTOCOLS["torch-fidelity"],
    label: str = "KID",
) -> tuple[float, float]:
    """:func:`kernel_inception_distance` of the rows ``x_index`` of ``x`` (all rows when None)."""
    if x.shape[1] != y.shape[1]:
        raise InputError(
            f"{label}: the samples' features have {x.shape[1]} dimensions and the reference's {y.shape[1]}; both must "
            f"come from the same network layer{' (pool3: 2048)' if label == 'KID' else ''}"
        )
    n1, n2, d = len(x) if x_index is None else len(x_index), len(y), x.shape[1]
    if protocol.shrink:  # StyleGAN, clean-fid: m = min(N, M, subset size), never refused
        m = min(n1, n2, m)
        if m < 2:
            raise InputError(f"KID: needs at least 2 images in each set, got {n1} samples and {n2} reference images")
    check_kid_sizes(n1, n2, m)
    for name, t in (("sample", x), ("reference", y)):
        if not _all_finite(t):
            raise InputError(f"{label}: the {name} features hold NaN or inf")
    device = torch.device(device) if device is not None else x.device
    draw = _drawer(protocol.generator, seed, m)
    mmd2 = np.zeros(subsets, dtype=np.float64)
    with ieee_fp32(device):
        for i in range(subsets):
            if protocol.reference_first:  # clean-fid, torchmetrics: the reference's subset first
                ref_rows = draw(n2)
                draw_x = draw(n1)
            else:  # torch-fidelity, StyleGAN: the samples first, then the reference (TFd:117-123)
                draw_x = draw(n1)
                ref_rows = draw(n2)
            rows = draw_x if x_index is None else x_index[draw_x]
            a = x.index_select(0, torch.from_numpy(rows).to(x.device))  # m x D
            b = y.index_select(0, torch.from_numpy(ref_rows).to(y.device))  # m x D
            mmd2[i] = _mmd2(a.to(device, torch.float32), b.to(device, torch.float32), d)
    return float(np.mean(mmd2)), float(np.std(mmd2))


def _drawer(generator: str, seed: int, m: int) -> Any:
    """n -> m distinct row indexes (int64 numpy), drawn as the tool draws them, from a generator seeded ``seed``."""
    if generator == "torch":
        g = torch.Generator().manual_seed(seed)
        return lambda n: torch.randperm(n, generator=g)[:m].numpy()  # TM kid.py: randperm(n)[:m]
    rng = np.random.RandomState(seed)
    return lambda n: rng.choice(n, m, replace=False)  # np.random.choice(n, m, replace=False)


def _mmd2(a: Tensor, b: Tensor, d: int) -> float:
    """The unbiased MMD^2 of one pair of subsets, in float32 as torch-fidelity computes it (TFd
    metric_kid.py:21-70): its number includes its float32 rounding, which on a small KID is ~1e-5
    relative (a float64 computation differs from it by that much). On the CPU the same NumPy
    float32 operations in the same order give its bits; on a GPU, torch's float32 operations."""
    m = len(a)
    if a.device.type == "cpu":
        xa, xb = a.numpy(), b.numpy()
        k_xx, k_yy, k_xy = (_poly_np(u, v, d) for u, v in ((xa, xa), (xb, xb), (xa, xb)))
        within = (k_xx.sum(axis=1) - np.diagonal(k_xx)).sum() + (k_yy.sum(axis=1) - np.diagonal(k_yy)).sum()
        return float(within / (m * (m - 1)) - 2 * k_xy.sum(axis=0).sum() / (m * m))
    k_xx, k_yy, k_xy = _poly(a, a, d), _poly(b, b, d), _poly(a, b, d)  # m x m float32 each
    within = (k_xx.sum(dim=1) - k_xx.diagonal()).sum() + (k_yy.sum(dim=1) - k_yy.diagonal()).sum()
    return float(within / (m * (m - 1)) - 2 * k_xy.sum(dim=0).sum() / (m * m))


def _poly_np(a: np.ndarray, b: np.ndarray, d: int) -> np.ndarray:
    """(a b^T / d + 1)^3 in float32 (TFd metric_kid.py:63-70: gamma = 1/d, coef0 = 1, degree 3)."""
    return (np.matmul(a, b.T) * (1.0 / d) + 1) ** 3


def _poly(a: Tensor, b: Tensor, d: int) -> Tensor:
    """:func:`_poly_np` in torch (float32, on the subsets' device)."""
    return (a @ b.T * (1.0 / d) + 1) ** 3


class KID(Accumulator):
    """KID of the run's samples against a reference's features (:func:`kernel_inception_distance`).

    In the space of its ``features``: KID in pool3 (fields ``kid_mean``, ``kid_std``), the same
    kernel distance in DINOv2 space as dgm-eval reports it (``kd_dinov2_mean``, ``kd_dinov2_std``;
    the kernel's d is the space's width) or CLIP space (``kd_clip_...``). No state of its own:
    ``features`` keeps every sample's vectors and is read when the fields are computed, on its
    device. Rows of images the run skipped (never written, all zero) are left out; without such images the subsets are
    exactly torch-fidelity's on the same features.

    Args:
        features: the run's :class:`~.features.PooledFeatures`.
        reference: a :class:`~.reference.Reference` with the space's features (or an M x D matrix).
        subsets, subset_size, seed, protocol: as :func:`kernel_inception_distance` (torch-fidelity's defaults).

    Raises:
        OptionsError: at construction, ``subsets`` < 1 or ``subset_size`` < 2.
        InputError: at construction, before any image is scored: a reference without features
            (statistics only), of another width than the samples', or with fewer images than
            ``subset_size``; fewer samples than ``subset_size``.

    Example:
        >>> import numpy as np
        >>> g = torch.Generator().manual_seed(0)
        >>> kept = PooledFeatures(num_images=40, feature_dim=4)
        >>> kept.update(NetworkOutputs(pool3=torch.rand(40, 4, generator=g)), np.arange(40))
        >>> kid = KID(kept, Reference(features=torch.rand(50, 4, generator=g) + 1), subsets=4, subset_size=20)
        >>> fields = kid.fields({})
        >>> sorted(fields), fields["kid_mean"] > 1
        (['kid_mean', 'kid_std'], True)
    """

    states: dict[str, str] = {}

    def __init__(
        self,
        features: PooledFeatures,
        reference: Reference | Tensor | np.ndarray,
        subsets: int = KID_SUBSETS,
        subset_size: int = KID_SUBSET_SIZE,
        seed: int = KID_SEED,
        protocol: str = "torch-fidelity",
    ) -> None:
        self.features = features
        self.protocol = _protocol(protocol)
        self.space = space = getattr(features, "space", "pool3")
        self.name = metric_name("kd", space)  # kid, kd_dinov2, kd_clip
        self.needs = frozenset({space})  # read through ``features``, which keeps them
        self.label = "KID" if space == "pool3" else SPACES[space].fd_label.replace("FD", "KD")  # KD_DINOv2
        self.subsets = check_int(subsets, "kid_subsets")
        self.subset_size = check_int(subset_size, "kid_subset_size", minimum=2)
        self.seed = seed
        if isinstance(reference, Reference):
            found = reference.features_of(space)
            if found is None:
                key = "" if space == "pool3" else f" ({part_key('features', space)})"
                raise InputError(
                    f"{self.label} needs the reference images' features{key}; {reference.where()} holds only "
                    f"statistics: give a folder of images, an ADM reference batch (arr_0) or a statistics file with "
                    f"features"
                )
            reference = found
        self.reference = _features(reference, "reference")
        num_images, dim = features.rows.shape
        if self.reference.shape[1] != dim:
            raise InputError(
                f"{self.label}: the samples' features have {dim} dimensions and the reference's "
                f"{self.reference.shape[1]}; both must come from the same network layer "
                f"({SPACES[space].label}: {SPACES[space].dim})"
            )
        if not self.protocol.shrink:
            check_kid_sizes(num_images, len(self.reference), self.subset_size)

    def update(self, outputs: NetworkOutputs, indices: np.ndarray) -> None:
        """Nothing: the features are kept by ``features``."""

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        """``kid_mean``, ``kid_std`` (``kd_dinov2_mean``...) over the filled rows (all of them unless the run
        skipped images)."""
        filled = self.features.filled()
        index = None if bool(filled.all()) else filled.nonzero().flatten().cpu().numpy()
        rows = self.features.rows
        mean, std = _kid(rows, index, self.reference, self.subsets, self.subset_size, self.seed, self.features.device,
                         self.protocol, self.label)  # fmt: skip
        self.sizes = (len(self.reference), len(rows) if index is None else len(index))
        return {f"{self.name}_mean": mean, f"{self.name}_std": std}

    def warnings(self, fields: Mapping[str, Any]) -> list[str]:
        """KD is unbiased at any N; what small N costs is its spread, and what its std can say of it."""
        if f"{self.name}_mean" not in fields:
            return []
        m, out = self.subset_size, []
        mean, std = fields[f"{self.name}_mean"], fields[f"{self.name}_std"]
        if m < KID_SUBSET_SIZE:
            out.append(
                f"{self.label} from subsets of {m:,} images (torch-fidelity: {KID_SUBSET_SIZE:,}): unbiased, but its "
                f"spread over subsets grows as they shrink ({self.name}_std {std:.2g} against {self.name}_mean "
                f"{mean:.2g}); compare only with {self.label} from subsets of the same size"
            )
        smallest = min(getattr(self, "sizes", (m, m)))
        if smallest < 2 * m:
            out.append(
                f"{self.label}'s {self.subsets} subsets of {m:,} images are drawn from {smallest:,} images of the "
                f"smaller set: they overlap by more than half, so {self.name}_std understates {self.label}'s "
                f"uncertainty at this N"
            )
        return out
