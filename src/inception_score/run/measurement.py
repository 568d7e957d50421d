"""What one pass (or a merge of passes) measured: the accumulators and the facts of the run.

A :class:`Measurement` is the hand-over from the run to the report: the metrics' accumulators
(merged over ranks, shards or a resumed run), the :class:`~inception_score.metrics.registry.MetricSpec`
they were built from, the facts that describe the run (weights, device, batch size, sources,
skipped files, timing...), and the warnings recorded while running. The one
:func:`~inception_score.report.result.build_result` turns it into a ``Result``, for
:func:`inception_score.compute`, ``merge`` and the metric object alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..inputs.base import ImageSource
from ..metrics.base import Accumulator
from ..metrics.registry import MetricSpec

__all__ = ["Measurement"]


@dataclass
class Measurement:
    """The accumulators of a finished pass and the facts of the run."""

    accumulators: list[Accumulator]
    spec: MetricSpec
    facts: dict[str, Any]  # fields of the result that describe the run, not the images
    warnings: list[str] = field(default_factory=list)  # recorded while running, in order
    sources: Sequence[ImageSource] = ()  # the opened sources (the report reads thumbnails back)
    shard: dict[str, Any] | None = None  # a --shard run: where its statistics went, not a score
    is_main: bool = True  # rank 0 under torchrun: the process that writes the report
