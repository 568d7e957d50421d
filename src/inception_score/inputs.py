"""What can be scored: folders of images, ``.npz``/``.npy`` batches, in-memory arrays and tensors.

Every source yields batches of uint8 RGB images at their native size together with their
indexes, so that the pipeline knows each image's place in the input (splits depend on it):

* **folder**: files with the extensions in :data:`IMAGE_EXTENSIONS` (case-insensitive), not
  recursive unless asked, ordered as torch-fidelity orders them: ``sorted`` real paths. Decoded
  by :mod:`inception_score.files` (Pillow and ``Image.convert("RGB")``, with the exceptions and
  refusals listed there). A single image file is a source of one image.
* **.npz / .npy**: ``arr_0`` as N x H x W x 3 uint8, the guided-diffusion (ADM) batch format
  (other arrays in the file, such as ADM's labels ``arr_1``, are ignored). Read a slice at a
  time: memory-mapped when the member is stored uncompressed (``np.savez``), streamed in order
  when it is compressed (``np.savez_compressed``); the whole array is never loaded at once.
* **numpy arrays and torch tensors** of 4 dims: uint8 in [0, 255], or float in [0, 1] which is
  converted to uint8 by ``round(x * 255)`` (rounding, not truncation: 0.5/255 maps to 1, so a
  uint8 image saved as float and read back scores the same). Layout: numpy arrays are read as
  N x H x W x C when the last dim C is 3 (or 1), else N x C x H x W; torch tensors as
  N x C x H x W when dim 1 is 3 (or 1), else N x H x W x C. One channel (grayscale) is repeated
  to RGB, as Pillow's ``convert("RGB")`` does.

* **glob patterns** (``"samples/**/*.png"``, quoted so the shell leaves them alone): matching
  image files, sorted by real path as for folders.
* **@list.txt**: one image path per line, scored in the order of the file; relative paths are
  relative to the list file.

Several sources are concatenated in the order given.

Example:
    >>> import numpy as np
    >>> src = open_source(np.zeros((5, 32, 32, 3), dtype=np.uint8))
    >>> len(src), [b.indices.tolist() for b in src.batches(batch_size=2)]
    (5, [[0, 1], [2, 3], [4]])
"""

from __future__ import annotations

import glob
import os
import struct
import warnings
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .errors import InputError
from .files import IMAGE_EXTENSIONS, LOSSY_EXTENSIONS, check_header, decode_image, list_images

__all__ = [
    "IMAGE_EXTENSIONS",
    "LOSSY_EXTENSIONS",
    "Batch",
    "Source",
    "FolderSource",
    "NpySource",
    "ArraySource",
    "open_source",
    "open_sources",
    "InceptionScoreWarning",
]


class InceptionScoreWarning(UserWarning):
    """Something that makes the number less trustworthy (the CLI prints it on one line)."""


@dataclass
class Batch:
    """Images with their indexes (0-based within the source, or global after concatenation).

    ``images`` is a uint8 N x 3 x H x W tensor when all images share a size, else a list of
    uint8 3 x H x W tensors.
    """

    indices: np.ndarray
    images: Tensor | list[Tensor]


class Source(ABC):
    """A finite, ordered collection of images."""

    name: str
    lossy: bool = False

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


def _ranges(start: int, stop: int, batch_size: int) -> Iterator[tuple[int, int]]:
    for lo in range(start, stop, batch_size):
        yield lo, min(lo + batch_size, stop)


# --------------------------------------------------------------------------- folders of files


class _DecodeDataset(torch.utils.data.Dataset):
    """Index -> (index, image or None, error or None, notes); errors travel as data so that the
    main process raises one clean InputError (or skips) instead of showing a worker traceback."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, Tensor | None, str | None, list[str]]:
        try:
            image, notes = decode_image(self.paths[i])
            return i, image, None, notes
        except InputError as exc:
            return i, None, str(exc), []


class _HeaderDataset(torch.utils.data.Dataset):
    """Index -> (index, why the file cannot be an image, or None)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, str | None]:
        return i, check_header(self.paths[i])


def _collate(items: list[Any]) -> list[Any]:
    return items


