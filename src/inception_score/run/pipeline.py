"""Sources -> device -> features -> accumulators -> a Measurement. No printing of results.

The pipeline decides nothing about the mathematics (that is :mod:`inception_score.metrics`) nor
about the images (that is :mod:`inception_score.inputs`) nor the network (that is
:mod:`inception_score.features`): it opens the sources, decides which images this process scores
(:mod:`.plan`), moves batches of uint8 images through the extractor, and hands each batch's
outputs to every accumulator the run asked for, knowing none of them by name. Then it adds the
accumulators of all ranks, saves what was asked, and returns a
:class:`~inception_score.run.measurement.Measurement`. Memory does not grow with N beyond what
the accumulators keep per image.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._version import __version__
from ..errors import InputError, OptionsError, plural, recording, warn
from ..features.cache import CachedExtractor, OutputCache
from ..features.classifier import NOT_COMPARABLE
from ..features.extractor import (
    Extractor,
    NonFiniteOutput,
    classifier_extractor,
    custom_extractor,
    inception_extractor,
    require_inception,
)
from ..inputs.base import ImageSource
from ..inputs.folders import FolderSource
from ..inputs.generators import generator_source
from ..inputs.models import load_model
from ..inputs.sources import open_sources
from ..metrics.base import Accumulator, ShapeMismatch
from ..metrics.protocols import SplitPlan
from ..metrics.registry import MetricSpec, build_accumulators
from ..options import Options
from .checkpoint import check_agreement, load_stats, save_stats
from .distributed import all_reduce
from .measurement import Measurement
from .outputs import check_output_dir, check_output_file
from .plan import (
    MAX_WORKERS,
    Work,
    assign_work,
    available_cpus,
    default_workers,
    iterate_batches,
    locate,
    resolve_device,
)
from .precision_check import PrecisionCheck

__all__ = ["run", "open_inputs"]


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
    """The opened sources (plus ``--generator``'s samples) and the files skipped by ``--on-error skip``."""
    if options.generator:
        loaded = load_model(options.generator, "generator")
        extra: dict[str, Any] = {"image_range": options.image_range} if options.image_range else {}
        if isinstance(loaded, nn.Module):
            extra.update({"latents": options.latents, "seed": options.seed})
            extra.update({"z_dim": options.z_dim} if options.z_dim else {})
        sources = [*(sources or []), generator_source(loaded, options.num_samples or 0, **extra)]
    opened = open_sources(sources, options.recursive, options.num_samples, options.image_range)
    check_outputs(options, opened)
    return opened, _screen_files(opened, options, resolve_device(options.device))


def input_paths(opened: Sequence[ImageSource], options: Options) -> list[str]:
    """Every file and folder the run reads: the sources, their files, the weights, the models."""
    paths: list[str] = []
    for source in opened:
        paths += [
            p for p in (getattr(source, "path", None), source.name.lstrip("@")) if isinstance(p, (str, os.PathLike))
        ]
        paths += list(getattr(source, "paths", ()))
    for spec in (options.weights, options.generator, options.classifier):
        if spec and os.path.exists(spec):
            paths.append(spec)
    return [os.fspath(p) for p in paths if os.path.exists(p)]


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
    for option in ("report", "cache"):
        if getattr(options, option):
            check_output_dir(getattr(options, option), option, inputs)


def _run(sources: Any, options: Options, network: nn.Module | None, start: float) -> Measurement:
    device = resolve_device(options.device)
    if network is not None and options.cache:
        raise OptionsError("cache: only for the Inception network (a custom network has no weights hash to key on)")
    opened, skipped = open_inputs(sources, options)
    num_images = sum(len(s) for s in opened)
    SplitPlan(options.protocol, num_images, options.splits)  # refuse impossible splits before any work
    work = assign_work(opened, device, options.device, options.batch_size, options.precision, options.shard)
    extractor = _extractor(options, opened, network, work)
    spec = MetricSpec(
        protocol=options.protocol,
        splits=options.splits,
        num_images=num_images,
        num_classes=extractor.num_classes,
        named=extractor.named,
        bootstrap=options.bootstrap,
        seed=options.seed,
        gallery=options.report is not None,
    )
    accumulators = build_accumulators(spec, work.device)
    provenance = _provenance(options, spec, extractor, work.batch_size)
    forward: Extractor | CachedExtractor = extractor
    if options.cache:
        weights = require_inception(extractor, "cache")
        forward = CachedExtractor(extractor, OutputCache(options.cache, weights.sha256, options.precision))
    state_path = _state_path(options.state, work)
    position = _resume(state_path, accumulators, provenance, work.mine) if state_path else work.mine[0]

    _loop(opened, forward, accumulators, work, options, position, state_path, provenance)

    if work.world is not None:
        all_reduce([t for a in accumulators for t in a.state().values()], work.device)
    if options.save_stats and work.is_main:
        save_stats(
            options.save_stats, {**provenance, "start": work.shard[0], "stop": work.shard[1]}, _states(accumulators)
        )
    elapsed = time.perf_counter() - start
    weights = extractor.weights
    facts: dict[str, Any] = {
        "num_images": num_images,
        "splits": spec.plan().num_splits,
        "protocol": options.protocol,
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
        "cache_hits": forward.hits if isinstance(forward, CachedExtractor) else None,
        "cache_misses": forward.misses if isinstance(forward, CachedExtractor) else None,
        "elapsed_s": elapsed,
        "images_per_second": (work.mine[1] - work.mine[0]) / elapsed if elapsed > 0 else 0.0,
    }
    shard = None
    if options.shard:
        i, k = options.shard
        shard = {"shard": f"{i}/{k}", "start": work.shard[0], "stop": work.shard[1], "stats_file": options.save_stats}
    return Measurement(accumulators, spec, facts, sources=opened, shard=shard, is_main=work.is_main)


def _loop(
    opened: Sequence[ImageSource],
    forward: Extractor | CachedExtractor,
    accumulators: list[Accumulator],
    work: Work,
    options: Options,
    position: int,
    state_path: str | None,
    provenance: dict[str, Any],
) -> None:
    """The per-batch loop: images -> outputs -> every accumulator; progress and periodic state saves."""
    from tqdm import tqdm

    lo, hi = work.mine
    workers = options.num_workers if options.num_workers is not None else default_workers(work.device)
    pin = work.device.type == "cuda"
    bar = tqdm(total=hi - lo, initial=position - lo, unit="img", file=sys.stderr, dynamic_ncols=True,
               disable=not (options.progress and work.is_main))  # fmt: skip
    last_save = time.monotonic()
    with bar, torch.inference_mode():
        for batch in iterate_batches(opened, work.batch_size, workers, position, hi, pin):
            outputs = _outputs(forward, batch.images, batch.indices, opened)
            for accumulator in accumulators:
                accumulator.update(outputs, batch.indices)
            position = int(batch.indices[-1]) + 1
            bar.update(len(batch.indices))
            if state_path and time.monotonic() - last_save >= options.state_interval:
                save_stats(state_path, {**provenance, "start": lo, "stop": hi, "next": position}, _states(accumulators))
                last_save = time.monotonic()
    if position != hi:
        raise InputError(f"expected images {lo}..{hi - 1} from the sources, read up to {position - 1}")
    if state_path:
        save_stats(state_path, {**provenance, "start": lo, "stop": hi, "next": position}, _states(accumulators))


def _outputs(forward: Extractor | CachedExtractor, images: Any, indices: Any, opened: Sequence[ImageSource]) -> Any:
    """The batch's outputs; a NaN or inf output is refused, naming the image and the network."""
    try:
        return forward(images)
    except NonFiniteOutput as exc:
        index = int(indices[exc.row])
        source, local = locate(opened, index)
        network = forward.extractor.description if isinstance(forward, CachedExtractor) else forward.description
        raise InputError(
            f"{source.label(local)}: {network} gave NaN or inf ({exc.field}) for this image (image {index}); "
            f"no score can include it (with --precision fast, try exact)"
        ) from None


def _states(accumulators: list[Accumulator]) -> dict[str, torch.Tensor]:
    return {f"{a.name}.{k}": v for a in accumulators for k, v in a.state_dict().items()}


def _load_states(accumulators: list[Accumulator], saved: dict[str, torch.Tensor], add: bool = False) -> None:
    for accumulator in accumulators:
        prefix = accumulator.name + "."
        accumulator.load_state_dict({k[len(prefix) :]: v for k, v in saved.items() if k.startswith(prefix)}, add=add)


def _screen_files(opened: list[ImageSource], options: Options, device: torch.device) -> list[tuple[str, str]]:
    """fail: refuse the first file that cannot be an image by its metadata or header, before any
    work (truncated pixel data is found only when decoding: it then stops the run with the file's
    name). skip: decode every file once and drop the bad ones, so that N and the splits are known
    before scoring."""
    folders = [s for s in opened if isinstance(s, FolderSource)]
    # header checks are cheap: in worker processes only where decoding gets workers anyway
    workers = options.num_workers if options.num_workers is not None else min(MAX_WORKERS, available_cpus())
    if options.on_error == "fail":
        for folder in folders:
            problem = folder.first_problem(workers if device.type != "cpu" else 0)
            if problem:
                raise InputError(problem)
        return []
    skipped: list[tuple[str, str]] = []
    for folder in folders:
        total = len(folder)
        dropped = folder.drop_unreadable(workers)
        for path, reason in dropped:
            warn(f"skipped {path}: {reason}")
        if not len(folder):
            raise InputError(f"{folder.name}: none of its {total} image files could be read (first: {dropped[0][1]})")
        skipped += dropped
    if skipped:
        warn(
            f"skipped {len(skipped)} unreadable files; the score is over the {sum(len(s) for s in opened)} "
            f"images that could be read"
        )
    return skipped


def _extractor(options: Options, opened: list[ImageSource], network: nn.Module | None, work: Work) -> Extractor:
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
    fields = ("logits_unbiased", "logits", "pool3")
    extractor = inception_extractor(
        options.weights, device, options.precision, fields, options.compile, work.batch_size, options.progress
    )
    if options.check_precision:
        exact = inception_extractor(options.weights, device, "exact", ("logits_unbiased",), progress=False)
        extractor.check = PrecisionCheck(options.check_precision, exact.forward, extractor.num_classes)
    return extractor


def _provenance(options: Options, spec: MetricSpec, extractor: Extractor, batch_size: int) -> dict[str, Any]:
    """What a stats or state file must share with another to be merged or resumed."""
    return {
        "package_version": __version__,
        "weights_sha256": extractor.weights.sha256 if extractor.weights else "custom network",
        "spec": spec.to_dict(),
        "precision": options.precision if extractor.named else "custom network",
        "batch_size": batch_size,  # recorded, not enforced: another batch size moves results by ~1e-7
    }


def _state_path(path: str | None, work: Work) -> str | None:
    """Each torchrun rank keeps its own state file (PATH.rankR)."""
    if path is None or work.world is None:
        return path
    return f"{path}.rank{work.world.rank}"


def _resume(path: str, accumulators: list[Accumulator], provenance: dict[str, Any], mine: tuple[int, int]) -> int:
    """Load a --state file of the same command, if there is one; return the next image index."""
    if not os.path.exists(path):
        return mine[0]
    saved, tensors = load_stats(path)
    hint = "resume with the same command, or remove the file to start over"
    check_agreement(provenance, saved, "this command", path, hint=hint)
    if (saved.get("start"), saved.get("stop")) != mine:
        covers = f"{saved.get('start')}..{saved.get('stop')}"
        raise InputError(f"{path}: covers images {covers}, this command {mine[0]}..{mine[1]}; {hint}")
    try:
        _load_states(accumulators, tensors)
    except ShapeMismatch as exc:
        raise InputError(f"{path}: {exc}; {hint}") from None
    warn(f"resuming from {path}: {plural(saved['next'] - mine[0], 'image')} already scored")
    return int(saved["next"])
