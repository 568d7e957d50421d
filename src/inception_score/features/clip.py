"""CLIP ViT-L/14 at 336 px (Radford et al. 2021), image tower, as CMMD uses it: the projected embedding, L2-normalised.

CMMD (Jayasumana et al. 2024) is a kernel distance between these 768-d embeddings. Its reference
is Google's ``cmmd/`` code (``io_util.py``, ``embedding.py``: scenic's ``vit_l14_336px``, which
returns normalised embeddings); its PyTorch port runs transformers' ``CLIPVisionModelWithProjection``
on ``openai/clip-vit-large-patch14-336`` and divides ``image_embeds`` by their norm. The network
is the pre-norm ViT of :mod:`.vit` with CLIP's choices: no bias in the patch convolution, a class
embedding, a LayerNorm *before* the first block (``pre_layrnorm``, spelled so in transformers),
quick-GELU, LayerNorm eps 1e-5, no LayerScale; then LayerNorm of the class token
(``post_layernorm``) and a 1024 -> 768 projection without bias (``visual_projection``).

Weights: the Hugging Face ``model.safetensors`` of ``openai/clip-vit-large-patch14-336``
(:data:`~.weights.CLIP_VITL14_336`), read with ``safetensors.safe_open``: only the image tower's
tensors are read from the file (the text tower is never loaded into memory). Its keys are mapped
onto ours by the table :data:`KEY_MAP` (written as data; the separate q/k/v projections are
concatenated into one ``qkv``). OpenAI's original ``ViT-L-14-336px.pt`` is a TorchScript archive:
reading it takes ``torch.jit.load``, which runs the TorchScript code an archive may carry
(``__setstate__``), so it is refused with a message that names the equivalent file.

Preprocessing (:func:`prepare_clip`), CMMD's ``_center_crop_and_resize`` and ``embedding.py``:
centre crop to the short side (``top = (h - l) // 2``, ``left = (w - l) // 2``), PIL bicubic to
336 x 336 in uint8, ``/ 255``, minus CLIP's mean, divided by its std.

Example:
    >>> import torch
    >>> net = CLIPVision(clip_config(small=True)).eval()   # random weights
    >>> x = prepare_clip(torch.zeros(2, 3, 40, 60, dtype=torch.uint8))
    >>> x.shape
    torch.Size([2, 3, 336, 336])
    >>> net(x).shape
    torch.Size([2, 32])
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import WeightsError, printable, warn
from .vit import Block, PatchEmbed, QuickGELU
from .weights import CLIP_VITL14_336, ResolvedWeights, locate_weights

__all__ = [
    "CLIPConfig",
    "CLIPVision",
    "CLIP_MEAN",
    "CLIP_STD",
    "EMBEDDING_DIM",
    "INPUT_SIZE",
    "KEY_MAP",
    "BLOCK_KEY_MAP",
    "build_clip",
    "clip_config",
    "load_clip",
    "prepare_clip",
    "read_hf_tensors",
]

INPUT_SIZE = 336
EMBEDDING_DIM = 768
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP clip.py _transform
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HEAD_DIM = 64  # OpenAI's ViTs: width / 64 heads (ViT-L/14: 16)

#: our parameter name -> the Hugging Face key(s) it is read from (several: concatenated on dim 0)
KEY_MAP: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("class_embedding", ("vision_model.embeddings.class_embedding",)),
    ("position_embedding", ("vision_model.embeddings.position_embedding.weight",)),
    ("patch_embed.proj.weight", ("vision_model.embeddings.patch_embedding.weight",)),
    ("pre_norm.weight", ("vision_model.pre_layrnorm.weight",)),
    ("pre_norm.bias", ("vision_model.pre_layrnorm.bias",)),
    ("post_norm.weight", ("vision_model.post_layernorm.weight",)),
    ("post_norm.bias", ("vision_model.post_layernorm.bias",)),
    ("projection.weight", ("visual_projection.weight",)),
)
#: the same for each block i: ``blocks.{i}.`` <- ``vision_model.encoder.layers.{i}.``
BLOCK_KEY_MAP: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (f"{ours}.{p}", tuple(f"{theirs}.{p}" for theirs in hf))
    for ours, hf in (
        ("norm1", ("layer_norm1",)),
        ("attn.qkv", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
        ("attn.proj", ("self_attn.out_proj",)),
        ("norm2", ("layer_norm2",)),
        ("mlp.fc1", ("mlp.fc1",)),
        ("mlp.fc2", ("mlp.fc2",)),
    )
    for p in ("weight", "bias")
)
_HF_BLOCK = "vision_model.encoder.layers.{}."
# keys of the file that the image embedding does not use: the text tower, its projection, the
# temperature, and the position-id buffer older files store
_UNUSED = re.compile(r"^(text_model\.|text_projection\.|logit_scale$|vision_model\.embeddings\.position_ids$)")


@dataclass(frozen=True)
class CLIPConfig:
    """Shape of a CLIP image tower; :func:`clip_config` gives ViT-L/14@336 or a tiny one for tests."""

    width: int = 1024
    depth: int = 24
    num_heads: int = 16
    patch: int = 14
    grid: int = 24  # 336 / 14
    mlp_width: int = 4096
    embedding_dim: int = EMBEDDING_DIM


def clip_config(small: bool = False) -> CLIPConfig:
    """ViT-L/14@336 (width 1024, 24 blocks, 16 heads, 768-d embedding), or with ``small=True`` the
    same code at width 128, 2 blocks, 2 heads, 32-d embedding (tests), still at 336 px.

    Example:
        >>> clip_config().embedding_dim, clip_config(small=True).width
        (768, 128)
    """
    return CLIPConfig(width=128, depth=2, num_heads=2, mlp_width=512, embedding_dim=32) if small else CLIPConfig()


class CLIPVision(nn.Module):
    """CLIP image tower: CLIP-normalised float N x 3 x 336 x 336 -> N x 768 unit vectors (float32).

    ``embedding = normalise(post_norm(block_L(...block_1(pre_norm(tokens + positions)))[class]) @ P)``.
    """

    def __init__(self, config: CLIPConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or CLIPConfig()
        self.class_embedding = nn.Parameter(torch.zeros(c.width))
        self.position_embedding = nn.Parameter(torch.zeros(1 + c.grid * c.grid, c.width))
        self.patch_embed = PatchEmbed(c.patch, c.width, bias=False)
        self.pre_norm = nn.LayerNorm(c.width, eps=1e-5)
        self.blocks = nn.ModuleList(
            Block(c.width, c.num_heads, c.mlp_width / c.width, act=QuickGELU, eps=1e-5) for _ in range(c.depth)
        )
        self.post_norm = nn.LayerNorm(c.width, eps=1e-5)
        self.projection = nn.Linear(c.width, c.embedding_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:  # N x 3 x 336 x 336, CLIP-normalised
        size = self.config.grid * self.config.patch
        if tuple(x.shape[-2:]) != (size, size):
            raise ValueError(f"input {tuple(x.shape)}: expected N x 3 x {size} x {size}")
        # float32 residual stream, also when the convolution ran in bfloat16 (fast)
        tokens = self.patch_embed(x).float()  # N x 576 x D
        cls = self.class_embedding.float().expand(len(tokens), 1, -1)  # N x 1 x D
        tokens = torch.cat((cls, tokens), dim=1) + self.position_embedding.float()  # N x 577 x D
        tokens = self.pre_norm(tokens)
        for block in self.blocks[:-1]:
            tokens = block(tokens)  # N x 577 x D
        cls = self.blocks[-1](tokens, queries=1)[:, 0]  # N x D: the class token is all that is used
        embedding = self.projection(self.post_norm(cls)).float()  # N x 768
        return embedding / torch.linalg.vector_norm(embedding, dim=-1, keepdim=True)  # unit length


def _open_safetensors(path: Path) -> object:
    try:
        from safetensors import safe_open
    except ImportError as exc:
        raise WeightsError(
            "CLIP weights (.safetensors) need the safetensors package: pip install 'safetensors>=0.4' "
            "(or the 'clip' extra, pip install '.[clip]' in a clone of inception-score)"
        ) from exc
    return safe_open(str(path), framework="pt", device="cpu")


def _refusal(path: Path) -> str | None:
    """Why ``path`` is not a safetensors file we read, in words, or None when it may be one."""
    import zipfile

    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if not head:
        return "the file is empty (0 bytes)"
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (OSError, zipfile.BadZipFile):
            names = []
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return (
                "it is a TorchScript archive (OpenAI's ViT-L-14-336px.pt is one): reading it takes torch.jit.load, "
                "which runs the code an archive may carry, so it is refused"
            )
        return "it is a PyTorch checkpoint (pytorch_model.bin?), not a .safetensors file"
    if head[:1] == b"\x80":
        return "it is a pickle (pytorch_model.bin?), not a .safetensors file"
    return None


def read_hf_tensors(path: str | os.PathLike[str]) -> tuple[CLIPConfig, dict[str, Tensor]]:
    """The image tower of a Hugging Face CLIP ``model.safetensors``: its shape and our tensors.

    Only the keys of :data:`KEY_MAP` and :data:`BLOCK_KEY_MAP` are read (``safe_open`` reads a
    tensor's bytes when it is asked for); the text tower, ``text_projection``, ``logit_scale``
    and ``position_ids`` are skipped, any other key is an error (not this layout). Raises a
    one-line :class:`WeightsError` naming the file for a missing key, a shape that does not fit,
    NaN/inf, or a file that is not safetensors.
    """
    path = Path(os.fspath(path))
    expected = f"{CLIP_VITL14_336.file_format} (or a CLIPVisionModelWithProjection's)"

    def fail(reason: str) -> WeightsError:
        return WeightsError(f"Cannot load CLIP weights {path}: {reason}; expected {expected}.")

    if not path.is_file():
        raise fail("the file does not exist" if not path.exists() else "it is not a file")
    if (reason := _refusal(path)) is not None:
        raise fail(reason)
    try:
        handle: object = _open_safetensors(path)
    except WeightsError:
        raise
    except Exception as exc:
        raise fail(f"safetensors cannot read it ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from exc
    with handle as f:  # type: ignore[attr-defined]
        keys = set(f.keys())
        layers = {int(m.group(1)) for k in keys if (m := re.match(r"vision_model\.encoder\.layers\.(\d+)\.", k))}
        depth = max(layers, default=-1) + 1
        wanted = dict(KEY_MAP) | {
            f"blocks.{i}.{ours}": tuple(_HF_BLOCK.format(i) + k for k in hf)
            for i in range(depth)
            for ours, hf in BLOCK_KEY_MAP
        }
        used = {k for hf in wanted.values() for k in hf}
        missing = sorted(k for k in used if k not in keys)
        unknown = sorted(k for k in keys - used if not _UNUSED.match(k))
        if missing or unknown or depth < 1:
            parts = [f"{len(missing)} missing ({', '.join(missing[:3])})"] if missing else []
            parts += [f"{len(unknown)} unexpected ({', '.join(map(printable, unknown[:3]))})"] if unknown else []
            raise fail("not the layout of a CLIP image tower: " + ("; ".join(parts) or "no encoder layers"))
        tensors: dict[str, Tensor] = {}
        for ours, hf in wanted.items():
            parts_read = [f.get_tensor(k) for k in hf]
            for key, value in zip(hf, parts_read, strict=True):
                if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                    raise fail(f"tensor {printable(key)} holds NaN or inf")
            tensors[ours] = (parts_read[0] if len(parts_read) == 1 else torch.cat(parts_read)).float()
    width = int(tensors["class_embedding"].shape[-1])
    positions = int(tensors["position_embedding"].shape[0]) - 1
    grid = math.isqrt(positions)
    if width % HEAD_DIM or grid * grid != positions:
        raise fail(f"width {width} and {positions} positions; expected a multiple of {HEAD_DIM} and a square grid")
    config = CLIPConfig(
        width=width,
        depth=depth,
        num_heads=width // HEAD_DIM,
        patch=int(tensors["patch_embed.proj.weight"].shape[-1]),
        grid=grid,
        mlp_width=int(tensors["blocks.0.mlp.fc1.weight"].shape[0]),
        embedding_dim=int(tensors["projection.weight"].shape[0]),
    )
    with torch.device("meta"):  # shapes only, no memory
        shapes = CLIPVision(config).state_dict()
    wrong = [f"{k} {tuple(v.shape)}" for k, v in tensors.items() if tuple(v.shape) != tuple(shapes[k].shape)]
    if wrong:
        raise fail(f"{len(wrong)} tensors of the wrong shape ({', '.join(wrong[:3])})")
    return config, tensors


def load_clip(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> CLIPVision:
    """The CLIP image tower of the Hugging Face ``model.safetensors`` at ``path``, eval mode on ``device``.

    A tower other than ViT-L/14@336 loads with a warning: its embeddings are not CMMD's.

    Example:
        >>> net = load_clip("model.safetensors")  # doctest: +SKIP
    """
    config, tensors = read_hf_tensors(path)
    if config != CLIPConfig():
        warn(
            f"CLIP weights {path} are not ViT-L/14@336 (width {config.width}, {config.depth} blocks, "
            f"{config.grid * config.patch} px): embeddings are not CMMD's and not comparable with published numbers"
        )
    with torch.device("meta"):  # no memory and no random init for weights about to be replaced
        net = CLIPVision(config)
    net.load_state_dict(tensors, strict=True, assign=True)  # every key and shape checked by read_hf_tensors
    return net.eval().requires_grad_(False).to(device)


# --------------------------------------------------------------------------- preprocessing


def _crop_resize(image: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 -> 336 x 336 x 3 uint8: CMMD's centre crop to the short side, PIL bicubic."""
    from PIL import Image

    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(image, "RGB").crop((left, top, left + side, top + side))
    return np.asarray(crop.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BICUBIC))


