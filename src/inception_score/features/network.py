"""Google's 2015-12-05 Inception graph (the one the Inception Score is defined with) in PyTorch.

This is Inception-v3 as frozen in TensorFlow's ``classify_image_graph_def.pb``
(``inception-2015-12-05.tgz``), the graph used by openai/improved-gan, StyleGAN's ``is50k``, the
guided-diffusion evaluator and torch-fidelity. It differs from torchvision's ``Inception3`` in
four places, each marked ``# TF:`` where it happens:

* batch norm uses eps = 0.001 (torchvision: 0.001 too, but the ImageNet weights differ);
* the average-pool branches do not count the padded zeros (``count_include_pad=False``);
* the last block (``Mixed_7c``) pools its pool branch with a max-pool, not an average-pool;
* the classifier has 1008 outputs (indexes 1..1000 are ImageNet classes; 0 and 1001..1007 unused).

The parameter names follow torchvision's naming, so the published converted checkpoints load
unchanged: torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` and pytorch-fid's
``pt_inception-2015-12-05-6726825d.pth`` (see :mod:`inception_score.weights`).

The network takes images that are already resized to 299x299 and scaled to [-1, 1]
(:mod:`~inception_score.features.preprocess` does that) and returns, from one forward pass,
an :class:`InceptionOutput`: the logits without the fc bias (what the Inception Score uses:
improved-gan takes ``softmax/logits/MatMul.inputs[1]``, the weight alone), the logits with the
bias, the 2048-d pool3 features (FID, KID, precision/recall), and on request the spatial
features the ADM evaluator reads for sFID (``mixed_6/conv``: the output of ``Mixed_6d.branch1x1``
after batch norm and ReLU, N x 192 x 17 x 17; TFd utils/util_convert_inception_weights.py:137).

Example:
    >>> import torch
    >>> from .network import InceptionV3
    >>> net = InceptionV3().eval()   # random weights; see weights.load_state_dict for real ones
    >>> out = net(torch.zeros(1, 3, 299, 299))
    >>> tuple(out.logits_unbiased.shape), tuple(out.pool3.shape), out.spatial is None
    ((1, 1008), (1, 2048), True)
    >>> tuple(net(torch.zeros(1, 3, 299, 299), spatial=True).spatial.shape)
    (1, 192, 17, 17)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import WeightsError
from .outputs import FIELDS, NetworkOutputs

# The outputs of every network by field name; the Inception network fills four of them. The old
# name stays, as the public name it was.
InceptionOutput = NetworkOutputs

__all__ = [
    "InceptionV3",
    "InceptionOutput",
    "NetworkOutputs",
    "NUM_CLASSES",
    "FEATURE_DIM",
    "INPUT_SIZE",
    "SPATIAL_CHANNELS",
    "FIELDS",
]

NUM_CLASSES = 1008
FEATURE_DIM = 2048
INPUT_SIZE = 299
SPATIAL_CHANNELS = 192  # Mixed_6d.branch1x1: the first 192 channels of Mixed_6d's output
INCEPTION_FIELDS = ("logits_unbiased", "logits", "pool3", "spatial")  # what this network can give


# How the CPU runs ``exact`` faster with the same bits
# ------------------------------------------------------
# ``exact`` must give torch-fidelity's logits bit for bit on CPU, so the convolutions stay as they
# are (the same oneDNN calls on the same NCHW float32 tensors). What changes is around them, and
# only where the input is a CPU float32 NCHW tensor outside autograd and compilation
# (:func:`_exact_cpu`); any other input (CUDA, the fast path's bf16 channels_last, autograd,
# torch.compile) runs the plain ops below each rewrite. Each rewrite computes the same float
# operations in the same order as the op it replaces; tests/test_exact_speedups.py compares them
# bit for bit (signed zeros, NaN, inf, subnormals included), and the blocks and the network with
# torch-fidelity's. Measured: benchmarks/RESULTS.md ("exact on CPU").


def _exact_cpu(x: Tensor) -> bool:
    """Whether ``x`` is what the exact CPU path computes on, where the rewrites apply."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() == 4
        and x.is_contiguous()
        # out= and in-place writes are not differentiable; a traced graph is left to the compiler
        and not torch.is_grad_enabled()
        and not torch.compiler.is_compiling()
    )


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm, ReLU (TF's conv + BatchNormWithGlobalNormalization)."""

    def __init__(self, in_channels: int, out_channels: int, **conv: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv)  # type: ignore[arg-type]
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)  # TF: eps 0.001

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        bn = self.bn
        if _exact_cpu(y) and not bn.training and bn.running_mean is not None and bn.running_var is not None:
            # Batch norm in place, into the convolution's output: the same CPU kernel as
            # ``self.bn(y)`` (eval: y * alpha + beta per channel, alpha and beta computed from the
            # running statistics as it does), called through its out= form with out = y. Each
            # element is read and then written at the same place by the same instruction, so in
            # place is safe; it saves a fresh N x C x H x W tensor per layer (page faults, memory
            # traffic). Only on a contiguous NCHW y (_exact_cpu): on another layout the kernel's
            # out= path falls back to a loop with another formula, (x - mean) * invstd * w + b.
            empty = y.new_empty(0)
            torch.native_batch_norm(
                y, bn.weight, bn.bias, bn.running_mean, bn.running_var, False, 0.0, bn.eps, out=(y, empty, empty)
            )
            return F.relu(y, inplace=True)
        return F.relu(bn(y), inplace=True)


