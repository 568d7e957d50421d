"""Where a run happens and which images this process scores: device, batch size, workers, blocks.

* the device: ``auto`` (CUDA if present, else Apple's MPS, else CPU), or one named, refused
  with one line when this machine does not have it;
* the batch size (64 on CPU; on CUDA what free memory allows, at most 500) and the number of
  decoding workers (0 on CPU, where the network needs every core; on an accelerator every core
  this process may use, up to 16, counted portably: ``os.sched_getaffinity`` exists on Linux only);
* this process's images: a ``--shard i/K`` of a job array, and within it a torchrun rank's block.
  Boundaries snap to the batch grid, so every image meets the same batch companions as in a
  single run (convolution results depend on the batch at ~1e-7): the shards or ranks then add up
  to exactly the single-process numbers (given the same batch size).

Example:
    >>> available_cpus() >= 1
    True
    >>> resolve_device("cpu")
    device(type='cpu')
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import DeviceError, plural, warn
from ..inputs.base import Batch, ImageSource
from .distributed import World, agree_min, block, join_world

__all__ = [
    "resolve_device",
    "sums_device",
    "auto_batch_size",
    "available_cpus",
    "default_workers",
    "Work",
    "assign_work",
    "iterate_batches",
    "next_batch_start",
]

MAX_WORKERS = 16


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask on Linux, ``os.process_cpu_count()`` on
    Python 3.13+, else ``os.cpu_count()`` (macOS, Windows)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    counter = getattr(os, "process_cpu_count", None) or os.cpu_count
    return max(1, counter() or 1)


def default_workers(device: torch.device) -> int:
    """0 on CPU (the network needs the cores; decoding is < 1% of the time there); on an
    accelerator decoding is the bottleneck: every available core, up to 16."""
    return 0 if device.type == "cpu" else min(MAX_WORKERS, available_cpus())


def _has_mps() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _has_xpu() -> bool:
    xpu = getattr(torch, "xpu", None)
    return bool(xpu is not None and xpu.is_available())


def resolve_device(name: str) -> torch.device:
    """'auto' | 'cpu' | 'cuda[:N]' | 'mps' | 'xpu[:N]' -> torch.device, refusing devices that are not here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _has_mps() else "cpu")
    kind, _, index_text = name.partition(":")
    checks = {
        "cuda": (torch.cuda.is_available, lambda: torch.cuda.device_count(), "CUDA GPU"),
        "xpu": (_has_xpu, lambda: torch.xpu.device_count(), "Intel XPU"),
        "mps": (_has_mps, lambda: 1, "Apple MPS device"),
    }
    if kind in checks:
        available, count, what = checks[kind]
        if not available():
            raise DeviceError(f"device: got {name!r}, but no {what} is available here; use --device cpu")
        index = int(index_text) if index_text else 0
        if index >= count():
            raise DeviceError(
                f"device: got {name!r}, but only {count()} {kind} device(s) exist ({kind}:0..{kind}:{count() - 1})"
            )
    return torch.device(name)


def sums_device(device: torch.device) -> torch.device:
    """Where the float64 sums of the metrics live: the network's device when it has float64 (CPU,
    CUDA), else the CPU (Apple's MPS has no float64; Intel XPUs may lack it), and each batch's
    outputs are moved there (a few KB per image).

    Example:
        >>> sums_device(torch.device("mps")), sums_device(torch.device("cpu"))
        (device(type='cpu'), device(type='cpu'))
    """
    return device if device.type in ("cpu", "cuda") else torch.device("cpu")


