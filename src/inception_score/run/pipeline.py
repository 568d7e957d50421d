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

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._version import __version__
from ..errors import InputError, OptionsError, plural, recording, warn
from ..features.cache import PREPROCESS_VERSION, CachedExtractor, OutputCache
from ..features.classifier import NOT_COMPARABLE
from ..features.extractor import (
    Extractor,
    classifier_extractor,
    custom_extractor,
    inception_extractor,
    require_inception,
)
from ..inputs.arrays import ArraySource
from ..inputs.base import ImageSource, fingerprint
from ..inputs.generators import GeneratorSource, ModuleGenerator, generator_source
from ..inputs.models import load_model
from ..inputs.sources import open_sources
from ..metrics.base import Accumulator, ShapeMismatch
from ..metrics.protocols import SplitPlan
from ..metrics.reference import Reference
from ..metrics.registry import MetricSpec, build_accumulators
from ..options import Options
from .checkpoint import check_agreement, load_stats, save_stats
from .distributed import all_reduce
from .loop import Span, feed, states_of
from .measurement import Measurement
from .outputs import check_output_dir, check_output_file, check_report_dir, same_path
from .plan import Work, assign_work, default_workers, resolve_device, sums_device
from .precision_check import PrecisionCheck
from .reference import (
    ReferenceNeeds,
    ReferenceSize,
    check_reference_size,
    compare_provenance,
    compute_reference,
    load_sample_statistics,
    load_statistics,
    reference_from_tensors,
    reference_size,
    reference_tensors,
    statistics_kind,
)
from .screening import screen_files

__all__ = ["run", "open_inputs", "resolve_metrics"]


