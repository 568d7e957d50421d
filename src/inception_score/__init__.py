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
protocols), :func:`load_network` (weights).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import DeviceError, InceptionScoreError, InputError, OptionsError, WeightsError
from .options import Options
from .protocols import PROTOCOLS, SplitPlan
from .report import Result, ShardSummary

if TYPE_CHECKING:  # the torch-heavy modules load on first use (keeps `--help` fast)
    from torch import nn

    from .generators import GeneratorSource, ModuleGenerator, generator_source, load_generator
    from .metric import InceptionScore
    from .network import InceptionOutput, InceptionV3
    from .pipeline import load_network, merge_stats, release_network
    from .preprocess import preprocess
    from .score import ISAccumulator, inception_score_from_logits

__all__ = [
    "__version__",
    "compute",
    "Options",
    "Result",
    "ShardSummary",
    "PROTOCOLS",
    "SplitPlan",
    "ISAccumulator",
    "inception_score_from_logits",
    "InceptionV3",
    "InceptionOutput",
    "preprocess",
    "load_network",
    "merge_stats",
    "release_network",
    "InceptionScore",
    "GeneratorSource",
    "ModuleGenerator",
    "generator_source",
    "load_generator",
    "InceptionScoreError",
    "InputError",
    "OptionsError",
    "WeightsError",
    "DeviceError",
]

_LAZY = {
    "InceptionScore": "metric",
    "GeneratorSource": "generators",
    "ModuleGenerator": "generators",
    "generator_source": "generators",
    "load_generator": "generators",
    "merge_stats": "pipeline",
    "release_network": "pipeline",
    "InceptionV3": "network",
    "InceptionOutput": "network",
    "preprocess": "preprocess",
    "ISAccumulator": "score",
    "inception_score_from_logits": "score",
    "load_network": "pipeline",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def compute(
    source: Any, options: Options | None = None, *, network: nn.Module | None = None, **kwargs: Any
) -> Result | ShardSummary:
    """Compute the Inception Score of ``source``.

    Args:
        source: a folder, image file, ``.npz``/``.npy`` path, numpy array, torch tensor, or a
            list of them. Arrays: uint8 in [0, 255] or float in [0, 1] (rounded to uint8),
            N x H x W x 3 or N x 3 x H x W.
        options: an :class:`Options`; or give its fields as keyword arguments instead.
        network: optional stand-in for the Inception network (takes the preprocessed
            N x 3 x 299 x 299 batch, returns logits); its score is not the standard IS.

    Returns:
        :class:`Result` with ``.mean``, ``.std``, ``.split_scores``, ``.num_images``, the
        statistics (sharpness, diversity, ci95, is_infinity, ...) and the provenance (weights
        sha256, protocol, versions); a :class:`ShardSummary` for ``shard=`` runs.

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
        >>> r = compute(images, splits=2, weights="inception.pth", progress=False)  # doctest: +SKIP
        >>> r.num_images, r.splits                                                   # doctest: +SKIP
        (20, 2)
    """
    from .pipeline import score_sources

    if options is not None and kwargs:
        raise OptionsError("give either options=Options(...) or keyword options, not both")
    return score_sources(source, options or Options.from_kwargs(**kwargs), network=network)
