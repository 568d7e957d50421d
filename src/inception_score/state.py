"""Everything one pass accumulates, in one object: split statistics, bootstrap, nested subsets.

A batch of logits with the global indexes of its images goes in; the fields of the result come
out. Every part is a sum over images, so memory does not depend on N (beyond two int64
permutations of N for the seeded orders) and the state of two disjoint sets of images merges.

Example:
    >>> import numpy as np, torch
    >>> from inception_score.protocols import SplitPlan
    >>> state = ScoreState(SplitPlan("original", 40, 2), num_classes=4, bootstrap=50)
    >>> state.update(torch.eye(4).repeat(10, 1) * 30, np.arange(40))
    >>> fields = state.fields(named=False)
    >>> round(fields["inception_score_mean"], 6), round(fields["diversity"], 6)
    (4.0, 4.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .diagnostics import describe
from .protocols import SplitPlan
from .score import ISAccumulator, probabilities
from .uncertainty import NestedSubsets, PoissonBootstrap, fit_infinity

__all__ = ["ScoreState"]


class ScoreState:
    """Split statistics for ``plan``, plus a ``bootstrap``-replicate Poisson bootstrap (0: none)
    and the nested subsets of IS at infinite N (``infinity``), seeded by ``seed``."""

    def __init__(
        self,
        plan: SplitPlan,
        num_classes: int,
        device: torch.device | str = "cpu",
        bootstrap: int = 0,
        seed: int = 0,
        infinity: bool = True,
    ) -> None:
        self.plan = plan
        self.splits = ISAccumulator(plan.num_splits, num_classes, device)
        self.bootstrap = PoissonBootstrap(bootstrap, plan.num_splits, num_classes, seed, device) if bootstrap else None
        self.nested = NestedSubsets(plan.num_images, num_classes, seed, device) if infinity else None

    def update(self, logits: Tensor, indices: np.ndarray) -> None:
        """Add the logits (N x C) of the images with global indexes ``indices`` (N)."""
        p, plogp = probabilities(logits.to(self.splits.count.device))
        split_ids = self.plan.split_of(indices)
        self.splits.add_probabilities(p, plogp, torch.from_numpy(split_ids).to(p.device))
        if self.bootstrap is not None:
            self.bootstrap.add(p, plogp, split_ids, np.asarray(indices))
        if self.nested is not None:
            self.nested.add(p, plogp, np.asarray(indices))

    def tensors(self) -> dict[str, Tensor]:
        """Every accumulated sum, by name (live tensors: for all-reduce and saving)."""
        out = {f"splits.{k}": getattr(self.splits, k) for k in ISAccumulator.FIELDS}
        if self.bootstrap is not None:
            out.update({f"bootstrap.{k}": getattr(self.bootstrap, k) for k in PoissonBootstrap.FIELDS})
        if self.nested is not None:
            out.update({f"nested.{k}": getattr(self.nested.bands, k) for k in ISAccumulator.FIELDS})
        return out

    def state_dict(self) -> dict[str, Tensor]:
        return {name: t.detach().cpu().clone() for name, t in self.tensors().items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore sums saved by :meth:`state_dict` from a state of the same shape."""
        own = self.tensors()
        if set(own) != set(state) or any(own[k].shape != state[k].shape for k in own):
            raise ValueError("saved statistics do not match this run's shape (splits, classes, bootstrap)")
        for name, tensor in own.items():
            tensor.copy_(state[name].to(tensor.device, tensor.dtype))

    def merge(self, other: ScoreState) -> ScoreState:
        """The state of both sets of images (disjoint, same plan, seed and options)."""
        out = ScoreState.__new__(ScoreState)
        out.plan = self.plan
        out.splits = self.splits + other.splits
        out.bootstrap = self.bootstrap.merge(other.bootstrap) if self.bootstrap and other.bootstrap else None
        out.nested = self.nested.merge(other.nested) if self.nested and other.nested else None
        return out

    def fields(self, named: bool) -> dict[str, Any]:
        """The result's numbers: mean, std, per split, terms, uncertainty, diagnostics."""
        scores = self.splits.split_scores()
        out: dict[str, Any] = {
            "inception_score_mean": float(np.mean(scores)),
            "inception_score_std": float(np.std(scores)),
            "split_scores": [float(s) for s in scores],
        }
        out.update(describe(self.splits, self.plan.protocol.name, named=named))
        if self.bootstrap is not None:
            out.update(self.bootstrap.summary(out["inception_score_mean"]))
        if self.nested is not None:
            fit = fit_infinity(*self.nested.is_n())
            out["is_infinity"] = fit["is_infinity"] if fit else None
            out["is_infinity_fit"] = fit
        return out
