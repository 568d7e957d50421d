"""Precision modes: exact is the reference computation; fast stays within a stated tolerance of it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

import inception_score
from inception_score.features.network import BasicConv2d, InceptionV3
from inception_score.features.outputs import NetworkOutputs
from inception_score.features.preprocess import preprocess
from inception_score.features.runner import Runner, cpu_bf16_units, fold_batch_norm
from inception_score.features.weights import load_state_dict
from inception_score.metrics.inception import inception_score_from_logits

from .conftest import make_images

CPU = torch.device("cpu")

# The bounds of fast in bfloat16 are checked where fast runs bfloat16: a CPU with bf16 units (AVX-512
# BF16, AMX; `fast_plan`). Elsewhere fast runs float32 (checked below on every CPU), and oneDNN would
# emulate bf16 several times slower than float32 to check a path that such a CPU never takes: 16 s
# of the suite on a 2-core CPU held to AVX2, ~50 s on a slower AVX2-only one.
needs_bf16_units = pytest.mark.skipif(
    cpu_bf16_units() is None,
    reason="no bf16 units on this CPU: --precision fast runs float32 here (tested), bf16 would be emulated",
)

# Measured on the calibrated random-weight checkpoint of conftest.py (40 images 32x32): fast
# (bf16) moves IS by ~8% relative and agrees on the top-1 class for ~40% of images. A random
# deep network is chaotic (tiny perturbations grow layer by layer), a worst case for bf16; the
# real weights are expected to deviate far less, which --check-precision measures on real data.
FAST_IS_TOLERANCE = 0.15

# Image by image, the relative L2 error of fast's logits, |fast - exact| / |exact| per row. Measured
# on the 16 images of ``batch`` below (AVX-512 CPU, torch 2.x): 0.25 to 0.48, mean 0.38; pool3: 0.10
# to 0.14. Large because the random network is chaotic (each layer alone is within 0.8% in bf16,
# see FAST_LAYER_TOLERANCE), and stated with ~1.5x margin for other CPUs' bf16 kernels. Loose as it
# is, it is per image, so a fast-only bug that wrecks the logits while IS moves less than
# FAST_IS_TOLERANCE fails here (a dropped ReLU in the folded convolutions: logits off by ~1e8, IS by
# 16% in bf16 and 6.5% with fast_dtype=float32). Subtler fold bugs (a wrong eps: logits 0.41 off in
# float32, IS 0.1% in bf16) are caught by the float32 run of the fast path at 1e-4, below.
FAST_LOGITS_TOLERANCE = 0.7
FAST_POOL3_TOLERANCE = 0.25
# Each folded conv + ReLU in bf16 against the exact conv + batch norm + ReLU on the same input,
# relative L2 error: measured at most 0.73% (median 0.35%) over the 94 layers on 4 images.
FAST_LAYER_TOLERANCE = 0.015


@pytest.fixture(scope="module")
def net(checkpoint_path: Path) -> InceptionV3:
    model = InceptionV3()
    model.load_checkpoint(load_state_dict(checkpoint_path))
    return model.eval()


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return preprocess(torch.from_numpy(make_images(16, (32, 32), seed=31)).permute(0, 3, 1, 2))


# The batch's outputs of each runner are computed once and shared by the tests that compare them (the
# full-size network costs ~0.1 s an image on a 2-core CPU held to AVX2, ~0.3 s on a slower one).
@pytest.fixture(scope="module")
def exact(net: InceptionV3, batch: torch.Tensor) -> NetworkOutputs:
    with torch.inference_mode():
        return Runner(net, CPU, "exact")(batch)


@pytest.fixture(scope="module")
def fast32(net: InceptionV3, batch: torch.Tensor) -> NetworkOutputs:
    with torch.inference_mode():
        return Runner(net, CPU, "fast", fast_dtype=torch.float32)(batch)


@pytest.fixture(scope="module")
def exact_and_bf16(net: InceptionV3, batch: torch.Tensor, exact) -> tuple[NetworkOutputs, NetworkOutputs]:
    """The exact runner's outputs and the fast path's in bf16 on the batch, for the tests of the fast
    path's bounds (run only with bf16 units: ``needs_bf16_units``)."""
    with torch.inference_mode():
        return exact, Runner(net, CPU, "fast", fast_dtype=torch.bfloat16)(batch)


