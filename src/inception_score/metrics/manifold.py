"""Precision/recall and density/coverage: how the samples' pool3 features lie on the reference's.

Both pairs estimate each set's manifold as the union of balls around its points, each ball's
radius the distance to the point's k-th nearest neighbour in its own set.

**Precision and recall** (Kynkäänniemi et al. 2019, "Improved precision and recall metric for
assessing generative models", NeurIPS) exactly as the ADM evaluator computes them
(openai/guided-diffusion ``evaluations/evaluator.py``, GD below; line numbers of 22e0df8):

* distances are **squared** Euclidean, ``max(|u|^2 - 2 u.v + |v|^2, 0)`` (GD:414-430);
* the radius of a point is element k of its partitioned row of distances to its own set, the
  point itself included at (about) 0: its k-th nearest neighbour, k = 3 (GD:212-220, 254, 270-276);
* a point is inside a ball when ``distance <= radius`` (GD:389-391);
* precision = the share of samples inside at least one reference ball, recall = the share of
  reference points inside at least one sample ball (GD:325-359); the reference is the reference
  batch's images (``arr_0``).

``precision="float16"`` (the default) reproduces the evaluator's **float16** arithmetic
(GD:374-384): it casts the float32 features to float16 and builds the distance block with
float16 TensorFlow ops, falling back to float32 for a whole block only when the float16 block
holds a non-finite value. This module rounds to float16 exactly where that graph's ops output
float16, each rounding the correctly rounded one (computed in float32 and rounded once, which is
exact for a single +, -, x of float16 values, 24 >= 2 x 11 + 2 bits):

1. ``tf.cast(features, float16)``: round to nearest even;
2. ``tf.square``: each squared element rounded to float16;
3. ``tf.reduce_sum(..., 1)``: the squared norm, rounded to float16. *Not reproduced*: the
   roundings inside the sum. TensorFlow's GPU kernel keeps its partial sums in float16, added
   in an order set by CUB's version and tuning, which no other code can replay. Here the sum is
   accumulated in float32 and rounded once, the correctly rounded norm (within 0.5 ulp, where
   TensorFlow's can be a few ulp off).
4. ``tf.matmul``: float16 inputs, products accumulated in float32 (TensorFlow's default cuBLAS
   compute type for half, ``TF_FP16_MATMUL_USE_FP32_COMPUTE``), the result rounded to float16.
   Here it is a float32 matrix product of the rounded inputs, rounded to float16. Every product
   is exact in float32, and TF32 and bfloat16 shortcuts are turned off for the call. This is
   also fast on CPUs, where float16 matrix products are slow. The order of the additions is
   the BLAS library's.
5. ``2 * m`` (exact), then ``norm_u - 2m`` and ``(...) + norm_v``, each rounded to float16
   (``-`` before ``+``, as written: the result depends on the order), then ``max(., 0)``; the
   block's values are then compared with the radii in float32, where float16 values are exact.

A block falls back to float32 (TensorFlow's ``tf.cond``) when any of these float16 values is not
finite. *Deviation*: the evaluator checks only after ``max(., 0)``, which turns a ``-inf`` (an
overflowed ``2m``) into a silent distance 0; here that block falls back too. Overflow needs
squared norms above about 32,000, far above pool3's (hundreds).
``precision="float32"`` computes the same expression in float32 throughout (the original
implementation's arithmetic, kynkaat/improved-precision-and-recall-metric precision_recall.py).

**Density and coverage** (Naeem et al. 2020, "Reliable fidelity and diversity metrics for
generative models", ICML) as clovaai/generative-evaluation-prdc computes them (PRDC prdc.py:
12-94): plain (not squared) Euclidean distances, computed as the square root of the squared
distance above in float32 (sklearn's ``pairwise_distances``, float32 after an internal float64
step, may differ in the last bit); the radius r_i of a real point is the distance to its k-th
nearest neighbour other than itself (the diagonal set to 0, as sklearn does); comparisons are
**strict**:

    density  = 1/(k N) sum_j sum_i [d(real_i, fake_j) < r_i]     (N fakes)
    coverage = mean_i [min_j d(real_i, fake_j) < r_i]

Memory stays bounded whatever the number of images: distances are computed in blocks of at most
``block x block`` (default 10,000 x 10,000, the evaluator's batch sizes), a running top-(k+1)
per row gives the radii, and only per-point booleans are kept. Nothing N x M is ever held (the
evaluator holds a 10,000 x N float32 buffer, 2 GB at N = 50,000). Each block is computed on the
device the features are on (a GPU when they are CUDA tensors), or on the one named. The pure
functions :func:`precision_recall` and :func:`density_coverage` work on any two feature matrices.
:class:`PrecisionRecall` and :class:`DensityCoverage` are the run's accumulators. They keep no
state: at the end they read the sample features that :class:`~.features.PooledFeatures` kept
(memory-mapped rows included) and the reference's.

Example:
    >>> import torch
    >>> line = torch.zeros(6, 4)
    >>> line[:, 0] = torch.arange(6.0)  # reference points 0, 1, ..., 5 on a line
    >>> samples = torch.zeros(4, 4)
    >>> samples[:, 0] = torch.tensor([-3.0, -3.5, 1.0, 9.0])
    >>> precision_recall(samples, line, k=3)  # -3 is exactly 3 from point 0, whose radius is 3: inside
    (0.5, 1.0)
    >>> density_coverage(samples, line, k=3)  # strict <: -3 is outside; 1.0 is in the balls of 0, 1, 2
    (0.25, 0.5)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..checks import check_choice, check_int
from ..errors import InputError, OptionsError, a, ordinal, plural, warn
from ..features.outputs import NetworkOutputs
from ..features.spaces import SPACES, part_key
from .base import Accumulator
from .names import metric_name
from .reference import Reference

__all__ = [
    "precision_recall",
    "density_coverage",
    "check_reference_size",
    "PrecisionRecall",
    "DensityCoverage",
    "PR_K",
    "PRDC_K",
    "BLOCK",
    "PRECISIONS",
    "RELIABLE_N",
    "few_images_message",
    "subsample",
]

PR_K = 3  # GD:212-220, nhood_sizes=(3,)
PRDC_K = 5  # the prdc README's example (nearest_k has no default there)
BLOCK = 10_000  # GD:212-220, row_batch_size = col_batch_size = 10000
PRECISIONS = ("float16", "float32")  # float16: the ADM evaluator's distances (GD:374-384)
# Under this many images in either set the k-th-neighbour balls are coarse (each holds k of the
# few others) and the four numbers move with N: a warning says so. The
# published protocols use 10,000 reference and 50,000 sample images.
RELIABLE_N = 1_000


# ---------------------------------------------------------------- the feature sets, block by block


def _matrix(x: Any, name: str) -> Tensor:
    """``x`` (Tensor or array, N x D, real numbers) as a tensor, without copying; InputError otherwise."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "fiu":
            raise InputError(f"{name}: expected real-valued features, got {a(str(x.dtype) + ' array')}")
        x = torch.from_numpy(x)
    if not isinstance(x, Tensor):
        raise InputError(f"{name}: expected an N x D tensor or array of features, got {type(x).__name__}")
    if x.dtype.is_complex or x.dtype == torch.bool:
        raise InputError(f"{name}: expected real-valued features, got {x.dtype}")
    if x.ndim != 2 or x.shape[1] == 0:
        raise InputError(
            f"{name}: expected an N x D matrix of features (one row per image), got shape {tuple(x.shape)}"
        )
    return x


