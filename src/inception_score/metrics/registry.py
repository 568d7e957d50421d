"""Which accumulators a run uses, from a small, serialisable description of the run's metrics.

:class:`MetricSpec` holds everything that decides the accumulators' shapes and arithmetic (the
protocol, N, the classes, the bootstrap and its seed, the comparison metrics and their options).
It is stored in statistics and state files, so that ``merge`` and a resumed run rebuild exactly the
same accumulators, and two files can be merged only when their specs agree. The Inception Score
(with its uncertainty and diagnostics) is always computed; FID, KID, sFID, precision/recall and
density/coverage compare the samples with a :class:`~.reference.Reference`.

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

from ..errors import OptionsError
from .base import Accumulator
from .confidence import ConfidentImages
from .diagnostics import ClassDiagnostics, class_names
from .features import PooledFeatures
from .frechet import FIDInfinity, FrechetDistance, SpatialFrechetDistance
from .inception import SplitScores
from .kernel import KID
from .manifold import DensityCoverage, PrecisionRecall
from .near_duplicates import NearDuplicates
from .protocols import SplitPlan
from .reference import Reference
from .uncertainty import NestedSubsets, PoissonBootstrap

__all__ = ["MetricSpec", "build_accumulators", "COMPARISONS"]

COMPARISONS = ("fid", "kid", "sfid", "pr", "prdc")  # the metrics that need a reference


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
    metrics: tuple[str, ...] = ("is",)  # is, fid, kid, sfid, pr, prdc
    fid_infinity: bool = False
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    pr_precision: str = "float16"
    prdc_k: int = 5
    resize: str = "tf1"  # how images reach the network (features/preprocess.py): shards must agree
    cov_divisor: str = "n-1"  # FID's covariance divisor: n-1 (np.cov) or n (StyleGAN)
    kid_protocol: str = "torch-fidelity"  # how KID's subsets are drawn (kernel.KID_PROTOCOLS)
    kid_seed: int = 2020

    @property
    def ddof(self) -> int:
        """The covariance divisor as numpy's ddof: n - ddof."""
        return 0 if self.cov_divisor == "n" else 1

    @property
    def keeps_features(self) -> bool:
        """Whether every sample's pool3 features are kept (8 KB per image): KID, FID_inf, P/R, D/C."""
        return self.fid_infinity or any(m in self.metrics for m in ("kid", "pr", "prdc"))

    def plan(self) -> SplitPlan:
        return SplitPlan(self.protocol, self.num_images, self.splits)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MetricSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        if "metrics" in kept:
            kept["metrics"] = tuple(kept["metrics"])
        return cls(**kept)


def build_accumulators(
    spec: MetricSpec,
    device: torch.device | str = "cpu",
    reference: Reference | None = None,
    samples: Reference | None = None,
) -> list[Accumulator]:
    """The accumulators of ``spec``, in the order their fields are computed (later ones read earlier ones).

    ``samples``: statistics stored with the samples (``mu``/``sigma``, ``mu_s``/``sigma_s``), which
    FID and sFID use instead of the samples' own sums where present (``evaluate``, as the ADM
    evaluator reads a sample batch).

    Raises OptionsError when a comparison metric is asked for without a ``reference``, and the
    comparison metrics' own errors (a reference lacking what they need, a KID subset larger than N).
    """
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
    comparisons = [m for m in spec.metrics if m in COMPARISONS]
    if not comparisons and not spec.fid_infinity:
        return out
    if reference is None:
        raise OptionsError(f"metrics: {', '.join(comparisons or ['fid_infinity'])} need a reference (--ref)")
    features = PooledFeatures(spec.num_images, device=device) if spec.keeps_features else None
    if features is not None:
        out.append(features)
    if "fid" in spec.metrics:
        out.append(FrechetDistance(reference, device=device, samples=samples, ddof=spec.ddof))
    if "sfid" in spec.metrics:
        out.append(SpatialFrechetDistance(reference, device=device, samples=samples, ddof=spec.ddof))
    if "kid" in spec.metrics:
        out.append(KID(features, reference, spec.kid_subsets, spec.kid_subset_size, spec.kid_seed, spec.kid_protocol))
    if spec.fid_infinity:
        out.append(FIDInfinity(features, reference, seed=spec.seed))
    if "pr" in spec.metrics:
        out.append(PrecisionRecall(features, reference, precision=spec.pr_precision))
    if "prdc" in spec.metrics:
        out.append(DensityCoverage(features, reference, k=spec.prdc_k))
    return out
