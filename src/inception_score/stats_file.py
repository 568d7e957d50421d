"""Statistics files: what a shard or an interrupted run has accumulated, with its provenance.

A stats file is small (the per-split sums, the bootstrap and the nested-subset sums: a few MB at
most, whatever N), versioned, and records where its numbers come from: the weights' sha256, the
protocol, the splits, N, the range of image indexes it covers, the options that change the
sums, and the package version. It is written atomically (temporary file + ``os.replace``) and
read with ``torch.load(weights_only=True)``: data, never code.

``merge`` adds the statistics of shards into the statistics of one run over everything, and
refuses, with one line, shards that disagree on any provenance field or whose index ranges
overlap or leave gaps.

Example:
    >>> check_ranges([(0, 10), (10, 25)], 25)
    >>> check_ranges([(0, 10), (12, 25)], 25)
    Traceback (most recent call last):
    ...
    inception_score.errors.InputError: shards leave a gap: no shard covers images 10..11
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import InputError

__all__ = ["FORMAT", "VERSION", "MUST_AGREE", "save_stats", "load_stats", "check_ranges"]

FORMAT = "inception-score-stats"
VERSION = 1
# Provenance fields two shards must share to be merged (start/stop must tile 0..N instead).
MUST_AGREE = (
    "package_version",
    "weights_sha256",
    "protocol",
    "splits",
    "num_splits",
    "num_images",
    "num_classes",
    "bootstrap",
    "seed",
    "precision",
)


def save_stats(path: str | os.PathLike[str], provenance: dict[str, Any], state: dict[str, torch.Tensor]) -> None:
    """Write ``state`` with its ``provenance`` to ``path`` atomically (never a partial file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, "provenance": dict(provenance), "state": state}
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_stats(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(provenance, state) of a stats file; InputError naming the file if it is not one."""
    name = os.fsdecode(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{name}: not an inception-score statistics file ({first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{name}: not an inception-score statistics file (written with --save-stats or --state)")
    if payload.get("version") != VERSION:
        raise InputError(f"{name}: statistics format version {payload.get('version')}, this version reads {VERSION}")
    return payload["provenance"], payload["state"]


def check_ranges(ranges: list[tuple[int, int]], num_images: int) -> None:
    """Refuse index ranges that overlap or do not tile 0..num_images-1 exactly."""
    position = 0
    for start, stop in sorted(ranges):
        if start < position:
            raise InputError(f"shards overlap: images {start}..{min(stop, position) - 1} are in two shards")
        if start > position:
            raise InputError(f"shards leave a gap: no shard covers images {position}..{start - 1}")
        position = stop
    if position != num_images:
        raise InputError(f"shards leave a gap: no shard covers images {position}..{num_images - 1}")


def check_agreement(
    first: dict[str, Any],
    other: dict[str, Any],
    first_name: str,
    other_name: str,
    hint: str = "shards must come from the same command",
) -> None:
    """Refuse two provenances that differ on a field of :data:`MUST_AGREE`, naming the field."""
    for key in MUST_AGREE:
        if first.get(key) != other.get(key):
            raise InputError(
                f"{other_name}: {key} is {other.get(key)!r}, but {first_name} has {first.get(key)!r}; {hint}"
            )
