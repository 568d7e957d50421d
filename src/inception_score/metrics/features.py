"""Every image's vectors in a feature space, kept for the metrics that need the points, not only their moments.

KID (:mod:`~.kernel`), FID at infinite N (:class:`~.frechet.FIDInfinity`), precision/recall and
density/coverage (:mod:`~.manifold`) and CMMD (:mod:`~.cmmd`) compare individual feature vectors,
so one accumulator per feature space keeps them all: :class:`PooledFeatures` writes image i's
float32 vector of its space (pool3: 2048 numbers; ``dinov2``: 1024; ``clip``: 768) into row i of
an N x D matrix (its **row state**: zeros where another process wrote, so the rows of torchrun
ranks, shards and resumed runs add up to the single run's; statistics files keep only the filled
rows, see :meth:`~.base.Accumulator.state_dict`). It has no result fields of its own; the metrics
above hold a reference to it and read :attr:`PooledFeatures.rows` when their fields are computed,
using only the rows :meth:`PooledFeatures.filled` (an image the run skipped leaves its row zero).

**Memory.** Up to :data:`IN_MEMORY_LIMIT` bytes (512 MiB: 65,536 images of 2048 floats) the rows
live in memory on the run's device. Beyond, in a temporary memory-mapped file (8 GB for a million
images), so that the run's memory does not grow with N; see :func:`temporary_rows`.

Example:
    >>> import numpy as np, torch
    >>> from inception_score.features.outputs import NetworkOutputs
    >>> kept = PooledFeatures(num_images=4, feature_dim=3)
    >>> kept.update(NetworkOutputs(pool3=torch.ones(2, 3)), np.array([3, 1]))
    >>> kept.rows.sum(dim=1).tolist()
    [0.0, 3.0, 0.0, 3.0]
"""

from __future__ import annotations

import errno
import mmap
import os
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from ..features.outputs import NetworkOutputs
from ..features.spaces import SPACES, part_key
from .base import Accumulator

__all__ = ["PooledFeatures", "temporary_rows", "IN_MEMORY_LIMIT"]

IN_MEMORY_LIMIT = 512 * 2**20  # bytes of rows kept in memory; beyond, a temporary memory-mapped file
_NO_SPACE = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}  # a full disk, not "unsupported"


def temporary_rows(num_rows: int, dim: int, directory: str | None = None, what: str = "pool3 features") -> Tensor:
    """A zero ``num_rows x dim`` float32 CPU tensor backed by an anonymous temporary file.

    The file is created in ``directory`` (default: :func:`tempfile.gettempdir`, i.e. ``TMPDIR``,
    ``TEMP``...) by :func:`tempfile.TemporaryFile`, allocated in full, memory-mapped, and its
    Python handle closed at once; the mapping keeps the only handle. It never outlives the
    process, even one that is killed:

    * POSIX: the file has no name from the start (``O_TMPFILE``) or is unlinked as soon as it is
      created, so its blocks return to the disk when the mapping goes (tensor freed, or exit);
    * Windows, where an open or mapped file cannot be unlinked: it is opened with
      ``O_TEMPORARY`` (``FILE_FLAG_DELETE_ON_CLOSE``), so Windows deletes it when its last handle
      closes, the mapping's duplicated handle included, which the OS closes at exit.

    (``torch.from_file`` would need a named file, deleted by an ``atexit`` hook that a killed
    process never runs, and on Windows not at all while it is mapped.)

    The space is reserved up front (``posix_fallocate`` where there is one), so a full disk is one
    clear error here rather than a crash (SIGBUS) half way through the run.

    Raises:
        InputError: the temporary directory has not enough free space (names the size needed, the
            directory, and ``TMPDIR`` to choose another).

    Example:
        >>> rows = temporary_rows(3, 2)
        >>> rows[1] = 5.0
        >>> rows.tolist(), rows.dtype
        ([[0.0, 0.0], [5.0, 5.0], [0.0, 0.0]], torch.float32)
    """
    nbytes = num_rows * dim * 4
    where = directory or tempfile.gettempdir()
    if nbytes == 0:
        return torch.zeros(num_rows, dim, dtype=torch.float32)
    try:
        with tempfile.TemporaryFile(prefix="inception-score-features-", dir=directory) as handle:
            try:
                os.posix_fallocate(handle.fileno(), 0, nbytes)  # type: ignore[attr-defined]
            except (AttributeError, OSError) as exc:
                if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
                    raise
                handle.truncate(nbytes)  # no posix_fallocate (Windows, macOS) or not on this filesystem
            # mmap keeps its own (duplicated) handle: closing ours leaves the mapping valid
            buffer = mmap.mmap(handle.fileno(), nbytes)
    except OSError as exc:
        raise InputError(
            f"the {what} of {num_rows:,} images need {nbytes / 1e9:.2f} GB of temporary disk in {where}, "
            f"which cannot hold them ({exc.strerror or exc}); set TMPDIR to a directory on a larger disk"
        ) from None
    array = np.frombuffer(buffer, dtype=np.float32).reshape(num_rows, dim)  # writable, shares the mapping
    return torch.from_numpy(array)  # keeps the array, which keeps the mapping, alive


