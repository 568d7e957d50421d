"""What every source of images shares: the batch it yields, the interface, and the one rule for floats.

A source is a finite, ordered collection of images. It yields :class:`Batch` objects: uint8 RGB
images at their native size with their indexes, so that the pipeline knows each image's place in
the input (the splits of the protocols depend on it).

**Floats to uint8, one rule for every input** (arrays, tensors, generators, the metric object):
a float ``x`` in ``image_range`` (lo, hi) becomes the level ``255 (x - lo) / (hi - lo)`` computed
in float64, rounded to the nearest integer with **halves rounded up**, and clamped to [0, 255].
"Halves" include the values that are a half only up to float rounding: ``(k + 0.5) / 255`` stored
as float32 or float64 lies up to ~2e-5 of a level below k + 0.5, so anything within
:data:`HALF_TOLERANCE` (1e-4 of a level) below a half counts as the half. So 0.5/255 maps to 1,
and a uint8 image saved as ``u / 255`` (float32 or float64) and read back gives ``u`` exactly.
(``torch.round`` rounds halves to even, and float32 ``x * 255`` adds its own rounding: together
they sent 128 of the 255 halves down.) torch-fidelity's generator example truncates instead,
which darkens every pixel by half a level on average.

Example:
    >>> import torch
    >>> float_to_uint8(torch.tensor([0.0, 0.5 / 255, 1.5 / 255, 1.0])).tolist()
    [0, 1, 2, 255]
    >>> float_to_uint8(torch.tensor([-1.0, 0.0, 1.0]), (-1.0, 1.0)).tolist()
    [0, 128, 255]
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError, plural

__all__ = [
    "Batch",
    "ImageSource",
    "HALF_TOLERANCE",
    "float_to_uint8",
    "index_ranges",
    "stack_if_same_size",
    "collate_list",
    "array_layout",
    "to_uint8_nchw",
    "numpy_view",
    "first_non_finite",
    "fingerprint",
    "file_identity",
]

HALF_TOLERANCE = 1e-4  # of a uint8 level: float rounding of (k + 0.5) / 255 stays well inside it


@dataclass
class Batch:
    """Images with their indexes (0-based within the source, or global after concatenation).

    ``images`` is a uint8 N x 3 x H x W tensor when all images share a size, else a list of
    uint8 3 x H x W tensors.
    """

    indices: np.ndarray
    images: Tensor | list[Tensor]


class ImageSource(ABC):
    """A finite, ordered collection of images (a folder, an array, an archive, a generator...)."""

    name: str

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def batches(
        self, batch_size: int, num_workers: int = 0, start: int = 0, stop: int | None = None
    ) -> Iterator[Batch]:
        """Yield the images ``start .. stop - 1`` (all by default) in order, ``batch_size`` at a time.

        Batches begin at ``start`` and every ``batch_size`` after it; indexes are the images'
        positions in this source. A rank or a shard reads only its own range.
        """

    def label(self, index: int) -> str:
        """What to call image ``index`` of this source in a report (a file, a member, a position)."""
        return f"{self.name}[{index}]"

    def identity(self, exact: bool = False) -> list[Any]:
        """What identifies these images, cheaply, for statistics and state files: two runs over the
        same images give the same identity. Portable by default (file names and sizes, not where
        they are: the shards of a job array may see the data at other paths); ``exact`` adds
        what changes when a file is rewritten in place (modification times), for resuming.
        Subclasses refine this default (the kind of source and its length)."""
        return [type(self).__name__, len(self)]


def fingerprint(sources: Any, exact: bool = False) -> str:
    """sha256 (16 hex digits) of the identities of ``sources``, in order."""
    import hashlib
    import json

    parts = [source.identity(exact) for source in sources]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def file_identity(path: str, exact: bool) -> list[Any]:
    """A file's base name and size (and with ``exact``, its modification time in ns)."""
    import os

    try:
        info = os.stat(path)
    except OSError:
        return [os.path.basename(path), None]
    return [os.path.basename(path), info.st_size, *([info.st_mtime_ns] if exact else [])]


