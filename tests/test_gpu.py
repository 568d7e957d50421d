"""On an NVIDIA GPU: exact equals the CPU, fast stays within its tolerance, the GPU pipeline's
parts (decode workers, pinned memory, batch size from free memory) change nothing.

Every test here compares a GPU run with a CPU run, so it means something only where CUDA really
is: without it the tests are skipped, saying why, and never run on the CPU, where they would
compare the CPU with itself and pass without showing anything about a GPU. CI has no GPU;
``benchmarks/gpu_check.sh`` runs this file on a GPU machine. ``INCEPTION_SCORE_TEST_DEVICE=cuda:N``
picks a GPU; ``INCEPTION_SCORE_REQUIRE_GPU=1`` turns the skip into a failure, so that a GPU check
run on a machine whose CUDA is broken fails instead of reporting "skipped" with exit code 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import inception_score

from .conftest import make_images, write_images
from .test_runtime import FAST_IS_TOLERANCE

# GPU exact = CPU exact to ~2e-7 relative in IS when TF32 is off (measured on an A100 with
# torch-fidelity's own code paths, REFERENCE.md); the bound is 1e-5. cuDNN's default TF32
# moves IS by ~2e-4, which this bound catches.
GPU_EQUALS_CPU = 1e-5

NO_GPU = (
    "no CUDA GPU here: these tests compare GPU runs with CPU runs, and on a CPU they would compare "
    "the CPU with itself, which is no evidence about a GPU (benchmarks/gpu_check.sh runs them on a GPU machine)"
)


@pytest.fixture(scope="module")
def device() -> str:
    name = os.environ.get("INCEPTION_SCORE_TEST_DEVICE", "cuda")
    if not name.startswith("cuda"):
        pytest.fail(f"INCEPTION_SCORE_TEST_DEVICE={name}: expected cuda or cuda:N ({NO_GPU})")
    if not torch.cuda.is_available():
        if os.environ.get("INCEPTION_SCORE_REQUIRE_GPU") == "1":
            pytest.fail(f"INCEPTION_SCORE_REQUIRE_GPU=1, but torch.cuda.is_available() is False: {NO_GPU}")
        pytest.skip(NO_GPU)
    return name


def assert_ran_on_the_gpu(result: inception_score.Result) -> None:
    assert result.device.startswith("cuda"), f"ran on {result.device}, not on a GPU"


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 images of three sizes and two formats, as a user's folder might be."""
    folder = tmp_path_factory.mktemp("gpu") / "mixed"
    write_images(folder, make_images(16, (32, 32), seed=1), "png", start=0)
    write_images(folder, make_images(16, (256, 256), seed=2), "png", start=16)
    write_images(folder, make_images(16, (120, 90), seed=3), "jpg", start=32)
    return folder


def _score(folder: Path, checkpoint: Path, **options) -> inception_score.Result:
    defaults = {"weights": str(checkpoint), "splits": 4, "progress": False, "batch_size": 16}
    return inception_score.compute(folder, **{**defaults, **options})


@pytest.fixture(scope="module")
def cpu_exact(mixed_folder: Path, checkpoint_path: Path) -> inception_score.Result:
    return _score(mixed_folder, checkpoint_path, device="cpu")


def test_exact_on_the_gpu_equals_the_cpu(device: str, mixed_folder: Path, checkpoint_path: Path, cpu_exact) -> None:
    gpu = _score(mixed_folder, checkpoint_path, device=device)
    assert_ran_on_the_gpu(gpu)
    assert cpu_exact.mean > 3.0  # a confident, diverse classifier: equality means something
    assert gpu.mean == pytest.approx(cpu_exact.mean, rel=GPU_EQUALS_CPU)
    assert gpu.split_scores == pytest.approx(cpu_exact.split_scores, rel=GPU_EQUALS_CPU)


def test_exact_turns_tf32_off_even_when_the_user_turned_it_on(
    device: str, mixed_folder: Path, checkpoint_path: Path, cpu_exact
) -> None:
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        gpu = _score(mixed_folder, checkpoint_path, device=device)
        assert_ran_on_the_gpu(gpu)
        # and gives the user's settings back
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    assert gpu.mean == pytest.approx(cpu_exact.mean, rel=GPU_EQUALS_CPU)


def test_fast_on_the_gpu_stays_within_its_tolerance(
    device: str, mixed_folder: Path, checkpoint_path: Path, cpu_exact
) -> None:
    fast = _score(mixed_folder, checkpoint_path, device=device, precision="fast", check_precision=48)
    assert_ran_on_the_gpu(fast)
    assert fast.mean == pytest.approx(cpu_exact.mean, rel=FAST_IS_TOLERANCE)
    check = fast.precision_check
    assert check is not None and check["num_images"] == 48
    one_split = _score(mixed_folder, checkpoint_path, device="cpu", splits=1)  # the check is one split
    assert check["inception_score_exact"] == pytest.approx(one_split.mean, rel=GPU_EQUALS_CPU)
    assert check["relative_deviation"] < FAST_IS_TOLERANCE


def test_decode_workers_and_pinned_memory_change_nothing(
    device: str, mixed_folder: Path, checkpoint_path: Path
) -> None:
    alone = _score(mixed_folder, checkpoint_path, device=device, num_workers=0)
    workers = _score(mixed_folder, checkpoint_path, device=device, num_workers=4)
    assert_ran_on_the_gpu(alone)
    assert workers.split_scores == alone.split_scores  # bit-identical: same batches, same kernels


def test_the_batch_size_follows_free_memory_and_changes_the_score_by_rounding_only(
    device: str, mixed_folder: Path, checkpoint_path: Path, cpu_exact
) -> None:
    auto = _score(mixed_folder, checkpoint_path, device=device, batch_size=None)
    assert_ran_on_the_gpu(auto)
    assert 16 <= auto.batch_size <= 500
    assert auto.mean == pytest.approx(cpu_exact.mean, rel=GPU_EQUALS_CPU)


def test_in_memory_uint8_on_the_gpu_equals_the_folder(device: str, checkpoint_path: Path) -> None:
    images = make_images(24, (64, 64), seed=9)  # N x H x W x 3 uint8
    from_numpy = inception_score.compute(
        images, weights=str(checkpoint_path), splits=3, progress=False, device=device, batch_size=8
    )
    on_device = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(device)
    from_tensor = inception_score.compute(
        on_device, weights=str(checkpoint_path), splits=3, progress=False, device=device, batch_size=8
    )
    assert_ran_on_the_gpu(from_tensor)
    assert from_tensor.split_scores == pytest.approx(from_numpy.split_scores, rel=1e-6)


def test_the_metric_on_the_gpu_equals_compute(device: str, checkpoint_path: Path) -> None:
    from inception_score import InceptionScore

    images = torch.from_numpy(make_images(20, (48, 48), seed=4)).permute(0, 3, 1, 2).contiguous()
    metric = InceptionScore(weights=str(checkpoint_path), splits=2, num_samples=20, device=device)
    for chunk in images.split(7):
        metric.update(chunk.to(device))
    got = metric.compute()
    want = inception_score.compute(images, weights=str(checkpoint_path), splits=2, progress=False, device=device)
    assert got.mean == pytest.approx(want.mean, rel=1e-5)