def test_exact_runner_is_the_plain_network(net: InceptionV3, batch: torch.Tensor, exact) -> None:
    with torch.inference_mode():
        assert torch.equal(exact.logits_unbiased, net(batch).logits_unbiased)


def test_folding_batch_norm_keeps_fp32_results(net: InceptionV3, batch: torch.Tensor, exact) -> None:
    ref = exact.pool3  # the plain network's (the test above)
    with torch.inference_mode():
        folded = fold_batch_norm(net).features(batch)
    assert (folded - ref).abs().max() <= 1e-4 * ref.abs().max()


def test_fast_path_in_float32_equals_exact(exact, fast32) -> None:
    # Everything fast does besides bf16 (folding, channels_last, fc in fp32) keeps the result.
    exact, fast32 = exact.logits_unbiased, fast32.logits_unbiased
    assert (fast32 - exact).abs().max() <= 1e-4 * exact.abs().max()
    is_exact = inception_score_from_logits(exact, splits=1)[0]
    assert inception_score_from_logits(fast32, splits=1)[0] == pytest.approx(is_exact, rel=1e-4)


@needs_bf16_units
def test_fast_stays_within_the_stated_tolerance(exact_and_bf16) -> None:
    exact, fast = (outputs.logits_unbiased for outputs in exact_and_bf16)
    assert fast.dtype == torch.float32 and fast.shape == exact.shape
    assert not torch.equal(fast, exact)  # it really ran in bf16
    is_exact = inception_score_from_logits(exact, splits=1)[0]
    is_fast = inception_score_from_logits(fast, splits=1)[0]
    assert abs(is_fast - is_exact) <= FAST_IS_TOLERANCE * is_exact


def relative_errors(got: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
    """|got - want| / |want| of each row (image), L2 over the rest."""
    return (got - want).flatten(1).norm(dim=1) / want.flatten(1).norm(dim=1)


@needs_bf16_units
def test_fast_logits_stay_within_the_stated_bound_image_by_image(exact_and_bf16) -> None:
    exact, fast = exact_and_bf16
    logits = relative_errors(fast.logits_unbiased, exact.logits_unbiased)
    pool3 = relative_errors(fast.pool3, exact.pool3)
    assert float(logits.max()) <= FAST_LOGITS_TOLERANCE, logits.tolist()
    assert float(pool3.max()) <= FAST_POOL3_TOLERANCE, pool3.tolist()
    assert float(logits.min()) > 1e-3  # it really ran in bf16 (float32 is ~1e-4)


@needs_bf16_units
def test_each_folded_layer_in_bf16_is_within_rounding_of_the_exact_layer(net: InceptionV3) -> None:
    # The network's chaos amplifies rounding layer by layer; one layer at a time it is bf16's own.
    inputs: dict[str, torch.Tensor] = {}
    blocks = {name: m for name, m in net.named_modules() if isinstance(m, BasicConv2d)}
    hooks = [
        m.register_forward_pre_hook(lambda _, args, name=name: inputs.__setitem__(name, args[0].clone()))
        for name, m in blocks.items()
    ]
    images = preprocess(torch.from_numpy(make_images(4, (32, 32), seed=33)).permute(0, 3, 1, 2))
    try:
        with torch.inference_mode():
            net(images)
    finally:
        for hook in hooks:
            hook.remove()
    folded = dict(fold_batch_norm(net).to(torch.bfloat16).to(memory_format=torch.channels_last).named_modules())
    assert len(inputs) == 94
    errors = {}
    with torch.inference_mode():
        for name, x in inputs.items():
            want = blocks[name](x)
            got = folded[name](x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)).float()
            errors[name] = float((got - want).norm() / want.norm())
    worst = max(errors, key=errors.__getitem__)
    assert errors[worst] <= FAST_LAYER_TOLERANCE, (worst, errors[worst])


