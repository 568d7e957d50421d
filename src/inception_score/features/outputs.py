"""What the networks of a run give for a batch, by field name: one object for all of them.

Each decoded batch goes through every network the run's metrics need (the 2015 Inception graph,
DINOv2 ViT-L/14, CLIP ViT-L/14@336); each fills its fields of one :class:`NetworkOutputs`, and
the metrics read fields by name, never knowing which network made them:

* ``logits_unbiased``: N x C, Inception's pool3 @ W^T without the bias: what IS uses (C = 1008);
* ``logits``: N x C, pool3 @ W^T + b;
* ``pool3``: N x 2048, the global average of Inception's Mixed_7c (FID, KID, precision/recall);
* ``spatial``: N x 192 x 17 x 17 (NCHW), ``mixed_6/conv`` of the 2015 graph (sFID);
* ``dinov2``: N x 1024, DINOv2 ViT-L/14's class token after the final LayerNorm (FD_DINOv2...);
* ``clip``: N x 768, CLIP ViT-L/14@336's projected image embedding, L2-normalised (CMMD...).

A field is None when no metric of the run asked for it (or a custom network cannot give it).
Tensors are float32, on the network's device (the run moves them to where the sums live).

Example:
    >>> import torch
    >>> out = NetworkOutputs(logits_unbiased=torch.zeros(3, 4), dinov2=torch.ones(3, 8))
    >>> len(out), out.present(), out.rows(slice(0, 2)).dinov2.shape
    (3, ('logits_unbiased', 'dinov2'), torch.Size([2, 8]))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = ["NetworkOutputs", "FIELDS"]

FIELDS = ("logits_unbiased", "logits", "pool3", "spatial", "dinov2", "clip")


@dataclass
class NetworkOutputs:
    """The outputs of a run's networks for one batch, by field name (see the module docstring)."""

    logits_unbiased: Tensor | None = None
    logits: Tensor | None = None
    pool3: Tensor | None = None
    spatial: Tensor | None = None
    dinov2: Tensor | None = None
    clip: Tensor | None = None
    # what the metrics derive from the batch once and share (float64 probabilities, ...)
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        for name in FIELDS:
            value = getattr(self, name)
            if value is not None:
                return int(value.shape[0])
        return 0

    def present(self) -> tuple[str, ...]:
        """The names of the fields this output holds."""
        return tuple(name for name in FIELDS if getattr(self, name) is not None)

    def require(self, name: str) -> Tensor:
        """Field ``name``; ValueError naming it if this output does not hold it."""
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"this network output has no {name} (it holds {', '.join(self.present()) or 'nothing'})")
        return value  # type: ignore[no-any-return]

    def rows(self, index: Tensor | slice | Sequence[int]) -> NetworkOutputs:
        """The same fields for the images ``index`` selects."""
        return NetworkOutputs(**{n: getattr(self, n)[index] for n in self.present()})

    def to(self, device: torch.device | str) -> NetworkOutputs:
        return NetworkOutputs(**{n: getattr(self, n).to(device) for n in self.present()})

    def update(self, other: NetworkOutputs) -> NetworkOutputs:
        """Take every field ``other`` holds (another network's outputs of the same images); returns self."""
        for name in other.present():
            setattr(self, name, other.require(name))
        return self

    @staticmethod
    def cat(outputs: Sequence[NetworkOutputs]) -> NetworkOutputs:
        """Concatenate the outputs of consecutive parts of a batch (the same fields in each)."""
        names = outputs[0].present()
        return NetworkOutputs(**{n: torch.cat([o.require(n) for o in outputs]) for n in names})
