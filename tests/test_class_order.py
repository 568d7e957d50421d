"""Class-ordered input under a file-order protocol is detected, calibrated for unsure networks (issue 13.3)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import inception_score
from inception_score.metrics.inception import class_order_test

from .conftest import make_images, write_images

CLASSES, SPLITS, CHUNK = 1000, 10, 5000


def split_sums(num_images: int, signal: float, order: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(count, sum_p per split, sum_p^2 per class) of synthetic images stored in ``order`` (a
    permutation of image ids), split as the file-order protocols split: image id j has class
    ``labels[j]`` and logits = ``signal`` x one-hot + N(0, 1) noise (a soft, unsure classifier for
    small signals). Streams in chunks of ids, so 50,000 images cost no 50,000 x 1000 matrix."""
    labels = np.random.default_rng(7).choice(
        CLASSES, num_images, p=np.random.default_rng(8).dirichlet(np.full(CLASSES, 2.0))
    )
    position = np.empty(num_images, dtype=np.int64)
    position[order] = np.arange(num_images)
    split_of = position * SPLITS // num_images  # i*N//S boundaries, as the protocols
    sum_p = np.zeros((SPLITS, CLASSES))
    sum_p2 = np.zeros(CLASSES)
    for lo in range(0, num_images, CHUNK):
        ids = np.arange(lo, min(lo + CHUNK, num_images))
        logits = np.random.default_rng(lo).normal(0.0, 1.0, (len(ids), CLASSES))
        logits[np.arange(len(ids)), labels[ids]] += signal
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        np.add.at(sum_p, split_of[ids], p)
        sum_p2 += (p * p).sum(axis=0)
    count = np.bincount(split_of, minlength=SPLITS).astype(np.float64)
    return torch.from_numpy(count), torch.from_numpy(sum_p), torch.from_numpy(sum_p2)


def labels_order(num_images: int) -> np.ndarray:
    labels = np.random.default_rng(7).choice(
        CLASSES, num_images, p=np.random.default_rng(8).dirichlet(np.full(CLASSES, 2.0))
    )
    return np.argsort(labels, kind="stable")


@pytest.mark.parametrize("num_images", [5_000, 50_000])
def test_fires_on_class_ordered_sets_of_an_unsure_network_and_not_on_them_shuffled(num_images: int) -> None:
    signal = 4.0  # mean top-1 probability 0.05 over 1000 classes: a soft, unsure classifier
    ordered = class_order_test(*split_sums(num_images, signal, labels_order(num_images)))
    assert ordered["ordered"], ordered
    for seed in range(3):
        shuffled = class_order_test(
            *split_sums(num_images, signal, np.random.default_rng(seed).permutation(num_images))
        )
        assert not shuffled["ordered"], shuffled
        # the chance level is what random splits really give (the old formula was ~9x too high)
        assert shuffled["gap"] == pytest.approx(shuffled["chance"], rel=0.15)


@pytest.mark.parametrize("num_images,classes,splits", [(1000, 50, 10), (200, 50, 4), (40, 4, 4)])
def test_no_false_alarm_for_confident_predictions_with_few_images_per_class(num_images, classes, splits) -> None:
    """One-hot predictions, 1 to 10 images per class and split: the quadratic chance level is up to
    27% low there, which the margin covers (0 false alarms in 2,000 orders each, measured)."""
    p = np.eye(classes)[np.repeat(np.arange(classes), num_images // classes)]
    bounds = np.array([i * num_images // splits for i in range(splits + 1)])
    count = torch.from_numpy(np.diff(bounds).astype(np.float64))
    sum_p2 = torch.from_numpy((p * p).sum(axis=0))
    rng = np.random.default_rng(0)
    for _ in range(200):
        shuffled = np.add.reduceat(p[rng.permutation(num_images)], bounds[:-1], axis=0)
        assert not class_order_test(count, torch.from_numpy(shuffled), sum_p2)["ordered"]
    assert class_order_test(count, torch.from_numpy(np.add.reduceat(p, bounds[:-1], axis=0)), sum_p2)["ordered"]


def test_the_reported_example_is_now_warned_about(tmp_path: Path, checkpoint_path: Path) -> None:
    """20 images of 32x32 in 4 groups of 5 noisy copies of one coarse colour layout, stored group by
    group, protocol original, 4 splits: the splits scored ~1 against ~3 as one split, without a warning."""
    rng = np.random.default_rng(0)
    layouts = make_images(4, (32, 32), seed=90)
    images = np.concatenate(
        [np.clip(layout[None] + rng.normal(0, 0.5, (5, 32, 32, 3)), 0, 255).astype(np.uint8) for layout in layouts]
    )
    write_images(tmp_path / "grouped", images)
    # the shuffled set's pixels are the grouped set's: a --cache gives them the same network outputs (one pass)
    run = dict(weights=str(checkpoint_path), protocol="original", splits=4, progress=False, bootstrap=0,
               cache=str(tmp_path / "cache"))  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grouped = inception_score.compute(tmp_path / "grouped", **run)
        write_images(tmp_path / "mixed", images[np.random.default_rng(1).permutation(20)])
        mixed = inception_score.compute(tmp_path / "mixed", **run)
    assert grouped.mean < 0.7 * grouped.inception_score_one_split  # the splits see one group each
    assert any("ordered by class" in w for w in grouped.warnings)
    assert not any("ordered by class" in w for w in mixed.warnings)
