"""The reference set of a run (``--ref``), from statistics files or from a pass over real images.

``--ref REF`` is recognised by its content, not its name:

* a statistics file (``.npz``) of one of three kinds:

  - **this package's** (``inception-score stats``): ``mu``, ``sigma`` (pool3, float64, pytorch-fid's
    keys and conventions), optionally ``mu_s``/``sigma_s`` (the spatial features, sFID) and
    ``features`` (the pool3 rows, KID and precision/recall), and its provenance as JSON
    (``inception_score``: the weights' sha256, N, the package version). A file computed with
    other weights is refused: its numbers are not comparable;
  - **pytorch-fid's** (``fid_score.py --save-stats``): ``mu`` and ``sigma`` only (FID; the weights
    are not recorded);
  - an **ADM reference batch** (guided-diffusion's ``VIRTUAL_imagenet256_labeled.npz``): images in
    ``arr_0``, plus ``mu``, ``sigma``, ``mu_s``, ``sigma_s`` when present: stored statistics are used
    as they are, as the evaluator does (GD:164-172); without them they are computed from ``arr_0``;
    the images give the features KID and precision/recall need (one pass, only if asked);

* any other image source this package reads (a folder, an ``.npz`` of images, an archive, a glob,
  a list file, an array): one pass of the same network, batch size and cache as the samples,
  split across torchrun's ranks like them.

A ``.npz`` that is none of these (no ``arr_0``, no ``mu``/``sigma``) is one error naming what it
holds. The :class:`~inception_score.metrics.reference.Reference`'s ``info`` says what the
reference was: ``path``, ``kind``, ``num_images`` (None when a file does not record it), the
``sha256`` of the file, which statistics were ``read`` from it and which ``computed`` from its
images, and what produced them (``precision``, ``preprocess_version``, ``package_version``:
:func:`compare_provenance`, which warns where they differ from the run's in a way that moves the
numbers). :func:`load_sample_statistics` reads a *sample* batch's stored statistics, as the ADM
evaluator does (``evaluate``).

Example:
    >>> import tempfile, os, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "ref.npz")
    >>> np.savez(path, mu=np.zeros(2048), sigma=np.eye(2048))
    >>> statistics_kind(path)
    'pytorch-fid statistics'
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._version import __version__
from ..errors import InputError, plural, warn
from ..features.cache import PREPROCESS_VERSION
from ..features.network import FEATURE_DIM
from ..inputs.opening import one_line, open_regular
from ..metrics.frechet import SPATIAL_DIM
from ..metrics.reference import Reference

__all__ = [
    "REFERENCE_FORMAT",
    "statistics_kind",
    "load_statistics",
    "file_sha256",
    "ReferenceNeeds",
    "save_reference",
    "load_sample_statistics",
    "compare_provenance",
    "PROVENANCE_KEYS",
    "ReferenceSize",
    "reference_size",
    "check_reference_size",
]

REFERENCE_FORMAT = "inception-score-reference"
KINDS = {
    "ours": "inception-score statistics",
    "pytorch-fid": "pytorch-fid statistics",
    "adm": "ADM reference batch",
    "adm-images": "ADM batch of images (no stored statistics)",
}
PROVENANCE_KEYS = ("precision", "preprocess_version", "package_version")  # recorded by `stats`, shown in the result
_SHAPES = {"mu": (FEATURE_DIM,), "sigma": (FEATURE_DIM, FEATURE_DIM), "mu_s": (SPATIAL_DIM,),
           "sigma_s": (SPATIAL_DIM, SPATIAL_DIM)}  # fmt: skip


@dataclass(frozen=True)
class ReferenceNeeds:
    """What the run's metrics need of the reference."""

    moments: bool = False  # mu, sigma (FID, FID at infinite N)
    spatial: bool = False  # mu_s, sigma_s (sFID)
    features: bool = False  # the pool3 rows (KID, precision/recall, density/coverage)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open_regular(path, os.fsdecode(path), "a reference file (.npz)") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _keys(path: str) -> list[str]:
    with open_regular(path, path, "a reference: an .npz of images or statistics") as f:  # no FIFO hangs
        try:
            with zipfile.ZipFile(f) as zf:
                return [n[:-4] if n.endswith(".npy") else n for n in zf.namelist()]
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise InputError(f"{path}: not a readable .npz file ({one_line(exc)})") from None


