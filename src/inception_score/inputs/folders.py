"""A folder of image files (or one file, a glob's matches, a list file's paths) as a source.

Files are listed and decoded by :mod:`.files`; this module orders them as torch-fidelity does
(sorted real paths), decodes them in DataLoader worker processes when asked, screens them before
any work (``on_error="fail"``), or drops the unreadable ones (``on_error="skip"``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError, plural, warn
from .base import Batch, ImageSource, collate_list, file_identity, stack_if_same_size
from .files import IMAGE_EXTENSIONS, LOSSY_EXTENSIONS, check_header, decode_image, list_images

__all__ = ["FolderSource"]


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


class FolderSource(ImageSource):
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
        if lossy:
            warn(
                f"{self.name}: {lossy} of {len(self.paths)} images are JPEGs; lossy compression "
                f"changes the score, so compare only with numbers computed on the same files"
            )

    def __len__(self) -> int:
        return len(self.paths)

    def label(self, index: int) -> str:
        return self.paths[index]

    def identity(self, exact: bool = False) -> list[Any]:
        return ["files", [file_identity(p, exact) for p in self.paths]]

    def first_problem(self, num_workers: int = 0) -> str | None:
        """The first file, in order, that cannot be an image judging by its metadata and header
        (cheap: a stat and a header read each, in ``num_workers`` processes)."""
        loader = torch.utils.data.DataLoader(
            _HeaderDataset(self.paths), batch_size=256, num_workers=num_workers, collate_fn=collate_list
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
            collate_fn=collate_list,
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
            yield Batch(np.array([i for i, _, _, _ in items], dtype=np.int64), stack_if_same_size(images))
        if animated:
            warn(f"{self.name}: {plural(animated, 'animated image')} (GIF/WebP/PNG); each is scored by its first frame")