def check_reference_size(num_reference: int, k: int, metric: str) -> None:
    """Refuse a reference too small for ``k``: each reference image's radius is the distance to its
    k-th nearest neighbour among the others, so k + 1 images are needed. Called before any sample is
    scored (by the run, as soon as the reference's size is known, and by the accumulators).

    Raises:
        InputError: ``num_reference`` < k + 1, naming the metric, k and both counts.

    Example:
        >>> check_reference_size(3, 3, "precision/recall")
        Traceback (most recent call last):
        ...
        inception_score.errors.InputError: precision/recall with k=3: the reference has 3 images, expected at least 4 (each one's radius is the distance to its 3rd nearest neighbour among them)
    """  # noqa: E501
    if num_reference < k + 1:
        raise InputError(
            f"{metric} with k={k}: the reference has {plural(num_reference, 'image')}, expected at least {k + 1} "
            f"(each one's radius is the distance to its {ordinal(k)} nearest neighbour among them)"
        )


def _check_width(x_dim: int, y_dim: int, metric: str) -> None:
    if x_dim != y_dim:
        raise InputError(
            f"{metric}: the samples' features have {x_dim} dimensions and the reference's {y_dim}; "
            "both must come from the same network layer (pool3: 2048)"
        )


def _count(x: Tensor, index: Tensor | None) -> int:
    """The rows of ``x`` scored: those of ``index``, or all."""
    return len(x) if index is None else len(index)


def _checked(
    x: Tensor, y: Tensor, num_samples: int, k: int, metric: str, sample_minimum: int, num_reference: int
) -> None:
    _check_width(x.shape[1], y.shape[1], metric)
    check_reference_size(num_reference, k, metric)
    if num_samples < sample_minimum:
        why = (
            f" (each one's radius is the distance to its {ordinal(k)} nearest neighbour among them)"
            if sample_minimum > 1
            else ""
        )
        raise InputError(
            f"{metric} with k={k}: got {plural(num_samples, 'sample')}, expected at least {sample_minimum}{why}"
        )


