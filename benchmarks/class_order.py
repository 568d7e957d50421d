"""How often the class-ordered-input warning fires by chance, and whether it fires on ordered sets.

``metrics/inception.py::class_order_test`` compares the Jensen-Shannon gap between the split
marginals with what random splits of the same images would give. This script measures, on
synthetic predictions over 1000 classes (Dirichlet-distributed class frequencies; per image, a
softmax of a scaled one-hot class signal plus Gaussian noise, at three confidence levels from
"unsure" to "confident"):

* the false-alarm rate: the same images in random file order, split as the file-order protocols
  split them (S = 10 consecutive blocks), many trials;
* the detection rate: the same images stored class by class.

It feeds the split sums exactly as the accumulator keeps them (count, sum of p per split, sum of
p^2 per class). Run: ``python benchmarks/class_order.py [--trials-5k 2000] [--trials-50k 200]``.
Prints one table; the docstring of ``class_order_test`` quotes it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from inception_score.metrics.inception import class_order_test

CLASSES = 1000
SPLITS = 10
LEVELS = {"unsure": 3.0, "soft": 4.0, "medium": 5.0, "confident": 8.0, "one-hot": 100.0}  # the class signal


def predictions(n: int, signal: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(p: n x C float32 softmax probabilities, labels: n) for n images."""
    rng = np.random.default_rng(seed)
    frequencies = rng.dirichlet(np.full(CLASSES, 2.0))
    labels = rng.choice(CLASSES, size=n, p=frequencies)
    p = np.empty((n, CLASSES), dtype=np.float32)
    for lo in range(0, n, 5000):
        hi = min(lo + 5000, n)
        logits = rng.normal(0.0, 1.0, (hi - lo, CLASSES))
        logits[np.arange(hi - lo), labels[lo:hi]] += signal
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        p[lo:hi] = e / e.sum(axis=1, keepdims=True)
    return p, labels


def fires(p: np.ndarray, order: np.ndarray, sum_p2: torch.Tensor) -> bool:
    n = len(order)
    bounds = np.array([i * n // SPLITS for i in range(SPLITS + 1)])
    ordered = p[order]
    sum_p = torch.from_numpy(np.add.reduceat(ordered.astype(np.float64), bounds[:-1], axis=0))  # S x C
    count = torch.from_numpy(np.diff(bounds).astype(np.float64))
    return bool(class_order_test(count, sum_p, sum_p2)["ordered"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials-5k", type=int, default=2000)
    parser.add_argument("--trials-50k", type=int, default=200)
    args = parser.parse_args()
    print("| N | predictions | mean top-1 p | false alarms (random order) | detections (class order) | time s |")
    print("|---|---|---|---|---|---|")
    for n, trials in ((5_000, args.trials_5k), (50_000, args.trials_50k)):
        for level, signal in LEVELS.items():
            start = time.perf_counter()
            p, labels = predictions(n, signal, seed=n + int(signal))
            sum_p2 = torch.from_numpy((p.astype(np.float64) ** 2).sum(axis=0))
            rng = np.random.default_rng(0)
            alarms = sum(fires(p, rng.permutation(n), sum_p2) for _ in range(trials))
            detected = fires(p, np.argsort(labels, kind="stable"), sum_p2)
            top1 = float(p.max(axis=1).mean())
            print(
                f"| {n:,} | {level} | {top1:.3f} | {alarms} of {trials} | {'yes' if detected else 'NO'} | "
                f"{time.perf_counter() - start:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
