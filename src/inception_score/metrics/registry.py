"""Which accumulators a run uses, from a small, serialisable description of the run's metrics.

:class:`MetricSpec` holds everything that decides the accumulators' shapes and arithmetic (the
protocol, N, the classes, the bootstrap and its seed, the comparison metrics and their options).
It is stored in statistics and state files, so that ``merge`` and a resumed run rebuild exactly the
same accumulators, and two files can be merged only when their specs agree. The Inception Score
(with its uncertainty and diagnostics) is always computed; the comparison metrics (FID, KID, sFID,
precision/recall, density/coverage in pool3; the same kinds in DINOv2 and CLIP space; CMMD)
compare the samples with a :class:`~.reference.Reference`. Each comparison metric is a kind over a
feature space (:mod:`.names`): one accumulator class per kind, built here with the space's name.

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
from ..features.spaces import SPACES
from .base import Accumulator
from .cmmd import CMMD
from .confidence import ConfidentImages
from .diagnostics import ClassDiagnostics, class_names
from .features import PooledFeatures
from .frechet import FIDInfinity, FrechetDistance, SpatialFrechetDistance
from .inception import SplitScores
from .kernel import KID
from .manifold import DensityCoverage, PrecisionRecall
from .names import COMPARISONS, METRICS, kept_spaces
from .near_duplicates import NearDuplicates
from .protocols import SplitPlan
from .reference import Reference
from .uncertainty import NestedSubsets, PoissonBootstrap

__all__ = ["MetricSpec", "build_accumulators", "COMPARISONS"]


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
    metrics: tuple[str, ...] = ("is",)  # is, fid, kid, sfid, pr, prdc, fd_dinov2, ..., cmmd (names.METRICS)
    fid_infinity: bool = False
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    pr_precision: str = "float16"
    pr_k: int = 3
    prdc_k: int = 5
    prdc_subsample: int | None = None  # P/R and D/C on subsets of this many images (dgm-eval's reduced_n)
    resize: str = "tf1"  # how images reach the network (features/preprocess.py): shards must agree
    cov_divisor: str = "n-1"  # FID's covariance divisor: n-1 (np.cov) or n (StyleGAN)
    kid_protocol: str = "torch-fidelity"  # how KID's subsets are drawn (kernel.KID_PROTOCOLS)
    kid_seed: int = 2020
    cmmd_drop_remainder: bool = False
    # the width of each feature space's vectors when it is not the full network's (a small test network)
    feature_dims: tuple[tuple[str, int], ...] = ()

    @property
    def ddof(self) -> int:
        """The covariance divisor as numpy's ddof: n - ddof."""
        return 0 if self.cov_divisor == "n" else 1

    @property
    def keeps_features(self) -> bool:
        """Whether every sample's pool3 features are kept (8 KB per image): KID, FID_inf, P/R, D/C."""
        return "pool3" in self.kept_spaces

    @property
    def kept_spaces(self) -> tuple[str, ...]:
        """The feature spaces whose every sample vector is kept (KID, FD at infinite N, P/R, D/C, CMMD)."""
        return tuple(s for s in SPACES if s in kept_spaces(self.metrics, self.fid_infinity))

    def dim(self, space: str) -> int:
        """The width of ``space``'s vectors in this run."""
        return dict(self.feature_dims).get(space, SPACES[space].dim)

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
        if "feature_dims" in kept:
            kept["feature_dims"] = tuple((str(s), int(d)) for s, d in kept["feature_dims"])
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
    kept = {s: PooledFeatures(spec.num_images, spec.dim(s), device=device, space=s) for s in spec.kept_spaces}
    out.extend(kept.values())
    for space in SPACES:  # per space, in the order FID's accumulators always came
        if any(METRICS.get(m) == ("fd", space) for m in spec.metrics):
            if space == "spatial":
                out.append(SpatialFrechetDistance(reference, device=device, samples=samples, ddof=spec.ddof))
            else:
                out.append(FrechetDistance(reference, device=device, samples=samples, ddof=spec.ddof, space=space))
        if space not in kept:
            continue
        features, wanted = kept[space], {METRICS[m][0] for m in spec.metrics if METRICS.get(m, ("", ""))[1] == space}
        if "kd" in wanted:
            out.append(
                KID(features, reference, spec.kid_subsets, spec.kid_subset_size, spec.kid_seed, spec.kid_protocol)
            )
        if "fd_infinity" in wanted or (space == "pool3" and spec.fid_infinity):
            out.append(FIDInfinity(features, reference, seed=spec.seed))
        if "pr" in wanted:
            out.append(
                PrecisionRecall(
                    features, reference, spec.pr_k, spec.pr_precision, subsample=spec.prdc_subsample, seed=spec.seed
                )  # fmt: skip
            )
        if "prdc" in wanted:
            out.append(DensityCoverage(features, reference, spec.prdc_k, subsample=spec.prdc_subsample, seed=spec.seed))
        if "cmmd" in wanted:
            out.append(CMMD(features, reference, drop_remainder=spec.cmmd_drop_remainder))
    return out
