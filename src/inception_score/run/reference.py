"""The reference set of a run (``--ref``), from statistics files or from a pass over real images.

``--ref REF`` is recognised by its content, not its name:

* a statistics file (``.npz``) of one of three kinds:

  - **this package's** (``inception-score stats``): ``mu``, ``sigma`` (pool3, float64, pytorch-fid's
    keys and conventions), optionally ``mu_s``/``sigma_s`` (the spatial features, sFID),
    ``features`` (the pool3 rows, KID and precision/recall), the same per other feature space
    (``mu_dinov2``, ``sigma_dinov2``, ``features_dinov2``; ``mu_clip``, ``sigma_clip``,
    ``features_clip``), and its provenance as JSON (``inception_score``: each network's weights'
    sha256 and preprocessing, N, the package version). A file computed with other weights (or
    another DINOv2 resize) is refused: its numbers are not comparable;
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

import dataclasses
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
from ..features.spaces import SPACES, part_key
from ..inputs.opening import one_line, open_regular
from ..metrics.frechet import SPATIAL_DIM
from ..metrics.names import METRICS, moment_spaces
from ..metrics.reference import FEATURE_KEYS, MOMENT_KEYS, Reference

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
# the key of each space's part -> (space, part); pool3 and spatial have fixed widths (_SHAPES), the
# others the width of the network that computed them (a smaller configuration in tests)
_PARTS = {
    part_key(p, s): (s, p) for s in SPACES for p in ("mu", "sigma", "features") if (s, p) != ("spatial", "features")
}


@dataclass(frozen=True)
class ReferenceNeeds:
    """What the run's metrics need of the reference: which spaces' mean and covariance, which spaces' rows.

    Example:
        >>> needs = ReferenceNeeds.of(("is", "fid", "kd_dinov2", "cmmd"))
        >>> sorted(needs.moments), sorted(needs.features)
        (['pool3'], ['clip', 'dinov2'])
    """

    moments: frozenset[str] = frozenset()  # spaces whose mu/sigma are needed (pool3: FID; spatial: sFID...)
    features: frozenset[str] = frozenset()  # spaces whose rows are needed (KID, P/R, D/C, CMMD...)

    @classmethod
    def of(cls, metrics: Any, fid_infinity: bool = False) -> ReferenceNeeds:
        """What ``metrics`` (names of :data:`~inception_score.metrics.names.METRICS`) need."""
        features = {METRICS[m][1] for m in metrics if m in METRICS and METRICS[m][0] in ("kd", "pr", "prdc", "cmmd")}
        return cls(frozenset(moment_spaces(metrics, fid_infinity)), frozenset(features))

    def keys(self) -> list[str]:
        """The reference parts these are: ``mu``, ``sigma``, ``features_dinov2``..."""
        out = [part_key(p, s) for s in SPACES if s in self.moments for p in ("mu", "sigma")]
        return out + [part_key("features", s) for s in SPACES if s in self.features]

    def spaces(self) -> set[str]:
        return set(self.moments) | set(self.features)

    def missing_from(self, reference: Reference) -> ReferenceNeeds:
        """What of these ``reference`` does not hold."""
        return ReferenceNeeds(
            frozenset(s for s in self.moments if reference.moments(s) is None),
            frozenset(s for s in self.features if reference.features_of(s) is None),
        )

    def __bool__(self) -> bool:
        return bool(self.moments or self.features)


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
    if "inception_score" in keys and any(k in keys for k in (*MOMENT_KEYS, *FEATURE_KEYS)):
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
    expected = _SHAPES.get(key)
    if expected is not None and value.shape != expected:
        layer = "spatial" if key.endswith("_s") else "pool3"
        raise InputError(
            f"{name}: {key} has shape {value.shape}, expected {expected} "
            f"(the {layer} features of the 2015 Inception graph)"
        )
    space, part = _PARTS[key]
    wrong_rank = expected is None and value.ndim != (1 if part == "mu" else 2)
    if wrong_rank or (part == "sigma" and value.shape[0] != value.shape[-1]):
        shape = {"mu": "D", "sigma": "D x D", "features": "N x D"}[part]
        raise InputError(f"{name}: {key} has shape {value.shape}, expected {shape} ({SPACES[space].label})")
    if not np.isfinite(value).all():
        raise InputError(f"{name}: {key} holds NaN or inf")
    return value.astype(np.float64 if part != "features" else np.float32)


def _check_widths(parts: dict[str, Any], name: str) -> None:
    """The parts of one space must have one width (mu D, sigma D x D, features N x D)."""
    for space in SPACES:
        widths = {key: parts[key].shape[-1] for key in (part_key(p, space) for p in ("mu", "sigma", "features"))
                  if key in parts}  # fmt: skip
        if len(set(widths.values())) > 1:
            shown = ", ".join(f"{k} {tuple(parts[k].shape)}" for k in widths)
            raise InputError(f"{name}: {shown}: the {SPACES[space].label} parts differ in width")


def load_statistics(
    path: str | os.PathLike[str],
    needs: ReferenceNeeds,
    weights_sha256: str | None,
    networks: dict[str, Any] | None = None,
    resize: str = "tf1",
) -> tuple[Reference, bool]:
    """The reference parts stored in a statistics ``.npz``, and whether its images (``arr_0``) must
    still be scored for what ``needs`` asks and the file does not hold.

    ``weights_sha256``: the run's Inception weights; ``networks``: what else the run's other
    networks must share with the file, by provenance key, for the spaces ``needs`` reads
    (``dinov2_weights_sha256``, ``dinov2_resize``, ``clip_weights_sha256``).

    Raises InputError naming the file: not a reference, wrong shapes or dtypes, NaN, computed with
    other weights than ``weights_sha256`` (or preprocessing) or another ``resize`` (this package's
    files record both), or
    lacking what is needed and holding no images.
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
            made = provenance.get("resize", "tf1")  # files from before --resize were all tf1
            if made != resize:
                raise InputError(
                    f"{name}: computed with --resize {made}, this run uses --resize {resize}; its statistics are not "
                    f"comparable: compute them again with `inception-score stats ... --resize {resize}` (or --match)"
                )
            for key, value in (networks or {}).items():
                space = key.split("_", 1)[0]  # dinov2_weights_sha256 -> dinov2
                theirs = provenance.get(key)
                if space in needs.spaces() and value and theirs and theirs != value:
                    raise InputError(
                        f"{name}: its {SPACES[space].label} were computed with {key} {str(theirs)[:16]}, this run "
                        f"uses {str(value)[:16]}; they are not comparable: compute them again with this run's settings"
                    )
            info["num_images"] = provenance.get("num_images")
            info["weights_sha256"] = recorded
            for key in PROVENANCE_KEYS:  # what produced it: compared with the run by the pipeline
                info[key] = provenance.get(key)
            for key in networks or {}:
                if provenance.get(key) is not None:
                    info[key] = provenance[key]
        for key in MOMENT_KEYS:
            if key in keys and (kind != KINDS["adm-images"]):
                parts[key] = _checked(_array(npz, key, name), key, name)
        for key in FEATURE_KEYS:
            space = _PARTS[key][0]
            if key in keys and space in needs.features:
                features = _array(npz, key, name)
                dim = f" x {FEATURE_DIM}" if space == "pool3" else " x D"
                if features.ndim != 2 or space == "pool3" and features.shape[1] != FEATURE_DIM:
                    raise InputError(f"{name}: {key} has shape {features.shape}; expected N{dim}, finite")
                if not np.isfinite(features).all():
                    raise InputError(f"{name}: {key} has shape {features.shape}; expected N{dim}, finite")
                parts[key] = torch.from_numpy(features.astype(np.float32))
                info["num_images"] = info["num_images"] or int(features.shape[0])
        _check_widths(parts, name)
    info["read"] = [key for key in (*MOMENT_KEYS, *FEATURE_KEYS) if key in parts]
    has_images = "arr_0" in keys
    found = Reference(**parts)
    lacking = needs.missing_from(found)
    missing = [_described(part, space) for space in SPACES for part, wanted in
               (("moments", space in lacking.moments), ("features", space in lacking.features)) if wanted]  # fmt: skip
    if missing and not has_images:
        hint = (
            "compute a full reference with: inception-score stats REF_IMAGES --with-features --spatial -o ref.npz"
            if kind != KINDS["pytorch-fid"]
            else "pytorch-fid files hold mu and sigma only: give the reference images instead, or ask for FID "
            "alone (--metrics fid)"
        )
        if any(space not in ("pool3", "spatial") for space in lacking.spaces()) and kind != KINDS["pytorch-fid"]:
            hint = "compute one with: inception-score stats REF_IMAGES --metrics METRICS --with-features -o ref.npz"
        raise InputError(f"{name}: {kind} without {'; without '.join(missing)}; {hint}")
    return Reference(info=info, **parts), bool(missing) and has_images