def _stack_if_same_size(images: list[Tensor]) -> Tensor | list[Tensor]:
    if all(img.shape == images[0].shape for img in images):
        return torch.stack(images)
    return images


class FolderSource(Source):
    """Image files of a folder (or one image file), in torch-fidelity's order.

    ``skipped`` lists ``(path, reason)`` of files dropped by :meth:`drop_unreadable`.
    """

    def __init__(
        self, path: str | os.PathLike[str], recursive: bool = False, paths: Sequence[str] | None = None
    ) -> None:
        p = Path(path)
        self.name = os.fsdecode(path)
        self.skipped: list[tuple[str, str]] = []
        if paths is not None:  # a glob pattern or a list file: the files are given
            self.paths = list(paths)
        elif p.is_dir():
            self.paths = list_images(p, recursive)
            if not self.paths:
                hint = "" if recursive else " (add --recursive to look in sub-folders)"
                raise InputError(
                    f"{self.name}: no images found; expected files ending in "
                    f"{', '.join('.' + e for e in IMAGE_EXTENSIONS)}{hint}"
                )
        else:
            self.paths = [os.path.realpath(p)]
        lossy = sum(os.path.splitext(q)[1][1:].lower() in LOSSY_EXTENSIONS for q in self.paths)
        self.lossy = lossy > 0
        if lossy:
            warnings.warn(
                f"{self.name}: {lossy} of {len(self.paths)} images are JPEGs; lossy compression "
                f"changes the score, so compare only with numbers computed on the same files",
                InceptionScoreWarning,
                stacklevel=2,
            )

    def __len__(self) -> int:
        return len(self.paths)

    def first_problem(self, num_workers: int = 0) -> str | None:
        """The first file, in order, that cannot be an image judging by its metadata and header
        (cheap: a stat and a header read each, in ``num_workers`` processes)."""
        loader = torch.utils.data.DataLoader(
            _HeaderDataset(self.paths), batch_size=256, num_workers=num_workers, collate_fn=_collate
        )
        for problems in loader:
            for i, problem in problems:
                if problem:
                    return f"{self.paths[i]}: {problem}"
        return None

    def drop_unreadable(self, num_workers: int = 0) -> list[tuple[str, str]]:
        """Decode every file once and drop those that fail; returns (path, reason) of each.

        This is what ``on_error="skip"`` costs: one extra decoding pass, so that N, and with it
        every image's split, is known before scoring starts.
        """
        bad: dict[int, str] = {}
        for items in self._loader(64, num_workers):
            for i, _, error, _ in items:
                if error is not None:
                    bad[i] = error.split(": ", 1)[1] if error.startswith(self.paths[i] + ": ") else error
        self.skipped += [(self.paths[i], reason) for i, reason in sorted(bad.items())]
        self.paths = [p for i, p in enumerate(self.paths) if i not in bad]
        return [(p, r) for p, r in self.skipped]

    def _loader(self, batch_size: int, num_workers: int, start: int = 0, stop: int | None = None) -> Any:
        return torch.utils.data.DataLoader(
            torch.utils.data.Subset(_DecodeDataset(self.paths), range(start, len(self) if stop is None else stop)),
            batch_size=batch_size,
            shuffle=False,
            num_workers=num_workers,
            collate_fn=_collate,
            prefetch_factor=4 if num_workers > 0 else None,
        )

    def batches(
        self, batch_size: int, num_workers: int = 0, start: int = 0, stop: int | None = None
    ) -> Iterator[Batch]:
        animated = 0
        for items in self._loader(batch_size, num_workers, start, stop):
            for _, _, error, notes in items:
                if error is not None:
                    raise InputError(error)
                animated += "animated" in notes
            images = [img for _, img, _, _ in items]
            yield Batch(np.array([i for i, _, _, _ in items], dtype=np.int64), _stack_if_same_size(images))
        if animated:
            warnings.warn(
                f"{self.name}: {animated} animated images (GIF/WebP); each was scored by its first frame",
                InceptionScoreWarning,
                stacklevel=2,
            )


# --------------------------------------------------------------------------- arrays