def _pool_channels_last(pool: Callable[..., Tensor], x: Tensor, **kwargs: Any) -> Tensor:
    """``pool(x, **kwargs)``, run by its channels_last CPU kernel on the exact CPU path.

    The NCHW CPU kernels of max_pool2d and avg_pool2d compute one output element at a time in
    scalar code (max_pool2d also writes int64 indices); their channels_last kernels do the same
    float operations in the same order, vectorised across channels:

    * max: from -inf, the window in row-major order, taking a value when ``val > max ||
      isnan(val)``: the same bits for every input, NaN and signed zeros included;
    * average: from +0.0, adding the window in row-major order, then dividing by the count (the
      real pixels here: ``count_include_pad=False``). The same bits for every input the network
      pools (ReLU outputs: no negative value). Two differences exist elsewhere, both tested: the
      NCHW kernel stores ``0.0 + sum / count``, so a negative sum that underflows to -0.0 there
      becomes +0.0; and the sign bit of a NaN made by inf - inf follows each kernel's compiled
      operand order. Neither can happen without negative inputs or NaN.

    The two layout copies around the pool cost less than the scalar loop: on a 64-image batch
    (2-vCPU AMD EPYC) the max pools take 2.5x less CPU time, the average pools 1.7x
    (benchmarks/RESULTS.md, "exact on CPU").
    """
    if _exact_cpu(x):
        return pool(x.contiguous(memory_format=torch.channels_last), **kwargs).contiguous()
    return pool(x, **kwargs)


def _max_pool(x: Tensor, stride: int, padding: int = 0) -> Tensor:
    return _pool_channels_last(F.max_pool2d, x, kernel_size=3, stride=stride, padding=padding)


def _tf_avg_pool(x: Tensor) -> Tensor:
    # TF: the average pool of the graph divides by the number of real pixels under the window,
    # not by 9, at the borders.
    return _pool_channels_last(F.avg_pool2d, x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block (Mixed_5b/5c/5d): 1x1, 5x5, double 3x3 and pool branches."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:  # N x C x 35 x 35
        b1 = self.branch1x1(x)  # N x 64 x 35 x 35
        b5 = self.branch5x5_2(self.branch5x5_1(x))  # N x 64 x 35 x 35
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))  # N x 96 x 35 x 35
        bp = self.branch_pool(_tf_avg_pool(x))  # N x pool_features x 35 x 35
        return torch.cat([b1, b5, b3, bp], 1)  # N x (224 + pool_features) x 35 x 35