def statistics_kind(path: str | os.PathLike[str]) -> str:
    """Which kind of ``.npz`` ``path`` is (a :data:`KINDS` value), from its keys; InputError for none."""
    name = os.fsdecode(path)
    keys = _keys(name)
    if "inception_score" in keys and "mu" in keys:
        return KINDS["ours"]
    if "arr_0" in keys:
        return KINDS["adm"] if "mu" in keys and "sigma" in keys else KINDS["adm-images"]
    if "mu" in keys and "sigma" in keys:
        return KINDS["pytorch-fid"]
    if any(k.endswith("data.pkl") for k in keys):  # torch.save's zip layout
        raise InputError(
            f"{name}: a torch file (a --save-stats or --state file?), not an .npz of images or statistics; "
            "merge reads those, and --ref reads images or the output of `inception-score stats`"
        )
    found = f"arrays named {', '.join(repr(k) for k in keys)}" if keys else "no arrays"
    raise InputError(
        f"{name}: not a reference; expected images (arr_0, an ADM batch) or statistics (mu and sigma: pytorch-fid, "
        f"`inception-score stats`), found {found}"
    )


def _array(npz: Any, key: str, name: str) -> np.ndarray:
    try:
        value = npz[key]
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:  # object arrays, truncated members
        raise InputError(f"{name}: {key} cannot be read ({one_line(exc)})") from None
    if not np.issubdtype(value.dtype, np.floating) and not np.issubdtype(value.dtype, np.integer):
        raise InputError(f"{name}: {key} has dtype {value.dtype}; expected numbers")
    return value


def _checked(value: np.ndarray, key: str, name: str) -> np.ndarray:
    expected = _SHAPES[key]
    if value.shape != expected:
        layer = "spatial" if key.endswith("_s") else "pool3"
        raise InputError(
            f"{name}: {key} has shape {value.shape}, expected {expected} "
            f"(the {layer} features of the 2015 Inception graph)"
        )
    if not np.isfinite(value).all():
        raise InputError(f"{name}: {key} holds NaN or inf")
    return value.astype(np.float64)