def auto_batch_size(device: torch.device, precision: str) -> int:
    """64 on CPU and other devices (larger batches are no faster there); on CUDA, what free memory allows, <= 500."""
    if device.type != "cuda":
        return 64
    free, _ = torch.cuda.mem_get_info(device)
    per_image = (24 if precision == "fast" else 48) * 2**20  # peak activations at 299x299, with margin
    return int(max(16, min(500, free // per_image)))


@dataclass(frozen=True)
class Work:
    """This process's part of the run: where it runs, in which batches, and which images."""

    device: torch.device
    world: World | None  # torchrun's ranks, or None for a single process
    batch_size: int
    shard: tuple[int, int]  # images start..stop-1 of this --shard (all of them without one)
    mine: tuple[int, int]  # the images this process scores: the shard, or this rank's block of it

    @property
    def is_main(self) -> bool:
        """The process that prints and writes the results (rank 0 under torchrun)."""
        return self.world is None or self.world.is_main


def assign_work(
    sources: Sequence[ImageSource],
    device: torch.device,
    requested_device: str,
    batch_size: int | None,
    precision: str,
    shard: tuple[int, int] | None,
) -> Work:
    """Join torchrun's ranks (if any) and cut the images into this process's block."""
    num_images = sum(len(s) for s in sources)
    world = join_world(device)
    if world is not None and device.type == "cuda" and requested_device in ("auto", "cuda"):
        device = torch.device("cuda", world.local_rank)
    size = batch_size or auto_batch_size(device, precision)
    if world is not None:
        size = agree_min(size, device)  # the blocks below must be the same on every rank

    def aligned(lo: int, hi: int) -> tuple[int, int]:
        return next_batch_start(sources, size, lo), next_batch_start(sources, size, hi)

    span = aligned(*block(num_images, *shard)) if shard else (0, num_images)
    batches = f"the {plural(span[1] - span[0], 'image')} make fewer batches of {size} than"
    if shard and span[0] == span[1]:  # blocks snap to batch boundaries, so that any cut gives the same bits
        warn(
            f"shard {shard[0]}/{shard[1]}: no images to score ({plural(num_images, 'image')} make fewer batches of "
            f"{size} than there are shards); its statistics file is still needed by merge"
        )
    mine = span
    if world is not None:
        ranks = [aligned(*block(span[1] - span[0], r, world.size, span[0])) for r in range(world.size)]
        mine = ranks[world.rank]
        idle = [str(r) for r, (lo, hi) in enumerate(ranks) if lo == hi]
        if idle and span[0] != span[1]:
            who = f"rank {idle[0]} scores" if len(idle) == 1 else f"ranks {', '.join(idle)} score"
            warn(f"torchrun: {who} nothing ({batches} ranks)")
    return Work(device, world, size, span, mine)


def next_batch_start(sources: Sequence[ImageSource], batch_size: int, index: int) -> int:
    """The first batch boundary at or after ``index`` (batches restart at each source)."""
    offset = 0
    for source in sources:
        if index < offset + len(source):
            steps = -(-(index - offset) // batch_size)  # ceil
            return min(offset + steps * batch_size, offset + len(source))
        offset += len(source)
    return offset


def iterate_batches(
    sources: Sequence[ImageSource],
    batch_size: int,
    num_workers: int = 0,
    start: int = 0,
    stop: int | None = None,
    pin_memory: bool = False,
) -> Iterator[Batch]:
    """Images ``start .. stop - 1`` of all sources as one stream, with global indexes (0..N-1).

    ``pin_memory``: page-locked host buffers, so the copy to the GPU can overlap compute.
    """
    total = sum(len(s) for s in sources)
    stop = total if stop is None else stop
    offset = 0
    for source in sources:
        lo, hi = max(start - offset, 0), min(stop - offset, len(source))
        if lo < hi:
            for batch in source.batches(batch_size, num_workers, lo, hi):
                images = batch.images
                if pin_memory:
                    images = images.pin_memory() if isinstance(images, Tensor) else [i.pin_memory() for i in images]
                yield Batch(batch.indices + offset, images)
        offset += len(source)


def locate(sources: Sequence[ImageSource], index: int) -> tuple[ImageSource, int]:
    """The source holding global image ``index``, and the image's index within it."""
    offset = 0
    for source in sources:
        if index < offset + len(source):
            return source, index - offset
        offset += len(source)
    raise IndexError(f"image {index} is beyond the {offset} images of the sources")
