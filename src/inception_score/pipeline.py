"""Sources -> device -> preprocess -> network -> accumulator -> Result. No printing of results.

The pipeline decides nothing about the mathematics (that is :mod:`inception_score.score`) nor
about the images (that is :mod:`inception_score.inputs`): it moves batches of uint8 images to
the device, resizes them there, runs the network, and adds the logits to the split statistics
of the images they came from. Memory does not grow with the number of images.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._version import __version__
from .cache import OutputCache
from .classifier import NOT_COMPARABLE, classifier_input, parse_triple
from .diagnostics import class_names
from .distributed import World, agree_min, all_reduce, block, join_world, parse_shard
from .duplicates import FeatureStats, collapse_warning
from .errors import DeviceError, InputError, OptionsError
from .gallery import Gallery
from .inputs import Batch, FolderSource, InceptionScoreWarning, Source, open_sources
from .network import FEATURE_DIM, INPUT_SIZE, NUM_CLASSES, InceptionOutput, InceptionV3
from .options import Options
from .preprocess import preprocess
from .protocols import SplitPlan
from .report import Result, ShardSummary
from .runtime import Runner
from .score import ISAccumulator
from .state import ScoreState
from .stats_file import check_agreement, check_ranges, load_stats, save_stats
from .weights import ResolvedWeights, load_state_dict, locate_weights

__all__ = [
    "resolve_device",
    "load_network",
    "auto_batch_size",
    "iterate_batches",
    "score_sources",
    "merge_stats",
    "release_network",
]


def resolve_device(name: str) -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> torch.device, refusing devices that are not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device: got {name!r}, but no CUDA GPU is available here; use --device cpu")
        index = int(name[5:]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"device: got {name!r}, but only {torch.cuda.device_count()} CUDA device(s) exist "
                f"(cuda:0..cuda:{torch.cuda.device_count() - 1})"
            )
    return torch.device(name)


def load_network(
    weights: str | os.PathLike[str] | None, device: torch.device, progress: bool = True
) -> tuple[InceptionV3, ResolvedWeights]:
    """Find, verify and load the 2015 Inception weights into a network in eval mode on ``device``."""
    resolved = locate_weights(weights, progress=progress)
    net = InceptionV3()
    net.load_checkpoint(load_state_dict(resolved.path), origin=str(resolved.path))
    return net.eval().requires_grad_(False).to(device), resolved


def _runner(options: Options, device: torch.device, batch_size: int) -> tuple[ResolvedWeights, Runner]:
    """The network for ``options``, kept from the previous call when it asked for the same one.

    A training loop that scores every few thousand steps would otherwise load 95 MB, fold batch
    norm and (with ``compile``) recompile at every call; one runner is kept, so the memory held
    between calls is one network's.
    """
    resolved = locate_weights(options.weights, progress=options.progress)
    key = (resolved.sha256, str(device), options.precision, options.compile, batch_size if options.compile else None)
    if _KEPT_RUNNER.get(key) is None:
        _KEPT_RUNNER.clear()
        net, _ = load_network(resolved.path, device, progress=options.progress)
        _KEPT_RUNNER[key] = Runner(net, device, options.precision, compile=options.compile, batch_size=batch_size)
    return resolved, _KEPT_RUNNER[key]


_KEPT_RUNNER: dict[tuple[Any, ...], Runner] = {}


def release_network() -> None:
    """Drop the network that :func:`compute` keeps between calls (its host or GPU memory is
    freed once nothing else refers to it; on GPU, ``torch.cuda.empty_cache()`` then returns it
    to the driver). The next call loads the weights again.

    Example:
        >>> import inception_score
        >>> inception_score.release_network()
    """
    _KEPT_RUNNER.clear()


def auto_batch_size(device: torch.device, precision: str) -> int:
    """64 on CPU (larger batches are no faster there); on CUDA, what free memory allows, <= 500."""
    if device.type != "cuda":
        return 64
    free, _ = torch.cuda.mem_get_info(device)
    per_image = (24 if precision == "fast" else 48) * 2**20  # peak activations at 299x299, with margin
    return int(max(16, min(500, free // per_image)))


def iterate_batches(
    sources: list[Source],
    batch_size: int,
    num_workers: int = 0,
    start: int = 0,
    stop: int | None = None,
    pin_memory: bool = False,
) -> Iterator[Batch]:
    """Images ``start .. stop - 1`` of all sources as one stream, with global indexes (0..N-1).

    ``pin_memory``: page-locked host buffers, so the copy to the GPU can overlap compute.
    """
    total = sum(len(s) for s in sources)
    stop = total if stop is None else stop
    offset = 0
    for source in sources:
        lo, hi = max(start - offset, 0), min(stop - offset, len(source))
        if lo < hi:
            for batch in source.batches(batch_size, num_workers, lo, hi):
                images = batch.images
                if pin_memory:
                    images = images.pin_memory() if isinstance(images, Tensor) else [i.pin_memory() for i in images]
                yield Batch(batch.indices + offset, images)
        offset += len(source)


class _Forward:
    """Preprocessed batch -> logits, splitting the batch in halves when the GPU runs out of memory."""

    def __init__(self, network: Callable[[Tensor], Any]) -> None:
        self.network = network
        self.max_batch: int | None = None

    def __call__(self, images: Tensor) -> Tensor:
        limit = self.max_batch or len(images)
        try:
            return torch.cat([self._once(images[i : i + limit]) for i in range(0, len(images), limit)])
        except torch.cuda.OutOfMemoryError:
            if limit <= 1:
                raise
            self.max_batch = max(1, limit // 2)
            torch.cuda.empty_cache()
            warnings.warn(
                f"GPU out of memory at {limit} images per forward pass; continuing with {self.max_batch} "
                f"(the score does not depend on it; set --batch-size to silence this)",
                InceptionScoreWarning,
                stacklevel=2,
            )
            return self(images)

    def _once(self, images: Tensor) -> Tensor:
        out = self.network(images)
        return out.logits_unbiased if isinstance(out, InceptionOutput) else out


def _screen_files(opened: list[Source], options: Options, device: torch.device) -> list[tuple[str, str]]:
    """fail: refuse the first file that cannot be an image by its metadata or header, before any
    work (truncated pixel data is found only when decoding: it then stops the run with the file's
    name). skip: decode every file once and drop the bad ones, so that N and the splits are known
    before scoring."""
    folders = [s for s in opened if isinstance(s, FolderSource)]
    workers = options.num_workers if options.num_workers is not None else min(16, len(os.sched_getaffinity(0)))
    if options.on_error == "fail":
        for folder in folders:
            problem = folder.first_problem(workers if device.type == "cuda" else 0)
            if problem:
                raise InputError(problem)
        return []
    skipped: list[tuple[str, str]] = []
    for folder in folders:
        total = len(folder)
        dropped = folder.drop_unreadable(workers)
        for path, reason in dropped:
            warnings.warn(f"skipped {path}: {reason}", InceptionScoreWarning, stacklevel=3)
        if not len(folder):
            raise InputError(f"{folder.name}: none of its {total} image files could be read (first: {dropped[0][1]})")
        skipped += dropped
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable files; the score is over the {sum(len(s) for s in opened)} "
            f"images that could be read",
            InceptionScoreWarning,
            stacklevel=3,
        )
    return skipped


def score_sources(
    sources: Any,
    options: Options | None = None,
    network: nn.Module | None = None,
) -> Result | ShardSummary:
    """Score one or several sources (paths, arrays, tensors or :class:`Source`) with ``options``.

    ``network``: a module taking the preprocessed N x 3 x 299 x 299 batch and returning
    :class:`InceptionOutput` or N x C logits; default: the 2015 Inception graph with the weights
    that ``options.weights`` resolves to.
    """
    options = options or Options()
    start = time.perf_counter()
    device = resolve_device(options.device)
    with _recording_warnings() as warned:
        return _score(sources, options, network, device, start, warned)


@contextlib.contextmanager
def _recording_warnings() -> Iterator[list[str]]:
    """Warnings reach the caller as usual (stderr), and their text is kept for the result."""
    log: list[str] = []
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
            if issubclass(category, InceptionScoreWarning):
                log.append(str(message))
            shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield log


def _score(
    sources: Any, options: Options, network: nn.Module | None, device: torch.device, start: float, warned: list[str]
) -> Result | ShardSummary:
    opened = open_sources(
        _with_generator(sources, options),
        recursive=options.recursive,
        num_samples=options.num_samples,
        image_range=options.parsed_image_range(),
    )
    skipped = _screen_files(opened, options, device)
    num_images = sum(len(s) for s in opened)
    plan = SplitPlan(options.protocol, num_images, options.splits)
    work = _assign_work(opened, options, device, num_images)
    model = _build_model(options, opened, network, work)
    device = work.device

    cache: OutputCache | None = None
    counts = {"hits": 0, "misses": 0}
    if options.cache:
        if model.resolved is None:
            raise OptionsError("cache: only for the Inception network (a custom network has no weights hash to key on)")
        cache = OutputCache(options.cache, model.resolved.sha256, options.precision)
    features = FeatureStats(model.num_classes) if model.named else None
    state = ScoreState(plan, model.num_classes, device, bootstrap=options.bootstrap, seed=options.seed)
    provenance = _provenance(options, plan, model, num_images, work.batch_size)
    gallery = Gallery() if options.report else None
    check = None if model.exact is None else _PrecisionCheck(options.check_precision, model.exact, model.num_classes)
    state_path = _state_path(options.state, work.world)
    mine = work.mine
    span = {"start": mine[0], "stop": mine[1]}  # a state file covers this process's images
    position = _resume(state_path, state, provenance, mine) if state_path else mine[0]
    num_workers = options.num_workers
    if num_workers is None:
        # On CPU the network needs every core and decoding is < 1% of the time; on GPU decoding
        # is the bottleneck, so decode on every core the host has (up to 16).
        num_workers = 0 if device.type == "cpu" else min(16, len(os.sched_getaffinity(0)))

    from tqdm import tqdm

    bar = tqdm(
        total=mine[1] - mine[0],
        initial=position - mine[0],
        unit="img",
        file=sys.stderr,
        disable=not (options.progress and work.is_main),
        dynamic_ncols=True,
    )
    last_save = time.monotonic()
    with bar, torch.inference_mode():
        for batch in iterate_batches(opened, work.batch_size, num_workers, position, mine[1], device.type == "cuda"):
            if cache is not None:
                outputs, images = _cached_outputs(batch.images, cache, model.forward, device, counts)
            else:
                images = model.prepare(batch.images, device=device)
                outputs = model.forward(images)
            logits = outputs[:, : model.num_classes]
            state.update(logits, batch.indices)
            if features is not None:
                features.add(outputs[:, model.num_classes :], logits.argmax(dim=1))
            if gallery is not None:
                confidence, classes = torch.softmax(logits.double(), dim=1).max(dim=1)
                gallery.add(batch.indices, confidence, batch.images, classes.cpu().numpy())
            if check is not None:
                check.add(logits, images, int(batch.indices[0]))
            position = int(batch.indices[-1]) + 1
            bar.update(len(batch.indices))
            if state_path and time.monotonic() - last_save >= options.state_interval:
                save_stats(state_path, {**provenance, **span, "next": position}, state.state_dict())
                last_save = time.monotonic()
    if position != mine[1]:
        raise InputError(f"expected images {mine[0]}..{mine[1] - 1} from the sources, read up to {position - 1}")
    if state_path:
        save_stats(state_path, {**provenance, **span, "next": position}, state.state_dict())
    if work.world is not None:
        all_reduce(list(state.tensors().values()), device)
    if options.save_stats and work.is_main:
        shard_span = {"start": work.shard[0], "stop": work.shard[1]}  # a stats file covers the shard's
        save_stats(options.save_stats, {**provenance, **shard_span}, state.state_dict())
    if options.shard:
        return ShardSummary(
            shard=options.shard,
            start=work.shard[0],
            stop=work.shard[1],
            stats_file=str(options.save_stats),
            num_images=num_images,
            num_skipped=len(skipped),
            skipped=[{"path": p, "reason": r} for p, r in skipped],
            package_version=__version__,
            elapsed_s=time.perf_counter() - start,
        )

    fields = state.fields(named=model.named)
    if features is not None and work.is_main:
        names = class_names()
        fields.update(features.fields([c["index"] for c in fields["top_classes"]], names))
        collapse = collapse_warning(fields, fields["inception_score_mean"])
        if collapse:
            fields["diagnostic_warnings"].append(collapse)
    for message in fields.pop("diagnostic_warnings"):
        warnings.warn(message, InceptionScoreWarning, stacklevel=3)
    elapsed = time.perf_counter() - start
    resolved = model.resolved
    result = Result(
        **fields,
        num_images=num_images,
        splits=plan.num_splits,
        protocol=options.protocol,
        weights_sha256=resolved.sha256 if resolved else None,
        weights_path=str(resolved.path) if resolved else None,
        weights_source=resolved.source if resolved else f"custom classifier {options.classifier or ''}".rstrip(),
        precision=options.precision if resolved else "custom network",
        precision_check=check.fields() if check else None,
        package_version=__version__,
        torch_version=torch.__version__,
        device=str(device),
        batch_size=work.batch_size,
        sources=[s.name for s in opened],
        num_skipped=len(skipped),
        skipped=[{"path": p, "reason": r} for p, r in skipped],
        cache_hits=counts["hits"] if cache else None,
        cache_misses=counts["misses"] if cache else None,
        elapsed_s=elapsed,
        images_per_second=num_images / elapsed if elapsed > 0 else 0.0,
        warnings=list(warned),
    )
    if options.report and gallery is not None and work.is_main:
        _write_report(options.report, result, state, gallery, opened, named=model.named)
    return result


def _with_generator(sources: Any, options: Options) -> Any:
    """The sources, plus ``--generator``'s samples as one more source when it is given."""
    if not options.generator:
        return sources
    from .generators import generator_source, load_generator

    extra: dict[str, Any] = {"latents": options.latents, "seed": options.seed}
    loaded = load_generator(options.generator)
    if isinstance(loaded, nn.Module):
        extra.update({"z_dim": options.z_dim} if options.z_dim else {})
    else:
        extra = {}
    if options.parsed_image_range():
        extra["image_range"] = options.parsed_image_range()
    return [*(sources or []), generator_source(loaded, options.num_samples or 0, **extra)]