def _device(device: torch.device | str | None, *tensors: Tensor) -> torch.device:
    """Where the blocks are computed: ``device``, else the first accelerator among the inputs' devices, else the CPU."""
    if device is not None:
        try:
            return torch.device(device)
        except (RuntimeError, TypeError):
            raise OptionsError(f"device: got {device!r}, expected a torch device such as cpu or cuda:0") from None
    for t in tensors:
        if t.device.type != "cpu":
            return t.device
    return torch.device("cpu")


def _spans(n: int, block: int) -> Iterator[tuple[int, int]]:
    """Consecutive [lo, hi) of at most ``block`` rows, as the evaluator's loops (GD:251-262)."""
    for lo in range(0, n, block):
        yield lo, min(lo + block, n)


class _Set:
    """One set of features (rows ``index`` of x, N x D, any device, possibly memory-mapped) read block
    by block, with its squared norms in float32 and, for the float16 path, as the evaluator's graph
    computes them."""

    def __init__(
        self, x: Tensor, name: str, device: torch.device, half: bool, block: int, index: Tensor | None = None
    ) -> None:
        self.x, self.device = x, device
        self.index = None if index is None else index.to(x.device)  # N int64, rows of x; None: all
        n = len(self)
        self.norms = torch.empty(n, dtype=torch.float32, device=device)  # N, |u|^2 in float32
        self.norms16 = torch.empty(n, dtype=torch.float16, device=device) if half else None  # N
        for lo, hi in _spans(n, block):
            u = self.rows(lo, hi, half=False)  # b x D float32
            if not bool(torch.isfinite(u).all()):
                bad = lo + int((~torch.isfinite(u)).any(dim=1).nonzero()[0])
                bad = bad if self.index is None else int(self.index[bad])
                raise InputError(f"{name}: row {bad} of the features holds NaN or infinite values (in float32)")
            self.norms[lo:hi] = (u * u).sum(dim=1)
            if self.norms16 is not None:
                u16 = u.half().float()  # tf.cast(U, float16): b x D, values exact in float32
                # tf.square rounds each square to float16; tf.reduce_sum(., 1) rounds the norm (step 3)
                self.norms16[lo:hi] = (u16 * u16).half().float().sum(dim=1).half()

    def __len__(self) -> int:
        return len(self.x) if self.index is None else len(self.index)

    def rows(self, lo: int, hi: int, half: bool) -> Tensor:
        """Rows lo..hi-1 in float32 on the device; with ``half``, rounded to float16 first (step 1)."""
        u = self.x[lo:hi] if self.index is None else self.x[self.index[lo:hi]]
        u = u.to(device=self.device, dtype=torch.float32)  # b x D
        return u.half().float() if half else u


