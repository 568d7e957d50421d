"""Files are screened before any work: ``--on-error fail`` refuses the first bad one, ``skip`` drops them.

``fail`` (the default) checks every file's metadata and header, in order (a stat and a header
read, ~50 us a file), so that empty files, broken links, FIFOs, text with an image extension and
decompression bombs stop the run before it starts; pixel data truncated after a valid header is
found only when decoding, and then stops the run with the file's name. ``skip`` decodes every
file once (an extra pass) and drops the unreadable ones, each reported, so that N, and with it
every image's split, is known before scoring.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import InputError, plural, warn
from ..inputs.base import ImageSource
from ..inputs.folders import FolderSource
from .plan import MAX_WORKERS, available_cpus

__all__ = ["screen_files"]


def screen_files(
    opened: Sequence[ImageSource], on_error: str, num_workers: int | None, device: torch.device
) -> list[tuple[str, str]]:
    """Refuse (``fail``) or drop (``skip``) the unreadable files of the folder sources.

    Returns (path, reason) of each file dropped."""
    folders = [s for s in opened if isinstance(s, FolderSource)]
    # header checks are cheap: in worker processes only where decoding gets workers anyway
    workers = num_workers if num_workers is not None else min(MAX_WORKERS, available_cpus())
    if on_error == "fail":
        for folder in folders:
            problem = folder.first_problem(workers if device.type != "cpu" else 0)
            if problem:
                raise InputError(problem)
        return []
    skipped: list[tuple[str, str]] = []
    for folder in folders:
        total = len(folder)
        dropped = folder.drop_unreadable(workers)
        for path, reason in dropped:
            warn(f"skipped {path}: {reason}")
        if not len(folder):
            first = dropped[0][1]
            raise InputError(f"{folder.name}: none of its {plural(total, 'image file')} could be read (first: {first})")
        skipped += dropped
    if skipped:
        warn(
            f"skipped {plural(len(skipped), 'unreadable file')}; the score is over the "
            f"{plural(sum(len(s) for s in opened), 'image')} that could be read"
        )
    return skipped