def prepare_clip(images: Tensor | Sequence[Tensor], device: torch.device | str | None = None) -> Tensor:
    """uint8 RGB images -> float32 N x 3 x 336 x 336, CLIP's input as the CMMD reference prepares it.

    ``images``: a uint8 N x 3 x H x W tensor or a sequence of uint8 3 x H x W tensors of any sizes.
    Each image is cropped to its centred square (``top = (h - l) // 2``, ``left = (w - l) // 2``,
    l = min(h, w)), resized to 336 x 336 with PIL's bicubic filter to uint8 (CMMD ``io_util.py``),
    then ``x / 255``, minus CLIP's mean (0.48145466, 0.4578275, 0.40821073), divided by its std
    (0.26862954, 0.26130258, 0.27577711) (scenic ``normalize_image``). ``device``: where the
    result goes (the resize runs on the CPU).

    Images that were grayscale files: the inputs of this package are decoded to RGB (Pillow's
    ``convert("RGB")``), so such an image arrives as three equal channels. CMMD resizes it in 'L'
    mode and tiles the result; PIL resizes the channels of an RGB image independently with the
    same 8-bit arithmetic as an 'L' image, so the two are equal pixel for pixel (tested). Palette
    ('P') files differ: CMMD tiles the palette *indexes* (a bug of its reader), we score colours.

    Example:
        >>> prepare_clip([torch.zeros(3, 20, 30, dtype=torch.uint8)]).shape
        torch.Size([1, 3, 336, 336])
    """
    groups = [images] if isinstance(images, Tensor) else [img.unsqueeze(0) for img in images]
    resized = []
    for group in groups:
        if group.dtype != torch.uint8 or group.dim() != 4 or group.shape[1] != 3:
            raise ValueError(f"expected uint8 images of shape N x 3 x H x W, got {group.dtype} {tuple(group.shape)}")
        resized.extend(_crop_resize(a) for a in group.permute(0, 2, 3, 1).cpu().numpy())
    x = torch.from_numpy(np.stack(resized)).to(device).permute(0, 3, 1, 2).float()  # N x 3 x 336 x 336
    mean = torch.tensor(CLIP_MEAN, device=x.device).reshape(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).reshape(1, 3, 1, 1)
    return ((x / 255 - mean) / std).contiguous()


