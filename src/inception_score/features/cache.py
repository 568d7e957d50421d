"""An opt-in cache of per-image network outputs (``--cache DIR``): re-scoring recomputes only what changed.

Each entry holds one image's output fields by name (``logits_unbiased``, ``logits``, ``pool3``
and, when a run asked for it, ``spatial``) as float32 arrays in an uncompressed ``.npz``, keyed
by the sha256 of the image's decoded uint8 pixels and shape. The key therefore does not depend on
the file's name, format or folder: the same pixels in a PNG, in an ``.npz`` or in a tensor share
an entry. Everything else that changes the numbers names the directory the entries live in: the
weights' sha256, the precision, and :data:`PREPROCESS_VERSION` (bumped whenever the resize, the
network's computation or the entry format changes), so a stale entry is never read. An entry
that lacks a field a run needs is recomputed and rewritten with the union of the fields.

Entries are written atomically, so concurrent runs and a run killed mid-write never leave a
partial entry, and read with ``allow_pickle=False``: data, never code. A cached output was
computed in another batch than a fresh run would use, so a cached run equals a fresh one to
~1e-7 relative, not bit for bit.

Example:
    >>> import tempfile, numpy as np, torch
    >>> cache = OutputCache(tempfile.mkdtemp(), weights_sha256="ab" * 32, precision="exact")
    >>> key = cache.key(torch.zeros(3, 8, 8, dtype=torch.uint8))
    >>> cache.get(key, ("pool3",)) is None
    True
    >>> cache.put(key, {"pool3": np.zeros(2048, np.float32)})
    >>> cache.get(key, ("pool3",))["pool3"].shape
    (2048,)
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..atomic import atomic_write
from .extractor import Extractor
from .network import InceptionOutput

__all__ = ["OutputCache", "CachedExtractor", "PREPROCESS_VERSION"]

PREPROCESS_VERSION = 2  # 2: fields by name in an .npz (1: logits and pool3 concatenated in an .npy)


class OutputCache:
    """Output fields of images under ``root``, for one weights file and precision."""

    def __init__(self, root: str | os.PathLike[str], weights_sha256: str, precision: str) -> None:
        self.dir = Path(root) / f"v{PREPROCESS_VERSION}-{weights_sha256[:16]}-{precision}"
        self.dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(image: Tensor) -> str:
        """sha256 of a uint8 3 x H x W image's shape and pixels."""
        pixels = image.detach().cpu().contiguous().numpy()
        digest = hashlib.sha256(repr(tuple(pixels.shape)).encode())
        digest.update(pixels.tobytes())
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.npz"

    def get(self, key: str, fields: Sequence[str]) -> dict[str, np.ndarray] | None:
        """The cached ``fields`` of the image with ``key`` (every field the entry holds), or None
        when it is not cached, unreadable, or lacks one of ``fields``."""
        try:
            with np.load(self._path(key), allow_pickle=False) as entry:
                arrays = {name: entry[name] for name in entry.files}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        if any(name not in arrays for name in fields):
            return None
        return arrays

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **{name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()})
        atomic_write(path, buffer.getvalue(), fsync=False)  # an entry lost in a crash is recomputed


class CachedExtractor:
    """An :class:`Extractor` that reads each image's outputs from the cache when it has them and
    computes (and stores) the others; counts ``hits`` and ``misses``."""

    def __init__(self, extractor: Extractor, cache: OutputCache) -> None:
        self.extractor, self.cache = extractor, cache
        self.hits = self.misses = 0

    def __call__(self, images: Tensor | list[Tensor]) -> InceptionOutput:
        each = list(images.unbind(0)) if isinstance(images, Tensor) else list(images)
        fields = self.extractor.fields
        keys = [self.cache.key(img) for img in each]
        found = [self.cache.get(key, fields) for key in keys]
        missing = [i for i, hit in enumerate(found) if hit is None]
        columns: dict[str, list[Tensor | None]] = {name: [None] * len(each) for name in fields}
        if missing:
            group = [each[i] for i in missing]
            same = all(g.shape == group[0].shape for g in group)
            computed = self.extractor(torch.stack(group) if same else group)
            for row, i in enumerate(missing):
                arrays = {name: computed.require(name)[row].cpu().numpy() for name in fields}
                self.cache.put(keys[i], {**(self.cache.get(keys[i], ()) or {}), **arrays})
                for name in fields:
                    columns[name][i] = computed.require(name)[row]
        device = self.extractor.device
        for i, hit in enumerate(found):
            if hit is not None:
                for name in fields:
                    columns[name][i] = torch.from_numpy(hit[name]).to(device)
        self.hits += len(each) - len(missing)
        self.misses += len(missing)
        return InceptionOutput(**{name: torch.stack(col) for name, col in columns.items()})  # type: ignore[arg-type]
