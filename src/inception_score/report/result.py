"""The result of a run and its renderings: a dict / JSON for machines, a short text for people.

:func:`build_result` is the one place a :class:`Result` is made: from a
:class:`~inception_score.run.measurement.Measurement` (the accumulators of a pass, a merge of
shards, or the metric object's state), each accumulator adding its fields in turn.

Example:
    >>> r = Result(inception_score_mean=9.5, inception_score_std=0.1, split_scores=[9.4, 9.6],
    ...            num_images=100, splits=2, protocol="original", weights_sha256="ab" * 32)
    >>> r.mean, r.std
    (9.5, 0.1)
    >>> print(r.summary().splitlines()[0])
    Inception Score: 9.5000 ± 0.1000  (100 images, 2 splits, protocol original)
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..errors import InceptionScoreWarning, plural
from ..run.measurement import Measurement

__all__ = ["Result", "ShardSummary", "build_result"]


@dataclass
class Result:
    """What :func:`inception_score.compute` returns; every field is in the ``--json`` output."""

    inception_score_mean: float
    inception_score_std: float
    split_scores: list[float]
    num_images: int
    splits: int
    protocol: str
    weights_sha256: str | None
    sharpness: float | None = None  # exp(-E H(y|x)), all images together
    diversity: float | None = None  # exp(H(marginal)): IS of all images as one split = sharpness x diversity
    inception_score_one_split: float | None = None
    split_sharpness: list[float] = field(default_factory=list)
    split_diversity: list[float] = field(default_factory=list)
    num_effective_classes: float | None = None
    num_classes_with_mass: int | None = None
    num_classes_top1: int | None = None
    num_classes_never_top1: int | None = None
    classes_never_top1: list[str] = field(default_factory=list)
    mean_top1_confidence: float | None = None
    top_classes: list[dict[str, Any]] = field(default_factory=list)
    ci95: list[float] | None = None  # mean +- 1.96 bootstrap_std (Poisson bootstrap over images)
    bootstrap_std: float | None = None
    bootstrap_replicates: int = 0
    is_infinity: float | None = None  # Chong & Forsyth 2020: IS_N extrapolated to 1/N = 0
    is_infinity_fit: dict[str, Any] | None = None
    near_duplicate_rate: float | None = None  # share of images with a pool3 cosine twin >= threshold
    near_duplicate_threshold: float | None = None
    near_duplicate_sample: int | None = None  # images compared (all pairs), the first ones of the run
    near_duplicate_pairs: list[list[Any]] = field(default_factory=list)  # [index, index, cosine], top 10
    within_class_spread: list[dict[str, Any]] = field(default_factory=list)  # top classes: 1 - |mean unit f|^2
    overall_spread: float | None = None  # the same over all images
    metrics: list[str] = field(default_factory=lambda: ["is"])  # what was computed (is, fid, kid, sfid, pr, prdc)
    fid: float | None = None  # Fréchet Inception Distance to the reference (pool3; Heusel et al. 2017)
    fid_infinity: float | None = None  # Chong & Forsyth 2020: FID_N extrapolated to 1/N = 0
    fid_infinity_fit: dict[str, Any] | None = None
    kid_mean: float | None = None  # Kernel Inception Distance (Bińkowski et al. 2018), torch-fidelity's subsets
    kid_std: float | None = None
    sfid: float | None = None  # FID of the spatial mixed_6/conv features (Nash et al. 2021; the ADM evaluator)
    improved_precision: float | None = None  # Kynkäänniemi et al. 2019 (the ADM evaluator's "Precision")
    improved_recall: float | None = None  # ... its "Recall"
    pr_k: int | None = None
    pr_distances: str | None = None  # float16 (as the ADM evaluator) or float32
    density: float | None = None  # Naeem et al. 2020
    coverage: float | None = None
    prdc_k: int | None = None
    prdc_subsample: int | None = None  # P/R and D/C scored this many images of each set (dgm-eval's subsets)
    # the same kinds in DINOv2 space (Stein et al. 2023; FD_DINOv2 as EDM2, the others as dgm-eval) ...
    fd_dinov2: float | None = None
    fd_infinity_dinov2: float | None = None
    fd_infinity_dinov2_fit: dict[str, Any] | None = None
    kd_dinov2_mean: float | None = None
    kd_dinov2_std: float | None = None
    improved_precision_dinov2: float | None = None
    improved_recall_dinov2: float | None = None
    density_dinov2: float | None = None
    coverage_dinov2: float | None = None
    # ... and in CLIP space (ViT-L/14@336 embeddings, CMMD's preprocessing)
    fd_clip: float | None = None
    fd_infinity_clip: float | None = None
    fd_infinity_clip_fit: dict[str, Any] | None = None
    kd_clip_mean: float | None = None
    kd_clip_std: float | None = None
    improved_precision_clip: float | None = None
    improved_recall_clip: float | None = None
    density_clip: float | None = None
    coverage_clip: float | None = None
    cmmd: float | None = None  # Jayasumana et al. 2024, as Google's reference (x 1000)
    cmmd_drop_remainder: bool | None = None  # whether the last partial batch of 32 of each set was left out
    cmmd_num_samples: int | None = None  # the images CMMD compared, of the samples ...
    cmmd_num_reference: int | None = None  # ... and of the reference
    fid_reference: dict[str, Any] | None = None  # path, kind, num_images, sha256, read/computed, provenance
    sample_statistics: dict[str, Any] | None = None  # evaluate: the sample batch's mu/sigma read or computed
    match: dict[str, Any] | None = None  # --match: the preset, what it set, what was overridden, its notes
    resize: str = "tf1"  # how images reached 299x299 (tf1: the 2015 graph's own)
    cov_divisor: str = "n-1"  # FID's covariance divisor
    kid_protocol: str | None = None  # how KID's subsets were drawn (with KID)
    weights_path: str | None = None
    weights_source: str | None = None
    dinov2_weights_sha256: str | None = None  # the DINOv2 weights used (when a *_dinov2 metric was computed)
    dinov2_weights_path: str | None = None
    dinov2_resize: str | None = None  # torch (EDM2's default) or pil (EDM2's pil mode = dgm-eval)
    clip_weights_sha256: str | None = None  # the CLIP weights used (cmmd, *_clip)
    clip_weights_path: str | None = None
    precision: str = "exact"
    fast_dtype: str | None = None  # what --precision fast ran in: bfloat16, or float32 without bf16 units
    precision_check: dict[str, float] | None = None  # --check-precision: IS (and FID) fast vs exact
    package_version: str = ""
    torch_version: str = ""
    device: str = ""
    batch_size: int = 0
    sources: list[str] = field(default_factory=list)
    num_skipped: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    cache_hits: int | None = None  # images whose outputs came from --cache
    cache_misses: int | None = None  # images computed (and stored) this run
    elapsed_s: float = 0.0
    images_per_second: float = 0.0  # images scored in this run / the time before the final step
    final_s: float = 0.0  # of elapsed_s: the metrics' final computations (FID's eigenvalues, distances of P/R)
    warnings: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float:
        """IS averaged over the splits (the number papers report)."""
        return self.inception_score_mean

    @property
    def std(self) -> float:
        """Population std of the per-split scores (ddof 0, as the references)."""
        return self.inception_score_std

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        """A few lines for a terminal."""
        return "\n".join(self.summary_lines())

    def _comparison_lines(self) -> list[str]:
        """FID, KID, sFID, precision/recall, density/coverage: one line each, and the reference."""
        lines = []
        if self.fid is not None:
            extra = f"; at infinite N {_fixed4(self.fid_infinity)}" if self.fid_infinity is not None else ""
            lines.append(f"FID: {_fixed4(self.fid)}{extra}")
        if self.kid_mean is not None:
            lines.append(f"KID: {self.kid_mean:.6f} ± {self.kid_std:.6f}")
        if self.sfid is not None:
            lines.append(f"sFID: {_fixed4(self.sfid)}")
        if self.improved_precision is not None:
            lines.append(
                f"precision: {self.improved_precision:.4f}, recall: {self.improved_recall:.4f} "
                f"(k = {self.pr_k}, {self.pr_distances} distances{self._subsets()})"
            )
        if self.density is not None:
            lines.append(
                f"density: {self.density:.4f}, coverage: {self.coverage:.4f} (k = {self.prdc_k}{self._subsets()})"
            )
        for suffix, space in (("_dinov2", "DINOv2"), ("_clip", "CLIP")):
            lines += self._space_lines(suffix, space)
        if self.cmmd is not None:
            dropped = ", last partial batches of 32 left out" if self.cmmd_drop_remainder else ""
            lines.append(
                f"CMMD: {self.cmmd:.4f}  ({self.cmmd_num_samples:,} samples vs {self.cmmd_num_reference:,} reference "
                f"images{dropped})"
            )
        ref = self.fid_reference
        if ref:
            count = f"{ref['num_images']:,} images" if ref.get("num_images") else "N not recorded"
            digest = f", sha256 {ref['sha256'][:16]}…" if ref.get("sha256") else ""
            kind = "" if ref.get("kind") == "images" else f"{ref.get('kind')}, "  # not "(images, 90 images)"
            made = f", precision {ref['precision']}" if ref.get("precision") not in (None, self.precision) else ""
            lines.append(f"reference: {ref.get('path')} ({kind}{count}{digest}{made}){_read_computed(ref)}")
        stored = self.sample_statistics
        if stored and stored.get("read"):
            lines.append(f"samples: {stored.get('path')}{_read_computed(stored)} (as the ADM evaluator reads a batch)")
        return lines

    def _subsets(self) -> str:
        """How many images of each set P/R and D/C scored, when --prdc-subsample cut them."""
        return f", {self.prdc_subsample:,} images of each set" if self.prdc_subsample is not None else ""

    def _space_lines(self, suffix: str, space: str) -> list[str]:
        """The lines of one feature space beyond pool3 (FD_DINOv2, KD_DINOv2, P/R, D/C)."""
        lines = []
        value = getattr(self, f"fd{suffix}")
        if value is not None:
            at_infinity = getattr(self, f"fd_infinity{suffix}")
            extra = f"; at infinite N {_fixed4(at_infinity)}" if at_infinity is not None else ""
            lines.append(f"FD_{space}: {_fixed4(value)}{extra}")
        elif getattr(self, f"fd_infinity{suffix}") is not None:
            lines.append(f"FD_{space} at infinite N: {_fixed4(getattr(self, f'fd_infinity{suffix}'))}")
        if getattr(self, f"kd{suffix}_mean") is not None:
            lines.append(
                f"KD_{space}: {getattr(self, f'kd{suffix}_mean'):.6f} ± {getattr(self, f'kd{suffix}_std'):.6f}"
            )
        if getattr(self, f"improved_precision{suffix}") is not None:
            lines.append(
                f"precision ({space}): {getattr(self, f'improved_precision{suffix}'):.4f}, recall: "
                f"{getattr(self, f'improved_recall{suffix}'):.4f} (k = {self.pr_k}, {self.pr_distances} distances"
                f"{self._subsets()})"
            )
        if getattr(self, f"density{suffix}") is not None:
            lines.append(
                f"density ({space}): {getattr(self, f'density{suffix}'):.4f}, coverage: "
                f"{getattr(self, f'coverage{suffix}'):.4f} (k = {self.prdc_k}{self._subsets()})"
            )
        return lines

    def summary_lines(self) -> list[str]:
        """The lines of :meth:`summary` (each may hold text from outside: file names)."""
        spread = f" ± {self.std:.4f}" if self.splits > 1 else ""  # one split has no spread to print
        lines = [
            f"Inception Score: {self.mean:.4f}{spread}  "
            f"({plural(self.num_images, 'image')}, {plural(self.splits, 'split')}, protocol {self.protocol})",
        ]
        if self.ci95:
            lines.append(
                f"95% interval (± 1.96 bootstrap std over images, {self.bootstrap_replicates} replicates): "
                f"[{self.ci95[0]:.4f}, {self.ci95[1]:.4f}]"
            )
        if self.sharpness is not None and self.diversity is not None:
            lines.append(
                f"all images as one split: {self.inception_score_one_split:.4f} = sharpness {self.sharpness:.4f} "
                f"x diversity {self.diversity:.4f}; mean top-1 confidence {self.mean_top1_confidence:.3f}"
            )
        if self.is_infinity is not None and self.is_infinity_fit:
            lines.append(
                f"IS at infinite N (one split, fit over N/10..N): {self.is_infinity:.4f} "
                f"(R² {self.is_infinity_fit['r2']:.3f})"
            )
        if self.top_classes:
            top = ", ".join(f"{c['name'].split(',')[0]} {c['probability']:.1%}" for c in self.top_classes[:3])
            some = "1 class is" if self.num_classes_top1 == 1 else f"{self.num_classes_top1} classes are"
            lines.append(f"top classes: {top}; {some} someone's top-1")
        if self.near_duplicate_rate is not None:
            spreads = [s["spread"] for s in self.within_class_spread]
            spread = (
                f"; within-class spread of the top classes {min(spreads):.2f}..{max(spreads):.2f}" if spreads else ""
            )
            lines.append(
                f"near-duplicates (pool3 cosine >= {self.near_duplicate_threshold}): {self.near_duplicate_rate:.1%} "
                f"of {plural(self.near_duplicate_sample or 0, 'image')}{spread}"
            )
        lines += self._comparison_lines()
        if self.match:
            over = self.match.get("overridden") or {}
            changed = "; overridden: " + ", ".join(f"{k}={v['used']}" for k, v in over.items()) if over else ""
            lines.append(f"matching {self.match['name']}: {self.match['matches']}{changed}")
        if self.cache_hits is not None:
            lines.append(f"cache: {self.cache_hits} images reused, {self.cache_misses} computed")
        if self.weights_sha256:
            lines.append(f"weights: sha256 {self.weights_sha256[:16]}…  {self.weights_path or ''}".rstrip())
        if self.dinov2_weights_sha256:
            lines.append(
                f"DINOv2 weights: sha256 {self.dinov2_weights_sha256[:16]}…  {self.dinov2_weights_path or ''}".rstrip()
                + f"  (resize {self.dinov2_resize})"
            )
        if self.clip_weights_sha256:
            lines.append(
                f"CLIP weights: sha256 {self.clip_weights_sha256[:16]}…  {self.clip_weights_path or ''}".rstrip()
            )
        if self.precision_check:
            c = self.precision_check
            lines.append(
                f"precision check: fast {c['inception_score_fast']:.4f} vs exact {c['inception_score_exact']:.4f} "
                f"on the first {int(c['num_images'])} images ({c['relative_deviation']:.1e} relative)"
            )
            if "fid_fast" in c:
                lines.append(
                    f"precision check, FID of those images: fast {c['fid_fast']:.4f} vs exact {c['fid_exact']:.4f} "
                    f"({c['fid_relative_deviation']:.1e} relative)"
                )
        if self.elapsed_s:
            lines.append(
                f"time: {self.elapsed_s:.1f} s on {self.device}"
                + (f" ({self.final_s:.1f} s of it in the metrics' final step)" if self.final_s >= 1 else "")
                + f", {self.precision}{f' ({self.fast_dtype})' if self.fast_dtype else ''} "
                + (f"({self.images_per_second:.1f} images/s), " if self.images_per_second else "(no image scored), ")
                + f"inception-score {self.package_version}, torch {self.torch_version}"
            )
        return lines


def _read_computed(info: dict[str, Any]) -> str:
    """'; mu, sigma read from the file, mu_s, sigma_s computed from its images' (what a batch gave)."""
    read = [k for k in info.get("read") or [] if k != "features"]
    if not read:
        return ""
    computed = [k for k in info.get("computed") or [] if k != "features"]
    return f"; {', '.join(read)} read from the file" + (
        f", {', '.join(computed)} computed from its images" if computed else ""
    )


def _fixed4(value: float) -> str:
    """``value`` with 4 decimals, and a value that rounds to 0 as ``0.0000``: a distance is >= 0, and
    ``-0.0000`` (a negative rounding residue, or FID at infinite N's intercept a hair below 0) reads as a bug."""
    text = f"{value:.4f}"
    return text[1:] if text == "-0.0000" else text


@dataclass
class ShardSummary:
    """What a ``--shard i/K`` run returns: where its statistics went, not a score (a shard's
    splits are incomplete; ``inception-score merge`` gives the score of all shards)."""

    shard: str
    start: int
    stop: int
    stats_file: str
    num_images: int
    num_skipped: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    package_version: str = ""
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        return "\n".join(self.summary_lines())

    def summary_lines(self) -> list[str]:
        return [
            f"shard {self.shard}: "
            + (f"images {self.start}..{self.stop - 1}" if self.stop > self.start else "no images")
            + f" of {self.num_images}; statistics written to "
            f"{self.stats_file} (combine the shards with: inception-score merge FILE...)"
        ]


_RESULT_FIELDS = {f.name for f in dataclasses.fields(Result)}


def build_result(measurement: Measurement, show_warnings: bool = True) -> Result | ShardSummary:
    """The :class:`Result` of a measurement (a :class:`ShardSummary` for a ``--shard`` run).

    Each accumulator adds its fields, reading those of the ones before it, then the warnings the
    numbers imply are added to those recorded during the run (and shown, unless
    ``show_warnings`` is false: the metric object of a training loop keeps them in the result
    instead of warning at every evaluation).
    """
    facts = measurement.facts
    if measurement.shard is not None:
        return ShardSummary(
            **measurement.shard,
            num_images=facts["num_images"],
            num_skipped=facts.get("num_skipped", 0),
            skipped=facts.get("skipped", []),
            package_version=facts.get("package_version", ""),
            elapsed_s=facts.get("elapsed_s", 0.0),
        )
    fields: dict[str, Any] = {}
    so_far = dict(facts)  # each accumulator reads the facts and the fields of those before it
    started = time.perf_counter()
    for accumulator in measurement.accumulators:
        new = accumulator.fields(so_far)
        fields.update(new)
        so_far.update(new)
    if "elapsed_s" in facts:  # the run's time includes the final computations (FID's eigenvalues, P/R)
        final = time.perf_counter() - started
        facts = {**facts, "elapsed_s": facts["elapsed_s"] + final, "final_s": final}
    notes = [w for a in measurement.accumulators for w in a.warnings(so_far)]
    if show_warnings:
        for message in notes:
            warnings.warn(message, InceptionScoreWarning, stacklevel=3)
    recorded = list(measurement.warnings) + [n for n in notes if n not in measurement.warnings]
    unknown = (set(fields) | set(facts)) - _RESULT_FIELDS
    if unknown:  # a metric's field must be declared on Result (and so in the JSON); never dropped
        raise TypeError(f"fields not declared on Result: {sorted(unknown)}")
    return Result(**fields, **facts, warnings=recorded)
