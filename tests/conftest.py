"""Shared fixtures: a confident random-weight Inception checkpoint, test images, a stand-in classifier.

The real weights cannot be downloaded here, so parity tests run torch-fidelity and this package
on the same random-weight checkpoint with the real layout (keys and shapes of
``weights-inception-2015-12-05-6726825d.pth``). A random network with a random fc layer gives
near-uniform predictions (IS ~ 1.0), against which any two implementations agree: the checkpoint
is therefore calibrated on a few images so that its predictions are confident and diverse.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from filelock import FileLock
from PIL import Image
from torch import nn

from inception_score.features.network import InceptionV3
from inception_score.features.preprocess import preprocess


def make_images(n: int, size: tuple[int, int] = (32, 32), seed: int = 0) -> np.ndarray:
    """n varied uint8 H x W x 3 images: coarse random colour layouts, upsampled, plus noise."""
    rng = np.random.default_rng(seed)
    h, w = size
    out = np.empty((n, h, w, 3), dtype=np.uint8)
    for i in range(n):
        cells = rng.integers(2, 6)
        coarse = rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((w, h), Image.BICUBIC)
        noise = rng.normal(0, rng.uniform(0, 30), (h, w, 3))
        out[i] = np.clip(np.asarray(img, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    return out


def build_confident_checkpoint(seed: int = 0, calibration: int = 16) -> dict[str, torch.Tensor]:
    """A state dict in the torch-fidelity layout whose predictions are confident and diverse.

    1. Random convolutions; batch-norm statistics set from a calibration batch (one pass in
       training mode with momentum 1), so every layer's output is normalised and depends on the
       image rather than collapsing to a constant.
    2. fc: a random matrix with the mean pool3 direction projected out (otherwise one class wins
       for every image), scaled so that the largest logit is about 30, as with the real weights: confident
       predictions.
    """
    torch.manual_seed(seed)
    net = InceptionV3()
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 1.0
            nn.init.normal_(m.bias, 0.0, 0.3)
    sizes = [(32, 32), (64, 100), (128, 128), (300, 300)]  # small to large, as the tests use
    x = torch.cat(
        [
            preprocess(torch.from_numpy(make_images(calibration // 4, size, seed=seed + 1000 + i)).permute(0, 3, 1, 2))
            for i, size in enumerate(sizes)
        ]
    )
    with torch.no_grad():
        net.train()
        net.features(x)
        net.eval()
        feats = net.features(x).double()  # calibration x 2048
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    mean = feats.mean(0)
    centred = feats - mean
    weight = torch.randn(1008, 2048, dtype=torch.float64)
    direction = mean / mean.norm()
    weight -= (weight @ direction)[:, None] * direction[None, :]
    # Real Inception logits peak around 20-30; aim there so that tolerances are realistic.
    weight *= 30.0 / (centred @ weight.T).abs().max()
    net.fc.weight.data = weight.float()
    net.fc.bias.data = torch.randn(1008) * 0.5
    return net.state_dict()


@pytest.fixture(scope="session")
def checkpoint_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The confident checkpoint, built once per run: under pytest-xdist the workers share one file (the
    run's temporary folder, above each worker's), built by the first under a lock (~3 s of the full-size
    network on 32 images). Read-only to the tests."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # pytest-of-USER/pytest-N/, shared by this run's workers
    folder = root / "shared-weights"
    folder.mkdir(exist_ok=True)
    path = folder / "weights-inception-2015-12-05-6726825d.pth"
    with FileLock(str(folder / "build.lock")):
        if not path.exists():
            partial = folder / "partial.pth"
            torch.save(build_confident_checkpoint(), partial)
            partial.replace(path)
    return path


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the user's torch hub cache or weights variable, or downloads anything."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("INCEPTION_SCORE_WEIGHTS", raising=False)


class StandInClassifier(nn.Module):
    """A cheap classifier over the preprocessed 299x299 input: 6x6 colour layout -> 1008 logits.

    Used where the network is not under test (the pipeline, inputs, protocols): ~1000x faster
    than Inception and confident enough to give IS well above 1.
    """

    def __init__(self, seed: int = 0, num_classes: int = 1008) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("weight", torch.randn(num_classes, 3 * 36, generator=g) * 4.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = nn.functional.adaptive_avg_pool2d(x, 6).flatten(1)  # N x 108
        feats = feats - feats.mean(dim=1, keepdim=True)
        return feats @ self.weight.T  # N x 1008


@pytest.fixture
def stand_in() -> StandInClassifier:
    return StandInClassifier()


class PooledStandIn(nn.Module):
    """The stand-in classifier plus 2048-d "pool3" features (a fixed random projection of the 6x6
    colour layout, through a ReLU), so that KID, P/R and D/C runs and reference files of the real
    layout are cheap. ``images_seen`` counts the images of every forward pass but the probe."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.classifier = StandInClassifier(seed)
        g = torch.Generator().manual_seed(seed + 1)
        self.register_buffer("projection", torch.randn(2048, 3 * 36, generator=g) * 0.1)  # |x|^2 ~ 1000: float16
        self.images_seen = 0

    def forward(self, x: torch.Tensor):  # noqa: ANN201 (InceptionOutput)
        from inception_score.features.network import InceptionOutput

        if not (len(x) == 1 and bool((x == x.flatten()[0]).all())):  # not the custom network's black probe
            self.images_seen += len(x)
        feats = nn.functional.adaptive_avg_pool2d(x, 6).flatten(1)  # N x 108
        pool3 = torch.relu(feats @ self.projection.T)  # N x 2048
        logits = self.classifier(x)
        return InceptionOutput(logits_unbiased=logits, logits=logits, pool3=pool3)