def _described(part: str, space: str) -> str:
    """How a missing part of a reference is named in a message."""
    if part == "moments":
        mu, sigma = part_key("mu", space), part_key("sigma", space)
        return {"pool3": "mu and sigma", "spatial": "mu_s and sigma_s (spatial statistics, for sFID)"}.get(
            space, f"{mu} and {sigma} (the {SPACES[space].label}' statistics)"
        )
    if space == "pool3":
        return "the reference images' features (for KID and precision/recall)"
    return f"{part_key('features', space)} (the reference images' {SPACES[space].label})"


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
    asked = ((("mu", "sigma"), "pool3" in needs.moments), (("mu_s", "sigma_s"), "spatial" in needs.moments))
    wanted = [pair for pair, wanted_pair in asked if wanted_pair]
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
    evaluator, which reads ``arr_0`` first and refuses a file without it), every other part it holds
    (``mu_s``/``sigma_s``, ``features``, ``mu_dinov2``, ``sigma_dinov2``, ``features_dinov2``,
    ``mu_clip``...: float64 moments, float32 features), and the provenance as JSON under ``inception_score``."""
    from ..atomic import atomic_write

    arrays: dict[str, np.ndarray] = {}
    for key in MOMENT_KEYS:
        value = getattr(reference, key)
        if value is not None:
            arrays[key] = np.asarray(value, dtype=np.float64)
    for key in FEATURE_KEYS:
        value = getattr(reference, key)
        if value is not None:
            arrays[key] = value.detach().cpu().numpy().astype(np.float32)
    record = {"format": REFERENCE_FORMAT, "package_version": __version__, **provenance}
    arrays["inception_score"] = np.array(json.dumps(record))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def reference_tensors(reference: Reference) -> dict[str, torch.Tensor]:
    """The reference's arrays as tensors by ``"reference.<part>"`` (stored in statistics and state files)."""
    out: dict[str, torch.Tensor] = {}
    for key in MOMENT_KEYS:
        value = getattr(reference, key)
        if value is not None:
            out[f"reference.{key}"] = torch.from_numpy(np.asarray(value, dtype=np.float64))
    for key in FEATURE_KEYS:
        value = getattr(reference, key)
        if value is not None:
            out[f"reference.{key}"] = value.detach().cpu()
    return out