def _as_uint8_nchw(chunk: Any, layout: str) -> Tensor:
    """A slice of a validated array -> uint8 N x 3 x H x W tensor (floats rounded)."""
    t = torch.as_tensor(np.ascontiguousarray(chunk)) if isinstance(chunk, np.ndarray) else chunk
    if t.is_floating_point():
        # Rounding, not truncation (torch-fidelity's generator example truncates): documented above.
        t = (t.to(torch.float32) * 255).round_().to(torch.uint8)
    if layout == "nhwc":
        t = t.permute(0, 3, 1, 2)
    if t.shape[1] == 1:
        t = t.expand(-1, 3, -1, -1)  # grayscale -> RGB, as Pillow's convert("RGB")
    return t.contiguous()


def _check_array(array: Any, name: str, allow_float: bool = True) -> str:
    """Validate dims, channels and dtype; return the layout ("nhwc" or "nchw")."""
    shape = tuple(array.shape)
    is_torch = isinstance(array, Tensor)
    expected = "N x H x W x 3 or N x 3 x H x W"
    if len(shape) != 4:
        hint = "; one image? add a batch dimension, x[None]" if len(shape) == 3 else ""
        raise InputError(f"{name}: expected 4 dims ({expected}), got shape {shape}{hint}")
    if is_torch:
        layout = "nchw" if shape[1] in (1, 3) else "nhwc" if shape[3] in (1, 3) else ""
    else:
        layout = "nhwc" if shape[3] in (1, 3) else "nchw" if shape[1] in (1, 3) else ""
    if not layout:
        hint = "; RGBA? drop the alpha channel, e.g. x[..., :3]" if 4 in (shape[1], shape[3]) else ""
        raise InputError(f"{name}: expected 3 colour channels ({expected}), got shape {shape}{hint}")
    if shape[0] == 0 or 0 in shape[1:]:
        raise InputError(f"{name}: holds no images (shape {shape})")
    dtype = array.dtype
    is_float = dtype.is_floating_point if is_torch else np.issubdtype(dtype, np.floating)
    is_uint8 = dtype == (torch.uint8 if is_torch else np.uint8)
    if not is_uint8 and not (allow_float and is_float):
        accepted = "uint8 in [0, 255] or float in [0, 1]" if allow_float else "uint8"
        raise InputError(f"{name}: expected {accepted}, got dtype {dtype}")
    return layout


def _check_float_range(array: Any, name: str, chunk: int = 1024) -> None:
    for start in range(0, array.shape[0], chunk):
        part = (
            torch.as_tensor(np.asarray(array[start : start + chunk]))
            if not isinstance(array, Tensor)
            else array[start : start + chunk]
        )
        if not bool(torch.isfinite(part).all()):
            raise InputError(
                f"{name}: contains NaN or inf (image {start + _first_bad(part)}); expected floats in [0, 1]"
            )
        lo, hi = float(part.min()), float(part.max())
        if lo < 0.0 or hi > 1.0:
            raise InputError(
                f"{name}: float values must lie in [0, 1], got values in [{lo:g}, {hi:g}] "
                f"(for images in [-1, 1] pass (x + 1) / 2; for [0, 255] pass uint8)"
            )


def _first_bad(part: Tensor) -> int:
    bad = (~torch.isfinite(part)).flatten(1).any(dim=1).nonzero()
    return int(bad[0]) if len(bad) else 0


class ArraySource(Source):
    """An in-memory numpy array or torch tensor of images (see the module docstring for layouts)."""

    def __init__(self, array: np.ndarray | Tensor, name: str = "array") -> None:
        self.name = name
        self.layout = _check_array(array, name)
        self.array = array.detach().cpu() if isinstance(array, Tensor) else array
        if self.array.dtype != torch.uint8 and self.array.dtype != np.uint8:
            _check_float_range(self.array, name)

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def batches(
        self, batch_size: int, num_workers: int = 0, start: int = 0, stop: int | None = None
    ) -> Iterator[Batch]:
        for lo, hi in _ranges(start, len(self) if stop is None else stop, batch_size):
            yield Batch(np.arange(lo, hi), _as_uint8_nchw(self.array[lo:hi], self.layout))


# --------------------------------------------------------------------------- .npz / .npy


