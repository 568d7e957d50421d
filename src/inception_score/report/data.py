"""What the HTML report shows, as one typed, checked, immutable object: :class:`ReportData`.

:func:`report_data` gathers it from a run: the result's fields (:meth:`Result.to_dict()
<inception_score.report.result.Result.to_dict>`) and what the accumulators hand the report beyond
them (the marginal over classes and the confidence histogram from the class diagnostics; the
indexes of the most and least confident images from
:class:`~inception_score.metrics.confidence.ConfidentImages`). The images themselves are read
back from the sources by index, so a run keeps no pixels: files, arrays, ``.npz``, archives,
seeded generator modules and sample functions with ``reset()`` can be read again; a plain sample
function cannot go back, and the report leaves those images out.

Everything is checked when the object is made, so a page is never half written: a value of the
wrong shape raises ``ValueError`` naming the field, what it got and what it accepts.

Example:
    >>> data = ReportData({"inception_score_mean": 9.5}, marginal=[0.25, 0.75], class_names=["cat", "dog"])
    >>> data.marginal.dtype, data.class_names, data.result["inception_score_mean"]
    (dtype('float64'), ('cat', 'dog'), 9.5)
    >>> ReportData({}, marginal=[0.5, 0.5], class_names=["cat"])
    Traceback (most recent call last):
    ...
    ValueError: ReportData.class_names has 1 names for 2 classes in ReportData.marginal; expected one name per class
    >>> import torch
    >>> thumbnail(torch.zeros(3, 300, 150, dtype=torch.uint8)).shape
    (96, 48, 3)
"""

from __future__ import annotations

import copy
import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch and the run are needed only to gather the data from a run, not to draw it
    from torch import Tensor

    from ..inputs.base import ImageSource
    from ..run.measurement import Measurement
    from .result import Result

__all__ = [
    "ReportData",
    "ReportImage",
    "ConfidenceHistogram",
    "report_data",
    "thumbnail",
    "as_number",
    "as_numbers",
    "THUMBNAIL",
]

THUMBNAIL = 96  # pixels, the longer side


@dataclass(frozen=True, eq=False)
class ReportImage:
    """One image of the gallery: its index in the run, where it came from, its top-1 class.

    ``thumbnail`` is a uint8 H x W x 3 array (H x W or H x W x 1 grey and H x W x 4 RGBA are
    accepted and made RGB); larger than :data:`THUMBNAIL` is fine, the report shrinks it.
    """

    index: int
    label: str  # the source's name for it: a file path, "array[12]", ...
    confidence: float  # max_y p(y|x)
    class_name: str
    thumbnail: np.ndarray | None = None

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, (int, np.integer)) or self.index < 0:
            raise ValueError(f"ReportImage.index is {self.index!r}; expected the image's index in the run, an int >= 0")
        confidence = as_number(self.confidence)
        if confidence is None or not 0 <= confidence <= 1:
            raise ValueError(f"ReportImage.confidence of image {self.index} is {self.confidence!r}; expected 0..1")
        object.__setattr__(self, "index", int(self.index))
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "label", str(self.label))
        object.__setattr__(self, "class_name", str(self.class_name))
        thumb = self.thumbnail
        if thumb is None:
            return
        thumb = np.asarray(thumb)
        if thumb.dtype != np.uint8 or not (thumb.ndim == 2 or (thumb.ndim == 3 and thumb.shape[2] in (1, 3, 4))):
            raise ValueError(
                f"ReportImage.thumbnail of image {self.index} is {thumb.dtype} {thumb.shape}; "
                "expected a uint8 H x W x 3 array"
            )
        if thumb.ndim == 2 or thumb.shape[2] == 1:
            thumb = np.repeat(thumb.reshape(thumb.shape[0], thumb.shape[1], 1), 3, axis=2)
        elif thumb.shape[2] == 4:
            thumb = thumb[:, :, :3]
        thumb = np.array(thumb)  # a copy the caller cannot change afterwards
        thumb.flags.writeable = False
        object.__setattr__(self, "thumbnail", thumb)


