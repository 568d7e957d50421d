"""The reference set that FID, KID, sFID and precision/recall compare the samples with.

A :class:`Reference` holds what the metrics need of the real images, whichever way it was
obtained (a folder or any image source scored in the same run, a pytorch-fid statistics file, an
ADM reference batch with or without its stored statistics, or this package's own statistics
file; see :mod:`inception_score.run.reference`):

* ``mu``, ``sigma``: mean (float64, D) and covariance (float64, D x D, divisor N - 1) of the
  pool3 features (D = 2048): FID;
* ``mu_s``, ``sigma_s``: the same for the spatial ``mixed_6/conv`` vectors (D = 2023): sFID;
* ``features``: the pool3 features of the reference images themselves (float32, M x 2048):
  KID, precision/recall, density/coverage; None when the reference is statistics only;
* ``info``: what the reference was, for the result (``path``, ``kind``, ``num_images``,
  ``sha256`` of the file when it is one).

Example:
    >>> import numpy as np
    >>> ref = Reference(mu=np.zeros(3), sigma=np.eye(3), info={"kind": "test", "num_images": 10})
    >>> ref.has("fid"), ref.has("kid")
    (True, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

__all__ = ["Reference", "NEEDS"]

# which parts of a reference each metric needs
NEEDS = {
    "fid": ("mu", "sigma"),
    "sfid": ("mu_s", "sigma_s"),
    "kid": ("features",),
    "pr": ("features",),
    "prdc": ("features",),
    "fid_infinity": ("mu", "sigma"),
}


@dataclass(frozen=True)
class Reference:
    """Statistics and features of the reference (real) images."""

    mu: np.ndarray | None = None  # D float64
    sigma: np.ndarray | None = None  # D x D float64
    mu_s: np.ndarray | None = None  # 2023 float64
    sigma_s: np.ndarray | None = None  # 2023 x 2023 float64
    features: Tensor | None = None  # M x 2048 float32
    info: dict[str, Any] = field(default_factory=dict)

    def has(self, metric: str) -> bool:
        """Whether this reference holds what ``metric`` needs (see :data:`NEEDS`)."""
        return all(getattr(self, part) is not None for part in NEEDS[metric])
