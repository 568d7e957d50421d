"""The metric object: chunked updates = one pass, closed forms, refusals, DDP sync, without torchmetrics."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import inception_score
from inception_score.errors import InputError, OptionsError
from inception_score.features.network import InceptionOutput
from inception_score.metric import InceptionScore

from .conftest import make_images

CHUNKS = (5, 7, 1, 10)  # 23 images in odd-sized updates
OPTIONS = dict(bootstrap=0, progress=False)


class PerImage(nn.Module):
    """The stand-in run one image at a time: its logits do not depend on the batch (a float32
    matmul's do, by an ulp, which moves IS by ~1e-8), so one pass and chunks agree to float64 sums."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.net(x[i : i + 1]) for i in range(len(x))])


@pytest.fixture
def per_image(stand_in: nn.Module) -> nn.Module:
    return PerImage(stand_in)


def _chunks(images: Any) -> list[Any]:
    bounds = np.cumsum((0,) + CHUNKS)
    return [images[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _plain_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A copy of inception_score.metric loaded as if torchmetrics were not installed."""
    import inception_score.metric as with_torchmetrics

    monkeypatch.setitem(sys.modules, "torchmetrics", None)  # import torchmetrics -> ImportError
    spec = importlib.util.spec_from_file_location("inception_score._metric_plain", with_torchmetrics.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("protocol", ["torch-fidelity", "original"])
@pytest.mark.parametrize("num_samples", [23, None])
def test_updates_in_odd_chunks_equal_compute_on_all(
    protocol: str, num_samples: int | None, per_image: nn.Module
) -> None:
    images = make_images(23, seed=2)
    ref = inception_score.compute(images, network=per_image, splits=3, protocol=protocol, **OPTIONS)
    metric = InceptionScore(network=per_image, splits=3, protocol=protocol, num_samples=num_samples)
    for chunk in _chunks(images):
        metric.update(chunk)
    got = metric.compute()
    assert got.split_scores == pytest.approx(ref.split_scores, rel=1e-12)
    assert (got.mean, got.std) == pytest.approx((ref.mean, ref.std), rel=1e-12)
    assert (got.sharpness, got.diversity) == pytest.approx((ref.sharpness, ref.diversity), rel=1e-12)
    assert (got.num_images, got.splits, got.protocol) == (23, 3, protocol)
    assert any("IS grows with the number of images" in w for w in got.warnings)  # kept, not raised

    # Float images in [-1, 1] (a generator's tanh) round back to the same uint8 images.
    floats = InceptionScore(
        network=per_image, splits=3, protocol=protocol, num_samples=num_samples, image_range=(-1, 1)
    )
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    for chunk in _chunks(tensor):
        floats.update(chunk)
    assert floats.compute().split_scores == pytest.approx(ref.split_scores, rel=1e-12)


class Planted(nn.Module):
    """Solid-colour images -> one-hot logits: red level 20 + 40 c means class c."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        red = x[:, 0].mean(dim=(1, 2)) * 128 + 128  # undo preprocess: (v - 128) / 128
        label = ((red - 20) / 40).round().long()
        return nn.functional.one_hot(label, self.k).float() * 100


def _solid(labels: list[int]) -> torch.Tensor:
    images = torch.zeros(len(labels), 3, 8, 8, dtype=torch.uint8)
    images[:, 0] = torch.tensor([20 + 40 * c for c in labels], dtype=torch.uint8)[:, None, None]
    return images


@pytest.mark.parametrize("num_samples", [12, None])
def test_planted_classes_give_the_closed_form_values(num_samples: int | None) -> None:
    k = 4
    metric = InceptionScore(network=Planted(k), num_classes=k, splits=1, num_samples=num_samples)
    labels = [i % k for i in range(12)]
    metric.update(_solid(labels[:5]))
    metric.update(_solid(labels[5:]))
    got = metric.compute()
    assert got.mean == pytest.approx(k, rel=1e-12) and got.std == 0.0
    assert (got.sharpness, got.diversity) == pytest.approx((1.0, k), rel=1e-12)

    one_class = InceptionScore(network=Planted(k), num_classes=k, splits=1, num_samples=num_samples)
    one_class.update(_solid([2] * 12))
    assert one_class.compute().mean == pytest.approx(1.0, rel=1e-12)

    uniform = InceptionScore(network=lambda x: torch.zeros(len(x), 7), num_classes=7, splits=2)
    uniform.update(_solid(labels))
    assert uniform.compute().mean == pytest.approx(1.0, rel=1e-12)

    logits = InceptionScore(network=Planted(k), num_classes=k, splits=1, num_samples=num_samples)
    logits.update_logits(torch.eye(k)[torch.tensor(labels)] * 100)
    assert logits.compute().mean == pytest.approx(k, rel=1e-12)


def test_num_samples_is_enforced_honestly(per_image: nn.Module) -> None:
    images = make_images(10, seed=4)
    metric = InceptionScore(network=per_image, splits=2, num_samples=10)
    metric.update(images[:8])
    with pytest.raises(
        InputError, match=r"compute: 2 of num_samples=10 images have not been given \(first missing: index 8\)"
    ):
        metric.compute()
    with pytest.raises(InputError, match="update: image index 10 is beyond num_samples=10"):
        metric.update(images[:3])  # images 8, 9, 10: refused whole, nothing added
    metric.update(images[8:])
    metric.compute()
    metric.update(images[:1], indices=[3])
    with pytest.raises(InputError, match="compute: image index 3 was given 2 times"):
        metric.compute()
    metric.reset()
    metric.update(images)  # the default index counts from 0 again
    assert metric.compute().num_images == 10


def test_bad_arguments_are_refused(per_image: nn.Module) -> None:
    metric = InceptionScore(network=per_image, splits=2)
    with pytest.raises(OptionsError, match="update: give images, or logits=, not both"):
        metric.update()
    with pytest.raises(InputError, match=r"expected logits of shape N x 1008, got \(3, 50\) \(set num_classes"):
        metric.update_logits(torch.zeros(3, 50))
    with pytest.raises(InputError, match="update: images: expected uint8, or float in"):
        metric.update(np.zeros((2, 8, 8, 3), dtype=np.int16))
    with pytest.raises(InputError, match=r"float values must lie in \[0, 1\]"):
        metric.update(torch.full((2, 3, 8, 8), 2.0))
    with pytest.raises(InputError, match="expected uint8, got dtype torch.float32; for float images"):
        InceptionScore(network=per_image, image_range=None).update(torch.zeros(2, 3, 8, 8))
    with pytest.raises(InputError, match="update: indices must be 2 integers"):
        metric.update(np.zeros((2, 8, 8, 3), dtype=np.uint8), indices=[0])
    metric.update_logits(torch.zeros(2, 1008), indices=[0, 1])
    metric.update_logits(torch.zeros(2, 1008), indices=[1, 2])
    with pytest.raises(InputError, match="compute: image index 1 was given more than once"):
        metric.compute()
    with pytest.raises(OptionsError, match="protocol: got 'tf'"):
        InceptionScore(network=per_image, protocol="tf")
    with pytest.raises(OptionsError, match="splits: got 10, but protocol 'adm' uses consecutive chunks"):
        InceptionScore(network=per_image, protocol="adm", splits=10)
    with pytest.raises(OptionsError, match=r"splits: 10 splits need at least 10 images, got 5"):
        InceptionScore(network=per_image, num_samples=5)
    with pytest.raises(OptionsError, match="precision: got 'half'"):
        InceptionScore(network=per_image, precision="half")


def test_merge_of_two_halves_equals_one_pass(per_image: nn.Module) -> None:
    images = make_images(23, seed=2)
    for num_samples in (23, None):
        ref = InceptionScore(network=per_image, splits=3, num_samples=num_samples)
        ref.update(images)
        a = InceptionScore(network=per_image, splits=3, num_samples=num_samples)
        b = InceptionScore(network=per_image, splits=3, num_samples=num_samples, protocol="torch-fidelity")
        a.update(images[:9])  # (b names the default protocol, a does not: the same options)
        b.update(images[9:], indices=np.arange(9, 23))
        assert a.merge(b).compute().split_scores == pytest.approx(ref.compute().split_scores, rel=1e-12)
    with pytest.raises(OptionsError, match="merge: the metrics differ in their options"):
        InceptionScore(network=per_image, splits=3).merge(InceptionScore(network=per_image, splits=2))


def test_without_torchmetrics_the_same_methods_work(monkeypatch: pytest.MonkeyPatch, per_image: nn.Module) -> None:
    plain = _plain_module(monkeypatch)
    assert plain.TORCHMETRICS is False and plain.InceptionScore.__mro__[1] is plain._PlainMetric
    images = make_images(23, seed=2)
    ref = inception_score.compute(images, network=per_image, splits=3, **OPTIONS)
    for num_samples in (23, None):
        metric = plain.InceptionScore(network=per_image, splits=3, num_samples=num_samples, return_features=True)
        for chunk in _chunks(images):
            assert metric(chunk).logits_unbiased.shape == (len(chunk), 1008)  # __call__ -> forward -> its output
        assert metric.compute().split_scores == pytest.approx(ref.split_scores, rel=1e-12)
        half = plain.InceptionScore(network=per_image, splits=3, num_samples=num_samples)
        half.update(images[:9])
        other = plain.InceptionScore(network=per_image, splits=3, num_samples=num_samples)
        other.update(images[9:], indices=range(9, 23))
        assert half.merge(other).compute().split_scores == pytest.approx(ref.split_scores, rel=1e-12)
        metric.reset()
        metric.update(images[:5])
        assert metric.to("cpu").device == torch.device("cpu")
    with pytest.raises(OptionsError, match="unknown option 'sync_on_compute'"):
        plain.InceptionScore(network=per_image, sync_on_compute=False)


def test_real_network_matches_compute_and_returns_features(checkpoint_path: Path) -> None:
    images = make_images(2, seed=5)  # the real network costs ~1 s per image on a small CPU
    ref = inception_score.compute(images, weights=str(checkpoint_path), splits=1, **OPTIONS)
    metric = InceptionScore(weights=checkpoint_path, splits=1, num_samples=2, return_features=True)
    outputs = [metric(images[:1]), metric(images[1:])]  # one pass feeds IS and whatever wants pool3 (FID)
    assert all(isinstance(out, InceptionOutput) for out in outputs) and metric.last_output is outputs[1]
    assert outputs[0].pool3.shape == (1, 2048) and outputs[0].logits.shape == (1, 1008)
    got = metric.compute()
    assert got.split_scores == pytest.approx(ref.split_scores, rel=1e-6)  # convolutions differ by batch, ~1e-7
    assert got.weights_sha256 == ref.weights_sha256 and got.precision == "exact"
    assert got.top_classes[0]["name"] == ref.top_classes[0]["name"]  # class names, as compute gives them
    metric.reset()
    metric.update_logits(torch.cat([out.logits_unbiased for out in outputs]))
    assert metric.compute().split_scores == pytest.approx(got.split_scores, rel=1e-12)
    bias = torch.load(checkpoint_path, weights_only=True)["fc.bias"]
    assert torch.allclose(outputs[0].logits - outputs[0].logits_unbiased, bias, atol=1e-5)


# Two processes on gloo; each rank updates its part; compute() on every rank gives the full-set score.
DDP_WORKER = """
import importlib.util, json, sys
import numpy as np, torch, torch.distributed as dist
from torch import nn

N, SPLITS, C = 31, 3, 50


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("weight", torch.randn(C, 108, generator=g) * 4.0)

    def forward(self, x):  # one image at a time: logits independent of the batch
        f = nn.functional.adaptive_avg_pool2d(x, 6).flatten(1)
        f = f - f.mean(1, keepdim=True)
        return torch.cat([f[i : i + 1] @ self.weight.T for i in range(len(f))])


def images():
    coarse = np.random.default_rng(0).integers(0, 256, (N, 4, 4, 3), dtype=np.uint8)
    return coarse.repeat(4, axis=1).repeat(4, axis=2)


def plain_module():
    import inception_score.metric as tm
    sys.modules["torchmetrics"] = None
    spec = importlib.util.spec_from_file_location("inception_score._metric_plain", tm.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def split_scores(module, num_samples, how, rank, world, x, net):
    m = module.InceptionScore(network=net, num_classes=C, splits=SPLITS, num_samples=num_samples)
    if how == "halves":  # explicit indices
        lo, hi = rank * N // world, (rank + 1) * N // world
        mid = (lo + hi) // 2
        m.update(x[lo:mid], indices=np.arange(lo, mid))
        m.update(x[mid:hi], indices=np.arange(mid, hi))
    else:  # DistributedSampler(shuffle=False) order with the default indices
        mine = x[rank::world]
        m.update(mine[:3])
        m.update(mine[3:])
    return m.compute().split_scores


if __name__ == "__main__":
    rank, world, init, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    import inception_score.metric as tm
    modules = {"torchmetrics": tm, "plain": plain_module()}
    x, net = images(), Net()
    result = {
        f"{name}-{num_samples}-{how}": split_scores(module, num_samples, how, rank, world, x, net)
        for name, module in modules.items()
        for num_samples in (N, None)
        for how in ("halves", "interleaved")
    }
    dist.destroy_process_group()
    with open(out, "w") as f:
        json.dump(result, f)
"""


def test_ddp_sync_on_gloo_gives_every_rank_the_full_score(tmp_path: Path) -> None:
    script = tmp_path / "ddp_worker.py"
    script.write_text(DDP_WORKER)
    spec = importlib.util.spec_from_file_location("ddp_worker", script)
    assert spec is not None and spec.loader is not None
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    ref = InceptionScore(network=worker.Net(), num_classes=worker.C, splits=worker.SPLITS)
    ref.update(worker.images())
    expected = ref.compute().split_scores

    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(rank), "2", init, str(tmp_path / f"rank{rank}.json")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=300)[0] for p in procs]  # generous: a loaded 2-core machine
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, output in zip(procs, outputs, strict=True):
        assert p.returncode == 0, output[-3000:]
    for rank in range(2):
        results = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert len(results) == 8
        for case, scores in results.items():
            assert scores == pytest.approx(expected, rel=1e-12), (rank, case)
