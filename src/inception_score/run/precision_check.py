"""``--check-precision N``: how far ``fast`` is from ``exact`` on the first N images of this run.

The run's own fast outputs and the exact network's outputs of the same preprocessed images are
accumulated as one split each; the result reports both Inception Scores and their relative
deviation (``precision_check``).

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
from ..metrics.inception import ISAccumulator

__all__ = ["PrecisionCheck"]


class PrecisionCheck:
    """The IS of the first ``limit`` images this process scores, fast (the run's) and exact."""

    def __init__(self, limit: int, exact: Callable[[Tensor], InceptionOutput], num_classes: int) -> None:
        self.limit, self.exact, self.seen = limit, exact, 0
        self.fast_sums, self.exact_sums = ISAccumulator(1, num_classes), ISAccumulator(1, num_classes)

    def __call__(self, prepared: Tensor, outputs: InceptionOutput) -> None:
        take = min(len(prepared), self.limit - self.seen)
        if take <= 0:
            return
        zeros = torch.zeros(take, dtype=torch.long)
        self.fast_sums.update(outputs.require("logits_unbiased")[:take], zeros)
        self.exact_sums.update(self.exact(prepared[:take]).require("logits_unbiased"), zeros)
        self.seen += take

    def fields(self) -> dict[str, Any] | None:
        if not self.seen:
            return None
        exact, fast = float(self.exact_sums.split_scores()[0]), float(self.fast_sums.split_scores()[0])
        return {
            "num_images": self.seen,
            "inception_score_exact": exact,
            "inception_score_fast": fast,
            "relative_deviation": abs(fast - exact) / exact,
        }