class InceptionB(nn.Module):
    """Grid reduction 35x35 -> 17x17 (Mixed_6a)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:  # N x 288 x 35 x 35
        b3 = self.branch3x3(x)  # N x 384 x 17 x 17
        b3d = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))  # N x 96 x 17 x 17
        bp = _max_pool(x, stride=2)  # N x 288 x 17 x 17
        return torch.cat([b3, b3d, bp], 1)  # N x 768 x 17 x 17


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (Mixed_6b..6e)."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:  # N x 768 x 17 x 17
        b1 = self.branch1x1(x)  # N x 192 x 17 x 17
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))  # N x 192 x 17 x 17
        b7d = self.branch7x7dbl_1(x)  # N x c7 x 17 x 17
        b7d = self.branch7x7dbl_3(self.branch7x7dbl_2(b7d))  # N x c7 x 17 x 17
        b7d = self.branch7x7dbl_5(self.branch7x7dbl_4(b7d))  # N x 192 x 17 x 17
        bp = self.branch_pool(_tf_avg_pool(x))  # N x 192 x 17 x 17
        return torch.cat([b1, b7, b7d, bp], 1)  # N x 768 x 17 x 17


class InceptionD(nn.Module):
    """Grid reduction 17x17 -> 8x8 (Mixed_7a)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:  # N x 768 x 17 x 17
        b3 = self.branch3x3_2(self.branch3x3_1(x))  # N x 320 x 8 x 8
        b7 = self.branch7x7x3_2(self.branch7x7x3_1(x))  # N x 192 x 17 x 17
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(b7))  # N x 192 x 8 x 8
        bp = _max_pool(x, stride=2)  # N x 768 x 8 x 8
        return torch.cat([b3, b7, bp], 1)  # N x 1280 x 8 x 8


class InceptionE(nn.Module):
    """8x8 block with expanded filter banks (Mixed_7b, and Mixed_7c with ``max_pool=True``)."""

    def __init__(self, in_channels: int, *, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:  # N x C x 8 x 8
        b1 = self.branch1x1(x)  # N x 320 x 8 x 8
        b3 = self.branch3x3_1(x)  # N x 384 x 8 x 8
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)  # N x 768 x 8 x 8
        b3d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))  # N x 384 x 8 x 8
        b3d = torch.cat([self.branch3x3dbl_3a(b3d), self.branch3x3dbl_3b(b3d)], 1)  # N x 768 x 8 x 8
        if self.max_pool:
            # TF: Mixed_7c of the 2015 graph max-pools its pool branch (Mixed_7b average-pools).
            pooled = _max_pool(x, stride=1, padding=1)
        else:
            pooled = _tf_avg_pool(x)
        bp = self.branch_pool(pooled)  # N x 192 x 8 x 8
        return torch.cat([b1, b3, b3d, bp], 1)  # N x 2048 x 8 x 8


