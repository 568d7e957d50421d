"""The one interface every metric implements: an accumulator over the network's outputs.

An accumulator is fed batch by batch with an :class:`~inception_score.features.outputs.NetworkOutputs`
and the global indexes of its images (0..N-1 in the input), and keeps only named tensors that
**merge by adding**: two accumulators of disjoint images, the ranks of a torchrun job (one
all-reduce), the shards of a job array (their statistics files) and a resumed run all combine by
summing their ``state()``. At the end it gives its fields of the result.

Two kinds of state, both summed:

* sums over images (float64 counts, sums of p, p ln p, features, outer products...);
* **rows** indexed by the image's global index (``row_states``): each image writes its own row
  once, zeros elsewhere, so the sum of disjoint parts is the whole matrix. Statistics files store
  only the rows a process filled (:meth:`Accumulator.state_dict`), not the zeros.

A new metric is one small class: declare the output fields it reads (``needs``) and where its
state tensors live (``states``: name -> attribute path), create them, implement ``update`` and
``fields``. Because the state is reachable by name, a holder such as the torchmetrics-style
metric object can keep the tensors itself and :meth:`Accumulator.bind` them before each use.
The pipeline loops over the accumulators a run asked for and knows none of them by name.

Example:
    >>> import numpy as np, torch
    >>> from inception_score.features.outputs import NetworkOutputs
    >>> class Count(Accumulator):
    ...     name, needs, states = "count", frozenset({"logits_unbiased"}), {"n": "n"}
    ...     def __init__(self):
    ...         self.n = torch.zeros((), dtype=torch.float64)
    ...     def update(self, outputs, indices):
    ...         self.n += len(indices)
    ...     def fields(self, so_far):
    ...         return {"count": int(self.n)}
    >>> a, b = Count(), Count()
    >>> a.update(NetworkOutputs(torch.zeros(3, 4)), np.arange(3))
    >>> b.update(NetworkOutputs(torch.zeros(2, 4)), np.arange(3, 5))
    >>> a.merge_(b).fields({})
    {'count': 5}
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..features.outputs import NetworkOutputs

__all__ = ["Accumulator", "ShapeMismatch"]


class ShapeMismatch(ValueError):
    """Saved statistics that do not fit an accumulator (other options, another version)."""


class Accumulator:
    """Base class of the metrics: update from outputs and indexes; state merged by adding; result fields."""

    # unique within a run: the prefix of its tensors in files; an accumulator over a feature space
    # sets both per instance (``fd_dinov2``, reading ``dinov2``)
    name: str = "accumulator"
    needs: frozenset[str] = frozenset()  # NetworkOutputs fields it reads
    row_states: ClassVar[tuple[str, ...]] = ()  # states indexed by global image index (dim 0)
    states: ClassVar[dict[str, str]] = {}  # state name -> attribute path of its tensor ("sums.count")

    def state(self) -> dict[str, Tensor]:
        """The live tensors (updated in place), by name: what is saved, reduced and merged."""
        return {key: operator.attrgetter(path)(self) for key, path in self.states.items()}

    def bind(self, tensors: Mapping[str, Tensor]) -> Accumulator:
        """Use ``tensors`` (same names, shapes and dtypes as :meth:`state`) as the live state; returns self."""
        for key, path in self.states.items():
            owner, _, attribute = path.rpartition(".")
            setattr(operator.attrgetter(owner)(self) if owner else self, attribute, tensors[key])
        return self

    def update(self, outputs: NetworkOutputs, indices: np.ndarray) -> None:
        """Add a batch: ``outputs`` of N images whose global indexes are ``indices`` (N int64)."""
        raise NotImplementedError

    def fields(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        """This metric's fields of the result; ``so_far`` holds the fields of the metrics before it."""
        raise NotImplementedError

    def warnings(self, fields: Mapping[str, Any]) -> list[str]:
        """Warnings the numbers imply (``fields`` holds every metric's fields)."""
        return []

    def report_data(self) -> dict[str, Any]:
        """What the HTML report draws beyond the result's fields (default: nothing)."""
        return {}

    # ------------------------------------------------------------------ merging, by adding

    def merge_(self, other: Accumulator) -> Accumulator:
        """Add ``other``'s state (disjoint images, same options) into this one; returns self."""
        theirs = other.state()
        for key, tensor in self.state().items():
            tensor.add_(theirs[key].to(tensor.device, tensor.dtype))
        return self

    def state_dict(self) -> dict[str, Tensor]:
        """A CPU copy of the state, rows compacted to the ones filled (index + values)."""
        out: dict[str, Tensor] = {}
        for key, tensor in self.state().items():
            if key in self.row_states:
                filled = tensor.detach().reshape(len(tensor), -1).ne(0).any(dim=1).nonzero().flatten()
                out[f"{key}.index"] = filled.cpu()
                out[f"{key}.rows"] = tensor.detach()[filled].cpu().clone()
            else:
                out[key] = tensor.detach().cpu().clone()
        return out

    def load_state_dict(self, saved: Mapping[str, Tensor], add: bool = False) -> None:
        """Set (or with ``add``, add) the state from :meth:`state_dict`'s output of the same options."""
        own = self.state()
        expected = {f"{k}.{p}" for k in own if k in self.row_states for p in ("index", "rows")}
        expected |= {k for k in own if k not in self.row_states}
        if set(saved) != expected:
            raise ShapeMismatch(f"{self.name}: saved statistics hold {sorted(saved)}, expected {sorted(expected)}")
        for key, tensor in own.items():
            if key in self.row_states:
                index, rows = saved[f"{key}.index"].long(), saved[f"{key}.rows"]
                if rows.shape[1:] != tensor.shape[1:] or (len(index) and int(index.max()) >= len(tensor)):
                    raise ShapeMismatch(f"{self.name}: saved {key} rows do not fit {tuple(tensor.shape)}")
                if not add:
                    tensor.zero_()
                tensor.index_add_(0, index.to(tensor.device), rows.to(tensor.device, tensor.dtype))
                continue
            value = saved[key]
            if value.shape != tensor.shape:
                raise ShapeMismatch(
                    f"{self.name}: saved {key} has shape {tuple(value.shape)}, expected {tuple(tensor.shape)}"
                )
            if add:
                tensor.add_(value.to(tensor.device, tensor.dtype))
            else:
                tensor.copy_(value.to(tensor.device, tensor.dtype))


def zeros(
    shape: tuple[int, ...] | int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float64
) -> Tensor:
    """A float64 (by default) zero tensor: the accumulators' sums start here."""
    return torch.zeros(shape, dtype=dtype, device=device)