def load_statistics(
    path: str | os.PathLike[str], needs: ReferenceNeeds, weights_sha256: str | None
) -> tuple[Reference, bool]:
    """The reference parts stored in a statistics ``.npz``, and whether its images (``arr_0``) must
    still be scored for what ``needs`` asks and the file does not hold.

    Raises InputError naming the file: not a reference, wrong shapes or dtypes, NaN, computed with
    other weights than ``weights_sha256``, or lacking what is needed and holding no images.
    """
    name = os.fsdecode(path)
    kind = statistics_kind(name)
    info: dict[str, Any] = {"path": name, "kind": kind, "sha256": file_sha256(name), "num_images": None}
    parts: dict[str, Any] = {}
    with open_regular(name, name, "a reference .npz") as f, np.load(f, allow_pickle=False) as npz:
        keys = set(npz.files)
        if kind == KINDS["ours"]:
            try:
                provenance = json.loads(str(npz["inception_score"]))
            except (ValueError, TypeError):
                raise InputError(f"{name}: its provenance (inception_score) is not valid JSON") from None
            recorded = provenance.get("weights_sha256")
            if weights_sha256 and recorded and recorded != weights_sha256:
                raise InputError(
                    f"{name}: computed with other Inception weights (sha256 {str(recorded)[:16]}…, this run "
                    f"{weights_sha256[:16]}…); its statistics are not comparable: compute them again with these weights"
                )
            info["num_images"] = provenance.get("num_images")
            info["weights_sha256"] = recorded
            for key in PROVENANCE_KEYS:  # what produced it: compared with the run by the pipeline
                info[key] = provenance.get(key)
        for key in ("mu", "sigma", "mu_s", "sigma_s"):
            if key in keys and (kind != KINDS["adm-images"]):
                parts[key] = _checked(_array(npz, key, name), key, name)
        if "features" in keys and needs.features:
            features = _array(npz, "features", name)
            if features.ndim != 2 or features.shape[1] != FEATURE_DIM or not np.isfinite(features).all():
                raise InputError(f"{name}: features has shape {features.shape}; expected N x {FEATURE_DIM}, finite")
            parts["features"] = torch.from_numpy(features.astype(np.float32))
            info["num_images"] = info["num_images"] or int(features.shape[0])
    info["read"] = [key for key in ("mu", "sigma", "mu_s", "sigma_s", "features") if key in parts]
    has_images = "arr_0" in keys
    missing = [
        what
        for what, wanted, present in (
            ("mu and sigma", needs.moments, "mu" in parts and "sigma" in parts),
            ("mu_s and sigma_s (spatial statistics, for sFID)", needs.spatial, "mu_s" in parts and "sigma_s" in parts),
            ("the reference images' features (for KID and precision/recall)", needs.features, "features" in parts),
        )
        if wanted and not present
    ]
    if missing and not has_images:
        hint = (
            "compute a full reference with: inception-score stats REF_IMAGES --with-features --spatial -o ref.npz"
            if kind != KINDS["pytorch-fid"]
            else "pytorch-fid files hold mu and sigma only: give the reference images instead, or ask for FID "
            "alone (--metrics fid)"
        )
        raise InputError(f"{name}: {kind} without {'; without '.join(missing)}; {hint}")
    return Reference(info=info, **parts), bool(missing) and has_images


def load_sample_statistics(path: str | os.PathLike[str], needs: ReferenceNeeds) -> Reference:
    """The statistics stored in a *sample* batch, read as the ADM evaluator reads them.

    The evaluator calls ``read_statistics`` on the sample batch as on the reference batch
    (GD:48-49, 164-172): when the ``.npz`` holds ``mu``, FID and sFID use its ``mu``/``sigma`` and
    ``mu_s``/``sigma_s`` as they are, and ``arr_0`` gives only the Inception Score and
    precision/recall. Here each pair that ``needs`` asks for (``moments``: FID, ``spatial``: sFID)
    is read when stored and left to be computed from ``arr_0`` otherwise (*deviation*: the
    evaluator raises KeyError for a file with ``mu`` but no ``mu_s``, and computes both pairs when
    ``mu`` is absent). The result's ``info``: ``path``, ``sha256``, ``read`` and ``computed`` (the
    keys of each kind).

    Raises:
        InputError: a stored array of the wrong shape or dtype, or not finite (naming the file and key).
    """
    name = os.fsdecode(path)
    parts: dict[str, Any] = {}
    wanted = [pair for pair, asked in ((("mu", "sigma"), needs.moments), (("mu_s", "sigma_s"), needs.spatial)) if asked]
    with open_regular(name, name, "a sample batch (.npz)") as f, np.load(f, allow_pickle=False) as npz:
        keys = set(npz.files)
        for pair in wanted:
            if all(key in keys for key in pair):
                for key in pair:
                    parts[key] = _checked(_array(npz, key, name), key, name)
    read = [key for pair in wanted for key in pair if key in parts]
    computed = [key for pair in wanted for key in pair if key not in parts]
    info = {"path": name, "sha256": file_sha256(name) if read else None, "read": read, "computed": computed}
    return Reference(info=info, **parts)


