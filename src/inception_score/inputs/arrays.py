"""In-memory images: numpy arrays and torch tensors, as a source or batch by batch.

Layouts: numpy arrays are read as N x H x W x C when the last dim C is 3 (or 1), else
N x C x H x W; torch tensors as N x C x H x W when dim 1 is 3 (or 1), else N x H x W x C. One
channel (grayscale) is repeated to RGB, as Pillow's ``convert("RGB")`` does. Three dims, N x H x W,
are N grayscale images (torchvision's MNIST ``.data``), unless the shape could also be one image:
then it is refused with both readings (:func:`~.base.array_layout`; ``.npz`` files follow the same
rule). uint8 is taken as is; floats must lie in ``image_range`` ((0, 1) unless declared otherwise)
and become uint8 by the one rule of :func:`~inception_score.inputs.base.float_to_uint8` (nearest level, halves up).
Values outside the range by more than :data:`RANGE_TOLERANCE` of its width, NaN and inf are
refused, naming the input, the image and what was seen; within the tolerance they are clamped
(float rounding of ``tanh`` outputs).

Example:
    >>> import numpy as np
    >>> src = ArraySource(np.zeros((5, 32, 32, 3), dtype=np.uint8))
    >>> len(src), [b.indices.tolist() for b in src.batches(batch_size=2)]
    (5, [[0, 1], [2, 3], [4]])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError, a
from .base import Batch, ImageSource, array_layout, first_non_finite, index_ranges, numpy_view, to_uint8_nchw

__all__ = ["ArraySource", "RANGE_TOLERANCE", "check_float_images", "images_to_uint8"]

RANGE_TOLERANCE = 1e-3  # of the range's width: tanh outputs may overshoot by float rounding
CHECK_CHUNK = 1024  # images checked at a time (a float64 copy of a whole array would double its memory)


def _range_hint(lo: float, hi: float, seen_lo: float, seen_hi: float) -> str:
    if seen_lo >= -1.0 - 1e-3 and seen_hi <= 1.0 + 1e-3 and seen_lo < 0 and lo >= 0:
        return "; values in [-1, 1] (tanh)? declare image_range=(-1, 1) (--image-range=-1,1)"
    if seen_lo >= 0 and seen_hi > 1.5 and hi <= 1.0:
        return "; values in [0, 255]? pass uint8, or declare image_range=(0, 255) (--image-range 0,255)"
    return ""


def check_float_images(t: Any, image_range: tuple[float, float], name: str, first_index: int = 0) -> None:
    """Refuse NaN, inf and values outside ``image_range`` (beyond the tolerance), naming the image."""
    lo, hi = image_range
    for start in range(0, t.shape[0], CHECK_CHUNK):
        part = t[start : start + CHECK_CHUNK]
        part = part if isinstance(part, Tensor) else numpy_view(np.asarray(part))
        if not bool(torch.isfinite(part).all()):
            index = first_index + start + first_non_finite(part)
            raise InputError(f"{name}: contains NaN or inf (image {index}); expected floats in [{lo:g}, {hi:g}]")
        seen_lo, seen_hi = (float(v) for v in torch.aminmax(part))
        tol = RANGE_TOLERANCE * (hi - lo)
        if seen_lo < lo - tol or seen_hi > hi + tol:
            raise InputError(
                f"{name}: float values must lie in [{lo:g}, {hi:g}] (image_range), got values in "
                f"[{seen_lo:g}, {seen_hi:g}]{_range_hint(lo, hi, seen_lo, seen_hi)}"
            )


class ArraySource(ImageSource):
    """An in-memory numpy array or torch tensor of images (layouts in the module docstring)."""

    def __init__(
        self, array: np.ndarray | Tensor, name: str = "array", image_range: tuple[float, float] = (0.0, 1.0)
    ) -> None:
        self.name = name
        is_torch = isinstance(array, Tensor)
        self.layout = array_layout(tuple(array.shape), array.dtype, name, is_torch)
        self.array = array.detach().cpu() if is_torch else array
        self.image_range = image_range
        if self.array.dtype != torch.uint8 and self.array.dtype != np.uint8:
            check_float_images(self.array, image_range, name)

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def identity(self, exact: bool = False) -> list[Any]:
        """Shape, dtype and a hash of the first, middle and last image (hashing a whole array of
        large images would cost seconds)."""
        import hashlib

        n = len(self)
        digest = hashlib.sha256()
        for i in sorted({0, n // 2, n - 1}):
            one = self.array[i]
            if isinstance(one, Tensor):  # any device and dtype (bfloat16 has no numpy twin): its bytes
                one = one.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
            digest.update(np.ascontiguousarray(one).tobytes())
        return ["array", list(self.array.shape), str(self.array.dtype), digest.hexdigest()[:16]]

    def batches(
        self, batch_size: int, num_workers: int = 0, start: int = 0, stop: int | None = None
    ) -> Iterator[Batch]:
        for lo, hi in index_ranges(start, len(self) if stop is None else stop, batch_size):
            yield Batch(np.arange(lo, hi), to_uint8_nchw(self.array[lo:hi], self.layout, self.image_range))


def images_to_uint8(
    images: Any, image_range: tuple[float, float] | None, name: str, first_index: int = 0
) -> Tensor | list[Tensor]:
    """Images as a generator or a training loop hands them over -> uint8 N x 3 x H x W (on their device).

    ``images``: a 4-dim tensor or array, or a 3-dim stack of grayscale images (layouts in the module
    docstring), or a list of 3-dim images (returned as a list when their sizes differ). uint8 is
    taken as is; floats are mapped from ``image_range`` by the one rule (None: floats are refused).
    ``name`` starts every error message; ``first_index`` is the index of the first image, for messages.
    """
    if isinstance(images, (list, tuple)):
        if not images:
            raise InputError(f"{name}: got an empty list of images")
        out = []
        for k, image in enumerate(images):
            if not isinstance(image, (np.ndarray, Tensor)) or image.ndim != 3:
                shape = tuple(image.shape) if hasattr(image, "shape") else type(image).__name__
                raise InputError(f"{name}: list item {k} is {shape}; expected one image, 3 x H x W or H x W x 3")
            one = images_to_uint8(image[None], image_range, name, first_index + k)
            assert isinstance(one, Tensor)
            out.append(one[0])
        return torch.stack(out) if all(o.shape == out[0].shape for o in out) else out
    if not isinstance(images, (np.ndarray, Tensor)):
        raise InputError(f"{name}: got {a(type(images).__name__)}; expected a torch tensor or numpy array of images")
    is_torch = isinstance(images, Tensor)
    is_float = images.dtype.is_floating_point if is_torch else np.issubdtype(images.dtype, np.floating)
    is_uint8 = images.dtype == (torch.uint8 if is_torch else np.uint8)
    if not is_uint8 and (not is_float or image_range is None):
        accepted = "uint8" if image_range is None else f"uint8, or float in [{image_range[0]:g}, {image_range[1]:g}]"
        hint = "; for float images pass image_range=(0, 1), (-1, 1) or (0, 255)" if image_range is None else ""
        raise InputError(f"{name}: expected {accepted}, got dtype {images.dtype}{hint}")
    layout = array_layout(tuple(images.shape), images.dtype, name, is_torch)
    t = images.detach() if is_torch else numpy_view(images)
    if is_float:
        assert image_range is not None
        check_float_images(t, image_range, name, first_index)
    return to_uint8_nchw(t if is_torch else images, layout, image_range or (0.0, 1.0))
