"""The mathematics: per-split sufficient statistics of the Inception Score and their merge.

For a split with images x_1..x_n and predictions p_i = softmax(logits_i) over the 1008 outputs,

    ln IS = mean_i KL(p_i || q) = (1/n) sum_i sum_y p_iy ln p_iy  -  sum_y q_y ln q_y,
    q = (1/n) sum_i p_i.

So three float64 sums per split are enough: the count n, the vector sum_i p_i, and the scalar
sum_i sum_y p_iy ln p_iy. They are updated batch by batch, two accumulators merge by adding,
and memory does not grow with the number of images. This is the same quantity the reference
tools compute (torch-fidelity in float64; improved-gan and the guided-diffusion evaluator in
float32) up to summation order.

Which images share a split is the business of :mod:`~inception_score.metrics.protocols`.
:class:`SplitScores` is the accumulator a run uses: the split sums of its protocol, the score
(mean and population std over splits), each split's sharpness and diversity, and the warnings
about the splits (too small; class-ordered input under a file-order protocol, see
:func:`class_order_test`).

Example:
    >>> import torch
    >>> acc = ISAccumulator(num_splits=1, num_classes=4)
    >>> acc.update(torch.eye(4) * 100, torch.zeros(4, dtype=torch.long))  # 4 confident classes
    >>> round(float(acc.split_scores()[0]), 6)
    4.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError, plural
from ..features.outputs import NetworkOutputs
from .base import Accumulator, zeros
from .protocols import SplitPlan

__all__ = [
    "ISAccumulator",
    "SplitScores",
    "probabilities",
    "batch_probabilities",
    "inception_score_from_logits",
    "class_order_test",
    "SPLIT_MIN",
]

SPLIT_MIN = 5_000  # the split size of the published protocols (50k / 10)


CONFIDENCE_BINS = 20  # histogram of top-1 confidence, bins of 0.05


class ISAccumulator:
    """Per-split sufficient statistics of the Inception Score, in float64.

    ``update(logits, split_ids)`` adds a batch; ``merge`` (or ``+``) adds another accumulator
    of the same shape; ``split_scores()`` gives IS per split. Batch by batch, one shot, or
    the merge of two halves give the same numbers up to float64 rounding. Besides the three
    sums the score needs, it keeps the sum of top-1 confidences and the histogram of top-1
    classes per split (for the diagnostics); all are sums, so all merge.
    """

    def __init__(self, num_splits: int, num_classes: int = 1008, device: torch.device | str = "cpu") -> None:
        self.num_splits = num_splits
        self.num_classes = num_classes
        # On a GPU the sums stay there: no synchronisation per batch, one copy at the end.
        zeros = dict(dtype=torch.float64, device=device)
        self.count = torch.zeros(num_splits, **zeros)  # S
        self.sum_p = torch.zeros(num_splits, num_classes, **zeros)  # S x C
        self.sum_plogp = torch.zeros(num_splits, **zeros)  # S
        self.sum_top1 = torch.zeros(num_splits, **zeros)  # S: sum of max_y p(y|x)
        self.top1_hist = torch.zeros(num_splits, num_classes, **zeros)  # S x C: argmax counts
        self.confidence_hist = torch.zeros(num_splits, CONFIDENCE_BINS, **zeros)  # S x 20: top-1 p in bins

    FIELDS = ("count", "sum_p", "sum_plogp", "sum_top1", "top1_hist", "confidence_hist")

    def update(self, logits: Tensor, split_ids: Tensor | np.ndarray) -> None:
        """Add a batch: ``logits`` N x C (any float dtype, any device), ``split_ids`` N ints."""
        if logits.dim() != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(f"expected logits of shape N x {self.num_classes}, got {tuple(logits.shape)}")
        ids = torch.as_tensor(split_ids, dtype=torch.long).to(self.count.device, non_blocking=True)
        self.add_probabilities(*probabilities(logits.to(self.count.device)), ids)

    def add_probabilities(self, p: Tensor, plogp: Tensor, ids: Tensor) -> None:
        """Add p (N x C float64) and sum_y p ln p (N) of images in splits ``ids`` (N)."""
        top1, argmax = p.max(dim=1)
        self.count.index_add_(0, ids, torch.ones_like(plogp))
        self.sum_p.index_add_(0, ids, p)
        self.sum_plogp.index_add_(0, ids, plogp)
        self.sum_top1.index_add_(0, ids, top1)
        self.top1_hist.index_put_((ids, argmax), torch.ones_like(top1), accumulate=True)
        bins = (top1 * CONFIDENCE_BINS).long().clamp_(0, CONFIDENCE_BINS - 1)
        self.confidence_hist.index_put_((ids, bins), torch.ones_like(top1), accumulate=True)

    def merge(self, other: ISAccumulator) -> ISAccumulator:
        """A new accumulator holding both; the shapes must agree."""
        if (self.num_splits, self.num_classes) != (other.num_splits, other.num_classes):
            raise ValueError("cannot merge accumulators of different shapes")
        out = ISAccumulator(self.num_splits, self.num_classes, self.count.device)
        for name in self.FIELDS:
            setattr(out, name, getattr(self, name) + getattr(other, name).to(self.count.device))
        return out

    __add__ = merge

    def pooled(self) -> ISAccumulator:
        """All splits as one: the statistics of every image together."""
        out = ISAccumulator(1, self.num_classes, self.count.device)
        for name in self.FIELDS:
            setattr(out, name, getattr(self, name).sum(dim=0, keepdim=True))
        return out

    def _checked(self) -> tuple[Tensor, Tensor, Tensor]:
        n, sum_p, sum_plogp = self.count.cpu(), self.sum_p.cpu(), self.sum_plogp.cpu()
        if bool((n == 0).any()):
            empty = (n == 0).nonzero().flatten().tolist()
            raise ValueError(f"splits {empty} hold no images")
        return n, sum_p, sum_plogp

    def split_terms(self) -> tuple[np.ndarray, np.ndarray]:
        """(sharpness, diversity) per split, with IS = sharpness x diversity.

        sharpness = exp(-E H(y|x)) = exp(sum p ln p / n); diversity = exp(H(q)), q = sum p / n.
        """
        n, sum_p, sum_plogp = self._checked()
        q = sum_p / n[:, None]
        entropy_q = -torch.special.xlogy(q, q).sum(dim=1)  # 0 ln 0 = 0 for unused classes
        return torch.exp(sum_plogp / n).numpy(), torch.exp(entropy_q).numpy()

    def split_scores(self) -> np.ndarray:
        """IS of each split: exp(sum p ln p / n - sum_y q_y ln q_y), q = sum p / n."""
        n, sum_p, sum_plogp = self._checked()
        q = sum_p / n[:, None]
        q_log_q = torch.special.xlogy(q, q).sum(dim=1)  # 0 ln 0 = 0 for unused classes
        return torch.exp(sum_plogp / n - q_log_q).numpy()

    def state_dict(self) -> dict[str, Tensor]:
        return {name: getattr(self, name).cpu().clone() for name in self.FIELDS}

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> ISAccumulator:
        acc = cls(*state["sum_p"].shape)
        for name in cls.FIELDS:
            setattr(acc, name, state[name].to(torch.float64).clone())
        return acc


def probabilities(logits: Tensor) -> tuple[Tensor, Tensor]:
    """softmax(logits) and sum_y p ln p per row, in float64 (as torch-fidelity).

    Raises InputError naming the first row that holds NaN or inf: a non-finite logit would make
    the score NaN, and NaN is never a score.
    """
    finite = torch.isfinite(logits).all(dim=1)
    if not bool(finite.all()):
        row = int((~finite).nonzero()[0])
        raise InputError(
            f"logits: row {row} holds NaN or inf (of {logits.shape[0]} rows); the network or classifier "
            f"gave a non-finite output, so no score can be computed"
        )
    log_p = torch.log_softmax(logits.detach().to(torch.float64), dim=1)  # N x C
    p = log_p.exp()
    return p, (p * log_p).sum(dim=1)  # exp underflows to exactly 0 where log_p is very negative


def batch_probabilities(outputs: NetworkOutputs) -> tuple[Tensor, Tensor]:
    """:func:`probabilities` of ``outputs.logits_unbiased``, computed once per batch and shared
    by every metric that needs them."""
    if "probabilities" not in outputs.memo:
        outputs.memo["probabilities"] = probabilities(outputs.require("logits_unbiased"))
    return outputs.memo["probabilities"]  # type: ignore[no-any-return]


def inception_score_from_logits(
    logits: Tensor | np.ndarray, splits: int | None = None, protocol: str = "torch-fidelity"
) -> tuple[float, float, np.ndarray]:
    """(mean, population std, per-split scores) of N x C logits in input order, in one call.

    Example:
        >>> logits = torch.eye(10).repeat(3, 1) * 50   # 30 confident predictions, 10 classes
        >>> mean, std, _ = inception_score_from_logits(logits, splits=1)
        >>> round(mean, 6), std
        (10.0, 0.0)
    """
    logits = torch.as_tensor(logits)
    plan = SplitPlan(protocol, logits.shape[0], splits)
    acc = ISAccumulator(plan.num_splits, logits.shape[1])
    acc.update(logits, plan.split_of(np.arange(logits.shape[0])))
    scores = acc.split_scores()
    return float(np.mean(scores)), plan.std(scores), scores


class SplitScores(Accumulator):
    """The Inception Score of a protocol: per-split sums -> mean and population std over splits.

    Besides the three sums of :class:`ISAccumulator` per split, it keeps the per-class sum of p^2
    over all images (C float64), which :func:`class_order_test` needs to know how much the
    split marginals would differ by chance.
    """

    name = "splits"
    needs = frozenset({"logits_unbiased"})
    states = {**{k: f"sums.{k}" for k in ISAccumulator.FIELDS}, "sum_p2": "sum_p2"}

    def __init__(self, plan: SplitPlan, num_classes: int, device: torch.device | str = "cpu") -> None:
        self.plan = plan
        self.sums = ISAccumulator(plan.num_splits, num_classes, device)
        self.sum_p2 = zeros(num_classes, device)  # C: sum over images of p^2

    def update(self, outputs: NetworkOutputs, indices: np.ndarray) -> None:
        p, plogp = batch_probabilities(outputs)
        ids = torch.from_numpy(self.plan.split_of(indices)).to(p.device)
        self.sums.add_probabilities(p, plogp, ids)
        self.sum_p2.add_((p * p).sum(dim=0))

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        scores = self.sums.split_scores()
        sharpness, diversity = self.sums.split_terms()
        return {
            "inception_score_mean": float(np.mean(scores)),
            "inception_score_std": self.plan.std(scores),
            "split_scores": [float(s) for s in scores],
            "split_sharpness": [float(v) for v in sharpness],
            "split_diversity": [float(v) for v in diversity],
        }

    def warnings(self, fields: Mapping[str, Any]) -> list[str]:
        out = []
        sizes = self.sums.count.cpu()
        if self.sums.num_splits > 1 and float(sizes.min()) < SPLIT_MIN:
            lo, hi = int(sizes.min()), int(sizes.max())
            span = plural(lo, "image") if lo == hi else f"{lo} to {hi} images"
            out.append(
                f"splits of {span}: the published protocols use {SPLIT_MIN:,} per split, and smaller splits score lower"
            )
        if self.sums.num_splits > 1 and not self.plan.protocol.permuted:
            test = class_order_test(self.sums.count, self.sums.sum_p, self.sum_p2)
            if test["ordered"]:
                out.append(
                    f"the splits see very different classes (marginal entropy gap {test['gap']:.3f} nats; random "
                    f"splits of these images: {test['chance']:.3f} ± {test['chance_std']:.3f}): the input looks "
                    f"ordered by class, and protocol {self.plan.protocol.name!r} splits in file order, so the mean "
                    f"over splits is misleading; shuffle the input or use --protocol torch-fidelity"
                )
        return out


CLASS_ORDER_Z = 4.0  # the gap must exceed what random splits give by this many standard deviations
CLASS_ORDER_MIN_EXCESS = 0.005  # nats beyond chance: large enough to matter (the mean over splits ~0.5% off)
# The second-order chance level underestimates the mean gap of confident predictions with a few
# images per class and split (one-hot, 1-2 expected per split: by up to 27% in simulations), and
# the approximate spread misses by up to ~30% either way: the quantile is raised by this factor.
CLASS_ORDER_MARGIN = 1.3


def class_order_test(count: Tensor, sum_p: Tensor, sum_p2: Tensor) -> dict[str, Any]:
    """Do the split marginals differ more than random splits of the same images would?

    The statistic is the Jensen-Shannon divergence of the split marginals (nats),
    ``gap = H(q) - sum_s (n_s / N) H(q_s)``: 0 when every split sees the same classes, ln S when
    they share none. Under random assignment of the images to splits of the same sizes (what
    torch-fidelity's seeded shuffle does), a second-order expansion of the entropy gives

        gap ~ sum_y a_y X_y,  a_y = Var_y / (2 q_y (N - 1)),  X_y ~ chi^2 with S - 1 dof,

    where ``Var_y = mean_i p_iy^2 - q_y^2`` is the spread of class y's probability over images,
    computed from the per-class sums of p and p^2 (mergeable). So the chance level is
    ``(S - 1) sum_y a_y`` (for one-hot predictions this is the old ``(S - 1)(K - 1) / (2N)``; for
    the soft predictions of an unsure network it is many times smaller, which the old formula
    missed), and its spread, treating classes as independent, ``sqrt(2 (S - 1) sum_y a_y^2)``.
    The test fires when the gap exceeds :data:`CLASS_ORDER_MARGIN` (1.3) times the
    Welch-Satterthwaite / Wilson-Hilferty upper quantile of that sum at z = :data:`CLASS_ORDER_Z`
    (4 standard normal deviations) and exceeds the chance
    level by at least :data:`CLASS_ORDER_MIN_EXCESS` nats (the mean over splits then sits ~0.5% or
    more below what random splits of the same images give: smaller effects are not worth a
    warning). Both approximations err on the safe side: the constraint sum_y p = 1 makes classes
    negatively correlated (less variance than assumed). But with confident, one-hot-like
    predictions and only a few images per class in a split, the higher-order terms add to the
    gap: the quadratic chance level is then up to 27% low (one-hot over 50 classes, N = 200 in 4
    splits), hence the margin. Measured otherwise, the chance level predicts the gap of random
    splits to a few percent (0.00153 against 0.00154 nats for unsure predictions, 0.275 against
    0.317 for confident ones).

    Measured false-alarm rate: 0 in 2,000 random file orders of 5,000 images and 0 in 200 of
    50,000 (10 splits), for unsure to confident and one-hot synthetic predictions over 1000
    classes (``benchmarks/class_order.py``, table in ``benchmarks/RESULTS.md``); 0 in 2,000 of
    one-hot predictions over 50 classes with 1, 2 or 10 images per class and split; 0 in 5,000
    random orders of 20 images scored by the random-weight test network (4 splits). On the same
    images stored class by class it fired at both N for every prediction level where ordering
    moves the mean over splits by 0.5% or more, and on 20 images in 4 groups of 5 near-copies
    (tests/test_class_order.py).

    Example:
        >>> import torch
        >>> p = torch.eye(4, dtype=torch.float64).repeat_interleave(5, dim=0) * 0.5 + 0.125  # 4 groups of 5
        >>> count, sum_p = torch.full((4,), 5.0, dtype=torch.float64), p.view(4, 5, 4).sum(1)
        >>> class_order_test(count, sum_p, (p * p).sum(0))["ordered"]
        True
    """
    n_s, sum_p_s = count.double().cpu(), sum_p.double().cpu()
    n = float(n_s.sum())
    num_splits = int((n_s > 0).sum())
    q = sum_p_s.sum(0) / n
    h_all = torch.special.entr(q).sum()
    h_split = torch.special.entr(sum_p_s / n_s.clamp_min(1)[:, None]).sum(-1)
    gap = float(h_all - (h_split * n_s).sum() / n)
    used = q > 0
    variance = (sum_p2.double().cpu()[used] / n - q[used] ** 2).clamp_min(0)
    a = variance / (2 * q[used] * max(n - 1, 1))
    dof = max(num_splits - 1, 0)
    mean = dof * float(a.sum())
    var = 2 * dof * float((a * a).sum())
    threshold = math.inf
    if mean > 0 and var > 0:
        # Welch-Satterthwaite: sum a_y chi2_{S-1} ~ g chi2_h; Wilson-Hilferty for its upper quantile
        g, h = var / (2 * mean), 2 * mean * mean / var
        threshold = g * h * (1 - 2 / (9 * h) + CLASS_ORDER_Z * math.sqrt(2 / (9 * h))) ** 3
    elif mean == 0:
        threshold = 0.0  # every image has the same prediction: any gap is not chance
    return {
        "gap": gap,
        "chance": mean,
        "chance_std": math.sqrt(var),
        "threshold": threshold,
        "ordered": bool(
            num_splits > 1 and gap > CLASS_ORDER_MARGIN * threshold and gap - mean >= CLASS_ORDER_MIN_EXCESS
        ),
    }