@pytest.fixture
def pooled_stand_in() -> PooledStandIn:
    return PooledStandIn()


def write_images(folder: Path, images: np.ndarray, fmt: str = "png", start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(images):
        path = folder / f"img_{start + i:05d}.{fmt}"
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def png_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pngs"
    write_images(folder, make_images(40, (32, 32), seed=7))
    return folder


def pytest_configure(config: pytest.Config) -> None:
    # Keep the suite within 2 cores and predictable; under pytest-xdist (addopts: one worker per core),
    # each worker takes its share, so that two workers on 2 cores do not run 4 threads.
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // workers)))


def torch_fidelity_image_by_image(folder: Path, checkpoint_path: Path, splits: int) -> dict[str, float]:
    """torch-fidelity's IS (its ``inception_score_mean`` and ``_std``) of the images of ``folder`` in
    sorted order, each decoded with Pillow and put through its extractor on its own: the oracle for
    folders of mixed sizes, which torch-fidelity cannot batch."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torch_fidelity.metric_isc import isc_features_to_metric

    extractor = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["logits_unbiased"], feature_extractor_weights_path=str(checkpoint_path)
    ).eval()
    logits = []
    for path in sorted(folder.iterdir()):
        image = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None]
        with torch.no_grad():
            logits.append(extractor(image)[0])
    return {k: float(v) for k, v in isc_features_to_metric(torch.cat(logits), splits=splits).items()}


def run_torchrun(args: list[str], ranks: int = 2, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node=ranks ARGS`` on CPU (gloo), one thread per rank, the
    package from this checkout. A launch that fails at the rendezvous or a gloo connection (seen
    once on the loaded 2-core machine, never in 10 reruns) is retried once; any other failure, a
    wrong number included, is the caller's to assert."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent.parent / "src")}
    for _attempt in range(2):
        done = subprocess.run([*torchrun, *args], capture_output=True, text=True, env=env, timeout=timeout)
        infrastructure = any(s in done.stderr for s in ("Connection", "rendezvous", "Address already in use"))
        if done.returncode == 0 or not infrastructure:
            break
    return done