def compare_provenance(info: dict[str, Any], precision: str) -> None:
    """Complete the reference's ``info`` with what produced its statistics (``precision``,
    ``preprocess_version``, ``package_version``: this run's for what this run computed, the file's
    record for a file of ours, None where a file records nothing), and warn where the reference was
    produced otherwise than these samples in a way that moves the numbers: another precision
    (bf16 ``fast`` features differ from ``exact`` ones by ~1e-3, so FID against a ``fast``
    reference is ~0.02 for a set against its own statistics), another preprocessing version (the
    resize or the network's input changed between package versions)."""
    ours = {"precision": precision, "preprocess_version": PREPROCESS_VERSION, "package_version": __version__}
    from_file = info.get("kind") == "inception-score statistics"
    if not from_file and info.get("read"):  # pytorch-fid's or an ADM batch's statistics: nothing recorded
        for key in PROVENANCE_KEYS:
            info.setdefault(key, None)
        info["produced_by"] = "not recorded (" + (info.get("kind") or "file") + ")"
        return
    if not from_file:  # computed in this run
        info.update(ours)
        return
    where = info.get("path")
    recorded = {key: info.get(key) for key in PROVENANCE_KEYS}
    if recorded["precision"] is not None and recorded["precision"] != precision:
        warn(
            f"ref: {where} was computed with --precision {recorded['precision']} and these samples with "
            f"{precision}: the features differ by the bf16 rounding (~1e-3), which moves FID and KID "
            f"(a set against its own fast statistics gives FID ~0.02, not 0); compute both with the same --precision"
        )
    if recorded["preprocess_version"] is not None and recorded["preprocess_version"] != PREPROCESS_VERSION:
        warn(
            f"ref: {where} was computed by inception-score {recorded['package_version']} with preprocessing "
            f"version {recorded['preprocess_version']}, this run uses version {PREPROCESS_VERSION} "
            f"(inception-score {__version__}): the features differ; compute the reference again with this version"
        )


def save_reference(path: str | os.PathLike[str], reference: Reference, provenance: dict[str, Any]) -> None:
    """Write ``reference`` as this package's statistics file (an uncompressed ``.npz``, atomically):
    pytorch-fid's ``mu``/``sigma`` (its ``--ref``-style inputs read them: pytorch-fid's ``fid_score.py``
    with a path ending in ``.npz``, clean-fid-style readers of ``mu``/``sigma``; *not* the ADM
    evaluator, which reads ``arr_0`` first and refuses a file without it), ``mu_s``/``sigma_s`` and
    ``features`` when present, and the provenance as JSON under ``inception_score``."""
    from ..atomic import atomic_write

    arrays: dict[str, np.ndarray] = {}
    for key in ("mu", "sigma", "mu_s", "sigma_s"):
        value = getattr(reference, key)
        if value is not None:
            arrays[key] = np.asarray(value, dtype=np.float64)
    if reference.features is not None:
        arrays["features"] = reference.features.detach().cpu().numpy().astype(np.float32)
    record = {"format": REFERENCE_FORMAT, "package_version": __version__, **provenance}
    arrays["inception_score"] = np.array(json.dumps(record))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def reference_tensors(reference: Reference) -> dict[str, torch.Tensor]:
    """The reference's arrays as tensors by ``"reference.<part>"`` (stored in statistics and state files)."""
    out: dict[str, torch.Tensor] = {}
    for key in ("mu", "sigma", "mu_s", "sigma_s"):
        value = getattr(reference, key)
        if value is not None:
            out[f"reference.{key}"] = torch.from_numpy(np.asarray(value, dtype=np.float64))
    if reference.features is not None:
        out["reference.features"] = reference.features.detach().cpu()
    return out


