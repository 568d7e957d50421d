"""Honest statistics: the two terms, the bootstrap's coverage, IS at infinite N, merging, warnings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inception_score.features.network import InceptionOutput
from inception_score.metrics.diagnostics import class_names
from inception_score.metrics.inception import ISAccumulator
from inception_score.metrics.protocols import SplitPlan
from inception_score.metrics.registry import MetricSpec, build_accumulators
from inception_score.metrics.uncertainty import fit_infinity, poisson_weights


def one_hot_logits(labels: np.ndarray, classes: int, confidence: float = 60.0) -> torch.Tensor:
    logits = torch.zeros(len(labels), classes)
    logits[torch.arange(len(labels)), torch.as_tensor(labels)] = confidence
    return logits


class ScoreState:
    """The accumulators a run builds for ``plan``, driven as the pipeline drives them."""

    def __init__(self, plan: SplitPlan, num_classes: int, bootstrap: int = 0, seed: int = 0, named: bool = False):
        splits = None if plan.protocol.chunk else plan.num_splits
        spec = MetricSpec(plan.protocol.name, splits, plan.num_images, num_classes, named, bootstrap, seed)
        self.num_images, self.accumulators = plan.num_images, build_accumulators(spec)

    def update(self, logits: torch.Tensor, indices: np.ndarray) -> None:
        outputs = InceptionOutput(logits_unbiased=logits)
        for accumulator in self.accumulators:
            accumulator.update(outputs, np.asarray(indices))

    def merge(self, other: ScoreState) -> ScoreState:
        for mine, theirs in zip(self.accumulators, other.accumulators, strict=True):
            mine.merge_(theirs)
        return self

    def fields(self) -> dict:
        so_far: dict = {"num_images": self.num_images}
        for accumulator in self.accumulators:
            so_far.update(accumulator.fields(so_far))
        so_far["diagnostic_warnings"] = [w for a in self.accumulators for w in a.warnings(so_far)]
        del so_far["num_images"]
        return so_far


def state_of(logits: torch.Tensor, protocol: str = "original", splits: int = 1, **kw) -> ScoreState:
    state = ScoreState(SplitPlan(protocol, len(logits), splits), logits.shape[1], **kw)
    state.update(logits, np.arange(len(logits)))
    return state


# ---------------------------------------------------------------- the two terms


def test_score_is_sharpness_times_diversity_overall_and_per_split() -> None:
    logits = torch.randn(300, 50, generator=torch.Generator().manual_seed(0)) * 4
    fields = state_of(logits, splits=3).fields()
    np.testing.assert_allclose(
        np.array(fields["split_sharpness"]) * np.array(fields["split_diversity"]), fields["split_scores"], rtol=1e-12
    )
    assert fields["sharpness"] * fields["diversity"] == pytest.approx(fields["inception_score_one_split"], rel=1e-12)
    assert 0 < fields["sharpness"] <= 1 and 1 <= fields["diversity"] <= 50


def test_closed_forms_of_the_terms() -> None:
    k = 7
    confident = state_of(one_hot_logits(np.arange(70) % k, 20)).fields()
    assert confident["sharpness"] == pytest.approx(1.0, abs=1e-9)
    assert confident["diversity"] == pytest.approx(k, rel=1e-9)
    assert confident["num_effective_classes"] == pytest.approx(k, rel=1e-9)
    assert confident["num_classes_top1"] == k and confident["mean_top1_confidence"] == pytest.approx(1.0)
    uniform = state_of(torch.zeros(40, 20)).fields()
    assert uniform["sharpness"] == pytest.approx(1 / 20) and uniform["diversity"] == pytest.approx(20)
    assert uniform["inception_score_mean"] == pytest.approx(1.0)


def test_classes_are_named_in_the_graph_order() -> None:
    names = class_names()
    assert len(names) == 1008 and names[0] == "unused" and names[1001] == "unused"
    assert names[449] == "tench, Tinca tinca"  # not torchvision's order
    fields = state_of(one_hot_logits(np.full(10, 449), 1008), named=True).fields()
    assert fields["top_classes"][0]["name"] == "tench, Tinca tinca"
    assert fields["num_classes_never_top1"] == 999


# ---------------------------------------------------------------- the bootstrap


def test_poisson_weights_do_not_depend_on_batching() -> None:
    idx = np.arange(1000)
    whole = poisson_weights(7, idx, 50)
    parts = np.concatenate([poisson_weights(7, idx[i : i + 37], 50) for i in range(0, 1000, 37)])
    assert np.array_equal(whole, parts)
    assert whole.mean() == pytest.approx(1.0, abs=0.02) and whole.var() == pytest.approx(1.0, abs=0.05)
    assert not np.array_equal(whole, poisson_weights(8, idx, 50))


@pytest.fixture
def one_thread():
    """torch on one thread: the thousands of tiny ops below run ~20x slower on two busy cores."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def test_bootstrap_interval_covers_the_truth_95_percent_of_the_time(one_thread) -> None:
    # Known truth: predictions drawn from 6 prototypes with fixed frequencies; the expected
    # score at this N is estimated by Monte Carlo (SE ~0.001, against a half-width of ~0.09);
    # the interval should hold it 95% of the time. 1000 trials (seeds fixed) tell 95% from the
    # neighbouring multipliers: binomial SE ~0.007, and measured on these data 1.96 -> 0.956,
    # 1.64 -> 0.906, 2.58 -> 0.989 (with the former 120 trials, 1.64 gave 0.917 and 1.96 0.942).
    rng = np.random.default_rng(0)
    prototypes = torch.from_numpy(rng.normal(0, 2.5, (6, 12)))
    freq = np.array([0.3, 0.2, 0.15, 0.15, 0.1, 0.1])
    n = 200

    def draw() -> torch.Tensor:
        return prototypes[rng.choice(6, n, p=freq)] + torch.from_numpy(rng.normal(0, 0.5, (n, 12)))

    def score(logits: torch.Tensor) -> float:
        acc = ISAccumulator(1, 12)
        acc.update(logits, np.zeros(n, dtype=np.int64))
        return float(acc.split_scores()[0])

    truth = np.mean([score(draw()) for _ in range(1000)])
    trials, hits, stds, estimates = 1000, 0, [], []
    for seed in range(trials):
        fields = state_of(draw(), bootstrap=200, seed=seed).fields()
        low, high = fields["ci95"]
        hits += low <= truth <= high
        stds.append(fields["bootstrap_std"])
        estimates.append(fields["inception_score_mean"])
    assert 0.93 <= hits / trials <= 0.97, hits / trials  # 3 binomial SEs either side of 0.95
    # and the interval's std is the estimate's real spread over draws (measured ratio 1.033;
    # the spread of 1000 estimates is known to ~2.2%)
    assert np.mean(stds) == pytest.approx(np.std(estimates, ddof=1), rel=0.08)


