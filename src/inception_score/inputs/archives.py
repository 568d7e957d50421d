"""Images inside tar and zip archives (WebDataset shards included), read without extracting.

Order, as for folders: members with an image extension, sorted by their name in the archive
(WebDataset's other members, ``.cls``, ``.json``..., are ignored). How they are read:

* ``.zip`` and uncompressed ``.tar``: the member table is read once (headers only), then each
  image is read at its offset, so any range of images can be read, in worker processes too;
* compressed tars (``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``) cannot be read at an offset:
  they are streamed in stored order, which must then be name order (as WebDataset writes them);
  one listing pass decompresses the archive once before scoring.

Example:
    >>> is_archive("shard-000.tar"), is_archive("images.zip"), is_archive("a.png")
    (True, True, False)
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from .base import Batch, ImageSource, collate_list, index_ranges, stack_if_same_size
from .files import IMAGE_EXTENSIONS, decode_bytes

__all__ = ["ARCHIVE_SUFFIXES", "ArchiveSource", "is_archive"]

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def is_archive(path: str | os.PathLike[str]) -> bool:
    return os.fsdecode(path).lower().endswith(ARCHIVE_SUFFIXES)


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1][1:].lower() in IMAGE_EXTENSIONS


class _MemberDataset(torch.utils.data.Dataset):
    """Index -> (index, image or None, error or None); opens the archive once per process."""

    def __init__(self, path: str, kind: str, members: list[tuple[str, int, int]]) -> None:
        self.path, self.kind, self.members = path, kind, members
        self._handle: Any = None

    def __len__(self) -> int:
        return len(self.members)

    def label(self, index: int) -> str:
        return f"{self.name}:{self.members[index][0]}"

    def _read(self, i: int) -> bytes:
        name, offset, size = self.members[i]
        if self._handle is None:
            self._handle = zipfile.ZipFile(self.path) if self.kind == "zip" else open(self.path, "rb")  # noqa: SIM115
        if self.kind == "zip":
            return self._handle.read(name)
        self._handle.seek(offset)
        return self._handle.read(size)

    def __getitem__(self, i: int) -> tuple[int, Tensor | None, str | None]:
        name = f"{self.path}:{self.members[i][0]}"
        try:
            image, _ = decode_bytes(self._read(i), name)
            return i, image, None
        except InputError as exc:
            return i, None, str(exc)
        except (OSError, zipfile.BadZipFile) as exc:
            return i, None, f"{name}: cannot read from the archive ({exc})"


class ArchiveSource(ImageSource):
    """The images of one tar or zip archive, sorted by member name."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fsdecode(path)
        self.name = self.path
        lower = self.path.lower()
        self.kind = "zip" if lower.endswith(".zip") else "tar" if lower.endswith(".tar") else "stream"
        try:
            if self.kind == "zip":
                with zipfile.ZipFile(self.path) as zf:
                    members = [(i.filename, 0, i.file_size) for i in zf.infolist() if not i.is_dir()]
            else:
                with tarfile.open(self.path, "r:" if self.kind == "tar" else "r|*") as tf:
                    members = [(m.name, m.offset_data, m.size) for m in tf if m.isfile()]
        except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputError(f"{self.name}: not a readable tar or zip archive ({exc})") from None
        images = [m for m in members if _is_image(m[0])]
        if not images:
            raise InputError(
                f"{self.name}: no images in the archive; expected members ending in "
                f"{', '.join('.' + e for e in IMAGE_EXTENSIONS)}"
            )
        ordered = sorted(images)
        if self.kind == "stream" and [m[0] for m in images] != [m[0] for m in ordered]:
            raise InputError(
                f"{self.name}: a compressed tar can only be streamed in stored order, and its images are not "
                f"stored in name order; re-pack it sorted (tar --sort=name) or uncompressed"
            )
        self.members = ordered

    def __len__(self) -> int:
        return len(self.members)

    def label(self, index: int) -> str:
        return f"{self.name}:{self.members[index][0]}"

    def batches(
        self, batch_size: int, num_workers: int = 0, start: int = 0, stop: int | None = None
    ) -> Iterator[Batch]:
        stop = len(self) if stop is None else stop
        if self.kind == "stream":
            yield from self._stream(batch_size, start, stop)
            return
        dataset = torch.utils.data.Subset(_MemberDataset(self.path, self.kind, self.members), range(start, stop))
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_list
        )
        for items in loader:
            for _, _, error in items:
                if error is not None:
                    raise InputError(error)
            indices = np.array([i for i, _, _ in items], dtype=np.int64)
            yield Batch(indices, stack_if_same_size([img for _, img, _ in items]))

    def _stream(self, batch_size: int, start: int, stop: int) -> Iterator[Batch]:
        wanted = {name: i for i, (name, _, _) in enumerate(self.members) if start <= i < stop}
        pending: list[tuple[int, Tensor]] = []
        bounds = iter(list(index_ranges(start, stop, batch_size)))
        lo, hi = next(bounds, (stop, stop))
        with tarfile.open(self.path, "r|*") as tf:
            for member in tf:
                index = wanted.get(member.name)
                if index is None or not member.isfile():
                    continue
                handle = tf.extractfile(member)
                data = handle.read() if handle else b""
                image, _ = decode_bytes(data, f"{self.path}:{member.name}")
                pending.append((index, image))
                if index == hi - 1:
                    yield Batch(np.arange(lo, hi), stack_if_same_size([img for _, img in pending]))
                    pending = []
                    lo, hi = next(bounds, (stop, stop))
                    if lo >= stop:
                        return
        if lo < stop:
            raise InputError(f"{self.path}: the archive ended before image {lo}")
