"""Gaming and collapse: near-duplicate images and within-class diversity, from pool3 features.

A generator that outputs one confident image per class scores high (IS rewards confident,
evenly spread predictions and nothing else). Two signals expose it, both from the 2048-d pool3
features of the same forward pass:

* **near-duplicate rate**: the fraction of images whose pool3 feature has cosine similarity
  >= :data:`DUPLICATE_COSINE` with another image's. Exact (all pairs, blocked matrix products on
  the network's device) among the first :data:`SAMPLE_LIMIT` (50,000) images; on more images,
  among those first ones (``near_duplicate_sample`` says how many).
* **within-class spread** of the top classes: 1 - |mean of the unit-norm features|^2 over the
  images whose top-1 class it is: 0 when they all look the same to the network, near 1 for
  unrelated images. Streaming and exact on any N (a sum per class).

:func:`collapse_warning` warns when the score is high but the images of most top classes differ
far less than the set as a whole (``overall_spread``, the same measure over all images).

Example:
    >>> import torch
    >>> stats = FeatureStats(num_classes=3, limit=10)
    >>> f = torch.tensor([[1.0, 0.0], [1.0, 0.001], [0.0, 1.0]])
    >>> stats.add(f, torch.tensor([0, 0, 1]))
    >>> fields = stats.fields(top_classes=[0, 1])
    >>> fields["near_duplicate_rate"], fields["near_duplicate_pairs"][0][:2]
    (0.6666666666666666, [0, 1])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["FeatureStats", "DUPLICATE_COSINE", "SAMPLE_LIMIT"]

DUPLICATE_COSINE = 0.98  # pool3 cosine similarity above which two images count as near-duplicates
# Images kept (float16, unit norm, on the device) for the all-pairs comparison: 200 MB and
# 5 TFLOP at 50,000 (seconds on a GPU, minutes on a CPU, where the network took hours).
SAMPLE_LIMIT = 50_000
COLLAPSE_RATIO = 0.1  # a top class spread below 10% of the whole set's spread has collapsed


class FeatureStats:
    """Per-class sums of unit-norm pool3 features, and the first ``limit`` features for pairs."""

    def __init__(self, num_classes: int, limit: int = SAMPLE_LIMIT) -> None:
        self.limit = limit
        self.class_sum: Tensor | None = None  # C x D float64
        self.class_count = torch.zeros(num_classes, dtype=torch.float64)
        self.num_classes = num_classes
        self.kept: list[Tensor] = []  # float16 unit vectors, in index order
        self.num_kept = 0

    def add(self, pool3: Tensor, classes: Tensor) -> None:
        """A batch of pool3 features (N x D) and the top-1 class of each image (N)."""
        unit = torch.nn.functional.normalize(pool3.detach().float(), dim=1)
        room = self.limit - self.num_kept
        if room > 0:
            self.kept.append(unit[:room].half())  # stays on the device: compared there at the end
            self.num_kept += min(room, len(unit))
        if self.class_sum is None:  # on the device too: no copy to the host per batch
            self.class_sum = torch.zeros(self.num_classes, unit.shape[1], dtype=torch.float64, device=unit.device)
            self.class_count = self.class_count.to(unit.device)
        ids = classes.detach().to(unit.device).long()
        self.class_sum.index_add_(0, ids, unit.double())
        self.class_count.index_add_(0, ids, torch.ones(len(ids), dtype=torch.float64, device=unit.device))

    def _duplicates(self, block: int = 2048) -> tuple[float, list[list[Any]]]:
        if self.num_kept < 2:
            return 0.0, []
        features = torch.cat(self.kept).float()  # n x D, on the device the network ran on
        n = len(features)
        has_twin = torch.zeros(n, dtype=torch.bool, device=features.device)
        pairs: list[tuple[float, int, int]] = []
        for lo in range(0, n, block):
            sims = features[lo : lo + block] @ features.T  # b x n
            rows = torch.arange(lo, min(lo + block, n), device=features.device)
            sims[rows - lo, rows] = -1.0  # an image is not its own duplicate
            close = sims >= DUPLICATE_COSINE
            has_twin[lo : lo + block] |= close.any(dim=1)
            i, j = close.nonzero(as_tuple=True)
            keep = (i + lo) < j  # each pair once
            for a, b in zip((i + lo)[keep][:50].tolist(), j[keep][:50].tolist(), strict=True):
                pairs.append((float(sims[a - lo, b]), a, b))
            del sims, close
        pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
        return float(has_twin.double().mean().cpu()), [[a, b, round(s, 6)] for s, a, b in pairs[:10]]

    def fields(self, top_classes: list[int], names: list[str] | None = None) -> dict[str, Any]:
        rate, pairs = self._duplicates()
        class_sum, class_count = (t.cpu() if t is not None else None for t in (self.class_sum, self.class_count))
        spreads = []
        for c in top_classes:
            count = float(class_count[c])
            if count >= 2 and class_sum is not None:
                mean = class_sum[c] / count
                spread = float(1.0 - mean.dot(mean))
                spreads.append(
                    {"index": c, "name": names[c] if names else str(c), "count": int(count), "spread": spread}
                )
        overall = None
        if class_sum is not None and float(class_count.sum()) >= 2:
            mean_all = class_sum.sum(0) / class_count.sum()
            overall = float(1.0 - mean_all.dot(mean_all))
        return {
            "overall_spread": overall,
            "near_duplicate_rate": rate,
            "near_duplicate_threshold": DUPLICATE_COSINE,
            "near_duplicate_sample": self.num_kept,
            "near_duplicate_pairs": pairs,
            "within_class_spread": spreads,
        }


def collapse_warning(fields: dict[str, Any], score: float) -> str | None:
    """A warning when the score is high but the top classes' images are (nearly) all alike."""
    spreads = [s for s in fields.get("within_class_spread", []) if s["count"] >= 2]
    overall = fields.get("overall_spread")
    if score < 2.0 or not spreads or not overall:
        return None
    # Relative to the spread of all images: pool3 vectors are non-negative, so even unrelated
    # images have cosine ~0.5-0.8, and what counts is a class far tighter than the whole set.
    collapsed = [s for s in spreads if s["spread"] < COLLAPSE_RATIO * overall]
    if len(collapsed) * 2 >= len(spreads) or fields.get("near_duplicate_rate", 0.0) > 0.5:
        return (
            f"IS {score:.2f} with little diversity inside classes: {len(collapsed)} of the {len(spreads)} top "
            f"classes spread less than {COLLAPSE_RATIO:.0%} as much as the whole set ({overall:.3f}), near-duplicate "
            f"rate {fields.get('near_duplicate_rate', 0.0):.0%}; one confident image per class games the score"
        )
    return None
