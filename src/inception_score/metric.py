"""The Inception Score as a metric object for training loops, in the style of ``torchmetrics.Metric``.

``update(images)`` runs the network on a batch and adds it to the state; ``compute()`` gives the
same :class:`~inception_score.report.result.Result` as :func:`inception_score.compute` on the same
images (the same accumulators and the one result builder: mean, std, splits, sharpness,
diversity, ci95, is_infinity, near-duplicates...), except that the warnings go into
``result.warnings`` instead of being shown at every evaluation. It subclasses
``torchmetrics.Metric`` when torchmetrics is installed (DDP sync, ``.to(device)``, Lightning
logging); without it, a small base class offers the same methods and syncs over
``torch.distributed`` itself. torchmetrics stays optional for the package. Options are validated
by :class:`~inception_score.options.Options`, as for ``compute()``.

Two ways to keep the state, both exact:

* ``num_samples=N`` (memory independent of how many batches): the accumulators' own tensors, as
  metric states summed over ranks (``dist_reduce_fx="sum"``): the per-split sums, the bootstrap
  (200 replicates: 16 MB for 10 splits), the nested subsets, plus, with the Inception network,
  the near-duplicate rows (4 KB per image of the first 50,000: 200 MB at 50k) and one int32 count
  per image index so that ``compute()`` knows that every image arrived exactly once.
  ``compute()`` before all N images arrived is an InputError saying how many are missing: the
  protocol splits N images, and a score over fewer would be a different number under the same
  name.
* no ``num_samples``: every image's logits (4 KB) and, with the Inception network, its pool3
  features (8 KB), kept on the metric's device, and its index; ``compute()`` orders them by index
  and feeds the accumulators of all of them, in chunks of 4096 images. DDP gathers them with
  ``dist_reduce_fx="cat"``; sorting by index makes the result independent of the order in which
  ranks arrive. (Under torchmetrics' DDP sync every rank must have updated at least once before
  ``compute()``: it cannot gather an empty list with N x C ones.)

Which image is which: an image's index decides its split (torch-fidelity's protocol permutes N
images with a fixed seed). ``update(images, indices=...)`` says it; by default the k-th image
this process updates is image ``rank + k * world_size`` under ``torch.distributed`` (the order
``DistributedSampler(shuffle=False)`` deals images out), and image k in one process.
``DistributedSampler`` pads the last round with repeated images unless ``drop_last=True``: with
``num_samples`` that is an error (an index beyond N), without it the repeats are scored.

One network pass for several metrics: with ``return_features=True``, ``update`` keeps the batch's
:class:`~inception_score.features.outputs.NetworkOutputs` (``logits_unbiased``, ``logits``,
``pool3``) in ``last_output``, and ``metric(images)`` returns it, so FID can be fed from the same
pass. ``update(logits=...)`` / :meth:`InceptionScore.update_logits` score logits computed
elsewhere; the network is loaded on the first update with images, never for logits (the
near-duplicate fields are then left out: logits carry no pool3).

Example:
    >>> import torch
    >>> planted = lambda x: torch.eye(4)[torch.arange(len(x)) % 4] * 50  # 4 classes, evenly
    >>> metric = InceptionScore(network=planted, num_classes=4, splits=1)
    >>> metric.update(torch.zeros(8, 3, 16, 16, dtype=torch.uint8))
    >>> round(metric.compute().mean, 6)
    4.0
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from ._version import __version__
from .errors import InputError, OptionsError
from .features.extractor import Extractor, NonFiniteOutput, custom_extractor, feature_network, inception_extractor
from .features.outputs import NetworkOutputs
from .features.spaces import SPACES
from .inputs.arrays import images_to_uint8
from .metrics.base import Accumulator
from .metrics.frechet import spatial_vectors
from .metrics.names import spaces_of
from .metrics.reference import Reference
from .metrics.registry import MetricSpec, build_accumulators
from .options import Options
from .presets import match_record
from .report.result import Result, build_result
from .run.measurement import Measurement
from .run.plan import resolve_device

__all__ = ["InceptionScore", "TORCHMETRICS"]

LOGITS_CHUNK = 4096  # images fed to the accumulators at a time in compute()


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


class InceptionScore(_Base):  # type: ignore[misc,valid-type]
    """The Inception Score of the images passed to ``update`` since the last ``reset``.

    Args:
        weights: Inception weights file; default as :func:`inception_score.compute` finds them.
        splits: number of splits; default: the protocol's (10; ``adm`` uses chunks of 5000).
        protocol: ``torch-fidelity`` (default), ``original``, ``adm`` or ``torchmetrics`` (see the README).
        num_samples: the number N of images that will be scored: constant memory (see the
            module docstring); None: keep every image's outputs until ``compute``.
        network: stands in for the Inception network: takes the preprocessed N x 3 x 299 x 299
            batch and returns :class:`~inception_score.features.outputs.NetworkOutputs` or N x C
            logits (C = ``num_classes``); it must already be on the device the metric runs on. Its
            score is not the standard IS.
        device: where the network runs; default: the metric's device (``metric.to(...)``).
        precision: ``exact`` or ``fast`` (see the README).
        image_range: the range of float images, e.g. (0, 1), (-1, 1) or (0, 255), rounded to
            uint8 as the files would be; None: only uint8 images are accepted. uint8 always is.
        return_features: keep each batch's network output in ``last_output`` (and return it
            from ``metric(images)``).
        num_classes: the network's number of outputs (1008 for Inception).
        bootstrap, seed: as for :func:`inception_score.compute` (ci95; is_infinity's subsets).
        ref, metrics, kid_subsets, kid_subset_size, fid_infinity, pr_precision, prdc_k: the
            comparison metrics, as for :func:`inception_score.compute` (``metrics`` may name the
            DINOv2 and CLIP ones: ``fd_dinov2``, ``cmmd``...; their networks run beside Inception
            on each batch, and only then). ``ref`` may be a published reference's name
            (``edm2:img512``, ``inception-score refs``), pinned with ``ref_sha256``.
        dinov2_weights, dinov2_resize, clip_weights, cmmd_drop_remainder: as for
            :func:`inception_score.compute` (``--dinov2-weights`` ...).
        match: another tool's numbers (``"clean-fid"``, ``"stylegan"``, ``"dgm-eval"``...: README
            "Which number do you want?"): sets each of resize, protocol, cov_divisor,
            kid_protocol, kid_subsets, kid_subset_size, pr_k, pr_precision, prdc_k,
            prdc_subsample and dinov2_resize that is left None; ``result.match`` records it.
        resize, cov_divisor, kid_protocol, kid_seed, pr_k, prdc_subsample: as for
            :func:`inception_score.compute` (``--resize`` ...). None, for these and for
            protocol, kid_subsets, kid_subset_size, pr_precision, prdc_k, dinov2_resize: the
            ``match`` preset's value, else the default.
        kwargs: options of ``torchmetrics.Metric`` (``process_group``, ``sync_on_compute``...).

    Raises:
        OptionsError: an option outside what is accepted (the same checks as ``compute()``).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    plot_lower_bound = 1.0

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        splits: int | None = None,
        protocol: str | None = None,
        num_samples: int | None = None,
        network: Callable[[Tensor], Any] | None = None,
        device: str | torch.device | None = None,
        precision: str = "exact",
        image_range: tuple[float, float] | None = (0.0, 1.0),
        return_features: bool = False,
        num_classes: int = 1008,
        bootstrap: int = 200,
        seed: int = 0,
        ref: Any = None,
        metrics: Sequence[str] | None = None,
        kid_subsets: int | None = None,
        kid_subset_size: int | None = None,
        fid_infinity: bool = False,
        pr_precision: str | None = None,
        prdc_k: int | None = None,
        dinov2_weights: str | os.PathLike[str] | None = None,
        dinov2_resize: str | None = None,
        clip_weights: str | os.PathLike[str] | None = None,
        cmmd_drop_remainder: bool = False,
        match: str | None = None,
        resize: str | None = None,
        cov_divisor: str | None = None,
        kid_protocol: str | None = None,
        kid_seed: int | None = None,
        pr_k: int | None = None,
        prdc_subsample: int | None = None,
        ref_sha256: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        given = {
            "splits": splits,
            "protocol": protocol,
            "weights": os.fspath(weights) if weights is not None else None,
            "num_samples": num_samples,
            "precision": precision,
            "device": str(device) if device is not None else None,
            "bootstrap": bootstrap,
            "seed": seed,
            "ref": ref,
            "metrics": metrics if metrics is None or isinstance(metrics, str) else tuple(metrics),  # "fid,kid" too
            "kid_subsets": kid_subsets,
            "kid_subset_size": kid_subset_size,
            "fid_infinity": fid_infinity,
            "pr_precision": pr_precision,
            "prdc_k": prdc_k,
            "dinov2_weights": os.fspath(dinov2_weights) if dinov2_weights is not None else None,
            "dinov2_resize": dinov2_resize,
            "clip_weights": os.fspath(clip_weights) if clip_weights is not None else None,
            "cmmd_drop_remainder": cmmd_drop_remainder,
            "match": match,
            "resize": resize,
            "cov_divisor": cov_divisor,
            "kid_protocol": kid_protocol,
            "kid_seed": kid_seed,
            "pr_k": pr_k,
            "prdc_subsample": prdc_subsample,
            "ref_sha256": ref_sha256,
        }
        # None is "not given": the default, or match's value (from_kwargs counts what it gets as explicit)
        self.options = Options.from_kwargs(**{k: v for k, v in given.items() if v is not None}, progress=False)
        from .checks import check_image_range, check_int

        self.num_classes = check_int(num_classes, "num_classes")
        self.image_range = check_image_range(image_range)
        self.return_features = return_features
        self.run_device = resolve_device(str(device)) if device is not None else None
        # Kept in a dict, not as attributes: nn.Module would register the network as a submodule,
        # putting 100 MB of Inception weights into every checkpoint of a model that holds the metric.
        self._nets: dict[str, Any] = {"custom": network} if network is not None else {}
        self.inception = network is None
        from .run.pipeline import check_network_options, resolve_metrics

        self.metrics, _ = resolve_metrics(self.options)
        check_network_options(self.options, self.metrics)
        # DINOv2 and CLIP run beside Inception only for the metrics in their space
        self.spaces = tuple(s for s in ("dinov2", "clip") if s in spaces_of(self.metrics))
        if self.spaces and not self.inception:
            raise OptionsError(
                "metrics: the DINOv2 and CLIP metrics run beside the Inception network, not a custom one"
            )
        self.reference: Reference | None = self._load_reference() if self.options.ref is not None else None
        # the width of each space's vectors (a small test network's may differ from the full one's)
        self._dims = self._extractor(self._device_for_network()).dims if self.spaces else {}
        self._accumulators: list[Accumulator] | None = None
        if num_samples is not None:
            self._accumulators = build_accumulators(self._spec(num_samples), reference=self.reference)
            for accumulator in self._accumulators:
                for key, tensor in accumulator.state().items():
                    self.add_state(f"{accumulator.name}__{key}", tensor.clone(), dist_reduce_fx="sum")
            self.add_state("seen", torch.zeros(num_samples, dtype=torch.int32), dist_reduce_fx="sum")
        else:
            self.add_state("logits", [], dist_reduce_fx="cat")
            self.add_state("indices", [], dist_reduce_fx="cat")
            if self.inception:
                self.add_state("pool3", [], dist_reduce_fx="cat")
            if "sfid" in self.metrics:
                self.add_state("spatial", [], dist_reduce_fx="cat")
            for space in self.spaces:  # DINOv2 features, CLIP embeddings: 4 and 3 KB an image
                self.add_state(space, [], dist_reduce_fx="cat")
        self.last_output: NetworkOutputs | None = None
        self._next = 0  # images this process has updated (for the default indexes)

    def _spec(self, num_images: int) -> MetricSpec:
        o = self.options
        named = self.inception and self.num_classes == 1008
        return MetricSpec(
            o.protocol, o.splits, num_images, self.num_classes, named, o.bootstrap, o.seed,
            metrics=self.metrics, fid_infinity=o.fid_infinity, kid_subsets=o.kid_subsets,
            kid_subset_size=o.kid_subset_size, pr_precision=o.pr_precision, pr_k=o.pr_k, prdc_k=o.prdc_k,
            prdc_subsample=o.prdc_subsample, resize=o.resize, cov_divisor=o.cov_divisor,
            kid_protocol=o.kid_protocol, kid_seed=o.kid_seed, cmmd_drop_remainder=o.cmmd_drop_remainder,
            feature_dims=tuple((s, d) for s, d in sorted(self._dims.items()) if d != SPACES[s].dim),
        )  # fmt: skip

    def _load_reference(self) -> Reference:
        """The reference of ``ref=``: read from a statistics file, or its images scored now, once,
        with this metric's network (a training loop should pass a file from ``inception-score stats``)."""
        from .run.pipeline import load_reference, published_reference
        from .run.plan import Work
        from .run.reference import ReferenceNeeds, check_reference_size, compare_provenance, reference_size

        if not self.inception:
            raise OptionsError("ref: FID and the other comparisons need the Inception network, not a custom one")
        o, published = published_reference(self.options)  # a name (edm2:img512): its local copy, downloaded once
        needs = ReferenceNeeds.of(self.metrics, o.fid_infinity)
        ref = o.ref
        # the reference's size against what the metrics need, before any image is scored
        size = reference_size(ref, o, needs)
        named = isinstance(ref, (str, os.PathLike))
        name = os.fsdecode(ref) if named else ", ".join(s.name for s in size.sources or ())
        check_reference_size(self.metrics, size, o, name, o.num_samples)
        device = self._device_for_network()
        extractor = self._extractor(device)
        work = Work(device, None, 64, (0, 0), (0, 0))
        try:  # as a run reads it: statistics files (what they lack from their images), pickles, divisor
            reference = load_reference(o, extractor, work, 0, needs, extractor, size)
        except InputError as exc:  # say that it is about the reference, not the samples
            raise exc if str(exc).startswith("ref:") else InputError(f"ref: {exc}") from None
        compare_provenance(reference.info, o.precision)  # a reference of another precision: warned about
        return dataclasses.replace(reference, info={**reference.info, **published}) if published else reference

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
            outputs = self._forward(images)
            self.last_output = outputs if self.return_features else None
        else:
            outputs = NetworkOutputs(logits_unbiased=torch.as_tensor(logits).detach())
            self.last_output = None
        logits_t = outputs.require("logits_unbiased")
        shape = tuple(logits_t.shape)
        if len(shape) != 2 or shape[1] != self.num_classes:
            raise InputError(
                f"update: expected logits of shape N x {self.num_classes}, got {shape}"
                + (" (set num_classes to the network's number of outputs)" if len(shape) == 2 else "")
            )
        finite = torch.isfinite(logits_t).all(dim=1)
        if not bool(finite.all()):  # refused now, not at compute() where the batch is long gone
            row = int((~finite).nonzero()[0])
            raise InputError(f"update: logits row {row} of the batch holds NaN or inf; no score can include it")
        self._add(outputs, indices)

    def update_logits(self, logits: Tensor | np.ndarray, indices: Sequence[int] | np.ndarray | None = None) -> None:
        """Add N x C logits computed elsewhere (without the fc bias, for the standard IS)."""
        self.update(logits=logits, indices=indices)

    def forward(self, images: Any = None, indices: Any = None, *, logits: Any = None) -> NetworkOutputs | None:
        """``metric(images)``: update, and return the batch's network output if ``return_features``.

        (torchmetrics' ``forward`` would return the score of the batch alone, which for IS
        splits and a batch of a few images is not a number anyone should log.)
        """
        self.update(images, indices, logits=logits)
        return self.last_output

    def _device_for_network(self) -> torch.device:
        return self.run_device or torch.device(self.device)

    def _extractor(self, device: torch.device) -> Extractor:
        """The network, loaded (and for Inception, verified) on first use."""
        cached = self._nets.get("extractor")
        if cached is None or cached.device != device:
            if self.inception:
                fields = ("logits_unbiased", "logits", "pool3", *(("spatial",) if "sfid" in self.metrics else ()))
                cached = inception_extractor(
                    self.options.weights, device, self.options.precision, fields, progress=False,
                    resize=self.options.resize,
                )  # fmt: skip
            else:
                cached = custom_extractor(self._nets["custom"], device, description="network")
            o = self.options
            for space in self.spaces:
                weights = o.dinov2_weights if space == "dinov2" else o.clip_weights
                extra = {"resize": o.dinov2_resize} if space == "dinov2" else {}
                cached.networks.append(feature_network(space, weights, device, o.precision, False, **extra))
            self._nets["extractor"] = cached
        return cached  # type: ignore[no-any-return]

    def _forward(self, images: Any) -> NetworkOutputs:
        u8 = images_to_uint8(images, self.image_range, "update: images")
        with torch.no_grad():
            try:
                return self._extractor(self._device_for_network())(u8)
            except NonFiniteOutput as exc:
                raise InputError(
                    f"update: the network gave NaN or inf for image {exc.row} of the batch ({exc.field})"
                ) from None

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

    def _add(self, outputs: NetworkOutputs, indices: Any) -> None:
        n = len(outputs)
        idx, counted = self._indices(n, indices)
        state_device = torch.device(self.device)
        outputs = outputs.to(state_device)
        if self._accumulators is not None:
            total = len(self.seen)
            if n and idx.max() >= total:
                raise InputError(
                    f"update: image index {int(idx.max())} is beyond num_samples={total}: more images "
                    f"than the metric was set up for (call reset() between evaluations; under torch.distributed "
                    f"the default index of a rank's k-th image is rank + k * world_size)"
                )
            for accumulator in self._bound():
                accumulator.update(outputs, idx)
            where = torch.from_numpy(idx).to(state_device)
            self.seen.index_add_(0, where, torch.ones(n, dtype=torch.int32, device=state_device))
        else:
            self.logits.append(outputs.require("logits_unbiased").to(torch.float32))
            self.indices.append(torch.from_numpy(idx).to(state_device))
            if self.inception:
                pool3 = outputs.pool3
                # logits given without features: NaN rows mark "no pool3" (near-duplicates are then left out)
                self.pool3.append(
                    pool3.float() if pool3 is not None else torch.full((n, 2048), float("nan"), device=state_device)
                )
            if "sfid" in self.metrics:
                if outputs.spatial is None:
                    raise InputError("update: sFID needs the spatial features: give images, not logits")
                self.spatial.append(spatial_vectors(outputs.spatial).float())  # 2023 numbers an image
            for space in self.spaces:
                if getattr(outputs, space) is None:
                    raise InputError(f"update: the {space} metrics need the images, not logits")
                getattr(self, space).append(getattr(outputs, space).float())
        if counted:
            self._next += n

    def _bound(self, states: dict[str, Any] | None = None) -> list[Accumulator]:
        """The accumulators, with this metric's state tensors (or ``states``) as their live state."""
        assert self._accumulators is not None
        for accumulator in self._accumulators:
            prefix = accumulator.name + "__"
            source = states if states is not None else {n: getattr(self, n) for n in self._defaults}
            accumulator.bind({k[len(prefix) :]: v for k, v in source.items() if k.startswith(prefix)})
        return self._accumulators

    # ----------------------------------------------------------------------- results

    def _states(self) -> dict[str, Any]:
        if TORCHMETRICS:  # torchmetrics has synced the states before calling compute()
            return {name: getattr(self, name) for name in self._defaults}
        return self._synced_states()  # type: ignore[no-any-return]

    def compute(self) -> Result:
        """The result over every image given since ``reset()`` (on every rank, after DDP sync):
        the same fields as :func:`inception_score.compute` on the same images."""
        states = self._states()
        if self._accumulators is not None:
            seen = states["seen"].cpu()
            total = len(seen)
            missing = int((seen == 0).sum())
            if missing:
                first = int((seen == 0).nonzero()[0])
                raise InputError(
                    f"compute: {missing} of num_samples={total} images have not been given "
                    f"(first missing: index {first}); the protocol splits all {total}, so give the "
                    f"rest, or set num_samples to the number of images you score"
                )
            if bool((seen > 1).any()):
                twice = int((seen > 1).nonzero()[0])
                raise InputError(
                    f"compute: image index {twice} was given {int(seen[twice])} times; each of the "
                    f"num_samples={total} images must be given once (DistributedSampler padding?)"
                )
            accumulators, spec = self._bound(states), self._spec(total)
        else:
            accumulators, spec = self._from_outputs(states)
        facts = self._facts(spec)
        try:
            return build_result(Measurement(accumulators, spec, facts), show_warnings=False)  # type: ignore[return-value]
        finally:
            if self._accumulators is not None:
                self._bound()  # back to the local (unsynced) state

    def _facts(self, spec: MetricSpec) -> dict[str, Any]:
        from .run.pipeline import network_facts

        extractor = self._nets.get("extractor")
        weights = extractor.weights if extractor is not None else None
        if weights is None and self.inception:  # logits only so far: name the weights they should come from
            from .features.weights import locate_weights

            try:
                weights = locate_weights(self.options.weights, progress=False)
            except Exception:  # compute() on given logits must not need (or download) the weights
                weights = None
        return {
            "num_images": spec.num_images,
            "splits": spec.plan().num_splits,
            "protocol": spec.protocol,
            "weights_sha256": weights.sha256 if weights else None,
            "weights_path": str(weights.path) if weights else None,
            "weights_source": weights.source if weights else ("custom network" if not self.inception else None),
            "precision": self.options.precision if self.inception else "custom network",
            "fast_dtype": extractor.fast_dtype if extractor is not None else None,
            "package_version": __version__,
            "torch_version": torch.__version__,
            "device": str(self._device_for_network()),
            "metrics": list(spec.metrics),
            "fid_reference": dict(self.reference.info) if self.reference is not None else None,
            "match": match_record(self.options),
            "resize": spec.resize,
            "cov_divisor": spec.cov_divisor,
            "kid_protocol": spec.kid_protocol if "kid" in spec.metrics else None,
            **(network_facts(extractor) if extractor is not None else {}),
        }

    def _from_outputs(self, states: dict[str, Any]) -> tuple[list[Accumulator], MetricSpec]:
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
        pool3 = _cat(states["pool3"], 2048, torch.float32).to(logits.device) if self.inception else None
        if pool3 is not None and bool(pool3.isnan().any()):
            pool3 = None  # some updates were logits alone: no near-duplicate statistics
        spatial = _cat(states["spatial"], 2023, torch.float32).to(logits.device) if "sfid" in self.metrics else None
        vectors = {s: _cat(states[s], self._dims[s], torch.float32).to(logits.device) for s in self.spaces}
        spec = self._spec(len(logits))
        accumulators = build_accumulators(spec, logits.device, self.reference)
        for lo in range(0, len(logits), LOGITS_CHUNK):
            rows = order[lo : lo + LOGITS_CHUNK]
            outputs = NetworkOutputs(logits_unbiased=logits[rows], pool3=pool3[rows] if pool3 is not None else None,
                                     **{s: v[rows] for s, v in vectors.items()})  # fmt: skip
            if spatial is not None:  # already flattened: the sFID accumulator takes them as they are
                outputs.memo["spatial_vectors"] = spatial[rows]
            for accumulator in accumulators:
                accumulator.update(outputs, np.arange(lo, lo + len(rows)))
        return accumulators, spec

    def reset(self) -> None:
        """Forget every image (and the default index counter)."""
        super().reset()
        self._next = 0
        self.last_output = None

    def merge(self, other: InceptionScore) -> InceptionScore:
        """Add the images of ``other`` (a metric with the same options) to this one; returns self."""

        def values(metric: InceptionScore) -> tuple[Any, ...]:  # the options' values, however they were given
            o = metric.options
            return (*(getattr(o, f.name) for f in dataclasses.fields(o) if f.name != "explicit"),
                    metric.num_classes, metric.inception)  # fmt: skip

        if values(self) != values(other):
            raise OptionsError("merge: the metrics differ in their options (protocol, splits, num_samples, ...)")
        for name in self._reductions:
            value, theirs = getattr(self, name), getattr(other, name)
            if isinstance(value, Tensor):
                setattr(self, name, value + theirs.to(value.device))
            else:
                setattr(self, name, list(value) + [t.to(self.device) for t in theirs])
        if TORCHMETRICS:  # the cached result is stale, and compute() must not warn "before update"
            self._computed = None
            self._update_count += other._update_count
        return self
