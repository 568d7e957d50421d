"""ADM sample batches: ``arr_0`` of an ``.npz`` (or the array of an ``.npy``), N x H x W x 3 uint8.

Float arrays follow the one rule of in-memory arrays (:mod:`.arrays`): values in ``image_range``
((0, 1) unless declared, ``--image-range=-1,1`` for tanh outputs) mapped to the nearest 8-bit
level; NaN, inf and values outside the range are refused before any work, naming the file and
the image (one read of the array, a slice at a time).
(Also N x 3 x H x W, and N x H x W grayscale images, by the rule of in-memory arrays:
:func:`~.base.array_layout`.)

The guided-diffusion (ADM) batch format; other arrays in the file, such as ADM's labels ``arr_1``
or a reference batch's ``mu``/``sigma``, are ignored here. Read a slice at a time: memory-mapped
when the array is stored uncompressed (``np.save``, ``np.savez``), streamed in order when it is
compressed (``np.savez_compressed``); the whole array is never loaded at once.

Arrays stored in Fortran order (``np.asfortranarray``, some writers' default), which
``numpy.load`` and so the ADM evaluator read as the same images, are read too: memory-mapped in
that order, or, when compressed, decompressed once into a temporary file (an image's pixels are
spread over the whole stream) and mapped from there.

Nothing is mapped or allocated before the header has been checked against the file: the shape
(4 dims, or 3 for grayscale images; non-negative), the dtype (uint8 or float; no objects, no pickles:
``allow_pickle`` is never used), each image's size (:data:`~.files.MAX_PIXELS`) and the bytes the
header declares against the bytes the file (or the zip member) holds. Every malformation is one line naming the file.

Example:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "f.npz")
    >>> np.savez(path, np.asfortranarray(np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)))
    >>> src = NpySource(path)
    >>> src.fortran, len(src), next(src.batches(2)).images.shape
    (True, 2, torch.Size([2, 3, 4, 4]))
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from ..errors import InputError
from .archives import ARCHIVE_READ_ERRORS
from .arrays import check_float_images
from .base import Batch, ImageSource, array_layout, file_identity, index_ranges, to_uint8_nchw
from .files import MAX_PIXELS
from .opening import one_line, open_regular

__all__ = ["NpySource"]

_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_FORMAT = "N x H x W x 3 uint8"
_COPY_CHUNK = 1 << 24
_CHECK_BYTES = 1 << 26  # read at a time when checking float values before the work


def _read_npy_header(fp: IO[bytes], name: str) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """(shape, dtype, fortran_order, header length) of the .npy stream at ``fp``, leaving it at
    the data; InputError for anything malformed."""
    start = fp.tell()
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):  # 3.0: a UTF-8 header, only field names can use it
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise InputError(f"{name}: unsupported .npy format version {version[0]}.{version[1]}")
    except InputError:
        raise
    except Exception as exc:  # numpy parses the header with ast and tokenize: any failure means malformed
        raise InputError(f"{name}: not a valid .npy array ({one_line(exc)})") from None
    if any(not isinstance(d, int) or d < 0 for d in shape):
        raise InputError(f"{name}: the header declares an impossible shape {shape}")
    return tuple(int(d) for d in shape), np.dtype(dtype), bool(fortran), fp.tell() - start


class NpySource(ImageSource):
    """``arr_0`` of an ``.npz`` or the array of an ``.npy``: N x H x W x 3 uint8 (or floats in
    ``image_range``, default (0, 1), as for arrays), read in slices."""

    def __init__(self, path: str | os.PathLike[str], image_range: tuple[float, float] | None = None) -> None:
        self.path = os.fsdecode(path)
        self.name = self.path
        self.image_range = image_range or (0.0, 1.0)
        self._memmap: np.ndarray | None = None
        self._spill: Any = None  # the temporary file of a compressed Fortran-ordered array
        is_npy = self.path.lower().endswith(".npy")
        expected = "an .npy file" if is_npy else "an .npz archive holding arr_0"
        with open_regular(self.path, self.name, expected) as f:
            file_size = os.fstat(f.fileno()).st_size
            if is_npy:
                where = self.name
                shape, dtype, fortran, header_len = _read_npy_header(f, where)
                data_offset, stored, room = header_len, True, file_size - header_len
            else:
                where = f"{self.name}: arr_0"
                info = self._member(f)
                with self._zip_errors(), zipfile.ZipFile(f) as zf, zf.open(info) as member:
                    shape, dtype, fortran, header_len = _read_npy_header(member, where)
                stored = info.compress_type == zipfile.ZIP_STORED
                room = info.file_size - header_len  # what the member declares after the header
                data_offset = self._data_offset(f, info, file_size) + header_len if stored else 0
                if stored and info.compress_size != info.file_size:
                    raise InputError(f"{where}: a stored member whose compressed and real sizes differ")
        self.shape, self.dtype, self.fortran = shape, dtype, fortran
        if dtype.hasobject:
            raise InputError(f"{where}: holds Python objects (dtype {dtype}); expected {_FORMAT}")
        self.layout = array_layout(self.shape, self.dtype, self.name, is_torch=False, allow_float=True)
        self.is_float = bool(np.issubdtype(dtype, np.floating))
        height, width = shape[2:4] if self.layout == "nchw" else shape[1:3]  # N x H x W (x C)
        if height * width > MAX_PIXELS:
            raise InputError(
                f"{where}: images of {height} x {width} pixels; refused: more than {MAX_PIXELS:,} pixels an image"
            )
        self.row_bytes = int(np.prod(shape[1:], dtype=object)) * dtype.itemsize
        nbytes = self.row_bytes * shape[0]
        if nbytes > room or (stored and data_offset + nbytes > file_size):
            held = max(0, min(room, file_size - data_offset) if stored else room)
            raise InputError(
                f"{where}: the header declares shape {shape} ({nbytes:,} bytes), but the file holds {held:,} "
                f"bytes of data; truncated or corrupt"
            )
        if stored:
            with open_regular(self.path, self.name, expected) as f:
                self._memmap = np.memmap(
                    f, dtype=dtype, mode="r", shape=shape, order="F" if fortran else "C", offset=data_offset
                )
        if self.is_float:  # NaN, inf and values out of range are refused now, not after part of the work
            rows = max(1, _CHECK_BYTES // max(1, self.row_bytes))
            for lo, chunk in self._chunks(0, len(self), rows):
                check_float_images(chunk, self.image_range, self.name, first_index=lo)

    def _member(self, f: IO[bytes]) -> zipfile.ZipInfo:
        with self._zip_errors(), zipfile.ZipFile(f) as zf:
            names = zf.namelist()
            if "arr_0.npy" not in names:
                keys = ", ".join(repr(n[:-4] if n.endswith(".npy") else n) for n in names[:10])
                more = f" and {len(names) - 10} more" if len(names) > 10 else ""
                found = f"arrays named {keys}{more}" if names else "no arrays"
                raise InputError(f"{self.name}: expected an array named arr_0 (the ADM batch format), found {found}")
            info = zf.getinfo("arr_0.npy")
        if info.flag_bits & 0x1:
            raise InputError(f"{self.name}: arr_0 is encrypted; expected an .npz without a password")
        if info.compress_type not in _ZIP_METHODS:
            raise InputError(f"{self.name}: arr_0 uses compression method {info.compress_type}, which is not supported")
        return info

    @contextlib.contextmanager
    def _zip_errors(self) -> Iterator[None]:
        """Turn what zipfile raises on a malformed archive into one line naming the file."""
        try:
            yield
        except InputError:
            raise
        except ARCHIVE_READ_ERRORS as exc:
            raise InputError(f"{self.name}: not a readable .npz archive ({one_line(exc)})") from None

    def _data_offset(self, f: IO[bytes], info: zipfile.ZipInfo, file_size: int) -> int:
        # The local file header (30 bytes + name + extra) precedes the stored bytes; its extra
        # field may differ from the central directory's, so read it from the file.
        f.seek(info.header_offset)
        header = f.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise InputError(f"{self.name}: not a readable .npz archive (bad local header of arr_0)")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        return info.header_offset + 30 + name_len + extra_len

    def identity(self, exact: bool = False) -> list[Any]:
        return ["array file", file_identity(self.path, exact), list(self.shape), str(self.dtype)]

    def __len__(self) -> int:
        return int(self.shape[0])

    def batches(
        self, batch_size: int, num_workers: int = 0, start: int = 0, stop: int | None = None
    ) -> Iterator[Batch]:
        stop = len(self) if stop is None else stop
        for lo, chunk in self._chunks(start, stop, batch_size):
            yield Batch(np.arange(lo, lo + len(chunk)), to_uint8_nchw(chunk, self.layout, self.image_range))

    def _chunks(self, start: int, stop: int, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """(first index, images start..stop in slices of ``size``) as writable arrays in native byte order."""
        for lo, chunk in self._raw_chunks(start, stop, size):
            yield lo, chunk if chunk.dtype.isnative else chunk.astype(chunk.dtype.newbyteorder("="))

    def _raw_chunks(self, start: int, stop: int, size: int) -> Iterator[tuple[int, np.ndarray]]:
        if self._memmap is None and self.fortran:
            self._memmap = self._spill_fortran()
        if self._memmap is not None:
            for lo, hi in index_ranges(start, stop, size):
                yield lo, np.array(self._memmap[lo:hi])
            return
        # Compressed member: stream it in order (skipping what precedes ``start``), a slice at a time.
        with self._stream() as fp:
            self._skip(fp, self.row_bytes * start, start)
            for lo, hi in index_ranges(start, stop, size):
                data = self._read(fp, self.row_bytes * (hi - lo))
                if len(data) != self.row_bytes * (hi - lo):
                    raise InputError(f"{self.name}: arr_0 is truncated at image {lo}")
                yield lo, np.frombuffer(bytearray(data), dtype=self.dtype).reshape(hi - lo, *self.shape[1:])

    @contextlib.contextmanager
    def _stream(self) -> Iterator[IO[bytes]]:
        """The compressed arr_0 member, positioned at its data."""
        with open_regular(self.path, self.name, "an .npz archive holding arr_0") as f:
            info = self._member(f)
            with self._zip_errors():
                zf = zipfile.ZipFile(f)
                fp = zf.open(info)
            try:
                _read_npy_header(fp, f"{self.name}: arr_0")
                yield fp
            finally:
                fp.close()
                zf.close()

    def _read(self, fp: IO[bytes], size: int) -> bytes:
        try:
            return fp.read(size)
        except ARCHIVE_READ_ERRORS as exc:
            raise InputError(f"{self.name}: arr_0 cannot be read: corrupt or truncated ({one_line(exc)})") from None

    def _skip(self, fp: IO[bytes], count: int, image: int) -> None:
        while count:
            skipped = len(self._read(fp, min(count, _COPY_CHUNK)))
            if not skipped:
                raise InputError(f"{self.name}: arr_0 is truncated before image {image}")
            count -= skipped

    def _spill_fortran(self) -> np.memmap:
        """Decompress a Fortran-ordered arr_0 once into a temporary file and map it (an image's
        pixels are spread over the whole stream, so it cannot be read a slice at a time)."""
        nbytes = self.row_bytes * len(self)
        spill = tempfile.TemporaryFile(prefix="inception-score-")  # noqa: SIM115 (kept while mapped)
        try:
            with self._stream() as fp:
                left = nbytes
                while left:
                    data = self._read(fp, min(left, _COPY_CHUNK))
                    if not data:
                        raise InputError(f"{self.name}: arr_0 is truncated ({nbytes - left:,} of {nbytes:,} bytes)")
                    spill.write(data)
                    left -= len(data)
            spill.flush()
            mapped = np.memmap(spill, dtype=self.dtype, mode="r", shape=self.shape, order="F")
        except BaseException:
            spill.close()
            raise
        self._spill = spill
        return mapped

    def __del__(self) -> None:
        spill = getattr(self, "_spill", None)
        if spill is not None:
            spill.close()
