r"""Turn what a user passed into sources of images: paths, patterns, list files, arrays, functions.

* **folder**: image files (:mod:`.folders`), not recursive unless asked; a single image file is a
  source of one image;
* **.npz / .npy**: ``arr_0``, the ADM batch format (:mod:`.npz`);
* **.tar / .zip** (WebDataset shards too): :mod:`.archives`;
* **numpy arrays and torch tensors** of 4 dims: :mod:`.arrays`;
* **glob patterns** (``"samples/**/*.png"``, quoted so the shell leaves them alone): matching
  image files, sorted by real path as for folders; archives matched by a pattern become one
  source each. As in a shell, ``*`` does not match names starting with a dot, and ``**`` (any
  depth of folders) does not follow links to folders, as torch-fidelity's listing does not (a
  link loop cannot hang a run);
* **@list.txt**: UTF-8 text, one image path per line, scored in the order of the file; blank
  lines and lines starting with ``#`` are ignored, spaces around a path are dropped; relative
  paths are relative to the list file's folder. Paths are the paths of the system the run is on:
  on Windows ``\`` and ``/`` both separate folders and ``C:\data\img.png`` is a drive path; on
  POSIX systems only ``/`` separates folders and a backslash is an ordinary character of a file
  name (as for every POSIX tool), so a list written on Windows (``C:\...``, ``\\server\...``,
  ``data\img.png``) whose paths do not exist here is refused with a message saying so, rather
  than scored as missing files one by one. The same holds for glob patterns;
* **a function of n** (with ``num_samples``): :mod:`.generators`.

Several sources are concatenated in the order given.

Example:
    >>> import numpy as np
    >>> src = open_source(np.zeros((5, 32, 32, 3), dtype=np.uint8))
    >>> len(src), [b.indices.tolist() for b in src.batches(batch_size=2)]
    (5, [[0, 1], [2, 3], [4]])
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor, nn

from ..errors import InputError, a
from .archives import ArchiveSource, is_archive
from .arrays import ArraySource
from .base import ImageSource
from .files import IMAGE_EXTENSIONS
from .folders import FolderSource
from .generators import generator_source
from .npz import NpySource
from .opening import one_line, open_regular

__all__ = ["open_source", "open_sources"]


def open_source(
    source: Any,
    recursive: bool = False,
    num_samples: int | None = None,
    image_range: Any = None,
    module_options: dict[str, Any] | None = None,
) -> ImageSource | list[ImageSource]:
    """Turn what a user passed (a path, an array, a tensor, a generator) into a :class:`Source`.
    ``module_options`` (``z_dim``, ``latents``, ``seed``) go to an ``nn.Module`` generator.

    Example:
        >>> open_source("no/such/folder")
        Traceback (most recent call last):
        ...
        inception_score.errors.InputError: no/such/folder: no such file or folder
    """
    if isinstance(source, ImageSource):
        return source
    if callable(source) and not isinstance(source, (str, os.PathLike)):
        if num_samples is None:
            raise InputError("generator: give num_samples (how many images to draw)")
        extra = {"image_range": image_range} if image_range is not None else {}
        if isinstance(source, nn.Module):
            extra.update(module_options or {})
        return generator_source(source, num_samples, **extra)
    if isinstance(source, (np.ndarray, Tensor)):
        name = f"{type(source).__name__} of shape {tuple(source.shape)}"
        return ArraySource(source, name=name, image_range=image_range or (0.0, 1.0))
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

        if is_archive(path):
            return ArchiveSource(path)
        suffix = path.suffix.lower()
        if suffix in (".npz", ".npy"):
            return NpySource(path, image_range=image_range)
        if suffix[1:] in IMAGE_EXTENSIONS:
            return FolderSource(path)
        raise InputError(
            f"{name}: unsupported file type {suffix or '(no extension)'}; expected a folder, an image "
            f"({', '.join('.' + e for e in IMAGE_EXTENSIONS)}), a .tar/.zip archive of images, "
            f"or an .npz/.npy holding arr_0 as N x H x W x 3 uint8"
        )
    raise InputError(
        f"source: got {a(type(source).__name__)}; expected a path, a numpy array or a torch tensor of images"
    )


_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")  # C:\ or C:/ or \\server
MAX_LIST_LINE = 1 << 16  # bytes: far more than any path (PATH_MAX is 4096 on Linux)


def _windows_hint(text: str) -> str:
    """Why ``text`` probably is a Windows path on this POSIX system ('' on Windows, or if not)."""
    if os.sep == "\\" or not ("\\" in text or _WINDOWS_PATH.match(text)):
        return ""
    what = "backslashes"
    if text.startswith("\\\\"):
        what = "a \\\\server share"
    elif _WINDOWS_PATH.match(text):
        what = "a drive letter"
    return (
        f"it looks like a Windows path ({what}), but on this system only '/' separates folders and a "
        f"backslash is part of a file name; write the paths with '/'"
    )


def _split_pattern(pattern: str) -> tuple[str, list[str]]:
    """(the part of ``pattern`` before its first folder with a wildcard, the folders after it)."""
    drive, rest = os.path.splitdrive(pattern)
    separators = "[\\\\/]" if os.altsep else re.escape(os.sep)
    parts = re.split(separators, rest)
    root = drive + (os.sep if parts and parts[0] == "" and rest else "")
    parts = [p for p in parts if p != ""] if root.endswith(os.sep) else parts
    fixed: list[str] = []
    while parts and not glob.has_magic(parts[0]):
        fixed.append(parts.pop(0))
    base = os.path.join(root, *fixed) if (root or fixed) else ""
    return base, parts


def _scandir(folder: str) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(folder or os.curdir))
    except OSError:
        return []  # as glob: a folder that cannot be listed matches nothing


def _walk_folders(folder: str) -> list[str]:
    """``folder`` and every folder below it, without following links to folders, skipping hidden ones."""
    found, pending = [], [folder]
    while pending:
        current = pending.pop()
        found.append(current)
        for entry in _scandir(current):
            if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                pending.append(os.path.join(current, entry.name) if current else entry.name)
    return found


def _glob(pattern: str) -> list[str]:
    """``glob.glob(pattern, recursive=True)``, except that ``**`` does not follow links to folders."""
    base, parts = _split_pattern(pattern)
    if not parts:
        return [base] if os.path.lexists(base) else []
    current = [base]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        found: list[str] = []
        for folder in current:
            if part == "**":
                folders = _walk_folders(folder)
                if last:
                    found += [
                        os.path.join(f, e.name) if f else e.name
                        for f in folders
                        for e in _scandir(f)
                        if not e.name.startswith(".")
                    ]
                else:
                    found += folders
            elif glob.has_magic(part):
                for entry in _scandir(folder):
                    if entry.name.startswith(".") and not part.startswith("."):
                        continue
                    if fnmatch.fnmatch(entry.name, part) and (last or entry.is_dir()):
                        found.append(os.path.join(folder, entry.name) if folder else entry.name)
            else:
                path = os.path.join(folder, part) if folder else part
                if os.path.lexists(path) if last else os.path.isdir(path):
                    found.append(path)
        current = list(dict.fromkeys(found))
    return current


def _glob_source(pattern: str) -> ImageSource | list[ImageSource]:
    """Files matching a glob pattern (``**`` crosses folders), sorted by real path: image files
    become one source, archives (``shards-*.tar``) one source each."""
    matches = sorted(os.path.realpath(m) for m in _glob(pattern) if not os.path.isdir(m))
    images = [m for m in matches if os.path.splitext(m)[1][1:].lower() in IMAGE_EXTENSIONS]
    archives = [m for m in matches if is_archive(m)]
    if images and archives:
        raise InputError(f"{pattern}: matches both images and archives; give them as separate sources")
    if archives:
        return [ArchiveSource(a) for a in archives]
    if not images:
        hint = _windows_hint(pattern)
        raise InputError(f"{pattern}: no image files or archives match this pattern{'; ' + hint if hint else ''}")
    return FolderSource(pattern, paths=images)


def _list_file_source(list_path: Path) -> FolderSource:
    """``@list.txt``: one image path per line, in the file's order (rules in the module docstring)."""
    name = "@" + os.fsdecode(list_path)
    expected = "UTF-8 text with one image path per line"
    base = list_path.parent
    paths: list[str] = []
    with open_regular(list_path, name, expected) as f:
        for number in range(1, 1 << 62):
            try:
                raw = f.readline(MAX_LIST_LINE + 1)
            except OSError as exc:
                raise InputError(f"{name}: cannot read the list of images ({one_line(exc.strerror or exc)})") from None
            if not raw:
                break
            if len(raw) > MAX_LIST_LINE:
                raise InputError(f"{name}: line {number} is longer than {MAX_LIST_LINE:,} bytes; expected {expected}")
            if b"\0" in raw:
                raise InputError(f"{name}: line {number} holds a NUL byte (binary data); expected {expected}")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{name}: line {number} is not valid UTF-8; expected {expected}") from None
            entry = line.lstrip("\ufeff").strip() if number == 1 else line.strip()
            if not entry or entry.startswith("#"):
                continue
            path = os.path.abspath(base / entry)
            hint = _windows_hint(entry)
            if hint and not os.path.lexists(path):
                raise InputError(f"{name}: line {number}: no such file {entry}; {hint}")
            paths.append(path)
    if not paths:
        raise InputError(f"{name}: the list holds no paths; expected one image path per line")
    return FolderSource(name, paths=paths)


def open_sources(
    sources: Any,
    recursive: bool = False,
    num_samples: int | None = None,
    image_range: Any = None,
    module_options: dict[str, Any] | None = None,
) -> list[ImageSource]:
    """One or several sources (a list or tuple of them) -> list of :class:`Source`."""
    items = list(sources) if isinstance(sources, (list, tuple)) else [sources]
    if not items:
        raise InputError("source: got an empty list; expected at least one folder, file or array")
    opened: list[ImageSource] = []
    for item in items:
        source = open_source(item, recursive, num_samples, image_range, module_options)
        opened.extend(source if isinstance(source, list) else [source])
    return opened
