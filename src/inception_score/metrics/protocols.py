"""Protocols: how each reference tool orders and splits N images before averaging.

Which split an image falls in follows from its index in the input and the total N alone, so a
stream, a sharded run or a resumed run put every image where a single pass would:

=================  ===================================================  =====================
protocol           order before splitting                                split boundaries
=================  ===================================================  =====================
torch-fidelity     rows permuted by numpy RandomState(2020).permutation  i*N//S .. (i+1)*N//S
original           file order (openai/improved-gan, StyleGAN is50k)      i*N//S .. (i+1)*N//S
adm                file order (guided-diffusion evaluator)               chunks of 5000
torchmetrics       rows permuted by torch.randperm (seeded here: 0)      ``torch.chunk``: ceil(N/S)
=================  ===================================================  =====================

The first three report the mean over splits and the population std (ddof 0). ``torchmetrics``
is torchmetrics' ``InceptionScore.compute`` (TM ``image/inception.py``): ``torch.randperm(N)``
from the **unseeded** global generator, ``Tensor.chunk(S)`` (chunks of ceil(N/S) rows, so fewer
than S splits when S does not divide N well, e.g. N = 10, S = 4 gives 3 and 3 and 3 and 1, but
N = 9, S = 4 gives three chunks of 3), and ``Tensor.std()``, the **sample** std (ddof 1). Its
permutation is not reproducible; here it is ``torch.randperm(N, generator=torch.Generator().
manual_seed(0))``, which is what torchmetrics draws after ``torch.manual_seed(0)`` on the CPU.
This module needs numpy only (torch is imported for that one permutation), so that the command
line answers ``--help`` without importing torch.
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
TORCHMETRICS_SEED = 0  # torchmetrics draws torch.randperm unseeded: its definition, with this seed


@dataclass(frozen=True)
class Protocol:
    """How a reference tool splits N images before averaging the per-split scores."""

    name: str
    permuted: bool  # rows permuted before splitting (by ``permutation``)
    chunk: int | None  # fixed chunk size (adm), else S splits at i*N//S
    default_splits: int | None
    reference: str
    permutation: str = "numpy"  # numpy: RandomState(2020).permutation; torch: seeded torch.randperm
    torch_chunks: bool = False  # splits as Tensor.chunk(S): ceil(N/S) rows each
    std_ddof: int = 0  # the std over splits: 0 population (np.std), 1 sample (Tensor.std)


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("torch-fidelity", True, None, 10, "torch_fidelity.calculate_metrics(isc=True), v0.4"),
        Protocol("original", False, None, 10, "openai/improved-gan inception_score.py; StyleGAN is50k"),
        Protocol("adm", False, ADM_CHUNK, None, "openai/guided-diffusion evaluations/evaluator.py"),
        Protocol(
            "torchmetrics",
            True,
            None,
            10,
            "torchmetrics.image.InceptionScore 1.9 (its randperm seeded 0)",
            permutation="torch",
            torch_chunks=True,
            std_ddof=1,
        ),  # fmt: skip
    )
}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise OptionsError(f"protocol: got {name!r}, expected one of {', '.join(PROTOCOLS)}") from None


def _permutation(kind: str, n: int) -> np.ndarray:
    """The row order of a permuting protocol: torch-fidelity's numpy one, or torchmetrics' seeded randperm."""
    if kind == "torch":
        import torch

        return torch.randperm(n, generator=torch.Generator().manual_seed(TORCHMETRICS_SEED)).numpy()
    return np.random.RandomState(TORCH_FIDELITY_SEED).permutation(n)


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
        if self.protocol.torch_chunks:  # Tensor.chunk(S): pieces of ceil(N/S) rows, the last one shorter
            size = math.ceil(num_images / splits)
            self.num_splits = math.ceil(num_images / size)
            self._bounds = np.minimum(np.arange(self.num_splits + 1, dtype=np.int64) * size, num_images)
        else:
            self.num_splits = splits
            self._bounds = np.array([i * num_images // splits for i in range(splits + 1)], dtype=np.int64)
        self._position = None
        if self.protocol.permuted:
            # Row j of the tool's permuted matrix is image perm[j]; image i sits at row
            # position[i]. O(N) int64, the only per-image memory, needed to know splits in a stream.
            perm = _permutation(self.protocol.permutation, num_images)
            self._position = np.empty(num_images, dtype=np.int64)
            self._position[perm] = np.arange(num_images, dtype=np.int64)

    def std(self, scores: Any) -> float:
        """The std over split scores this protocol reports (population, or sample for torchmetrics)."""
        values = np.asarray(scores, dtype=np.float64)
        if self.protocol.std_ddof and len(values) <= self.protocol.std_ddof:
            return 0.0  # one split has no spread (torchmetrics' Tensor.std would give NaN: never a NaN here)
        return float(np.std(values, ddof=self.protocol.std_ddof))

    def split_of(self, indices: Any) -> np.ndarray:
        """Split of each image index (int64 array)."""
        idx = np.asarray(indices.cpu() if hasattr(indices, "cpu") else indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_images):
            raise IndexError(f"image index out of range 0..{self.num_images - 1}")
        if self.protocol.chunk is not None:
            return idx // self.protocol.chunk
        pos = self._position[idx] if self._position is not None else idx
        return np.searchsorted(self._bounds, pos, side="right") - 1
