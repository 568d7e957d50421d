"""Random-weight DINOv2 and CLIP checkpoints in the official layouts, and the reference code's features.

Oracles: facebookresearch's model code (the ``dinov2`` PyPI package, 0.0.1.dev2, installed with
``--no-deps``) with EDM2's ``DINOv2Detector`` preprocessing written out below from its description
(REFERENCE-FEATURES.md section 1); transformers' ``CLIPVisionModelWithProjection`` with the CMMD
reference's preprocessing (section 2). Weights are random but spread: a plain random init gives
nearly the same features for every image, which would hide a wrong bias or scale.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

logging.getLogger("dinov2").setLevel(logging.ERROR)  # "xFormers not available": expected here

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def dinov2_reference(small: bool = True, seed: int = 0) -> torch.nn.Module:
    """facebookresearch's DinoVisionTransformer as torch.hub's ``dinov2_vitl14`` builds it (``small``:
    width 128, 2 blocks, 2 heads), with random weights spread so that images get distinct features."""
    from dinov2.layers import MemEffAttention
    from dinov2.layers import NestedTensorBlock as Block
    from dinov2.models.vision_transformer import DinoVisionTransformer

    shape = dict(embed_dim=128, depth=2, num_heads=2) if small else dict(embed_dim=1024, depth=24, num_heads=16)
    # the package's own init (trunc_normal_) takes 15 s at full size; ours below is faster
    with (
        mock.patch.object(DinoVisionTransformer, "init_weights", lambda self: None),
        mock.patch.object(torch.nn.Linear, "reset_parameters", lambda self: None),
    ):
        model = DinoVisionTransformer(
            img_size=518,
            patch_size=14,
            mlp_ratio=4,
            init_values=1.0,
            block_chunks=0,
            block_fn=partial(Block, attn_class=MemEffAttention),
            **shape,
        )
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, meta in model.state_dict().items():
        value = torch.randn(meta.shape, generator=gen)
        if name.endswith(("norm1.weight", "norm2.weight", "norm.weight", "gamma")):
            value = 1 + 0.2 * value
        elif name.endswith("weight") and meta.dim() >= 2:
            value = value * (1.0 / meta[0].numel()) ** 0.5  # unit gain: activations neither vanish nor explode
        else:
            value = 0.2 * value  # biases, cls_token, pos_embed, mask_token
        state[name] = value
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)


def save_dinov2_checkpoint(path: Path, small: bool = True, seed: int = 0) -> Path:
    """The state dict of :func:`dinov2_reference` saved at ``path`` (as torch.hub's file is saved)."""
    torch.save(dinov2_reference(small, seed).state_dict(), path)
    return path


def edm2_prepare(images: torch.Tensor, mode: str) -> torch.Tensor:
    """EDM2 DINOv2Detector's preprocessing of uint8 N x 3 x H x W (REFERENCE-FEATURES.md section 1)."""
    if mode == "pil":
        arrays = images.permute(0, 2, 3, 1).numpy()
        resized = [np.uint8(Image.fromarray(a, "RGB").resize((224, 224), Image.Resampling.BICUBIC)) for a in arrays]
        x = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2)
    else:
        x = F.interpolate(images.to(torch.float32), size=(224, 224), mode="bicubic", antialias=True)
    x = x.to(torch.float32) / 255
    x = x - torch.tensor(IMAGENET_MEAN).reshape(1, -1, 1, 1)
    return x / torch.tensor(IMAGENET_STD).reshape(1, -1, 1, 1)


def edm2_features(model: torch.nn.Module, images: torch.Tensor, mode: str) -> torch.Tensor:
    """The reference's features: the package's forward (its head is Identity) on EDM2's input."""
    with torch.no_grad():
        return model(edm2_prepare(images, mode))


def random_images(n: int, size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """uint8 N x 3 x H x W with structure (smooth gradients and blocks, not only noise)."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for _ in range(n):
        wave = 0.5 + 0.5 * np.sin(xx / rng.uniform(2, 12) + yy / rng.uniform(2, 12))
        base = rng.uniform(0, 255, 3)[:, None, None] * wave
        noise = rng.normal(0, rng.uniform(5, 60), (3, h, w))
        out.append(np.clip(base + noise, 0, 255).astype(np.uint8))
    return torch.from_numpy(np.stack(out))
