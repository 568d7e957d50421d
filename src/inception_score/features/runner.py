"""How the network runs on a device: ``exact`` IEEE fp32, or ``fast`` bf16, and optional compilation.

``exact`` (default) runs the network as the reference does: float32, NCHW, batch norm as its own
op, TF32 off on GPU. On CPU that is the same kernels as torch-fidelity, so the logits agree with it
to ~1e-7 and the score to ~1e-8 relative. (channels_last fp32 would be ~1.5x faster on CPU, but
its different convolution kernels move the score by ~2e-6 relative on our test checkpoint: not
the reference number, so exact does not use it.)

``fast`` trades a measured, reported deviation for speed: batch norm folded into the
convolutions, channels_last, bfloat16 weights and activations (the CPU's AVX-512 BF16 / AMX
units, the GPU's tensor cores), and the final 2048 -> 1008 projection in float32 (it costs
nothing and keeps the logits' rounding small). ``compile=True`` adds ``torch.compile``
(inductor, with freezing on CPU); compiled graphs are cached on disk by inductor, but the first
compilation takes tens of seconds to minutes, so it is off unless asked for.

Example:
    >>> import torch
    >>> from .network import InceptionV3
    >>> runner = Runner(InceptionV3().eval(), torch.device("cpu"), precision="fast")
    >>> out = runner(torch.zeros(2, 3, 299, 299))
    >>> out.logits_unbiased.dtype, out.pool3.shape, out.spatial is None
    (torch.float32, torch.Size([2, 2048]), True)
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import warn
from ..options import PRECISIONS
from .network import FIELDS, BasicConv2d, InceptionOutput, InceptionV3

__all__ = ["Runner", "HalvingOnOOM", "fold_batch_norm", "ieee_fp32"]


@contextlib.contextmanager
def ieee_fp32(device: torch.device) -> Iterator[None]:
    """No TF32 on GPU. cuDNN enables TF32 for convolutions by default (torch-fidelity runs that
    way: its GPU score is 2.35e-4 relative off its CPU score); with it off, GPU = CPU to ~2e-7."""
    if device.type != "cuda":
        yield
        return
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


class _FoldedConv(nn.Module):
    """conv + batch norm (eval) + ReLU as one convolution with a bias, then ReLU."""

    def __init__(self, block: BasicConv2d) -> None:
        super().__init__()
        conv, bn = block.conv, block.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # C_out
        self.conv = copy.deepcopy(conv)
        self.conv.weight = nn.Parameter(conv.weight * scale[:, None, None, None])
        self.conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu_(self.conv(x))


def fold_batch_norm(net: InceptionV3) -> InceptionV3:
    """A copy of ``net`` with every batch norm folded into its convolution (for ``fast``)."""
    folded = copy.deepcopy(net)

    def replace(module: nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, BasicConv2d):
                setattr(module, name, _FoldedConv(child))
            else:
                replace(child)

    replace(folded)
    return folded


class Runner:
    """Preprocessed N x 3 x 299 x 299 float32 batch -> :class:`InceptionOutput` of the 2015 graph.

    Holds the network prepared for one device and precision. ``fields`` are the outputs a run
    asks for (default: all but ``spatial``); the others are left None.
    """

    def __init__(
        self,
        net: InceptionV3,
        device: torch.device,
        precision: str = "exact",
        compile: bool = False,
        fast_dtype: torch.dtype = torch.bfloat16,
        batch_size: int | None = None,
        fields: tuple[str, ...] = ("logits_unbiased", "logits", "pool3"),
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision: got {precision!r}, expected one of {', '.join(PRECISIONS)}")
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"fields: unknown {sorted(unknown)}, expected some of {', '.join(FIELDS)}")
        self.device, self.precision, self.compiled = device, precision, compile
        self.fields = tuple(fields)
        self.source = net  # the network as given (fp32, batch norm unfolded): what exact runs
        self.fc_weight = net.fc.weight.detach().float().to(device)  # 1008 x 2048
        self.fc_bias = net.fc.bias.detach().float().to(device)  # 1008
        if precision == "exact":
            self.net = net.to(device).eval()
            self.dtype = torch.float32
            self.memory_format = torch.contiguous_format
        else:
            self.dtype = fast_dtype  # float32 here runs the fast path's layout changes alone (tests)
            self.memory_format = torch.channels_last
            self.net = fold_batch_norm(net).to(device).eval().to(self.dtype).to(memory_format=self.memory_format)
        spatial = "spatial" in self.fields
        self.features: Callable[[Tensor], Any] = functools.partial(self.net.features, spatial=spatial)
        # compiled: every batch is padded to this size (default: the first batch's), one graph
        self.padded_batch: int | None = batch_size
        if compile:
            self.features = torch.compile(self.features, dynamic=False)

    def __call__(self, images: Tensor) -> InceptionOutput:
        n = len(images)
        if self.compiled:
            # One graph for one shape: a smaller batch (the last one) is padded with zeros, and a
            # larger one is cut, rather than paying another compilation (tens of seconds).
            self.padded_batch = self.padded_batch or n
            if n != self.padded_batch:
                parts = [self._padded(images[i : i + self.padded_batch]) for i in range(0, n, self.padded_batch)]
                return InceptionOutput.cat(parts)
        return self._outputs(images)

    def _padded(self, images: Tensor) -> InceptionOutput:
        pad = self.padded_batch - len(images)  # type: ignore[operator]
        if pad > 0:
            images = torch.cat([images, images.new_zeros(pad, *images.shape[1:])])
        return self._outputs(images).rows(slice(0, len(images) - pad))

    def _outputs(self, images: Tensor) -> InceptionOutput:
        x = images.to(self.device, self.dtype, non_blocking=True).contiguous(memory_format=self.memory_format)
        with ieee_fp32(self.device) if self.precision == "exact" else contextlib.nullcontext():
            if self.compiled and self.device.type == "cpu":
                import torch._inductor.config as inductor_config

                with inductor_config.patch(freezing=True):  # constant-fold the weights on CPU
                    features = self.features(x)
            else:
                features = self.features(x)
        pool3, spatial = features if isinstance(features, tuple) else (features, None)
        # IS uses pool3 . W^T without the bias; in float32 in both precisions.
        pool3 = pool3.float()  # N x 2048
        unbiased = pool3.mm(self.fc_weight.T)  # N x 1008
        out = InceptionOutput(logits_unbiased=unbiased)
        if "logits" in self.fields:
            out.logits = unbiased + self.fc_bias
        if "pool3" in self.fields:
            out.pool3 = pool3
        if spatial is not None:
            out.spatial = spatial.float().contiguous()  # N x 192 x 17 x 17, NCHW
        return out


class HalvingOnOOM:
    """Wraps a forward function: on a GPU out-of-memory error, split the batch in halves (and
    remember the size that fits), with a warning; the outputs do not depend on it."""

    def __init__(self, forward: Callable[[Tensor], InceptionOutput]) -> None:
        self.forward = forward
        self.max_batch: int | None = None

    def __call__(self, images: Tensor) -> InceptionOutput:
        limit = self.max_batch or len(images)
        try:
            parts = [self.forward(images[i : i + limit]) for i in range(0, len(images), limit)]
            return parts[0] if len(parts) == 1 else InceptionOutput.cat(parts)
        except torch.cuda.OutOfMemoryError:
            if limit <= 1:
                raise
            self.max_batch = max(1, limit // 2)
            torch.cuda.empty_cache()
            warn(
                f"GPU out of memory at {limit} images per forward pass; continuing with {self.max_batch} "
                f"(the score does not depend on it; set --batch-size to silence this)"
            )
            return self(images)
