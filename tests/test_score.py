"""The mathematics: closed forms, the accumulator's algebra, and each protocol against its reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_fidelity.metric_isc import isc_features_to_metric

from inception_score.errors import OptionsError
from inception_score.metrics.inception import ISAccumulator, inception_score_from_logits
from inception_score.metrics.protocols import SplitPlan


def random_logits(n: int, classes: int = 1008, seed: int = 0, scale: float = 6.0) -> torch.Tensor:
    return torch.randn(n, classes, generator=torch.Generator().manual_seed(seed)) * scale


# ---------------------------------------------------------------- closed forms


def test_uniform_predictions_give_one() -> None:
    mean, std, scores = inception_score_from_logits(torch.zeros(100, 1008), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [1, 2, 7, 1000])
def test_one_hot_predictions_over_k_classes_give_k(k: int) -> None:
    logits = torch.full((k * 3, 1008), -1e4)
    logits[torch.arange(k * 3), torch.arange(k * 3) % k] = 0.0  # each of k classes used 3 times
    mean, _, _ = inception_score_from_logits(logits, splits=1, protocol="original")
    assert mean == pytest.approx(k, rel=1e-12)


def test_identical_confident_predictions_give_one() -> None:
    logits = torch.zeros(50, 1008)
    logits[:, 3] = 1e3
    assert inception_score_from_logits(logits, splits=1)[0] == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(2, 40), st.floats(0.0, 50.0), st.integers(0, 10_000))
def test_score_lies_between_one_and_the_number_of_classes(n: int, classes: int, scale: float, seed: int) -> None:
    logits = random_logits(n, classes, seed, scale)
    scores = inception_score_from_logits(logits, splits=1)[2]
    assert 1.0 - 1e-9 <= scores[0] <= min(classes, n) + 1e-9


# ---------------------------------------------------------------- the accumulator


def test_batch_by_batch_equals_one_shot_equals_merge_of_halves() -> None:
    logits = random_logits(257)
    plan = SplitPlan("torch-fidelity", 257, 10)
    ids = plan.split_of(np.arange(257))

    one = ISAccumulator(10)
    one.update(logits, ids)
    batched = ISAccumulator(10)
    for start in range(0, 257, 33):
        batched.update(logits[start : start + 33], ids[start : start + 33])
    a, b = ISAccumulator(10), ISAccumulator(10)
    a.update(logits[:100], ids[:100])
    b.update(logits[100:], ids[100:])

    np.testing.assert_allclose(batched.split_scores(), one.split_scores(), rtol=1e-12)
    np.testing.assert_allclose((a + b).split_scores(), one.split_scores(), rtol=1e-12)


def test_state_round_trip_and_merge_shape_check() -> None:
    acc = ISAccumulator(3)
    acc.update(random_logits(9), np.arange(9) % 3)
    again = ISAccumulator.from_state_dict(acc.state_dict())
    np.testing.assert_array_equal(again.split_scores(), acc.split_scores())
    with pytest.raises(ValueError, match="different shapes"):
        acc.merge(ISAccumulator(4))


def test_memory_does_not_grow_with_images() -> None:
    acc = ISAccumulator(10)
    sizes = [t.numel() for t in acc.state_dict().values()]
    for seed in range(5):
        acc.update(random_logits(64, seed=seed), np.arange(64) % 10)
    assert [t.numel() for t in acc.state_dict().values()] == sizes


def test_empty_split_is_an_error_not_nan() -> None:
    acc = ISAccumulator(2)
    acc.update(random_logits(3), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"splits \[1\] hold no images"):
        acc.split_scores()


# ---------------------------------------------------------------- protocols against their references


def improved_gan_formula(preds: np.ndarray, splits: int) -> list[float]:
    """openai/improved-gan inception_score.py, the loop that turns softmax outputs into scores."""
    scores = []
    for i in range(splits):
        part = preds[(i * preds.shape[0] // splits) : ((i + 1) * preds.shape[0] // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        kl = np.mean(np.sum(kl, 1))
        scores.append(np.exp(kl))
    return scores


def guided_diffusion_formula(activations: np.ndarray, split_size: int = 5000) -> float:
    """openai/guided-diffusion evaluations/evaluator.py compute_inception_score."""
    scores = []
    for i in range(0, len(activations), split_size):
        part = activations[i : i + split_size]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        kl = np.mean(np.sum(kl, 1))
        scores.append(np.exp(kl))
    return float(np.mean(scores))


@pytest.mark.parametrize("n,splits", [(100, 10), (103, 10), (57, 4), (10, 10), (31, 1)])
def test_torch_fidelity_protocol_equals_torch_fidelity(n: int, splits: int) -> None:
    logits = random_logits(n, seed=n)
    mean, std, _ = inception_score_from_logits(logits, splits=splits, protocol="torch-fidelity")
    ref = isc_features_to_metric(logits, splits=splits)
    assert mean == pytest.approx(ref["inception_score_mean"], rel=1e-12)
    assert std == pytest.approx(ref["inception_score_std"], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("n,splits", [(100, 10), (103, 10), (57, 4)])
def test_original_protocol_equals_improved_gan(n: int, splits: int) -> None:
    logits = random_logits(n, seed=n)
    preds = torch.softmax(logits.double(), 1).numpy()
    ref = improved_gan_formula(preds, splits)
    mean, std, scores = inception_score_from_logits(logits, splits=splits, protocol="original")
    np.testing.assert_allclose(scores, ref, rtol=1e-10)
    assert mean == pytest.approx(np.mean(ref), rel=1e-12) and std == pytest.approx(np.std(ref), rel=1e-9)


def test_class_ordered_input_shows_the_protocols_differ() -> None:
    # 10 classes in blocks: file-order splits each see one class (IS 1), the shuffle sees all.
    logits = torch.full((100, 1008), -50.0)
    logits[torch.arange(100), torch.arange(100) // 10] = 50.0
    assert inception_score_from_logits(logits, splits=10, protocol="original")[0] == pytest.approx(1.0)
    assert inception_score_from_logits(logits, splits=10, protocol="torch-fidelity")[0] > 5.0


@pytest.mark.parametrize("n", [12_000, 5000, 1234])
def test_adm_protocol_equals_guided_diffusion(n: int) -> None:
    logits = random_logits(n, classes=16, seed=n, scale=3.0)
    preds = torch.softmax(logits.double(), 1).numpy()
    mean, _, scores = inception_score_from_logits(logits, protocol="adm")
    assert len(scores) == -(-n // 5000)
    assert mean == pytest.approx(guided_diffusion_formula(preds), rel=1e-10)


def test_split_of_follows_from_index_and_n_alone() -> None:
    plan = SplitPlan("torch-fidelity", 1000, 10)
    full = plan.split_of(np.arange(1000))
    assert np.array_equal(np.concatenate([plan.split_of(np.arange(s, s + 100)) for s in range(0, 1000, 100)]), full)
    assert np.bincount(full).tolist() == [100] * 10
    perm = np.random.RandomState(2020).permutation(1000)
    assert np.array_equal(full[perm], np.arange(1000) // 100)  # row j of the permuted matrix


def test_plan_errors_name_the_option() -> None:
    with pytest.raises(OptionsError, match="10 splits need at least 10 images, got 3"):
        SplitPlan("torch-fidelity", 3, 10)
    with pytest.raises(OptionsError, match="splits: got 0"):
        SplitPlan("original", 30, 0)
    with pytest.raises(OptionsError, match="chunks of 5000"):
        SplitPlan("adm", 30, 10)
    with pytest.raises(OptionsError, match="expected one of torch-fidelity, original, adm"):
        SplitPlan("tf", 30, 10)
