"""Sources -> device -> features -> accumulators -> a Measurement. No printing of results.

The pipeline decides nothing about the mathematics (that is :mod:`inception_score.metrics`) nor
about the images (that is :mod:`inception_score.inputs`) nor the network (that is
:mod:`inception_score.features`): it opens the sources, checks every output path, decides which
images this process scores (:mod:`.plan`), obtains the reference of the comparison metrics
(:mod:`.reference`: a statistics file, or one pass over real images), then feeds each batch's
outputs to every accumulator the run asked for (:func:`.loop.feed`, which knows none of them by
name). Then it adds the accumulators of all ranks, saves what was asked, and returns a
:class:`~inception_score.run.measurement.Measurement`. Memory does not grow with N beyond what
the accumulators keep per image.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._version import __version__
from ..checks import check_choice
from ..errors import InputError, OptionsError, plural, recording, warn
from ..features.cache import PREPROCESS_VERSION, CachedExtractor, OutputCache
from ..features.classifier import NOT_COMPARABLE
from ..features.extractor import (
    Extractor,
    FeatureNetwork,
    classifier_extractor,
    custom_extractor,
    feature_network,
    inception_extractor,
    require_inception,
)
from ..features.spaces import SPACES, part_key
from ..inputs.arrays import ArraySource
from ..inputs.base import ImageSource, fingerprint
from ..inputs.generators import GeneratorSource, ModuleGenerator, generator_source
from ..inputs.models import load_model
from ..inputs.sources import open_sources
from ..metrics.base import Accumulator, ShapeMismatch
from ..metrics.names import METRICS, spaces_of
from ..metrics.protocols import SplitPlan
from ..metrics.reference import FEATURE_KEYS, MOMENT_KEYS, Reference
from ..metrics.registry import MetricSpec, build_accumulators
from ..options import Options
from ..presets import KID_SHRINKING, match_record
from .checkpoint import check_agreement, load_stats, save_stats
from .distributed import all_reduce
from .loop import Span, feed, states_of
from .measurement import Measurement
from .outputs import check_output_dir, check_output_file, check_report_dir, same_path
from .plan import Work, assign_work, default_workers, resolve_device, sums_device
from .precision_check import FeatureCheck, PrecisionCheck
from .published import is_published_name, locate_published, read_edm2_pickle
from .reference import (
    ReferenceNeeds,
    ReferenceSize,
    check_reference_size,
    compare_provenance,
    compute_reference,
    file_sha256,
    load_sample_statistics,
    load_statistics,
    reference_from_tensors,
    reference_size,
    reference_tensors,
    statistics_kind,
    with_divisor,
)
from .screening import screen_files

__all__ = ["run", "open_inputs", "resolve_metrics"]

EDM2_KIND = "EDM2 reference pickle"


def run(sources: Any, options: Options | None = None, network: nn.Module | None = None) -> Measurement:
    """Score one or several sources (paths, arrays, tensors or :class:`ImageSource`) with ``options``.

    ``network``: a module taking the preprocessed N x 3 x 299 x 299 batch and returning
    :class:`~inception_score.features.outputs.NetworkOutputs` or N x C logits; default: the 2015
    Inception graph with the weights that ``options.weights`` resolves to.
    """
    options = options or Options()
    start = time.perf_counter()
    with recording() as log:
        measurement = _run(sources, options, network, start)
    measurement.warnings = log
    return measurement


def open_inputs(sources: Any, options: Options) -> tuple[list[ImageSource], list[tuple[str, str]]]:
    """The opened sources (plus ``--generator``'s samples) and the files skipped by ``--on-error skip``;
    every output path is checked first."""
    module = _module_options(options)
    if options.generator:
        loaded = load_model(options.generator, "generator")
        extra: dict[str, Any] = {"image_range": options.image_range} if options.image_range else {}
        if isinstance(loaded, nn.Module):
            extra.update(module)
        sources = [*(sources or []), generator_source(loaded, options.num_samples or 0, **extra)]
    opened = open_sources(sources, options.recursive, options.num_samples, options.image_range, module)
    _warn_repeated(sources)
    _check_generator_options(options, opened)
    check_outputs(options, opened)
    return opened, screen_files(opened, options.on_error, options.num_workers, resolve_device(options.device))


def input_paths(opened: Sequence[ImageSource], options: Options) -> list[str]:
    """Every file and folder the run reads: the sources, their files, the weights, the models, the reference."""
    paths: list[Any] = []
    for source in opened:
        paths += [getattr(source, "path", None), source.name.lstrip("@"), *getattr(source, "paths", ())]
    paths += [options.weights, options.generator, options.classifier]
    paths += [options.ref] if isinstance(options.ref, str) else []
    return [os.fspath(p) for p in paths if isinstance(p, (str, os.PathLike)) and os.path.exists(p)]


def _module_options(options: Options) -> dict[str, Any]:
    """What an ``nn.Module`` generator is driven with (its latents, their seed, its latent size)."""
    return {"latents": options.latents, "seed": options.seed, **({"z_dim": options.z_dim} if options.z_dim else {})}


def _warn_repeated(sources: Any) -> None:
    """A path given twice is scored twice (as asked), which is rarely what was meant: say so."""
    items = sources if isinstance(sources, (list, tuple)) else [sources]
    seen: set[str] = set()
    for item in items:
        if isinstance(item, (str, os.PathLike)) and os.path.exists(item):
            real = os.path.realpath(item)
            if real in seen:
                warn(f"{os.fsdecode(item)} is given more than once: its images are scored each time")
            seen.add(real)


def _check_generator_options(options: Options, opened: Sequence[ImageSource]) -> None:
    """Options that only a generator reads are refused without one, rather than silently ignored."""
    generators = [s for s in opened if isinstance(s, GeneratorSource)]
    modules = [s for s in generators if isinstance(s.sample_fn, ModuleGenerator)]
    if options.num_samples and not generators:
        raise OptionsError(
            f"num_samples: got {options.num_samples}, but it is how many images to draw from a generator "
            "(--generator, or a function or nn.Module given as the source); files and arrays are scored whole"
        )
    for name, unset in (("z_dim", None), ("latents", "normal")):
        if getattr(options, name) != unset and not modules:
            raise OptionsError(f"{name}: only for an nn.Module generator (latents in, images out); there is none here")
    floats = [s for s in opened if isinstance(s, (ArraySource, GeneratorSource)) or getattr(s, "is_float", False)]
    if options.image_range is not None and not floats:
        raise OptionsError(
            f"image_range: got {options.image_range}, but it is the range of float images (arrays, tensors, "
            "float .npy/.npz, generators); image files and uint8 arrays are 8-bit"
        )


def check_outputs(options: Options, opened: Sequence[ImageSource]) -> None:
    """Refuse every output path that would fail or overwrite something, before any work (exit 2)."""
    inputs = input_paths(opened, options)

    def ours(path: Path) -> bool:
        try:
            load_stats(path)
        except InputError:
            return False
        return True

    for option in ("save_stats", "state"):
        if getattr(options, option):
            check_output_file(getattr(options, option), option, inputs, ours)
            if os.fsdecode(getattr(options, option)).lower().endswith(".npz"):
                raise OptionsError(
                    f"{option}: {getattr(options, option)}: these files are torch files (.pt); an .npz reference "
                    "for --ref is written by `inception-score stats`"
                )
    if options.save_stats and options.state and same_path(options.save_stats, [options.state]):
        raise OptionsError(f"save_stats: {options.save_stats} is also --state; give each a file of its own")
    if options.report:
        check_report_dir(options.report, inputs)
        if options.recursive:  # its figures would be images of the next run over the same folder
            report = os.path.realpath(options.report)
            for folder in (p for p in inputs if os.path.isdir(p)):
                if report.startswith(os.path.realpath(folder) + os.sep):
                    raise OptionsError(
                        f"report: {options.report} is inside the input folder {folder}, which --recursive reads: "
                        "its figures would be scored next time. Choose a folder outside it"
                    )
    if options.cache:
        check_output_dir(options.cache, "cache", inputs)


def resolve_metrics(options: Options) -> tuple[tuple[str, ...], bool]:
    """The metrics of the run (IS always first) and whether KID was only implied (not asked for).

    Without ``--metrics``: IS, plus FID and KID with ``--ref`` (KID when the reference has images
    or stored features: a pytorch-fid file holds mu and sigma only).
    """
    ref = options.ref
    has_features, kind = True, None
    only_is = options.metrics is not None and set(options.metrics) <= {"is"}  # then the reference is not read
    stored: set[str] | None = None  # the spaces whose features a statistics file holds
    if isinstance(ref, str) and ref.lower().endswith(".pkl") and not only_is:
        has_features, kind = False, EDM2_KIND
        stored = set()  # an EDM2 pickle holds statistics only: no space has features
    if isinstance(ref, str) and ref.lower().endswith(".npz") and os.path.isfile(ref) and not only_is:
        try:
            kind = statistics_kind(ref)
        except InputError as exc:
            raise InputError(f"ref: {exc}") from None
        has_features = "ADM" in kind or _has_key(ref, "features")
        stored = {s for s in SPACES if "ADM" in kind or _has_key(ref, part_key("features", s))}
    if options.metrics:
        feature_kinds = ("kd", "pr", "prdc", "cmmd")
        wanting = [m for m in options.metrics if METRICS[m][0] in feature_kinds and stored is not None
                   and METRICS[m][1] not in stored]  # fmt: skip
        if wanting:  # before any other check: no other setting can make them possible
            which = (
                "the reference images' features"
                if all(METRICS[m][1] == "pool3" for m in wanting)
                else (", ".join(sorted({part_key("features", METRICS[m][1]) for m in wanting})))
            )
            hint = "--with-features" if which.startswith("the") else "--metrics ... --with-features"
            raise InputError(
                f"ref: {ref}: {kind} without {which}, which {' and '.join(wanting)} "
                f"need{'s' if len(wanting) == 1 else ''}; give the reference images, or a file of "
                f"`inception-score stats {hint}`"
            )
        return ("is", *(m for m in options.metrics if m != "is")), False
    if ref is None:
        return ("is",), False
    if kind is not None:
        if not has_features:
            warn(
                f"KID not computed: {ref} holds the mean and covariance only, and KID needs the features "
                "(write the reference with `inception-score stats --with-features`, or give its images)"
            )
    return ("is", "fid", "kid") if has_features else ("is", "fid"), has_features


def _has_key(path: str, key: str) -> bool:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return f"{key}.npy" in zf.namelist()


def published_reference(options: Options) -> tuple[Options, dict[str, Any]]:
    """A published reference named as ``--ref family:dataset``: its local copy (downloaded once) as
    ``ref``, and what to record about it; the options unchanged otherwise."""
    if not is_published_name(options.ref):
        return options, {}
    path, entry = locate_published(options.ref, options.ref_sha256, progress=options.progress)
    if options.match is not None and options.match != entry.preset:
        warn(f"ref: {entry.name} goes with --match {entry.preset} (the tool that made it); this run uses --match "
             f"{options.match}, so the two sides were computed differently")  # fmt: skip
    record = {"name": entry.name, "url": entry.url, "preset": entry.preset, "source": entry.source}
    return dataclasses.replace(options, ref=str(path)), record


def _run(sources: Any, options: Options, network: nn.Module | None, start: float) -> Measurement:
    options, published = published_reference(options)
    device = resolve_device(options.device)
    if network is not None and options.cache:
        raise OptionsError("cache: only for the Inception network (a custom network has no weights hash to key on)")
    metrics, kid_implied = resolve_metrics(options)
    opened, skipped = open_inputs(sources, options)
    num_images = sum(len(s) for s in opened)
    SplitPlan(options.protocol, num_images, options.splits)  # refuse impossible splits before any work
    _check_counts(metrics, kid_implied, num_images, options)
    metrics, ref_size = _size_up_reference(metrics, kid_implied, num_images, options)  # before any pass
    work = assign_work(opened, device, options.device, options.batch_size, options.precision, options.shard)
    check_network_options(options, metrics)
    extractor = _extractor(options, opened, network, work, spatial="sfid" in metrics, fid="fid" in metrics,
                           spaces=spaces_of(metrics))  # fmt: skip
    _check_fields(extractor, metrics, options)
    forward: Extractor | CachedExtractor = extractor
    if options.cache:
        weights = require_inception(extractor, "cache")
        forward = CachedExtractor(extractor, OutputCache(options.cache, weights.sha256, _cache_tag(options, extractor)))
    workers = options.num_workers if options.num_workers is not None else default_workers(work.device)
    state_path = _state_path(options.state, work)
    saved = _saved_state(state_path)
    reference = None
    if options.ref is not None and metrics == ("is",) and not options.fid_infinity:
        warn(f"ref: not read, as --metrics {','.join(options.metrics or ())} compares nothing with it")
    elif options.ref is not None:
        needs = _needs(metrics, options)
        try:
            reference = _reference(options, forward, work, workers, needs, extractor, saved, ref_size)
            if published:
                reference = dataclasses.replace(reference, info={**reference.info, **published})
        except InputError as exc:  # say that it is about the reference, not the samples
            raise exc if str(exc).startswith("ref:") else InputError(f"ref: {exc}") from None
        ref_count = len(reference.features) if reference.features is not None else 0  # less any skipped files
        metrics = _drop_impossible_kid(metrics, kid_implied, num_images, ref_count, options)
        if isinstance(extractor.check, PrecisionCheck):
            extractor.check.reference = reference  # --check-precision also reports FID's deviation
        for net in extractor.networks:
            if isinstance(net.check, FeatureCheck):
                net.check.reference = reference  # ... and FD_DINOv2's, FD_CLIP's
    spec = MetricSpec(
        protocol=options.protocol,
        splits=options.splits,
        num_images=num_images,
        num_classes=extractor.num_classes,
        named=extractor.named,
        bootstrap=options.bootstrap,
        seed=options.seed,
        gallery=options.report is not None,
        metrics=metrics,
        fid_infinity=options.fid_infinity,
        kid_subsets=options.kid_subsets,
        kid_subset_size=options.kid_subset_size,
        pr_precision=options.pr_precision,
        pr_k=options.pr_k,
        prdc_k=options.prdc_k,
        prdc_subsample=options.prdc_subsample,
        resize=options.resize,
        cov_divisor=options.cov_divisor,
        kid_protocol=options.kid_protocol,
        kid_seed=options.kid_seed,
        cmmd_drop_remainder=options.cmmd_drop_remainder,
        feature_dims=_feature_dims(extractor),
    )
    stored = _stored_sample_statistics(options, sources, metrics, saved)
    accumulators = build_accumulators(spec, sums_device(work.device), reference, samples=stored)
    provenance = _provenance(options, spec, extractor, work.batch_size, reference, opened, stored)
    position = _resume(state_path, saved, accumulators, provenance, work.mine) if saved else work.mine[0]
    extra = reference_tensors(reference) if reference is not None else {}
    if stored is not None:
        extra.update({f"samples.{k[len('reference.') :]}": v for k, v in reference_tensors(stored).items()})

    def checkpoint(next_index: int) -> None:
        if state_path:
            span = {"start": work.mine[0], "stop": work.mine[1], "next": next_index}
            save_stats(state_path, {**provenance, **span}, {**states_of(accumulators), **extra})

    span = Span(work.mine[0], work.mine[1], work.batch_size, workers, work.device.type == "cuda")
    progress = options.progress and work.is_main
    sums = sums_device(work.device) if sums_device(work.device) != work.device else None
    every = options.state_interval
    scored = feed(opened, forward, accumulators, span, position, progress, "img", checkpoint, every, sums)

    if work.world is not None:
        counted = torch.tensor([float(scored)], dtype=torch.float64, device=sums_device(work.device))
        all_reduce([t for a in accumulators for t in a.state().values()] + [counted], work.device)
        scored = int(counted.item())  # images/s of the whole run, not of rank 0
    if options.save_stats and work.is_main:
        span_of_shard = {"start": work.shard[0], "stop": work.shard[1]}
        save_stats(options.save_stats, {**provenance, **span_of_shard}, {**states_of(accumulators), **extra})
    elapsed = time.perf_counter() - start
    facts = _facts(options, extractor, forward, work, opened, skipped, elapsed, spec, reference, scored)
    facts["sample_statistics"] = dict(stored.info) if stored is not None else None
    shard = None
    if options.shard:
        i, k = options.shard
        shard = {"shard": f"{i}/{k}", "start": work.shard[0], "stop": work.shard[1], "stats_file": options.save_stats}
    return Measurement(accumulators, spec, facts, sources=opened, shard=shard, is_main=work.is_main)


def _facts(
    options: Options,
    extractor: Extractor,
    forward: Extractor | CachedExtractor,
    work: Work,
    opened: Sequence[ImageSource],
    skipped: list[tuple[str, str]],
    elapsed: float,
    spec: MetricSpec,
    reference: Reference | None,
    scored: int,
) -> dict[str, Any]:
    """The fields of the result that describe the run, not the images (``scored``: images this
    process scored in this run, not those a resumed state file had already)."""
    weights = extractor.weights
    cached = isinstance(forward, CachedExtractor)
    return {
        "num_images": spec.num_images,
        "splits": spec.plan().num_splits,
        "protocol": options.protocol,
        "metrics": list(spec.metrics),
        "fid_reference": dict(reference.info) if reference is not None else None,
        "match": match_record(options),
        "resize": options.resize,
        "cov_divisor": options.cov_divisor,
        "kid_protocol": options.kid_protocol if "kid" in spec.metrics else None,
        "weights_sha256": weights.sha256 if weights else None,
        "weights_path": str(weights.path) if weights else None,
        "weights_source": weights.source if weights else f"custom classifier {options.classifier or ''}".rstrip(),
        "precision": options.precision if weights else "custom network",
        "fast_dtype": extractor.fast_dtype,
        "precision_check": _precision_check(extractor),
        "package_version": __version__,
        "torch_version": torch.__version__,
        "device": str(work.device),
        "batch_size": work.batch_size,
        "sources": [s.name for s in opened],
        "num_skipped": len(skipped),
        "skipped": [{"path": p, "reason": r} for p, r in skipped],
        "cache_hits": forward.hits if cached else None,
        "cache_misses": forward.misses if cached else None,
        "elapsed_s": elapsed,
        "images_per_second": scored / elapsed if elapsed > 0 else 0.0,
        **network_facts(extractor),
    }


def network_facts(extractor: Extractor) -> dict[str, Any]:
    """The result's fields naming DINOv2's and CLIP's weights (sha256, path) and DINOv2's resize."""
    out: dict[str, Any] = {}
    for net in extractor.networks:
        out[f"{net.field}_weights_sha256"] = net.weights.sha256 if net.weights else None
        out[f"{net.field}_weights_path"] = str(net.weights.path) if net.weights else None
        if net.field == "dinov2":
            out["dinov2_resize"] = net.cache_tag.removeprefix("resize-") or None
    return out


def _precision_check(extractor: Extractor) -> dict[str, Any] | None:
    """``--check-precision``: Inception's IS (and FID) fast vs exact, and each other network's deviation."""
    if not isinstance(extractor.check, PrecisionCheck):
        return None
    out = extractor.check.fields()
    for net in extractor.networks:
        if out is not None and isinstance(net.check, FeatureCheck):
            out.update(net.check.fields())
    return out


def _stored_sample_statistics(
    options: Options,
    sources: Any,
    metrics: Sequence[str],
    saved: tuple[dict[str, Any], dict[str, torch.Tensor]] | None,
) -> Reference | None:
    """With ``options.sample_statistics`` (``evaluate``), the FID/sFID statistics stored in the sample
    batch, read as the ADM evaluator reads them (:func:`.reference.load_sample_statistics`); None
    otherwise, or when the samples are not one ``.npz`` file (then everything is computed)."""
    if not options.sample_statistics or not any(m in metrics for m in ("fid", "sfid")):
        return None
    if saved is not None and saved[0].get("sample_statistics"):  # a resumed run: what it read then
        return reference_from_tensors(saved[1], saved[0]["sample_statistics"], prefix="samples.")
    items = sources if isinstance(sources, (list, tuple)) else [sources]
    if len(items) != 1 or not isinstance(items[0], (str, os.PathLike)):
        return None
    path = os.fsdecode(items[0])
    if not path.lower().endswith(".npz") or not os.path.isfile(path):
        return None
    return load_sample_statistics(
        path, ReferenceNeeds(moments=frozenset(s for m, s in (("fid", "pool3"), ("sfid", "spatial")) if m in metrics))
    )


def _cache_tag(options: Options, extractor: Extractor) -> str:
    """What names a --cache folder besides the weights: the precision, and the resize when not the graph's."""
    tag = _cache_precision(extractor)
    return tag if options.resize == "tf1" else f"{tag}-{options.resize}"


def _needs(metrics: Sequence[str], options: Options) -> ReferenceNeeds:
    return ReferenceNeeds.of(metrics, options.fid_infinity)


def _feature_dims(extractor: Extractor) -> tuple[tuple[str, int], ...]:
    """The widths of the vector spaces that differ from the full networks' (a small test network)."""
    return tuple((s, d) for s, d in sorted(extractor.dims.items()) if d != SPACES[s].dim)


def check_network_options(options: Options, metrics: Sequence[str]) -> None:
    """Options of a network no requested metric runs are refused, never silently ignored (a
    ``--match`` preset's setting of that network is not refused: it applies when its metrics are asked for)."""
    spaces = spaces_of(metrics)
    unused = {
        "dinov2_weights": options.dinov2_weights is not None and "dinov2" not in spaces,
        "dinov2_resize": options.dinov2_resize != "torch"
        and "dinov2" not in spaces
        and not options.set_by_match("dinov2_resize"),
        "clip_weights": options.clip_weights is not None and "clip" not in spaces,
        "cmmd_drop_remainder": options.cmmd_drop_remainder and "cmmd" not in metrics,
    }
    for name, ignored in unused.items():
        if ignored:
            network = "CMMD" if name.startswith("cmmd") else ("DINOv2" if "dinov2" in name else "CLIP")
            raise OptionsError(
                f"{name}: only for the {network} metrics, and --metrics asks for none of them "
                f"({', '.join(metrics)}); add them to --metrics or leave {name} unset"
            )


def _check_fields(extractor: Extractor, metrics: Sequence[str], options: Options) -> None:
    """A custom network or classifier gives logits only: refuse the metrics that need features."""
    wanted = {m: METRICS[m][1] for m in METRICS if m != "is"}
    for metric in [*metrics, *(["fid"] if options.fid_infinity else [])]:
        field = wanted.get(metric)
        if field and field not in extractor.output_fields:
            raise OptionsError(
                f"metrics: {metric} needs the network's {field} features, and {extractor.description} gives "
                f"{', '.join(extractor.fields)}; compare with the Inception network"
            )


def _check_counts(metrics: Sequence[str], kid_implied: bool, num_images: int, options: Options) -> None:
    """Refuse, before any work, sample sets too small for a metric asked for."""
    pr, prdc = options.pr_k + 1, options.prdc_k + 1
    least = {"fid": 2, "sfid": 2, "pr": pr, "prdc": prdc, "cmmd": 32 if options.cmmd_drop_remainder else 1}
    if "kid" in metrics and options.kid_protocol in KID_SHRINKING:
        least["kid"] = 2  # StyleGAN, clean-fid: the subsets shrink to the smaller set
    elif "kid" in metrics and not kid_implied:
        least["kid"] = options.kid_subset_size
    by_kind = {"fd": 2, "fd_infinity": 2, "pr": pr, "prdc": prdc, "kd": options.kid_subset_size}
    for metric in metrics:  # the same kinds in the DINOv2 and CLIP spaces
        kind, space = METRICS.get(metric, ("", "pool3"))
        if space not in ("pool3", "spatial") and kind in by_kind:
            least[metric] = by_kind[kind]
    for metric in [*metrics, *(["fid"] if options.fid_infinity else [])]:
        if num_images < least.get(metric, 0):
            kind = METRICS.get(metric, ("", ""))[0]
            hint = {
                "kd": " (set --kid-subset-size)",
                "pr": f" (k = {options.pr_k}, --pr-k, needs k + 1)",
                "prdc": f" (k = {options.prdc_k}, --prdc-k, needs k + 1)",
            }.get("kd" if metric == "kid" else kind, "")
            raise InputError(
                f"{metric}: needs at least {least[metric]} sample images, got {plural(num_images, 'image')}{hint}"
            )


def _size_up_reference(
    metrics: tuple[str, ...], kid_implied: bool, num_images: int, options: Options
) -> tuple[tuple[str, ...], ReferenceSize | None]:
    """Everything about the reference that can be refused before any pass (the reference's and the
    samples'): its size, read from a file's headers or by opening its image sources (counted, not
    decoded), against what each metric asked for needs. An implied KID that cannot be computed is
    left out here (with a warning), so that the reference pass does not keep features for it.
    Returns the metrics and the reference's size (with its opened sources, passed on to its pass)."""
    if options.ref is None or (metrics == ("is",) and not options.fid_infinity):
        return metrics, None
    _refuse_torch_file(options.ref)
    try:
        size = reference_size(options.ref, options, _needs(metrics, options))
    except InputError as exc:  # say that it is about the reference, not the samples
        raise exc if str(exc).startswith("ref:") else InputError(f"ref: {exc}") from None
    ref = options.ref
    name = os.fsdecode(ref) if isinstance(ref, (str, os.PathLike)) else ", ".join(s.name for s in size.sources or ())
    if size.count is not None:
        metrics = _drop_impossible_kid(metrics, kid_implied, num_images, size.count, options)
    check_reference_size(metrics, size, options, name, num_images)
    return metrics, size


def _refuse_torch_file(ref: Any) -> None:
    if isinstance(ref, str) and ref.lower().endswith((".pt", ".pth")):  # a common mix-up, worth its own words
        raise InputError(
            f"ref: {ref}: a .pt/.pth file (weights, a shard's statistics or a run's state: shards are combined with "
            "`inception-score merge`); a reference is images, or an .npz of statistics (`inception-score stats`)"
        )


def _drop_impossible_kid(
    metrics: tuple[str, ...], implied: bool, num_images: int, ref_count: int, options: Options
) -> tuple[str, ...]:
    """KID that was only implied by --ref is left out, with a warning, when a set is smaller than a subset."""
    if "kid" not in metrics or not implied or options.kid_protocol in KID_SHRINKING:
        return metrics
    size = options.kid_subset_size
    if num_images >= size and ref_count >= size:
        return metrics
    warn(
        f"KID not computed: its subsets hold {size} images from each set, and there are {num_images} samples and "
        f"{ref_count} reference images (set --kid-subset-size, or --metrics to choose)"
    )
    return tuple(m for m in metrics if m != "kid")


def _reference(
    options: Options,
    forward: Extractor | CachedExtractor,
    work: Work,
    workers: int,
    needs: ReferenceNeeds,
    extractor: Extractor,
    saved: tuple[dict[str, Any], dict[str, torch.Tensor]] | None,
    size: ReferenceSize | None = None,
) -> Reference:
    """The reference: from a resumed state file, a statistics file, or a pass over its images (``size``:
    what :func:`_size_up_reference` found, with the image sources it opened); its provenance compared
    with this run's (:func:`.reference.compare_provenance`)."""
    if saved is not None and saved[0].get("reference"):
        return reference_from_tensors(saved[1], saved[0]["reference"])
    reference = load_reference(options, forward, work, workers, needs, extractor, size)
    compare_provenance(reference.info, options.precision)
    return reference


def load_reference(
    options: Options,
    forward: Extractor | CachedExtractor,
    work: Work,
    workers: int,
    needs: ReferenceNeeds,
    extractor: Extractor,
    size: ReferenceSize | None = None,
) -> Reference:
    """The reference from a statistics file (what it lacks computed from its images) or a pass over images."""
    ref = options.ref
    _refuse_torch_file(ref)
    weights = extractor.weights.sha256 if extractor.weights else None
    if options.ref_sha256 is not None:
        _check_pinned(ref, options.ref_sha256)
    if isinstance(ref, str) and ref.lower().endswith(".pkl"):
        return with_divisor(_edm2_reference(ref, needs), options.cov_divisor)
    if isinstance(ref, str) and ref.lower().endswith(".npz") and os.path.isfile(ref):
        stored, images_needed = load_statistics(ref, needs, weights, network_provenance(extractor))
        stored = with_divisor(stored, options.cov_divisor)  # what is computed below already uses the run's divisor
        if not images_needed:
            return stored
        missing = needs.missing_from(stored)
        computed = compute_reference(ref, options, forward, work, workers, missing)
        parts = {k: getattr(stored, k) if getattr(stored, k) is not None else getattr(computed, k)
                 for k in (*MOMENT_KEYS, *FEATURE_KEYS)}  # fmt: skip
        info = {**stored.info, "num_images": computed.info["num_images"], "computed": computed.info["computed"]}
        return Reference(info=info, **parts)
    sources = size.sources if size is not None else None
    return compute_reference(ref, options, forward, work, workers, needs, sources=sources)


def _check_pinned(ref: Any, pin: str) -> None:
    """--ref-sha256: the reference file must have this sha256."""
    if not isinstance(ref, str) or not os.path.isfile(ref):
        raise OptionsError(f"ref_sha256: pins the sha256 of a file, and --ref {ref} is not a file")
    got = file_sha256(ref)
    if got != pin.strip().lower():
        raise InputError(f"ref: {ref} has sha256 {got}, not the pinned {pin} (--ref-sha256); refused")


def _edm2_reference(path: str, needs: ReferenceNeeds) -> Reference:
    """An EDM2 reference pickle (``calculate_metrics.py ref``): its ``fid`` part as mu and sigma, its
    ``fd_dinov2`` part (when present) as the DINOv2 space's mu and sigma."""
    stats = read_edm2_pickle(path)
    dinov2 = stats.get("fd_dinov2")
    parts = {"mu": stats["fid"]["mu"], "sigma": stats["fid"]["sigma"]}
    if dinov2 is not None:
        parts.update(mu_dinov2=dinov2["mu"], sigma_dinov2=dinov2["sigma"])
    info = {"path": path, "kind": EDM2_KIND, "num_images": stats["num_images"], "sha256": file_sha256(path),
            "read": list(parts), "spaces": [k for k in ("fid", "fd_dinov2") if k in stats]}  # fmt: skip
    reference = Reference(**parts, info=info)
    missing = needs.missing_from(reference)
    if missing:
        lacking = [f"{SPACES[s].label} statistics" for s in sorted(missing.moments)]
        lacking += [f"the reference images' {SPACES[s].label} features" for s in sorted(missing.features)]
        raise InputError(
            f"{path}: an EDM2 reference pickle holds mu and sigma ({', '.join(info['spaces'])}) only, not "
            f"{' or '.join(lacking)}, which the metrics asked for need"
        )
    return reference


def network_provenance(extractor: Extractor) -> dict[str, Any]:
    """What a statistics file must share with the run for the spaces of its other networks: their
    weights' sha256 and preprocessing (``dinov2_weights_sha256``, ``dinov2_resize``, ``clip_weights_sha256``)."""
    out: dict[str, Any] = {}
    for net in extractor.networks:
        out[f"{net.field}_weights_sha256"] = net.weights.sha256 if net.weights else None
        if net.field == "dinov2":
            out["dinov2_resize"] = net.cache_tag.removeprefix("resize-") or None
    return out


def _extractor(
    options: Options,
    opened: list[ImageSource],
    network: nn.Module | None,
    work: Work,
    spatial: bool = False,
    fid: bool = False,
    spaces: set[str] | frozenset[str] = frozenset(),
) -> Extractor:
    """The run's networks: Inception (or what stands in for it) always, for IS; DINOv2 and CLIP
    only when a metric in their space is asked for."""
    extractor = _first_network(options, opened, network, work, spatial, fid)
    extractor.networks = [_feature_network(options, work, s) for s in ("dinov2", "clip") if s in spaces]
    return extractor


def _feature_network(options: Options, work: Work, space: str) -> FeatureNetwork:
    """DINOv2 or CLIP on the run's device and precision, with ``--check-precision``'s hook."""
    weights = options.dinov2_weights if space == "dinov2" else options.clip_weights
    extra = {"resize": options.dinov2_resize} if space == "dinov2" else {}
    net = feature_network(space, weights, work.device, options.precision, options.progress, **extra)
    if options.check_precision:
        exact = feature_network(space, weights, work.device, "exact", False, **extra)
        net.check = FeatureCheck(options.check_precision, exact.forward, space, net.dim)
    return net


def _first_network(
    options: Options,
    opened: list[ImageSource],
    network: nn.Module | None,
    work: Work,
    spatial: bool = False,
    fid: bool = False,
) -> Extractor:
    device = work.device
    if options.classifier:
        model = load_model(options.classifier, "classifier")
        probe = next(iter(opened[0].batches(1, 0, 0, 1))).images
        size, mean, std = options.classifier_size, options.classifier_mean, options.classifier_std
        extractor = classifier_extractor(model, device, size, mean, std, probe, options.classifier)
        warn(NOT_COMPARABLE.format(spec=options.classifier))
        return extractor
    if network is not None:
        return custom_extractor(network, device)
    fields = ("logits_unbiased", "logits", "pool3", *(("spatial",) if spatial else ()))
    extractor = inception_extractor(
        options.weights,
        device,
        options.precision,
        fields,
        options.compile,
        work.batch_size,
        options.progress,
        resize=options.resize,
    )
    if options.check_precision:
        exact_fields = ("logits_unbiased", "pool3") if fid else ("logits_unbiased",)
        exact = inception_extractor(options.weights, device, "exact", exact_fields, progress=False,
                                    resize=options.resize)  # fmt: skip
        extractor.check = PrecisionCheck(options.check_precision, exact.forward, extractor.num_classes, fid=fid)
    return extractor


def _provenance(
    options: Options,
    spec: MetricSpec,
    extractor: Extractor,
    batch_size: int,
    reference: Reference | None,
    opened: Sequence[ImageSource],
    stored: Reference | None = None,
) -> dict[str, Any]:
    """What a stats or state file must share with another to be merged or resumed."""
    return {
        "sample_statistics": dict(stored.info) if stored is not None else None,
        # the images: names and sizes (portable across machines), and for --state modification times too;
        # only for runs that write a file (a stat of every file: not free on a network file system)
        "inputs": fingerprint(opened) if options.save_stats or options.state else None,
        "inputs_exact": fingerprint(opened, exact=True) if options.state else None,
        "package_version": __version__,
        "weights_sha256": extractor.weights.sha256 if extractor.weights else "custom network",
        "networks": network_provenance(extractor) or None,  # DINOv2's and CLIP's weights and resize
        "spec": spec.to_dict(),
        "precision": options.precision if extractor.named else "custom network",
        "reference": dict(reference.info) if reference is not None else None,
        "match": match_record(options),  # for the merged result; the settings themselves are in spec
        "batch_size": batch_size,  # recorded, not enforced: another batch size moves results by ~1e-7
    }


def _cache_precision(extractor: Extractor) -> str:
    """The precision part of a --cache key: fast in float32 (no bf16 units) gives other outputs
    than fast in bf16, so it has its own entries ("fast" stays bf16's, as before)."""
    if extractor.fast_dtype is None:
        return "exact"
    return "fast" if extractor.fast_dtype == "bfloat16" else f"fast-{extractor.fast_dtype}"


def _state_path(path: str | None, work: Work) -> str | None:
    """Each torchrun rank keeps its own state file (PATH.rankR)."""
    if path is None or work.world is None:
        return path
    return f"{path}.rank{work.world.rank}"


def _saved_state(path: str | None) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """(provenance, tensors) of a --state file of an earlier run, if there is one."""
    if path is None or not os.path.exists(path):
        return None
    return load_stats(path)


def load_states(accumulators: list[Accumulator], saved: dict[str, torch.Tensor], add: bool = False) -> None:
    """Set (or add) each accumulator's state from a statistics file's tensors (``"<name>.<state>"``)."""
    for accumulator in accumulators:
        prefix = accumulator.name + "."
        accumulator.load_state_dict({k[len(prefix) :]: v for k, v in saved.items() if k.startswith(prefix)}, add=add)


def _resume(
    path: str | None,
    saved: tuple[dict[str, Any], dict[str, torch.Tensor]],
    accumulators: list[Accumulator],
    provenance: dict[str, Any],
    mine: tuple[int, int],
) -> int:
    """Continue from a --state file of the same command; return the next image index."""
    recorded, tensors = saved
    hint = "resume with the same command, or remove the file to start over"
    if "next" not in recorded:  # a --save-stats file (or a merged shard) holds no position to resume from
        raise InputError(f"{path}: a --save-stats file, not a --state file; give --state a path of its own")
    check_agreement(provenance, recorded, "this command", str(path), hint=hint)
    if recorded.get("inputs_exact") != provenance["inputs_exact"]:
        raise InputError(
            f"{path}: was saved by a run over other images, or the same files changed since (a file rewritten in "
            f"place); {hint}"
        )
    if (recorded.get("start"), recorded.get("stop")) != mine:
        covers = f"{recorded.get('start')}..{recorded.get('stop') - 1}"
        raise InputError(f"{path}: covers images {covers}, this command {mine[0]}..{mine[1] - 1}; {hint}")
    try:
        load_states(accumulators, {k: v for k, v in tensors.items() if not k.startswith("reference.")})
    except ShapeMismatch as exc:
        raise InputError(f"{path}: {exc}; {hint}") from None
    warn(f"resuming from {path}: {plural(recorded['next'] - mine[0], 'image')} already scored")
    return int(recorded["next"])


def statistics(
    sources: Any,
    output: str,
    options: Options,
    features: bool = False,
    spatial: bool = False,
    metrics: Sequence[str] | str | None = None,
) -> dict[str, Any]:
    """``inception-score stats``: the reference statistics of ``sources`` written to ``output``.

    ``mu``/``sigma`` of pool3 (pytorch-fid's keys and conventions: float64, covariance divisor
    N - 1, so pytorch-fid reads the file; the ADM evaluator needs ``arr_0`` and does not),
    ``mu_s``/``sigma_s`` of the spatial
    features with ``spatial`` (sFID), the pool3 rows with ``features`` (KID, precision/recall:
    8 KB per image), and the provenance (the weights' sha256, N, the package version, the
    precision, the sources). ``metrics`` (default ``fid``) chooses the feature spaces: with
    ``fd_dinov2`` (or any ``*_dinov2`` metric) also ``mu_dinov2``/``sigma_dinov2`` and with
    ``features`` ``features_dinov2`` (float32 N x 1024); likewise ``*_clip`` and ``cmmd`` for
    ``mu_clip``/``sigma_clip``/``features_clip`` (CMMD reads the embeddings, so ``cmmd`` writes
    them with or without ``features``); pool3's parts only when a pool3 metric is asked for.
    Each network runs only on the spaces asked for, on one decode of each batch. Returns the
    provenance. The output path is checked before any work.
    """
    from .outputs import check_output_file
    from .reference import REFERENCE_FORMAT, compute_reference, save_reference

    shown = os.fsdecode(output)
    if not shown.lower().endswith(".npz"):  # what --ref and pytorch-fid read
        raise OptionsError(f"stats -o: {shown}: expected a file name ending in .npz (what --ref reads)")
    wanted = _stats_metrics(metrics, spatial)
    with recording():
        check_network_options(options, wanted)
        device = resolve_device(options.device)
        opened = open_sources(sources, options.recursive, options.num_samples, options.image_range,
                              _module_options(options))  # fmt: skip

        def ours(path: Path) -> bool:
            try:
                import numpy as np

                with np.load(path, allow_pickle=False) as npz:
                    return REFERENCE_FORMAT in str(npz["inception_score"])
            except Exception:  # anything else is not a file of ours
                return False

        check_output_file(output, "stats -o", input_paths(opened, options), ours)
        work = assign_work(opened, device, options.device, options.batch_size, options.precision, None)
        extractor = _extractor(options, opened, None, work, spatial=spatial, spaces=spaces_of(wanted))
        forward: Extractor | CachedExtractor = extractor
        if options.cache:
            weights = require_inception(extractor, "cache")
            forward = CachedExtractor(
                extractor, OutputCache(options.cache, weights.sha256, _cache_tag(options, extractor))
            )
        workers = options.num_workers if options.num_workers is not None else default_workers(work.device)
        vector_spaces = spaces_of(wanted) - {"spatial"}
        needs = ReferenceNeeds(
            moments=frozenset(vector_spaces | ({"spatial"} if spatial else set())),
            features=frozenset(vector_spaces if features else ({"clip"} if "cmmd" in wanted else set())),
        )
        reference = compute_reference(opened, options, forward, work, workers, needs)
        weights = extractor.weights
        provenance = {
            "weights_sha256": weights.sha256 if weights else None,
            **network_provenance(extractor),
            "num_images": reference.info["num_images"],
            "precision": options.precision,
            "preprocess_version": PREPROCESS_VERSION,  # the resize and the network's input (features/cache.py)
            "sources": [s.name for s in opened],
            "metrics": list(wanted),
            "with_features": features,
            "spatial": spatial,
            "resize": options.resize,
        }
        if work.is_main:
            save_reference(output, reference, provenance)
    return provenance


def _stats_metrics(metrics: Sequence[str] | str | None, spatial: bool) -> tuple[str, ...]:
    """The metrics a statistics file is for (default: FID, and sFID with ``spatial``)."""
    if metrics is None:
        names: tuple[str, ...] = ("fid",)
    else:
        names = tuple(m.strip().lower() for m in metrics.split(",")) if isinstance(metrics, str) else tuple(metrics)
    for name in names:
        check_choice(name, "metrics", tuple(METRICS))
    names = tuple(dict.fromkeys(m for m in names if m != "is"))
    if not names:
        raise OptionsError(f"metrics: got nothing to write statistics for, expected some of {', '.join(METRICS)}")
    return (*names, *(("sfid",) if spatial and "sfid" not in names else ()))
