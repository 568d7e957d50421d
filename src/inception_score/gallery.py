"""The most and least confident images of a run, as small thumbnails for the report.

Keeps ``k`` of each while the batches stream past (a few KB, whatever N); ties go to the lower
index, so the choice does not depend on batching.

Example:
    >>> import numpy as np, torch
    >>> g = Gallery(k=1)
    >>> g.add(np.array([0, 1]), torch.tensor([0.2, 0.9]), torch.zeros(2, 3, 8, 8, dtype=torch.uint8), [3, 5])
    >>> [e["index"] for e in g.most], [e["index"] for e in g.least]
    ([1], [0])
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

__all__ = ["Gallery"]

THUMBNAIL = 96  # pixels, the longer side


def _thumbnail(image: Tensor) -> np.ndarray:
    from PIL import Image

    array = image.detach().cpu().permute(1, 2, 0).numpy()
    picture = Image.fromarray(array)
    picture.thumbnail((THUMBNAIL, THUMBNAIL), Image.BICUBIC)
    return np.asarray(picture.convert("RGB"))


class Gallery:
    """The ``k`` most and least confident images seen so far, with thumbnails."""

    def __init__(self, k: int = 8) -> None:
        self.k = k
        self.most: list[dict[str, Any]] = []
        self.least: list[dict[str, Any]] = []

    def add(self, indices: np.ndarray, confidence: Tensor, images: Tensor | list[Tensor], classes: Any) -> None:
        """Offer a batch: global ``indices``, top-1 ``confidence`` and class per image, uint8 images."""
        conf = confidence.detach().cpu().double().numpy()
        for ranked, sign in ((self.most, -1.0), (self.least, 1.0)):
            order = np.lexsort((indices, sign * conf))[: self.k]  # best first, ties to the lower index
            for j in order:
                ranked.append(
                    {
                        "index": int(indices[j]),
                        "confidence": float(conf[j]),
                        "class": int(classes[j]),
                        "image": images[j],
                    }
                )
            ranked.sort(key=lambda e: (sign * e["confidence"], e["index"]))
            del ranked[self.k :]
        for entry in self.most + self.least:  # make thumbnails once, drop the full images
            if "thumbnail" not in entry:
                entry["thumbnail"] = _thumbnail(entry.pop("image"))

    def entries(self, label: Any, class_name: Any) -> dict[str, list[dict[str, Any]]]:
        """For the report: ``label(index)`` names the image, ``class_name(c)`` its class."""

        def view(entry: dict[str, Any]) -> dict[str, Any]:
            return {
                "index": entry["index"],
                "label": label(entry["index"]),
                "confidence": entry["confidence"],
                "class_name": class_name(entry["class"]),
                "thumbnail": entry["thumbnail"],
            }

        return {"most_confident": [view(e) for e in self.most], "least_confident": [view(e) for e in self.least]}
