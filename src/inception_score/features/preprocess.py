"""uint8 images of any size -> resize to 299x299 -> scaling to [-1, 1]: the graph's own way, or another tool's.

This is the only place where images are resized for the Inception network. The default, ``tf1``,
reproduces what the 2015 graph does inside itself (``ResizeBilinear`` then ``Sub``/``Mul``) in
TensorFlow 1 semantics:

* ``align_corners=False`` and no half-pixel centres: the source coordinate of output pixel ``d``
  is ``d * (in / out)``, computed in float32 (``in / out`` is rounded to float32 first);
* ``lo = floor(src)``, ``hi = min(lo + 1, in - 1)``, a linear blend ``a + (b - a) * frac``, first
  along x, then along y;
* no antialiasing, so a downscale skips pixels exactly as TF1 did.

Every step is an elementwise float32 operation in the same order as torch-fidelity's
``interpolate_bilinear_2d_like_tensorflow1x`` (method "slow"), so the result is bit-identical to
it on CPU. PyTorch's own ``interpolate`` is not: it uses half-pixel centres (and antialiasing in
torchmetrics >= 1.8), which moves the score for every input that is not 299x299 already.

**Other tools' resizes** (``--resize``, set by ``--match``; :data:`RESIZE_MODES`), each the tool's
own sequence of operations, so that its numbers can be reproduced (REFERENCE-FEATURES §3,
REFERENCE-METRICS §1):

* ``pytorch-fid``: pixels scaled to [0, 1] (torchvision ``ToTensor``: ``u / 255`` in float32), then
  ``F.interpolate(bilinear, align_corners=False)`` (half-pixel centres, no antialiasing), then
  ``2 x - 1`` (pytorch-fid ``inception.py`` ``InceptionV3.forward``; not ``(x - 128) / 128``: the
  two differ by 1/255 of a level even at 299 px);
* ``clean-fid``: clean-fid's ``clean`` mode (CF ``resize.py`` ``make_resizer("PIL", False,
  "bicubic", (299, 299))``): each channel on its own as a 32-bit float PIL image (mode ``F``),
  Pillow's bicubic (antialiased) resize, clipped to [0, 255] and **not rounded**, then
  ``(x - 128) / 128`` (CF ``inception_torchscript.py``); on the CPU, with Pillow, one image at a time;
* ``torchmetrics``: torchmetrics >= 1.8's default (TM ``image/fid.py`` ``NoTrainInceptionV3``,
  ``antialias=True``): ``F.interpolate(bilinear, align_corners=False, antialias=True)`` of the
  float pixels, then ``(x - 128) / 128``.

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

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .network import INPUT_SIZE

__all__ = ["resize_tf1_bilinear", "normalize", "preprocess", "RESIZE_MODES", "network_input"]

#: ``--resize`` modes: name -> what it does (the default first).
RESIZE_MODES = {
    "tf1": "TF1 bilinear (align_corners=False, no half-pixel centres), (x - 128) / 128: the 2015 graph's own",
    "pytorch-fid": "x / 255, torch bilinear (half-pixel centres, no antialiasing), 2x - 1: pytorch-fid 0.3",
    "clean-fid": "per-channel Pillow bicubic in float (mode F), clipped to [0, 255], not rounded, (x - 128) / 128",
    "torchmetrics": "torch bilinear with antialiasing (torchmetrics >= 1.8 default), (x - 128) / 128",
}


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


def _pytorch_fid(group: Tensor, size: int) -> Tensor:
    """pytorch-fid: ``ToTensor`` (u / 255), ``F.interpolate`` bilinear without corner alignment, ``2 x - 1``."""
    x = group.float().div_(255)  # torchvision ToTensor: float32 division by 255
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.mul_(2).sub_(1)  # pytorch-fid InceptionV3.forward, normalize_input: 2 * x - 1


def _torchmetrics(group: Tensor, size: int) -> Tensor:
    """torchmetrics >= 1.8: ``F.interpolate`` bilinear with antialiasing on 0..255 floats, ``(x - 128) / 128``."""
    x = F.interpolate(group.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return _normalize_(x)


def _clean_fid(group: Tensor, size: int) -> Tensor:
    """clean-fid ``clean``: per channel, Pillow bicubic on a float32 ('F') image, clipped, not rounded."""
    from PIL import Image

    pixels = group.cpu().numpy()  # N x 3 x H x W uint8
    out = np.empty((len(pixels), 3, size, size), dtype=np.float32)
    for n, image in enumerate(pixels):
        for c, channel in enumerate(image):
            # a 2-D float32 array becomes a mode 'F' image: Pillow resamples it in float, unrounded
            resized = Image.fromarray(channel.astype(np.float32)).resize((size, size), Image.BICUBIC)
            out[n, c] = np.asarray(resized, dtype=np.float32).clip(0, 255)
    return _normalize_(torch.from_numpy(out).to(group.device))


_RESIZERS = {
    "tf1": lambda group, size: _normalize_(resize_tf1_bilinear(group, size)),  # resize gives a new tensor
    "pytorch-fid": _pytorch_fid,
    "clean-fid": _clean_fid,
    "torchmetrics": _torchmetrics,
}


def network_input(group: Tensor, resize: str = "tf1", size: int = INPUT_SIZE) -> Tensor:
    """uint8 N x 3 x H x W -> float32 N x 3 x size x size in the graph's [-1, 1] scale, resized as
    ``resize`` (one of :data:`RESIZE_MODES`) says. Raises ValueError for an unknown mode.

    Example:
        >>> import torch
        >>> x = torch.randint(0, 256, (1, 3, 20, 30), dtype=torch.uint8)
        >>> [tuple(network_input(x, mode).shape) for mode in RESIZE_MODES] == [(1, 3, 299, 299)] * 4
        True
    """
    try:
        resizer = _RESIZERS[resize]
    except KeyError:
        raise ValueError(f"resize: got {resize!r}, expected one of {', '.join(RESIZE_MODES)}") from None
    return resizer(group, size)  # type: ignore[no-any-return]


def preprocess(
    images: Tensor | Sequence[Tensor], device: torch.device | str | None = None, resize: str = "tf1"
) -> Tensor:
    """uint8 RGB images -> float32 N x 3 x 299 x 299 network input.

    ``images`` is a uint8 N x 3 x H x W tensor, or a sequence of uint8 3 x H x W tensors whose
    sizes may differ (each is resized on its own; the result does not depend on the grouping).
    ``device``: where to resize (default: where the images are). Shipping uint8 at native size
    and resizing on the device moves 100x fewer bytes than shipping 299x299 floats.
    ``resize``: ``tf1`` (the graph's own, default) or another tool's (:data:`RESIZE_MODES`).
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
        out.append(network_input(group, resize))
    return out[0] if len(out) == 1 else torch.cat(out)
