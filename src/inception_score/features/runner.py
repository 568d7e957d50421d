"""How the network runs on a device: ``exact`` IEEE fp32, or ``fast`` bf16, and optional compilation.

``exact`` (default) runs the network as the reference does: float32, NCHW, batch norm as its own
op, TF32 off on GPU. On CPU that is the same convolution kernels as torch-fidelity, and the
operations around them do the same float operations in the same order, so the logits are
torch-fidelity's bit for bit (tests/test_exact_speedups.py). (channels_last fp32 would be ~1.5x
faster on CPU, but its different convolution kernels move the score by ~2e-6 relative on our
test checkpoint: not the reference number, so exact does not use it.) On CPU, exact's forward
pass runs under :func:`retained_heap` (glibc), which takes a third off its CPU time here
without touching a bit of the result.

``fast`` trades a measured, reported deviation for speed: batch norm folded into the
convolutions, channels_last, bfloat16 weights and activations, and the final 2048 -> 1008
projection in float32 (it costs nothing and keeps the logits' rounding small). bfloat16 runs
only where the device has units for it (:func:`fast_plan`): the CPU's AVX-512 BF16 or AMX, a
GPU of compute capability 8.0 or later. Elsewhere oneDNN emulates it and a bf16 network is
several times *slower* than float32 (a 192-channel 3x3 convolution, 32 images at 35x35, with
oneDNN held to AVX2: 461 ms float32 channels_last, 3455 ms bfloat16, benchmarks/RESULTS.md), so
``fast`` runs float32 with the same folding and layout there, and says so. ``compile=True`` adds ``torch.compile``
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
import ctypes
import functools
import os
import platform
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import warn
from ..options import PRECISIONS
from .network import INCEPTION_FIELDS, BasicConv2d, InceptionV3
from .outputs import NetworkOutputs

__all__ = ["Runner", "HalvingOnOOM", "cpu_bf16_units", "fast_plan", "fold_batch_norm", "ieee_fp32", "retained_heap"]

# oneDNN's ISA caps (ONEDNN_MAX_CPU_ISA) that keep its bf16 kernels: the others emulate bf16
_BF16_ISA_WORDS = ("BF16", "AMX", "AVX10", "FP16", "ALL", "DEFAULT")
_ATEN_BELOW_AVX512 = ("default", "avx", "avx2")  # ATEN_CPU_CAPABILITY values without AVX-512


def cpu_bf16_units() -> str | None:
    """The CPU's bfloat16 units that torch's kernels use (``"AMX"``, ``"AVX-512 BF16"``), or None.

    None also when the environment holds oneDNN (``ONEDNN_MAX_CPU_ISA`` / ``DNNL_MAX_CPU_ISA``) or
    ATen (``ATEN_CPU_CAPABILITY``) below them: then bf16 is emulated, as on a CPU without them.
    Other CPUs (ARM included) have no probe in torch and count as without.

    Example:
        >>> cpu_bf16_units() in (None, "AMX", "AVX-512 BF16")
        True
    """
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        cap = os.environ.get(name, "").strip().upper()
        if cap and not any(word in cap for word in _BF16_ISA_WORDS):
            return None
    if os.environ.get("ATEN_CPU_CAPABILITY", "").strip().lower() in _ATEN_BELOW_AVX512:
        return None
    probe = torch.cpu  # private probes (torch >= 2.2): absent means unknown, and unknown means float32
    if getattr(probe, "_is_amx_tile_supported", lambda: False)():
        return "AMX"
    if getattr(probe, "_is_avx512_bf16_supported", lambda: False)():
        return "AVX-512 BF16"
    return None


def fast_plan(device: torch.device) -> tuple[torch.dtype, str | None]:
    """What ``--precision fast`` runs in on ``device``: (dtype, a note when it is not bfloat16).

    bfloat16 where the device has units for it (CPU: :func:`cpu_bf16_units`; CUDA: compute
    capability >= 8.0, Ampere and later; other devices: as torch offers it, unmeasured), else
    float32 with batch norm folded and channels_last, which is faster than exact and deviates far
    less (~1e-6 relative) than bf16 would.

    Example:
        >>> dtype, note = fast_plan(torch.device("cpu"))
        >>> dtype in (torch.bfloat16, torch.float32), (note is None) == (dtype == torch.bfloat16)
        (True, True)
    """
    instead = "fast runs float32 with batch norm folded and channels_last instead (faster than exact, ~1e-6 off it)"
    if device.type == "cpu":
        if cpu_bf16_units() is None:
            return torch.float32, (
                f"precision fast: this CPU has no bfloat16 units (AVX-512 BF16 or AMX) that torch can use, so "
                f"bfloat16 would be several times slower than float32; {instead}"
            )
        return torch.bfloat16, None
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        if major < 8:
            return torch.float32, (
                f"precision fast: this GPU (compute capability {major}.{minor}) has no bfloat16 tensor cores; {instead}"
            )
    return torch.bfloat16, None


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


# glibc <malloc.h> parameters, and the values glibc starts with (mallopt(3))
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536
# set by the user: their choice of allocator settings (or another allocator) is left alone
_MALLOC_ENVIRONMENT = (
    "GLIBC_TUNABLES",
    "MALLOC_MMAP_MAX_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_TRIM_THRESHOLD_",
    "LD_PRELOAD",
)
_heap_lock = threading.Lock()
_heap_users = 0


@functools.cache
def _glibc() -> Any:
    """The C library when it is glibc and its malloc is ours to tune, else None."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    if any(name in os.environ for name in _MALLOC_ENVIRONMENT):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