class PooledFeatures(Accumulator):
    """Row state: the float32 vector of image i in one feature space in row i (N x D), zeros where not written.

    Its name (the prefix of its tensors in statistics files) is ``features`` for pool3 and
    ``features_dinov2``, ``features_clip`` for the other spaces.

    Args:
        num_images: N, the number of images of the run (global indexes 0..N-1).
        feature_dim: D (default: the space's full width: 2048 for pool3).
        device: where the run computes. The rows live there when they fit in ``memory_limit``
            bytes, else on the CPU in a temporary memory-mapped file (:func:`temporary_rows`);
            :attr:`device` stays the run's device, where the metrics that read the rows compute.
        memory_limit: the largest size in bytes of rows kept in memory (default
            :data:`IN_MEMORY_LIMIT`).
        space: the feature space, an output field (:data:`~inception_score.features.spaces.SPACES`).

    Raises:
        InputError: (update) the field is not N x D; (construction) no temporary disk space.

    Example:
        >>> import numpy as np
        >>> kept = PooledFeatures(num_images=3, feature_dim=2, memory_limit=0)  # on disk, whatever the size
        >>> kept.update(NetworkOutputs(pool3=torch.tensor([[1.0, 2.0]])), np.array([2]))
        >>> kept.on_disk, kept.filled().tolist(), kept.state_dict()["rows.index"].tolist()
        (True, [False, False, True], [2])
    """

    name = "features"
    needs = frozenset({"pool3"})
    row_states = ("rows",)
    states = {"rows": "rows"}

    def __init__(
        self,
        num_images: int,
        feature_dim: int | None = None,
        device: torch.device | str = "cpu",
        memory_limit: int = IN_MEMORY_LIMIT,
        space: str = "pool3",
    ) -> None:
        self.space = space
        self.name = part_key("features", space)
        self.needs = frozenset({space})
        self.label = SPACES[space].label
        feature_dim = feature_dim or SPACES[space].dim
        self.device = torch.device(device)
        self.on_disk = num_images * feature_dim * 4 > memory_limit
        if self.on_disk:
            self.rows = temporary_rows(num_images, feature_dim, what=self.label)  # N x D float32, CPU, memory-mapped
        else:
            self.rows = torch.zeros(num_images, feature_dim, dtype=torch.float32, device=self.device)  # N x D

    def update(self, outputs: NetworkOutputs, indices: np.ndarray) -> None:
        """Write the batch's vectors (n x D, any float dtype and device) into rows ``indices`` (n)."""
        vectors = outputs.require(self.space).detach()
        n, dim = self.rows.shape
        if vectors.dim() != 2 or vectors.shape[1] != dim or vectors.shape[0] != len(indices):
            raise InputError(
                f"{self.label}: expected {len(indices)} x {dim} (one row per image), got {tuple(vectors.shape)}"
            )
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= n):
            raise ValueError(f"image indexes {int(indices.min())}..{int(indices.max())} outside 0..{n - 1}")
        index = torch.from_numpy(indices).to(self.rows.device)
        self.rows[index] = vectors.to(self.rows.device, torch.float32)

    def filled(self, block: int = 8192) -> Tensor:
        """N bools on the rows' device: which rows hold an image's features (a row never written,
        e.g. of an image the run skipped as unreadable, is all zeros). Read in blocks of rows."""
        mask = torch.zeros(len(self.rows), dtype=torch.bool, device=self.rows.device)
        for lo in range(0, len(self.rows), block):
            mask[lo : lo + block] = self.rows[lo : lo + block].ne(0).any(dim=1)
        return mask

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        """None of its own: KID, FID at infinite N, precision/recall and CMMD read :attr:`rows`."""
        return {}
