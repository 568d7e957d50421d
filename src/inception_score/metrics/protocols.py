"""Protocols: how each reference tool orders and splits N images before averaging.

Which split an image falls in follows from its index in the input and the total N alone, so a
stream, a sharded run or a resumed run put every image where a single pass would:

=================  ===================================================  =====================
protocol           order before splitting                                split boundaries
=================  ===================================================  =====================
torch-fidelity     rows permuted by numpy RandomState(2020).permutation  i*N//S .. (i+1)*N//S
original           file order (openai/improved-gan, StyleGAN is50k)      i*N//S .. (i+1)*N//S
adm                file order (guided-diffusion evaluator)               chunks of 5000
=================  ===================================================  =====================

All three report the mean over splits and the population std (ddof 0). This module needs numpy
only, so that the command line answers ``--help`` without importing torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import check_int
from ..errors import OptionsError, plural

__all__ = ["PROTOCOLS", "Protocol", "SplitPlan", "get_protocol"]

ADM_CHUNK = 5000  # guided-diffusion evaluator: compute_inception_score(split_size=5000)
TORCH_FIDELITY_SEED = 2020  # torch-fidelity's default rng_seed


@dataclass(frozen=True)
class Protocol:
    """How a reference tool splits N images before averaging the per-split scores."""

    name: str
    permuted: bool  # rows permuted by RandomState(2020) before splitting
    chunk: int | None  # fixed chunk size (adm), else S splits at i*N//S
    default_splits: int | None
    reference: str


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("torch-fidelity", True, None, 10, "torch_fidelity.calculate_metrics(isc=True), v0.4"),
        Protocol("original", False, None, 10, "openai/improved-gan inception_score.py; StyleGAN is50k"),
        Protocol("adm", False, ADM_CHUNK, None, "openai/guided-diffusion evaluations/evaluator.py"),
    )
}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise OptionsError(f"protocol: got {name!r}, expected one of {', '.join(PROTOCOLS)}") from None


class SplitPlan:
    """Maps an image's index in the input (0..N-1) to its split, for one protocol, N and S.

    Example:
        >>> plan = SplitPlan("original", num_images=10, splits=3)
        >>> plan.split_of(np.arange(10)).tolist()
        [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
        >>> SplitPlan("adm", num_images=12000).num_splits
        3
    """

    def __init__(self, protocol: str, num_images: int, splits: int | None = None) -> None:
        self.protocol = get_protocol(protocol)
        if num_images < 1:
            raise OptionsError(f"num_images: got {num_images}, expected at least 1")
        self.num_images = num_images
        if self.protocol.chunk is not None:
            if splits is not None:
                raise OptionsError(
                    f"splits: got {splits}, but protocol {self.protocol.name!r} uses consecutive chunks of "
                    f"{self.protocol.chunk} images; leave splits unset"
                )
            self.num_splits = math.ceil(num_images / self.protocol.chunk)
            self._position: np.ndarray | None = None
            return
        splits = self.protocol.default_splits if splits is None else splits
        assert splits is not None
        splits = check_int(splits, "splits")
        if num_images < splits:
            raise OptionsError(
                f"splits: {splits} splits need at least {splits} images, got {plural(num_images, 'image')} "
                f"(use fewer splits, e.g. --splits 1)"
            )
        self.num_splits = splits
        self._bounds = np.array([i * num_images // splits for i in range(splits + 1)], dtype=np.int64)
        self._position = None
        if self.protocol.permuted:
            # Row j of torch-fidelity's permuted matrix is image perm[j]; image i sits at row
            # position[i]. O(N) int64, the only per-image memory, needed to know splits in a stream.
            perm = np.random.RandomState(TORCH_FIDELITY_SEED).permutation(num_images)
            self._position = np.empty(num_images, dtype=np.int64)
            self._position[perm] = np.arange(num_images, dtype=np.int64)

    def split_of(self, indices: Any) -> np.ndarray:
        """Split of each image index (int64 array)."""
        idx = np.asarray(indices.cpu() if hasattr(indices, "cpu") else indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_images):
            raise IndexError(f"image index out of range 0..{self.num_images - 1}")
        if self.protocol.chunk is not None:
            return idx // self.protocol.chunk
        pos = self._position[idx] if self._position is not None else idx
        return np.searchsorted(self._bounds, pos, side="right") - 1
