"""Which accumulators a run uses, from a small, serialisable description of the run's metrics.

:class:`MetricSpec` holds everything that decides the accumulators' shapes and arithmetic (the
protocol, N, the classes, the bootstrap and its seed, ...). It is stored in statistics and state
files, so that ``merge`` and a resumed run rebuild exactly the same accumulators, and two files
can be merged only when their specs agree.

Example:
    >>> spec = MetricSpec(protocol="original", splits=2, num_images=40, num_classes=4, named=False, bootstrap=0)
    >>> [a.name for a in build_accumulators(spec)]
    ['classes', 'splits', 'nested']
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from .base import Accumulator
from .confidence import ConfidentImages
from .diagnostics import ClassDiagnostics, class_names
from .inception import SplitScores
from .near_duplicates import NearDuplicates
from .protocols import SplitPlan
from .uncertainty import NestedSubsets, PoissonBootstrap

__all__ = ["MetricSpec", "build_accumulators"]


@dataclass(frozen=True)
class MetricSpec:
    """What a run measures, and every option that changes how (stored in stats files)."""

    protocol: str
    splits: int | None
    num_images: int
    num_classes: int
    named: bool  # the outputs are the 2015 graph's 1008 classes (class names, near-duplicates)
    bootstrap: int = 200
    seed: int = 0
    gallery: bool = False  # keep each image's confidence for the report's most/least confident images

    def plan(self) -> SplitPlan:
        return SplitPlan(self.protocol, self.num_images, self.splits)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MetricSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def build_accumulators(spec: MetricSpec, device: torch.device | str = "cpu") -> list[Accumulator]:
    """The accumulators of ``spec``, in the order their fields are computed (later ones read earlier ones)."""
    plan = spec.plan()
    out: list[Accumulator] = [
        ClassDiagnostics(plan, spec.num_classes, spec.named, device),
        SplitScores(plan, spec.num_classes, device),
    ]
    if spec.bootstrap:
        out.append(PoissonBootstrap(plan, spec.bootstrap, spec.num_classes, spec.seed, device))
    out.append(NestedSubsets(spec.num_images, spec.num_classes, spec.seed, device))
    if spec.named:
        names = class_names() if spec.num_classes == 1008 else None
        out.append(NearDuplicates(spec.num_images, spec.num_classes, device=device, names=names))
    if spec.gallery:
        out.append(ConfidentImages(spec.num_images, device=device))
    return out
