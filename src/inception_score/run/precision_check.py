"""``--check-precision N``: how far ``fast`` is from ``exact`` on the first N images of this run.

The run's own fast outputs and the exact network's outputs of the same preprocessed images are
accumulated as one split each; the result reports both Inception Scores and their relative
deviation (``precision_check``). When the run computes FID, the pool3 statistics of the same N
images are accumulated both ways too, and their FIDs against the run's reference and the
relative deviation are reported (``fid_fast``, ``fid_exact``, ``fid_relative_deviation``).
DINOv2 and CLIP have their own check (:class:`FeatureCheck`): the largest deviation of their
vectors, and their Fréchet distance both ways when the reference holds their statistics.

Example:
    >>> import torch
    >>> from inception_score.features.outputs import NetworkOutputs
    >>> logits = torch.eye(4).repeat(2, 1) * 20
    >>> check = PrecisionCheck(8, lambda x: NetworkOutputs(logits_unbiased=logits), num_classes=4)
    >>> check(torch.zeros(8, 3, 2, 2), NetworkOutputs(logits_unbiased=logits))
    >>> check.fields()["relative_deviation"]
    0.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..features.outputs import NetworkOutputs
from ..metrics.frechet import FrechetDistance
from ..metrics.inception import ISAccumulator
from ..metrics.reference import Reference

__all__ = ["PrecisionCheck", "FeatureCheck"]


class PrecisionCheck:
    """The IS of the first ``limit`` images this process scores, fast (the run's) and exact."""

    def __init__(
        self, limit: int, exact: Callable[[Tensor], NetworkOutputs], num_classes: int, fid: bool = False
    ) -> None:
        self.limit, self.exact, self.seen = limit, exact, 0
        self.fast_sums, self.exact_sums = ISAccumulator(1, num_classes), ISAccumulator(1, num_classes)
        # pool3 moments of the same images both ways (FID's deviation), when the run computes FID
        self.fast_moments = FrechetDistance(None) if fid else None
        self.exact_moments = FrechetDistance(None) if fid else None
        self.reference: Reference | None = None  # set by the run once its reference is known

    def __call__(self, prepared: Tensor, outputs: NetworkOutputs) -> None:
        take = min(len(prepared), self.limit - self.seen)
        if take <= 0:
            return
        zeros = torch.zeros(take, dtype=torch.long)
        exact = self.exact(prepared[:take])
        self.fast_sums.update(outputs.require("logits_unbiased")[:take], zeros)
        self.exact_sums.update(exact.require("logits_unbiased"), zeros)
        if self.fast_moments is not None and self.exact_moments is not None:
            index = torch.arange(take).numpy()
            self.fast_moments.update(NetworkOutputs(pool3=outputs.require("pool3")[:take].cpu()), index)
            self.exact_moments.update(NetworkOutputs(pool3=exact.require("pool3").cpu()), index)
        self.seen += take

    def fields(self) -> dict[str, Any] | None:
        if not self.seen:
            return None
        exact, fast = float(self.exact_sums.split_scores()[0]), float(self.fast_sums.split_scores()[0])
        out: dict[str, Any] = {
            "num_images": self.seen,
            "inception_score_exact": exact,
            "inception_score_fast": fast,
            "relative_deviation": abs(fast - exact) / exact,
        }
        if self.reference is not None and self.fast_moments is not None and self.exact_moments is not None:
            if self.seen >= 2 and self.reference.mu is not None:
                fid_fast = FrechetDistance(self.reference).bind(self.fast_moments.state()).fields({})["fid"]
                fid_exact = FrechetDistance(self.reference).bind(self.exact_moments.state()).fields({})["fid"]
                out.update(fid_fast=fid_fast, fid_exact=fid_exact,
                           fid_relative_deviation=abs(fid_fast - fid_exact) / max(abs(fid_exact), 1e-12))  # fmt: skip
        return out


class FeatureCheck:
    """``--check-precision`` for DINOv2 or CLIP: their vectors of the first ``limit`` images, fast and exact.

    Fields (added to ``precision_check``): ``{space}_max_deviation``, the largest absolute
    difference between a fast and an exact vector element divided by the largest exact element;
    and when the reference holds the space's statistics, the Fréchet distance of those images
    both ways and its relative deviation (``fd_dinov2_fast``, ``fd_dinov2_exact``,
    ``fd_dinov2_relative_deviation``).

    Example:
        >>> check = FeatureCheck(4, lambda x: x[:, :3] * 1.0, "dinov2", 3)
        >>> check(torch.ones(4, 5), torch.ones(4, 3) * 1.01)
        >>> round(check.fields()["dinov2_max_deviation"], 6)
        0.01
    """

    def __init__(self, limit: int, exact: Callable[[Tensor], Tensor], space: str, dim: int) -> None:
        self.limit, self.exact, self.space, self.seen = limit, exact, space, 0
        self.fast_moments = FrechetDistance(None, dim, space=space)
        self.exact_moments = FrechetDistance(None, dim, space=space)
        self.largest_difference = self.largest_value = 0.0
        self.reference: Reference | None = None  # set by the run once its reference is known

    def __call__(self, prepared: Tensor, vectors: Tensor) -> None:
        take = min(len(prepared), self.limit - self.seen)
        if take <= 0:
            return
        fast, exact = vectors[:take].float().cpu(), self.exact(prepared[:take]).float().cpu()
        self.largest_difference = max(self.largest_difference, float((fast - exact).abs().max()))
        self.largest_value = max(self.largest_value, float(exact.abs().max()))
        index = torch.arange(take).numpy()
        self.fast_moments.update(NetworkOutputs(**{self.space: fast}), index)
        self.exact_moments.update(NetworkOutputs(**{self.space: exact}), index)
        self.seen += take

    def fields(self) -> dict[str, Any]:
        if not self.seen:
            return {}
        out: dict[str, Any] = {f"{self.space}_max_deviation": self.largest_difference / max(self.largest_value, 1e-30)}
        if self.reference is not None and self.seen >= 2 and self.reference.moments(self.space) is not None:
            name = self.fast_moments.name
            fast = FrechetDistance(self.reference, space=self.space).bind(self.fast_moments.state()).fields({})[name]
            exact = FrechetDistance(self.reference, space=self.space).bind(self.exact_moments.state()).fields({})[name]
            out.update({f"{name}_fast": fast, f"{name}_exact": exact,
                        f"{name}_relative_deviation": abs(fast - exact) / max(abs(exact), 1e-12)})  # fmt: skip
        return out