def reference_from_tensors(
    tensors: dict[str, torch.Tensor], info: dict[str, Any], prefix: str = "reference."
) -> Reference:
    """The inverse of :func:`reference_tensors` (``prefix="samples."``: a sample batch's stored statistics)."""
    parts: dict[str, Any] = {}
    for key in ("mu", "sigma", "mu_s", "sigma_s"):
        if f"{prefix}{key}" in tensors:
            parts[key] = tensors[f"{prefix}{key}"].double().numpy()
    if f"{prefix}features" in tensors:
        parts["features"] = tensors[f"{prefix}features"].float()
    return Reference(info=dict(info), **parts)


def _npy_rows(path: str, key: str) -> int | None:
    """The number of rows ``key`` declares in its .npy header inside the .npz (None if unreadable:
    reading it properly later gives the error)."""
    try:
        with open_regular(path, path, "a reference .npz") as f, zipfile.ZipFile(f) as zf:
            with zf.open(f"{key}.npy") as member:
                version = np.lib.format.read_magic(member)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape = read(member)[0]
    except (InputError, OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None
    return int(shape[0]) if len(shape) >= 1 else None


@dataclass(frozen=True)
class ReferenceSize:
    """What is known of the reference before its pass (and before the samples'): how many images
    it has where that is knowable, and the opened image sources when it is images."""

    count: int | None  # images whose features the run uses (or will compute); None: unknown (mu/sigma only)
    from_images: bool  # the moments will be computed from images (a covariance needs 2)
    sources: list[Any] | None = None  # the opened image sources (opened once)


def reference_size(ref: Any, options: Any, needs: ReferenceNeeds) -> ReferenceSize:
    """The reference's size, read without scoring it: a statistics file's ``features`` header, an
    ADM batch's ``arr_0`` header, the number of images of any other source (opened, not decoded).

    Raises InputError for a reference that cannot be opened (the same errors as its pass would give).
    """
    from ..inputs.npz import NpySource
    from ..inputs.sources import open_sources

    if isinstance(ref, str) and ref.lower().endswith(".npz") and os.path.isfile(ref):
        keys = set(_keys(ref))
        stored = statistics_kind(ref) != KINDS["adm-images"]
        covariance = (needs.moments and not (stored and {"mu", "sigma"} <= keys)) or (
            needs.spatial and not (stored and {"mu_s", "sigma_s"} <= keys)
        )  # a covariance to compute from arr_0
        if needs.features and "features" in keys:
            return ReferenceSize(_npy_rows(ref, "features"), from_images=False)
        if "arr_0" in keys and (needs.features or covariance):
            return ReferenceSize(len(NpySource(ref)), from_images=covariance)
        return ReferenceSize(None, from_images=False)
    sources = open_sources(ref, options.recursive, None, options.image_range)
    return ReferenceSize(sum(len(s) for s in sources), from_images=True, sources=sources)


def check_reference_size(metrics: Any, size: ReferenceSize, options: Any, name: str, num_samples: int | None) -> None:
    """Refuse, before any pass, a reference too small for a metric asked for: a covariance from
    fewer than 2 images (FID, sFID), fewer than k + 1 images for precision/recall (k = 3) or
    density/coverage (``--prdc-k``), fewer than ``--kid-subset-size`` for KID.

    ``num_samples``: the number of samples when known (KID's subsets are drawn from both sets).
    Raises InputError naming the reference, the metric and both counts.
    """
    from ..metrics.kernel import check_kid_sizes
    from ..metrics.manifold import PR_K
    from ..metrics.manifold import check_reference_size as check_neighbours

    count = size.count
    if count is None:
        return
    if size.from_images and count < 2 and ("fid" in metrics or "sfid" in metrics or options.fid_infinity):
        raise InputError(
            f"reference {name}: {plural(count, 'image')}; a covariance needs at least 2 (FID uses 10,000+)"
        )
    for metric, k, what in (("pr", PR_K, "precision/recall"), ("prdc", options.prdc_k, "density/coverage")):
        if metric in metrics:
            try:
                check_neighbours(count, k, what)
            except InputError as exc:
                raise InputError(f"ref: {name}: {exc}") from None
    if "kid" in metrics:
        check_kid_sizes(count if num_samples is None else num_samples, count, options.kid_subset_size)


def compute_reference(
    ref: Any,
    options: Any,
    forward: Any,
    work: Any,
    workers: int,
    needs: ReferenceNeeds,
    sources: list[Any] | None = None,
) -> Reference:
    """One pass of the run's network over the reference images: their pool3 mean and covariance
    (FID), spatial ones (sFID) and pool3 rows (KID, precision/recall), as ``needs`` asks.

    Under torchrun each rank scores a block of the reference and the sums are added, as for the
    samples; a ``--shard`` computes the whole reference (compute it once with ``inception-score
    stats`` and pass the file to spare that). ``sources``: ``ref`` already opened
    (:func:`reference_size` opens it to count its images).
    """
    from ..inputs.npz import NpySource
    from ..inputs.sources import open_sources
    from ..metrics.features import PooledFeatures
    from ..metrics.frechet import FrechetDistance, SpatialFrechetDistance
    from .distributed import all_reduce, block
    from .loop import Span, feed
    from .plan import next_batch_start, sums_device
    from .screening import screen_files

    is_npz = isinstance(ref, str) and ref.lower().endswith(".npz")
    if sources is not None:
        pass  # opened by reference_size
    elif isinstance(ref, list) and ref and all(hasattr(s, "batches") for s in ref):
        sources = ref  # already opened (inception-score stats)
    elif is_npz:
        sources = [NpySource(ref)]
    else:
        sources = open_sources(ref, options.recursive, None, options.image_range)
    screen_files(sources, options.on_error, options.num_workers, work.device)
    count = sum(len(s) for s in sources)
    name = ref if isinstance(ref, (str, os.PathLike)) else ", ".join(s.name for s in sources)
    if count < 2 and (needs.moments or needs.spatial):
        raise InputError(f"reference {name}: {count} image(s); a covariance needs at least 2 (FID uses 10,000+)")
    accumulators: list[Any] = []
    sums = sums_device(work.device)
    if needs.moments:
        accumulators.append(FrechetDistance(None, device=sums))
    if needs.spatial:
        accumulators.append(SpatialFrechetDistance(None, device=sums))
    features = PooledFeatures(count, device=sums) if needs.features else None
    if features is not None:
        accumulators.append(features)
    lo, hi = 0, count
    if work.world is not None:
        lo, hi = block(count, work.world.rank, work.world.size)
        lo, hi = next_batch_start(sources, work.batch_size, lo), next_batch_start(sources, work.batch_size, hi)
    span = Span(lo, hi, work.batch_size, workers, work.device.type == "cuda")
    moved = sums if sums != work.device else None
    feed(sources, forward, accumulators, span, progress=options.progress and work.is_main, label="ref img", sums=moved)
    if work.world is not None:
        all_reduce([t for a in accumulators for t in a.state().values()], work.device)
    parts: dict[str, Any] = {}
    for accumulator in accumulators:
        if isinstance(accumulator, FrechetDistance):
            try:
                mu, sigma = accumulator.moments()
            except InputError as exc:
                raise InputError(f"reference {name}: {exc}") from None
            keys = ("mu_s", "sigma_s") if isinstance(accumulator, SpatialFrechetDistance) else ("mu", "sigma")
            parts[keys[0]], parts[keys[1]] = mu.cpu().numpy(), sigma.cpu().numpy()
    if features is not None:
        parts["features"] = features.rows
    sha = file_sha256(ref) if isinstance(ref, (str, os.PathLike)) and os.path.isfile(ref) else None
    kind = "ADM reference batch (statistics computed from arr_0)" if is_npz else "images"
    info = {"path": os.fsdecode(name) if isinstance(name, (str, os.PathLike)) else str(name), "kind": kind,
            "num_images": count, "sha256": sha, "computed": [k for k in parts if k != "features"]}  # fmt: skip
    return Reference(info=info, **parts)