# --------------------------------------------------------------------------- for the extractor


def build_clip(
    weights: str | os.PathLike[str] | None = None,
    device: torch.device | str = "cpu",
    precision: str = "exact",
    *,
    progress: bool = True,
) -> tuple[Callable[..., Tensor], Callable[[Tensor], Tensor], ResolvedWeights]:
    """``(prepare, forward, weights)`` of CLIP ViT-L/14@336 for a run.

    ``weights``: a file, or None to look for it (``$INCEPTION_SCORE_CLIP_WEIGHTS``, the Hugging Face
    cache, the torch.hub checkpoint directory, then a download: :func:`~.weights.locate_weights`).
    ``prepare(images, device=None)`` is :func:`prepare_clip`; ``forward(x)`` gives float32 N x 768
    unit vectors on ``device`` in ``precision`` ``"exact"`` or ``"fast"`` (:class:`~.vit.ViTRunner`).

    Example:
        >>> prepare, forward, found = build_clip(None, "cpu")  # doctest: +SKIP
        >>> forward(prepare(uint8_images)).norm(dim=1)  # doctest: +SKIP
        tensor([1.0000, 1.0000, ...])
    """
    from .vit import ViTRunner

    device = torch.device(device)
    resolved = locate_weights(weights, CLIP_VITL14_336, progress=progress)
    net = load_clip(resolved.path, device)
    return prepare_clip, ViTRunner(net, device, precision, own=True), resolved