def test_ci95_is_the_estimate_plus_or_minus_1_96_bootstrap_std() -> None:
    # The formula itself, exactly: a multiplier of 1.64 (a 90% interval) labelled ci95 fails here
    # even where a coverage test could not tell.
    logits = torch.randn(120, 16, generator=torch.Generator().manual_seed(2)) * 3
    fields = state_of(logits, "torch-fidelity", 4, bootstrap=30, seed=5).fields()
    mean, std = fields["inception_score_mean"], fields["bootstrap_std"]
    assert std > 0 and fields["bootstrap_replicates"] == 30
    assert fields["ci95"] == [mean - 1.96 * std, mean + 1.96 * std]


def reference_bootstrap_std(logits: torch.Tensor, plan: SplitPlan, replicates: int, seed: int) -> float:
    """The bootstrap written out plainly: replicate b weighs image i by poisson_weights(seed)[i, b],
    recomputes every split's IS from weighted sums, averages over splits; the sample std (ddof 1)."""
    n = len(logits)
    p = torch.softmax(logits.double(), dim=1).numpy()
    plogp = np.sum(p * np.log(p), axis=1)
    split = plan.split_of(np.arange(n))
    weights = poisson_weights(seed, np.arange(n), replicates)
    means = []
    for b in range(replicates):
        scores = []
        for s in range(plan.num_splits):
            w = weights[split == s, b]
            q = w @ p[split == s] / w.sum()
            scores.append(math.exp(w @ plogp[split == s] / w.sum() - np.sum(q * np.log(q))))
        means.append(np.mean(scores))
    return float(np.std(means, ddof=1))


def test_bootstrap_std_equals_the_plain_computation() -> None:
    logits = torch.randn(90, 8, generator=torch.Generator().manual_seed(4)) * 2
    plan = SplitPlan("torch-fidelity", 90, 3)
    fields = state_of(logits, "torch-fidelity", 3, bootstrap=25, seed=9).fields()
    assert fields["bootstrap_std"] == pytest.approx(reference_bootstrap_std(logits, plan, 25, 9), rel=1e-9)


