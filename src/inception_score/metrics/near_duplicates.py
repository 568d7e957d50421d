"""Gaming and collapse: near-duplicate images and within-class diversity, from pool3 features.

A generator that outputs one confident image per class scores high (IS rewards confident,
evenly spread predictions and nothing else). Two signals expose it, both from the 2048-d pool3
features of the same forward pass:

* **near-duplicate rate**: the fraction of images whose pool3 feature has cosine similarity
  >= :data:`DUPLICATE_COSINE` with another image's. Exact (all pairs, blocked matrix products on
  the network's device) among the images with global index below :data:`SAMPLE_LIMIT` (50,000);
  on more images, among those first ones (``near_duplicate_sample`` says how many). Each image
  writes its unit-norm feature (float16) into its own row, so the rows of several processes
  (torchrun ranks, shards) add up to the single run's: every field is the same however the run
  was split.
* **within-class spread** of the top classes: 1 - |mean of the unit-norm features|^2 over the
  images whose top-1 class it is: 0 when they all look the same to the network, near 1 for
  unrelated images. Streaming and exact on any N (a sum per class).

:func:`collapse_warning` warns when the score is high but the images of most top classes differ
far less than the set as a whole (``overall_spread``, the same measure over all images).

Example:
    >>> import numpy as np, torch
    >>> from inception_score.features.outputs import NetworkOutputs
    >>> stats = NearDuplicates(num_images=3, num_classes=3, feature_dim=2)
    >>> logits = torch.tensor([[9.0, 0, 0], [9.0, 0, 0], [0, 9.0, 0]])
    >>> pool3 = torch.tensor([[1.0, 0.0], [1.0, 0.001], [0.0, 1.0]])
    >>> stats.update(NetworkOutputs(logits_unbiased=logits, pool3=pool3), np.arange(3))
    >>> fields = stats.fields({"top_classes": [{"index": 0}, {"index": 1}]})
    >>> fields["near_duplicate_rate"], fields["near_duplicate_pairs"][0][:2]
    (0.6666666666666666, [0, 1])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..features.outputs import NetworkOutputs
from .base import Accumulator, zeros

__all__ = ["NearDuplicates", "DUPLICATE_COSINE", "SAMPLE_LIMIT", "COLLAPSE_RATIO"]

DUPLICATE_COSINE = 0.98  # pool3 cosine similarity above which two images count as near-duplicates
# Images kept (float16, unit norm, on the device) for the all-pairs comparison: 200 MB and
# 5 TFLOP at 50,000 (seconds on a GPU, minutes on a CPU, where the network took hours).
SAMPLE_LIMIT = 50_000
COLLAPSE_RATIO = 0.1  # a top class spread below 10% of the whole set's spread has collapsed


class NearDuplicates(Accumulator):
    """Per-class sums of unit-norm pool3 features, and the unit features of the first ``limit``
    images (by global index) for the all-pairs comparison."""

    name = "near_duplicates"
    needs = frozenset({"logits_unbiased", "pool3"})
    row_states = ("kept",)
    states = {"kept": "kept", "class_sum": "class_sum", "class_count": "class_count"}

    def __init__(
        self,
        num_images: int,
        num_classes: int,
        feature_dim: int = 2048,
        limit: int = SAMPLE_LIMIT,
        device: torch.device | str = "cpu",
        names: list[str] | None = None,
    ) -> None:
        self.num_kept = min(num_images, limit)
        self.names = names
        # float16 unit vectors in rows 0..num_kept-1 (an image's row is its global index); they
        # stay on the device and are compared there at the end
        self.kept = torch.zeros(self.num_kept, feature_dim, dtype=torch.float16, device=device)
        self.class_sum = zeros((num_classes, feature_dim), device)  # C x D
        self.class_count = zeros(num_classes, device)  # C

    def update(self, outputs: NetworkOutputs, indices: np.ndarray) -> None:
        """pool3 (N x D) of the batch and the top-1 class of each image (argmax of its logits)."""
        pool3, logits = outputs.pool3, outputs.require("logits_unbiased")
        if pool3 is None:  # logits given without features (the metric object's update(logits=...))
            return
        unit = torch.nn.functional.normalize(pool3.detach().float(), dim=1).to(self.kept.device)
        low = np.flatnonzero(indices < self.num_kept)
        if len(low):
            rows = torch.from_numpy(low).to(unit.device)
            self.kept[torch.from_numpy(indices[low]).to(unit.device)] = unit[rows].half()
        ids = logits.detach().argmax(dim=1).to(unit.device)
        self.class_sum.index_add_(0, ids, unit.double())
        self.class_count.index_add_(0, ids, torch.ones(len(ids), dtype=torch.float64, device=unit.device))

    def _duplicates(self, block: int = 2048) -> tuple[float, list[list[Any]]]:
        if self.num_kept < 2:
            return 0.0, []
        features = self.kept.float()  # n x D, on the device the network ran on
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

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        covered, total = int(self.class_count.sum()), so_far.get("num_images")
        if total is not None and covered != total:  # some images came without pool3: say nothing
            return {}
        rate, pairs = self._duplicates()
        class_sum, class_count = self.class_sum.cpu(), self.class_count.cpu()
        spreads = []
        for c in [entry["index"] for entry in so_far.get("top_classes", [])]:
            count = float(class_count[c])
            if count >= 2:
                mean = class_sum[c] / count
                spread = float(1.0 - mean.dot(mean))
                name = self.names[c] if self.names else str(c)
                spreads.append({"index": c, "name": name, "count": int(count), "spread": spread})
        overall = None
        if float(class_count.sum()) >= 2:
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

    def warnings(self, fields: Mapping[str, Any]) -> list[str]:
        message = collapse_warning(fields, fields.get("inception_score_mean", 0.0))
        return [message] if message else []


def collapse_warning(fields: dict[str, Any], score: float) -> str | None:
    """A warning when the score is high but the top classes' images are (nearly) all alike."""
    spreads = [s for s in fields.get("within_class_spread", []) if s["count"] >= 2]
    overall = fields.get("overall_spread")
    if score < 2.0 or not spreads or not overall:
        return None
    # Relative to the spread of all images: pool3 vectors are non-negative, so even unrelated
    # images have cosine ~0.5-0.8, and what counts is a class far tighter than the whole set.
    collapsed = [s for s in spreads if s["spread"] < COLLAPSE_RATIO * overall]
    tight = len(collapsed) * 2 >= len(spreads)
    rate = fields.get("near_duplicate_rate") or 0.0
    duplicated = rate > 0.5
    # The message names the reason that fired it (a warning that cites 0 tight classes as its
    # evidence, while the duplicates fired it, contradicts itself).
    classes = (
        f"{len(collapsed)} of the {len(spreads)} top classes spread less than {COLLAPSE_RATIO:.0%} as much as the "
        f"whole set ({overall:.3f})"
    )
    cosine = fields.get("near_duplicate_threshold", DUPLICATE_COSINE)
    twins = f"{rate:.0%} of the images compared have a near-duplicate (pool3 cosine >= {cosine})"
    if tight and duplicated:
        return f"IS {score:.2f} from near-copies: {twins}, and {classes}; repeating confident images games the score"
    if tight:
        return (
            f"IS {score:.2f} with little diversity inside classes: {classes} (near-duplicate rate {rate:.0%}); "
            f"one confident image per class games the score"
        )
    if duplicated:
        return (
            f"IS {score:.2f} with many near-duplicates: {twins} (within classes, only {len(collapsed)} of the "
            f"{len(spreads)} top classes are tight); repeating the same images games the score"
        )
    return None
