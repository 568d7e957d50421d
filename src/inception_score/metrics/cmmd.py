"""CMMD: the maximum mean discrepancy of CLIP embeddings with a Gaussian kernel, as Google's reference computes it.

CMMD (Jayasumana et al. 2024, "Rethinking FID: Towards a better evaluation metric for image
generation", CVPR) compares the samples' and the reference's CLIP ViT-L/14@336 image embeddings
(projected, L2-normalised: the ``clip`` feature space) without FID's Gaussian assumption. As
google-research ``cmmd/distance.py`` computes it (CMMD below):

* kernel k(x, y) = exp(-gamma |x - y|^2), sigma = 10, gamma = 1 / (2 sigma^2) = 0.005, with
  |x - y|^2 written ``|x|^2 + |y|^2 - 2 x.y`` (no clamp at 0);
* ``1000 * (mean K_xx + mean K_yy - 2 mean K_xy)`` over the **full** matrices, diagonals
  included: the biased V-statistic, not KID's unbiased estimator (so identical sets give 0,
  and a set against itself is never negative);
* embeddings in batches of 32 with ``drop_remainder=True``: the reference silently leaves out
  the last partial batch (up to 31 images) of each set. ``drop_remainder=True`` here
  (``--cmmd-drop-remainder``) does the same, with the images in the run's order (the first
  ``32 * floor(n / 32)`` of each set); by default every image counts (as the PyTorch port
  sayakpaul/cmmd-pytorch does). The result says which (``cmmd_drop_remainder``) and how many
  images of each set were compared (``cmmd_num_samples``, ``cmmd_num_reference``).

**In blocks.** The three n x n, n x m and m x m kernel matrices are never formed: blocks of
``block`` x ``block`` rows (64 MB of float32 at 4096) are computed, exponentiated and summed one
at a time, the symmetric K_xx and K_yy over their upper triangles of blocks only. Memory does
not grow with N (a 50k x 50k K_xx would be 10 GB).

**Arithmetic.** The products x.y, the squared norms and the kernel values are float32, as the
reference's (JAX float32); the sums of the kernel values are **float64**, where the reference
takes float32 means. Reason: the embeddings are unit vectors, so every kernel value lies in
[exp(-0.02), 1] = [0.980, 1], and CMMD is 1000 x a difference of three means near 0.99 that
cancel to ~1e-4..1e-2: a float32 mean of 2.5e9 values carries ~1e-7 relative rounding, ~1e-4
of CMMD's units, of the size of small CMMD differences between models. Float64 sums remove that
rounding (the result is the formula's value on the float32 kernel values); the reference's own
number differs from it by its float32 rounding (the tests check that bound against the
reference's formula in NumPy float32, and exact agreement with it in float64).

Merging across shards and ranks: the embeddings are kept per image (a
:class:`~.features.PooledFeatures` of the ``clip`` space, 3 KB an image), so shards, ranks and
resumed runs add their rows and CMMD is computed once, on all of them.

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.nn.functional.normalize(torch.randn(40, 8, generator=g), dim=1)
    >>> cmmd(x, x)  # a set against itself: the three means are equal
    0.0
    >>> round(cmmd(x, -x), 2)  # the antipodal set: every cross distance grows
    1.52
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from ..features.outputs import NetworkOutputs
from ..features.runner import ieee_fp32
from .base import Accumulator
from .reference import Reference

__all__ = ["cmmd", "CMMD", "CMMD_SIGMA", "CMMD_SCALE", "CMMD_BATCH", "BLOCK"]

CMMD_SIGMA = 10.0  # CMMD distance.py _SIGMA
CMMD_SCALE = 1000.0  # CMMD distance.py _SCALE
CMMD_BATCH = 32  # CMMD main.py batch size, with drop_remainder=True in io_util.py
BLOCK = 4096  # rows and columns of a block of kernel values (64 MB float32)


def _spans(n: int, block: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + block, n)) for lo in range(0, n, block)]


def _kernel_sum(a: Tensor, b: Tensor | None, block: int) -> float:
    """sum_ij exp(-gamma (|a_i|^2 + |b_j|^2 - 2 a_i.b_j)) in float64 over float32 kernel values;
    ``b`` None: the symmetric sum of ``a`` with itself, over the upper triangle of blocks."""
    gamma = 1.0 / (2.0 * CMMD_SIGMA**2)
    other = a if b is None else b
    sq_a = (a * a).sum(dim=1)  # n, float32: the diagonal of a a^T
    sq_b = sq_a if b is None else (other * other).sum(dim=1)  # m
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    for lo, hi in _spans(len(a), block):
        for clo, chi in _spans(len(other), block):
            if b is None and clo < lo:
                continue  # the lower triangle: the transpose of a block already summed
            d = torch.mm(a[lo:hi], other[clo:chi].T).mul_(-2)  # rows x cols float32: -2 x.y
            d.add_(sq_a[lo:hi, None]).add_(sq_b[None, clo:chi])  # |x|^2 + |y|^2 - 2 x.y, as CMMD (no clamp)
            k = d.mul_(-gamma).exp_()  # float32 kernel values
            weight = 2.0 if b is None and clo > lo else 1.0
            total += weight * k.sum(dtype=torch.float64)
            del d, k
    return float(total)


def _matrix(x: Tensor | np.ndarray, name: str) -> Tensor:
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "fiu":
            raise InputError(f"CMMD: the {name} embeddings must be real numbers, got a {x.dtype} array")
        x = torch.from_numpy(x)
    if not isinstance(x, Tensor) or not x.dtype.is_floating_point and x.dtype in (torch.bool, torch.complex64):
        raise InputError(f"CMMD: the {name} embeddings must be an N x D tensor or array, got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] == 0:
        raise InputError(
            f"CMMD: the {name} embeddings must be an N x D matrix (one row per image), got {tuple(x.shape)}"
        )
    return x


def cmmd(
    x: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    drop_remainder: bool = False,
    block: int = BLOCK,
    device: torch.device | str | None = None,
) -> float:
    """CMMD of samples ``x`` against reference ``y``: ``1000 (mean K_xx + mean K_yy - 2 mean K_xy)``.

    Args:
        x: the samples' CLIP embeddings, N x D (L2-normalised, as the ``clip`` space holds them;
            the formula does not normalise), any real dtype (computed in float32), any device.
        y: the reference's embeddings, M x D.
        drop_remainder: use only the first ``32 * floor(N / 32)`` rows of ``x`` and of ``y``
            (``32 * floor(M / 32)``), as the reference's batching does.
        block: rows and columns of a block of kernel values.
        device: where the kernels are computed (default: ``x``'s device).

    Returns:
        CMMD as a Python float (the reference's units: x 1000).

    Raises:
        InputError: not N x D matrices, different D, a NaN or inf, an empty set (with
            ``drop_remainder``: fewer than 32 images in a set).

    Example:
        >>> x = torch.eye(3)
        >>> round(cmmd(x, x[:2]), 6)  # 1000 (mean K_xx + mean K_yy - 2 mean K_xy), K = exp(-0.005 |.|^2)
        1.65836
    """
    a, b = _matrix(x, "sample"), _matrix(y, "reference")
    if a.shape[1] != b.shape[1]:
        raise InputError(
            f"CMMD: the samples' embeddings have {a.shape[1]} dimensions and the reference's {b.shape[1]}; both must "
            "come from the same network (CLIP ViT-L/14@336: 768)"
        )
    if drop_remainder:
        a, b = a[: len(a) // CMMD_BATCH * CMMD_BATCH], b[: len(b) // CMMD_BATCH * CMMD_BATCH]
    for name, t, n in (("sample", a, len(x)), ("reference", b, len(y))):
        if len(t) == 0:
            least = f"at least {CMMD_BATCH} (one full batch, as --cmmd-drop-remainder keeps)" if drop_remainder else "1"
            raise InputError(f"CMMD: {n} {name} image(s); it needs {least}")
        if not bool(torch.isfinite(t).all()):
            raise InputError(f"CMMD: the {name} embeddings hold NaN or inf")
    where = torch.device(device) if device is not None else a.device
    a, b = a.to(where, torch.float32), b.to(where, torch.float32)
    with ieee_fp32(where), torch.no_grad():
        k_xx = _kernel_sum(a, None, block) / (len(a) * len(a))
        k_yy = _kernel_sum(b, None, block) / (len(b) * len(b))
        k_xy = _kernel_sum(a, b, block) / (len(a) * len(b))
    return CMMD_SCALE * (k_xx + k_yy - 2 * k_xy)


class CMMD(Accumulator):
    """CMMD of the run's samples against the reference's CLIP embeddings (:func:`cmmd`).

    No state of its own: ``features`` (the run's :class:`~.features.PooledFeatures` of the
    ``clip`` space) keeps every sample's embedding and is read when the fields are computed, on
    its device; rows of images the run skipped are left out. Fields: ``cmmd``,
    ``cmmd_drop_remainder``, ``cmmd_num_samples``, ``cmmd_num_reference`` (the images compared).

    Args:
        features: the kept ``clip`` rows (anything with ``rows``; ``filled()`` and ``device`` if it has them).
        reference: a :class:`~.reference.Reference` with ``features_clip`` (or an M x D matrix).
        drop_remainder: as :func:`cmmd` (``--cmmd-drop-remainder``).
        block: as :func:`cmmd`.

    Raises:
        InputError: at construction, before any image is scored: a reference without CLIP
            embeddings, of another width, or (with ``drop_remainder``) under 32 images.

    Example:
        >>> from types import SimpleNamespace
        >>> x = torch.nn.functional.normalize(torch.rand(40, 8, generator=torch.Generator().manual_seed(0)), dim=1)
        >>> fields = CMMD(SimpleNamespace(rows=x), Reference(features_clip=x), drop_remainder=True).fields({})
        >>> fields["cmmd"], fields["cmmd_num_samples"], fields["cmmd_num_reference"]
        (0.0, 32, 32)
    """

    name = "cmmd"
    needs = frozenset({"clip"})  # read through ``features``, which keeps them
    states: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        features: Any,
        reference: Reference | Tensor | np.ndarray,
        drop_remainder: bool = False,
        block: int = BLOCK,
    ) -> None:
        self.features, self.drop_remainder, self.block = features, bool(drop_remainder), block
        if isinstance(reference, Reference):
            found = reference.features_of("clip")
            if found is None:
                raise InputError(
                    f"CMMD needs the reference images' CLIP embeddings (features_clip); {reference.where()} holds "
                    "none: give the reference images, or a file of `inception-score stats --metrics cmmd`"
                )
            reference = found
        self.reference = _matrix(reference, "reference")
        dim = features.rows.shape[1]
        if self.reference.shape[1] != dim:
            raise InputError(
                f"CMMD: the samples' embeddings have {dim} dimensions and the reference's {self.reference.shape[1]}; "
                "both must come from the same network (CLIP ViT-L/14@336: 768)"
            )
        if self.drop_remainder and len(self.reference) < CMMD_BATCH:
            raise InputError(
                f"CMMD: {len(self.reference)} reference image(s); --cmmd-drop-remainder keeps whole batches of "
                f"{CMMD_BATCH}, so it needs at least {CMMD_BATCH}"
            )

    def update(self, outputs: NetworkOutputs, indices: np.ndarray) -> None:
        """Nothing: the embeddings are kept by ``features``."""

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        rows = self.features.rows
        if hasattr(self.features, "filled"):
            filled = self.features.filled()
            if not bool(filled.all()):  # images the run skipped: their rows were never written
                rows = rows.index_select(0, filled.nonzero().flatten().to(rows.device))
        device = getattr(self.features, "device", None)
        value = cmmd(rows, self.reference, self.drop_remainder, self.block, device)
        used = (len(rows) // CMMD_BATCH * CMMD_BATCH, len(self.reference) // CMMD_BATCH * CMMD_BATCH)
        n, m = used if self.drop_remainder else (len(rows), len(self.reference))
        return {"cmmd": value, "cmmd_drop_remainder": self.drop_remainder, "cmmd_num_samples": n,
                "cmmd_num_reference": m}  # fmt: skip
