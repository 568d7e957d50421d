"""How sure the score is: a streaming Poisson bootstrap, and IS at infinite N (Chong & Forsyth 2020).

Both are sums over images, so they are computed in the same pass as the score, in memory that
does not grow with N, and merge across batches, shards and ranks by adding.

**Bootstrap.** The std over 10 splits is the spread of 5k-image estimates, not a confidence
interval for the reported number. Resampling images with replacement gives one; with Poisson(1)
weights instead of multinomial draws (Hanley & MacGibbon 2006; "Poisson bootstrap") each image's
weight in each replicate is drawn independently, so it can be a pure function of the seed, the
image's index and the replicate: a stream, a shard or a resumed run draws the same weights.
Each replicate recomputes the reported statistic (the mean over the protocol's splits) from
weighted sums, so memory is replicates x splits x classes.

**IS at infinite N.** IS_N is biased in N. Chong & Forsyth compute IS_N on nested random
subsets of sizes N_1 < ... < N_15 (linspace(N/10, N, 15); 5k..50k for N = 50k), fit
IS_N = IS_inf + b / N by least squares, and report the intercept. Image i belongs to every subset
larger than its rank in a seeded permutation, so it is added once, to the "band" between two
subset sizes, and the subsets are cumulative sums of bands.

Example:
    >>> import numpy as np
    >>> w = poisson_weights(seed=0, indices=np.arange(4), replicates=3)
    >>> w.shape, bool((w >= 0).all())
    ((4, 3), True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..features.outputs import NetworkOutputs
from .base import Accumulator, zeros
from .inception import ISAccumulator, batch_probabilities
from .protocols import SplitPlan

__all__ = ["poisson_weights", "PoissonBootstrap", "NestedSubsets", "fit_infinity", "infinity_warning", "BOOTSTRAP_Z"]

_POISSON1_CDF = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(20)])


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A counter-based hash (Steele et al. 2014): uint64 -> well mixed uint64."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def poisson_weights(seed: int, indices: np.ndarray, replicates: int) -> np.ndarray:
    """Poisson(1) weight of each image (rows) in each replicate (columns), float64.

    A pure function of (seed, image index, replicate): any batching gives the same weights.
    """
    idx = np.asarray(indices, dtype=np.uint64)[:, None]
    rep = np.arange(replicates, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        key = _splitmix64(np.uint64(seed) * np.uint64(0xD1B54A32D192ED03) + idx * np.uint64(1 << 16) + rep)
    uniform = (key >> np.uint64(11)).astype(np.float64) * 2.0**-53  # [0, 1)
    return np.searchsorted(_POISSON1_CDF, uniform, side="right").astype(np.float64)


BOOTSTRAP_Z = 1.96  # the normal interval's multiplier: ci95 = estimate +- 1.96 bootstrap_std


class PoissonBootstrap(Accumulator):
    """Weighted per-split sums for each replicate: B x S weights, B x S x C sums of p, B x S sums of p ln p.

    Each replicate recomputes the reported statistic (the mean over the protocol's splits of IS)
    from its weighted sums; the weights are :func:`poisson_weights` of (seed, image, replicate).
    """

    name = "bootstrap"
    needs = frozenset({"logits_unbiased"})
    states = {"weight": "weight", "sum_p": "sum_p", "sum_plogp": "sum_plogp"}

    def __init__(self, plan: SplitPlan, replicates: int, num_classes: int, seed: int = 0, device: Any = "cpu") -> None:
        self.plan, self.replicates, self.seed = plan, replicates, seed
        num_splits = plan.num_splits
        self.weight = zeros((replicates, num_splits), device)
        self.sum_p = zeros((replicates, num_splits, num_classes), device)
        self.sum_plogp = zeros((replicates, num_splits), device)

    def update(self, outputs: NetworkOutputs, indices: np.ndarray) -> None:
        p, plogp = batch_probabilities(outputs)
        split_ids = self.plan.split_of(indices)
        w = torch.from_numpy(poisson_weights(self.seed, indices, self.replicates)).to(p.device)  # N x B
        for split in np.unique(split_ids):
            rows = torch.from_numpy(np.flatnonzero(split_ids == split)).to(p.device)
            ws = w[rows]  # n x B
            self.weight[:, split] += ws.sum(dim=0)
            self.sum_p[:, split] += ws.T @ p[rows]  # B x C
            self.sum_plogp[:, split] += ws.T @ plogp[rows]

    def replicate_means(self) -> np.ndarray:
        """The reported statistic (mean over splits of IS) in each replicate."""
        w = self.weight.cpu().clamp_min(1e-300)  # a replicate may draw no image of a tiny split
        q = self.sum_p.cpu() / w[..., None]
        scores = torch.exp(self.sum_plogp.cpu() / w + torch.special.entr(q).sum(dim=-1))  # B x S
        return scores.mean(dim=1).numpy()

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        """bootstrap_std, and ci95 = estimate +- 1.96 std (the normal interval) around the
        protocol's mean (``so_far["inception_score_mean"]``).

        Not the percentile interval: a replicate repeats some images and misses others (~37%),
        and IS falls with fewer distinct images, so the replicates sit below the estimate and
        their percentiles may not even contain it. Their spread is still a fair standard error.
        """
        estimate = float(so_far["inception_score_mean"])
        std = float(np.std(self.replicate_means(), ddof=1)) if self.replicates > 1 else float("nan")
        if not math.isfinite(std):
            return {"ci95": None, "bootstrap_std": None, "bootstrap_replicates": self.replicates}
        return {
            "ci95": [estimate - BOOTSTRAP_Z * std, estimate + BOOTSTRAP_Z * std],
            "bootstrap_std": std,
            "bootstrap_replicates": self.replicates,
        }


def subset_sizes(num_images: int, points: int = 15) -> np.ndarray:
    """Chong & Forsyth's N_j: linspace(N/10, N, 15), rounded, distinct, at least 2."""
    sizes = np.unique(np.round(np.linspace(num_images / 10, num_images, points)).astype(np.int64))
    return sizes[sizes >= 2]


class NestedSubsets(Accumulator):
    """IS of nested random subsets of sizes ``subset_sizes(N)``, accumulated band by band, and
    the fit of IS_N against 1/N (``is_infinity``, ``is_infinity_fit``)."""

    name = "nested"
    needs = frozenset({"logits_unbiased"})
    states = {k: f"bands.{k}" for k in ISAccumulator.FIELDS}

    def __init__(self, num_images: int, num_classes: int, seed: int = 0, device: torch.device | str = "cpu") -> None:
        self.sizes = subset_sizes(num_images)
        self.num_images, self.seed = num_images, seed
        # rank of image i in a seeded permutation; it belongs to every subset with size > rank
        perm = np.random.RandomState(seed).permutation(num_images)
        self._rank = np.empty(num_images, dtype=np.int64)
        self._rank[perm] = np.arange(num_images)
        self.bands = ISAccumulator(max(1, len(self.sizes)), num_classes, device)

    def update(self, outputs: NetworkOutputs, indices: np.ndarray) -> None:
        p, plogp = batch_probabilities(outputs)
        band = np.searchsorted(self.sizes, self._rank[indices], side="right")  # first subset that holds it
        keep = band < len(self.sizes)
        if keep.any():
            rows = torch.from_numpy(np.flatnonzero(keep)).to(p.device)
            ids = torch.from_numpy(band[keep]).to(p.device)
            self.bands.add_probabilities(p[rows], plogp[rows], ids)

    def is_n(self) -> tuple[np.ndarray, np.ndarray]:
        """(N_j, IS of the subset of size N_j) for every subset."""
        if len(self.sizes) == 0:
            return self.sizes, np.array([])
        cumulative = ISAccumulator(len(self.sizes), self.bands.num_classes)
        for name in ISAccumulator.FIELDS:
            setattr(cumulative, name, getattr(self.bands, name).cpu().cumsum(dim=0))
        return self.sizes, cumulative.split_scores()

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        fit = fit_infinity(*self.is_n())
        return {"is_infinity": fit["is_infinity"] if fit else None, "is_infinity_fit": fit}

    def warnings(self, fields: Mapping[str, Any]) -> list[str]:
        return infinity_warning("IS", fields.get("is_infinity_fit"))


# Chong & Forsyth fit over 5,000..50,000 images: below that the 1/N law is not what IS_N and FID_N
# follow (FID_N's covariance is singular up to 2048 images), so an extrapolation from smaller
# subsets is a guess, whatever its R².
INFINITY_MIN_SUBSET = 5_000


def infinity_warning(metric: str, fit: Mapping[str, Any] | None) -> list[str]:
    """The warning for an N -> infinity fit over subsets smaller than :data:`INFINITY_MIN_SUBSET`.

    Example:
        >>> infinity_warning("IS", {"n": [4, 40]})[0][:47]
        'IS at infinite N fitted over subsets of 4 to 40'
    """
    if not fit or min(fit["n"]) >= INFINITY_MIN_SUBSET:
        return []
    n = fit["n"]
    return [
        f"{metric} at infinite N fitted over subsets of {min(n):,} to {max(n):,} images: the 1/N law it extrapolates "
        f"holds from about {INFINITY_MIN_SUBSET:,} images (Chong & Forsyth fit 5,000..50,000), so at this N it is a "
        f"rough guess, whatever the fit's R²"
    ]


def fit_infinity(sizes: np.ndarray, scores: np.ndarray) -> dict[str, object] | None:
    """Least-squares fit IS_N = IS_inf + slope / N; None with fewer than 3 points."""
    if len(sizes) < 3:
        return None
    x = 1.0 / sizes.astype(np.float64)
    design = np.stack([np.ones_like(x), x], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, scores, rcond=None)
    fitted = design @ np.array([intercept, slope])
    total = float(np.sum((scores - scores.mean()) ** 2))
    r2 = 1.0 - float(np.sum((scores - fitted) ** 2)) / total if total > 0 else 1.0
    return {
        "is_infinity": float(intercept),
        "slope": float(slope),
        "r2": r2,
        "n": [int(n) for n in sizes],
        "is_n": [float(v) for v in scores],
    }