def test_check_precision_reports_the_measured_deviation(checkpoint_path: Path) -> None:
    images = make_images(6, (32, 32), seed=32)
    run = dict(weights=str(checkpoint_path), batch_size=2, progress=False)  # 3 batches: the limit is in total
    result = inception_score.compute(images, splits=2, precision="fast", check_precision=4, **run)
    check = result.precision_check
    assert result.precision == "fast" and check is not None
    assert check["num_images"] == 4  # the first 4 images, not 4 of each batch
    assert check["relative_deviation"] == pytest.approx(
        abs(check["inception_score_fast"] - check["inception_score_exact"]) / check["inception_score_exact"]
    )
    exact_first4 = inception_score.compute(images[:4], splits=1, **run)
    assert check["inception_score_exact"] == pytest.approx(exact_first4.mean, rel=1e-9)
    fast_first4 = inception_score.compute(images[:4], splits=1, precision="fast", **run)
    # both sides are what they say: the run's fast numbers (~2% from exact here in bf16), not exact twice
    assert check["inception_score_fast"] == pytest.approx(fast_first4.mean, rel=1e-4)
    if result.fast_dtype == "bfloat16":
        assert check["relative_deviation"] > 1e-3
    else:  # a CPU without bf16 units: fast runs float32 (tests/test_first_minutes.py)
        assert result.fast_dtype == "float32" and 0 < check["relative_deviation"] < 1e-4
    assert "precision check: fast" in result.summary()


def test_check_precision_needs_fast() -> None:
    with pytest.raises(inception_score.OptionsError, match="add --precision fast"):
        inception_score.Options(check_precision=10)


def test_worker_processes_give_the_same_result_as_one_process(png_folder: Path, stand_in) -> None:
    one = inception_score.compute(png_folder, network=stand_in, splits=4, num_workers=0, batch_size=8, progress=False)
    two = inception_score.compute(png_folder, network=stand_in, splits=4, num_workers=2, batch_size=8, progress=False)
    assert two.split_scores == one.split_scores  # bit-identical


def test_compiled_runner_pads_batches_to_one_shape(net: InceptionV3, batch: torch.Tensor, fast32, monkeypatch) -> None:
    runner = Runner(net, CPU, "fast", fast_dtype=torch.float32, batch_size=6)
    shapes: list[int] = []
    inner = runner.features
    runner.compiled = True  # exercise the padding without paying a compilation
    runner.features = lambda x: (shapes.append(len(x)), inner(x))[1]
    with torch.inference_mode():
        padded = runner(batch).logits_unbiased
    plain = fast32.logits_unbiased  # the same runner's, unpadded, in one batch
    assert shapes == [6, 6, 6]  # 16 images as 6 + 6 + 4 padded to 6
    assert (padded - plain).abs().max() <= 1e-4 * plain.abs().max()


def test_a_second_call_reuses_the_network_until_the_weights_change(
    checkpoint_path: Path, tmp_path: Path, monkeypatch
) -> None:
    from inception_score.features import extractor as pipeline

    weights_file = tmp_path / "weights.pt"
    state = load_state_dict(checkpoint_path)
    torch.save(state, weights_file)
    images = make_images(6, (32, 32), seed=5)
    monkeypatch.setattr(pipeline, "_KEPT", {})  # nothing kept from earlier tests
    loads: list[str] = []
    real_load = pipeline.load_network
    monkeypatch.setattr(pipeline, "load_network", lambda *a, **k: (loads.append("load"), real_load(*a, **k))[1])

    def score() -> float:
        return inception_score.compute(images, weights=str(weights_file), splits=1, progress=False).mean

    first = score()
    assert score() == first and loads == ["load"]  # the second call loaded nothing

    # The same file rewritten in place (same inode, same size) with other weights: a new network.
    torch.save({**state, "fc.weight": state["fc.weight"].roll(1, dims=1)}, weights_file)
    os.utime(weights_file, ns=(time.time_ns(), time.time_ns() + 10**9))  # mtime surely differs
    assert score() != first and loads == ["load", "load"]
    inception_score.release_network()
    assert pipeline._KEPT == {}
