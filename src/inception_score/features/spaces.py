"""The feature spaces a run can compare images in: a name (an output field), its width, its network.

A feature space is one field of :class:`~.outputs.NetworkOutputs` holding one vector per image.
The metrics that compare two sets of vectors (Fréchet distance, kernel distance,
precision/recall, density/coverage, FD at infinite N, CMMD) are written once, over a space's
name; this table is all they know of it. Adding a network adds a row here, not a copy of each
metric.

=========  ===========  =====  =======================================================
space      network      width  vectors
=========  ===========  =====  =======================================================
pool3      inception    2048   the 2015 Inception graph's pool3 (FID, KID, P/R, D/C)
spatial    inception    2023   its ``mixed_6/conv``, first 7 channels, NHWC (sFID only)
dinov2     dinov2       1024   DINOv2 ViT-L/14 class token after the final LayerNorm
clip       clip         768    CLIP ViT-L/14@336 projected image embedding, L2-normalised
=========  ===========  =====  =======================================================

``suffix`` names a space's parts everywhere: the reference's arrays (``mu{suffix}``,
``sigma{suffix}``, ``features{suffix}`` in statistics files) and the result's fields
(``fd{suffix}``, ``kd{suffix}_mean``...). pool3 has none, so FID's names are the ones they
always were (``mu``, ``sigma``, ``features``, ``fid``, ``kid_mean``); sFID's arrays are the ADM
evaluator's ``mu_s`` and ``sigma_s``.

The width is the full network's; a network built from a smaller configuration of the same code
(the tests' tiny ViTs) gives narrower vectors, and the run takes the width its network gives.

Example:
    >>> SPACES["dinov2"].dim, SPACES["dinov2"].suffix, SPACES["pool3"].suffix
    (1024, '_dinov2', '')
    >>> part_key("mu", "clip"), part_key("sigma", "spatial"), part_key("features", "pool3")
    ('mu_clip', 'sigma_s', 'features')
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FeatureSpace", "SPACES", "VECTOR_SPACES", "part_key"]


@dataclass(frozen=True)
class FeatureSpace:
    """One feature space: the output field, its network, its full width, how it is named."""

    name: str  # the NetworkOutputs field: pool3, spatial, dinov2, clip
    network: str  # which network gives it: inception, dinov2, clip
    dim: int  # vector width of the full network
    label: str  # in messages: "pool3 features", "DINOv2 features"
    suffix: str  # of the reference's arrays and the result's fields ("" for pool3)
    fd_label: str  # the name of its Fréchet distance in messages: FID, FD_DINOv2...


SPACES: dict[str, FeatureSpace] = {
    "pool3": FeatureSpace("pool3", "inception", 2048, "pool3 features", "", "FID"),
    "spatial": FeatureSpace("spatial", "inception", 2023, "spatial features", "_s", "sFID"),
    "dinov2": FeatureSpace("dinov2", "dinov2", 1024, "DINOv2 features", "_dinov2", "FD_DINOv2"),
    "clip": FeatureSpace("clip", "clip", 768, "CLIP embeddings", "_clip", "FD_CLIP"),
}
VECTOR_SPACES = ("pool3", "dinov2", "clip")  # the spaces every vector metric works in (spatial: sFID only)


def part_key(part: str, space: str) -> str:
    """The name of a reference part (``mu``, ``sigma``, ``features``) of ``space``: ``mu_dinov2``..."""
    return f"{part}{SPACES[space].suffix}"
