"""``inception-score merge``: the measurement of one run over everything, from its shards' statistics files.

Each ``--shard i/K --save-stats FILE`` run saves the state of its accumulators with its
provenance. Merging checks that the files come from the same command (same weights, metrics and
options, package version) and that their image ranges tile 0..N-1 exactly, naming the files that
do not, then adds the states: the result equals a single run's (to ~1e-12 relative, the float64
sums in another order).

Example (shell): ``inception-score merge shard-*.pt --json``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from .._version import __version__
from ..errors import InputError
from ..metrics.base import ShapeMismatch
from ..metrics.registry import MetricSpec, build_accumulators
from .checkpoint import check_agreement, check_ranges, load_stats
from .measurement import Measurement
from .reference import reference_from_tensors

__all__ = ["merge_stats"]

_NETWORK_FACTS = ("dinov2_weights_sha256", "dinov2_resize", "clip_weights_sha256")  # recorded in "networks"


def merge_stats(paths: Sequence[str | os.PathLike[str]]) -> Measurement:
    """Add the ``--save-stats`` files of a run's shards into the measurement of the whole run."""
    if isinstance(paths, (str, bytes, os.PathLike)):  # one file: a list of one, not a list of characters
        paths = [paths]
    if not paths:
        raise InputError("merge: expected at least one statistics file")
    names = [os.fsdecode(p) for p in paths]
    loaded = [(name, *load_stats(name)) for name in names]
    for name, provenance, _ in loaded:  # a --state file of a run that stopped early holds part of its images
        scored_to, stop = provenance.get("next", provenance.get("stop")), provenance.get("stop")
        if isinstance(scored_to, int) and isinstance(stop, int) and scored_to < stop:
            raise InputError(
                f"{name}: an unfinished --state file (images {scored_to}..{stop - 1} of its part are not scored "
                "yet); finish it by running its command again, then merge"
            )
    first_name, first, _ = loaded[0]
    for name, provenance, _ in loaded[1:]:
        check_agreement(first, provenance, first_name, name)
    spec = MetricSpec.from_dict(first["spec"])
    check_ranges([(name, p["start"], p["stop"]) for name, p, _ in loaded], spec.num_images)
    reference = reference_from_tensors(loaded[0][2], first["reference"]) if first.get("reference") else None
    stored = first.get("sample_statistics")  # `evaluate`: the sample batch's own mu/sigma, as read then
    samples = reference_from_tensors(loaded[0][2], stored, prefix="samples.") if stored else None
    accumulators = build_accumulators(spec, reference=reference, samples=samples)
    for name, _, tensors in loaded:
        for accumulator in accumulators:
            prefix = accumulator.name + "."
            part = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            try:
                accumulator.load_state_dict(part, add=True)
            except ShapeMismatch as exc:
                raise InputError(f"{name}: {exc}") from None
    facts = {
        "num_images": spec.num_images,
        "splits": spec.plan().num_splits,
        "protocol": spec.protocol,
        "weights_sha256": first["weights_sha256"] if spec.named else None,
        "precision": first["precision"],
        "package_version": __version__,
        "torch_version": torch.__version__,
        "sources": names,
        "metrics": list(spec.metrics),
        "fid_reference": dict(first["reference"]) if first.get("reference") else None,
        "sample_statistics": dict(stored) if stored else None,
        "match": first.get("match"),
        "resize": spec.resize,
        "cov_divisor": spec.cov_divisor,
        "kid_protocol": spec.kid_protocol if "kid" in spec.metrics else None,
        **{k: v for k, v in (first.get("networks") or {}).items() if k in _NETWORK_FACTS},
    }
    return Measurement(accumulators, spec, facts)
