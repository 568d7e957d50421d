"""The result of a run and its renderings: a dict / JSON for machines, a short text for people.

Example:
    >>> r = Result(inception_score_mean=9.5, inception_score_std=0.1, split_scores=[9.4, 9.6],
    ...            num_images=100, splits=2, protocol="original", weights_sha256="ab" * 32)
    >>> r.mean, r.std
    (9.5, 0.1)
    >>> print(r.summary().splitlines()[0])
    Inception Score: 9.5000 ± 0.1000  (100 images, 2 splits, protocol original)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Result"]


@dataclass
class Result:
    """What :func:`inception_score.compute` returns; every field is in the ``--json`` output."""

    inception_score_mean: float
    inception_score_std: float
    split_scores: list[float]
    num_images: int
    splits: int
    protocol: str
    weights_sha256: str | None
    weights_path: str | None = None
    weights_source: str | None = None
    precision: str = "exact"
    precision_check: dict[str, float] | None = None
    package_version: str = ""
    torch_version: str = ""
    device: str = ""
    batch_size: int = 0
    sources: list[str] = field(default_factory=list)
    num_skipped: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    elapsed_s: float = 0.0
    images_per_second: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float:
        """IS averaged over the splits (the number papers report)."""
        return self.inception_score_mean

    @property
    def std(self) -> float:
        """Population std of the per-split scores (ddof 0, as the references)."""
        return self.inception_score_std

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        """A few lines for a terminal."""
        lines = [
            f"Inception Score: {self.mean:.4f} ± {self.std:.4f}  "
            f"({self.num_images} images, {self.splits} splits, protocol {self.protocol})",
        ]
        if self.weights_sha256:
            lines.append(f"weights: sha256 {self.weights_sha256[:16]}…  {self.weights_path or ''}".rstrip())
        if self.precision_check:
            c = self.precision_check
            lines.append(
                f"precision check: fast {c['inception_score_fast']:.4f} vs exact {c['inception_score_exact']:.4f} "
                f"on the first {int(c['num_images'])} images ({c['relative_deviation']:.1e} relative)"
            )
        if self.elapsed_s:
            lines.append(
                f"time: {self.elapsed_s:.1f} s on {self.device}, {self.precision} "
                f"({self.images_per_second:.1f} images/s), "
                f"inception-score {self.package_version}, torch {self.torch_version}"
            )
        return "\n".join(lines)
