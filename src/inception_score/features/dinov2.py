"""DINOv2 ViT-L/14 (Oquab et al. 2023) as FD_DINOv2 uses it: the class token after the final LayerNorm.

FD_DINOv2 (Stein et al. 2023; EDM2 Table 5) is the Fréchet distance of these 1024-d features.
The reference is EDM2's ``calculate_metrics.py`` ``DINOv2Detector``: ``torch.hub.load(
'facebookresearch/dinov2', 'dinov2_vitl14')`` (DINO ``hub/backbones.py``: ``vit_large``, patch 14,
img_size 518, LayerScale, MLP FFN, no register tokens, position embeddings interpolated bicubically
with offset 0.1 and no antialias), fed 224 x 224 images resized one of two ways:

* ``"torch"`` (EDM2's default): ``F.interpolate(x.float(), (224, 224), mode="bicubic",
  antialias=True)`` on 0..255 values (not clamped, not rounded);
* ``"pil"`` (EDM2's ``resize_mode='pil'``, equal to dgm-eval): PIL's bicubic resize to uint8,

then ``/ 255``, minus the ImageNet mean, divided by its std, in float32 (EDM2's order).
:func:`prepare_dinov2` does that; :class:`DINOv2` is the network, whose module names are the
keys of the official ``dinov2_vitl14_pretrain.pth`` (343 tensors, loaded strictly, unchanged).

Deviations from the reference code, each for speed and each leaving the features equal to
float32 rounding (tests compare with the ``dinov2`` package, 0.0.1.dev2):

* the 37 x 37 position embeddings are resized to 16 x 16 once per loaded network
  (:meth:`DINOv2.positions`), not at every forward pass (the same call on the same numbers);
* attention is ``F.scaled_dot_product_attention`` (DINO main since 2025; the 2023 package
  computes ``softmax((q * scale) @ k^T) @ v``: ~1e-6 apart);
* the last block and the final LayerNorm compute the class token's rows only (the rest is
  discarded by the reference; LayerNorm and the MLP work row by row);
* on the CPU, the linear layers run through oneDNN rather than MKL (:func:`.vit.linear`).

Measured against the package with EDM2's preprocessing: 2e-7 of the largest feature (tiny
backbone), 4e-7 (ViT-L/14, random weights; benchmarks/RESULTS.md).

Example:
    >>> import torch
    >>> net = DINOv2(dinov2_config(small=True)).eval()   # random weights, 2 blocks of width 128
    >>> x = prepare_dinov2(torch.zeros(2, 3, 64, 48, dtype=torch.uint8))
    >>> x.shape
    torch.Size([2, 3, 224, 224])
    >>> net(x).shape
    torch.Size([2, 128])
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import WeightsError, warn
from .vit import Block, PatchEmbed
from .weights import DINOV2_VITL14, ResolvedWeights, load_state_dict, locate_weights

__all__ = [
    "DINOv2",
    "DINOv2Config",
    "FEATURE_DIM",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INPUT_SIZE",
    "RESIZE_MODES",
    "build_dinov2",
    "dinov2_config",
    "load_dinov2",
    "prepare_dinov2",
]

INPUT_SIZE = 224  # EDM2 / dgm-eval resize every image to 224 x 224 (no crop, aspect ratio not kept)
FEATURE_DIM = 1024  # ViT-L width: the class token's size
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("torch", "pil")
HEAD_DIM = 64  # every DINOv2 backbone (S 384/6, B 768/12, L 1024/16, g 1536/24)
POSITION_OFFSET = 0.1  # DINO interpolate_offset: "a small number to avoid floating point error"


@dataclass(frozen=True)
class DINOv2Config:
    """Shape of a DINOv2 backbone; :func:`dinov2_config` gives ViT-L/14 or a tiny one for tests."""

    width: int = 1024
    depth: int = 24
    num_heads: int = 16
    patch: int = 14
    grid: int = 37  # the trained position-embedding grid: 518 px / 14
    mlp_ratio: float = 4.0


def dinov2_config(small: bool = False) -> DINOv2Config:
    """ViT-L/14 as published (width 1024, 24 blocks, 16 heads), or with ``small=True`` the same code
    at width 128, 2 blocks, 2 heads (tests: ~0.4 M numbers instead of 304 M).

    Example:
        >>> dinov2_config().width, dinov2_config(small=True).depth
        (1024, 2)
    """
    return DINOv2Config(width=128, depth=2, num_heads=2) if small else DINOv2Config()


class DINOv2(nn.Module):
    """DINOv2 backbone: ImageNet-normalised float N x 3 x H x W (H, W multiples of 14) -> N x width.

    The output is ``x_norm_clstoken`` of DINO's ``forward_features``: the class token after the
    final LayerNorm (the hub model's head is Identity). Parameter names are the official keys:
    ``cls_token``, ``pos_embed``, ``mask_token`` (unused at inference, kept so that the official
    file loads strictly), ``patch_embed.proj``, ``blocks.{i}.*``, ``norm``.
    """

    def __init__(self, config: DINOv2Config | None = None) -> None:
        super().__init__()
        c = self.config = config or DINOv2Config()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + c.grid * c.grid, c.width))
        self.mask_token = nn.Parameter(torch.zeros(1, c.width))
        self.patch_embed = PatchEmbed(c.patch, c.width)
        self.blocks = nn.ModuleList(
            Block(c.width, c.num_heads, c.mlp_ratio, layer_scale=True, act=nn.GELU, eps=1e-6) for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(c.width, eps=1e-6)
        self._positions: dict[tuple[object, ...], Tensor] = {}

    def positions(self, grid: int) -> Tensor:
        """Position embeddings for a ``grid`` x ``grid`` patch grid: 1 x (1 + grid²) x width.

        DINO ``interpolate_pos_encoding``: the trained 37 x 37 grid resized bicubically with
        ``scale_factor = (grid + 0.1) / 37`` (align_corners False, no antialias), in float32, the
        class position unchanged; the trained grid itself is used as is. Computed once and kept
        (keyed by the parameter's storage and version: loading new weights or moving the network
        recomputes it).
        """
        key = (grid, self.pos_embed.data_ptr(), self.pos_embed._version, str(self.pos_embed.device))
        if (kept := self._positions.get(key)) is not None:
            return kept
        trained, width = self.config.grid, self.config.width
        with torch.inference_mode(False), torch.no_grad():  # a plain tensor, usable in and out of inference mode
            pos = self._interpolated(grid, trained, width)
        self._positions = {key: pos}  # one grid kept: a run uses one input size
        return pos

    def _interpolated(self, grid: int, trained: int, width: int) -> Tensor:
        pos = self.pos_embed.detach().float().clone()  # 1 x (1 + 37²) x D
        if grid != trained:
            side = math.sqrt(trained * trained)  # DINO divides by sqrt(N) of the stored grid
            patch_pos = pos[:, 1:].reshape(1, trained, trained, width).permute(0, 3, 1, 2)  # 1 x D x 37 x 37
            scale = (grid + POSITION_OFFSET) / side
            patch_pos = F.interpolate(patch_pos, scale_factor=(scale, scale), mode="bicubic", antialias=False)
            if patch_pos.shape[-2:] != (grid, grid):
                raise AssertionError(f"position grid {tuple(patch_pos.shape[-2:])}, expected {grid} x {grid}")
            pos = torch.cat((pos[:, :1], patch_pos.permute(0, 2, 3, 1).reshape(1, grid * grid, width)), dim=1)
        return pos

    def forward(self, x: Tensor) -> Tensor:  # N x 3 x H x W, ImageNet-normalised
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"input {tuple(x.shape)}: expected square images (DINOv2 here takes 224 x 224)")
        # float32 residual stream, also when the convolution ran in bfloat16 (fast)
        tokens = self.patch_embed(x).float()  # N x grid² x D
        cls = self.cls_token.expand(len(tokens), -1, -1).float()  # N x 1 x D
        tokens = torch.cat((cls, tokens), dim=1)  # N x T x D, T = 1 + grid²
        tokens = tokens + self.positions(x.shape[-1] // self.config.patch)
        for block in self.blocks[:-1]:
            tokens = block(tokens)  # N x T x D
        cls = self.blocks[-1](tokens, queries=1)  # N x 1 x D: only the class token is output
        return self.norm(cls[:, 0])  # N x D

    def load_checkpoint(
        self, state_dict: Mapping[str, Tensor], *, origin: str = "state dict", assign: bool = False
    ) -> None:
        """Load an official-layout state dict strictly; one-line :class:`WeightsError` naming ``origin``
        and the first missing, unexpected or mis-shaped keys otherwise. ``assign``: the tensors
        become the parameters (float32), as for a network built on the meta device."""
        _check_layout(self.state_dict(), state_dict, origin)
        if assign:
            state_dict = {k: v.float() for k, v in state_dict.items()}
        self.load_state_dict(state_dict, strict=True, assign=assign)
        self._positions = {}


def _check_layout(expected: Mapping[str, Tensor], got: Mapping[str, Tensor], origin: str) -> None:
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    shapes = [
        f"{k} {tuple(got[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in got and tuple(got[k].shape) != tuple(v.shape)
    ]
    problems = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if keys:
            problems.append(f"{len(keys)} {what} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})")
    if problems:
        raise WeightsError(
            f"Cannot load DINOv2 weights {origin}: not the layout of dinov2_vitl14_pretrain.pth: "
            f"{'; '.join(problems)}; expected the official DINOv2 state dict (keys cls_token, pos_embed, "
            f"blocks.N..., {len(expected)} tensors)."
        )


def _config_of(state: Mapping[str, Tensor], origin: str) -> DINOv2Config:
    """The backbone shape a state dict holds (width from cls_token, depth from the block keys,
    heads = width / 64 as in every DINOv2 model, grid from pos_embed)."""
    try:
        width = int(state["cls_token"].shape[-1])
        patch = int(state["patch_embed.proj.weight"].shape[-1])
        positions = int(state["pos_embed"].shape[1]) - 1
        hidden = int(state["blocks.0.mlp.fc1.weight"].shape[0])
    except (KeyError, IndexError) as exc:
        raise WeightsError(
            f"Cannot load DINOv2 weights {origin}: no {exc} tensor; expected the official DINOv2 state dict "
            "(keys cls_token, pos_embed, patch_embed.proj.weight, blocks.N...)."
        ) from exc
    depth = 1 + max((int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))), default=-1)
    grid = math.isqrt(positions)
    if width % HEAD_DIM or grid * grid != positions or depth < 1:
        raise WeightsError(
            f"Cannot load DINOv2 weights {origin}: width {width}, {positions} positions, {depth} blocks; "
            f"expected a width that is a multiple of {HEAD_DIM} and a square position grid (ViT-L/14: 1024, 37 x 37)."
        )
    return DINOv2Config(width, depth, width // HEAD_DIM, patch, grid, hidden / width)


def load_dinov2(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> DINOv2:
    """The DINOv2 network of the state dict at ``path``, in eval mode on ``device``, gradients off.

    Loaded as data (``torch.load(weights_only=True)``; NaN/inf refused), its shape read from the
    tensors, then strictly. A backbone other than ViT-L/14 (another size, another patch) loads
    with a warning: its features are not FD_DINOv2's.

    Example:
        >>> net = load_dinov2("dinov2_vitl14_pretrain.pth")  # doctest: +SKIP
    """
    state = load_state_dict(path, DINOV2_VITL14)
    config = _config_of(state, str(path))
    if config != DINOv2Config():
        warn(
            f"DINOv2 weights {path} are not ViT-L/14 (width {config.width}, {config.depth} blocks, patch "
            f"{config.patch}): features are not FD_DINOv2's and not comparable with published numbers"
        )
    with torch.device("meta"):  # no memory and no random init for weights about to be replaced (~5 s at ViT-L)
        net = DINOv2(config)
    net.load_checkpoint(state, origin=str(path), assign=True)
    return net.eval().requires_grad_(False).to(device)


# --------------------------------------------------------------------------- preprocessing


def _resize_pil(images: Tensor) -> Tensor:
    """uint8 N x 3 x H x W -> uint8 N x 3 x 224 x 224 with PIL's bicubic (EDM2 'pil' = dgm-eval)."""
    from PIL import Image

    arrays = images.permute(0, 2, 3, 1).cpu().numpy()  # N x H x W x 3
    size = (INPUT_SIZE, INPUT_SIZE)
    out = np.stack([np.asarray(Image.fromarray(a, "RGB").resize(size, Image.Resampling.BICUBIC)) for a in arrays])
    return torch.from_numpy(out).permute(0, 3, 1, 2)  # N x 3 x 224 x 224


def prepare_dinov2(
    images: Tensor | Sequence[Tensor], mode: str = "torch", device: torch.device | str | None = None
) -> Tensor:
    """uint8 RGB images -> float32 N x 3 x 224 x 224, DINOv2's input as EDM2 prepares it.

    ``images``: a uint8 N x 3 x H x W tensor, or a sequence of uint8 3 x H x W tensors whose sizes
    may differ (each resized on its own). ``mode``: ``"torch"`` (EDM2's default, antialiased
    bicubic ``F.interpolate`` on 0..255 floats, not clamped) or ``"pil"`` (PIL bicubic to uint8,
    EDM2's 'pil' mode, = dgm-eval's torchvision ``Resize((224, 224), BICUBIC)`` on PIL images; done
    on the CPU). Then ``x / 255 - mean) / std`` with the ImageNet mean (0.485, 0.456, 0.406) and std
    (0.229, 0.224, 0.225), in EDM2's order. ``device``: where the float work happens (default:
    where the images are). Every image is resized, also a 224 x 224 one (as EDM2 does; for a
    224 x 224 image both modes leave the pixels unchanged).

    Raises ValueError for a mode other than these two, or images that are not uint8 3-channel.

    Example:
        >>> prepare_dinov2([torch.zeros(3, 32, 32, dtype=torch.uint8)], mode="pil").shape
        torch.Size([1, 3, 224, 224])
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"DINOv2 resize mode: got {mode!r}, expected one of {', '.join(RESIZE_MODES)}")
    groups = [images] if isinstance(images, Tensor) else [img.unsqueeze(0) for img in images]
    out = []
    for group in groups:
        if group.dtype != torch.uint8 or group.dim() != 4 or group.shape[1] != 3:
            raise ValueError(f"expected uint8 images of shape N x 3 x H x W, got {group.dtype} {tuple(group.shape)}")
        if mode == "pil":
            x = _resize_pil(group).to(device).float()
        else:
            group = group.to(device, non_blocking=True) if device is not None else group
            x = F.interpolate(group.float(), size=(INPUT_SIZE, INPUT_SIZE), mode="bicubic", antialias=True)
        out.append(x)
    x = out[0] if len(out) == 1 else torch.cat(out)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).reshape(1, 3, 1, 1)
    return (x / 255 - mean) / std  # N x 3 x 224 x 224


# --------------------------------------------------------------------------- for the extractor


def build_dinov2(
    weights: str | os.PathLike[str] | None = None,
    device: torch.device | str = "cpu",
    precision: str = "exact",
    *,
    resize: str = "torch",
    progress: bool = True,
) -> tuple[Callable[..., Tensor], Callable[[Tensor], Tensor], ResolvedWeights]:
    """``(prepare, forward, weights)`` of DINOv2 ViT-L/14 for a run.

    ``weights``: a file, or None to look for ``dinov2_vitl14_pretrain.pth`` (``$INCEPTION_SCORE_DINOV2_WEIGHTS``,
    the torch.hub cache, then a download: :func:`~.weights.locate_weights`). ``prepare(images, device=None)``
    is :func:`prepare_dinov2` in ``resize`` mode; ``forward(x)`` maps its output to float32 N x 1024 on
    ``device``, in ``precision`` ``"exact"`` (float32; on GPU without TF32) or ``"fast"`` (bfloat16
    matrix products and fused attention, residual stream and LayerNorms in float32:
    :class:`~.vit.ViTRunner`).

    Example:
        >>> prepare, forward, found = build_dinov2(None, "cpu", "fast")  # doctest: +SKIP
        >>> forward(prepare(uint8_images)).shape  # doctest: +SKIP
        torch.Size([N, 1024])
    """
    from functools import partial

    from .vit import ViTRunner

    if resize not in RESIZE_MODES:
        raise ValueError(f"DINOv2 resize mode: got {resize!r}, expected one of {', '.join(RESIZE_MODES)}")
    device = torch.device(device)
    resolved = locate_weights(weights, DINOV2_VITL14, progress=progress)
    net = load_dinov2(resolved.path, device)
    return partial(prepare_dinov2, mode=resize), ViTRunner(net, device, precision, own=True), resolved