def reference_from_tensors(
    tensors: dict[str, torch.Tensor], info: dict[str, Any], prefix: str = "reference."
) -> Reference:
    """The inverse of :func:`reference_tensors` (``prefix="samples."``: a sample batch's stored statistics)."""
    parts: dict[str, Any] = {}
    for key in MOMENT_KEYS:
        if f"{prefix}{key}" in tensors:
            parts[key] = tensors[f"{prefix}{key}"].double().numpy()
    for key in FEATURE_KEYS:
        if f"{prefix}{key}" in tensors:
            parts[key] = tensors[f"{prefix}{key}"].float()
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

    if isinstance(ref, str) and (ref.lower().endswith(".pkl") or (":" in ref and not os.path.exists(ref))):
        return ReferenceSize(None, from_images=False)  # an EDM2 pickle (statistics only) or a published name
    if isinstance(ref, str) and ref.lower().endswith(".npz") and os.path.isfile(ref):
        keys = set(_keys(ref))
        stored = statistics_kind(ref) != KINDS["adm-images"]
        covariance = any(
            not (stored and {part_key("mu", s), part_key("sigma", s)} <= keys) for s in needs.moments
        )  # a covariance to compute from arr_0
        kept = [part_key("features", s) for s in SPACES if s in needs.features]
        if kept and all(k in keys for k in kept):
            return ReferenceSize(_npy_rows(ref, kept[0]), from_images=False)
        if "arr_0" in keys and (needs.features or covariance):
            return ReferenceSize(len(NpySource(ref)), from_images=covariance)
        return ReferenceSize(None, from_images=False)
    sources = open_sources(ref, options.recursive, None, options.image_range)
    return ReferenceSize(sum(len(s) for s in sources), from_images=True, sources=sources)