@contextlib.contextmanager
def _ieee_float32() -> Iterator[None]:
    """Full float32 matrix products (no TF32 / bfloat16 shortcuts) inside the block, whatever the user set."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


_CHUNK_BYTES = 64 * 2**20  # float32 products held at once while a float16 block is filled


def _squared_distances(a: _Set, ar: tuple[int, int], b: _Set, br: tuple[int, int], half: bool) -> tuple[Tensor, bool]:
    """``max(|u|^2 - 2 u.v + |v|^2, 0)`` for u in rows ``ar`` of ``a``, v in rows ``br`` of ``b`` (GD:414-430).

    With ``half``, the evaluator's float16 block (steps 1-5 of the module docstring; a float16
    tensor) unless one of its values is not finite; then, and without ``half``, float32. Returns the
    block (rows of a x rows of b) and whether it fell back to float32.
    """
    if half:
        assert a.norms16 is not None and b.norms16 is not None
        d = torch.empty((ar[1] - ar[0], br[1] - br[0]), dtype=torch.float16, device=a.device)  # b x c
        v = b.rows(*br, half=True)  # c x D
        finite = torch.ones((), dtype=torch.bool, device=a.device)
        # row chunks: never the whole float32 product next to its float16 copy (same values)
        for lo, hi in _spans(len(d), max(1, _CHUNK_BYTES // (4 * d.shape[1]))):
            part = d[lo:hi]
            part.copy_(a.rows(ar[0] + lo, ar[0] + hi, half=True) @ v.T)  # matmul, rounded to float16
            part.mul_(-2)  # -2m: exact in float16 (or inf on overflow)
            part.add_(a.norms16[ar[0] + lo : ar[0] + hi, None])  # norm_u - 2m, rounded to float16
            part.add_(b.norms16[None, br[0] : br[1]])  # (norm_u - 2m) + norm_v, rounded to float16
            finite &= torch.isfinite(part).all()
        if bool(finite):
            return d.clamp_min_(0), False
        del d, v  # GD:379-383: the whole block again in float32
    d = a.rows(*ar, half=False) @ b.rows(*br, half=False).T  # float32
    d.mul_(-2).add_(a.norms[ar[0] : ar[1], None]).add_(b.norms[None, br[0] : br[1]])
    return d.clamp_min_(0), half


def _within(d: Tensor, radii: Tensor) -> Tensor:
    """``d <= radii`` (broadcast), computed in float16 when both are exactly float16 (no float32 copy of d)."""
    if d.dtype == torch.float16:
        radii16 = radii.half()
        if bool((radii16.float() == radii).all()):  # always, unless a radius comes from a float32 fallback
            return d <= radii16
    return d <= radii


def _radii(s: _Set, k: int, half: bool, block: int, plain: bool) -> tuple[Tensor, int]:
    """Each point's distance to its k-th nearest neighbour in its own set, itself included at index 0.

    Squared distances as the evaluator (``plain`` False: element k of the partitioned row, the
    diagonal as computed, GD:270-276), or plain ones with the diagonal 0 (``plain`` True: the
    largest of the k+1 smallest, PRDC:27-51). A running top-(k+1) per row over column blocks
    replaces the evaluator's full row (the value is the same). Returns the radii (N float32) and
    the number of blocks that fell back to float32.
    """
    radii = torch.empty(len(s), dtype=torch.float32, device=s.device)  # N
    fallbacks = 0
    for rows in _spans(len(s), block):
        best: Tensor | None = None  # b x (<= k+1): the smallest distances of each row so far
        for cols in _spans(len(s), block):
            d, fell = _squared_distances(s, rows, s, cols, half)  # b x c
            fallbacks += fell
            if plain:
                d = d.sqrt_()
                lo, hi = max(rows[0], cols[0]), min(rows[1], cols[1])
                if lo < hi:  # the block holds part of the diagonal: a point is at 0 from itself
                    i = torch.arange(lo, hi, device=d.device)
                    d[i - rows[0], i - cols[0]] = 0
            smallest = torch.topk(d, min(k + 1, d.shape[1]), dim=1, largest=False).values.float()
            if best is not None:
                smallest = torch.cat([best, smallest], dim=1)
                smallest = torch.topk(smallest, min(k + 1, smallest.shape[1]), dim=1, largest=False).values
            best = smallest
            del d
        assert best is not None and best.shape[1] == k + 1
        radii[rows[0] : rows[1]] = best.max(dim=1).values
    return radii, fallbacks


# ---------------------------------------------------------------- the two pairs of metrics


def _precision_recall(
    samples: Any,
    reference: Any,
    k: int,
    precision: str,
    block: int,
    device: torch.device | str | None = None,
    index: Tensor | None = None,
    ref_index: Tensor | None = None,
) -> tuple[float, float, int]:
    """(precision, recall, number of blocks computed in float32 after a float16 overflow), of the
    rows ``index`` of ``samples`` against the rows ``ref_index`` of ``reference`` (None: all)."""
    k = check_int(k, "precision/recall k")
    precision = check_choice(precision, "precision/recall precision", PRECISIONS)
    block = check_int(block, "precision/recall block")
    x, y = _matrix(samples, "samples"), _matrix(reference, "reference")
    _checked(x, y, _count(x, index), k, "precision/recall", k + 1, _count(y, ref_index))
    half, where = precision == "float16", _device(device, x, y)
    with _ieee_float32(), torch.no_grad():
        fake = _Set(x, "samples", where, half, block, index)
        real = _Set(y, "reference", where, half, block, ref_index)
        real_radii, fell_real = _radii(real, k, half, block, plain=False)  # M, GD:55 manifold_radii(ref)
        fake_radii, fell_fake = _radii(fake, k, half, block, plain=False)  # N
        fake_in = torch.zeros(len(fake), dtype=torch.bool, device=where)  # inside some reference ball
        real_in = torch.zeros(len(real), dtype=torch.bool, device=where)  # inside some sample ball
        fallbacks = fell_real + fell_fake
        for rows in _spans(len(real), block):  # GD evaluate_pr: rows = reference, columns = samples
            for cols in _spans(len(fake), block):
                d, fell = _squared_distances(real, rows, fake, cols, half)  # b x c
                fallbacks += fell
                fake_in[cols[0] : cols[1]] |= _within(d, real_radii[rows[0] : rows[1], None]).any(dim=0)
                real_in[rows[0] : rows[1]] |= _within(d, fake_radii[None, cols[0] : cols[1]]).any(dim=1)
                del d
    return int(fake_in.sum()) / len(fake), int(real_in.sum()) / len(real), fallbacks  # no float64: MPS


def precision_recall(
    samples: Tensor | np.ndarray,
    reference: Tensor | np.ndarray,
    k: int = PR_K,
    precision: str = "float16",
    block: int = BLOCK,
    device: torch.device | str | None = None,
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of the samples against the reference,
    as the ADM evaluator computes them (GD:212-220, 241-359, 362-430; see the module docstring).

    Args:
        samples: N x D features of the generated images (pool3: D = 2048), any real dtype
            (cast to float32 as the evaluator's activations are), on any device; N >= k + 1.
        reference: M x D features of the reference images (an ADM batch's ``arr_0``); M >= k + 1.
        k: the neighbourhood size: each ball's radius is its centre's k-th nearest neighbour.
        precision: ``"float16"``, the evaluator's distance arithmetic, or ``"float32"``.
        block: the largest number of rows and of columns of a block of distances. Memory does
            not grow with N or M: under 1 GB at the default 10,000 (0.58 GB measured in float16,
            0.51 GB in float32, at 20,000 x 10,000 x 2048; benchmarks/manifold_memory.py), about
            0.35 GB at 5,000.
        device: where the distances are computed (default: the device of whichever input is on
            an accelerator, else the CPU); the inputs are moved there block by block.

    Returns:
        (precision, recall): the share of samples inside at least one reference ball, the share
        of reference images inside at least one sample ball (``squared distance <= radius``).

    Raises:
        OptionsError: k or block not a positive integer, precision not float16/float32, an
            unknown device.
        InputError: not an N x D matrix, the two D differ, fewer than k + 1 rows, a NaN or inf.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> real = torch.rand(50, 16, generator=g)
        >>> precision_recall(real, real, precision="float32")  # a set against itself
        (1.0, 1.0)
        >>> precision_recall(real + 10, real)  # far apart
        (0.0, 0.0)
    """
    p, r, fallbacks = _precision_recall(samples, reference, k, precision, block, device)
    if fallbacks:
        warn(_fallback_message(fallbacks))
    return p, r


