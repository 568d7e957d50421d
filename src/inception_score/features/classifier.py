"""Any classifier as p(y|x): the general definition of the score, for domain-specific scores.

The Inception Score is defined for any classifier; "the" IS uses the 2015 Inception graph. A
score with another classifier (a CIFAR-10 or MNIST model, say) measures something useful for
that domain but is **not comparable** with published Inception Scores, and the result says so.

``--classifier SPEC`` loads a TorchScript file or an importable ``module:callable`` (the same
loader as generators) that maps a float N x 3 x S x S batch to N x C logits; C, the number of
classes, follows from its output. Its input is prepared from the uint8 images by
:func:`classifier_input`: resized to ``--classifier-size S`` (TF1 bilinear, as for Inception,
or ``none`` to require images of that size already), scaled to [0, 1], then normalised per
channel with ``--classifier-mean`` and ``--classifier-std``.

Example:
    >>> import torch
    >>> x = classifier_input(torch.full((1, 3, 4, 4), 255, dtype=torch.uint8), size=2, mean=(0.5,) * 3, std=(0.5,) * 3)
    >>> x.shape, float(x.max())
    (torch.Size([1, 3, 2, 2]), 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import InputError
from .preprocess import resize_tf1_bilinear

__all__ = ["classifier_input", "NOT_COMPARABLE"]

NOT_COMPARABLE = (
    "custom classifier: this score uses {spec}, not the 2015 Inception graph; it is NOT comparable with "
    "published Inception Scores"
)


def classifier_input(
    images: Tensor | list[Tensor],
    size: int | None,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device | str | None = None,
) -> Tensor:
    """uint8 images (a batch or a list of 3 x H x W) -> float N x 3 x size x size for a classifier.

    ``size`` None: the images must already share one size, which is used as is.
    """
    groups = [images] if isinstance(images, Tensor) else [img.unsqueeze(0) for img in images]
    out = []
    for group in groups:
        group = group.to(device) if device is not None else group
        if size is None:
            if group.shape[-2:] != groups[0].shape[-2:]:
                raise InputError("images of different sizes need --classifier-size to resize them")
            x = group.float()
        else:
            x = resize_tf1_bilinear(group, size)
        out.append(x / 255.0)
    x = torch.cat(out)
    mean_t = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean_t) / std_t
