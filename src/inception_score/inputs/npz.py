"""ADM sample batches: ``arr_0`` of an ``.npz`` (or the array of an ``.npy``), N x H x W x 3 uint8.

The guided-diffusion (ADM) batch format; other arrays in the file, such as ADM's labels ``arr_1``
or a reference batch's ``mu``/``sigma``, are ignored here. Read a slice at a time: memory-mapped
when the member is stored uncompressed (``np.savez``), streamed in order when it is compressed
(``np.savez_compressed``); the whole array is never loaded at once.
"""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .base import Batch, ImageSource, array_layout, index_ranges, to_uint8_nchw

__all__ = ["NpySource"]


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


class NpySource(ImageSource):
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
        self.layout = array_layout(self.shape, self.dtype, self.name, is_torch=False, allow_float=False)

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
            for lo, hi in index_ranges(start, stop, batch_size):
                yield Batch(np.arange(lo, hi), to_uint8_nchw(np.array(self._memmap[lo:hi]), self.layout))
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
            for lo, hi in index_ranges(start, stop, batch_size):
                data = fp.read(row_bytes * (hi - lo))
                if len(data) != row_bytes * (hi - lo):
                    raise InputError(f"{self.name}: arr_0 is truncated at image {lo}")
                chunk = np.frombuffer(bytearray(data), dtype=self.dtype).reshape(hi - lo, *self.shape[1:])
                yield Batch(np.arange(lo, hi), to_uint8_nchw(chunk, self.layout))