@dataclass(frozen=True)
class _Work:
    """This process's part of the run: where it runs, in which batches, and which images."""

    device: torch.device
    world: World | None  # torchrun's ranks, or None for a single process
    batch_size: int
    shard: tuple[int, int]  # images start..stop-1 of this --shard (all of them without one)
    mine: tuple[int, int]  # the images this process scores: the shard, or this rank's block of it

    @property
    def is_main(self) -> bool:
        """The process that prints and writes the results (rank 0 under torchrun)."""
        return self.world is None or self.world.is_main


def _assign_work(opened: list[Source], options: Options, device: torch.device, num_images: int) -> _Work:
    world = join_world(device)
    if world is not None and device.type == "cuda" and options.device in ("auto", "cuda"):
        device = torch.device("cuda", world.local_rank)
    batch_size = options.batch_size or auto_batch_size(device, options.precision)
    if world is not None:
        batch_size = agree_min(batch_size, device)  # the blocks below must be the same on every rank

    # Which images this process scores: a shard of a scheduler's job, a block of a torchrun rank.
    # Boundaries snap to the batch grid, so that every image meets the same batch companions as
    # in a single run: convolution results depend on the batch (~1e-7), and then the shards or
    # ranks add up to exactly the single-process numbers (given the same --batch-size).
    def aligned(lo: int, hi: int) -> tuple[int, int]:
        return _next_batch_start(opened, batch_size, lo), _next_batch_start(opened, batch_size, hi)

    shard = aligned(*block(num_images, *parse_shard(options.shard))) if options.shard else (0, num_images)
    mine = shard
    if world is not None:
        mine = aligned(*block(shard[1] - shard[0], world.rank, world.size, shard[0]))
    return _Work(device, world, batch_size, shard, mine)


