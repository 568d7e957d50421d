"""The Inception Score of generated images, exactly as the reference implementations compute it.

One call for the common case::

    >>> import inception_score
    >>> result = inception_score.compute("samples/")            # doctest: +SKIP
    >>> result.mean, result.std                                  # doctest: +SKIP
    (9.4213, 0.1176)

``source`` is a folder, an image file, an ADM ``.npz``/``.npy``, a tar/zip archive, a glob
pattern, an ``@list.txt``, a numpy array or torch tensor of images, a sample function (with
``num_samples``), or a list of these (concatenated in order). Options are the fields of
:class:`Options`, the same as the command-line flags (``batch_size`` is ``--batch-size``).

The building blocks are public: :class:`InceptionV3` (the network), :func:`preprocess` (TF1
resize and scaling), :class:`ISAccumulator` and :class:`SplitPlan` (the mathematics and the
protocols), :func:`load_network` (weights). Everything is imported on first use (``--help``
stays fast without torch), from the one table below.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # for the annotations of compute() only; the exports are the table below
    from torch import nn

    from .options import Options
    from .report.result import Result, ShardSummary

# public name -> the module that defines it (the one list: __all__ and lazy imports both read it)
_EXPORTS = {
    "Options": "options",
    "Result": "report.result",
    "ShardSummary": "report.result",
    "PROTOCOLS": "metrics.protocols",
    "SplitPlan": "metrics.protocols",
    "ISAccumulator": "metrics.inception",
    "inception_score_from_logits": "metrics.inception",
    "InceptionV3": "features.network",
    "InceptionOutput": "features.network",  # the old name of NetworkOutputs
    "NetworkOutputs": "features.outputs",
    "preprocess": "features.preprocess",
    "load_network": "features.extractor",
    "release_network": "features.extractor",
    "InceptionScore": "metric",
    "GeneratorSource": "inputs.generators",
    "ModuleGenerator": "inputs.generators",
    "generator_source": "inputs.generators",
    "load_generator": "inputs.models",
    "InceptionScoreError": "errors",
    "InputError": "errors",
    "OptionsError": "errors",
    "WeightsError": "errors",
    "DeviceError": "errors",
    "InceptionScoreWarning": "errors",
}

__all__ = ["__version__", "compute", "merge_stats", "compute_statistics", "evaluate", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def compute(
    source: Any, options: Options | None = None, *, network: nn.Module | None = None, **kwargs: Any
) -> Result | ShardSummary:
    """Compute the Inception Score of ``source``.

    Args:
        source: a folder, image file, ``.npz``/``.npy`` path, numpy array, torch tensor, or a
            list of them. Arrays: uint8 in [0, 255] or float in ``image_range`` ((0, 1) by
            default; rounded to uint8, halves up), N x H x W x 3 or N x 3 x H x W.
        options: an :class:`Options`; or give its fields as keyword arguments instead.
        network: optional stand-in for the Inception network (takes the preprocessed
            N x 3 x 299 x 299 batch, returns logits); its score is not the standard IS.

    Returns:
        :class:`Result` with ``.mean``, ``.std``, ``.split_scores``, ``.num_images``, the
        statistics (sharpness, diversity, ci95, is_infinity, ...) and the provenance (weights
        sha256, protocol, versions); a :class:`ShardSummary` for ``shard=`` runs.

    Raises:
        OptionsError (an option's value), InputError (a source), WeightsError, DeviceError: each
        with a one-line message naming what is wrong and what was expected.

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
        >>> r = compute(images, splits=2, weights="inception.pth", progress=False)  # doctest: +SKIP
        >>> r.num_images, r.splits                                                   # doctest: +SKIP
        (20, 2)
    """
    from .errors import OptionsError
    from .options import Options
    from .report.result import Result, build_result
    from .run.pipeline import run

    if options is not None and kwargs:
        raise OptionsError("give either options=Options(...) or keyword options, not both")
    options = options or Options.from_kwargs(**kwargs)
    if options.report:
        from .report.html import check_report_dependencies

        check_report_dependencies()  # before any work: the extra it needs is installed
    measurement = run(source, options, network=network)
    result = build_result(measurement)
    if options.report and measurement.is_main and isinstance(result, Result):
        _write_report(options.report, result, measurement)
    return result


def _write_report(directory: str, result: Result, measurement: Any) -> None:
    """report.html and its figures in ``directory`` (the report extra)."""
    from .report.data import report_data
    from .report.html import write_report

    write_report(directory, report_data(result, measurement))


def merge_stats(paths: str | os.PathLike[str] | list[str | os.PathLike[str]], report: str | None = None) -> Result:
    """The result of one run over everything, from the ``--save-stats`` files of its shards (or
    finished ``--state`` files); one path or a list of them. Raises InputError naming a file that
    is not a statistics file, is unfinished, disagrees with the others, or overlaps or leaves a gap.
    ``report``: a folder for ``report.html``, as ``compute(report=...)`` writes it, less the gallery
    of most and least confident images (the shards' images are not read again).

    Example (shell): ``inception-score merge shard-*.pt --json``.
    """
    from .report.result import build_result
    from .run.merge import merge_stats as merge

    if report is not None:
        from .report.html import check_report_dependencies
        from .run.outputs import check_report_dir

        check_report_dependencies()
        check_report_dir(report, inputs=[paths] if isinstance(paths, (str, os.PathLike)) else list(paths))
    measurement = merge(paths)
    result = build_result(measurement)
    if report is not None:
        _write_report(report, result, measurement)  # type: ignore[arg-type]
    return result  # type: ignore[return-value]


ADM_METRICS = ("is", "fid", "sfid", "pr", "prdc")  # the ADM evaluator's five numbers, plus density/coverage


def evaluate(ref_batch: Any, sample_batch: Any, **options: Any) -> Result:
    """The ADM evaluator's numbers (openai/guided-diffusion ``evaluations/evaluator.py``) in one pass
    per set: Inception Score (chunks of 5000, the mean), FID, sFID, precision and recall (k = 3,
    float16 distances), plus density and coverage (k = 5).

    As the evaluator, it reads **both** batches' stored statistics (GD:43-49 call
    ``read_statistics`` on each): ``mu``/``sigma`` (FID) and ``mu_s``/``sigma_s`` (sFID) stored in
    either ``.npz`` are used as they are, and only what a batch does not store is computed from its
    ``arr_0``; the images give the Inception Score and precision/recall. The result says which were
    read and which computed: ``fid_reference["read"]``/``["computed"]`` and ``sample_statistics``
    (``path``, ``read``, ``computed``). A batch evaluated against itself gives FID = sFID = 0.

    Args:
        ref_batch: the reference batch: an ADM ``.npz`` (``arr_0`` images; stored ``mu``, ``sigma``,
            ``mu_s``, ``sigma_s`` are used as they are), or any image source.
        sample_batch: the samples: an ADM ``.npz`` (stored statistics used as they are, as for the
            reference) or any source :func:`compute` reads.
        options: as for :func:`compute` (``weights``, ``device``, ``batch_size``, ``pr_precision``...);
            ``protocol`` is ``adm``, ``metrics`` the five above and ``sample_statistics`` True unless given.

    Returns:
        :class:`Result` with ``inception_score_mean``, ``fid``, ``sfid``, ``improved_precision``,
        ``improved_recall``, ``density``, ``coverage`` and the provenance.

    Example:
        >>> r = evaluate("VIRTUAL_imagenet256_labeled.npz", "samples.npz")  # doctest: +SKIP
        >>> r.fid, r.sfid, r.improved_precision  # doctest: +SKIP
    """
    options.setdefault("protocol", "adm")
    options.setdefault("metrics", ADM_METRICS)
    options.setdefault("sample_statistics", True)  # the evaluator reads both batches' stored statistics
    return compute(sample_batch, ref=ref_batch, **options)  # type: ignore[return-value]


def compute_statistics(
    source: Any,
    output: str,
    *,
    features: bool = False,
    spatial: bool = False,
    metrics: Any = None,
    **options: Any,
) -> dict[str, Any]:
    """Compute a reference once and write it to ``output`` (``.npz``): what ``--ref`` reads back.

    The file holds ``mu`` and ``sigma`` of the pool3 features (pytorch-fid's keys and
    conventions: pytorch-fid's ``fid_score.py`` reads it; the ADM evaluator does not, as it needs
    the images in ``arr_0``), with ``spatial`` also
    ``mu_s``/``sigma_s`` (sFID), with ``features`` the pool3 rows (KID, precision/recall: 8 KB per
    image), and its provenance (weights sha256, N, package version). Written atomically; the output
    path is checked before any work. ``metrics`` (``"fid,fd_dinov2"`` or a list; default ``fid``)
    chooses the feature spaces: ``mu_dinov2``/``sigma_dinov2`` (and ``features_dinov2`` with
    ``features``) for the ``*_dinov2`` metrics, ``mu_clip``/``sigma_clip``/``features_clip`` for
    the ``*_clip`` ones and ``cmmd``; pool3's only when a pool3 metric is asked for.

    Returns:
        the provenance written (a dict).

    Example:
        >>> compute_statistics("real_images/", "ref.npz", features=True)  # doctest: +SKIP
        {'weights_sha256': '6726825d...', 'num_images': 50000, ...}
    """
    from .options import Options
    from .run.pipeline import statistics

    return statistics(
        source, output, Options.from_kwargs(**options), features=features, spatial=spatial, metrics=metrics
    )
