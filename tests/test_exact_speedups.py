"""The exact CPU path's rewrites give the plain PyTorch ops' bits (and torch-fidelity's).

network.py runs the pools through their channels_last kernels and batch norm in place when the
input is a CPU float32 NCHW tensor outside autograd; runner.py keeps glibc's heap during the
forward pass. Each is compared here bit for bit (``view(torch.int32)``: signed zeros and NaN
payloads count, which ``torch.equal`` would not see) with the op it replaces, on inputs with
zeros of both signs, subnormals, huge values, infinities and NaN, and at the block and network
level with torch-fidelity's own modules. One documented exception: the average pool on negative
or NaN input (zero and NaN signs), which the network never pools.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_fidelity import feature_extractor_inceptionv3 as tf_net

from inception_score.features import network as net_module
from inception_score.features import runner as runner_module
from inception_score.features.network import BasicConv2d, InceptionV3
from inception_score.features.preprocess import preprocess
from inception_score.features.runner import Runner, retained_heap
from inception_score.features.weights import load_state_dict

from .conftest import make_images

CPU = torch.device("cpu")
SPECIALS = [0.0, -0.0, 1e-40, -1e-40, 1e-45, -1e-45, 3e38, -3e38, float("inf"), float("-inf"), float("nan")]


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32)


def assert_same_bits(ours: torch.Tensor, ref: torch.Tensor) -> None:
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    assert torch.equal(bits(ours), bits(ref)), f"{(bits(ours) != bits(ref)).sum()} elements differ"


def varied(shape: tuple[int, ...], seed: int, kind: str) -> torch.Tensor:
    """float32 test input, one of
    * ``relu``: what the network pools, ReLU outputs: >= 0, many exact zeros;
    * ``relu_special``: the same with -0.0 (ReLU passes it through), subnormals, 3e38 (sums
      overflow to inf) and +inf sprinkled in;
    * ``wide``: signs, magnitudes from 1e-38 to 1e30 (sums lose bits, cancel, overflow);
    * ``special``: wide plus +-0, subnormals, +-3e38, +-inf and NaN sprinkled in."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    if kind == "relu":
        return x.clamp_min(0) * 4
    if kind == "relu_special":
        x = x.clamp_min(0) * 4
        specials = torch.tensor([0.0, -0.0, 1e-40, 1e-45, 3e38, float("inf")])
    else:
        exponents = torch.randint(-38, 31, shape, generator=g).to(torch.float64)
        x = (x.double() * 10.0**exponents).float()
        specials = torch.tensor(SPECIALS)
    if kind != "wide":
        flat = x.view(-1)
        where = torch.randperm(flat.numel(), generator=g)[: max(1, flat.numel() // 20)]  # distinct places
        flat[where] = specials[torch.randint(0, len(specials), where.shape, generator=g)]
    return x


SHAPES = [(2, 64, 147, 147), (3, 192, 35, 35), (2, 288, 35, 35), (2, 768, 17, 17), (2, 2048, 8, 8)]
ODD_SHAPES = [(1, 1, 5, 5), (1, 3, 1, 7), (2, 5, 3, 3), (1, 17, 10, 13), (3, 33, 9, 4), (1, 20, 2, 2)]


@pytest.mark.parametrize("kind", ["relu", "relu_special", "wide", "special"])
@pytest.mark.parametrize("stride, padding", [(2, 0), (1, 1)])
def test_max_pool_rewrite_is_bit_identical(kind: str, stride: int, padding: int) -> None:
    for i, shape in enumerate(SHAPES + ODD_SHAPES):
        if min(shape[2:]) < 3 and padding == 0:
            continue  # no 3x3 window fits
        x = varied(shape, seed=i, kind=kind)
        with torch.no_grad():
            assert net_module._exact_cpu(x)  # the rewrite runs
            ours = net_module._max_pool(x, stride=stride, padding=padding)
        assert ours.is_contiguous()  # NCHW again: the convolution after it must see NCHW
        assert_same_bits(ours, F.max_pool2d(x, kernel_size=3, stride=stride, padding=padding))


def average_pools(kind: str, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    pairs = []
    for i, shape in enumerate(SHAPES + ODD_SHAPES):
        x = varied(shape, seed=seed + i, kind=kind)
        with torch.no_grad():
            assert net_module._exact_cpu(x)
            ours = net_module._tf_avg_pool(x)
        assert ours.is_contiguous()
        pairs.append((ours, F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)))
    return pairs


@pytest.mark.parametrize("kind", ["relu", "relu_special", "wide"])
def test_average_pool_rewrite_is_bit_identical(kind: str) -> None:
    for ours, ref in average_pools(kind, seed=100):
        assert_same_bits(ours, ref)


def test_average_pool_rewrite_differs_only_in_zero_and_nan_signs_on_negative_or_nan_input() -> None:
    # Two differences, neither possible on what the network pools (ReLU outputs: no negative
    # value, so no negative sum, no inf - inf): the NCHW kernel stores 0.0 + sum / count, which
    # turns a -0.0 quotient (a negative subnormal sum that underflows) into +0.0, where the
    # channels_last kernel stores sum / count; and NaN's sign bit from inf - inf or from two
    # NaNs meeting follows each kernel's compiled operand order.
    differing = 0
    for ours, ref in average_pools("special", seed=100):
        diff = bits(ours) != bits(ref)
        differing += int(diff.sum())
        both_nan = ours.isnan() & ref.isnan()
        both_zero = (ours == 0) & (ref == 0)
        assert bool((both_nan | both_zero)[diff].all())
        assert torch.equal(ours.isnan(), ref.isnan()) and torch.equal(ours[~ours.isnan()], ref[~ref.isnan()])
    assert differing > 0  # the exceptions are real: if this fails, say bit-identical everywhere


def random_batch_norm(bn: nn.BatchNorm2d, seed: int, awkward: bool) -> None:
    g = torch.Generator().manual_seed(seed)
    c = bn.num_features
    bn.running_mean.copy_(torch.randn(c, generator=g))
    bn.running_var.copy_(torch.rand(c, generator=g) * 3)
    bn.weight.data.copy_(torch.randn(c, generator=g))
    bn.bias.data.copy_(torch.randn(c, generator=g))
    if awkward:  # shifts of -0.0, zero means, zero variances (1/sqrt(eps)), huge and tiny scales
        bn.bias.data[::3] = -0.0
        bn.running_mean[::2] = 0.0
        bn.running_var[1::4] = 0.0
        bn.weight.data[2::5] = 1e30
        bn.weight.data[3::5] = 1e-30


@pytest.mark.parametrize("kind", ["relu", "relu_special", "wide", "special"])
def test_in_place_batch_norm_is_bit_identical(kind: str) -> None:
    # The convolution is replaced by the identity so that the batch norm sees the varied input
    # itself (specials included); the real block's convolution is the same op in both paths.
    for i, shape in enumerate([(2, 64, 35, 35), (2, 192, 17, 17), (3, 320, 8, 8), *ODD_SHAPES]):
        block = BasicConv2d(shape[1], shape[1], kernel_size=1).eval()
        block.conv = nn.Identity()  # type: ignore[assignment]
        random_batch_norm(block.bn, seed=i, awkward=i % 2 == 1)
        x = varied(shape, seed=200 + i, kind=kind)
        ref = F.relu(F.batch_norm(x, block.bn.running_mean, block.bn.running_var, block.bn.weight, block.bn.bias,
                                  False, 0.1, block.bn.eps))  # fmt: skip
        with torch.no_grad():
            ours = block(x.clone())  # in place into its input here (the identity "convolution")
        assert_same_bits(ours, ref)


def test_basic_conv_block_is_bit_identical_to_torch_fidelitys() -> None:
    torch.manual_seed(5)
    for i, (cin, cout, kwargs) in enumerate(
        [
            (3, 32, {"kernel_size": 3, "stride": 2}),
            (64, 80, {"kernel_size": 1}),
            (160, 192, {"kernel_size": (7, 1), "padding": (3, 0)}),
        ]
    ):
        ours = BasicConv2d(cin, cout, **kwargs).eval()
        random_batch_norm(ours.bn, seed=i, awkward=True)
        theirs = tf_net.BasicConv2d(cin, cout, **kwargs).eval()
        theirs.load_state_dict(ours.state_dict())
        x = varied((2, cin, 23, 19), seed=300 + i, kind="relu")
        with torch.no_grad():
            assert_same_bits(ours(x), theirs(x))


def test_the_rewrites_step_aside_where_they_do_not_apply() -> None:
    torch.manual_seed(0)
    block = BasicConv2d(8, 16, kernel_size=3, padding=1).eval()
    random_batch_norm(block.bn, seed=0, awkward=False)
    x = varied((2, 8, 9, 9), seed=1, kind="wide")
    ref = F.relu(block.bn(block.conv(x)))
    # autograd on: the plain ops (out= writes are not differentiable)
    y = block(x)
    assert y.requires_grad and torch.equal(bits(y.detach()), bits(ref.detach()))
    assert not net_module._exact_cpu(x)
    # channels_last (the fast path's layout) and bfloat16: the plain ops, layout kept
    with torch.no_grad():
        cl = x.contiguous(memory_format=torch.channels_last)
        assert not net_module._exact_cpu(cl) and not net_module._exact_cpu(x.bfloat16())
        pooled = net_module._max_pool(cl, stride=2)
        assert pooled.is_contiguous(memory_format=torch.channels_last)
        assert_same_bits(pooled, F.max_pool2d(cl, 3, 2))
        assert_same_bits(block(cl), F.relu(block.bn(block.conv(cl))))
    # training mode (conftest's calibration pass): batch statistics, running statistics updated
    twin = BasicConv2d(8, 16, kernel_size=3, padding=1)
    twin.load_state_dict(block.state_dict())
    block.train(), twin.train()
    with torch.no_grad():
        out = block(x)
        ref = F.relu(twin.bn(twin.conv(x)))
    assert_same_bits(out, ref)
    assert torch.equal(block.bn.running_mean, twin.bn.running_mean)
    assert torch.equal(block.bn.running_var, twin.bn.running_var)


def randomised(ours: nn.Module, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    for i, m in enumerate(ours.modules()):
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if isinstance(m, nn.BatchNorm2d):
            random_batch_norm(m, seed=seed * 1000 + i, awkward=False)
            m.running_var.add_(0.5)  # keep activations in a sane range through the block
    return ours.eval()


@pytest.mark.parametrize(
    "ours, theirs, shape",
    [
        (lambda: net_module.InceptionA(192, 32), lambda: tf_net.InceptionA(192, 32), (2, 192, 35, 35)),
        (lambda: net_module.InceptionB(288), lambda: tf_net.InceptionB(288), (2, 288, 35, 35)),
        (lambda: net_module.InceptionC(768, 128), lambda: tf_net.InceptionC(768, 128), (2, 768, 17, 17)),
        (lambda: net_module.InceptionD(768), lambda: tf_net.InceptionD(768), (2, 768, 17, 17)),
        (lambda: net_module.InceptionE(1280, max_pool=False), lambda: tf_net.InceptionE_1(1280), (2, 1280, 8, 8)),
        (lambda: net_module.InceptionE(2048, max_pool=True), lambda: tf_net.InceptionE_2(2048), (2, 2048, 8, 8)),
    ],
    ids=["A", "B", "C", "D", "E_1", "E_2"],
)
def test_blocks_are_bit_identical_to_torch_fidelitys(ours, theirs, shape) -> None:
    block = randomised(ours(), seed=len(shape) + shape[1])
    reference = theirs().eval()
    reference.load_state_dict(block.state_dict())
    x = varied(shape, seed=shape[1], kind="relu")  # a block's input is a ReLU output
    with torch.inference_mode():
        assert_same_bits(block(x), reference(x))


def test_exact_runner_gives_torch_fidelitys_logits_bit_for_bit(checkpoint_path: Path) -> None:
    net = InceptionV3()
    net.load_checkpoint(load_state_dict(checkpoint_path))
    runner = Runner(net.eval(), CPU, "exact", fields=("logits_unbiased", "pool3", "spatial"))
    theirs = tf_net.FeatureExtractorInceptionV3(
        "inception-v3-compat", ["logits_unbiased", "2048"], feature_extractor_weights_path=str(checkpoint_path)
    ).eval()
    for size, n in [((32, 32), 5), ((299, 299), 2), ((100, 40), 3)]:
        images = torch.from_numpy(make_images(n, size, seed=sum(size))).permute(0, 3, 1, 2).contiguous()
        with torch.inference_mode():
            out = runner(preprocess(images))
            ref_logits, ref_pool3 = theirs(images)
        assert_same_bits(out.logits_unbiased, ref_logits)
        assert_same_bits(out.pool3, ref_pool3)
        assert out.spatial is not None and out.spatial.shape == (n, 192, 17, 17)
    # called outside inference_mode/no_grad too: the runner turns autograd off for exact itself
    out = runner(preprocess(images))
    assert not out.logits_unbiased.requires_grad
    assert_same_bits(out.logits_unbiased, ref_logits)


glibc = pytest.mark.skipif(runner_module._glibc() is None, reason="glibc malloc (Linux) only")


# Run in a fresh process: what glibc does with a freed block depends on the process's history (its
# arenas, what sits free at the top of the heap), and in a worker that had run other tests the
# "default" measurement once saw 1 fault and once 0 where 16,384 were due, with no user of
# retained_heap. A fresh interpreter starts from glibc's state as a user's run does.
HEAP_SCRIPT = """
import json, resource, sys
import torch
from inception_score.features.runner import retained_heap

def faults_touching(nbytes):
    # minor page faults while allocating and writing nbytes after 2 * nbytes were allocated, written
    # and freed: what an activation costs after the previous layer's was freed (twice the size: glibc's
    # aligned allocation asks for a little more than the block freed)
    torch.empty(nbytes // 2).fill_(1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(nbytes // 4).fill_(1.0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

size = int(sys.argv[1])
default = faults_touching(size)
with retained_heap():
    with retained_heap():  # nested: the inner exit keeps the setting
        pass
    inside = faults_touching(size)
after = faults_touching(size)
print(json.dumps({"default": default, "inside": inside, "after": after}))
"""


@glibc
def test_retained_heap_reuses_freed_memory_and_restores_glibcs_settings() -> None:
    size = 64 * 2**20  # above glibc's largest mmap threshold (32 MB): mmapped, unmapped on free
    pages = size // 4096
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    done = subprocess.run([sys.executable, "-c", HEAP_SCRIPT, str(size)], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    faults = json.loads(done.stdout)
    assert faults["default"] > pages // 2, faults  # glibc's default: every page faulted in again
    assert faults["inside"] < pages // 10, faults  # reused from the heap
    assert faults["after"] > pages // 2, faults  # glibc's behaviour again


def test_retained_heap_leaves_a_tuned_allocator_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000000")
    runner_module._glibc.cache_clear()
    try:
        assert runner_module._glibc() is None
        with retained_heap():
            pass
    finally:
        monkeypatch.delenv("GLIBC_TUNABLES")
        runner_module._glibc.cache_clear()
