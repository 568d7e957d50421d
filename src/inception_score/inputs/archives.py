"""Images inside tar and zip archives (WebDataset shards included), read without extracting.

Order, as for folders: members with an image extension, sorted by their name in the archive
(WebDataset's other members, ``.cls``, ``.json``..., are ignored). How they are read:

* ``.zip`` and uncompressed ``.tar``: the member table is read once (headers only), then each
  image is read at its offset, so any range of images can be read, in worker processes too;
* compressed tars (``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``) cannot be read at an offset:
  they are streamed in stored order, which must then be name order (as WebDataset writes them);
  one listing pass decompresses the archive once before scoring.

Limits, so that a small archive cannot exhaust memory (a decompression bomb): a member whose
declared size (zip ``file_size``, tar member size) exceeds
:data:`~.files.MAX_IMAGE_BYTES` is refused when the archive is listed; before the rest of a
member is read, its first :data:`~.files.HEADER_BYTES` are read and the image size its header
declares is checked against :data:`~.files.MAX_PIXELS`; no read goes past the member's declared
size (a member holding less is refused), and one member's bytes at a time are held.
Malformed archives (corrupt directory, truncated data, members past the end of the file,
encrypted or unsupported compression, duplicate names) are refused with one line naming the
archive and, where it applies, the member.

Example:
    >>> is_archive("shard-000.tar"), is_archive("images.zip"), is_archive("a.png")
    (True, True, False)
"""

from __future__ import annotations

import lzma
import os
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from .base import Batch, ImageSource, collate_list, file_identity, index_ranges, stack_if_same_size
from .files import HEADER_BYTES, IMAGE_EXTENSIONS, MAX_IMAGE_BYTES, decode_bytes, header_problem
from .opening import one_line, open_regular

__all__ = ["ARCHIVE_SUFFIXES", "ArchiveSource", "is_archive", "ARCHIVE_READ_ERRORS"]

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
# What the standard library raises on a malformed archive (zipfile and tarfile do not wrap them all).
ARCHIVE_READ_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    RuntimeError,
    KeyError,
    UnicodeDecodeError,
    OverflowError,
    IndexError,
)
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_EXPECTED = "a tar or zip archive of images"


def is_archive(path: str | os.PathLike[str]) -> bool:
    return os.fsdecode(path).lower().endswith(ARCHIVE_SUFFIXES)


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1][1:].lower() in IMAGE_EXTENSIONS


def _too_large(size: int) -> str:
    return (
        f"refused: the archive declares {size:,} bytes for this member, more than any image within the "
        f"pixel limit takes ({MAX_IMAGE_BYTES:,} bytes; a decompression bomb?)"
    )


def _read_member(handle: IO[bytes], size: int, label: str) -> bytes:
    """Read one member of declared ``size`` from ``handle``: its header first (refusing an image too
    large to decode), then the rest; never more than ``size`` bytes."""
    head = handle.read(min(size, HEADER_BYTES))
    problem = header_problem(head)
    if problem:
        raise InputError(f"{label}: {problem}")
    data = head + handle.read(size - len(head)) if size > len(head) else head
    if len(data) != size:
        raise InputError(
            f"{label}: the archive declares {size:,} bytes for this member, but it holds only {len(data):,}"
        )
    return data


class _MemberDataset(torch.utils.data.Dataset):
    """Index -> (index, image or None, error or None); opens the archive once per process."""

    def __init__(self, path: str, kind: str, members: list[tuple[str, int, int, int]]) -> None:
        self.path, self.kind, self.members = path, kind, members
        self._file: Any = None
        self._zip: zipfile.ZipFile | None = None

    def __len__(self) -> int:
        return len(self.members)

    def __getstate__(self) -> dict[str, Any]:  # worker processes open their own handles
        return {**self.__dict__, "_file": None, "_zip": None}

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = self._zip = None

    def _read(self, i: int) -> bytes:
        name, position, offset, size = self.members[i]
        label = f"{self.path}:{name}"
        if self._file is None:
            self._file = open_regular(self.path, self.path, _EXPECTED)
            if self.kind == "zip":
                self._zip = zipfile.ZipFile(self._file)
        if self._zip is not None:
            info = self._zip.infolist()[position]
            with self._zip.open(info) as handle:
                return _read_member(handle, size, label)
        self._file.seek(offset)
        return _read_member(self._file, size, label)

    def __getitem__(self, i: int) -> tuple[int, Tensor | None, str | None]:
        name = f"{self.path}:{self.members[i][0]}"
        try:
            image, _ = decode_bytes(self._read(i), name)
            return i, image, None
        except InputError as exc:
            return i, None, str(exc)
        except ARCHIVE_READ_ERRORS as exc:
            return i, None, f"{name}: cannot read from the archive ({one_line(exc)})"