@dataclass(frozen=True)
class _Model:
    """The network side of a run: preprocessed batch -> N x (classes + features) outputs."""

    forward: _Forward
    prepare: Callable[..., Tensor]  # uint8 batch -> the network's input, on the device
    num_classes: int
    resolved: ResolvedWeights | None  # the Inception weights; None for a custom network or classifier
    exact: Callable[[Tensor], Tensor] | None = None  # --check-precision: the exact runner's logits

    @property
    def named(self) -> bool:
        """Whether the outputs are the 2015 graph's 1008 named classes."""
        return self.resolved is not None


def _build_model(options: Options, opened: list[Source], network: nn.Module | None, work: _Work) -> _Model:
    device = work.device
    if options.classifier:
        network, prepare = _load_classifier(options, opened, device)
    elif network is None:
        resolved, runner = _runner(options, device, work.batch_size)
        # The Inception runner gives logits and pool3 side by side (N x (1008 + 2048)); pool3
        # feeds the near-duplicate and within-class statistics and the cache.
        exact = _Forward(Runner(runner.source, device, "exact")) if options.check_precision else None
        return _Model(_Forward(runner.outputs), preprocess, NUM_CLASSES, resolved, exact)
    else:
        prepare = preprocess
    forward = _Forward(network)
    with torch.inference_mode():  # a custom network: its number of classes, from one probe
        probe = next(iter(opened[0].batches(1, 0, 0, 1))).images if options.classifier else None
        probe = prepare(probe, device=device) if probe is not None else torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
        num_classes = int(forward(probe.to(device)).shape[1])
    if options.classifier:
        warnings.warn(NOT_COMPARABLE.format(spec=options.classifier), InceptionScoreWarning, stacklevel=4)
    return _Model(forward, prepare, num_classes, None)