def _npz_member(path: Path) -> tuple[zipfile.ZipFile, zipfile.ZipInfo]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: not a readable .npz archive ({exc})") from None
    names = zf.namelist()
    if "arr_0.npy" not in names:
        zf.close()
        keys = ", ".join(n[:-4] if n.endswith(".npy") else n for n in names) or "nothing"
        raise InputError(f"{path}: expected an array named arr_0 (the ADM batch format), found {keys}")
    return zf, zf.getinfo("arr_0.npy")


def _read_npy_header(fp: Any, path: Path) -> tuple[tuple[int, ...], np.dtype, bool]:
    """(shape, dtype, fortran_order) of the .npy stream at ``fp``, leaving it at the data."""
    try:
        version = np.lib.format.read_magic(fp)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(fp)
        return shape, dtype, fortran
    except ValueError as exc:
        raise InputError(f"{path}: not a valid .npy array ({exc})") from None


class NpySource(Source):
    """``arr_0`` of an ``.npz`` or the array of an ``.npy``: N x H x W x 3 uint8, read in slices."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = os.fsdecode(path)
        self._memmap: np.ndarray | None = None
        if self.path.suffix.lower() == ".npy":
            try:
                self._memmap = np.load(self.path, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise InputError(f"{self.name}: not a valid .npy array ({exc})") from None
            shape, dtype, fortran = self._memmap.shape, self._memmap.dtype, False
        else:
            zf, info = _npz_member(self.path)
            with zf, zf.open(info) as fp:
                shape, dtype, fortran = _read_npy_header(fp, self.path)
                header_len = fp.tell()
            if info.compress_type == zipfile.ZIP_STORED:
                self._memmap = np.memmap(
                    self.path,
                    dtype=dtype,
                    mode="r",
                    shape=shape,
                    order="F" if fortran else "C",
                    offset=self._data_offset(info) + header_len,
                )
        if fortran:
            raise InputError(f"{self.name}: arr_0 is stored in Fortran order; expected a C-ordered array")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.layout = _check_array(_ShapeOnly(self.shape, self.dtype), self.name, allow_float=False)

    def _data_offset(self, info: zipfile.ZipInfo) -> int:
        # The local file header (30 bytes + name + extra) precedes the stored bytes; its extra
        # field may differ from the central directory's, so read it from the file.
        with open(self.path, "rb") as f:
            f.seek(info.header_offset)
            header = f.read(30)
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        return info.header_offset + 30 + name_len + extra_len

    def __len__(self) -> int:
        return int(self.shape[0])

    def batches(
        self, batch_size: int, num_workers: int = 0, start: int = 0, stop: int | None = None
    ) -> Iterator[Batch]:
        stop = len(self) if stop is None else stop
        if self._memmap is not None:
            for lo, hi in _ranges(start, stop, batch_size):
                yield Batch(np.arange(lo, hi), _as_uint8_nchw(np.array(self._memmap[lo:hi]), self.layout))
            return
        # Compressed member: stream it in order (skipping what precedes ``start``), a slice at a time.
        row_bytes = int(np.prod(self.shape[1:])) * self.dtype.itemsize
        zf, info = _npz_member(self.path)
        with zf, zf.open(info) as fp:
            _read_npy_header(fp, self.path)
            skip = row_bytes * start
            while skip:
                skipped = len(fp.read(min(skip, 1 << 24)))
                if not skipped:
                    raise InputError(f"{self.name}: arr_0 is truncated before image {start}")
                skip -= skipped
            for lo, hi in _ranges(start, stop, batch_size):
                data = fp.read(row_bytes * (hi - lo))
                if len(data) != row_bytes * (hi - lo):
                    raise InputError(f"{self.name}: arr_0 is truncated at image {lo}")
                chunk = np.frombuffer(bytearray(data), dtype=self.dtype).reshape(hi - lo, *self.shape[1:])
                yield Batch(np.arange(lo, hi), _as_uint8_nchw(chunk, self.layout))


@dataclass
class _ShapeOnly:
    """Stands in for an array in :func:`_check_array` when only shape and dtype are known."""

    shape: tuple[int, ...]
    dtype: np.dtype


# --------------------------------------------------------------------------- opening


def open_source(
    source: Any, recursive: bool = False, num_samples: int | None = None, image_range: Any = None
) -> Source | list[Source]:
    """Turn what a user passed (a path, an array, a tensor) into a :class:`Source`.

    Example:
        >>> open_source("no/such/folder")
        Traceback (most recent call last):
        ...
        inception_score.errors.InputError: no/such/folder: no such file or folder
    """
    if isinstance(source, Source):
        return source
    if callable(source) and not isinstance(source, (str, os.PathLike)):
        from .generators import generator_source  # generators builds on this module

        if num_samples is None:
            raise InputError("generator: give num_samples (how many images to draw)")
        extra = {"image_range": image_range} if image_range is not None else {}
        return generator_source(source, num_samples, **extra)
    if isinstance(source, (np.ndarray, Tensor)):
        return ArraySource(source, name=f"{type(source).__name__} of shape {tuple(source.shape)}")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = os.fsdecode(source)
        if isinstance(source, str) and source.startswith("@") and not path.exists():
            return _list_file_source(Path(source[1:]))
        if isinstance(source, str) and any(c in source for c in "*?[") and not path.exists():
            return _glob_source(source)
        if not path.exists():
            raise InputError(f"{name}: no such file or folder")
        if path.is_dir():
            return FolderSource(path, recursive=recursive)
        from .archives import ArchiveSource, is_archive  # archives builds on this module

        if is_archive(path):
            return ArchiveSource(path)
        suffix = path.suffix.lower()
        if suffix in (".npz", ".npy"):
            return NpySource(path)
        if suffix[1:] in IMAGE_EXTENSIONS:
            return FolderSource(path)
        raise InputError(
            f"{name}: unsupported file type {suffix or '(no extension)'}; expected a folder, an image "
            f"({', '.join('.' + e for e in IMAGE_EXTENSIONS)}), a .tar/.zip archive of images, "
            f"or an .npz/.npy holding arr_0 as N x H x W x 3 uint8"
        )
    raise InputError(
        f"source: got a {type(source).__name__}; expected a path, a numpy array or a torch tensor of images"
    )


def _glob_source(pattern: str) -> Source | list[Source]:
    """Files matching a glob pattern (``**`` crosses folders), sorted by real path: image files
    become one source, archives (``shards-*.tar``) one source each."""
    from .archives import ArchiveSource, is_archive

    matches = sorted(os.path.realpath(m) for m in glob.glob(pattern, recursive=True) if not os.path.isdir(m))
    images = [m for m in matches if os.path.splitext(m)[1][1:].lower() in IMAGE_EXTENSIONS]
    archives = [m for m in matches if is_archive(m)]
    if images and archives:
        raise InputError(f"{pattern}: matches both images and archives; give them as separate sources")
    if archives:
        return [ArchiveSource(a) for a in archives]
    if not images:
        raise InputError(f"{pattern}: no image files or archives match this pattern")
    return FolderSource(pattern, paths=images)


def _list_file_source(list_path: Path) -> FolderSource:
    """``@list.txt``: one image path per line, in the file's order (blank lines and lines starting
    with # are ignored); relative paths are relative to the list file's folder."""
    name = "@" + os.fsdecode(list_path)
    try:
        lines = list_path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError as exc:
        raise InputError(f"{name}: cannot read the list of images ({exc.strerror or exc})") from None
    entries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not entries:
        raise InputError(f"{name}: the list holds no paths; expected one image path per line")
    base = list_path.parent
    return FolderSource(name, paths=[os.path.abspath(base / entry) for entry in entries])


def open_sources(
    sources: Any, recursive: bool = False, num_samples: int | None = None, image_range: Any = None
) -> list[Source]:
    """One or several sources (a list or tuple of them) -> list of :class:`Source`."""
    items = list(sources) if isinstance(sources, (list, tuple)) else [sources]
    if not items:
        raise InputError("source: got an empty list; expected at least one folder, file or array")
    opened: list[Source] = []
    for item in items:
        source = open_source(item, recursive, num_samples, image_range)
        opened.extend(source if isinstance(source, list) else [source])
    return opened