@dataclass(frozen=True, eq=False)
class ConfidenceHistogram:
    """Images per bin of top-1 confidence: ``edges`` B+1 increasing floats, ``counts`` B numbers."""

    edges: np.ndarray
    counts: np.ndarray

    def __post_init__(self) -> None:
        edges = _numbers(self.edges, "ConfidenceHistogram.edges", "B+1 increasing floats")
        counts = _numbers(self.counts, "ConfidenceHistogram.counts", "B counts")
        if edges.ndim != 1 or counts.ndim != 1 or len(edges) != len(counts) + 1 or len(counts) == 0:
            raise ValueError(
                f"ConfidenceHistogram has {edges.size} edges and {counts.size} counts; "
                "expected B+1 edges and B counts, B >= 1"
            )
        if not (np.diff(edges) > 0).all():
            raise ValueError(
                f"ConfidenceHistogram.edges run from {edges[0]:g} to {edges[-1]:g} but do not increase at every "
                "step; expected increasing edges"
            )
        if (counts < 0).any():
            raise ValueError(f"ConfidenceHistogram.counts holds {counts.min():g}; expected counts >= 0")
        edges.flags.writeable = counts.flags.writeable = False
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "counts", counts)


@dataclass(frozen=True, eq=False)
class ReportData:
    """Everything ``report.html`` shows.

    Fields:
        result: the result's fields, as :meth:`Result.to_dict()
            <inception_score.report.result.Result.to_dict>` gives them (a ``Result`` is accepted and
            converted); any field may be missing or None, and what it would show is left out or
            replaced by a note. The comparison metrics (``fid``, ``kid_mean``, ``kid_std``, ``sfid``,
            ``improved_precision``, ``improved_recall``, ``density``, ``coverage``, ``fid_reference``,
            ``fid_infinity`` with ``fid_infinity_fit``) are shown only when present.
        marginal: float64 C, the mean class probability over all images; ``class_names``: C names.
        confidence_histogram: images per bin of top-1 confidence.
        most_confident, least_confident: the gallery, most (least) confident first.

    Raises:
        ValueError: a field has the wrong type or shape (the message names it).
    """

    result: Mapping[str, Any]
    marginal: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    confidence_histogram: ConfidenceHistogram | None = None
    most_confident: tuple[ReportImage, ...] = ()
    least_confident: tuple[ReportImage, ...] = ()

    def __post_init__(self) -> None:
        result: Any = self.result
        if hasattr(result, "to_dict"):
            result = result.to_dict()
        if not isinstance(result, Mapping):
            raise ValueError(
                f"ReportData.result is {type(result).__name__}; "
                "expected Result.to_dict() (a dict of the result's fields)"
            )
        set_ = object.__setattr__
        set_(self, "result", types.MappingProxyType(copy.deepcopy(dict(result))))

        if self.marginal is not None:
            q = _numbers(self.marginal, "ReportData.marginal", "a non-empty list of C floats")
            if q.ndim != 1 or q.size == 0:
                raise ValueError(f"ReportData.marginal has shape {q.shape}; expected a non-empty list of C floats")
            q.flags.writeable = False
            set_(self, "marginal", q)
        names = self.class_names
        if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
            raise ValueError(f"ReportData.class_names is {type(names).__name__}; expected a list of C strings")
        names = tuple(str(s) for s in names)
        if names and self.marginal is not None and len(names) != len(self.marginal):
            raise ValueError(
                f"ReportData.class_names has {len(names)} names for {len(self.marginal)} classes "
                "in ReportData.marginal; expected one name per class"
            )
        set_(self, "class_names", names)

        hist = self.confidence_histogram
        if hist is not None and not isinstance(hist, ConfidenceHistogram):
            if not isinstance(hist, Mapping) or set(hist) != {"edges", "counts"}:
                keys = sorted(hist) if isinstance(hist, Mapping) else None
                raise ValueError(
                    f"ReportData.confidence_histogram is {type(hist).__name__} with keys {keys}; expected a "
                    "ConfidenceHistogram or {'edges': B+1 floats, 'counts': B counts}"
                )
            set_(self, "confidence_histogram", ConfidenceHistogram(hist["edges"], hist["counts"]))

        for name in ("most_confident", "least_confident"):
            items = getattr(self, name)
            if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
                raise ValueError(f"ReportData.{name} is {type(items).__name__}; expected a list of ReportImage")
            for k, item in enumerate(items):
                if not isinstance(item, ReportImage):
                    raise ValueError(f"ReportData.{name}[{k}] is {type(item).__name__}; expected a ReportImage")
            set_(self, name, tuple(items))


