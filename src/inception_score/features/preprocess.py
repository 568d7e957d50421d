"""uint8 images of any size -> TF1 bilinear resize to 299x299 -> (x - 128) / 128.

This is the only place where images are resized. It reproduces what the 2015 graph does inside
itself (``ResizeBilinear`` then ``Sub``/``Mul``) in TensorFlow 1 semantics:

* ``align_corners=False`` and no half-pixel centres: the source coordinate of output pixel ``d``
  is ``d * (in / out)``, computed in float32 (``in / out`` is rounded to float32 first);
* ``lo = floor(src)``, ``hi = min(lo + 1, in - 1)``, a linear blend ``a + (b - a) * frac``, first
  along x, then along y;
* no antialiasing, so a downscale skips pixels exactly as TF1 did.

Every step is an elementwise float32 operation in the same order as torch-fidelity's
``interpolate_bilinear_2d_like_tensorflow1x`` (method "slow"), so the result is bit-identical to
it on CPU. PyTorch's own ``interpolate`` is not: it uses half-pixel centres (and antialiasing in
torchmetrics >= 1.8), which moves the score for every input that is not 299x299 already.

Example:
    >>> import torch
    >>> from .preprocess import preprocess
    >>> batch = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    >>> preprocess(batch).shape
    torch.Size([2, 3, 299, 299])
    >>> preprocess([batch[0], torch.zeros(3, 500, 20, dtype=torch.uint8)]).shape
    torch.Size([2, 3, 299, 299])
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor

from .network import INPUT_SIZE

__all__ = ["resize_tf1_bilinear", "normalize", "preprocess"]


@lru_cache(maxsize=64)
def _axis_plan(in_size: int, out_size: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Source indexes (lo, hi) and blend weights of one axis; cached per size and device."""
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)  # TF1: scale rounded to float32
    src = torch.arange(out_size, dtype=torch.float32) * scale  # TF1: no half-pixel centres
    lo = src.long()  # floor, as src >= 0
    hi = (lo + 1).clamp_max(in_size - 1)
    frac = src - lo.float()
    return lo.to(device), hi.to(device), frac.to(device)


def resize_tf1_bilinear(images: Tensor, size: int = INPUT_SIZE) -> Tensor:
    """Resize N x C x H x W images (uint8 or float) to float32 N x C x size x size as TensorFlow 1 did.

    Bit-exact on CPU against torch-fidelity's ``interpolate_bilinear_2d_like_tensorflow1x``.

    Example:
        >>> import torch
        >>> resize_tf1_bilinear(torch.arange(4.0).view(1, 1, 2, 2), size=4)[0, 0, 0]
        tensor([0.0000, 0.5000, 1.0000, 1.0000])
    """
    if images.dim() != 4 or not (images.is_floating_point() or images.dtype == torch.uint8):
        raise ValueError(f"expected a N x C x H x W tensor, got {images.dtype} of shape {tuple(images.shape)}")
    in_h, in_w = images.shape[-2:]
    y_lo, y_hi, dy = _axis_plan(in_h, size, images.device)
    x_lo, x_hi, dx = _axis_plan(in_w, size, images.device)

    def lerp_x(rows: Tensor) -> Tensor:
        # Pixels are picked before the conversion to float32 (exact for uint8), so a 10000 x 10000
        # image never exists as 1.2 GB of floats.
        left, right = rows.index_select(-1, x_lo).float(), rows.index_select(-1, x_hi).float()
        return right.sub_(left).mul_(dx).add_(left)  # left + (right - left) * dx

    # Blend along x first, then along y, as TF1 and torch-fidelity do (the order changes the
    # rounding). Blending x on all input rows and then picking rows gives the same numbers as
    # picking rows first, so do whichever touches fewer pixels. index_select and in-place ops
    # (the same IEEE operations in the same order, so the same bits) take half the time of
    # advanced indexing and out-of-place arithmetic.
    if in_h < 2 * size:
        rows = lerp_x(images)  # N x C x H x size
        top, bottom = rows.index_select(-2, y_lo), rows.index_select(-2, y_hi)  # N x C x size x size each
    else:
        top, bottom = lerp_x(images.index_select(-2, y_lo)), lerp_x(images.index_select(-2, y_hi))
    return bottom.sub_(top).mul_(dy.view(-1, 1)).add_(top)  # top + (bottom - top) * dy


def normalize(images: Tensor) -> Tensor:
    """Map pixel values in [0, 255] to [-1, 1] as the graph does: (x - 128) / 128.

    The graph multiplies by 0.0078125 = 1/128, a power of two, so dividing gives the same bits.
    """
    return (images - 128) / 128


def _normalize_(images: Tensor) -> Tensor:
    """:func:`normalize` in place (the same two operations, so the same bits)."""
    return images.sub_(128).div_(128)


def preprocess(images: Tensor | Sequence[Tensor], device: torch.device | str | None = None) -> Tensor:
    """uint8 RGB images -> float32 N x 3 x 299 x 299 network input.

    ``images`` is a uint8 N x 3 x H x W tensor, or a sequence of uint8 3 x H x W tensors whose
    sizes may differ (each is resized on its own; the result does not depend on the grouping).
    ``device``: where to resize (default: where the images are). Shipping uint8 at native size
    and resizing on the device moves 100x fewer bytes than shipping 299x299 floats.
    """
    if isinstance(images, Tensor):
        groups: list[Tensor] = [images]
    else:
        groups = [img.unsqueeze(0) for img in images]
    out = []
    for group in groups:
        if group.dtype != torch.uint8 or group.dim() != 4 or group.shape[1] != 3:
            raise ValueError(f"expected uint8 images of shape N x 3 x H x W, got {group.dtype} {tuple(group.shape)}")
        group = group.to(device, non_blocking=True) if device is not None else group
        out.append(_normalize_(resize_tf1_bilinear(group)))  # resize gives a new tensor
    return out[0] if len(out) == 1 else torch.cat(out)