def _provenance(options: Options, plan: SplitPlan, model: _Model, num_images: int, batch_size: int) -> dict[str, Any]:
    """What a stats or state file must share with another to be merged or resumed."""
    return {
        "package_version": __version__,
        "weights_sha256": model.resolved.sha256 if model.resolved else "custom network",
        "protocol": options.protocol,
        "splits": options.splits,
        "num_splits": plan.num_splits,
        "num_images": num_images,
        "num_classes": model.num_classes,
        "bootstrap": options.bootstrap,
        "seed": options.seed,
        "precision": options.precision if model.named else "custom network",
        "named": model.named,
        "batch_size": batch_size,  # recorded, not enforced: another batch size moves results by ~1e-7
    }


class _PrecisionCheck:
    """--check-precision N: the IS of the first N images from fast (the run's own logits) and
    from exact (the same preprocessed images through the fp32 network), as one split each."""

    def __init__(self, limit: int, exact: Callable[[Tensor], Tensor], num_classes: int) -> None:
        self.limit, self.exact = limit, exact
        self.fast_sums, self.exact_sums = ISAccumulator(1, num_classes), ISAccumulator(1, num_classes)

    def add(self, logits: Tensor, images: Tensor, first_index: int) -> None:
        take = min(len(logits), self.limit - first_index)
        if take > 0:
            zeros = np.zeros(take, dtype=np.int64)
            self.fast_sums.update(logits[:take], zeros)
            self.exact_sums.update(self.exact(images[:take]), zeros)

    def fields(self) -> dict[str, Any] | None:
        if not self.fast_sums.count.sum():
            return None
        exact, fast = float(self.exact_sums.split_scores()[0]), float(self.fast_sums.split_scores()[0])
        return {
            "num_images": int(self.fast_sums.count.sum()),
            "inception_score_exact": exact,
            "inception_score_fast": fast,
            "relative_deviation": abs(fast - exact) / exact,
        }