def test_the_seed_moves_the_interval_and_is_infinity_and_nothing_else() -> None:
    logits = torch.randn(257, 30, generator=torch.Generator().manual_seed(5)) * 3
    one, two, again = (state_of(logits, "torch-fidelity", 5, bootstrap=40, seed=s).fields() for s in (1, 2, 1))
    assert again == one  # the same seed: the same numbers, bit for bit
    assert one["ci95"] != pytest.approx(two["ci95"], rel=1e-6)
    assert one["bootstrap_std"] != pytest.approx(two["bootstrap_std"], rel=1e-3)
    assert one["is_infinity"] != pytest.approx(two["is_infinity"], rel=1e-9)
    assert one["is_infinity_fit"]["is_n"][:-1] != pytest.approx(two["is_infinity_fit"]["is_n"][:-1], rel=1e-9)
    # the seed is not the splits' (torch-fidelity's permutation is seeded 2020, whatever --seed)
    for key in ("inception_score_mean", "inception_score_std", "split_scores", "sharpness", "diversity"):
        assert one[key] == two[key], key
    # the largest subset is all N images, whatever the seed (summed in another order)
    assert one["is_infinity_fit"]["is_n"][-1] == pytest.approx(two["is_infinity_fit"]["is_n"][-1], rel=1e-12)


# ---------------------------------------------------------------- IS at infinite N


def test_fit_recovers_an_exact_one_over_n_law() -> None:
    sizes = np.round(np.linspace(5000, 50000, 15)).astype(np.int64)
    fit = fit_infinity(sizes, 12.0 - 3000.0 / sizes)
    assert fit["is_infinity"] == pytest.approx(12.0, rel=1e-9) and fit["slope"] == pytest.approx(-3000.0)
    assert fit["r2"] == pytest.approx(1.0)


def test_is_infinity_removes_a_planted_small_sample_bias() -> None:
    # 100 equally likely confident classes: IS_inf = 100 exactly; at N = 4000 the plug-in
    # marginal misses classes and IS_N is biased low by ~(K-1)/2N in log.
    k, n = 100, 4000
    rng = np.random.default_rng(3)
    logits = one_hot_logits(rng.integers(0, k, n), k, confidence=80.0)
    fields = state_of(logits, bootstrap=0).fields()
    biased = fields["inception_score_one_split"]
    assert biased < 0.995 * k  # the bias is there
    assert abs(fields["is_infinity"] - k) < 0.5 * abs(biased - k)  # and mostly removed
    assert len(fields["is_infinity_fit"]["n"]) == 15 and fields["is_infinity_fit"]["n"][-1] == n


# ---------------------------------------------------------------- merging


def test_merged_shards_equal_one_pass_for_every_statistic() -> None:
    n = 257
    logits = torch.randn(n, 30, generator=torch.Generator().manual_seed(5)) * 3
    plan = SplitPlan("torch-fidelity", n, 5)
    whole = ScoreState(plan, 30, bootstrap=40, seed=3)
    whole.update(logits, np.arange(n))
    parts = []
    for lo, hi in [(0, 100), (100, 101), (101, n)]:
        part = ScoreState(plan, 30, bootstrap=40, seed=3)
        part.update(logits[lo:hi], np.arange(lo, hi))
        parts.append(part)
    merged = parts[0].merge(parts[1]).merge(parts[2]).fields()
    expected = whole.fields()
    assert merged.keys() == expected.keys()
    assert_close(merged, expected)


def assert_close(got: object, want: object, where: str = "") -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for key in want:
            assert_close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-10, abs=1e-14), where
    else:
        assert got == want, where


# ---------------------------------------------------------------- warnings


def test_class_ordered_input_is_flagged_under_file_order_protocols() -> None:
    labels = np.repeat(np.arange(50), 20)  # 1000 images sorted by class
    logits = one_hot_logits(labels, 100)
    ordered = state_of(logits, "original", 10).fields()["diagnostic_warnings"]
    assert any("looks ordered by class" in w for w in ordered)
    shuffled = state_of(logits[torch.randperm(1000, generator=torch.Generator().manual_seed(0))], "original", 10)
    assert not any("ordered by class" in w for w in shuffled.fields()["diagnostic_warnings"])
    assert not any(
        "ordered by class" in w for w in state_of(logits, "torch-fidelity", 10).fields()["diagnostic_warnings"]
    )


def test_small_n_and_small_splits_are_flagged() -> None:
    warnings = state_of(torch.randn(300, 10), "original", 3).fields()["diagnostic_warnings"]
    assert len(warnings) == 3, warnings  # these three, and no other (no class-order false alarm)
    assert warnings[0].startswith("300 images: IS grows with the number of images")
    assert warnings[1].startswith("splits of 100 images: the published protocols use 5,000 per split")
    assert warnings[2].startswith("IS at infinite N fitted over subsets of")  # the 1/N law holds from ~5,000


def test_the_published_protocol_size_is_not_flagged_and_one_image_less_is() -> None:
    logits = torch.randn(50_000, 10, generator=torch.Generator().manual_seed(6))
    assert state_of(logits, "original", 10).fields()["diagnostic_warnings"] == []  # 10 splits of 5,000
    warnings = state_of(logits[:-1], "original", 10).fields()["diagnostic_warnings"]
    assert [w.split(":")[0] for w in warnings] == ["49999 images", "splits of 4999 to 5000 images"]
