"""The mathematics: per-split sufficient statistics of the Inception Score and their merge.

For a split with images x_1..x_n and predictions p_i = softmax(logits_i) over the 1008 outputs,

    ln IS = mean_i KL(p_i || q) = (1/n) sum_i sum_y p_iy ln p_iy  -  sum_y q_y ln q_y,
    q = (1/n) sum_i p_i.

So three float64 sums per split are enough: the count n, the vector sum_i p_i, and the scalar
sum_i sum_y p_iy ln p_iy. They are updated batch by batch, two accumulators merge by adding,
and memory does not grow with the number of images. This is the same quantity the reference
tools compute (torch-fidelity in float64; improved-gan and the guided-diffusion evaluator in
float32) up to summation order.

Which images share a split is the business of :mod:`inception_score.protocols`.

Example:
    >>> import torch
    >>> acc = ISAccumulator(num_splits=1, num_classes=4)
    >>> acc.update(torch.eye(4) * 100, torch.zeros(4, dtype=torch.long))  # 4 confident classes
    >>> round(float(acc.split_scores()[0]), 6)
    4.0
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .protocols import SplitPlan

__all__ = ["ISAccumulator", "probabilities", "inception_score_from_logits"]


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
    """softmax(logits) and sum_y p ln p per row, in float64 (as torch-fidelity)."""
    log_p = torch.log_softmax(logits.detach().to(torch.float64), dim=1)  # N x C
    p = log_p.exp()
    return p, (p * log_p).sum(dim=1)  # exp underflows to exactly 0 where log_p is very negative


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
    return float(np.mean(scores)), float(np.std(scores)), scores