def few_images_message(metric: str, k: int, num_reference: int, num_samples: int) -> str | None:
    """The warning for a manifold metric computed from fewer than :data:`RELIABLE_N` images in a
    set, in its own terms (k against N); None when both sets are large enough.

    Example:
        >>> few_images_message("precision/recall", 3, 5, 40)[:60]
        'precision/recall from 5 reference and 40 sample images (k = '
    """
    smallest = min(num_reference, num_samples)
    if smallest >= RELIABLE_N:
        return None
    share = min(1.0, k / max(1, smallest - 1))
    rises = "coverage rises" if metric.startswith("density") else "both rise"
    return (
        f"{metric} from {num_reference:,} reference and {num_samples:,} sample images (k = {k}): each "
        f"image's k-th-neighbour ball holds {share:.0%} of the other images of the smaller set, so the manifolds "
        f"are coarse and {metric} {'move' if '/' in metric else 'moves'} with N ({rises} as N falls); compare "
        f"only at the same N and k "
        f"(published numbers use 10,000 reference and 50,000 sample images)"
    )


def _fallback_message(fallbacks: int) -> str:
    return (
        f"precision/recall: {fallbacks} block(s) of float16 distances overflowed and were computed in float32, "
        "as the ADM evaluator does: these features exceed float16's range (pool3 features do not)"
    )


