"""The names of the metrics (``--metrics``): each is a kind of comparison in a feature space.

A comparison metric is a kind (``fd`` Fréchet distance, ``kd`` kernel distance, ``pr``
precision/recall, ``prdc`` density/coverage, ``fd_infinity`` FD at infinite N, ``cmmd``) applied
to a feature space (:data:`~inception_score.features.spaces.SPACES`). The pool3 metrics keep the
names they always had (``fid``, ``kid``, ``pr``, ``prdc``, and FID at infinite N through
``--fid-infinity``); in another space the name is the kind and the space: ``fd_dinov2``,
``kd_clip``, ``prdc_dinov2``... CMMD is the kernel distance of Jayasumana et al. 2024 in CLIP space.
What each reads of the reference follows from its kind: the moments of its space (``mu...``,
``sigma...``) or the features themselves (``features...``).

This module imports nothing heavy: the options read it.

Example:
    >>> METRICS["fd_dinov2"], METRICS["kid"], METRICS["cmmd"]
    (('fd', 'dinov2'), ('kd', 'pool3'), ('cmmd', 'clip'))
    >>> metric_name("kd", "pool3"), metric_name("pr", "clip")
    ('kid', 'pr_clip')
    >>> sorted(spaces_of(["is", "fid", "cmmd"]))
    ['clip', 'pool3']
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "METRICS",
    "COMPARISONS",
    "MOMENT_KINDS",
    "FEATURE_KINDS",
    "metric_name",
    "spaces_of",
    "moment_spaces",
    "feature_spaces",
    "kept_spaces",
]

MOMENT_KINDS = ("fd", "fd_infinity")  # read the reference's mu and sigma of their space
FEATURE_KINDS = ("kd", "pr", "prdc", "cmmd")  # read the reference's features of their space

_LEGACY = {("fd", "pool3"): "fid", ("kd", "pool3"): "kid", ("fd", "spatial"): "sfid", ("pr", "pool3"): "pr",
           ("prdc", "pool3"): "prdc", ("fd_infinity", "pool3"): "fid_infinity"}  # fmt: skip


def metric_name(kind: str, space: str) -> str:
    """The ``--metrics`` name of ``kind`` in ``space``: pool3's historical names, else ``{kind}_{space}``."""
    return _LEGACY.get((kind, space), f"{kind}_{space}")


# name -> (kind, space), in the order --help lists them; "is" is the Inception Score (always computed)
METRICS: dict[str, tuple[str, str]] = {
    "is": ("is", "pool3"),
    "fid": ("fd", "pool3"),
    "kid": ("kd", "pool3"),
    "sfid": ("fd", "spatial"),
    "pr": ("pr", "pool3"),
    "prdc": ("prdc", "pool3"),
    **{
        metric_name(kind, space): (kind, space)
        for space in ("dinov2", "clip")
        for kind in ("fd", "kd", "pr", "prdc", "fd_infinity")
    },
    "cmmd": ("cmmd", "clip"),
}
COMPARISONS = tuple(name for name in METRICS if name != "is")  # the metrics that need a reference


def spaces_of(metrics: Iterable[str]) -> set[str]:
    """The feature spaces ``metrics`` compare in (IS and pool3's metrics: pool3)."""
    return {METRICS[m][1] for m in metrics if m in METRICS and m != "is"}


def moment_spaces(metrics: Iterable[str], fid_infinity: bool = False) -> set[str]:
    """The spaces whose reference mean and covariance ``metrics`` read."""
    found = {METRICS[m][1] for m in metrics if m in METRICS and METRICS[m][0] in MOMENT_KINDS}
    return found | ({"pool3"} if fid_infinity else set())


def feature_spaces(metrics: Iterable[str]) -> set[str]:
    """The spaces whose reference features (per image) ``metrics`` read."""
    return {METRICS[m][1] for m in metrics if m in METRICS and METRICS[m][0] in FEATURE_KINDS}


def kept_spaces(metrics: Iterable[str], fid_infinity: bool = False) -> set[str]:
    """The spaces whose samples' rows a run keeps (8 KB an image in pool3): the feature kinds and FD at infinite N."""
    metrics = list(metrics)
    kept = feature_spaces(metrics) | {METRICS[m][1] for m in metrics if m in METRICS and METRICS[m][0] == "fd_infinity"}
    return kept | ({"pool3"} if fid_infinity else set())
