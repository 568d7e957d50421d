"""uint8 images -> :class:`~inception_score.features.outputs.NetworkOutputs`, for a run or a metric object.

An :class:`Extractor` is the whole feature side of a run: how images are prepared for each
network (TF1 resize and scaling for Inception; a classifier's own size and normalisation; DINOv2's
and CLIP's own resizes), the networks on their device and precision (halving batches on GPU
out-of-memory), which output fields are computed, and the refusal of non-finite outputs.

**One decode, several networks.** The run decodes each batch once and calls the extractor once;
the extractor gives the same uint8 images to its first network (the one that gives the logits
of IS: Inception, or what stands in for it) and to each :class:`FeatureNetwork` beside it
(``dinov2``, ``clip``: one output field each, built by :func:`feature_network` only when a
requested metric reads its field), and returns all their fields in one
:class:`~.outputs.NetworkOutputs`. A call may ask for some fields only (``extractor(images,
fields=("dinov2",))``): then only the networks that give them run (a reference pass for
FD_DINOv2 alone runs no Inception).

The first network is one of three kinds:

* the 2015 Inception graph (:func:`inception_extractor`): its weights are located and verified,
  and the prepared network is **kept** between calls that ask for the same weights, device,
  precision, compilation and fields (a training loop that scores every few thousand steps would
  otherwise load 95 MB, fold batch norm and recompile each time); one is kept, so the memory held
  between calls is one network's; :func:`release_network` drops it;
* a custom network standing in for it (:func:`custom_extractor`): it takes the preprocessed
  299x299 batch and returns N x C logits or an NetworkOutputs; its score is not the standard IS;
* another classifier as p(y|x) (:func:`classifier_extractor`, ``--classifier``).

Example:
    >>> import torch
    >>> probe = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    >>> ex = custom_extractor(lambda x: torch.zeros(len(x), 5), torch.device("cpu"), probe=probe)
    >>> out = ex(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    >>> ex.num_classes, out.present()
    (5, ('logits_unbiased',))
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import InputError, OptionsError, warn
from .classifier import classifier_input
from .network import InceptionV3
from .outputs import FIELDS, NetworkOutputs
from .preprocess import preprocess
from .runner import HalvingOnOOM, Runner, fast_plan
from .spaces import SPACES
from .weights import ResolvedWeights, load_state_dict, locate_weights

__all__ = [
    "Extractor",
    "FeatureNetwork",
    "feature_network",
    "FACTORIES",
    "NonFiniteOutput",
    "load_network",
    "release_network",
    "inception_extractor",
    "custom_extractor",
    "classifier_extractor",
]


class NonFiniteOutput(ValueError):
    """The network gave NaN or inf for image ``row`` of a batch, in output ``field``."""

    def __init__(self, row: int, field: str, network: str | None = None) -> None:
        super().__init__(f"row {row}: {field} holds NaN or inf")
        self.row, self.field, self.network = row, field, network


def _check_finite(name: str, value: Tensor, network: str | None = None) -> None:
    finite = torch.isfinite(value.reshape(len(value), -1)).all(dim=1)
    if not bool(finite.all()):
        raise NonFiniteOutput(int((~finite).nonzero()[0]), name, network)


@dataclass
class FeatureNetwork:
    """A network beside the first one, on the same decoded images: uint8 images -> one output field.

    ``prepare`` takes what the run decodes (a uint8 N x 3 x H x W tensor, or a list of
    3 x H x W tensors of different sizes) and gives the network's float input; ``forward`` gives
    N x ``dim`` float vectors. ``cache_tag`` names what besides the weights and the precision
    changes its numbers (the preprocessing: ``--dinov2-resize``), for ``--cache``.
    ``check``: called with each prepared batch and its vectors (``--check-precision``).
    """

    field: str  # the NetworkOutputs field it fills: dinov2, clip
    prepare: Callable[[Any], Tensor]
    forward: Callable[[Tensor], Tensor]
    dim: int
    weights: ResolvedWeights | None
    description: str
    precision: str = "exact"
    cache_tag: str = ""
    check: Callable[[Tensor, Tensor], None] | None = field(default=None, repr=False)

    def __call__(self, images: Tensor | list[Tensor], device: torch.device) -> Tensor:
        """The batch's vectors, N x ``dim`` float32 on ``device``; NonFiniteOutput for NaN or inf."""
        x = self.prepare(images, device=device)  # the float work of the resize on the network's device
        vectors = self.forward(x).float()
        if vectors.dim() != 2 or vectors.shape[1] != self.dim:
            raise InputError(f"{self.description}: gave shape {tuple(vectors.shape)}, expected N x {self.dim}")
        _check_finite(self.field, vectors, self.description)
        if self.check is not None:
            self.check(x, vectors)
        return vectors


