"""One pass over images: batches -> the extractor's outputs -> every accumulator. The only per-batch loop.

Both passes of a run use it: the samples (with periodic ``--state`` saves) and, when ``--ref`` is
a set of images, the reference. It knows no metric by name: each accumulator gets each batch's
outputs and the global indexes of its images.

Example:
    >>> import numpy as np, torch
    >>> from inception_score.features.extractor import custom_extractor
    >>> from inception_score.inputs.arrays import ArraySource
    >>> from inception_score.metrics.registry import MetricSpec, build_accumulators
    >>> images = ArraySource(np.zeros((4, 8, 8, 3), dtype=np.uint8))
    >>> extractor = custom_extractor(lambda x: torch.zeros(len(x), 3), torch.device("cpu"))
    >>> accumulators = build_accumulators(MetricSpec("original", 1, 4, 3, False, bootstrap=0))
    >>> feed([images], extractor, accumulators, Span(0, 4, batch_size=2), progress=False)
    4
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import InputError
from ..features.cache import CachedExtractor
from ..features.extractor import Extractor, NonFiniteOutput
from ..inputs.base import ImageSource
from ..metrics.base import Accumulator
from .plan import iterate_batches, locate

__all__ = ["Span", "feed", "states_of"]


@dataclass(frozen=True)
class Span:
    """The images ``start .. stop - 1`` (global indexes) a process scores, and how."""

    start: int
    stop: int
    batch_size: int
    workers: int = 0
    pin_memory: bool = False


def feed(
    sources: Sequence[ImageSource],
    forward: Extractor | CachedExtractor,
    accumulators: Sequence[Accumulator],
    span: Span,
    position: int | None = None,
    progress: bool = True,
    label: str = "img",
    checkpoint: Callable[[int], None] | None = None,
    checkpoint_every: float = 60.0,
    sums: torch.device | None = None,
    fields: Sequence[str] | None = None,
) -> int:
    """Score images ``position`` (default ``span.start``) .. ``span.stop - 1``; returns how many were
    read. ``checkpoint(next_index)`` is called every ``checkpoint_every`` seconds and at the end.
    ``sums``: the accumulators' device, when it is not the network's (see ``plan.sums_device``).
    ``fields``: only the networks that give these output fields run (default: all of the extractor's).
    Each batch is decoded once and given to every network."""
    from tqdm import tqdm

    position = span.start if position is None else position
    first = position
    bar = tqdm(total=span.stop - span.start, initial=position - span.start, unit=label, file=sys.stderr,
               dynamic_ncols=True, disable=not progress)  # fmt: skip
    last_save = time.monotonic()
    with bar, torch.inference_mode():
        for batch in iterate_batches(sources, span.batch_size, span.workers, position, span.stop, span.pin_memory):
            outputs = _outputs(forward, batch.images, batch.indices, sources, sums, fields)
            for accumulator in accumulators:
                accumulator.update(outputs, batch.indices)
            position = int(batch.indices[-1]) + 1
            bar.update(len(batch.indices))
            if checkpoint and time.monotonic() - last_save >= checkpoint_every:
                checkpoint(position)
                last_save = time.monotonic()
    if position != span.stop:
        raise InputError(f"expected images {span.start}..{span.stop - 1} from the sources, read up to {position - 1}")
    if checkpoint:
        checkpoint(position)
    return position - first


def _outputs(
    forward: Extractor | CachedExtractor,
    images: Any,
    indices: Any,
    sources: Sequence[ImageSource],
    sums: Any = None,
    fields: Sequence[str] | None = None,
) -> Any:
    """The batch's outputs (on ``sums`` if given); a NaN or inf output is refused, naming the image and network."""
    try:
        outputs = forward(images, fields) if fields is not None else forward(images)
        return outputs.to(sums) if sums is not None else outputs
    except NonFiniteOutput as exc:
        index = int(indices[exc.row])
        source, local = locate(sources, index)
        extractor = forward.extractor if isinstance(forward, CachedExtractor) else forward
        network = exc.network or extractor.description
        raise InputError(
            f"{source.label(local)}: {network} gave NaN or inf ({exc.field}) for this image (image {index}); "
            f"no score can include it (with --precision fast, try exact)"
        ) from None


def states_of(accumulators: Sequence[Accumulator]) -> dict[str, torch.Tensor]:
    """The state of every accumulator, by ``"<accumulator>.<state>"`` (for statistics and state files)."""
    return {f"{a.name}.{k}": v for a in accumulators for k, v in a.state_dict().items()}
