"""What the score is made of, and warnings where the number is known to mislead.

From the per-split sums (:class:`~inception_score.score.ISAccumulator`) alone:

* ln IS = H[E p(y|x)] - E H[p(y|x)], so IS = diversity x sharpness with
  ``diversity = exp(H(marginal))`` (the effective number of classes the set covers) and
  ``sharpness = exp(-E H(y|x))`` (the reciprocal of the effective number of classes each image
  is spread over), for all images together and per split;
* the marginal over the 1008 outputs with the class names of the 2015 graph
  (``data/inception_2015_classes.tsv``, from the label map in ``inception-2015-12-05.tgz``,
  Apache 2.0; see ``data/NOTICE.md``), how many classes hold real mass, which are never the
  top-1 class;
* a warning below 50,000 images (IS grows with N). The warnings about the splits (too small,
  class-ordered input) belong to the protocol's scores: :class:`~.inception.SplitScores`.

:class:`ClassDiagnostics` accumulates the pooled sums it needs (count, sum of p and of p ln p,
of the top-1 confidence, the top-1 histogram and a confidence histogram) over all images.

Example:
    >>> class_names()[449]
    'tench, Tinca tinca'
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import torch

from ..errors import plural
from ..features.outputs import NetworkOutputs
from .base import Accumulator
from .inception import CONFIDENCE_BINS, ISAccumulator, batch_probabilities
from .protocols import SplitPlan

__all__ = ["class_names", "ClassDiagnostics", "REFERENCE_N", "MASS_THRESHOLD"]

REFERENCE_N = 50_000  # the convention of published numbers
MASS_THRESHOLD = 1e-4  # a class "holds mass" when q_y > 1/10 of the uniform 1/1000


@lru_cache(maxsize=1)
def class_names() -> list[str]:
    """Human-readable names of the 1008 outputs, in output order (0 and 1001..1007: 'unused')."""
    text = resources.files("inception_score").joinpath("data/inception_2015_classes.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    return [label for _, _, label in sorted(rows, key=lambda r: int(r[0]))]


class ClassDiagnostics(Accumulator):
    """What the score is made of, over all images as one set (sums, so it merges)."""

    name = "classes"
    needs = frozenset({"logits_unbiased"})
    states = {k: f"sums.{k}" for k in ISAccumulator.FIELDS}

    def __init__(
        self, plan: SplitPlan, num_classes: int, named: bool, device: torch.device | str = "cpu", top: int = 10
    ) -> None:
        # Summed per split of the protocol and pooled at the end: the same float64 additions, in the
        # same order, as the protocol's own sums, so that e.g. inception_score_one_split equals the
        # mean of a one-split run to the last bit.
        self.plan = plan
        self.sums = ISAccumulator(plan.num_splits, num_classes, device)
        self.named, self.top = named, top

    def update(self, outputs: NetworkOutputs, indices: np.ndarray) -> None:
        p, plogp = batch_probabilities(outputs)
        self.sums.add_probabilities(p, plogp, torch.from_numpy(self.plan.split_of(indices)).to(p.device))

    @property
    def pooled(self) -> ISAccumulator:
        return self.sums.pooled()

    def names(self) -> list[str] | None:
        """The class names of the 2015 graph's outputs, when the network is that graph."""
        return class_names() if self.named and self.sums.num_classes == 1008 else None

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        pooled = self.pooled
        sharp, div = pooled.split_terms()
        n = float(pooled.count[0])
        q = (pooled.sum_p[0] / n).cpu().numpy()
        hits = pooled.top1_hist[0].cpu().numpy()
        names = self.names()
        real = range(1, 1001) if names else range(len(q))  # 0 and 1001..1007 are not classes
        kept = set(real)  # output 0 and 1001..1007 are not classes: never ranked among the top classes
        order = [i for i in np.argsort(-q) if i in kept][: self.top]
        top_classes = [
            {
                "index": int(i),
                "name": names[i] if names else str(i),
                "probability": float(q[i]),
                "top1_count": int(hits[i]),
            }
            for i in order
        ]
        missing = [i for i in real if hits[i] == 0]
        return {
            "sharpness": float(sharp[0]),
            "diversity": float(div[0]),
            "inception_score_one_split": float(sharp[0] * div[0]),
            "num_effective_classes": float(div[0]),
            "num_classes_with_mass": int(sum(q[i] > MASS_THRESHOLD for i in real)),
            "num_classes_top1": int(sum(hits[i] > 0 for i in real)),
            "num_classes_never_top1": len(missing),
            "classes_never_top1": [names[i] if names else str(i) for i in missing[:20]],
            "mean_top1_confidence": float(pooled.sum_top1[0] / n),
            "top_classes": top_classes,
        }

    def warnings(self, fields: Mapping[str, Any]) -> list[str]:
        n = int(self.sums.count.sum())
        if n < REFERENCE_N:
            return [
                f"{plural(n, 'image')}: IS grows with the number of images, so compare only with scores on the same N "
                f"(published numbers use {REFERENCE_N:,}); is_infinity estimates the N-free value, roughly at this N"
            ]
        return []

    def report_data(self) -> dict[str, Any]:
        pooled = self.pooled
        out: dict[str, Any] = {
            "marginal": (pooled.sum_p[0] / pooled.count[0]).cpu().tolist(),
            "confidence_histogram": {
                "edges": [i / CONFIDENCE_BINS for i in range(CONFIDENCE_BINS + 1)],
                "counts": [int(c) for c in pooled.confidence_hist[0].cpu().tolist()],
            },
        }
        names = self.names()
        if names:
            out["class_names"] = names
        return out