@dataclass
class Extractor:
    """uint8 images (N x 3 x H x W tensor, or a list of 3 x H x W) -> NetworkOutputs on ``device``.

    The first network (``prepare``, ``forward``: Inception, a custom network or a classifier)
    gives ``fields``; each of ``networks`` one field more (see the module docstring).
    ``check``: called with each prepared batch and the first network's outputs (``--check-precision``).
    """

    prepare: Callable[..., Tensor]  # uint8 images -> the network's float input, on the device
    forward: Callable[[Tensor], NetworkOutputs]  # prepared batch -> outputs
    device: torch.device
    num_classes: int
    fields: tuple[str, ...]  # the output fields computed
    weights: ResolvedWeights | None = None  # the Inception weights; None for a custom network or classifier
    description: str = "the 2015 Inception graph"
    fast_dtype: str | None = None  # what --precision fast ran in ("bfloat16", or "float32" without bf16 units)
    check: Callable[[Tensor, NetworkOutputs], None] | None = field(default=None, repr=False)
    networks: list[FeatureNetwork] = field(default_factory=list)  # beside the first: dinov2, clip

    @property
    def named(self) -> bool:
        """Whether the outputs are the 2015 graph's 1008 named classes."""
        return self.weights is not None

    @property
    def output_fields(self) -> tuple[str, ...]:
        """Every field a call gives: the first network's, then one per feature network."""
        return (*self.fields, *(n.field for n in self.networks))

    @property
    def dims(self) -> dict[str, int]:
        """The width of each vector field this extractor gives (pool3: 2048; dinov2: 1024 or a test network's)."""
        out = {"pool3": SPACES["pool3"].dim} if "pool3" in self.fields else {}
        return {**out, **{n.field: n.dim for n in self.networks}}

    def runs_first(self, fields: Any = None) -> bool:
        """Whether a call for ``fields`` (None: all) runs the first network."""
        return fields is None or bool(set(fields) & set(self.fields))

    def first(self, images: Tensor | list[Tensor]) -> NetworkOutputs:
        """The first network's outputs alone."""
        x = self.prepare(images, device=self.device)
        outputs = self.forward(x)
        for name in outputs.present():
            _check_finite(name, outputs.require(name))
        if self.check is not None:
            self.check(x, outputs)
        return outputs

    def __call__(self, images: Tensor | list[Tensor], fields: Any = None) -> NetworkOutputs:
        """Every network's outputs for the images (decoded once); with ``fields``, only the networks giving them."""
        outputs = self.first(images) if self.runs_first(fields) else NetworkOutputs()
        for network in self.networks:
            if fields is None or network.field in fields:
                setattr(outputs, network.field, network(images, self.device))
        return outputs


def load_network(
    weights: str | os.PathLike[str] | None, device: torch.device, progress: bool = True
) -> tuple[InceptionV3, ResolvedWeights]:
    """Find, verify and load the 2015 Inception weights into a network in eval mode on ``device``.

    Example:
        >>> net, found = load_network(None, torch.device("cpu"))  # doctest: +SKIP
        >>> found.sha256[:8]  # doctest: +SKIP
        '6726825d'
    """
    resolved = locate_weights(weights, progress=progress)
    net = InceptionV3()
    net.load_checkpoint(load_state_dict(resolved.path), origin=str(resolved.path))
    return net.eval().requires_grad_(False).to(device), resolved


