"""The pre-norm Vision Transformer pieces that DINOv2 ViT-L/14 and CLIP ViT-L/14@336 share.

Both are the ViT of Dosovitskiy et al. 2021 with the LayerNorm *before* each residual branch
("pre-norm"): ``x = x + ls1(attn(norm1(x)))``, ``x = x + ls2(mlp(norm2(x)))``. What differs is
a parameter of these pieces, not a piece of its own:

=================  ===================================  =====================================
                   DINOv2 (DINO ``layers/``)            CLIP (HF ``modeling_clip.py``)
=================  ===================================  =====================================
qkv projection     one fused ``qkv`` Linear             ``q_proj``, ``k_proj``, ``v_proj``
                                                        (concatenated into ``qkv`` on load)
MLP activation     GELU (erf)                           quick-GELU ``x * sigmoid(1.702 x)``
LayerScale         ``ls1.gamma``, ``ls2.gamma``         none
LayerNorm eps      1e-6                                 1e-5
patch conv bias    yes                                  no
=================  ===================================  =====================================

The module names (``norm1``, ``attn.qkv``, ``attn.proj``, ``ls1.gamma``, ``norm2``, ``mlp.fc1``,
``mlp.fc2``, ``ls2.gamma``) are those of DINOv2's official state dict, so DINOv2 checkpoints load
unchanged; CLIP's keys are mapped onto them by a table (:mod:`.clip`).

Attention is ``torch.nn.functional.scaled_dot_product_attention`` (what DINOv2's main branch
calls since 2025 and transformers' CLIP by default); ``math=True`` computes the explicit
``softmax((q * scale) @ k^T) @ v`` of the ``dinov2`` 0.0.1 PyPI package instead (tests compare
the two: they differ by float32 rounding, ~1e-6 of the largest feature).

Example:
    >>> import torch
    >>> block = Block(64, num_heads=4, layer_scale=True)
    >>> block(torch.zeros(2, 5, 64)).shape   # N x tokens x width
    torch.Size([2, 5, 64])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Attention", "Block", "LayerScale", "Mlp", "PatchEmbed", "QuickGELU", "ViTRunner"]


def _onednn_linear_available() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    except (AttributeError, RuntimeError):
        return False


_ONEDNN = _onednn_linear_available()


def linear(layer: nn.Linear, x: Tensor, gelu: bool = False) -> Tensor:
    """``layer(x)``, then GELU (erf) if ``gelu``: ... x D_in -> ... x D_out.

    On the CPU in float32 without autograd, through oneDNN's fused linear (the op torch.compile's
    inductor emits, ``mkldnn::_linear_pointwise``) instead of MKL's sgemm: on the AMD EPYC
    (Zen 5) of benchmarks/RESULTS.md it runs ViT-L's matrix products 1.15x faster (90 vs 77
    GFLOP/s a core), and takes the GELU in the same pass. The same float32 products, summed in
    another order: ~1e-7 relative to the output. With bfloat16 weights (``fast``) the same op in
    bfloat16, the input cast as autocast would. Elsewhere (GPU, autograd): ``F.linear``.
    """
    weight = layer.weight
    if _ONEDNN and x.device.type == "cpu" and weight.dtype in (torch.float32, torch.bfloat16):
        if x.is_floating_point() and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)):
            shape = x.shape
            x = x.reshape(-1, shape[-1]).to(weight.dtype)  # bfloat16 weights (fast): bfloat16 inputs, as autocast does
            out = torch.ops.mkldnn._linear_pointwise(x, weight, layer.bias, "gelu" if gelu else "none", [], "none")
            return out.reshape(*shape[:-1], out.shape[-1])
    out = F.linear(x, layer.weight, layer.bias)
    return F.gelu(out) if gelu else out


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``: the GELU approximation OpenAI's CLIP was trained with
    (CLIP ``model.py`` ``QuickGELU``; transformers ``ACT2FN["quick_gelu"]``)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch`` x ``patch`` patches -> tokens: N x 3 x H x W -> N x (H/p * W/p) x D."""

    def __init__(self, patch: int, width: int, bias: bool = True) -> None:
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=bias)

    def forward(self, x: Tensor) -> Tensor:  # N x 3 x H x W
        if x.shape[-2] % self.patch or x.shape[-1] % self.patch:
            raise ValueError(f"input {tuple(x.shape)}: height and width must be multiples of {self.patch}")
        return self.proj(x).flatten(2).transpose(1, 2)  # N x (H/p * W/p) x D


