"""Several processes on one run: torchrun ranks and scheduler shards share the images by index.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) each rank scores a contiguous block
of image indexes, decoding only its own images, and the ranks add their statistics with one
all-reduce (NCCL on GPU, gloo on CPU). No image is padded or duplicated (torch's
``DistributedSampler`` pads N up to a multiple of the world size, which changes the score), so
the result equals the single-process one for any number of ranks, N divisible or not.

``--shard i/K`` is the same split of indexes for schedulers that start independent jobs (Slurm
arrays, Kubernetes jobs): each writes its statistics with ``--save-stats`` and
``inception-score merge`` adds them.

Example:
    >>> block(10, 0, 3), block(10, 1, 3), block(10, 2, 3)
    ((0, 3), (3, 6), (6, 10))
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

__all__ = ["World", "block", "join_world", "all_reduce", "agree_min"]

REDUCE_CHUNK = 16 * 2**20  # elements per collective: large row states (KID features) go in pieces


def block(num_images: int, index: int, count: int, start: int = 0) -> tuple[int, int]:
    """The index range of part ``index`` of ``count`` of ``start .. start + num_images - 1``."""
    return start + index * num_images // count, start + (index + 1) * num_images // count


@dataclass(frozen=True)
class World:
    """This process's place among the torchrun ranks."""

    rank: int
    size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def join_world(device: torch.device) -> World | None:
    """Join the torchrun process group if this process was started by torchrun (else None)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def all_reduce(tensors: list[torch.Tensor], device: torch.device) -> None:
    """Sum ``tensors`` in place over all ranks.

    Small tensors go together in one float64 buffer (one collective); large ones (row states such
    as kept features) are reduced in their own dtype, in chunks, so no float64 copy of them is made.
    """
    import torch.distributed as dist

    where = device if dist.get_backend() == "nccl" else torch.device("cpu")  # NCCL reduces CUDA tensors, gloo CPU ones
    small = [t for t in tensors if t.numel() <= REDUCE_CHUNK // 16]
    if small:
        flat = torch.cat([t.detach().reshape(-1).to(where, torch.float64) for t in small])
        dist.all_reduce(flat)
        offset = 0
        for t in small:
            t.copy_(flat[offset : offset + t.numel()].view_as(t).to(t.device))
            offset += t.numel()
    for t in tensors:
        if t.numel() <= REDUCE_CHUNK // 16:
            continue
        flat_view = t.detach().reshape(-1)
        for lo in range(0, flat_view.numel(), REDUCE_CHUNK):
            part = flat_view[lo : lo + REDUCE_CHUNK].to(where, copy=True)
            dist.all_reduce(part)
            flat_view[lo : lo + REDUCE_CHUNK].copy_(part)


def agree_min(value: int, device: torch.device) -> int:
    """The smallest ``value`` over all ranks (e.g. the batch size: every rank must cut the images
    into the same blocks, and an automatic batch size depends on each GPU's free memory)."""
    import torch.distributed as dist

    where = device if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([value], dtype=torch.int64, device=where)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())