_KEPT: dict[tuple[Any, ...], Runner] = {}


def release_network() -> None:
    """Drop the network that :func:`inception_score.compute` keeps between calls (its host or GPU
    memory is freed once nothing else refers to it; on GPU, ``torch.cuda.empty_cache()`` then
    returns it to the driver). The next call loads the weights again.

    Example:
        >>> import inception_score
        >>> inception_score.release_network()
    """
    _KEPT.clear()
    _KEPT_NETWORKS.clear()


def inception_runner(
    weights: str | os.PathLike[str] | None,
    device: torch.device,
    precision: str,
    fields: tuple[str, ...],
    compile: bool = False,
    batch_size: int | None = None,
    progress: bool = True,
) -> tuple[ResolvedWeights, Runner]:
    """The prepared 2015 network for these settings, kept from the previous call when it asked for the same."""
    resolved = locate_weights(weights, progress=progress)
    dtype = fast_plan(device)[0] if precision == "fast" else torch.float32  # the environment may change it
    key = (resolved.sha256, str(device), precision, dtype, compile, batch_size if compile else None,
           tuple(sorted(fields)))  # fmt: skip
    if _KEPT.get(key) is None:
        _KEPT.clear()
        net, _ = load_network(resolved.path, device, progress=progress)
        _KEPT[key] = Runner(net, device, precision, compile=compile, batch_size=batch_size, fields=fields)
    return resolved, _KEPT[key]


def inception_extractor(
    weights: str | os.PathLike[str] | None,
    device: torch.device,
    precision: str = "exact",
    fields: tuple[str, ...] = ("logits_unbiased", "logits", "pool3"),
    compile: bool = False,
    batch_size: int | None = None,
    progress: bool = True,
    resize: str = "tf1",
) -> Extractor:
    """The 2015 Inception graph as an :class:`Extractor` (TF1 resize to 299, (x - 128) / 128; or
    another tool's resize and scaling, ``resize``: :data:`~.preprocess.RESIZE_MODES`)."""
    resolved, runner = inception_runner(weights, device, precision, fields, compile, batch_size, progress)
    if runner.note:
        warn(runner.note)  # said before the work, and recorded in the result: not what "fast" usually means
    fast_dtype = str(runner.dtype).removeprefix("torch.") if precision == "fast" else None
    prepare = preprocess if resize == "tf1" else partial(preprocess, resize=resize)
    return Extractor(prepare, HalvingOnOOM(runner), device, 1008, runner.fields, resolved, fast_dtype=fast_dtype)


def _as_outputs(out: Any, description: str) -> NetworkOutputs:
    if isinstance(out, NetworkOutputs):
        return out
    if isinstance(out, Tensor) and out.dim() == 2:
        return NetworkOutputs(logits_unbiased=out.float())
    shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
    raise InputError(f"{description}: returned {shape}; expected N x C logits or an NetworkOutputs")


def custom_extractor(
    network: Callable[[Tensor], Any],
    device: torch.device,
    prepare: Callable[..., Tensor] = preprocess,
    probe: Tensor | list[Tensor] | None = None,
    description: str = "custom network",
) -> Extractor:
    """A network standing in for Inception: ``network(prepare(images))`` gives N x C logits or an
    NetworkOutputs. Its number of classes comes from one probe image (``probe``, uint8; default
    a black 299x299 image)."""
    if isinstance(network, nn.Module):
        network = network.to(device).eval()

    def forward(x: Tensor) -> NetworkOutputs:
        return _as_outputs(network(x), description)

    guarded = HalvingOnOOM(forward)
    probe = probe if probe is not None else torch.zeros(1, 3, 299, 299, dtype=torch.uint8)
    with torch.inference_mode():
        first = guarded(prepare(probe, device=device))
    present = first.present()
    if "logits_unbiased" not in present:
        raise InputError(f"{description}: its output has no logits_unbiased (it holds {', '.join(present)})")
    num_classes = int(first.require("logits_unbiased").shape[1])
    return Extractor(prepare, guarded, device, num_classes, tuple(f for f in FIELDS if f in present), None, description)