def _write_report(
    directory: str, result: Result, state: ScoreState, gallery: Gallery, opened: list[Source], named: bool
) -> None:
    """report.html and its figures (under torchrun, the thumbnails are rank 0's images)."""
    from .html_report import write_report
    from .score import CONFIDENCE_BINS

    pooled = state.splits.pooled()
    names = class_names() if named and pooled.num_classes == NUM_CLASSES else None
    extras: dict[str, Any] = {
        "marginal": (pooled.sum_p[0] / pooled.count[0]).cpu().tolist(),
        "confidence_histogram": {
            "edges": [i / CONFIDENCE_BINS for i in range(CONFIDENCE_BINS + 1)],
            "counts": [int(c) for c in pooled.confidence_hist[0].cpu().tolist()],
        },
        **gallery.entries(lambda i: _label(opened, i), lambda c: names[c] if names else f"class {c}"),
    }
    if names:
        extras["class_names"] = names
    write_report(directory, result.to_dict(), extras)


def _label(sources: list[Source], index: int) -> str:
    """What to call image ``index`` (global) in a report: its file, member, or position."""
    offset = 0
    for source in sources:
        if index < offset + len(source):
            local = index - offset
            if isinstance(source, FolderSource):
                return source.paths[local]
            members = getattr(source, "members", None)
            return f"{source.name}:{members[local][0]}" if members else f"{source.name}[{local}]"
        offset += len(source)
    return f"image {index}"


def _load_classifier(
    options: Options, opened: list[Source], device: torch.device
) -> tuple[Callable[[Tensor], Any], Callable[..., Tensor]]:
    """--classifier: the model (moved to the device) and how its input is prepared."""
    from functools import partial

    from .generators import load_generator

    model = load_generator(options.classifier or "")
    if isinstance(model, nn.Module):
        model = model.to(device).eval()
    mean = parse_triple(options.classifier_mean, "classifier_mean")
    std = parse_triple(options.classifier_std, "classifier_std")
    return model, partial(classifier_input, size=options.classifier_size, mean=mean, std=std)


