"""The most and least confident images of a run, for the report's gallery.

Each image writes its top-1 confidence and class into its own row (global index), so the rows of
ranks and shards add up to a single run's, and the choice does not depend on how the run was
split or batched: the ``k`` highest and lowest confidences, ties to the lower index. Memory is
two float64 numbers per image (16 MB for a million). The report reads those images back from
the sources to draw them.

Example:
    >>> import numpy as np, torch
    >>> from inception_score.features.outputs import NetworkOutputs
    >>> g = ConfidentImages(num_images=3, k=1)
    >>> g.update(NetworkOutputs(logits_unbiased=torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 1.0]])), np.arange(3))
    >>> data = g.report_data()
    >>> [e["index"] for e in data["most_confident"]], [e["index"] for e in data["least_confident"]]
    ([1], [0])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..features.outputs import NetworkOutputs
from .base import Accumulator, zeros
from .inception import batch_probabilities

__all__ = ["ConfidentImages"]


class ConfidentImages(Accumulator):
    """Top-1 confidence and class of every image; the ``k`` most and least confident at the end."""

    name = "confidence"
    needs = frozenset({"logits_unbiased"})
    row_states = ("confidence", "top1")
    states = {"confidence": "confidence", "top1": "top1"}

    def __init__(self, num_images: int, k: int = 8, device: torch.device | str = "cpu") -> None:
        self.k = k
        self.confidence = zeros(num_images, device)  # max_y p(y|x) > 0 for every image scored
        self.top1 = zeros(num_images, device)  # its class (as float64: every state sums)

    def update(self, outputs: NetworkOutputs, indices: np.ndarray) -> None:
        p, _ = batch_probabilities(outputs)
        confidence, classes = p.max(dim=1)
        where = torch.from_numpy(indices).to(self.confidence.device)
        self.confidence[where] = confidence.to(self.confidence.device)
        self.top1[where] = classes.to(self.top1.device, torch.float64)

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def report_data(self) -> dict[str, Any]:
        """``most_confident`` and ``least_confident``: lists of {index, confidence, class}."""
        conf = self.confidence.cpu().numpy()
        top1 = self.top1.cpu().numpy()
        scored = np.flatnonzero(conf > 0)
        out = {}
        for key, sign in (("most_confident", -1.0), ("least_confident", 1.0)):
            order = scored[np.lexsort((scored, sign * conf[scored]))][: self.k]  # ties to the lower index
            out[key] = [{"index": int(i), "confidence": float(conf[i]), "class": int(top1[i])} for i in order]
        return out