def classifier_extractor(
    model: Callable[[Tensor], Any],
    device: torch.device,
    size: int | None,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    probe: Tensor | list[Tensor],
    spec: str,
) -> Extractor:
    """``--classifier``: any classifier's logits as p(y|x), on its own input size and normalisation."""
    prepare = partial(classifier_input, size=size, mean=mean, std=std)
    return custom_extractor(model, device, prepare, probe, description=f"classifier {spec}")


def require_inception(extractor: Extractor, what: str) -> ResolvedWeights:
    """The Inception weights of ``extractor``; OptionsError when ``what`` needs them and it has none."""
    if extractor.weights is None:
        raise OptionsError(f"{what}: needs the Inception network (a custom network has no weights hash to key on)")
    return extractor.weights


# ---------------------------------------------------------------- the networks beside Inception

#: field -> factory ``(weights path or None, device, precision, **preprocessing)`` returning
#: ``(prepare, forward, ResolvedWeights)``; filled on first use from the network's own module
#: (features/dinov2.py, features/clip.py); tests may put a stand-in here
FACTORIES: dict[str, Callable[..., tuple[Callable[..., Tensor], Callable[[Tensor], Tensor], ResolvedWeights]]] = {}
_NAMES = {"dinov2": "DINOv2 ViT-L/14", "clip": "CLIP ViT-L/14@336"}
_KEPT_NETWORKS: dict[tuple[Any, ...], FeatureNetwork] = {}


def _factory(field_name: str) -> Callable[..., Any]:
    if field_name not in FACTORIES:
        if field_name == "dinov2":
            from .dinov2 import build_dinov2  # type: ignore[import-not-found,unused-ignore]

            FACTORIES["dinov2"] = build_dinov2
        elif field_name == "clip":
            from .clip import build_clip  # type: ignore[import-not-found,unused-ignore]

            FACTORIES["clip"] = build_clip
        else:
            raise OptionsError(f"no network gives the field {field_name!r}; known: {', '.join(_NAMES)}")
    return FACTORIES[field_name]


def _width(forward: Callable[[Tensor], Tensor], prepare: Callable[..., Tensor], device: torch.device) -> int:
    """The width of a network's vectors, from one probe image (a full-size network gives its
    documented width; a smaller configuration of the same code, in tests, its own)."""
    probe = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    with torch.inference_mode():
        return int(forward(prepare(probe, device=device)).shape[1])


def feature_network(
    field_name: str,
    weights: str | os.PathLike[str] | None,
    device: torch.device,
    precision: str = "exact",
    progress: bool = True,
    **preprocessing: Any,
) -> FeatureNetwork:
    """The network that gives ``field_name`` (``dinov2``, ``clip``), its weights located and verified.

    Kept between calls with the same settings (as the Inception network is; :func:`release_network`
    drops it). ``preprocessing``: the network's options (``resize="torch"`` for DINOv2), passed to its factory.
    """
    factory = _factory(field_name)
    key = (
        field_name,
        os.fspath(weights) if weights else None,
        str(device),
        precision,
        tuple(sorted(preprocessing.items())),
    )
    kept = _KEPT_NETWORKS.get(key)
    if kept is not None:
        return kept
    prepare, forward, resolved = factory(weights, device, precision, progress=progress, **preprocessing)
    tag = "-".join(f"{k}-{v}" for k, v in sorted(preprocessing.items()))
    network = FeatureNetwork(
        field_name, prepare, HalvingOnOOM(forward), _width(forward, prepare, device), resolved,
        _NAMES.get(field_name, field_name), precision, tag,
    )  # fmt: skip
    if len(_KEPT_NETWORKS) >= 4:  # a fast and an exact copy of each of two networks at most
        _KEPT_NETWORKS.clear()
    _KEPT_NETWORKS[key] = network
    return network