def run(sources: Any, options: Options | None = None, network: nn.Module | None = None) -> Measurement:
    """Score one or several sources (paths, arrays, tensors or :class:`ImageSource`) with ``options``.

    ``network``: a module taking the preprocessed N x 3 x 299 x 299 batch and returning
    :class:`~inception_score.features.network.InceptionOutput` or N x C logits; default: the 2015
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
    if options.image_range is not None and not any(isinstance(s, (ArraySource, GeneratorSource)) for s in opened):
        raise OptionsError(
            f"image_range: got {options.image_range}, but it is the range of float images (arrays, tensors, "
            "generators); image files and .npz batches are 8-bit"
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
    if isinstance(ref, str) and ref.lower().endswith(".npz") and os.path.isfile(ref) and not only_is:
        try:
            kind = statistics_kind(ref)
        except InputError as exc:
            raise InputError(f"ref: {exc}") from None
        has_features = "ADM" in kind or _has_key(ref, "features")
    if options.metrics:
        wanting = [m for m in options.metrics if m in ("kid", "pr", "prdc")]
        if wanting and not has_features:  # before any other check: no other setting can make them possible
            raise InputError(
                f"ref: {ref}: {kind} without the reference images' features, which {' and '.join(wanting)} "
                f"need{'s' if len(wanting) == 1 else ''}; give the reference images, or a file of "
                "`inception-score stats --with-features`"
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


def _run(sources: Any, options: Options, network: nn.Module | None, start: float) -> Measurement:
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
    extractor = _extractor(options, opened, network, work, spatial="sfid" in metrics, fid="fid" in metrics)
    _check_fields(extractor, metrics, options)
    forward: Extractor | CachedExtractor = extractor
    if options.cache:
        weights = require_inception(extractor, "cache")
        forward = CachedExtractor(extractor, OutputCache(options.cache, weights.sha256, options.precision))
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
        except InputError as exc:  # say that it is about the reference, not the samples
            raise exc if str(exc).startswith("ref:") else InputError(f"ref: {exc}") from None
        ref_count = len(reference.features) if reference.features is not None else 0  # less any skipped files
        metrics = _drop_impossible_kid(metrics, kid_implied, num_images, ref_count, options)
        if isinstance(extractor.check, PrecisionCheck):
            extractor.check.reference = reference  # --check-precision also reports FID's deviation
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
        prdc_k=options.prdc_k,
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
        "weights_sha256": weights.sha256 if weights else None,
        "weights_path": str(weights.path) if weights else None,
        "weights_source": weights.source if weights else f"custom classifier {options.classifier or ''}".rstrip(),
        "precision": options.precision if weights else "custom network",
        "precision_check": extractor.check.fields() if isinstance(extractor.check, PrecisionCheck) else None,
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
    }


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
    return load_sample_statistics(path, ReferenceNeeds(moments="fid" in metrics, spatial="sfid" in metrics))


def _needs(metrics: Sequence[str], options: Options) -> ReferenceNeeds:
    return ReferenceNeeds(
        moments="fid" in metrics or options.fid_infinity,
        spatial="sfid" in metrics,
        features=any(m in metrics for m in ("kid", "pr", "prdc")),
    )


def _check_fields(extractor: Extractor, metrics: Sequence[str], options: Options) -> None:
    """A custom network or classifier gives logits only: refuse the metrics that need features."""
    wanted = {"fid": "pool3", "kid": "pool3", "pr": "pool3", "prdc": "pool3", "sfid": "spatial"}
    for metric in [*metrics, *(["fid"] if options.fid_infinity else [])]:
        field = wanted.get(metric)
        if field and field not in extractor.fields:
            raise OptionsError(
                f"metrics: {metric} needs the network's {field} features, and {extractor.description} gives "
                f"{', '.join(extractor.fields)}; compare with the Inception network"
            )


def _check_counts(metrics: Sequence[str], kid_implied: bool, num_images: int, options: Options) -> None:
    """Refuse, before any work, sample sets too small for a metric asked for."""
    least = {"fid": 2, "sfid": 2, "pr": 4, "prdc": options.prdc_k + 1}
    if "kid" in metrics and not kid_implied:
        least["kid"] = options.kid_subset_size
    for metric in [*metrics, *(["fid"] if options.fid_infinity else [])]:
        if num_images < least.get(metric, 0):
            hint = " (set --kid-subset-size)" if metric == "kid" else ""
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
    if "kid" not in metrics or not implied:
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
    reference = _load_reference(options, forward, work, workers, needs, extractor, size)
    compare_provenance(reference.info, options.precision)
    return reference


def _load_reference(
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
    if isinstance(ref, str) and ref.lower().endswith(".npz") and os.path.isfile(ref):
        stored, images_needed = load_statistics(ref, needs, weights)
        if not images_needed:
            return stored
        missing = ReferenceNeeds(
            moments=needs.moments and stored.mu is None,
            spatial=needs.spatial and stored.mu_s is None,
            features=needs.features and stored.features is None,
        )
        computed = compute_reference(ref, options, forward, work, workers, missing)
        parts = {k: getattr(stored, k) if getattr(stored, k) is not None else getattr(computed, k) for k in
                 ("mu", "sigma", "mu_s", "sigma_s", "features")}  # fmt: skip
        info = {**stored.info, "num_images": computed.info["num_images"], "computed": computed.info["computed"]}
        return Reference(info=info, **parts)
    sources = size.sources if size is not None else None
    return compute_reference(ref, options, forward, work, workers, needs, sources=sources)


def _extractor(
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
        options.weights, device, options.precision, fields, options.compile, work.batch_size, options.progress
    )
    if options.check_precision:
        exact_fields = ("logits_unbiased", "pool3") if fid else ("logits_unbiased",)
        exact = inception_extractor(options.weights, device, "exact", exact_fields, progress=False)
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
        "spec": spec.to_dict(),
        "precision": options.precision if extractor.named else "custom network",
        "reference": dict(reference.info) if reference is not None else None,
        "batch_size": batch_size,  # recorded, not enforced: another batch size moves results by ~1e-7
    }


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
    sources: Any, output: str, options: Options, features: bool = False, spatial: bool = False
) -> dict[str, Any]:
    """``inception-score stats``: the reference statistics of ``sources`` written to ``output``.

    ``mu``/``sigma`` of pool3 (pytorch-fid's keys and conventions: float64, covariance divisor
    N - 1, so pytorch-fid reads the file; the ADM evaluator needs ``arr_0`` and does not),
    ``mu_s``/``sigma_s`` of the spatial
    features with ``spatial`` (sFID), the pool3 rows with ``features`` (KID, precision/recall:
    8 KB per image), and the provenance (the weights' sha256, N, the package version, the
    precision, the sources). Returns the provenance. The output path is checked before any work.
    """
    from .outputs import check_output_file
    from .reference import REFERENCE_FORMAT, compute_reference, save_reference

    shown = os.fsdecode(output)
    if not shown.lower().endswith(".npz"):  # what --ref and pytorch-fid read
        raise OptionsError(f"stats -o: {shown}: expected a file name ending in .npz (what --ref reads)")
    with recording():
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
        extractor = _extractor(options, opened, None, work, spatial=spatial)
        forward: Extractor | CachedExtractor = extractor
        if options.cache:
            weights = require_inception(extractor, "cache")
            forward = CachedExtractor(extractor, OutputCache(options.cache, weights.sha256, options.precision))
        workers = options.num_workers if options.num_workers is not None else default_workers(work.device)
        needs = ReferenceNeeds(moments=True, spatial=spatial, features=features)
        reference = compute_reference(opened, options, forward, work, workers, needs)
        weights = extractor.weights
        provenance = {
            "weights_sha256": weights.sha256 if weights else None,
            "num_images": reference.info["num_images"],
            "precision": options.precision,
            "preprocess_version": PREPROCESS_VERSION,  # the resize and the network's input (features/cache.py)
            "sources": [s.name for s in opened],
            "with_features": features,
            "spatial": spatial,
        }
        if work.is_main:
            save_reference(output, reference, provenance)
    return provenance
