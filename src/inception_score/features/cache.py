"""An opt-in cache of per-image network outputs (``--cache DIR``): re-scoring recomputes only what changed.

Each entry holds one image's output fields by name (``logits_unbiased``, ``logits``, ``pool3``
and, when a run asked for it, ``spatial``) as float32 arrays in an uncompressed ``.npz``, keyed
by the sha256 of the image's decoded uint8 pixels and shape. The key therefore does not depend on
the file's name, format or folder: the same pixels in a PNG, in an ``.npz`` or in a tensor share
an entry. Everything else that changes the numbers names the directory the entries live in: the
weights' sha256, the precision, and :data:`PREPROCESS_VERSION` (bumped whenever the resize, the
network's computation or the entry format changes), so a stale entry is never read. Each network
has its own directory: DINOv2's and CLIP's are named by the field, their preprocessing (DINOv2's
``--dinov2-resize``), :data:`FEATURE_VERSION`, their weights' sha256 and the precision
(``dinov2-resize-torch-f1-<sha>-exact``), so changing one network or its resize recomputes only
its vectors. An entry
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
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..atomic import atomic_write
from .extractor import Extractor
from .outputs import NetworkOutputs

__all__ = ["OutputCache", "CachedExtractor", "PREPROCESS_VERSION", "FEATURE_VERSION"]

PREPROCESS_VERSION = 2  # 2: fields by name in an .npz (1: logits and pool3 concatenated in an .npy)
FEATURE_VERSION = 1  # of the DINOv2 and CLIP entries: bumped when their preprocessing or network changes


class OutputCache:
    """Output fields of images under ``root``, for one network's weights file, precision and preprocessing.

    ``network``: None for the Inception network (its directory keeps the name it always had);
    ``dinov2``, ``clip`` for the others, with ``tag`` their preprocessing."""

    def __init__(
        self, root: str | os.PathLike[str], weights_sha256: str, precision: str, network: str | None = None,
        tag: str = "",
    ) -> None:  # fmt: skip
        if network is None:
            name = f"v{PREPROCESS_VERSION}-{weights_sha256[:16]}-{precision}"
        else:
            name = "-".join(p for p in (network, tag, f"f{FEATURE_VERSION}", weights_sha256[:16], precision) if p)
        self.dir = Path(root) / name
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
    computes (and stores) the others, network by network; counts ``hits`` and ``misses`` (images
    of which every network's outputs were cached, or not)."""

    def __init__(self, extractor: Extractor, cache: OutputCache) -> None:
        self.extractor, self.cache = extractor, cache
        self.hits = self.misses = 0
        root = cache.dir.parent
        # one directory per network beside the first, keyed by its weights, precision and preprocessing
        self.caches = {
            n.field: OutputCache(root, n.weights.sha256 if n.weights else "none", n.precision, n.field, n.cache_tag)
            for n in extractor.networks
        }

    @property
    def dims(self) -> dict[str, int]:
        return self.extractor.dims

    def __call__(self, images: Tensor | list[Tensor], fields: Sequence[str] | None = None) -> NetworkOutputs:
        each = list(images.unbind(0)) if isinstance(images, Tensor) else list(images)
        keys = [OutputCache.key(img) for img in each]
        computed_any = [False] * len(each)
        columns: dict[str, list[Tensor | None]] = {}
        if self.extractor.runs_first(fields):
            self._fill(self.cache, self.extractor.fields, each, keys, self.extractor.first, columns, computed_any)
        for network in self.extractor.networks:
            if fields is None or network.field in fields:

                def run(group: Tensor | list[Tensor], network: Any = network) -> NetworkOutputs:
                    return NetworkOutputs(**{network.field: network(group, self.extractor.device)})

                self._fill(self.caches[network.field], (network.field,), each, keys, run, columns, computed_any)
        self.misses += sum(computed_any)
        self.hits += len(each) - sum(computed_any)
        return NetworkOutputs(**{name: torch.stack(col) for name, col in columns.items()})  # type: ignore[arg-type]

    def _fill(
        self,
        cache: OutputCache,
        fields: Sequence[str],
        each: list[Tensor],
        keys: list[str],
        compute: Any,
        columns: dict[str, list[Tensor | None]],
        computed_any: list[bool],
    ) -> None:
        """Put one network's ``fields`` of every image into ``columns``: from ``cache``, or computed."""
        found = [cache.get(key, fields) for key in keys]
        missing = [i for i, hit in enumerate(found) if hit is None]
        for name in fields:
            columns[name] = [None] * len(each)
        if missing:
            group = [each[i] for i in missing]
            same = all(g.shape == group[0].shape for g in group)
            computed = compute(torch.stack(group) if same else group)
            for row, i in enumerate(missing):
                arrays = {name: computed.require(name)[row].cpu().numpy() for name in fields}
                cache.put(keys[i], {**(cache.get(keys[i], ()) or {}), **arrays})
                for name in fields:
                    columns[name][i] = computed.require(name)[row]
                computed_any[i] = True
        device = self.extractor.device
        for i, hit in enumerate(found):
            if hit is not None:
                for name in fields:
                    columns[name][i] = torch.from_numpy(hit[name]).to(device)