def density_coverage(
    samples: Tensor | np.ndarray,
    reference: Tensor | np.ndarray,
    k: int = PRDC_K,
    block: int = BLOCK,
    device: torch.device | str | None = None,
) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020) of the samples (fakes) against the reference (reals),
    as clovaai/generative-evaluation-prdc computes them (PRDC prdc.py:12-94), in float32 blocks.

    Args:
        samples: N x D features of the generated images, any real dtype, any device; N >= 1.
        reference: M x D features of the real images; M >= k + 1.
        k: the neighbourhood size: r_i is the distance from real i to its k-th nearest other real.
        block: the largest number of rows and of columns of a block of distances (memory under
            1 GB at the default 10,000, 0.57 GB measured; about 0.2 GB at 5,000).
        device: where the distances are computed (default: as :func:`precision_recall`).

    Returns:
        (density, coverage): ``1/(k N) sum_j sum_i [d(real_i, fake_j) < r_i]`` (1 on average when
        the fakes are distributed as the reals; above 1 where they crowd into dense regions) and
        ``mean_i [min_j d(real_i, fake_j) < r_i]`` (plain Euclidean distances, strict ``<``).

    Raises:
        OptionsError: k or block not a positive integer, an unknown device.
        InputError: not an N x D matrix, the two D differ, too few rows, a NaN or inf.

    Warns:
        InceptionScoreWarning: when reference radii are 0 (within float32 rounding: k other reference
            images identical to one), however many, with their number: such a ball holds nothing under
            the strict ``<``, which is prdc's arithmetic and is kept.

    Example:
        >>> import torch
        >>> real = torch.rand(40, 8, generator=torch.Generator().manual_seed(0))
        >>> density_coverage(real, real)  # each ball holds its centre and its k-1 nearest neighbours
        (1.0, 1.0)
    """
    density, coverage, zero = _density_coverage(samples, reference, k, block, device)
    if zero:
        warn(_zero_radii_message(zero, len(reference), k))
    return density, coverage


def _zero_radii_message(zero: int, total: int, k: int) -> str:
    """The warning for ``zero`` reference radii of 0 among ``total`` (whatever their share)."""
    if zero == total:
        who = "every reference image has"
    else:
        who = f"{zero} of the {total} reference images {'has' if zero == 1 else 'have'}"
    return (
        f"density/coverage: {who} a radius of 0 (within float32 rounding: its {ordinal(k)} nearest other "
        "reference image is identical to it; duplicates in the reference?). Under prdc's strict < such a ball "
        "holds no sample, so density and coverage count nothing through it (the numbers are prdc's)"
    )


def _density_coverage(
    samples: Any,
    reference: Any,
    k: int,
    block: int,
    device: torch.device | str | None = None,
    index: Tensor | None = None,
    ref_index: Tensor | None = None,
) -> tuple[float, float, int]:
    """(density, coverage, the number of reference radii that are 0 within float32 rounding) of the
    rows ``index`` of ``samples`` against the rows ``ref_index`` of ``reference`` (None: all)."""
    k = check_int(k, "density/coverage k")
    block = check_int(block, "density/coverage block")
    x, y = _matrix(samples, "samples"), _matrix(reference, "reference")
    _checked(x, y, _count(x, index), k, "density/coverage", 1, _count(y, ref_index))
    where = _device(device, x, y)
    with _ieee_float32(), torch.no_grad():
        fake, real = (
            _Set(x, "samples", where, False, block, index),
            _Set(y, "reference", where, False, block, ref_index),
        )
        radii, _ = _radii(real, k, half=False, block=block, plain=True)  # M, PRDC:27-51
        # A radius of 0: k other reference points identical to this one. Identical rows give a squared
        # distance of |u|^2 - 2 u.u + |u|^2 in float32, 0 only up to rounding (at most ~D eps |u|^2)
        rounding = y.shape[1] * torch.finfo(torch.float32).eps
        zero = int(torch.count_nonzero(radii.square() <= rounding * real.norms))
        inside = torch.zeros((), dtype=torch.int64, device=where)  # sum_ij [d_ij < r_i]
        covered = torch.zeros(len(real), dtype=torch.bool, device=where)
        for rows in _spans(len(real), block):
            for cols in _spans(len(fake), block):
                d, _ = _squared_distances(real, rows, fake, cols, half=False)  # b x c
                closer = d.sqrt_() < radii[rows[0] : rows[1], None]  # PRDC:76-94, strict
                inside += torch.count_nonzero(closer)  # (a bool sum would copy to int64)
                covered[rows[0] : rows[1]] |= closer.any(dim=1)
                del d, closer
    return int(inside) / (k * len(fake)), int(covered.sum()) / len(real), zero


# ---------------------------------------------------------------- the accumulators of a run


def subsample(num_reference: int, num_samples: int, size: int | None, seed: int) -> tuple[Tensor, Tensor] | None:
    """dgm-eval's subsets for precision/recall/density/coverage (DGM ``__main__.py`` L172-181): both
    sets cut to m = min(size, M, N) images, the reference's rows drawn first, then the samples', each
    ``choice(n, m, replace=False)`` of NumPy's legacy generator; dgm-eval draws from the unseeded
    global one, here from ``RandomState(seed)``, so the draw is reproducible and equals dgm-eval's
    after ``np.random.seed(seed)``. The four numbers do not depend on the order of the rows: the
    rows come back sorted (int64 tensors of m rows, reference's first). None when ``size`` is None.

    Both sets are cut to the same m even when one is smaller than ``size`` (dgm-eval's rule).

    Example:
        >>> ref, samples = subsample(100, 50, 10, seed=0)
        >>> len(ref), len(samples), bool((ref < 100).all() and (samples < 50).all())
        (10, 10, True)
        >>> [len(rows) for rows in subsample(100, 8, 10, seed=0)]  # m = min(10, 100, 8)
        [8, 8]
    """
    if size is None:
        return None
    m = min(size, num_reference, num_samples)
    draw = np.random.RandomState(seed)
    ref = draw.choice(num_reference, m, replace=False)
    samples = draw.choice(num_samples, m, replace=False)
    return torch.from_numpy(np.sort(ref)), torch.from_numpy(np.sort(samples))


def _scored_rows(
    features: Any, num_reference: int, size: int | None, seed: int
) -> tuple[Tensor, torch.device | None, Tensor | None, Tensor | None]:
    """The kept sample features (:func:`_kept`) and the rows of each set to score: the samples'
    (None: all) and the reference's (None: all), cut by :func:`subsample` when ``size`` is set."""
    rows, device, index = _kept(features)
    cut = subsample(num_reference, len(rows) if index is None else len(index), size, seed)
    if cut is None:
        return rows, device, index, None
    ref_index, picked = cut
    return rows, device, (picked if index is None else index[picked]), ref_index


def _reference_features(
    reference: Reference | Tensor | np.ndarray, metric: str, what: str, space: str = "pool3"
) -> Tensor | np.ndarray:
    if not isinstance(reference, Reference):
        return reference
    found = reference.features_of(space)
    if found is None:
        held = "statistics only (mu/sigma)" if space == "pool3" else f"no {part_key('features', space)}"
        raise InputError(
            f"{metric}: the reference ({reference.where()}) holds {held}; {what} need the reference "
            "images themselves, e.g. an ADM reference batch with its arr_0 or a folder of images"
        )
    return found


def _check_at_construction(features: Any, reference: Tensor | np.ndarray, k: int, metric: str) -> None:
    """What can be refused before any sample is scored: the reference's size against k, and its
    width against the kept features' (when ``features`` has its ``rows`` already)."""
    reference = _matrix(reference, "reference")
    check_reference_size(len(reference), k, metric)
    rows = getattr(features, "rows", None)
    if rows is not None and getattr(rows, "ndim", 0) == 2:
        _check_width(rows.shape[1], reference.shape[1], metric)


def _kept(features: Any) -> tuple[Tensor, torch.device | None, Tensor | None]:
    """The kept sample features: all ``rows``, where to compute (``device``, the run's, if it has
    one) and which rows were written (``filled()``, if it has one: None when all were)."""
    filled = features.filled() if hasattr(features, "filled") else None
    index = None if filled is None or bool(filled.all()) else filled.nonzero().flatten()
    return features.rows, getattr(features, "device", None), index


class _Neighbourhoods(Accumulator):
    """What precision/recall and density/coverage share: the kept sample features of one space, the
    reference's, k, the block size, the subsets (:func:`subsample`) and the sizes scored."""

    kind = ""  # pr, prdc
    label = ""  # for messages: precision/recall, density/coverage

    def _setup(self, features: Any, reference: Any, k: int, block: int, subsample: int | None, seed: int) -> None:
        self.features = features
        self.space = space = getattr(features, "space", "pool3")
        self.name = metric_name(self.kind, space)  # pr, pr_dinov2, prdc_clip...
        self.needs = frozenset({space})  # read through ``features``, which keeps them
        self.suffix = SPACES[space].suffix
        label = self.label + ("" if space == "pool3" else f" ({SPACES[space].label})")
        self.reference = _reference_features(reference, label, self.label.replace("/", " and "), space)
        self.k = check_int(k, f"{self.label} k")
        self.block = check_int(block, f"{self.label} block")
        self.subsample = None if subsample is None else check_int(subsample, f"{self.label} subsample", self.k + 1)
        self.seed = seed
        self.sizes = (0, 0)  # reference, samples: set when the fields are computed

    def update(self, outputs: NetworkOutputs, indices: np.ndarray) -> None:
        """Nothing: the features are kept by ``features``."""

    def _scored(self) -> tuple[Tensor, torch.device | None, Tensor | None, Tensor | None]:
        """:func:`_scored_rows` of this run, its sizes kept for the warnings."""
        rows, device, index, ref_index = _scored_rows(self.features, len(self.reference), self.subsample, self.seed)
        self.sizes = (_count(self.reference, ref_index), _count(rows, index))
        return rows, device, index, ref_index


class PrecisionRecall(_Neighbourhoods):
    """Precision and recall of the run's samples against the reference (:func:`precision_recall`).

    No state of its own. ``features`` is the run's :class:`~.features.PooledFeatures` (or anything
    with a ``rows`` tensor, N x 2048): when the fields are computed, it reads the rows that
    ``features.filled()`` marks (all rows if it has no such method) on ``features.device`` (the
    run's device; default: as :func:`precision_recall`). ``reference`` is a
    :class:`~.reference.Reference` with features (or an M x 2048 matrix).
    In the space of ``features`` (its ``space``, default pool3); in DINOv2 or CLIP space the fields
    carry the space's suffix (``improved_precision_dinov2``...), ``pr_k`` and ``pr_distances`` not.
    Fields: ``improved_precision``, ``improved_recall`` (the paper's title; ``precision`` names the
    network's arithmetic in a result), ``pr_k``, ``pr_distances``, ``prdc_subsample`` (the images of
    each set scored when ``subsample`` cut them, :func:`subsample` with ``seed``; None: all).

    Raises:
        InputError: at construction (before any sample is scored), a reference without features
            (statistics only), with fewer than k + 1 images, or of another width than ``features``.
        OptionsError: at construction, k, precision or block out of range.

    Example:
        >>> import numpy as np, torch
        >>> from inception_score.features.outputs import NetworkOutputs
        >>> from inception_score.metrics.features import PooledFeatures
        >>> real = torch.rand(30, 8, generator=torch.Generator().manual_seed(0))
        >>> kept = PooledFeatures(num_images=30, feature_dim=8)
        >>> pr = PrecisionRecall(kept, Reference(features=real))
        >>> kept.update(NetworkOutputs(pool3=real + 10), np.arange(30))  # the run, batch by batch
        >>> fields = pr.fields({})
        >>> fields["improved_precision"], fields["improved_recall"], fields["pr_k"], fields["pr_distances"]
        (0.0, 0.0, 3, 'float16')
    """

    kind, label = "pr", "precision/recall"

    def __init__(
        self,
        features: Any,
        reference: Reference | Tensor | np.ndarray,
        k: int = PR_K,
        precision: str = "float16",
        block: int = BLOCK,
        subsample: int | None = None,
        seed: int = 0,
    ) -> None:
        self._setup(features, reference, k, block, subsample, seed)
        self.precision = check_choice(precision, "precision/recall precision", PRECISIONS)
        self.fallbacks = 0
        _check_at_construction(features, self.reference, self.k, "precision/recall")

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        rows, device, index, ref_index = self._scored()
        p, r, self.fallbacks = _precision_recall(
            rows, self.reference, self.k, self.precision, self.block, device, index, ref_index
        )
        return {
            f"improved_precision{self.suffix}": p,
            f"improved_recall{self.suffix}": r,
            "pr_k": self.k,
            "pr_distances": self.precision,
            "prdc_subsample": None if ref_index is None else len(ref_index),
        }

    def warnings(self, fields: Mapping[str, Any]) -> list[str]:
        asked = f"improved_precision{self.suffix}" in fields
        few = few_images_message("precision/recall", self.k, *self.sizes) if asked else None
        return [m for m in (few, _fallback_message(self.fallbacks) if self.fallbacks else None) if m]


class DensityCoverage(_Neighbourhoods):
    """Density and coverage of the run's samples against the reference (:func:`density_coverage`).

    No state of its own; ``features`` and ``reference`` as for :class:`PrecisionRecall`.
    Fields: ``density``, ``coverage``, ``prdc_k`` (``density_dinov2``, ``coverage_clip``... in the
    other spaces: dgm-eval's density/coverage in DINOv2 space), ``prdc_subsample`` (as for
    :class:`PrecisionRecall`: dgm-eval scores both on the same subsets, and so do these).

    Raises:
        InputError: at construction (before any sample is scored), a reference without features
            (statistics only), with fewer than k + 1 images, or of another width than ``features``.
        OptionsError: at construction, k or block out of range.

    Warns (``warnings``): when reference radii are 0 (k other reference images identical to one),
    however many: the numbers are prdc's, and such balls count nothing.

    Example:
        >>> import torch
        >>> from types import SimpleNamespace
        >>> real = torch.rand(30, 8, generator=torch.Generator().manual_seed(0))
        >>> DensityCoverage(SimpleNamespace(rows=real), Reference(features=real)).fields({})
        {'density': 1.0, 'coverage': 1.0, 'prdc_k': 5, 'prdc_subsample': None}
    """

    kind, label = "prdc", "density/coverage"

    def __init__(
        self,
        features: Any,
        reference: Reference | Tensor | np.ndarray,
        k: int = PRDC_K,
        block: int = BLOCK,
        subsample: int | None = None,
        seed: int = 0,
    ) -> None:
        self._setup(features, reference, k, block, subsample, seed)
        self.zero_radii = 0
        _check_at_construction(features, self.reference, self.k, "density/coverage")

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        rows, device, index, ref_index = self._scored()
        density, coverage, self.zero_radii = _density_coverage(
            rows, self.reference, self.k, self.block, device, index, ref_index
        )
        return {
            f"density{self.suffix}": density,
            f"coverage{self.suffix}": coverage,
            "prdc_k": self.k,
            "prdc_subsample": None if ref_index is None else len(ref_index),
        }

    def warnings(self, fields: Mapping[str, Any]) -> list[str]:
        few = few_images_message("density/coverage", self.k, *self.sizes) if f"density{self.suffix}" in fields else None
        zero = _zero_radii_message(self.zero_radii, self.sizes[0], self.k) if self.zero_radii else None
        return [m for m in (few, zero) if m]
