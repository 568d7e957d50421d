"""uint8 images -> :class:`~inception_score.features.network.InceptionOutput`, for a run or a metric object.

An :class:`Extractor` is the whole feature side of a run: how images are prepared for the
network (TF1 resize and scaling for Inception; a classifier's own size and normalisation), the
network on its device and precision (halving batches on GPU out-of-memory), which output fields
are computed, and the refusal of non-finite outputs. Three kinds:

* the 2015 Inception graph (:func:`inception_extractor`): its weights are located and verified,
  and the prepared network is **kept** between calls that ask for the same weights, device,
  precision, compilation and fields (a training loop that scores every few thousand steps would
  otherwise load 95 MB, fold batch norm and recompile each time); one is kept, so the memory held
  between calls is one network's; :func:`release_network` drops it;
* a custom network standing in for it (:func:`custom_extractor`): it takes the preprocessed
  299x299 batch and returns N x C logits or an InceptionOutput; its score is not the standard IS;
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
from .network import FIELDS, InceptionOutput, InceptionV3
from .preprocess import preprocess
from .runner import HalvingOnOOM, Runner, fast_plan
from .weights import ResolvedWeights, load_state_dict, locate_weights

__all__ = [
    "Extractor",
    "NonFiniteOutput",
    "load_network",
    "release_network",
    "inception_extractor",
    "custom_extractor",
    "classifier_extractor",
]


class NonFiniteOutput(ValueError):
    """The network gave NaN or inf for image ``row`` of a batch, in output ``field``."""

    def __init__(self, row: int, field: str) -> None:
        super().__init__(f"row {row}: {field} holds NaN or inf")
        self.row, self.field = row, field


@dataclass
class Extractor:
    """uint8 images (N x 3 x H x W tensor, or a list of 3 x H x W) -> InceptionOutput on ``device``.

    ``check``: called with each prepared batch and its outputs (``--check-precision`` hooks in here).
    """

    prepare: Callable[..., Tensor]  # uint8 images -> the network's float input, on the device
    forward: Callable[[Tensor], InceptionOutput]  # prepared batch -> outputs
    device: torch.device
    num_classes: int
    fields: tuple[str, ...]  # the output fields computed
    weights: ResolvedWeights | None = None  # the Inception weights; None for a custom network or classifier
    description: str = "the 2015 Inception graph"
    fast_dtype: str | None = None  # what --precision fast ran in ("bfloat16", or "float32" without bf16 units)
    check: Callable[[Tensor, InceptionOutput], None] | None = field(default=None, repr=False)

    @property
    def named(self) -> bool:
        """Whether the outputs are the 2015 graph's 1008 named classes."""
        return self.weights is not None

    def __call__(self, images: Tensor | list[Tensor]) -> InceptionOutput:
        x = self.prepare(images, device=self.device)
        outputs = self.forward(x)
        for name in outputs.present():
            value = outputs.require(name)
            finite = torch.isfinite(value.reshape(len(value), -1)).all(dim=1)
            if not bool(finite.all()):
                raise NonFiniteOutput(int((~finite).nonzero()[0]), name)
        if self.check is not None:
            self.check(x, outputs)
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


def _as_outputs(out: Any, description: str) -> InceptionOutput:
    if isinstance(out, InceptionOutput):
        return out
    if isinstance(out, Tensor) and out.dim() == 2:
        return InceptionOutput(logits_unbiased=out.float())
    shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
    raise InputError(f"{description}: returned {shape}; expected N x C logits or an InceptionOutput")


def custom_extractor(
    network: Callable[[Tensor], Any],
    device: torch.device,
    prepare: Callable[..., Tensor] = preprocess,
    probe: Tensor | list[Tensor] | None = None,
    description: str = "custom network",
) -> Extractor:
    """A network standing in for Inception: ``network(prepare(images))`` gives N x C logits or an
    InceptionOutput. Its number of classes comes from one probe image (``probe``, uint8; default
    a black 299x299 image)."""
    if isinstance(network, nn.Module):
        network = network.to(device).eval()

    def forward(x: Tensor) -> InceptionOutput:
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