def as_number(value: Any) -> float | None:
    """A result field as a finite float, or None (missing, not a number, a bool, NaN or infinite).

    Example:
        >>> as_number(3), as_number(float("nan")), as_number("9.5"), as_number(True)
        (3.0, None, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def as_numbers(values: Any) -> list[float]:
    """The finite numbers of a list field of the result (a missing or non-list field gives [])."""
    if not isinstance(values, (list, tuple, np.ndarray)):
        return []
    return [v for v in map(as_number, values) if v is not None]


def _numbers(value: Any, name: str, expected: str) -> np.ndarray:
    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} could not be read as numbers ({e}); expected {expected}") from None
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinite values; expected {expected}")
    return a


# -- from a run ----------------------------------------------------------------------------------------


def thumbnail(image: Tensor) -> np.ndarray:
    """uint8 3 x H x W -> uint8 h x w x 3 with the longer side at most :data:`THUMBNAIL` (bicubic)."""
    from PIL import Image

    picture = Image.fromarray(image.detach().cpu().permute(1, 2, 0).numpy())
    picture.thumbnail((THUMBNAIL, THUMBNAIL), Image.BICUBIC)
    return np.asarray(picture.convert("RGB"))


def _read_back(sources: Sequence[ImageSource], index: int) -> tuple[str, np.ndarray | None]:
    from ..errors import InceptionScoreError
    from ..run.plan import locate

    source, local = locate(sources, index)
    try:
        images = next(iter(source.batches(1, 0, local, local + 1))).images
    except (InceptionScoreError, StopIteration, OSError):
        return source.label(local), None
    return source.label(local), thumbnail(images[0])


def report_data(result: Result, measurement: Measurement) -> ReportData:
    """The report of ``result``, with what ``measurement``'s accumulators add and the images read back.

    Images a source cannot give again (a plain sample function) are left out of the gallery.
    """
    extras: dict[str, Any] = {}
    for accumulator in measurement.accumulators:
        extras.update(accumulator.report_data())
    names = extras.get("class_names") or []
    gallery: dict[str, list[ReportImage]] = {}
    for key in ("most_confident", "least_confident"):
        gallery[key] = []
        for entry in extras.get(key, []):
            label, picture = _read_back(measurement.sources, entry["index"]) if measurement.sources else ("", None)
            if picture is None:
                continue  # a source that cannot be read again
            cls = entry["class"]
            gallery[key].append(
                ReportImage(
                    index=entry["index"],
                    label=label,
                    confidence=entry["confidence"],
                    class_name=names[cls] if 0 <= cls < len(names) else f"class {cls}",
                    thumbnail=picture,
                )
            )
    hist = extras.get("confidence_histogram")
    return ReportData(
        result=result.to_dict(),
        marginal=extras.get("marginal"),
        class_names=tuple(names),
        confidence_histogram=ConfidenceHistogram(hist["edges"], hist["counts"]) if hist else None,
        most_confident=tuple(gallery["most_confident"]),
        least_confident=tuple(gallery["least_confident"]),
    )