class Attention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection: N x T x D -> N x T x D."""

    def __init__(self, width: int, num_heads: int) -> None:
        super().__init__()
        if width % num_heads:
            raise ValueError(f"width {width} is not a multiple of num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.math = False  # True: the explicit softmax of the dinov2 0.0.1 package (tests)

    def forward(self, x: Tensor, queries: int | None = None) -> Tensor:
        """``queries``: only the first this many tokens attend (the rest still serve as keys and
        values); the output then has that many tokens. The model's last block uses 1 (the class
        token is all it outputs)."""
        n, t, d = x.shape
        heads = self.num_heads
        qkv = linear(self.qkv, x).reshape(n, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)  # 3 x N x h x T x d/h
        q, k, v = qkv.unbind(0)  # N x h x T x d/h each
        if queries is not None:
            q = q[:, :, :queries]  # N x h x Q x d/h
        if self.math:
            scores = (q * (d // heads) ** -0.5) @ k.transpose(-2, -1)  # N x h x Q x T
            out = scores.softmax(dim=-1) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v)  # N x h x Q x d/h
        return linear(self.proj, out.transpose(1, 2).reshape(n, -1, d))  # N x Q x D


class Mlp(nn.Module):
    """``fc2(act(fc1(x)))``, hidden width ``hidden``."""

    def __init__(self, width: int, hidden: int, act: type[nn.Module]) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.act = act()
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: Tensor) -> Tensor:
        if type(self.act) is nn.GELU and self.act.approximate == "none":
            return linear(self.fc2, linear(self.fc1, x, gelu=True))  # GELU in fc1's pass
        return linear(self.fc2, self.act(linear(self.fc1, x)))


class LayerScale(nn.Module):
    """Per-channel scale ``x * gamma`` (Touvron et al. 2021, CaiT; DINOv2's ``ls1``/``ls2``)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(width))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block: ``x + ls1(attn(norm1(x)))``, then ``+ ls2(mlp(norm2(x)))``.

    ``layer_scale``: DINOv2's LayerScale after each branch (CLIP has none). ``act``: nn.GELU
    (DINOv2) or :class:`QuickGELU` (CLIP). ``eps``: the LayerNorms' epsilon.
    """

    def __init__(
        self,
        width: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        *,
        layer_scale: bool = False,
        act: type[nn.Module] = nn.GELU,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=eps)
        self.attn = Attention(width, num_heads)
        self.ls1: nn.Module = LayerScale(width) if layer_scale else nn.Identity()
        self.norm2 = nn.LayerNorm(width, eps=eps)
        self.mlp = Mlp(width, int(width * mlp_ratio), act)
        self.ls2: nn.Module = LayerScale(width) if layer_scale else nn.Identity()

    def forward(self, x: Tensor, queries: int | None = None) -> Tensor:  # N x T x D
        """``queries``: keep only the first this many tokens' outputs (see :meth:`Attention.forward`):
        every token's output depends only on its own row after attention, so the last block of a
        network that outputs the class token computes the attention output and the MLP for it alone
        (-4 % of DINOv2's work at 224 px; the same numbers up to float32 rounding)."""
        x = (x if queries is None else x[:, :queries]) + self.ls1(self.attn(self.norm1(x), queries))
        return x + self.ls2(self.mlp(self.norm2(x)))  # N x Q x D


class ViTRunner:
    """A ViT (DINOv2, CLIP) on its device and precision: prepared float32 batch -> float32 N x D.

    * ``"exact"``: float32 weights and activations, attention by ``scaled_dot_product_attention``;
      on GPU without TF32 (:func:`~.runner.ieee_fp32`), on CPU with glibc's heap kept during the
      pass (:func:`~.runner.retained_heap`); neither changes a bit of the result.
    * ``"fast"``: where the device has bfloat16 units (:func:`~.runner.fast_plan`; elsewhere as
      exact), the matrix products (Linear layers, the patch convolution, fused attention) in
      bfloat16 under ``torch.autocast``, with those layers' weights stored in bfloat16 once rather
      than cast at every batch; the residual stream, the LayerNorms and LayerScale stay float32
      (the bf16 outputs of each branch are added to a float32 stream). It deviates from exact by a
      measured amount (``--check-precision``).

    Example:
        >>> import torch
        >>> net = nn.Sequential(nn.Linear(4, 3))
        >>> ViTRunner(net, torch.device("cpu"), "fast")(torch.ones(2, 4)).dtype
        torch.float32
    """

    def __init__(self, net: nn.Module, device: torch.device, precision: str = "exact", own: bool = False) -> None:
        """``own``: ``net`` is the runner's to change (fast converts it in place instead of a copy,
        which would hold the float32 and the bfloat16 weights at once: +1.2 GB at ViT-L)."""
        import copy

        from ..options import PRECISIONS

        if precision not in PRECISIONS:
            raise ValueError(f"precision: got {precision!r}, expected one of {', '.join(PRECISIONS)}")
        from .runner import fast_plan

        self.device, self.precision = torch.device(device), precision
        # fast runs bfloat16 only where the device has units for it (fast_plan: elsewhere bf16 is
        # emulated, slower than float32); without them it runs as exact does (there is no folding here)
        self.bf16 = precision == "fast" and fast_plan(self.device)[0] == torch.bfloat16
        if not self.bf16:
            self.net = net.to(self.device).eval()
        else:
            self.net = (net if own else copy.deepcopy(net)).to(self.device).eval()
            for module in self.net.modules():
                if isinstance(module, (nn.Linear, nn.Conv2d)):
                    module.to(torch.bfloat16)

    def __call__(self, x: Tensor) -> Tensor:
        import contextlib

        from .runner import ieee_fp32, retained_heap

        x = x.to(self.device, torch.float32, non_blocking=True)
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            if not self.bf16:
                stack.enter_context(ieee_fp32(self.device))
                if self.device.type == "cpu":
                    stack.enter_context(retained_heap())
            else:
                stack.enter_context(torch.autocast(self.device.type, dtype=torch.bfloat16))
            out = self.net(x)
        return out.float()  # N x D