class ArchiveSource(ImageSource):
    """The images of one tar or zip archive, sorted by member name."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fsdecode(path)
        self.name = self.path
        lower = self.path.lower()
        self.kind = "zip" if lower.endswith(".zip") else "tar" if lower.endswith(".tar") else "stream"
        # (name, position in the zip's member table, data offset in a tar, declared size)
        members: list[tuple[str, int, int, int]] = []
        with open_regular(self.path, self.name, _EXPECTED) as f:
            file_size = os.fstat(f.fileno()).st_size
            try:
                if self.kind == "zip":
                    with zipfile.ZipFile(f) as zf:
                        for position, info in enumerate(zf.infolist()):
                            if not info.is_dir() and _is_image(info.filename):
                                self._check_zip_member(info)
                                members.append((info.filename, position, 0, info.file_size))
                else:
                    with tarfile.open(fileobj=f, mode="r:" if self.kind == "tar" else "r|*") as tf:
                        for m in tf:
                            if m.isfile() and _is_image(m.name):
                                self._check_tar_member(m, file_size)
                                members.append((m.name, 0, m.offset_data, m.size))
            except InputError:
                raise
            except ARCHIVE_READ_ERRORS as exc:
                raise InputError(f"{self.name}: not a readable {self._kind_name()} ({one_line(exc)})") from None
        if not members:
            raise InputError(
                f"{self.name}: no images in the archive; expected members ending in "
                f"{', '.join('.' + e for e in IMAGE_EXTENSIONS)}"
            )
        ordered = sorted(members, key=lambda m: m[0])
        for before, after in zip(ordered, ordered[1:], strict=False):
            if before[0] == after[0]:
                raise InputError(
                    f"{self.name}: the member {before[0]} appears more than once; expected unique member names"
                )
        if self.kind == "stream" and [m[0] for m in members] != [m[0] for m in ordered]:
            raise InputError(
                f"{self.name}: a compressed tar can only be streamed in stored order, and its images are not "
                f"stored in name order; re-pack it sorted (tar --sort=name) or uncompressed"
            )
        self.members = ordered

    def _kind_name(self) -> str:
        return {"zip": "zip archive", "tar": "tar archive"}.get(self.kind, "compressed tar archive")

    def _check_zip_member(self, info: zipfile.ZipInfo) -> None:
        label = f"{self.name}:{info.filename}"
        if info.flag_bits & 0x1:
            raise InputError(f"{label}: encrypted member; expected an archive without a password")
        if info.compress_type not in _ZIP_METHODS:
            raise InputError(
                f"{label}: compression method {info.compress_type} is not supported; expected stored, "
                f"deflate, bzip2 or lzma"
            )
        if info.file_size > MAX_IMAGE_BYTES:
            raise InputError(f"{label}: {_too_large(info.file_size)}")

    def _check_tar_member(self, m: tarfile.TarInfo, file_size: int) -> None:
        label = f"{self.name}:{m.name}"
        if m.issparse():
            raise InputError(f"{label}: sparse member; re-pack the archive without --sparse")
        if m.size > MAX_IMAGE_BYTES:
            raise InputError(f"{label}: {_too_large(m.size)}")
        if self.kind == "tar" and m.offset_data + m.size > file_size:
            raise InputError(
                f"{label}: the member runs past the end of the archive (byte {m.offset_data + m.size:,} of "
                f"{file_size:,}); the archive is truncated"
            )

    def __len__(self) -> int:
        return len(self.members)

    def label(self, index: int) -> str:
        return f"{self.name}:{self.members[index][0]}"

    def identity(self, exact: bool = False) -> list[Any]:
        return ["archive", file_identity(self.path, exact), [[m[0], m[-1]] for m in self.members]]

    def batches(
        self, batch_size: int, num_workers: int = 0, start: int = 0, stop: int | None = None
    ) -> Iterator[Batch]:
        stop = len(self) if stop is None else stop
        if self.kind == "stream":
            yield from self._stream(batch_size, start, stop)
            return
        members = _MemberDataset(self.path, self.kind, self.members)
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(members, range(start, stop)),
            batch_size=batch_size,
            num_workers=num_workers,
            collate_fn=collate_list,
        )
        try:
            for items in loader:
                for _, _, error in items:
                    if error is not None:
                        raise InputError(error)
                indices = np.array([i for i, _, _ in items], dtype=np.int64)
                yield Batch(indices, stack_if_same_size([img for _, img, _ in items]))
        finally:
            members.close()

    def _stream(self, batch_size: int, start: int, stop: int) -> Iterator[Batch]:
        wanted = {name: i for i, (name, _, _, _) in enumerate(self.members) if start <= i < stop}
        pending: list[tuple[int, Tensor]] = []
        bounds = iter(list(index_ranges(start, stop, batch_size)))
        lo, hi = next(bounds, (stop, stop))
        with open_regular(self.path, self.name, _EXPECTED) as f:
            tf = tarfile.open(fileobj=f, mode="r|*")
            members = iter(tf)
            while lo < stop:
                label = self.name
                try:
                    member = next(members, None)
                    if member is None:
                        break
                    label = f"{self.name}:{member.name}"
                    index = wanted.get(member.name)
                    if index is None or not member.isfile():
                        continue
                    handle = tf.extractfile(member)
                    data = _read_member(handle, member.size, label) if handle else b""
                except InputError:
                    raise
                except ARCHIVE_READ_ERRORS as exc:
                    raise InputError(f"{label}: cannot read from the archive ({one_line(exc)})") from None
                image, _ = decode_bytes(data, label)
                pending.append((index, image))
                if index == hi - 1:
                    yield Batch(np.arange(lo, hi), stack_if_same_size([img for _, img in pending]))
                    pending = []
                    lo, hi = next(bounds, (stop, stop))
        if lo < stop:
            raise InputError(f"{self.path}: the archive ended before image {lo}; it changed since it was listed")