class InceptionV3(nn.Module):
    """The 2015-12-05 Inception graph from the 299x299 input to the 1008-way logits.

    Input: float32 N x 3 x 299 x 299 in [-1, 1] (see :func:`inception_score.preprocess.preprocess`).
    Output: :class:`InceptionOutput` (logits without bias, logits with bias, pool3 features).
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)  # "softmax" layer of the graph: W, b

    def features(self, x: Tensor, spatial: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """pool3: the 2048-d global average of the last block; with ``spatial``, also the
        ``mixed_6/conv`` tensor (N x 192 x 17 x 17)."""
        # N x 3 x 299 x 299
        x = self.Conv2d_1a_3x3(x)  # N x 32 x 149 x 149
        x = self.Conv2d_2a_3x3(x)  # N x 32 x 147 x 147
        x = self.Conv2d_2b_3x3(x)  # N x 64 x 147 x 147
        x = _max_pool(x, stride=2)  # N x 64 x 73 x 73
        x = self.Conv2d_3b_1x1(x)  # N x 80 x 73 x 73
        x = self.Conv2d_4a_3x3(x)  # N x 192 x 71 x 71
        x = _max_pool(x, stride=2)  # N x 192 x 35 x 35
        x = self.Mixed_5b(x)  # N x 256 x 35 x 35
        x = self.Mixed_5c(x)  # N x 288 x 35 x 35
        x = self.Mixed_5d(x)  # N x 288 x 35 x 35
        x = self.Mixed_6a(x)  # N x 768 x 17 x 17
        x = self.Mixed_6b(x)  # N x 768 x 17 x 17
        x = self.Mixed_6c(x)  # N x 768 x 17 x 17
        x = self.Mixed_6d(x)  # N x 768 x 17 x 17
        # mixed_6/conv of the graph is Mixed_6d.branch1x1 after BN + ReLU: the block concatenates
        # its branches with branch1x1 first, so its first 192 channels are that tensor, as is.
        mixed_6_conv = x[:, :SPATIAL_CHANNELS] if spatial else None  # N x 192 x 17 x 17
        x = self.Mixed_6e(x)  # N x 768 x 17 x 17
        x = self.Mixed_7a(x)  # N x 1280 x 8 x 8
        x = self.Mixed_7b(x)  # N x 2048 x 8 x 8
        x = self.Mixed_7c(x)  # N x 2048 x 8 x 8
        pool3 = F.adaptive_avg_pool2d(x, 1).flatten(1)  # N x 2048
        return (pool3, mixed_6_conv) if mixed_6_conv is not None else pool3

    def forward(self, x: Tensor, spatial: bool = False) -> InceptionOutput:
        """Every field of :class:`InceptionOutput` (``spatial`` only when asked: 222 KB an image)."""
        pool3, mixed = self.features(x, spatial=True) if spatial else (self.features(x), None)
        pool3 = pool3.float()  # N x 2048
        weight = self.fc.weight.float()  # 1008 x 2048
        # IS uses pool3 . W^T without the bias (openai/improved-gan: softmax/logits/MatMul.inputs[1]).
        unbiased = pool3.mm(weight.T)  # N x 1008
        return InceptionOutput(unbiased, unbiased + self.fc.bias.float(), pool3, mixed)

    def load_checkpoint(self, state_dict: Mapping[str, Tensor], *, origin: str = "state dict") -> None:
        """Load a converted 2015 checkpoint, refusing one whose keys or shapes differ.

        ``num_batches_tracked`` buffers are optional (the published files differ on them).
        The error lists the first few missing, unexpected and mis-shaped keys.
        """
        own = self.state_dict()
        given = {k: v for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}
        needed = {k: v for k, v in own.items() if not k.endswith("num_batches_tracked")}
        missing = sorted(set(needed) - set(given))
        unexpected = sorted(set(given) - set(needed))
        shapes = [
            f"{k}: {tuple(given[k].shape)} (expected {tuple(needed[k].shape)})"
            for k in sorted(set(needed) & set(given))
            if not isinstance(given[k], Tensor) or given[k].shape != needed[k].shape
        ]
        if missing or unexpected or shapes:
            parts = []
            for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
                if items:
                    shown = ", ".join(items[:4]) + (f", ... ({len(items)} in all)" if len(items) > 4 else "")
                    parts.append(f"{label}: {shown}")
            raise WeightsError(
                f"{origin} is not a checkpoint of the 2015 Inception graph "
                f"(torch-fidelity / pytorch-fid layout): " + "; ".join(parts)
            )
        merged = dict(own)
        merged.update({k: v.to(own[k].dtype) for k, v in given.items()})
        self.load_state_dict(merged, strict=True)