@contextlib.contextmanager
def retained_heap() -> Iterator[None]:
    """While inside: freed memory stays in glibc's heap for the next allocation to reuse; on
    leaving, glibc's default settings again, and the free memory handed back (``malloc_trim``).

    Why: a forward pass of the exact network on CPU allocates and frees ~94 activation tensors of
    10-350 MB each (a 64-image batch). glibc serves every block over 32 MB with a fresh mmap and
    unmaps it on free, so each one is page-faulted in and zeroed by the kernel again: on the
    2-vCPU AMD EPYC VM of benchmarks/RESULTS.md, 2 million page faults (8 GB) per 64-image
    forward pass, a third of its CPU time (sys 3.2 s of 12.5 s). With ``M_MMAP_MAX`` = 0 (blocks
    come from the heap) and no trimming, the memory of one layer is reused by the next: measured
    -35 % CPU time per forward pass (one thread, 32 images: 3.85 s -> 2.5 s), page faults
    838k -> 150k (the first use of the heap in each pass), peak RSS +8 %, and less RSS between
    passes than without (the trim returns what glibc would have kept). Nothing computed changes:
    only where the tensors' memory comes from.

    Only with glibc on Linux, and not when the user set malloc's environment (``GLIBC_TUNABLES``,
    ``MALLOC_*_``, ``LD_PRELOAD`` of another allocator): then it does nothing. Nested or
    concurrent uses (threads) share one setting: the last one out restores it. Side effect that
    outlasts it: after any ``mallopt`` call glibc stops adapting its mmap threshold by itself
    (it keeps the value it had reached).
    """
    global _heap_users
    libc = _glibc()
    if libc is None:
        yield
        return
    with _heap_lock:
        _heap_users += 1
        if _heap_users == 1:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)  # the largest int mallopt takes
    try:
        yield
    finally:
        with _heap_lock:
            _heap_users -= 1
            if _heap_users == 0:
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)


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
    """Preprocessed N x 3 x 299 x 299 float32 batch -> :class:`NetworkOutputs` of the 2015 graph.

    Holds the network prepared for one device and precision. ``fields`` are the outputs a run
    asks for (default: all but ``spatial``); the others are left None.
    """

    def __init__(
        self,
        net: InceptionV3,
        device: torch.device,
        precision: str = "exact",
        compile: bool = False,
        fast_dtype: torch.dtype | None = None,
        batch_size: int | None = None,
        fields: tuple[str, ...] = ("logits_unbiased", "logits", "pool3"),
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision: got {precision!r}, expected one of {', '.join(PRECISIONS)}")
        unknown = set(fields) - set(INCEPTION_FIELDS)
        if unknown:
            raise ValueError(f"fields: unknown {sorted(unknown)}, expected some of {', '.join(INCEPTION_FIELDS)}")
        self.device, self.precision, self.compiled = device, precision, compile
        self.fields = tuple(fields)
        self.source = net  # the network as given (fp32, batch norm unfolded): what exact runs
        self.fc_weight = net.fc.weight.detach().float().to(device)  # 1008 x 2048
        self.fc_bias = net.fc.bias.detach().float().to(device)  # 1008
        self.note: str | None = None  # what fast runs instead of bf16, and why (said before the work)
        if precision == "exact":
            self.net = net.to(device).eval()
            self.dtype = torch.float32
            self.memory_format = torch.contiguous_format
        else:
            # float32 runs the fast path's folding and layout alone: where bf16 has no units (fast_plan)
            self.dtype, self.note = fast_plan(device) if fast_dtype is None else (fast_dtype, None)
            self.memory_format = torch.channels_last
            self.net = fold_batch_norm(net).to(device).eval().to(self.dtype).to(memory_format=self.memory_format)
        spatial = "spatial" in self.fields
        self.features: Callable[[Tensor], Any] = functools.partial(self.net.features, spatial=spatial)
        # compiled: every batch is padded to this size (default: the first batch's), one graph
        self.padded_batch: int | None = batch_size
        if compile:
            self.features = torch.compile(self.features, dynamic=False)

    def __call__(self, images: Tensor) -> NetworkOutputs:
        n = len(images)
        if self.compiled:
            # One graph for one shape: a smaller batch (the last one) is padded with zeros, and a
            # larger one is cut, rather than paying another compilation (tens of seconds).
            self.padded_batch = self.padded_batch or n
            if n != self.padded_batch:
                parts = [self._padded(images[i : i + self.padded_batch]) for i in range(0, n, self.padded_batch)]
                return NetworkOutputs.cat(parts)
        return self._outputs(images)

    def _padded(self, images: Tensor) -> NetworkOutputs:
        pad = self.padded_batch - len(images)  # type: ignore[operator]
        if pad > 0:
            images = torch.cat([images, images.new_zeros(pad, *images.shape[1:])])
        return self._outputs(images).rows(slice(0, len(images) - pad))

    def _exact_context(self) -> contextlib.AbstractContextManager[Any]:
        """What exact runs under: no TF32 on GPU (:func:`ieee_fp32`); on CPU, no autograd (the
        network's in-place batch norm needs it off: the run loop has inference_mode on already, a
        direct call may not) and glibc's heap kept during the forward pass (:func:`retained_heap`).
        Neither of the CPU ones changes a bit of the result."""
        stack = contextlib.ExitStack()
        if self.precision == "exact":
            stack.enter_context(ieee_fp32(self.device))
            if self.device.type == "cpu":
                stack.enter_context(torch.no_grad())
                stack.enter_context(retained_heap())
        return stack

    def _outputs(self, images: Tensor) -> NetworkOutputs:
        x = images.to(self.device, self.dtype, non_blocking=True).contiguous(memory_format=self.memory_format)
        with self._exact_context():
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
        out = NetworkOutputs(logits_unbiased=unbiased)
        if "logits" in self.fields:
            out.logits = unbiased + self.fc_bias
        if "pool3" in self.fields:
            out.pool3 = pool3
        if spatial is not None:
            out.spatial = spatial.float().contiguous()  # N x 192 x 17 x 17, NCHW
        return out


class HalvingOnOOM:
    """Wraps a forward function: on a GPU out-of-memory error, split the batch in halves (and
    remember the size that fits), with a warning; the outputs do not depend on it. The function
    returns NetworkOutputs (Inception) or one tensor (DINOv2, CLIP)."""

    def __init__(self, forward: Callable[[Tensor], Any]) -> None:
        self.forward = forward
        self.max_batch: int | None = None

    def __call__(self, images: Tensor) -> Any:
        limit = self.max_batch or len(images)
        try:
            parts = [self.forward(images[i : i + limit]) for i in range(0, len(images), limit)]
            if len(parts) == 1:
                return parts[0]
            return NetworkOutputs.cat(parts) if isinstance(parts[0], NetworkOutputs) else torch.cat(parts)
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