def _cached_outputs(
    images: Tensor | list[Tensor], cache: OutputCache, forward: _Forward, device: torch.device, counts: dict[str, int]
) -> tuple[Tensor, Tensor | None]:
    """Logits and pool3 of a batch (N x (1008 + 2048)), from the cache where it has them;
    computes and stores the rest. Also returns the preprocessed images it computed, if any."""
    each = list(images.unbind(0)) if isinstance(images, Tensor) else list(images)
    keys = [cache.key(img) for img in each]
    found = [cache.get(key) for key in keys]
    outputs = torch.empty(len(each), NUM_CLASSES + FEATURE_DIM, dtype=torch.float32)
    missing = [i for i, hit in enumerate(found) if hit is None]
    computed = None
    if missing:
        group = [each[i] for i in missing]
        same = all(g.shape == group[0].shape for g in group)
        computed = preprocess(torch.stack(group) if same else group, device)
        both = forward(computed).cpu()  # len(missing) x (1008 + 2048)
        for row, i in enumerate(missing):
            cache.put(keys[i], both[row, :NUM_CLASSES].numpy(), both[row, NUM_CLASSES:].numpy())
        outputs[missing] = both
    for i, hit in enumerate(found):
        if hit is not None:
            outputs[i] = torch.from_numpy(np.concatenate(hit))
    counts["hits"] += len(each) - len(missing)
    counts["misses"] += len(missing)
    return outputs.to(device), computed


def _next_batch_start(sources: list[Source], batch_size: int, index: int) -> int:
    """The first batch boundary at or after ``index`` (batches restart at each source)."""
    offset = 0
    for source in sources:
        if index < offset + len(source):
            steps = -(-(index - offset) // batch_size)  # ceil
            return min(offset + steps * batch_size, offset + len(source))
        offset += len(source)
    return offset


def _state_path(path: str | None, world: World | None) -> str | None:
    """Each torchrun rank keeps its own state file (PATH.rankR)."""
    if path is None or world is None:
        return path
    return f"{path}.rank{world.rank}"


def _resume(path: str, state: ScoreState, provenance: dict[str, Any], mine: tuple[int, int]) -> int:
    """Load a --state file of the same command, if there is one; return the next image index."""
    if not os.path.exists(path):
        return mine[0]
    saved, tensors = load_stats(path)
    check_agreement(
        provenance, saved, "this command", path, hint="resume with the same command, or remove the file to start over"
    )
    if (saved.get("start"), saved.get("stop")) != mine:
        raise InputError(
            f"{path}: covers images {saved.get('start')}..{saved.get('stop')}, this command {mine[0]}..{mine[1]}; "
            f"resume with the same command, or remove the file to start over"
        )
    state.load_state_dict(tensors)
    warnings.warn(
        f"resuming from {path}: {saved['next'] - mine[0]} images already scored", InceptionScoreWarning, stacklevel=3
    )
    return int(saved["next"])


def merge_stats(paths: list[str]) -> Result:
    """The result of one run over everything, from the --save-stats files of its shards.

    Example (shell): ``inception-score merge shard-*.pt --json``.
    """
    if not paths:
        raise InputError("merge: expected at least one statistics file")
    loaded = [(path, *load_stats(path)) for path in paths]
    first_path, first, _ = loaded[0]
    for path, provenance, _ in loaded[1:]:
        check_agreement(first, provenance, first_path, path)
    check_ranges([(p["start"], p["stop"]) for _, p, _ in loaded], first["num_images"])
    plan = SplitPlan(first["protocol"], first["num_images"], first["splits"])
    total: dict[str, Tensor] = {}
    for _, _, tensors in loaded:
        for name, tensor in tensors.items():
            total[name] = total[name] + tensor if name in total else tensor.clone()
    state = ScoreState(plan, first["num_classes"], bootstrap=first["bootstrap"], seed=first["seed"])
    state.load_state_dict(total)
    fields = state.fields(named=bool(first.get("named", True)))
    for message in fields.pop("diagnostic_warnings"):
        warnings.warn(message, InceptionScoreWarning, stacklevel=2)
    return Result(
        **fields,
        num_images=first["num_images"],
        splits=plan.num_splits,
        protocol=first["protocol"],
        weights_sha256=first["weights_sha256"],
        precision=first["precision"],
        package_version=first["package_version"],
        torch_version=torch.__version__,
        sources=list(paths),
    )
