"""An opt-in cache of per-image network outputs (``--cache DIR``): re-scoring recomputes only what changed.

Each entry holds one image's logits without bias (1008) and pool3 features (2048) as float32,
keyed by the sha256 of the image's decoded uint8 pixels and shape. The key therefore does not
depend on the file's name, format or folder: the same pixels in a PNG, in an ``.npz`` or in a
tensor share an entry. Everything else that changes the numbers names the directory the entries
live in: the weights' sha256, the precision, and :data:`PREPROCESS_VERSION` (bumped whenever the
resize or the network's computation changes), so a stale entry is never read.

Entries are written atomically (temporary file + ``os.replace``), so concurrent runs and a run
killed mid-write never leave a partial entry. A cached logit was computed in another batch than
a fresh run would use, so a cached run equals a fresh one to ~1e-7 relative, not bit for bit.

Example:
    >>> import tempfile, numpy as np, torch
    >>> cache = OutputCache(tempfile.mkdtemp(), weights_sha256="ab" * 32, precision="exact")
    >>> key = cache.key(torch.zeros(3, 8, 8, dtype=torch.uint8))
    >>> cache.get(key) is None
    True
    >>> cache.put(key, np.ones(1008, np.float32), np.zeros(2048, np.float32))
    >>> cache.get(key)[0].shape
    (1008,)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
from torch import Tensor

__all__ = ["OutputCache", "PREPROCESS_VERSION"]

PREPROCESS_VERSION = 1  # TF1 resize + (x - 128) / 128 + the 2015 graph, as of 0.1.0


class OutputCache:
    """Logits and pool3 features of images under ``root``, for one weights file and precision."""

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
        return self.dir / key[:2] / f"{key}.npy"

    def get(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(logits, pool3) of the image with ``key``, or None if not cached (or unreadable)."""
        try:
            both = np.load(self._path(key), allow_pickle=False)
        except (OSError, ValueError):
            return None
        if both.shape != (1008 + 2048,):
            return None
        return both[:1008], both[1008:]

    def put(self, key: str, logits: np.ndarray, pool3: np.ndarray) -> None:
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.concatenate([logits, pool3]).astype(np.float32))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
