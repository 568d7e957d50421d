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
    model = dinov2_package_model(small)
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, current in model.state_dict().items():
        value = torch.randn(current.shape, generator=gen)
        if name.endswith(("norm1.weight", "norm2.weight", "norm.weight", "gamma")):
            value = 1 + 0.2 * value
        elif name.endswith("weight") and current.dim() >= 2:
            value = value * (1.0 / current[0].numel()) ** 0.5  # unit gain: activations neither vanish nor explode
        else:
            value = 0.2 * value  # biases, cls_token, pos_embed, mask_token
        state[name] = value
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)


def dinov2_package_model(small: bool = True) -> torch.nn.Module:
    """The package's model, weights left as allocated (to be loaded): ``vit_large(patch_size=14,
    img_size=518, init_values=1.0, block_chunks=0)``, the hub's ``dinov2_vitl14`` configuration."""
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
    return model


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


CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def clip_reference(small: bool = True, seed: int = 0) -> torch.nn.Module:
    """transformers' CLIPVisionModelWithProjection (``small``: width 128, 2 layers, 2 heads, 32-d
    projection; else openai/clip-vit-large-patch14-336's shape) with spread random weights.

    transformers' own random init gives every image nearly the same embedding (cosine ~0.995),
    so the weights are redrawn at unit gain (each Linear's weight ~ N(0, 1/fan_in)), LayerNorm
    scales 1 + 0.2 N(0, 1), biases and embeddings 0.2 N(0, 1): the test images then have
    cosines of 0.84-0.97 (measured, tiny tower) and a kernel distance far above float32 rounding."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    if small:
        shape = dict(
            hidden_size=128, intermediate_size=512, num_hidden_layers=2, num_attention_heads=2, projection_dim=32
        )
    else:
        shape = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16)
        shape["projection_dim"] = 768
    config = CLIPVisionConfig(image_size=336, patch_size=14, hidden_act="quick_gelu", layer_norm_eps=1e-5, **shape)
    with mock.patch.object(torch.nn.Linear, "reset_parameters", lambda self: None):
        model = CLIPVisionModelWithProjection(config)
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, current in model.state_dict().items():
        if not current.is_floating_point():
            state[name] = current
            continue
        value = torch.randn(current.shape, generator=gen)
        if "layer_norm" in name or "layrnorm" in name:
            value = 1 + 0.2 * value if name.endswith("weight") else 0.2 * value
        elif name.endswith("weight") and current.dim() >= 2 and "position_embedding" not in name:
            value = value * (1.0 / current[0].numel()) ** 0.5
        else:
            value = 0.2 * value  # biases, class and position embeddings
        state[name] = value
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)


def save_clip_safetensors(model: torch.nn.Module, path: Path, text_tower: bool = True) -> Path:
    """``model``'s tensors in a ``model.safetensors`` as the Hugging Face CLIPModel file holds them:
    with a (small, random) text tower, ``text_projection`` and ``logit_scale`` beside the image tower."""
    from safetensors.torch import save_file

    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    if text_tower:
        tensors["text_model.embeddings.token_embedding.weight"] = torch.randn(49408, 8)
        tensors["text_model.final_layer_norm.weight"] = torch.ones(8)
        tensors["text_projection.weight"] = torch.randn(8, 8)
        tensors["logit_scale"] = torch.tensor(4.6052)
    save_file(tensors, str(path))
    return path


def cmmd_prepare(image: np.ndarray) -> np.ndarray:
    """CMMD io_util.py's reading of one image array (H x W x 3 RGB, or H x W gray), then /255 and
    scenic's normalisation: 336 x 336 x 3 float32."""
    mode = "L" if image.ndim == 2 else "RGB"
    im = Image.fromarray(image, mode)
    w, h = im.size
    side = min(w, h)
    top, left = (h - side) // 2, (w - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((336, 336), resample=Image.BICUBIC)
    x = np.asarray(im).astype(np.float32)
    if x.ndim == 2:
        x = np.tile(x[..., None], (1, 1, 3))
    return (x / 255.0 - CLIP_MEAN) / CLIP_STD


def transformers_embeddings(model: torch.nn.Module, images: list[np.ndarray]) -> torch.Tensor:
    """The reference's embeddings: CMMD's preprocessing, transformers' image_embeds, divided by their norm."""
    x = torch.from_numpy(np.stack([cmmd_prepare(im) for im in images])).permute(0, 3, 1, 2)
    with torch.no_grad():
        embeds = model(pixel_values=x).image_embeds
    return embeds / torch.linalg.norm(embeds, dim=-1, keepdim=True)
