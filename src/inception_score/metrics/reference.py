"""The reference set that the comparison metrics (FID, KID, FD_DINOv2, CMMD...) compare the samples with.

A :class:`Reference` holds what the metrics need of the real images, per feature space
(:data:`~inception_score.features.spaces.SPACES`), whichever way it was obtained (a folder or any
image source scored in the same run, a pytorch-fid statistics file, an ADM reference batch with
or without its stored statistics, this package's own statistics file, an EDM2 reference pickle;
see :mod:`inception_score.run.reference`). Its parts are named as the statistics files name them:

* ``mu``, ``sigma``: mean (float64, D) and covariance (float64, D x D, divisor N - 1) of the
  pool3 features (D = 2048): FID;
* ``mu_s``, ``sigma_s``: the same for the spatial ``mixed_6/conv`` vectors (D = 2023): sFID;
* ``mu_dinov2``, ``sigma_dinov2`` (D = 1024) and ``mu_clip``, ``sigma_clip`` (D = 768): the
  Fréchet distances in DINOv2 and CLIP space;
* ``features``, ``features_dinov2``, ``features_clip``: the reference images' own vectors
  (float32, M x D): KID, precision/recall, density/coverage (and CMMD in CLIP space); None when
  the reference holds statistics only;
* ``info``: what the reference was, for the result (``path``, ``kind``, ``num_images``,
  ``sha256`` of the file when it is one).

To fill one from another tool's file, give the parts by name:
``Reference(mu=fid_mu, sigma=fid_sigma, mu_dinov2=dino_mu, sigma_dinov2=dino_sigma, info=...)``.

Example:
    >>> import numpy as np
    >>> ref = Reference(mu=np.zeros(3), sigma=np.eye(3), mu_dinov2=np.zeros(2), sigma_dinov2=np.eye(2))
    >>> ref.has("fid"), ref.has("kid"), ref.has("fd_dinov2"), ref.has("cmmd")
    (True, False, True, False)
    >>> ref.moments("dinov2")[1].shape, ref.features_of("clip") is None
    ((2, 2), True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

from ..features.spaces import SPACES, part_key
from .names import FEATURE_KINDS, METRICS, MOMENT_KINDS

__all__ = ["Reference", "NEEDS", "MOMENT_KEYS", "FEATURE_KEYS"]

MOMENT_KEYS = tuple(part_key(p, s) for s in SPACES for p in ("mu", "sigma"))  # mu, sigma, mu_s, sigma_s, ...
FEATURE_KEYS = tuple(part_key("features", s) for s in SPACES if s != "spatial")  # features, features_dinov2, ...


def _needs(kind: str, space: str) -> tuple[str, ...]:
    if kind in MOMENT_KINDS:
        return part_key("mu", space), part_key("sigma", space)
    if kind in FEATURE_KINDS:
        return (part_key("features", space),)
    return ()


# which parts of a reference each metric needs
NEEDS: dict[str, tuple[str, ...]] = {name: _needs(*kind) for name, kind in METRICS.items() if name != "is"}
NEEDS["fid_infinity"] = ("mu", "sigma")


@dataclass(frozen=True)
class Reference:
    """Statistics and features of the reference (real) images, by feature space."""

    mu: np.ndarray | None = None  # D float64 (pool3)
    sigma: np.ndarray | None = None  # D x D float64
    mu_s: np.ndarray | None = None  # 2023 float64 (spatial, sFID)
    sigma_s: np.ndarray | None = None  # 2023 x 2023 float64
    mu_dinov2: np.ndarray | None = None  # 1024 float64
    sigma_dinov2: np.ndarray | None = None  # 1024 x 1024 float64
    mu_clip: np.ndarray | None = None  # 768 float64
    sigma_clip: np.ndarray | None = None  # 768 x 768 float64
    features: Tensor | None = None  # M x 2048 float32 (pool3)
    features_dinov2: Tensor | None = None  # M x 1024 float32
    features_clip: Tensor | None = None  # M x 768 float32 (L2-normalised embeddings)
    info: dict[str, Any] = field(default_factory=dict)

    def has(self, metric: str) -> bool:
        """Whether this reference holds what ``metric`` needs (see :data:`NEEDS`)."""
        return all(getattr(self, part) is not None for part in NEEDS[metric])

    def moments(self, space: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(mu, sigma) of ``space``, or None when this reference does not hold them."""
        mu, sigma = getattr(self, part_key("mu", space)), getattr(self, part_key("sigma", space))
        return None if mu is None or sigma is None else (mu, sigma)

    def features_of(self, space: str) -> Tensor | None:
        """The reference images' vectors in ``space`` (M x D), or None."""
        return getattr(self, part_key("features", space))  # type: ignore[no-any-return]

    def where(self) -> str:
        """How messages name this reference: its path, else its kind."""
        return str(self.info.get("path") or self.info.get("kind") or "the reference")
