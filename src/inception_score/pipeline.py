"""Sources -> device -> preprocess -> network -> accumulator -> Result. No printing of results.

The pipeline decides nothing about the mathematics (that is :mod:`inception_score.score`) nor
about the images (that is :mod:`inception_score.inputs`): it moves batches of uint8 images to
the device, resizes them there, runs the network, and adds the logits to the split statistics
of the images they came from. Memory does not grow with the number of images.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._version import __version__
from .errors import DeviceError, InputError
from .inputs import Batch, Source, open_sources
from .network import InceptionOutput, InceptionV3
from .options import Options
from .preprocess import preprocess
from .protocols import SplitPlan
from .report import Result
from .score import ISAccumulator
from .weights import ResolvedWeights, load_state_dict, locate_weights

__all__ = ["resolve_device", "load_network", "iterate_batches", "score_sources"]


def resolve_device(name: str) -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> torch.device, refusing devices that are not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device: got {name!r}, but no CUDA GPU is available here; use --device cpu")
        index = int(name[5:]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"device: got {name!r}, but only {torch.cuda.device_count()} CUDA device(s) exist "
                f"(cuda:0..cuda:{torch.cuda.device_count() - 1})"
            )
    return torch.device(name)


def load_network(
    weights: str | os.PathLike[str] | None, device: torch.device, progress: bool = True
) -> tuple[InceptionV3, ResolvedWeights]:
    """Find, verify and load the 2015 Inception weights into a network in eval mode on ``device``."""
    resolved = locate_weights(weights, progress=progress)
    net = InceptionV3()
    net.load_checkpoint(load_state_dict(resolved.path), origin=str(resolved.path))
    return net.eval().requires_grad_(False).to(device), resolved


@contextlib.contextmanager
def _ieee_fp32(device: torch.device) -> Iterator[None]:
    """Exact mode: no TF32 on GPU. cuDNN enables TF32 for convolutions by default (torch-fidelity
    runs that way, 2.35e-4 relative off its CPU score); with it off GPU equals CPU to ~1e-7."""
    if device.type != "cuda":
        yield
        return
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def iterate_batches(sources: list[Source], batch_size: int, num_workers: int) -> Iterator[Batch]:
    """All sources in order as one stream; indexes become global (0..N-1 over all sources)."""
    offset = 0
    for source in sources:
        for batch in source.batches(batch_size, num_workers):
            yield Batch(batch.indices + offset, batch.images)
        offset += len(source)


def _logits(network: Callable[[Tensor], Any], images: Tensor) -> Tensor:
    out = network(images)
    return out.logits_unbiased if isinstance(out, InceptionOutput) else out


def score_sources(
    sources: Any,
    options: Options | None = None,
    network: nn.Module | None = None,
) -> Result:
    """Score one or several sources (paths, arrays, tensors or :class:`Source`) with ``options``.

    ``network``: a module taking the preprocessed N x 3 x 299 x 299 batch and returning
    :class:`InceptionOutput` or N x C logits; default: the 2015 Inception graph with the weights
    that ``options.weights`` resolves to.
    """
    options = options or Options()
    start = time.perf_counter()
    device = resolve_device(options.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opened = open_sources(sources, recursive=options.recursive)
    for w in caught:  # re-emit so callers see them, and keep their text for the result
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    num_images = sum(len(s) for s in opened)
    plan = SplitPlan(options.protocol, num_images, options.splits)

    resolved: ResolvedWeights | None = None
    if network is None:
        network, resolved = load_network(options.weights, device, progress=options.progress)
    num_workers = options.num_workers
    if num_workers is None:
        # On CPU the network needs every core and decoding is < 1% of the time; on GPU decoding
        # is the bottleneck.
        num_workers = 0 if device.type == "cpu" else min(8, os.cpu_count() or 1)

    from tqdm import tqdm

    accumulator: ISAccumulator | None = None
    bar = tqdm(total=num_images, unit="img", file=sys.stderr, disable=not options.progress, dynamic_ncols=True)
    seen = 0
    with bar, torch.inference_mode(), _ieee_fp32(device):
        for batch in iterate_batches(opened, options.batch_size, num_workers):
            logits = _logits(network, preprocess(batch.images, device))
            if accumulator is None:
                accumulator = ISAccumulator(plan.num_splits, logits.shape[1])
            accumulator.update(logits, plan.split_of(batch.indices))
            seen += len(batch.indices)
            bar.update(len(batch.indices))
    if accumulator is None or seen != num_images:
        raise InputError(f"expected {num_images} images from the sources, read {seen}")

    scores = accumulator.split_scores()
    elapsed = time.perf_counter() - start
    return Result(
        inception_score_mean=float(np.mean(scores)),
        inception_score_std=float(np.std(scores)),
        split_scores=[float(s) for s in scores],
        num_images=num_images,
        splits=plan.num_splits,
        protocol=options.protocol,
        weights_sha256=resolved.sha256 if resolved else None,
        weights_path=str(resolved.path) if resolved else None,
        weights_source=resolved.source if resolved else "custom network",
        package_version=__version__,
        torch_version=torch.__version__,
        device=str(device),
        sources=[s.name for s in opened],
        elapsed_s=elapsed,
        images_per_second=num_images / elapsed if elapsed > 0 else 0.0,
        warnings=[str(w.message) for w in caught],
    )