def check_reference_size(metrics: Any, size: ReferenceSize, options: Any, name: str, num_samples: int | None) -> None:
    """Refuse, before any pass, a reference too small for a metric asked for: a covariance from
    fewer than 2 images (FID, sFID), fewer than k + 1 images for precision/recall (``--pr-k``) or
    density/coverage (``--prdc-k``) in any feature space, fewer than ``--kid-subset-size`` for KID.

    ``num_samples``: the number of samples when known (KID's subsets are drawn from both sets).
    Raises InputError naming the reference, the metric and both counts.
    """
    from ..metrics.kernel import check_kid_sizes
    from ..metrics.manifold import check_reference_size as check_neighbours
    from ..metrics.names import METRICS
    from ..presets import KID_SHRINKING

    count = size.count
    if count is None:
        return
    if size.from_images and count < 2 and ("fid" in metrics or "sfid" in metrics or options.fid_infinity):
        raise InputError(
            f"reference {name}: {plural(count, 'image')}; a covariance needs at least 2 (FID uses 10,000+)"
        )
    neighbours = {"pr": (options.pr_k, "precision/recall"), "prdc": (options.prdc_k, "density/coverage")}
    for metric in metrics:
        k, what = neighbours.get(METRICS.get(metric, ("", ""))[0], (None, ""))
        if k is not None:
            try:
                check_neighbours(count, k, what)
            except InputError as exc:
                raise InputError(f"ref: {name}: {exc}") from None
    if "kid" in metrics and getattr(options, "kid_protocol", "torch-fidelity") not in KID_SHRINKING:
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
    """One pass of the run's networks over the reference images: the mean and covariance of each
    space ``needs.moments`` names (pool3: FID; spatial: sFID; dinov2: FD_DINOv2...) and the rows of
    each space ``needs.features`` names (KID, precision/recall, CMMD...). Only the networks that
    give those spaces run (no Inception pass for a reference of CMMD alone).

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
        sources = [NpySource(ref, image_range=options.image_range)]
    else:
        sources = open_sources(ref, options.recursive, None, options.image_range)
    screen_files(sources, options.on_error, options.num_workers, work.device)
    count = sum(len(s) for s in sources)
    name = ref if isinstance(ref, (str, os.PathLike)) else ", ".join(s.name for s in sources)
    if count < 2 and needs.moments:
        raise InputError(f"reference {name}: {count} image(s); a covariance needs at least 2 (FID uses 10,000+)")
    accumulators: list[Any] = []
    sums = sums_device(work.device)
    ddof = 0 if getattr(options, "cov_divisor", "n-1") == "n" else 1  # StyleGAN divides by N, as for the samples
    dims = getattr(forward, "dims", {}) or {}
    moments: dict[str, FrechetDistance] = {}
    for space in (s for s in SPACES if s in needs.moments):
        if space == "spatial":
            moments[space] = SpatialFrechetDistance(None, device=sums, ddof=ddof)
        else:
            moments[space] = FrechetDistance(None, dims.get(space), device=sums, ddof=ddof, space=space)
    kept = {s: PooledFeatures(count, dims.get(s), device=sums, space=s) for s in SPACES if s in needs.features}
    accumulators += [*moments.values(), *kept.values()]
    lo, hi = 0, count
    if work.world is not None:
        lo, hi = block(count, work.world.rank, work.world.size)
        lo, hi = next_batch_start(sources, work.batch_size, lo), next_batch_start(sources, work.batch_size, hi)
    span = Span(lo, hi, work.batch_size, workers, work.device.type == "cuda")
    moved = sums if sums != work.device else None
    fields = tuple(f for f in needs.spaces())  # only the networks that give these run over the reference
    feed(sources, forward, accumulators, span, progress=options.progress and work.is_main, label="ref img", sums=moved,
         fields=fields)  # fmt: skip
    if work.world is not None:
        all_reduce([t for a in accumulators for t in a.state().values()], work.device)
    parts: dict[str, Any] = {}
    for space, accumulator in moments.items():
        try:
            mu, sigma = accumulator.moments()
        except InputError as exc:
            raise InputError(f"reference {name}: {exc}") from None
        parts[part_key("mu", space)], parts[part_key("sigma", space)] = mu.cpu().numpy(), sigma.cpu().numpy()
    for space, features in kept.items():
        parts[part_key("features", space)] = features.rows
    sha = file_sha256(ref) if isinstance(ref, (str, os.PathLike)) and os.path.isfile(ref) else None
    kind = "ADM reference batch (statistics computed from arr_0)" if is_npz else "images"
    computed = [k for k in parts if not k.startswith("features")]
    info = {"path": os.fsdecode(name) if isinstance(name, (str, os.PathLike)) else str(name), "kind": kind,
            "num_images": count, "sha256": sha, "computed": computed}  # fmt: skip
    if ddof == 0 and needs.moments:
        info["cov_divisor"] = "n"
    return Reference(info=info, **parts)


def with_divisor(reference: Reference, cov_divisor: str) -> Reference:
    """``reference`` with covariances divided by N when ``cov_divisor`` is ``"n"`` (StyleGAN).

    Statistics files hold ``np.cov``'s divisor N - 1 (pytorch-fid, ADM, EDM, this package): they
    are multiplied by (N - 1) / N when the file records N; otherwise they are used as they are,
    with a warning (at N = 50,000 the difference in FID is ~1e-4 relative). A reference computed
    in this run from images already used the run's divisor.

    Example:
        >>> import numpy as np
        >>> ref = Reference(mu=np.zeros(2), sigma=np.eye(2) * 4.0, info={"num_images": 4})
        >>> with_divisor(ref, "n").sigma.tolist()
        [[3.0, 0.0], [0.0, 3.0]]
    """
    if cov_divisor != "n" or reference.info.get("cov_divisor") == "n" or reference.sigma is None:
        return reference
    n = reference.info.get("num_images")
    where = reference.info.get("path") or "the reference"
    if not isinstance(n, int) or n < 2:
        warn(
            f"cov_divisor n: {where} does not record its number of images, so its covariance keeps the file's "
            "divisor (N - 1); FID moves by ~1e-4 relative at N = 50,000"
        )
        return reference
    scale = (n - 1) / n
    rescaled = {k: np.asarray(getattr(reference, k), dtype=np.float64) * scale
                for k in ("sigma", "sigma_s") if getattr(reference, k) is not None}  # fmt: skip
    info = {**reference.info, "cov_divisor": "n (rescaled from the file's n-1)"}
    return dataclasses.replace(reference, info=info, **rescaled)
