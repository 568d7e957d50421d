#!/usr/bin/env python3
"""Mutation check: plant known bugs one at a time and see whether the tests catch each.

Each mutant is a small, realistic bug in the mathematics, the protocols, the uncertainty, the
preprocessing, the network, the input listing and decoding, or the command line's plumbing:
(file, exact original text, mutated text, what it breaks, the tests that should catch it). The
script copies the working tree (tracked files and untracked ones git does not ignore, so
uncommitted edits are included) into a temporary folder and runs the relevant tests there once
unmutated; then, for each mutant, it replaces the text (which must occur exactly once), runs the
mutant's tests with a timeout, records ``killed`` (a test failed) or ``survived`` (all passed),
and restores the file. The real working tree is never written to. It prints a table and the kill
rate, and exits 1 when a mutant survived or no longer applies (``stale``: the original text
changed, or a test it names is gone; update the mutant).

Run it before a change to the mathematics lands (from the repository root)::

    .venv/bin/python benchmarks/mutation.py                  # every mutant (~15 min on 2 busy cores)
    .venv/bin/python benchmarks/mutation.py --list           # the mutants, and whether each still applies
    .venv/bin/python benchmarks/mutation.py --only ci95,seed # mutants whose id contains any of these
    .venv/bin/python benchmarks/mutation.py --json out.json  # also the results as JSON

Options:

* ``--timeout S``: seconds per mutant's test run (default 900);
* ``--skip-baseline``: do not run the tests unmutated first. By default a test that fails
  unmutated is left out of every mutant's run, with a warning (a mutant only it would catch then
  survives: the truth of the moment); ``--strict`` stops instead;
* ``--keep``: keep the temporary copy and print where it is;
* ``--tests NODE,...``: run these tests against the chosen mutants instead of each mutant's own
  (does this new test catch that bug?);
* ``--plant FILE ORIGINAL MUTATED`` (repeatable, with ``--tests``): an ad-hoc mutant instead of
  the list, e.g. the bug a new test is meant to catch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

# Test selections (pytest node ids, relative to the repository root).
SCORE = ("tests/test_score.py",)
STATS = ("tests/test_statistics.py",)
PARITY = ("tests/test_parity.py",)
PREPROCESS = ("tests/test_preprocess.py",)
NETWORK = ("tests/test_network.py",)
RUNTIME = tuple(
    f"tests/test_runtime.py::test_{name}"
    for name in (
        "folding_batch_norm_keeps_fp32_results",
        "fast_path_in_float32_equals_exact",
        "fast_stays_within_the_stated_tolerance",
        "fast_logits_stay_within_the_stated_bound_image_by_image",
        "each_folded_layer_in_bf16_is_within_rounding_of_the_exact_layer",
        "check_precision_reports_the_measured_deviation",
    )
)
LISTING = ("tests/test_listing.py", "tests/test_inputs.py::test_folder_order_is_sorted_real_paths_and_extension_filter")
FLOATS = (
    "tests/test_inputs.py::test_float_inputs_are_rounded_not_truncated",
    "tests/test_inputs.py::test_float_to_uint8_rounds_halves_up_and_inverts_u_over_255",
)
WIDE = ("tests/test_hostile.py::test_every_16_bit_image_is_rounded_to_8_bits_by_one_rule",)
SEED = (
    "tests/test_statistics.py::test_the_seed_moves_the_interval_and_is_infinity_and_nothing_else",
    "tests/test_determinism.py::test_the_seed_reaches_the_bootstrap_and_the_subsets",
    "tests/test_determinism.py::test_the_metric_object_passes_its_seed_on",
    "tests/test_cli.py::test_the_seed_flag_reaches_the_bootstrap",
    "tests/test_determinism.py::test_the_seed_reaches_every_seeded_accumulator",
    "tests/test_determinism.py::test_the_seed_reaches_fid_at_infinite_n",
)
EXIT_CODES = ("tests/test_exit_codes.py",)
FRECHET = tuple(
    f"tests/test_frechet.py::test_{name}"
    for name in (
        "frechet_distance_is_exact_below_d_images",
        "a_set_against_itself_is_exactly_zero_never_negative",
        "a_negative_rounding_residue_is_returned_as_zero",
        "full_rank_covariances_equal_torch_fidelity_within_1e9",
        "trace_sqrt_product_closed_forms_and_factor",
        "a_matrix_that_is_not_a_covariance_is_refused",
        "fid_infinity_points_are_exact_below_d_images",
        "fid_infinity_points_are_the_fid_of_the_nested_subsets",
        "moments_equal_numpy_mean_and_cov_and_fid_equals_torch_fidelity",
    )
)
MATCH = ("tests/test_match.py",)
SUBSAMPLE = ("tests/test_manifold.py", "tests/test_match.py")
PUBLISHED = ("tests/test_published.py::test_an_edm2_pickle_with_a_code_payload_never_runs_it",)
SPACES_TESTS = ("tests/test_feature_spaces.py",)
# the kinds an independent audit planted beyond this list (issue 27), and the refusals before the work (issue 21)
PRDC_K = ("tests/test_comparison_options.py::test_the_prdc_k_flag_reaches_density_and_coverage",)
MERGE_REFERENCE = ("tests/test_comparison_options.py::test_merge_refuses_shards_compared_with_other_references",)
ARCHIVE_ORDER = ("tests/test_archives.py::test_archive_members_are_ordered_by_name_like_a_folder_case_and_all",)
SFID_LAYER = ("tests/test_comparisons.py::test_sfid_statistics_are_those_of_mixed_6d_branch1x1",)
PRECISION_CHECK = ("tests/test_runtime.py::test_check_precision_reports_the_measured_deviation",)
BEFORE_THE_WORK = (
    "tests/test_reference_checks.py::test_a_reference_too_small_is_refused_before_any_image_is_scored",
    "tests/test_reference_checks.py::test_the_command_line_refuses_at_once_and_loses_nothing",
)
ZERO_RADII = ("tests/test_reference_checks.py::test_a_run_with_duplicated_reference_images_says_so",)


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str  # relative to the repository root
    original: str  # must occur exactly once in the file
    mutated: str
    description: str
    tests: tuple[str, ...]


M = "src/inception_score/metrics/"
MUTANTS: tuple[Mutant, ...] = (
    # ------------------------------------------------------------ the score (metrics/inception.py)
    Mutant("score-ddof", M + "protocols.py", "std_ddof: int = 0  #", "std_ddof: int = 1  #",
           "std over splits with ddof=1 (the reference tools use the population std)", SCORE + PARITY + STATS),
    Mutant("score-ddof-from-logits", M + "inception.py", "return float(np.mean(scores)), plan.std(scores), scores",
           "return float(np.mean(scores)), float(np.std(scores, ddof=1)), scores",
           "inception_score_from_logits: std with ddof=1", SCORE),
    Mutant("score-log-base", M + "inception.py", "return torch.exp(sum_plogp / n - q_log_q).numpy()",
           "return torch.exp2(sum_plogp / n - q_log_q).numpy()",
           "IS = 2^KL: KL in nats exponentiated in base 2", SCORE + STATS),
    Mutant("score-xlogy", M + "inception.py",
           "q_log_q = torch.special.xlogy(q, q).sum(dim=1)  # 0 ln 0 = 0 for unused classes",
           "q_log_q = (q * torch.log(q)).sum(dim=1)",
           "q ln q without xlogy: NaN (0 * -inf) for a class no image uses", SCORE + STATS),
    Mutant("score-plogp-mean", M + "inception.py", "return p, (p * log_p).sum(dim=1)",
           "return p, (p * log_p).mean(dim=1)",
           "sum_y p ln p averaged over classes instead of summed", SCORE),
    # ------------------------------------------------------------ protocols (metrics/protocols.py)
    Mutant("split-bounds-off-by-one", M + "protocols.py",
           "self._bounds = np.array([i * num_images // splits for i in range(splits + 1)], dtype=np.int64)",
           "self._bounds = np.array([(i * num_images + splits - 1) // splits for i in range(splits + 1)], "
           "dtype=np.int64)",
           "split bounds ceil(i*N/S) instead of floor: the extra image goes to the first splits", SCORE),
    Mutant("split-side", M + "protocols.py", 'return np.searchsorted(self._bounds, pos, side="right") - 1',
           'return np.searchsorted(self._bounds, pos, side="left") - 1',
           "searchsorted side=left: the first image of each split goes to the one before", SCORE),
    Mutant("permutation-seed", M + "protocols.py", "TORCH_FIDELITY_SEED = 2020", "TORCH_FIDELITY_SEED = 2021",
           "torch-fidelity's permutation seeded 2021", SCORE),
    Mutant("permutation-default-rng", M + "protocols.py",
           "return np.random.RandomState(TORCH_FIDELITY_SEED).permutation(n)",
           "return np.random.default_rng(TORCH_FIDELITY_SEED).permutation(n)",
           "default_rng(2020) instead of RandomState(2020): another permutation", SCORE),
    Mutant("permutation-not-inverted", M + "protocols.py",
           "self._position[perm] = np.arange(num_images, dtype=np.int64)", "self._position[:] = perm",
           "the permutation used where its inverse is needed (image -> row)", SCORE),
    Mutant("adm-chunk", M + "protocols.py", "ADM_CHUNK = 5000", "ADM_CHUNK = 5120",
           "ADM chunk of 5120 images instead of 5000", SCORE),
    # ------------------------------------------------------------ uncertainty (metrics/uncertainty.py)
    Mutant("ci95-1.64", M + "uncertainty.py", "BOOTSTRAP_Z = 1.96", "BOOTSTRAP_Z = 1.64",
           "a 90% interval labelled ci95", STATS),
    Mutant("ci95-2.58", M + "uncertainty.py", "BOOTSTRAP_Z = 1.96", "BOOTSTRAP_Z = 2.58",
           "a 99% interval labelled ci95", STATS),
    Mutant("bootstrap-seed-ignored", M + "uncertainty.py",
           "w = torch.from_numpy(poisson_weights(self.seed, indices, self.replicates))",
           "w = torch.from_numpy(poisson_weights(0, indices, self.replicates))",
           "the bootstrap draws seed 0's weights whatever seed it is given", STATS + SEED),
    Mutant("nested-seed-ignored", M + "uncertainty.py", "perm = np.random.RandomState(seed).permutation(num_images)",
           "perm = np.random.RandomState(0).permutation(num_images)",
           "IS-at-infinite-N subsets drawn with seed 0 whatever the seed", STATS + SEED),
    Mutant("poisson-weights-constant", M + "uncertainty.py",
           'return np.searchsorted(_POISSON1_CDF, uniform, side="right").astype(np.float64)',
           "return np.ones_like(uniform)",
           "every Poisson weight 1: every replicate is the estimate, std 0", STATS),
    Mutant("bootstrap-ddof", M + "uncertainty.py",
           "std = float(np.std(self.replicate_means(), ddof=1)) if self.replicates > 1 else float(\"nan\")",
           "std = float(np.std(self.replicate_means())) if self.replicates > 1 else float(\"nan\")",
           "bootstrap std with ddof=0", STATS),
    Mutant("infinity-fit-in-n", M + "uncertainty.py", "x = 1.0 / sizes.astype(np.float64)",
           "x = sizes.astype(np.float64)", "IS_N fitted against N instead of 1/N", STATS),
    # ------------------------------------------------------------ warnings (metrics/diagnostics.py, inception.py)
    Mutant("small-n-threshold", M + "diagnostics.py", "if n < REFERENCE_N:", "if n <= REFERENCE_N:",
           "the small-N warning at N = 50,000 too", STATS),
    Mutant("small-split-threshold", M + "inception.py", "float(sizes.min()) < SPLIT_MIN",
           "float(sizes.min()) <= SPLIT_MIN",
           "the small-split warning at 5,000 per split too", STATS),
    # ------------------------------------------------------------ preprocessing (features/preprocess.py)
    Mutant("resize-half-pixel", "src/inception_score/features/preprocess.py",
           "src = torch.arange(out_size, dtype=torch.float32) * scale  # TF1: no half-pixel centres",
           "src = ((torch.arange(out_size, dtype=torch.float32) + 0.5) * scale - 0.5).clamp_min(0)",
           "half-pixel centres (PyTorch's interpolate) instead of TF1's", PREPROCESS),
    Mutant("resize-align-corners", "src/inception_score/features/preprocess.py",
           "scale = torch.tensor(in_size / out_size, dtype=torch.float32)",
           "scale = torch.tensor((in_size - 1) / max(out_size - 1, 1), dtype=torch.float32)",
           "align_corners=True", PREPROCESS),
    Mutant("resize-scale-float64", "src/inception_score/features/preprocess.py",
           "src = torch.arange(out_size, dtype=torch.float32) * scale  # TF1: no half-pixel centres",
           "src = (torch.arange(out_size, dtype=torch.float64) * (in_size / out_size)).float()",
           "source coordinates computed in float64 (TF1 rounds the scale to float32 first)", PREPROCESS),
    Mutant("normalize-127.5", "src/inception_score/features/preprocess.py", "return images.sub_(128).div_(128)",
           "return images.sub_(127.5).div_(127.5)", "(x - 127.5) / 127.5 instead of the graph's (x - 128) / 128",
           PREPROCESS),
    # ------------------------------------------------------------ the network (features/network.py, runner.py)
    Mutant("bias-in-logits", "src/inception_score/features/runner.py",
           "unbiased = pool3.mm(self.fc_weight.T)  # N x 1008",
           "unbiased = pool3.mm(self.fc_weight.T) + self.fc_bias  # N x 1008",
           "the fc bias added to the logits IS uses", PARITY),
    Mutant("count-include-pad", "src/inception_score/features/network.py",
           "kernel_size=3, stride=1, padding=1, count_include_pad=False)",
           "kernel_size=3, stride=1, padding=1, count_include_pad=True)",
           "average pools divide by 9 at the borders (padded zeros counted)", NETWORK),
    Mutant("mixed-7c-avg-pool", "src/inception_score/features/network.py",
           "self.Mixed_7c = InceptionE(2048, max_pool=True)", "self.Mixed_7c = InceptionE(2048, max_pool=False)",
           "Mixed_7c average-pools its pool branch (torchvision) instead of max-pooling (the 2015 graph)", NETWORK),
    Mutant("fast-bn-eps", "src/inception_score/features/runner.py",
           "scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # C_out",
           "scale = bn.weight / torch.sqrt(bn.running_var + 1e-5)  # C_out",
           "fast: batch norm folded with PyTorch's default eps 1e-5, not the checkpoint's 1e-3", RUNTIME),
    Mutant("fast-no-relu", "src/inception_score/features/runner.py", "return torch.relu_(self.conv(x))",
           "return self.conv(x)", "fast: the folded conv drops its ReLU", RUNTIME),
    Mutant("precision-check-exact-twice", "src/inception_score/run/precision_check.py",
           'self.fast_sums.update(outputs.require("logits_unbiased")[:take], zeros)',
           'self.fast_sums.update(self.exact(prepared[:take]).require("logits_unbiased"), zeros)',
           "--check-precision compares exact with exact: deviation 0 whatever fast does", RUNTIME),
    # ------------------------------------------------------------ inputs (inputs/files.py, base.py, wide.py)
    Mutant("listing-case-insensitive", "src/inception_score/inputs/files.py",
           "return sorted(paths)  # torch-fidelity: sorted real paths",
           "return sorted(paths, key=str.lower)", "files sorted case-insensitively, not by code point", LISTING),
    Mutant("listing-extension-case", "src/inception_score/inputs/files.py",
           "if os.path.splitext(entry.name)[1][1:].lower() in IMAGE_EXTENSIONS:",
           "if os.path.splitext(entry.name)[1][1:] in IMAGE_EXTENSIONS:",
           "upper-case extensions (.PNG) skipped", LISTING),
    Mutant("float-truncated", "src/inception_score/inputs/base.py",
           "return torch.floor_(level.add_(0.5 + HALF_TOLERANCE)).clamp_(0, 255).to(torch.uint8)",
           "return torch.floor_(level).clamp_(0, 255).to(torch.uint8)",
           "float images truncated to uint8 instead of rounded", FLOATS),
    Mutant("sixteen-bit-high-byte", "src/inception_score/inputs/wide.py",
           "return ((wide * 255 + m // 2) // m).astype(np.uint8)", "return (wide >> (bits - 8)).astype(np.uint8)",
           "16-bit samples truncated to their high byte instead of rounded", WIDE),
    # ------------------------------------------------------------ Fréchet distances (metrics/frechet.py)
    Mutant("fid-no-cut-in-m", M + "frechet.py", "kept = mu[mu > rank * _EPS * largest]", "kept = mu.clamp_min(0)",
           "tr (S1 S2)^1/2 keeps M's rounding-level eigenvalues (the noise of S1's null space) as square roots",
           FRECHET),
    Mutant("fid-trace-twice", M + "frechet.py", "value = float(diff.dot(diff) + sigma1.trace() + trace2 - 2 *",
           "value = float(diff.dot(diff) + 2 * sigma1.trace() - 2 *",
           "tr S1 counted twice, tr S2 never", FRECHET),
    Mutant("fid-negative-kept", M + "frechet.py",
           "return value if value > 0 else 0.0  # >= 0 for PSD covariances: a negative value is rounding (docstring)",
           "return value", "a negative rounding residue returned as the distance (-0.0000 printed)", FRECHET),
    Mutant("fid-psd-unchecked", M + "frechet.py",
           "if smallest < -_NOT_PSD * max(largest, 0.0) or (largest <= 0.0 and smallest < 0.0):\n        raise "
           "InputError(\n            f\"frechet_distance: {name} is not",
           "if False:\n        raise InputError(\n            f\"frechet_distance: {name} is not",
           "a reference sigma that is not a covariance (negative eigenvalues) silently used", FRECHET),
    Mutant("fid-factor-of-the-samples", M + "frechet.py", "factor = psd_factor(ref_sigma, ref_name)  # D x r",
           "factor = psd_factor(sigma, ref_name)  # D x r",
           "the FID accumulator factors the samples' covariance where the reference's is meant", FRECHET),
    # ------------------------------------------------------------ plumbing: seeds, exit codes
    Mutant("pipeline-seed-dropped", "src/inception_score/run/pipeline.py", "seed=options.seed,", "seed=0,",
           "compute() ignores seed= / --seed", SEED),
    Mutant("metric-seed-dropped", "src/inception_score/metric.py",
           "o.protocol, o.splits, num_images, self.num_classes, named, o.bootstrap, o.seed",
           "o.protocol, o.splits, num_images, self.num_classes, named, o.bootstrap, 0",
           "the metric object ignores its seed", SEED),
    Mutant("fid-infinity-seed-dropped", M + "registry.py",
           "out.append(FIDInfinity(features, reference, seed=spec.seed))",
           "out.append(FIDInfinity(features, reference))",
           "FID at infinite N draws its subsets with seed 0 whatever --seed (issue 27)", SEED),
    Mutant("prdc-k-dropped", M + "registry.py", "DensityCoverage(features, reference, spec.prdc_k,",
           "DensityCoverage(features, reference, 5,", "--prdc-k silently ignored: k = 5 always (issue 27)",
           PRDC_K),
    Mutant("merge-reference-ignored", "src/inception_score/run/checkpoint.py",
           'MUST_AGREE = ("inputs", "package_version", "weights_sha256", "networks", "spec", "precision", "reference")',
           'MUST_AGREE = ("inputs", "package_version", "weights_sha256", "networks", "spec", "precision")',
           "shards compared with different references merge silently (issue 27)", MERGE_REFERENCE),
    Mutant("archive-order-case-insensitive", "src/inception_score/inputs/archives.py",
           "ordered = sorted(members, key=lambda m: m[0])", "ordered = sorted(members, key=lambda m: m[0].lower())",
           "archive members sorted case-insensitively, not by name as a folder's files (issue 27)", ARCHIVE_ORDER),
    Mutant("sfid-last-channels", "src/inception_score/features/network.py",
           "mixed_6_conv = x[:, :SPATIAL_CHANNELS] if spatial else None",
           "mixed_6_conv = x[:, -SPATIAL_CHANNELS:] if spatial else None",
           "sFID's mixed_6/conv taken from Mixed_6d's last 192 channels (branch_pool), not branch1x1 (issue 27)",
           SFID_LAYER),
    Mutant("precision-check-limit-per-batch", "src/inception_score/run/precision_check.py",
           "outputs: NetworkOutputs) -> None:\n        take = min(len(prepared), self.limit - self.seen)",
           "outputs: NetworkOutputs) -> None:\n        take = min(len(prepared), self.limit)",
           "--check-precision N compares N images of every batch instead of N in total (issue 27)",
           PRECISION_CHECK),
    Mutant("reference-size-after-the-work", "src/inception_score/run/pipeline.py",
           "    check_reference_size(metrics, size, options, name, num_images)\n", "",
           "a reference too small for k is refused only after every sample was scored (issue 21)", BEFORE_THE_WORK),
    Mutant("zero-radii-unsaid", M + "manifold.py",
           "zero = _zero_radii_message(self.zero_radii, self.sizes[0], self.k) if self.zero_radii else None",
           "zero = None", "density/coverage of a reference with identical images: zero radii unsaid (issue 21)",
           ZERO_RADII),
    Mutant("python-m-exit-code", "src/inception_score/__main__.py", "raise SystemExit(main())", "main()",
           "python -m inception_score exits 0 whatever happened", EXIT_CODES),
    Mutant("cli-exit-code", "src/inception_score/cli.py", "return exc.exit_code", "return 1",
           "every error exits 1 instead of its code (2 options, 3 inputs, 4 weights)", EXIT_CODES),
    # --match (issue 24): each preset's own arithmetic
    Mutant("cov-divisor-ignored", M + "frechet.py", ".div_(n - ddof)", ".div_(n - 1)",
           "--cov-divisor n (StyleGAN) still divides by n - 1", MATCH),
    Mutant("kid-draw-order", M + "kernel.py", "if protocol.reference_first:", "if False:",
           "clean-fid's and torchmetrics' KID draw the samples' subset first", MATCH),
    Mutant("kid-no-shrink", M + "kernel.py", "m = min(n1, n2, m)", "m = m",
           "StyleGAN's and clean-fid's KID subsets do not shrink to the smaller set", MATCH),
    Mutant("clean-fid-rounded", "src/inception_score/features/preprocess.py",
           "np.asarray(resized, dtype=np.float32).clip(0, 255)",
           "np.asarray(resized, dtype=np.float32).clip(0, 255).round()",
           "clean-fid's float bicubic resize rounded to integer levels", MATCH),
    Mutant("torchmetrics-no-antialias", "src/inception_score/features/preprocess.py",
           'mode="bilinear", align_corners=False, antialias=True)',
           'mode="bilinear", align_corners=False, antialias=False)',
           "torchmetrics' resize without antialiasing (its < 1.8 default)", MATCH),
    Mutant("pytorch-fid-scaling", "src/inception_score/features/preprocess.py", "return x.mul_(2).sub_(1)",
           "return x.mul_(255).sub_(128).div_(128)", "pytorch-fid's 2x - 1 replaced by (255x - 128) / 128", MATCH),
    Mutant("torchmetrics-splits", M + "protocols.py", "if self.protocol.torch_chunks:", "if False:",
           "torchmetrics' IS split at i*N//S instead of Tensor.chunk", MATCH),
    Mutant("pr-k-dropped", M + "registry.py", "features, reference, spec.pr_k, spec.pr_precision,",
           "features, reference, 3, spec.pr_precision,", "--pr-k (dgm-eval's k = 5) silently ignored: k = 3 always",
           MATCH),
    Mutant("subsample-reference-whole", M + "manifold.py", '_Set(y, "reference", where, False, block, ref_index)',
           '_Set(y, "reference", where, False, block)',
           "density/coverage on dgm-eval's subsets keeps the whole reference", SUBSAMPLE),
    Mutant("subsample-draw-order", M + "manifold.py",
           "samples = draw.choice(num_samples, m, replace=False)",
           "samples = np.random.RandomState(seed).choice(num_samples, m, replace=False)",
           "dgm-eval's samples' subset drawn as if first, not after the reference's", SUBSAMPLE),
    Mutant("dgm-eval-no-subsets", "src/inception_score/presets.py", '                "prdc_subsample": 10_000,\n', "",
           "--match dgm-eval scores P/R/D/C on all images instead of its 10,000-image subsets", MATCH),
    Mutant("preset-network-setting-refused", "src/inception_score/run/pipeline.py",
           'and not options.set_by_match("dinov2_resize"),', "and True,",
           "--match dgm-eval refused on every run without a DINOv2 metric (its DINOv2 resize)", MATCH),
    Mutant("factor-cache-by-shape", M + "frechet.py", "digest = hashlib.blake2b(data.data, digest_size=16).digest()",
           'digest = b""', "the reference's kept factor found by shape, not content: another reference's FID",
           ("tests/test_frechet.py",)),
    Mutant("unpickler-allows-all", "src/inception_score/inputs/pickles.py", "if found is None:",
           "if found is None:\n            return super().find_class(module, name)\n        if False:",
           "the safe unpickler resolves any global (a pickle can run code)", PUBLISHED),
    # ------------------------------------------------------------ feature spaces and CMMD (metrics/cmmd.py, ...)
    Mutant("cmmd-sigma", "src/inception_score/metrics/cmmd.py", "gamma = 1.0 / (2.0 * CMMD_SIGMA**2)",
           "gamma = 1.0 / CMMD_SIGMA**2", "CMMD's kernel with gamma 1/sigma^2 instead of 1/(2 sigma^2)", SPACES_TESTS),
    Mutant("cmmd-triangle", "src/inception_score/metrics/cmmd.py", "weight = 2.0 if b is None and clo > lo else 1.0",
           "weight = 1.0", "CMMD's symmetric sums count each off-diagonal block once", SPACES_TESTS),
    Mutant("cmmd-remainder-kept", "src/inception_score/metrics/cmmd.py",
           "a, b = a[: len(a) // CMMD_BATCH * CMMD_BATCH], b[: len(b) // CMMD_BATCH * CMMD_BATCH]",
           "a, b = a, b[: len(b) // CMMD_BATCH * CMMD_BATCH]",
           "--cmmd-drop-remainder leaves the samples' last partial batch in", SPACES_TESTS),
    Mutant("space-reads-pool3", "src/inception_score/metrics/frechet.py", "return outputs.require(self.space)",
           'return outputs.require("pool3")', "the Fréchet distance reads pool3 whatever its space", SPACES_TESTS),
)  # fmt: skip


@dataclass
class Outcome:
    id: str
    file: str
    description: str
    result: str  # killed, survived, stale, timeout, error
    seconds: float
    caught_by: list[str] = field(default_factory=list)
    reason: str = ""  # the first "E ..." line of pytest's report: why the test failed
    tail: str = ""


def repo_root() -> Path:
    here = Path(__file__).resolve().parent
    out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here, capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def copy_tree(root: Path, dest: Path) -> None:
    """Copy the files git sees (tracked, and untracked but not ignored) from ``root`` into ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = os.fsdecode(raw)
        src = root / rel
        if not src.is_file():  # deleted in the working tree, or a submodule
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def run_tests(
    copy: Path, tests: tuple[str, ...], timeout: float, deselect: tuple[str, ...] = (), first_failure: bool = True
) -> tuple[str, float, list[str], str]:
    """Run ``tests`` in ``copy`` (less ``deselect``); (result, seconds, failing tests, output tail)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(copy / "src"),  # the copy's package, not the editable install's
        "PYTHONDONTWRITEBYTECODE": "1",  # no stale .pyc of a mutant after the file is restored
    }
    command = [
        sys.executable, "-m", "pytest", *(["-x"] if first_failure else []), "-q", "-p", "no:cacheprovider", "-o",
        "addopts=--import-mode=importlib", *tests, *(f"--deselect={node}" for node in deselect),
    ]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.Popen(
        command, cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # pytest and whatever it started (torchrun ranks)
        out, _ = proc.communicate()
        return "timeout", time.monotonic() - start, [], out[-6000:]
    seconds = time.monotonic() - start
    failed = [line.split()[1] for line in out.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    tail = out[-6000:]
    if proc.returncode == 0:
        return "survived", seconds, [], tail
    if proc.returncode == 1:
        return "killed", seconds, failed, tail
    if proc.returncode in (4, 5):  # a test it names is not there, or none was collected
        return "stale", seconds, failed, tail
    return "error", seconds, failed, tail  # a collection error (the mutant breaks an import) or a crash


def check_mutant(copy: Path, mutant: Mutant, timeout: float, deselect: tuple[str, ...] = ()) -> Outcome:
    path = copy / mutant.file
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    found = text.count(mutant.original)
    if found != 1:
        why = "file missing" if not path.is_file() else f"original text found {found} times"
        return Outcome(mutant.id, mutant.file, mutant.description, "stale", 0.0, tail=why)
    path.write_text(text.replace(mutant.original, mutant.mutated), encoding="utf-8")
    try:
        result, seconds, failed, tail = run_tests(copy, mutant.tests, timeout, deselect)
    finally:
        path.write_text(text, encoding="utf-8")
    lines = [line for line in tail.splitlines() if line.strip()]
    reason = next((line[1:].strip() for line in lines if line.startswith("E ")), "")
    if result in ("stale", "error") and not reason:
        reason = next((line for line in lines if line.startswith("ERROR")), lines[-1] if lines else "")
    return Outcome(mutant.id, mutant.file, mutant.description, result, seconds, failed, reason[:160], tail)


def print_table(outcomes: list[Outcome]) -> None:
    width = max(len(o.id) for o in outcomes)
    print(f"\n{'mutant':<{width}}  {'result':<9} {'time':>6}  caught by / what it breaks")
    for o in outcomes:
        caught = o.caught_by[0].split("/")[-1] if o.caught_by else o.description
        print(f"{o.id:<{width}}  {o.result:<9} {o.seconds:5.0f}s  {caught}")
    killed = sum(o.result in ("killed", "error") for o in outcomes)
    survived = [o for o in outcomes if o.result == "survived"]
    judged = killed + len(survived)
    rate = f"{killed}/{judged} = {killed / judged:.0%}" if judged else "n/a"
    print(f"\nkill rate: {rate}")
    for kind in ("survived", "timeout", "stale"):
        ids = [o.id for o in outcomes if o.result == kind]
        if ids:
            print(f"{kind}: {', '.join(ids)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated substrings of mutant ids to run")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per mutant's test run")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run the tests unmutated first")
    parser.add_argument(
        "--strict", action="store_true", help="stop when a test fails without a mutant (default: leave it out, warn)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    parser.add_argument("--json", metavar="PATH", help="write the outcomes as JSON")
    parser.add_argument("--tests", default="", help="comma-separated pytest node ids to run instead of each mutant's")
    parser.add_argument(
        "--plant",
        nargs=3,
        action="append",
        metavar=("FILE", "ORIGINAL", "MUTATED"),
        help="an ad-hoc mutant (with --tests), instead of the list: plant the bug a new test is meant to catch",
    )
    args = parser.parse_args(argv)

    wanted = [w for w in args.only.split(",") if w]
    mutants = [m for m in MUTANTS if not wanted or any(w in m.id for w in wanted)]
    if args.plant:
        if not args.tests:
            parser.error("--plant needs --tests")
        mutants = [Mutant(f"planted-{i}", f, o, m, f"{o!r} -> {m!r}", ()) for i, (f, o, m) in enumerate(args.plant, 1)]
    if args.tests:  # does this test catch these mutants?
        mutants = [replace(m, tests=tuple(t for t in args.tests.split(",") if t)) for m in mutants]
    if args.list:  # and whether each still applies to the working tree (read only)
        root = repo_root()
        for m in mutants:
            path = root / m.file
            found = path.read_text(encoding="utf-8").count(m.original) if path.is_file() else 0
            print(f"{m.id:<28} {'ok' if found == 1 else 'STALE':<6} {m.file:<45} {m.description}")
        return 0
    if not mutants:
        print(f"no mutant id contains any of {wanted}", file=sys.stderr)
        return 2

    root = repo_root()
    workdir = Path(tempfile.mkdtemp(prefix="mutation-"))
    copy = workdir / "repo"
    if copy.resolve().is_relative_to(root.resolve()):  # never inside the real tree
        raise SystemExit(f"temporary folder {copy} is inside the repository {root}")
    try:
        copy_tree(root, copy)
        print(f"copied the working tree of {root} to {copy}", flush=True)
        deselect: tuple[str, ...] = ()
        if not args.skip_baseline:
            tests = tuple(dict.fromkeys(t for m in mutants for t in m.tests))
            result, seconds, failed, tail = run_tests(copy, tests, args.timeout * 2, first_failure=False)
            shown = "passed" if result == "survived" else f"FAILED ({result})"
            print(f"baseline (no mutant, {len(tests)} test selections): {shown} in {seconds:.0f}s", flush=True)
            if result == "killed" and failed and not args.strict:
                # Tests that fail without a mutant would "kill" every mutant they run on: leave them out,
                # and say so (a mutant only they would catch then survives, which is the truth of the moment).
                deselect = tuple(failed)
                print(f"WARNING: {len(failed)} test(s) fail without a mutant and are left out:", file=sys.stderr)
                for node in failed:
                    print(f"    {node}", file=sys.stderr)
            elif result != "survived":  # the tests must pass before a mutant can be judged
                print(tail, file=sys.stderr)
                print("the tests fail without a mutant: fix them first (or --skip-baseline)", file=sys.stderr)
                return 2
        outcomes = []
        for i, mutant in enumerate(mutants, 1):
            outcome = check_mutant(copy, mutant, args.timeout, deselect)
            outcomes.append(outcome)
            caught = f" by {outcome.caught_by[0]}" if outcome.caught_by else ""
            print(f"[{i}/{len(mutants)}] {mutant.id}: {outcome.result}{caught} ({outcome.seconds:.0f}s)", flush=True)
            if outcome.reason or outcome.result == "stale":
                print(f"    {outcome.reason or outcome.tail}", flush=True)
        print_table(outcomes)
        if args.json:
            Path(args.json).write_text(json.dumps([asdict(o) for o in outcomes], indent=2))
        return 0 if all(o.result in ("killed", "error") for o in outcomes) else 1
    finally:
        if args.keep:
            print(f"kept {copy}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