def index_ranges(start: int, stop: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """(lo, hi) of consecutive batches covering ``start .. stop - 1``."""
    for lo in range(start, stop, batch_size):
        yield lo, min(lo + batch_size, stop)


def stack_if_same_size(images: list[Tensor]) -> Tensor | list[Tensor]:
    """One N x 3 x H x W tensor when the images share a size, else the list as it is."""
    if all(img.shape == images[0].shape for img in images):
        return torch.stack(images)
    return images


def collate_list(items: list[Any]) -> list[Any]:
    """A DataLoader ``collate_fn`` that keeps the items as they are (images of several sizes)."""
    return items


def float_to_uint8(t: Tensor, image_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
    """Float images in ``image_range`` -> uint8 by the rule in the module docstring (any shape).

    The caller has checked that values are finite and inside the range (up to a tolerance:
    values just outside are clamped).
    """
    lo, hi = image_range
    level = (t.detach().to(torch.float64) - lo) * (255.0 / (hi - lo))
    return torch.floor_(level.add_(0.5 + HALF_TOLERANCE)).clamp_(0, 255).to(torch.uint8)


CHANNEL_COUNTS = (1, 2, 3, 4)  # what a dim of one image's colour channels could be: gray, gray+alpha, RGB, RGBA


def array_layout(shape: tuple[int, ...], dtype: Any, name: str, is_torch: bool, allow_float: bool = True) -> str:
    """Validate the dims, channels and dtype of an image array; return its layout: "nhwc", "nchw" or "nhw".

    Four dims: numpy arrays are N x H x W x C when the last dim is 1 or 3, else N x C x H x W;
    torch tensors are N x C x H x W when dim 1 is 1 or 3, else N x H x W x C.

    Three dims, one rule for arrays, tensors and ``.npz`` files: N x H x W is a stack of N grayscale
    images (torchvision's MNIST ``.data``), each repeated to RGB, unless the shape could also be
    *one* image: a first dim of 2 to 4 (C x H x W) or a last dim of 1 to 4 (H x W x C). Those are
    refused, naming both readings and the indexing that makes each explicit (numpy: ``x[None]`` for
    one image, ``x[..., None]`` for a grayscale stack; torch: ``x[None]``, ``x[:, None]``). A first
    dim of 1 is one grayscale image either way.

    Example:
        >>> array_layout((60000, 28, 28), np.uint8, "mnist", is_torch=False)
        'nhw'
        >>> array_layout((3, 32, 32), np.uint8, "x", is_torch=True)
        Traceback (most recent call last):
        ...
        inception_score.errors.InputError: x: shape (3, 32, 32) is ambiguous: one 3 x 32 x 32 image (C x H x W), or 3 grayscale images of 32 x 32? For one image add a batch dimension, x[None]; for grayscale images a channel dimension, x[:, None] (N x 1 x H x W)
    """  # noqa: E501
    expected = "N x H x W x 3 or N x 3 x H x W"
    if len(shape) == 3:
        _check_grayscale_stack(shape, name, is_torch)
    elif len(shape) != 4:
        raise InputError(f"{name}: expected 4 dims ({expected}) or 3 (N x H x W, grayscale), got shape {shape}")
    if len(shape) == 3:
        layout = "nhw"
    elif is_torch:
        layout = "nchw" if shape[1] in (1, 3) else "nhwc" if shape[3] in (1, 3) else ""
    else:
        layout = "nhwc" if shape[3] in (1, 3) else "nchw" if shape[1] in (1, 3) else ""
    if not layout:
        hint = "; RGBA? drop the alpha channel, e.g. x[..., :3]" if 4 in (shape[1], shape[3]) else ""
        raise InputError(f"{name}: expected 3 colour channels ({expected}), got shape {shape}{hint}")
    if shape[0] == 0 or 0 in shape[1:]:
        raise InputError(f"{name}: holds no images (shape {shape})")
    is_float = dtype.is_floating_point if is_torch else np.issubdtype(dtype, np.floating)
    is_uint8 = dtype == (torch.uint8 if is_torch else np.uint8)
    if not is_uint8 and not (allow_float and is_float):
        accepted = "uint8 in [0, 255] or float in [0, 1]" if allow_float else "uint8"
        raise InputError(f"{name}: expected {accepted}, got dtype {dtype}")
    return layout


def numpy_view(array: np.ndarray) -> Tensor:
    """A tensor over a numpy array's memory, to be read only: C order, native byte order (copied
    when not: torch refuses other byte orders). A read-only array (a memory map, ``np.broadcast_to``,
    a frozen buffer) is viewed without torch's "not writable" UserWarning, which would reach the
    user for nothing: nothing in this package writes into an input's memory (:func:`to_uint8_nchw`
    copies before anything could)."""
    array = np.ascontiguousarray(array)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if array.flags.writeable:
        return torch.from_numpy(array)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)
        return torch.from_numpy(array)


def _check_grayscale_stack(shape: tuple[int, ...], name: str, is_torch: bool) -> None:
    """Refuse a 3-dim shape that could also be one image (see :func:`array_layout`)."""
    n, h, w = shape
    readings = [f"one {n} x {h} x {w} image ({layout})" for layout, channels in (("C x H x W", n), ("H x W x C", w))
                if channels in CHANNEL_COUNTS and not (layout == "C x H x W" and channels == 1)]  # fmt: skip
    if not readings:
        return
    stack = "x[:, None] (N x 1 x H x W)" if is_torch else "x[..., None] (N x H x W x 1)"
    raise InputError(
        f"{name}: shape {shape} is ambiguous: {' or '.join(readings)}, or {plural(n, 'grayscale image')} of "
        f"{h} x {w}? "
        f"For one image add a batch dimension, x[None]; for grayscale images a channel dimension, {stack}"
    )


def to_uint8_nchw(chunk: Any, layout: str, image_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
    """A slice of a validated array (numpy or torch) -> uint8 N x 3 x H x W tensor (floats by the rule)."""
    borrowed = isinstance(chunk, np.ndarray) and not chunk.flags.writeable
    t = numpy_view(chunk) if isinstance(chunk, np.ndarray) else chunk
    if t.is_floating_point():
        t, borrowed = float_to_uint8(t, image_range), False  # a new tensor
    if layout == "nhwc":
        t = t.permute(0, 3, 1, 2)
    elif layout == "nhw":  # a stack of grayscale images
        t = t.unsqueeze(1)
    if t.shape[1] == 1:
        t = t.expand(-1, 3, -1, -1)  # grayscale -> RGB, as Pillow's convert("RGB")
    contiguous = t.contiguous()
    # a batch never shares the memory of a read-only array: whoever gets it may write into it
    return contiguous.clone() if borrowed and contiguous.data_ptr() == t.data_ptr() else contiguous


def first_non_finite(part: Tensor) -> int:
    """Index (along dim 0) of the first image holding NaN or inf; 0 if none."""
    bad = (~torch.isfinite(part)).flatten(1).any(dim=1).nonzero()
    return int(bad[0]) if len(bad) else 0
