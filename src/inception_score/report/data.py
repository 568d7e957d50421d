"""What the HTML report draws, gathered from a measurement: per-metric data and thumbnails.

The accumulators give their report data (the marginal over classes and the confidence histogram
from the class diagnostics; the indexes of the most and least confident images from
:class:`~inception_score.metrics.confidence.ConfidentImages`). The images themselves are read
back from the sources by index, so a run keeps no pixels: files, arrays, ``.npz``, archives,
seeded generator modules and sample functions with ``reset()`` can be read again; a plain sample
function cannot go back, and the report says so instead of showing its images.

Example:
    >>> import torch
    >>> thumbnail(torch.zeros(3, 300, 150, dtype=torch.uint8)).shape
    (96, 48, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import Tensor

from ..errors import InceptionScoreError
from ..inputs.base import ImageSource
from ..run.measurement import Measurement
from ..run.plan import locate

__all__ = ["report_extras", "thumbnail", "THUMBNAIL"]

THUMBNAIL = 96  # pixels, the longer side


def thumbnail(image: Tensor) -> np.ndarray:
    """uint8 3 x H x W -> uint8 h x w x 3 with the longer side at most :data:`THUMBNAIL` (bicubic)."""
    from PIL import Image

    picture = Image.fromarray(image.detach().cpu().permute(1, 2, 0).numpy())
    picture.thumbnail((THUMBNAIL, THUMBNAIL), Image.BICUBIC)
    return np.asarray(picture.convert("RGB"))


def _read_back(sources: Sequence[ImageSource], index: int) -> tuple[str, np.ndarray | None]:
    source, local = locate(sources, index)
    try:
        images = next(iter(source.batches(1, 0, local, local + 1))).images
    except (InceptionScoreError, StopIteration, OSError):
        return source.label(local), None
    return source.label(local), thumbnail(images[0])


def report_extras(measurement: Measurement) -> dict[str, Any]:
    """Everything the report draws beyond the result's fields (keys of ``html.EXTRAS_KEYS``)."""
    extras: dict[str, Any] = {}
    for accumulator in measurement.accumulators:
        extras.update(accumulator.report_data())
    names = extras.get("class_names")
    for key in ("most_confident", "least_confident"):
        entries = []
        for entry in extras.get(key, []):
            label, picture = _read_back(measurement.sources, entry["index"]) if measurement.sources else ("", None)
            if picture is None:
                continue  # a source that cannot be read again (a plain sample function)
            cls = entry["class"]
            entries.append(
                {
                    "index": entry["index"],
                    "label": label,
                    "confidence": entry["confidence"],
                    "class_name": names[cls] if names else f"class {cls}",
                    "thumbnail": picture,
                }
            )
        if key in extras:
            extras[key] = entries
    return extras
