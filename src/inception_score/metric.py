"""The Inception Score as a metric object for training loops, in the style of ``torchmetrics.Metric``.

``update(images)`` runs the network on a batch and adds it to the state; ``compute()`` gives a
:class:`~inception_score.report.Result` (``.mean``, ``.std``, ``.split_scores``, sharpness,
diversity, ...) of every image seen since ``reset()``, with the protocol of
:func:`inception_score.compute`, so the number equals what the files would score. It subclasses
``torchmetrics.Metric`` when torchmetrics is installed (DDP sync, ``.to(device)``, Lightning
logging); without it, a small base class offers the same methods and syncs over
``torch.distributed`` itself. torchmetrics stays optional for the package.

Two ways to keep the state, both exact:

* ``num_samples=N`` (constant memory): the per-split float64 sums of
  :class:`~inception_score.score.ISAccumulator` for the protocol's split of N images (about
  160 KB for 10 splits of 1008 classes), plus one int32 count per image index (4 bytes x N,
  200 KB for 50k) so that ``compute()`` knows that every image arrived exactly once. Sums merge
  by adding: DDP syncs them with ``dist_reduce_fx="sum"``. ``compute()`` before all N images
  arrived is an InputError saying how many are missing: the protocol splits N images, and a
  score over fewer would be a different number under the same name.
* no ``num_samples``: every image's logits (float32, 1008 per image: 4 KB per image, 200 MB
  for 50k, kept on the metric's device) and index; ``compute()`` orders them by index and runs
  the protocol on all of them, in chunks of 4096 images (no N x 1008 float64 copy). DDP
  gathers them with ``dist_reduce_fx="cat"``; sorting by index makes the result independent
  of the order in which ranks arrive. (Under torchmetrics' DDP sync every rank must have
  updated at least once before ``compute()``: it cannot gather an empty list with N x C ones.)

Which image is which: an image's index decides its split (torch-fidelity's protocol permutes N
images with a fixed seed). ``update(images, indices=...)`` says it; by default the k-th image
this process updates is image ``rank + k * world_size`` under ``torch.distributed``
(the order ``DistributedSampler(shuffle=False)`` deals images out), and image k in one process.
``DistributedSampler`` pads the last round with repeated images unless ``drop_last=True``:
with ``num_samples`` that is an error (an index beyond N), without it the repeats are scored.

One network pass for several metrics: with ``return_features=True``, ``update`` keeps the
batch's :class:`~inception_score.network.InceptionOutput` (``logits_unbiased``, ``logits``,
``pool3``) in ``last_output``, and ``metric(images)`` returns it, so FID can be fed from the
same pass. ``update(logits=...)`` / :meth:`InceptionScore.update_logits` score logits computed
elsewhere.

Example:
    >>> import torch
    >>> planted = lambda x: torch.eye(4)[torch.arange(len(x)) % 4] * 50  # 4 classes, evenly
    >>> metric = InceptionScore(network=planted, num_classes=4, splits=1)
    >>> metric.update(torch.zeros(8, 3, 16, 16, dtype=torch.uint8))
    >>> round(metric.compute().mean, 6)
    4.0
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from ._version import __version__
from .errors import InputError, OptionsError
from .generators import check_image_range, images_to_uint8
from .network import NUM_CLASSES, InceptionOutput, InceptionV3
from .options import PRECISIONS
from .pipeline import load_network, resolve_device
from .preprocess import preprocess
from .protocols import SplitPlan, get_protocol
from .report import Result
from .runtime import Runner
from .score import ISAccumulator, probabilities

__all__ = ["InceptionScore", "TORCHMETRICS"]

LOGITS_CHUNK = 4096  # rows turned into float64 probabilities at a time in compute()


class _PlainMetric:
    """What :class:`InceptionScore` needs of ``torchmetrics.Metric``, for when torchmetrics is absent.

    States with a reduction (``"sum"`` or ``"cat"``), ``reset``, ``to(device)``, ``__call__``
    -> ``forward``; ``_synced_states`` all-reduces sums and all-gathers lists over
    ``torch.distributed`` when it is initialised, without changing the local state.
    """

    def __init__(self, **kwargs: Any) -> None:
        if kwargs:
            raise OptionsError(
                f"unknown option {next(iter(kwargs))!r} (torchmetrics' Metric options need torchmetrics installed)"
            )
        self._defaults: dict[str, Any] = {}
        self._reductions: dict[str, str] = {}
        self._device = torch.device("cpu")

    def add_state(self, name: str, default: Any, dist_reduce_fx: str) -> None:
        self._defaults[name] = default
        self._reductions[name] = dist_reduce_fx
        setattr(self, name, default.clone() if isinstance(default, Tensor) else [])

    @property
    def device(self) -> torch.device:
        return self._device

    def to(self, device: str | torch.device) -> _PlainMetric:
        self._device = torch.device(device)
        for name in self._defaults:
            value = getattr(self, name)
            setattr(self, name, value.to(device) if isinstance(value, Tensor) else [v.to(device) for v in value])
        return self

    def reset(self) -> None:
        for name, default in self._defaults.items():
            setattr(self, name, default.clone().to(self._device) if isinstance(default, Tensor) else [])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)  # type: ignore[attr-defined]

    def _synced_states(self) -> dict[str, Any]:
        states = {name: getattr(self, name) for name in self._defaults}
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return states
        out: dict[str, Any] = {}
        for name, value in states.items():
            if self._reductions[name] == "sum":
                total = value.clone()
                dist.all_reduce(total)  # NCCL needs the metric on the GPU: metric.to("cuda")
                out[name] = total
            else:
                parts: list[Any] = [None] * dist.get_world_size()
                dist.all_gather_object(parts, [t.cpu() for t in value])
                out[name] = [t.to(self._device) for part in parts for t in part]
        return out


try:  # torchmetrics is optional: the test extra has it, the package does not need it
    from torchmetrics import Metric as _Base

    TORCHMETRICS = True
except ImportError:
    _Base = _PlainMetric  # type: ignore[assignment,misc]
    TORCHMETRICS = False


def _cat(value: Tensor | list[Tensor], columns: int, dtype: torch.dtype) -> Tensor:
    """A list state (or what torchmetrics' sync made of it: one tensor) as one tensor."""
    if isinstance(value, Tensor):
        return value.to(dtype).reshape(-1, columns) if columns else value.to(dtype).flatten()
    if not value:
        return torch.empty((0, columns) if columns else (0,), dtype=dtype)
    return torch.cat([v.to(dtype) for v in value])


def _inception_outputs(runner: Runner, bias: Tensor, images: Tensor) -> InceptionOutput:
    """The runner's logits and pool3 (one pass), plus the biased logits (for FID)."""
    both = runner.outputs(images)  # N x (1008 + 2048)
    unbiased, pool3 = both[:, :NUM_CLASSES], both[:, NUM_CLASSES:]
    return InceptionOutput(unbiased, unbiased + bias.to(unbiased.device), pool3)


class InceptionScore(_Base):  # type: ignore[misc,valid-type]
    """The Inception Score of the images passed to ``update`` since the last ``reset``.

    Args:
        weights: Inception weights file; default as :func:`inception_score.compute` finds them.
        splits: number of splits; default: the protocol's (10; ``adm`` uses chunks of 5000).
        protocol: ``torch-fidelity`` (default), ``original`` or ``adm`` (see the README).
        num_samples: the number N of images that will be scored: constant memory (see the
            module docstring); None: keep every image's logits until ``compute``.
        network: stands in for the Inception network: takes the preprocessed N x 3 x 299 x 299
            batch and returns :class:`~inception_score.network.InceptionOutput` or N x C logits
            (C = ``num_classes``); it must already be on the device the metric runs on. Its
            score is not the standard IS.
        device: where the network runs; default: the metric's device (``metric.to(...)``).
        precision: ``exact`` or ``fast`` (see the README).
        image_range: the range of float images, (0, 1), (-1, 1) or (0, 255), rounded to uint8
            as the files would be; None: only uint8 images are accepted. uint8 always is.
        return_features: keep each batch's network output in ``last_output`` (and return it
            from ``metric(images)``).
        num_classes: the network's number of outputs (1008 for Inception).
        kwargs: options of ``torchmetrics.Metric`` (``process_group``, ``sync_on_compute``...).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    plot_lower_bound = 1.0

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        splits: int | None = None,
        protocol: str = "torch-fidelity",
        num_samples: int | None = None,
        network: Callable[[Tensor], Any] | None = None,
        device: str | torch.device | None = None,
        precision: str = "exact",
        image_range: tuple[float, float] | None = (0.0, 1.0),
        return_features: bool = False,
        num_classes: int = 1008,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.protocol = get_protocol(protocol).name
        for name, value in (("splits", splits), ("num_samples", num_samples), ("num_classes", num_classes)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise OptionsError(f"{name}: got {value!r}, expected a positive integer")
        if splits is not None and get_protocol(protocol).chunk is not None:
            chunk = get_protocol(protocol).chunk
            raise OptionsError(
                f"splits: got {splits}, but protocol {protocol!r} uses chunks of {chunk}; leave it unset"
            )
        if precision not in PRECISIONS:
            raise OptionsError(f"precision: got {precision!r}, expected one of {', '.join(PRECISIONS)}")
        self.splits, self.num_samples, self.num_classes = splits, num_samples, num_classes
        self.precision = precision
        self.image_range = check_image_range(image_range)
        self.return_features = return_features
        self.run_device = resolve_device(str(device)) if device is not None else None
        self.plan = SplitPlan(protocol, num_samples, splits) if num_samples is not None else None
        # Kept in a dict, not as attributes: nn.Module would register the network as a submodule,
        # putting 100 MB of Inception weights into every checkpoint of a model that holds the metric.
        self._nets: dict[str, Any] = {}
        self.weights_sha256: str | None = None
        self.weights_path: str | None = None
        self.weights_source = "custom network"
        if network is not None:
            self._nets["custom"] = network
        else:
            net, resolved = load_network(weights, torch.device("cpu"), progress=False)
            self._nets["inception"] = net
            self.weights_sha256, self.weights_path = resolved.sha256, str(resolved.path)
            self.weights_source = resolved.source
        if self.plan is not None:
            # the accumulator's own fields, with its own shapes, as metric states summed over ranks
            template = ISAccumulator(self.plan.num_splits, num_classes)
            for name in ISAccumulator.FIELDS:
                self.add_state(name, torch.zeros_like(getattr(template, name)), dist_reduce_fx="sum")
            self.add_state("seen", torch.zeros(self.plan.num_images, dtype=torch.int32), dist_reduce_fx="sum")
        else:
            self.add_state("logits", [], dist_reduce_fx="cat")
            self.add_state("indices", [], dist_reduce_fx="cat")
        self.last_output: InceptionOutput | Tensor | None = None
        self._next = 0  # images this process has updated (for the default indexes)

    # ----------------------------------------------------------------------- updating

    def update(
        self,
        images: Any = None,
        indices: Sequence[int] | np.ndarray | Tensor | None = None,
        *,
        logits: Tensor | np.ndarray | None = None,
    ) -> None:
        """Add a batch: ``images`` (uint8, or float in ``image_range``; N x H x W x 3 or
        N x 3 x H x W tensor or array, or a list of images), or ``logits`` (N x C) computed
        elsewhere. ``indices``: the images' indexes in the whole set (default: see the module
        docstring)."""
        if (images is None) == (logits is None):
            raise OptionsError("update: give images, or logits=, not both")
        if logits is None:
            logits = self._forward(images)
        else:
            logits = torch.as_tensor(logits)
            self.last_output = None
        if logits.dim() != 2 or logits.shape[1] != self.num_classes:
            raise InputError(
                f"update: expected logits of shape N x {self.num_classes}, got {tuple(logits.shape)}"
                + (" (set num_classes to the network's number of outputs)" if logits.dim() == 2 else "")
            )
        self._add(logits.detach(), indices)

    def update_logits(self, logits: Tensor | np.ndarray, indices: Sequence[int] | np.ndarray | None = None) -> None:
        """Add N x C logits computed elsewhere (without the fc bias, for the standard IS)."""
        self.update(logits=logits, indices=indices)

    def forward(
        self, images: Any = None, indices: Any = None, *, logits: Any = None
    ) -> InceptionOutput | Tensor | None:
        """``metric(images)``: update, and return the batch's network output if ``return_features``.

        (torchmetrics' ``forward`` would return the score of the batch alone, which for IS
        splits and a batch of a few images is not a number anyone should log.)
        """
        self.update(images, indices, logits=logits)
        return self.last_output

    def _device_for_network(self) -> torch.device:
        return self.run_device or torch.device(self.device)

    def _forward(self, images: Any) -> Tensor:
        u8 = images_to_uint8(images, self.image_range, "update: images")
        device = self._device_for_network()
        x = preprocess(u8, device)  # N x 3 x 299 x 299 float32
        with torch.no_grad():
            if "inception" in self._nets:
                runner = self._runner(device)
                bias = self._nets["inception"].fc.bias
                out: Any = _inception_outputs(runner, bias, x) if self.return_features else runner(x)
            else:
                out = self._nets["custom"](x)
        logits = out.logits_unbiased if isinstance(out, InceptionOutput) else out
        if not isinstance(logits, Tensor):
            raise InputError(f"network: returned a {type(out).__name__}; expected InceptionOutput or N x C logits")
        self.last_output = out if self.return_features else None
        return logits

    def _runner(self, device: torch.device) -> Runner:
        cached = self._nets.get("runner")
        if cached is None or cached.device != device:
            net: InceptionV3 = self._nets["inception"]
            self._nets["runner"] = Runner(net, device, self.precision)
        return self._nets["runner"]  # type: ignore[no-any-return]

    def _rank_world(self) -> tuple[int, int]:
        if not (dist.is_available() and dist.is_initialized()):
            return 0, 1
        group = getattr(self, "process_group", None)
        return dist.get_rank(group), dist.get_world_size(group)

    def _indices(self, n: int, indices: Any) -> tuple[np.ndarray, bool]:
        if indices is None:
            rank, world = self._rank_world()
            return rank + world * (self._next + np.arange(n, dtype=np.int64)), True
        idx = np.asarray(indices.cpu() if isinstance(indices, Tensor) else indices)
        if idx.shape != (n,) or not np.issubdtype(idx.dtype, np.integer):
            raise InputError(f"update: indices must be {n} integers (one per image), got {idx.dtype} {idx.shape}")
        if n and idx.min() < 0:
            raise InputError(f"update: image indices must be non-negative, got {int(idx.min())}")
        return idx.astype(np.int64), False

    def _add(self, logits: Tensor, indices: Any) -> None:
        n = logits.shape[0]
        idx, counted = self._indices(n, indices)
        state_device = self._state_device()
        if self.plan is not None:
            if n and idx.max() >= self.plan.num_images:
                raise InputError(
                    f"update: image index {int(idx.max())} is beyond num_samples={self.plan.num_images}: more images "
                    f"than the metric was set up for (call reset() between evaluations; under torch.distributed "
                    f"the default index of a rank's k-th image is rank + k * world_size)"
                )
            p, plogp = probabilities(logits.to(state_device))
            ids = torch.from_numpy(self.plan.split_of(idx)).to(state_device)
            self._accumulator().add_probabilities(p, plogp, ids)
            self.seen.index_add_(
                0, torch.from_numpy(idx).to(state_device), torch.ones(n, dtype=torch.int32, device=state_device)
            )
        else:
            self.logits.append(logits.to(state_device, torch.float32))
            self.indices.append(torch.from_numpy(idx).to(state_device))
        if counted:
            self._next += n

    def _state_device(self) -> torch.device:
        return torch.device(self.device)

    def _accumulator(self, states: dict[str, Any] | None = None) -> ISAccumulator:
        """An ISAccumulator whose sums are this metric's state tensors (updates land in the state)."""
        assert self.plan is not None
        acc = ISAccumulator.__new__(ISAccumulator)
        acc.num_splits, acc.num_classes = self.plan.num_splits, self.num_classes
        for name in ISAccumulator.FIELDS:
            setattr(acc, name, states[name] if states is not None else getattr(self, name))
        return acc

    # ----------------------------------------------------------------------- results

    def _states(self) -> dict[str, Any]:
        if TORCHMETRICS:  # torchmetrics has synced the states before calling compute()
            return {name: getattr(self, name) for name in self._defaults}
        return self._synced_states()  # type: ignore[no-any-return]

    def compute(self) -> Result:
        """The score of every image given since ``reset()`` (on every rank, after DDP sync)."""
        states = self._states()
        if self.plan is not None:
            seen = states["seen"].cpu()
            missing = int((seen == 0).sum())
            if missing:
                first = int((seen == 0).nonzero()[0])
                raise InputError(
                    f"compute: {missing} of num_samples={self.plan.num_images} images have not been given "
                    f"(first missing: index {first}); the protocol splits all {self.plan.num_images}, so give the "
                    f"rest, or set num_samples to the number of images you score"
                )
            if bool((seen > 1).any()):
                twice = int((seen > 1).nonzero()[0])
                raise InputError(
                    f"compute: image index {twice} was given {int(seen[twice])} times; each of the "
                    f"num_samples={self.plan.num_images} images must be given once (DistributedSampler padding?)"
                )
            acc, plan = self._accumulator(states), self.plan
        else:
            acc, plan = self._from_logits(states)
        scores = acc.split_scores()
        fields = _describe(acc, self.protocol, named="inception" in self._nets and self.num_classes == 1008)
        return Result(
            inception_score_mean=float(np.mean(scores)),
            inception_score_std=float(np.std(scores)),
            split_scores=[float(s) for s in scores],
            num_images=plan.num_images,
            splits=plan.num_splits,
            protocol=self.protocol,
            weights_sha256=self.weights_sha256,
            weights_path=self.weights_path,
            weights_source=self.weights_source,
            precision=self.precision if "inception" in self._nets else "custom network",
            package_version=__version__,
            torch_version=torch.__version__,
            device=str(self._device_for_network()),
            **fields,
        )

    def _from_logits(self, states: dict[str, Any]) -> tuple[ISAccumulator, SplitPlan]:
        logits = _cat(states["logits"], self.num_classes, torch.float32)
        indices = _cat(states["indices"], 0, torch.int64).to(logits.device)
        if len(logits) == 0:
            raise InputError("compute: no images were given to update()")
        order = torch.argsort(indices, stable=True)
        ordered = indices[order]
        repeated = (ordered[1:] == ordered[:-1]).nonzero()
        if len(repeated):
            raise InputError(
                f"compute: image index {int(ordered[int(repeated[0])])} was given more than once; under "
                f"torch.distributed each rank's k-th image is rank + k * world_size unless update() gets indices="
            )
        plan = SplitPlan(self.protocol, len(logits), self.splits)
        acc = ISAccumulator(plan.num_splits, self.num_classes, logits.device)
        for lo in range(0, len(logits), LOGITS_CHUNK):
            rows = order[lo : lo + LOGITS_CHUNK]
            acc.update(logits[rows], plan.split_of(np.arange(lo, lo + len(rows))))
        return acc, plan

    def reset(self) -> None:
        """Forget every image (and the default index counter)."""
        super().reset()
        self._next = 0
        self.last_output = None

    def merge(self, other: InceptionScore) -> InceptionScore:
        """Add the images of ``other`` (a metric with the same options) to this one; returns self."""
        if (self.protocol, self.splits, self.num_samples, self.num_classes) != (
            other.protocol,
            other.splits,
            other.num_samples,
            other.num_classes,
        ):
            raise OptionsError("merge: the metrics differ in protocol, splits, num_samples or num_classes")
        for name in self._reductions:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, Tensor):
                setattr(self, name, mine + theirs.to(mine.device))
            else:
                setattr(self, name, list(mine) + [t.to(self._state_device()) for t in theirs])
        if TORCHMETRICS:  # the cached result is stale, and compute() must not warn "before update"
            self._computed = None
            self._update_count += other._update_count
        return self


def _describe(acc: ISAccumulator, protocol: str, named: bool) -> dict[str, Any]:
    """The diagnostics fields of :func:`~inception_score.diagnostics.describe`; its warnings
    (fewer than 50k images...) go into ``warnings`` instead of being raised, as a training loop
    would see them at every evaluation."""
    from .diagnostics import describe

    fields = dict(describe(acc, protocol, named=named))
    fields["warnings"] = list(fields.pop("diagnostic_warnings"))  # type: ignore[call-overload]
    return fields
