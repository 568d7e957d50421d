"""Published reference statistics by name: ``--ref adm:imagenet256``, ``edm2:img512``, ``clean-fid:...``.

Papers compare with reference files that their authors published in four formats, without a
checksum. Each is described here as data (:class:`PublishedRef`: URL, format, what it holds, the
``--match`` preset whose numbers it goes with, and where its URL and layout are documented), and
``inception-score refs`` lists them. A name given as ``--ref`` is located like the weights
(:mod:`inception_score.features.weights`): a copy in ``$TORCH_HOME/hub/checkpoints/inception-score-refs/``
(next to the weights) is used as it is; otherwise the file is downloaded there (streamed into a
temporary file, length checked, renamed when complete, one download at a time under a file
lock). Offline, or when the server fails, one line names the URL and the path to save it to. The
file's sha256 is recorded in the result; ``--ref-sha256 HEX`` pins it (any other file is refused,
and a download that does not match is discarded).

Formats, each read by the reader that already reads it:

* ``adm``: a guided-diffusion reference batch (``.npz``: ``arr_0`` images, ``mu``, ``sigma``,
  ``mu_s``, ``sigma_s``; GD ``evaluations/README.md``, evaluator.py:164-172);
* ``npz``: ``mu`` and ``sigma`` (EDM ``fid.py ref``: ``np.savez(dest, mu=mu, sigma=sigma)``;
  clean-fid's ``{name}_{mode}_{split}_{res}.npz``, CF ``features.py`` ``get_reference_statistics``);
* ``edm2-pickle``: a pickle ``{'num_images': N, 'fid': {'mu', 'sigma'}, 'fd_dinov2': {'mu',
  'sigma'}}`` (EDM2 ``calculate_metrics.py`` ``save_stats``), read by the unpickler of
  :mod:`inception_score.inputs.pickles`, which runs no code. Its ``fid`` part is the Inception
  reference; its ``fd_dinov2`` part is read and kept for the DINOv2 space (pending: wired once
  per-space references are on main).

Example:
    >>> REFS["edm:cifar10-32x32"].url
    'https://nvlabs-fi-cdn.nvidia.com/edm/fid-refs/cifar10-32x32.npz'
    >>> is_published_name("clean-fid:cifar10/train/32/clean"), is_published_name("real/")
    (True, False)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OptionsError, WeightsError

__all__ = ["PublishedRef", "REFS", "is_published_name", "locate_published", "refs_dir", "read_edm2_pickle"]


@dataclass(frozen=True)
class PublishedRef:
    """One published reference file, as data."""

    name: str  # family:dataset, as given to --ref
    url: str
    format: str  # adm, npz, edm2-pickle
    holds: str  # what the file contains
    preset: str  # the --match preset whose numbers it goes with
    source: str  # where the URL and layout are documented (repository, commit, file, lines)

    @property
    def filename(self) -> str:
        """The cache's name for it: the URL's last part, under a folder per family."""
        return f"{self.name.split(':', 1)[0]}/{self.url.rsplit('/', 1)[-1]}"


_GD = "openai/guided-diffusion 22e0df8 evaluations/README.md:13-49 (layout: evaluations/evaluator.py:164-172)"
_GD_URL = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/ref_batches"
_ADM_HOLDS = "ADM reference batch: arr_0 images, mu, sigma (pool3), mu_s, sigma_s (spatial)"
_EDM = "NVlabs/edm 008a4e5 README.md:131-183 (layout: fid.py ref, np.savez(dest, mu=mu, sigma=sigma))"
_EDM2 = "NVlabs/edm2 4bf8162 README.md:106-109, 185-189 (layout: calculate_metrics.py:120-137, 196-200)"
_CF = (
    "GaParmar/clean-fid e88c4d6 README.md:141-163 'Supported Precomputed Datasets' (URL pattern: "
    "cleanfid/features.py:99-108 get_reference_statistics)"
)
_CF_URL = "https://www.cs.cmu.edu/~clean-fid/stats"

_ADM_BATCHES = {  # name -> path under ref_batches/ (GD evaluations/README.md)
    "imagenet64": "imagenet/64/VIRTUAL_imagenet64_labeled.npz",
    "imagenet128": "imagenet/128/VIRTUAL_imagenet128_labeled.npz",
    "imagenet256": "imagenet/256/VIRTUAL_imagenet256_labeled.npz",
    "imagenet512": "imagenet/512/VIRTUAL_imagenet512.npz",
    "lsun-bedroom256": "lsun/bedroom/VIRTUAL_lsun_bedroom256.npz",
    "lsun-cat256": "lsun/cat/VIRTUAL_lsun_cat256.npz",
    "lsun-horse256": "lsun/horse/VIRTUAL_lsun_horse256.npz",
}
_EDM_REFS = ("cifar10-32x32", "ffhq-64x64", "afhqv2-64x64", "imagenet-64x64", "imagenet-64x64-baseline")
_EDM2_REFS = {
    "img512": "ImageNet 512x512 (EDM2 README names this file)",
    "img64": "ImageNet 64x64 (in the same dataset-refs/ folder the README links; not named in it)",
}
_CLEAN_FID = (  # (dataset, split, resolution) of the README's table; modes clean and legacy_tensorflow
    ("cifar10", "train", 32), ("cifar10", "test", 32), ("ffhq", "trainval", 256), ("ffhq", "trainval", 1024),
    ("ffhq", "trainval70k", 256), ("ffhq", "trainval70k", 1024), ("lsun_church", "train", 256),
    ("lsun_horse", "train", 256), ("lsun_cat", "train", 256), ("afhq_cat", "train", 512), ("afhq_dog", "train", 512),
    ("afhq_wild", "train", 512), ("brecahad", "train", 512), ("metfaces", "train", 1024),
)  # fmt: skip


def _catalogue() -> dict[str, PublishedRef]:
    refs = [PublishedRef(f"adm:{k}", f"{_GD_URL}/{v}", "adm", _ADM_HOLDS, "adm", _GD) for k, v in _ADM_BATCHES.items()]
    refs += [
        PublishedRef(f"edm:{k}", f"https://nvlabs-fi-cdn.nvidia.com/edm/fid-refs/{k}.npz", "npz",
                     "EDM fid-refs: mu, sigma (pool3, divisor N - 1; N not recorded)", "edm2", _EDM)
        for k in _EDM_REFS
    ]  # fmt: skip
    refs += [
        PublishedRef(f"edm2:{k}", f"https://nvlabs-fi-cdn.nvidia.com/edm2/dataset-refs/{k}.pkl", "edm2-pickle",
                     f"EDM2 dataset-refs pickle, {v}: num_images, fid (mu, sigma), fd_dinov2 (mu, sigma)", "edm2",
                     _EDM2)
        for k, v in _EDM2_REFS.items()
    ]  # fmt: skip
    for dataset, split, res in _CLEAN_FID:
        for mode, preset in (("clean", "clean-fid"), ("legacy_tensorflow", "clean-fid-legacy")):
            file = f"{dataset}_{mode}_{split}_{res}.npz"
            refs.append(
                PublishedRef(f"clean-fid:{dataset}/{split}/{res}/{mode}", f"{_CF_URL}/{file}", "npz",
                             f"clean-fid statistics ({mode} mode): mu, sigma (pool3, N not recorded)", preset, _CF)
            )  # fmt: skip
    return {r.name: r for r in refs}


#: Every published reference this package knows, by name.
REFS: dict[str, PublishedRef] = _catalogue()
_FAMILIES = tuple(sorted({name.split(":", 1)[0] for name in REFS}))


def is_published_name(ref: Any) -> bool:
    """Whether ``ref`` is written as a published name (``family:dataset``) rather than a path.

    An existing path wins, so a file that happens to be called ``adm:x`` is still read as a file.
    """
    if not isinstance(ref, str) or os.path.exists(ref):
        return False
    family = ref.split(":", 1)[0]
    return ":" in ref and family in _FAMILIES


def refs_dir() -> Path:
    """Where published references are cached, next to the weights (``$TORCH_HOME/hub/checkpoints/...-refs``)."""
    from ..features.weights import hub_checkpoint_dir

    return hub_checkpoint_dir() / "inception-score-refs"


def _check_pin(pin: str | None) -> str | None:
    if pin is None:
        return None
    text = pin.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise OptionsError(f"ref_sha256: got {pin!r}, expected the 64 hexadecimal digits of a sha256")
    return text


def locate_published(name: str, sha256: str | None = None, progress: bool = True) -> tuple[Path, PublishedRef]:
    """The local copy of the published reference ``name``, downloaded into :func:`refs_dir` if needed.

    Raises:
        OptionsError: an unknown name (the known ones of its family are listed), or a pin that is
            not a sha256.
        InputError: the file could not be downloaded (the URL, the reason and where to save it by
            hand), or it does not have the pinned sha256 (a cached copy is then left in place and
            named; a download is discarded).
    """
    from ..features.weights import download, sha256_file

    pin = _check_pin(sha256)
    entry = REFS.get(name)
    if entry is None:
        family = name.split(":", 1)[0]
        known = [n for n in REFS if n.startswith(family + ":")]
        raise OptionsError(f"ref: unknown published reference {name!r}; known {family} ones: {', '.join(known)} "
                           "(all: inception-score refs)")  # fmt: skip
    dest = refs_dir() / entry.filename
    if not dest.is_file():
        try:
            dest = download(entry.url, dest, pin, progress=progress)
        except WeightsError as exc:
            reason = getattr(exc, "reason", str(exc))
            raise InputError(
                f"ref: {name}: could not download {entry.url} ({reason}); download it yourself and save it as "
                f"{dest} (or give the file's path as --ref), then run again"
            ) from None
    if pin is not None:
        got = sha256_file(dest)
        if got != pin:
            raise InputError(
                f"ref: {name}: {dest} has sha256 {got}, not the pinned {pin} (--ref-sha256); the file changed on "
                "the server or on disk: check it, and delete it to download it again"
            )
    return dest, entry


def read_edm2_pickle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """An EDM2 reference pickle as ``{"num_images": N or None, "fid": {"mu", "sigma"}, "fd_dinov2": {...}}``.

    Read by :func:`~inception_score.inputs.pickles.safe_load` (no code runs). Every part present is
    returned as float64 arrays, checked: ``mu`` D and ``sigma`` D x D, finite. Raises InputError
    naming the file for anything else (a ``.npz`` is read as EDM2 does: ``{'fid': dict(np.load(f))}``).
    """
    from ..inputs.opening import open_regular
    from ..inputs.pickles import safe_load

    name = os.fsdecode(path)
    with open_regular(name, name, "an EDM2 reference pickle (.pkl)") as f:
        loaded = safe_load(f, name)
    if not isinstance(loaded, dict) or "fid" not in loaded:
        found = sorted(map(str, loaded)) if isinstance(loaded, dict) else type(loaded).__name__
        raise InputError(f"{name}: not an EDM2 reference pickle; expected a dict with 'fid' (and 'fd_dinov2'), "
                         f"found {found}")  # fmt: skip
    out: dict[str, Any] = {"num_images": loaded.get("num_images")}
    if out["num_images"] is not None and not isinstance(out["num_images"], (int, np.integer)):
        raise InputError(f"{name}: num_images is {type(out['num_images']).__name__}, expected an integer")
    for part in ("fid", "fd_dinov2"):
        if part not in loaded:
            continue
        value = loaded[part]
        if not isinstance(value, dict) or "mu" not in value or "sigma" not in value:
            raise InputError(f"{name}: {part} is not a dict with mu and sigma")
        mu, sigma = (np.asarray(value[k]) for k in ("mu", "sigma"))
        if mu.dtype.kind not in "fiu" or sigma.dtype.kind not in "fiu":
            raise InputError(f"{name}: {part} mu/sigma are not arrays of numbers ({mu.dtype}, {sigma.dtype})")
        if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
            raise InputError(f"{name}: {part} mu has shape {mu.shape} and sigma {sigma.shape}; expected D and D x D")
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise InputError(f"{name}: {part} holds NaN or inf")
        out[part] = {"mu": mu.astype(np.float64), "sigma": sigma.astype(np.float64)}
    if out["num_images"] is not None:
        out["num_images"] = int(out["num_images"])
    return out
