"""``--check-precision N``: how far ``fast`` is from ``exact`` on the first N images of this run.

The run's own fast outputs and the exact network's outputs of the same preprocessed images are
accumulated as one split each; the result reports both Inception Scores and their relative
deviation (``precision_check``). When the run computes FID, the pool3 statistics of the same N
images are accumulated both ways too, and their FIDs against the run's reference and the
relative deviation are reported (``fid_fast``, ``fid_exact``, ``fid_relative_deviation``).

Example:
    >>> import torch
    >>> from inception_score.features.network import InceptionOutput
    >>> logits = torch.eye(4).repeat(2, 1) * 20
    >>> check = PrecisionCheck(8, lambda x: InceptionOutput(logits_unbiased=logits), num_classes=4)
    >>> check(torch.zeros(8, 3, 2, 2), InceptionOutput(logits_unbiased=logits))
    >>> check.fields()["relative_deviation"]
    0.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..features.network import InceptionOutput
from ..metrics.frechet import FrechetDistance
from ..metrics.inception import ISAccumulator
from ..metrics.reference import Reference

__all__ = ["PrecisionCheck"]


class PrecisionCheck:
    """The IS of the first ``limit`` images this process scores, fast (the run's) and exact."""

    def __init__(
        self, limit: int, exact: Callable[[Tensor], InceptionOutput], num_classes: int, fid: bool = False
    ) -> None:
        self.limit, self.exact, self.seen = limit, exact, 0
        self.fast_sums, self.exact_sums = ISAccumulator(1, num_classes), ISAccumulator(1, num_classes)
        # pool3 moments of the same images both ways (FID's deviation), when the run computes FID
        self.fast_moments = FrechetDistance(None) if fid else None
        self.exact_moments = FrechetDistance(None) if fid else None
        self.reference: Reference | None = None  # set by the run once its reference is known

    def __call__(self, prepared: Tensor, outputs: InceptionOutput) -> None:
        take = min(len(prepared), self.limit - self.seen)
        if take <= 0:
            return
        zeros = torch.zeros(take, dtype=torch.long)
        exact = self.exact(prepared[:take])
        self.fast_sums.update(outputs.require("logits_unbiased")[:take], zeros)
        self.exact_sums.update(exact.require("logits_unbiased"), zeros)
        if self.fast_moments is not None and self.exact_moments is not None:
            index = torch.arange(take).numpy()
            self.fast_moments.update(InceptionOutput(pool3=outputs.require("pool3")[:take].cpu()), index)
            self.exact_moments.update(InceptionOutput(pool3=exact.require("pool3").cpu()), index)
        self.seen += take

    def fields(self) -> dict[str, Any] | None:
        if not self.seen:
            return None
        exact, fast = float(self.exact_sums.split_scores()[0]), float(self.fast_sums.split_scores()[0])
        out: dict[str, Any] = {
            "num_images": self.seen,
            "inception_score_exact": exact,
            "inception_score_fast": fast,
            "relative_deviation": abs(fast - exact) / exact,
        }
        if self.reference is not None and self.fast_moments is not None and self.exact_moments is not None:
            if self.seen >= 2 and self.reference.mu is not None:
                fid_fast = FrechetDistance(self.reference).bind(self.fast_moments.state()).fields({})["fid"]
                fid_exact = FrechetDistance(self.reference).bind(self.exact_moments.state()).fields({})["fid"]
                out.update(fid_fast=fid_fast, fid_exact=fid_exact,
                           fid_relative_deviation=abs(fid_fast - fid_exact) / max(abs(fid_exact), 1e-12))  # fmt: skip
        return out
