"""Statistics files: what a shard or an interrupted run has accumulated, with its provenance.

A stats file holds the state of every accumulator of the run (sums, and the rows of the images
it scored: the bootstrap's sums dominate, a few MB, plus 4 KB per image of the first 50,000 for
the near-duplicate statistics), versioned, and records where its numbers come from: the weights'
sha256, the metrics and their options (protocol, splits, N, bootstrap, seed), the range of image
indexes it covers, and the package version. It is written atomically (temporary file + fsync +
``os.replace``) and read with ``torch.load(weights_only=True)``: data, never code.

``merge`` adds the statistics of shards into the statistics of one run over everything, and
refuses, with one line, shards that disagree on any provenance field or whose index ranges
overlap or leave gaps.

Example:
    >>> check_ranges([("a.pt", 0, 10), ("b.pt", 10, 25)], 25)
    >>> check_ranges([("a.pt", 0, 10), ("b.pt", 12, 25)], 25)
    Traceback (most recent call last):
    ...
    inception_score.errors.InputError: shards leave a gap: no shard covers images 10..11 (after a.pt)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write
from ..errors import InputError
from ..inputs.opening import open_regular

__all__ = ["FORMAT", "VERSION", "MUST_AGREE", "save_stats", "load_stats", "check_ranges", "check_agreement"]

FORMAT = "inception-score-stats"
VERSION = 2  # 2: the state of each accumulator by name (1: one ScoreState)
# Provenance fields two shards must share to be merged (start/stop must tile 0..N instead).
# ``networks``: the weights' sha256 and preprocessing of DINOv2 and CLIP when the run used them
MUST_AGREE = ("inputs", "package_version", "weights_sha256", "networks", "spec", "precision", "reference")
_DIFFERENT = {  # how to say it when the value itself means nothing to a reader
    "inputs": "scored other images (another folder or file, or other files under the same names)",
    "reference": "compared with another reference",
    "networks": "used other DINOv2 or CLIP weights or preprocessing",
}


def save_stats(path: str | os.PathLike[str], provenance: dict[str, Any], state: dict[str, torch.Tensor]) -> None:
    """Write ``state`` with its ``provenance`` to ``path`` atomically (never a partial file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, "provenance": dict(provenance), "state": state}
    atomic_write(target, lambda f: torch.save(payload, f))


def load_stats(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(provenance, state) of a stats file; InputError naming the file if it is not one."""
    name = os.fsdecode(path)
    with open_regular(path, name, "a statistics file written by --save-stats or --state") as f:  # no FIFO hangs
        try:
            payload = torch.load(f, map_location="cpu", weights_only=True)
        except Exception:  # torch raises many types, worded for its developers, for a file that is not ours
            what = _what_it_is(f)
            raise InputError(f"{name}: not an inception-score statistics file ({what}); {_EXPECTED}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{name}: not an inception-score statistics file; {_EXPECTED}")
    if payload.get("version") != VERSION:
        raise InputError(f"{name}: statistics format version {payload.get('version')}, this version reads {VERSION}")
    return payload["provenance"], payload["state"]


_EXPECTED = "expected a .pt file written with --save-stats or --state"


def _what_it_is(f: Any) -> str:
    """What a file that torch cannot load as a checkpoint is, in a reader's words."""
    import zipfile

    f.seek(0)
    if not zipfile.is_zipfile(f):
        return "not a torch file, or a truncated one"
    f.seek(0)
    try:
        with zipfile.ZipFile(f) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "a damaged zip file"
    if names and all(n.endswith(".npy") for n in names):
        return "a numpy .npz: a reference for --ref, or images to score"
    return "a damaged or truncated torch file" if any(n.endswith("data.pkl") for n in names) else "a zip file"


def check_ranges(ranges: list[tuple[str, int, int]], num_images: int) -> None:
    """Refuse (name, start, stop) index ranges that overlap or do not tile 0..num_images-1 exactly,
    naming the files involved."""
    position, previous, previous_span = 0, None, None
    for name, start, stop in sorted(ranges, key=lambda r: (r[1], r[2], r[0])):
        if start < position:
            raise InputError(
                f"shards overlap: images {start}..{min(stop, position) - 1} are in both {previous} and {name}"
                + (" (the same shard twice?)" if previous is not None and (start, stop) == previous_span else "")
            )
        if start > position:
            after = f" (after {previous})" if previous else ""
            raise InputError(f"shards leave a gap: no shard covers images {position}..{start - 1}{after}")
        position, previous, previous_span = stop, name, (start, stop)
    if position != num_images:
        raise InputError(f"shards leave a gap: no shard covers images {position}..{num_images - 1} (after {previous})")


def _flat(provenance: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in provenance.items() if k != "spec"}
    out.update(provenance.get("spec") or {})
    return out


def check_agreement(
    first: dict[str, Any],
    other: dict[str, Any],
    first_name: str,
    other_name: str,
    hint: str = "shards must come from the same command",
) -> None:
    """Refuse two provenances that differ on a field of :data:`MUST_AGREE` (or of the metrics'
    options in ``spec``), naming the field and both values."""
    a, b = _flat(first), _flat(other)
    keys = [k for k in MUST_AGREE if k != "spec"] + sorted(set(first.get("spec") or {}) | set(other.get("spec") or {}))
    for key in keys:
        if a.get(key) != b.get(key):
            if key == "reference" and (a.get(key) is None) != (b.get(key) is None):
                mine, theirs = ("with", "without") if a.get(key) is None else ("without", "with")
                raise InputError(f"{other_name}: was computed {mine} --ref, {first_name} {theirs}; {hint}")
            if key in _DIFFERENT:
                raise InputError(f"{other_name}: {_DIFFERENT[key]} than {first_name}; {hint}")
            mine, theirs = _shown(key, b.get(key)), _shown(key, a.get(key))
            raise InputError(f"{other_name}: {key} is {mine}, but {first_name} has {theirs}; {hint}")


def _shown(key: str, value: Any) -> str:
    """A recorded value as a reader understands it."""
    return "None (the protocol's default)" if value is None and key == "splits" else repr(value)
