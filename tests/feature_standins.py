"""Tiny stand-ins for DINOv2 and CLIP that follow the networks' factory interface.

``factory(weights, device, precision, *, resize=..., progress=...) -> (prepare, forward,
ResolvedWeights)``, as ``features/dinov2.py`` and ``features/clip.py`` give them: ``prepare``
resizes uint8 images (a tensor or a list of sizes) to 8 x 8 floats (``resize`` chooses the
interpolation, so the two DINOv2 modes give different vectors, as the real ones do), ``forward``
projects them with the weights file's matrix (CLIP's output L2-normalised). The vectors are
spread (cosine between unrelated images far from 1), so the metrics on them are far above
rounding. They stand for the networks where the infrastructure, not the network, is under test.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from inception_score.errors import WeightsError
from inception_score.features.weights import ResolvedWeights, sha256_file

DIMS = {"dinov2": 12, "clip": 10}


def save_weights(path: Path, field: str, seed: int = 0) -> Path:
    g = torch.Generator().manual_seed(seed + (1 if field == "clip" else 0))
    torch.save({"proj": torch.randn(3 * 64, DIMS[field], generator=g)}, path)
    return path


def factory(field: str, calls: list[tuple[str, str]] | None = None) -> Callable[..., Any]:
    def build(weights: Any, device: Any, precision: str = "exact", *, resize: str = "torch", progress: bool = True):
        if weights is None:
            raise WeightsError(f"{field} weights not found: give --{field}-weights PATH")
        proj = torch.load(weights, weights_only=True)["proj"].to(device)
        if calls is not None:
            calls.append((field, precision))

        def prepare(images: Any, device: Any = None) -> torch.Tensor:
            groups = [images] if isinstance(images, torch.Tensor) else [img[None] for img in images]
            mode = "bilinear" if resize == "torch" else "nearest"
            x = torch.cat([F.interpolate(g.float(), size=(8, 8), mode=mode) for g in groups]) / 255
            return x.to(device) if device is not None else x

        def forward(x: torch.Tensor) -> torch.Tensor:
            flat = x.flatten(1) - 0.5
            v = (flat.bfloat16() @ proj.bfloat16()).float() if precision == "fast" else flat @ proj
            return F.normalize(v, dim=1) if field == "clip" else v

        return prepare, forward, ResolvedWeights(Path(weights), sha256_file(weights), "argument")

    return build
