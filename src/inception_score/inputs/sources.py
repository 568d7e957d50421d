"""Turn what a user passed into sources of images: paths, patterns, list files, arrays, functions.

* **folder**: image files (:mod:`.folders`), not recursive unless asked; a single image file is a
  source of one image;
* **.npz / .npy**: ``arr_0``, the ADM batch format (:mod:`.npz`);
* **.tar / .zip** (WebDataset shards too): :mod:`.archives`;
* **numpy arrays and torch tensors** of 4 dims: :mod:`.arrays`;
* **glob patterns** (``"samples/**/*.png"``, quoted so the shell leaves them alone): matching
  image files, sorted by real path as for folders; archives matched by a pattern become one
  source each;
* **@list.txt**: one image path per line, scored in the order of the file; relative paths are
  relative to the list file;
* **a function of n** (with ``num_samples``): :mod:`.generators`.

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
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from ..errors import InputError
from .archives import ArchiveSource, is_archive
from .arrays import ArraySource
from .base import ImageSource
from .files import IMAGE_EXTENSIONS
from .folders import FolderSource
from .generators import generator_source
from .npz import NpySource

__all__ = ["open_source", "open_sources"]


def open_source(
    source: Any, recursive: bool = False, num_samples: int | None = None, image_range: Any = None
) -> ImageSource | list[ImageSource]:
    """Turn what a user passed (a path, an array, a tensor) into a :class:`Source`.

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


def _glob_source(pattern: str) -> ImageSource | list[ImageSource]:
    """Files matching a glob pattern (``**`` crosses folders), sorted by real path: image files
    become one source, archives (``shards-*.tar``) one source each."""
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
) -> list[ImageSource]:
    """One or several sources (a list or tuple of them) -> list of :class:`Source`."""
    items = list(sources) if isinstance(sources, (list, tuple)) else [sources]
    if not items:
        raise InputError("source: got an empty list; expected at least one folder, file or array")
    opened: list[ImageSource] = []
    for item in items:
        source = open_source(item, recursive, num_samples, image_range)
        opened.extend(source if isinstance(source, list) else [source])
    return opened
