"""Find, download, verify and load the weights of each network (Inception, DINOv2, CLIP).

The Inception Score is defined on Google's 2015-12-05 Inception graph
(``classify_image_graph_def.pb`` in TensorFlow's ``inception-2015-12-05.tgz``,
Apache License 2.0). Two projects publish the same PyTorch conversion of it
(torch.hub sha256 prefix ``6726825d``): torch-fidelity and pytorch-fid. This
module describes those weights as data (:data:`INCEPTION_2015`) and finds a
local copy in this order:

1. a path given explicitly (``--weights PATH``);
2. the environment variable ``INCEPTION_SCORE_WEIGHTS``;
3. either published file name already in the torch.hub checkpoint directory
   (``$TORCH_HOME/hub/checkpoints``), so torch-fidelity and pytorch-fid users
   download nothing;
4. a download from each published URL in turn, verified against the sha256
   prefix and written atomically into that directory.

Every network's weights are one such declaration (:class:`WeightsSpec`): file names,
URLs, the expected sha256 prefix when one is published, the environment variable and the
option that name a file, and, for weights distributed through the Hugging Face Hub, the
repository and file whose cached copy is used (:data:`DINOV2_VITL14`, :data:`CLIP_VITL14_336`).
The same four steps find each of them; only the declaration differs.

Checkpoints are always loaded with ``torch.load(..., weights_only=True)`` (``.safetensors``
files with ``safetensors``, by the network that reads them): a weights file can never run
code. A tensor holding NaN or inf is refused.

Importing this module is cheap: ``torch``, ``tqdm`` and ``filelock`` are
imported only by the functions that need them.

Example:
    >>> from .weights import INCEPTION_2015
    >>> INCEPTION_2015.sha256_prefix
    '6726825d'
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from ..atomic import atomic_write
from ..errors import WeightsError, printable, warn

if TYPE_CHECKING:
    import torch

__all__ = [
    "CLIP_VITL14_336",
    "DINOV2_VITL14",
    "ENV_VAR",
    "INCEPTION_2015",
    "Origin",
    "ResolvedWeights",
    "WeightsSpec",
    "download",
    "fallback_dir",
    "hf_hub_cache_dir",
    "hub_checkpoint_dir",
    "load_state_dict",
    "locate_weights",
    "sha256_file",
]

#: Environment variable naming a weights file to use instead of the cache.
ENV_VAR = "INCEPTION_SCORE_WEIGHTS"

#: Where :func:`locate_weights` found the file.
Origin = Literal["argument", "environment", "cache", "download"]

_CHUNK = 1 << 20  # 1 MiB
_MAX_REASON = 300  # characters of a foreign exception message kept in ours


@dataclass(frozen=True)
class WeightsSpec:
    """Where a set of published weights can be found and how to recognise it.

    ``filenames[i]`` is the name under which ``urls[i]`` is saved in the cache;
    ``sha256_prefix`` is the start of the file's sha256 hex digest (the torch.hub
    convention of putting it in the file name), or None where the publisher gives
    no hash (DINOv2, CLIP: then the sha256 seen is recorded in every result, and
    nothing is compared). ``network`` names the weights in messages, ``env_var``
    and ``option`` are how a user names a file, ``file_format`` what the file is
    (for messages); ``hf_repo``/``hf_filename``: a Hugging Face Hub repository
    and file whose cached copy is used when present. Raises ValueError when these
    do not fit together.

    Example:
        >>> spec = WeightsSpec("demo", ("demo-0123abcd.pth",),
        ...                    ("https://example.org/demo-0123abcd.pth",),
        ...                    "0123abcd", "made up", "CC0")
        >>> spec.filenames[0]
        'demo-0123abcd.pth'
    """

    name: str
    filenames: tuple[str, ...]
    urls: tuple[str, ...]
    sha256_prefix: str | None
    origin: str
    license: str
    network: str = "Inception"
    env_var: str = ENV_VAR
    option: str = "--weights"
    file_format: str = "a PyTorch state dict, .pth"
    hf_repo: str | None = None
    hf_filename: str | None = None

    def __post_init__(self) -> None:
        if not self.urls or len(self.filenames) != len(self.urls):
            raise ValueError(
                f"WeightsSpec {self.name!r}: got {len(self.filenames)} file names and "
                f"{len(self.urls)} URLs, expected one file name per URL (at least one)"
            )
        for filename in self.filenames:
            if not filename or Path(filename).name != filename:
                raise ValueError(
                    f"WeightsSpec {self.name!r}: file name {filename!r} is not a bare "
                    "file name, expected something like 'weights.pth'"
                )
        prefix = self.sha256_prefix
        if prefix is not None and (not prefix or any(c not in "0123456789abcdef" for c in prefix)):
            raise ValueError(
                f"WeightsSpec {self.name!r}: sha256_prefix {prefix!r} is not lower-case "
                "hexadecimal, expected e.g. '6726825d'"
            )


#: Google's 2015-12-05 Inception graph as converted by torch-fidelity and pytorch-fid.
INCEPTION_2015 = WeightsSpec(
    name="inception-2015-12-05",
    filenames=(
        "weights-inception-2015-12-05-6726825d.pth",
        "pt_inception-2015-12-05-6726825d.pth",
    ),
    urls=(
        ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"),
        ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"),
    ),
    sha256_prefix="6726825d",
    origin=(
        "TensorFlow inception-2015-12-05.tgz (classify_image_graph_def.pb), "
        "converted to PyTorch by torch-fidelity / pytorch-fid"
    ),
    license="Apache License 2.0",
)

#: DINOv2 ViT-L/14 (Oquab et al. 2023), the network of FD_DINOv2: the file torch.hub.load(
#: 'facebookresearch/dinov2', 'dinov2_vitl14') downloads (DINO hub/backbones.py), so EDM2 and
#: dgm-eval users have it already. Meta publishes no hash: the sha256 seen is recorded.
DINOV2_VITL14 = WeightsSpec(
    name="dinov2_vitl14_pretrain",
    filenames=("dinov2_vitl14_pretrain.pth",),
    urls=("https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth",),
    sha256_prefix=None,
    origin="facebookresearch/dinov2 (Oquab et al. 2023), ViT-L/14 pretrained backbone, 343 tensors",
    license="Apache License 2.0",
    network="DINOv2",
    env_var="INCEPTION_SCORE_DINOV2_WEIGHTS",
    option="--dinov2-weights",
    file_format="the PyTorch state dict dinov2_vitl14_pretrain.pth",
)

#: OpenAI CLIP ViT-L/14 at 336 px (Radford et al. 2021), the network of CMMD, in the Hugging Face
#: layout (the same weights as OpenAI's ViT-L-14-336px.pt, which Google's CMMD code converts with
#: scenic). Found in the Hugging Face cache where transformers / diffusers users have it; a
#: download is saved under the torch.hub checkpoint directory. No hash is published with it.
CLIP_VITL14_336 = WeightsSpec(
    name="clip-vit-large-patch14-336",
    filenames=("openai--clip-vit-large-patch14-336--model.safetensors",),
    urls=("https://huggingface.co/openai/clip-vit-large-patch14-336/resolve/main/model.safetensors",),
    sha256_prefix=None,
    origin="OpenAI CLIP ViT-L/14@336px (Radford et al. 2021), Hugging Face openai/clip-vit-large-patch14-336",
    license="MIT",
    network="CLIP",
    env_var="INCEPTION_SCORE_CLIP_WEIGHTS",
    option="--clip-weights",
    file_format="the Hugging Face model.safetensors of openai/clip-vit-large-patch14-336",
    hf_repo="openai/clip-vit-large-patch14-336",
    hf_filename="model.safetensors",
)


@dataclass(frozen=True)
class ResolvedWeights:
    """The weights file that will be used, its full sha256 and where it was found.

    Example:
        >>> ResolvedWeights(Path("w.pth"), "6726825d" + "0" * 56, "cache").source
        'cache'
    """

    path: Path
    sha256: str
    source: Origin


def hub_checkpoint_dir() -> Path:
    """The torch.hub checkpoint directory, ``$TORCH_HOME/hub/checkpoints`` by default.

    This is where torch-fidelity and pytorch-fid cache these same weights.

    Example:
        >>> hub_checkpoint_dir().name
        'checkpoints'
    """
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def hf_hub_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The Hugging Face Hub cache, where ``huggingface_hub`` (transformers, diffusers) keeps files.

    ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub``, else
    ``~/.cache/huggingface/hub`` (huggingface_hub ``constants.py``).

    Example:
        >>> hf_hub_cache_dir({"HF_HOME": "/data/hf"}).as_posix()
        '/data/hf/hub'
    """
    env = os.environ if env is None else env
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    base = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def _hf_cached(spec: WeightsSpec, env: Mapping[str, str]) -> Path | None:
    """``spec``'s file in the Hugging Face cache: the snapshot ``refs/main`` names, else the most
    recently modified snapshot that holds it; None when there is none."""
    if spec.hf_repo is None or spec.hf_filename is None:
        return None
    repo = hf_hub_cache_dir(env) / ("models--" + spec.hf_repo.replace("/", "--"))
    with contextlib.suppress(OSError):
        main = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
        if main and (candidate := repo / "snapshots" / main / spec.hf_filename).is_file():
            return candidate
    try:
        found = [p for p in (repo / "snapshots").glob(f"*/{spec.hf_filename}") if p.is_file()]
        return max(found, key=lambda p: p.stat().st_mtime, default=None)
    except OSError:
        return None


def fallback_dir() -> Path:
    """Where downloads go when the checkpoint directory cannot be written.

    Example:
        >>> fallback_dir().name
        'inception-score-weights'
    """
    return Path(tempfile.gettempdir()) / "inception-score-weights"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Full sha256 hex digest of the file at ``path``, read in 1 MiB chunks; OSError if unreadable.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile() as f:
        ...     sha256_file(f.name)[:8]
        'e3b0c442'
    """
    with open(path, "rb") as f:
        info = os.fstat(f.fileno())
        # Hashing 95 MB takes ~0.3 s, paid twice per run (cache check, then the result's hash)
        # and again on every compute() of a training loop. A file with the same device, inode,
        # size and modification time (ns) is taken to be unchanged, as make and rsync do.
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        if (known := _DIGESTS.get(identity)) is not None:
            return known
        digest = hashlib.sha256()
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    _DIGESTS[identity] = digest.hexdigest()
    return _DIGESTS[identity]


_DIGESTS: dict[tuple[int, int, int, int], str] = {}  # file identity -> sha256, for this process


class _DownloadError(WeightsError):
    """A download failed; ``reason`` is the short cause, without the URL."""

    def __init__(self, url: str, dest: Path, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Could not download {url} to {dest}: {reason}")


def _one_line(text: object) -> str:
    """``text`` collapsed to a single line of at most ``_MAX_REASON`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 3] + "..."


def _reason(exc: BaseException) -> str:
    """Short human reason for a failed transfer or file operation."""
    if isinstance(exc, urllib.error.HTTPError):
        return _one_line(f"HTTP {exc.code} {exc.reason}")
    if isinstance(exc, urllib.error.URLError):
        return _one_line(exc.reason)
    if isinstance(exc, http.client.IncompleteRead):
        return f"connection closed after {len(exc.partial)} bytes of {(exc.expected or 0) + len(exc.partial)}"
    text = _one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _writable_dir(directory: Path) -> str | None:
    """Create ``directory`` and check a file can be made in it; the reason if not."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return _reason(exc)
    return None


def _is_valid(path: Path, sha256_prefix: str | None) -> bool:
    """Whether ``path`` is a readable file whose sha256 starts with ``sha256_prefix`` (any file if None)."""
    try:
        return path.is_file() and (sha256_prefix is None or sha256_file(path).startswith(sha256_prefix.lower()))
    except OSError:
        return False


def _fetch(url: str, dest: Path, sha256_prefix: str | None, *, progress: bool, timeout: float) -> None:
    """Stream ``url`` into ``dest`` through :func:`atomic_write`, checking its length and sha256.

    Our own loop rather than ``torch.hub.download_url_to_file`` (torch 2.x), which calls
    ``urlopen`` without a timeout (a stalled mirror would hang the run for ever instead of
    failing over to the next one) and accepts a body cut short when no hash is given (it never
    compares the bytes received with Content-Length). ``atomic_write`` does the rest: a
    temporary file next to ``dest``, fsync, rename, and removal on any failure, Ctrl-C included.
    """
    from tqdm import tqdm

    def receive(f: IO[bytes]) -> None:
        request = urllib.request.Request(url, headers={"User-Agent": "inception-score (python urllib)"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            digest, received = hashlib.sha256(), 0
            bar_options = {"unit": "B", "unit_scale": True, "unit_divisor": 1024, "leave": False, "file": sys.stderr}
            with tqdm(total=total, desc=dest.name, disable=not progress, **bar_options) as bar:
                while chunk := response.read(_CHUNK):
                    f.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise _DownloadError(url, dest, f"connection closed after {received} bytes of {total}")
        got = digest.hexdigest()
        if sha256_prefix is not None and not got.startswith(sha256_prefix.lower()):
            raise _DownloadError(
                url,
                dest,
                f"sha256 {got} does not start with the expected prefix {sha256_prefix}; the file was discarded",
            )

    try:
        atomic_write(dest, receive)
    except WeightsError:
        raise
    except Exception as exc:
        raise _DownloadError(url, dest, _reason(exc)) from exc


def download(
    url: str,
    dest: Path,
    sha256_prefix: str | None,
    *,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` atomically and return the path actually written.

    The body is streamed into a temporary file next to ``dest`` while its sha256 is
    computed; only a complete transfer (as long as its Content-Length) whose digest
    starts with ``sha256_prefix`` (``None``: no check) is fsynced and renamed to
    ``dest``. ``timeout`` bounds each connect and read, in seconds. On any failure
    the temporary file is deleted, nothing is left at ``dest`` and a one-line
    :class:`WeightsError` naming the URL is raised (a ``KeyboardInterrupt`` is
    cleaned up the same way and re-raised as is).

    Concurrent calls for the same ``dest``, in threads or processes, are serialised
    by a ``filelock.FileLock`` on ``<dest>.lock``; a caller that gets the lock after
    another one finished returns the existing valid file without downloading it
    again. An existing ``dest`` is valid when its sha256 starts with the prefix
    (any file when the prefix is ``None``).

    If ``dest``'s directory cannot be created or written, the file goes to
    :func:`fallback_dir` instead, with a warning; the returned path says where.

    Example:
        >>> download("https://example.org/w.pth", Path("/tmp/w.pth"), "0123abcd")
        ... # doctest: +SKIP
        PosixPath('/tmp/w.pth')
    """
    from filelock import FileLock

    dest = Path(dest)
    problem = _writable_dir(dest.parent)
    if problem is not None:
        fallback = fallback_dir()
        fallback_problem = _writable_dir(fallback)
        if fallback_problem is not None:
            raise _DownloadError(
                url, dest, f"cannot write to {dest.parent} ({problem}) nor to {fallback} ({fallback_problem})"
            )
        warn(f"Cannot write to {dest.parent} ({problem}); saving {dest.name} in {fallback} instead.")
        dest = fallback / dest.name

    lock_path = dest.with_name(dest.name + ".lock")
    lock = FileLock(lock_path)
    try:
        lock.acquire()
    except OSError as exc:
        raise _DownloadError(url, dest, f"cannot lock {lock_path}: {_reason(exc)}") from exc
    try:
        if not _is_valid(dest, sha256_prefix):  # another caller may have finished while we waited
            _fetch(url, dest, sha256_prefix, progress=progress, timeout=timeout)
    finally:
        lock.release()
        # filelock leaves the lock file on POSIX; remove it so that the cache holds only weights.
        # A waiter that opened it before this unlink may then share the lock with a newcomer: at
        # worst both download, each atomically, after a failed download; never a damaged file.
        with contextlib.suppress(OSError):
            lock_path.unlink()
    return dest


def _checked_file(path: Path, how: str, spec: WeightsSpec = INCEPTION_2015) -> Path:
    """Return ``path`` if it is an existing file, else raise a one-line error."""
    if path.is_file():
        return path
    state = "is not a file" if path.exists() else "does not exist"
    raise WeightsError(
        f"{spec.network} weights {path} ({how}) {state}; expected an existing file such as "
        f"{spec.hf_filename or spec.filenames[0]} ({spec.file_format})."
    )


def _find(
    explicit: str | os.PathLike[str] | None, spec: WeightsSpec, progress: bool, env: Mapping[str, str]
) -> tuple[Path, Origin]:
    """The weights file to use and where it was found; see :func:`locate_weights`."""
    if explicit is not None:
        path = Path(os.fspath(explicit)).expanduser()
        return _checked_file(path, f"given as {spec.option} / argument", spec), "argument"
    if from_env := env.get(spec.env_var, ""):
        path = Path(from_env).expanduser()
        return _checked_file(path, f"from environment variable {spec.env_var}", spec), "environment"
    if (cached := _hf_cached(spec, env)) is not None:
        return cached, "cache"

    hub = hub_checkpoint_dir()
    for filename in spec.filenames:
        if (hub / filename).is_file():
            return hub / filename, "cache"
    # An earlier download may have fallen back to the temporary directory; that
    # directory is shared, so only trust a copy whose hash matches (none without a
    # published hash: anyone could have put it there).
    for filename in spec.filenames if spec.sha256_prefix is not None else ():
        if _is_valid(fallback_dir() / filename, spec.sha256_prefix):
            return fallback_dir() / filename, "cache"

    failures: list[str] = []
    for url, filename in zip(spec.urls, spec.filenames, strict=True):
        try:
            return download(url, hub / filename, spec.sha256_prefix, progress=progress), "download"
        except _DownloadError as exc:
            failures.append(f"{url}: {exc.reason}")
    raise WeightsError(
        f"{spec.network} weights not found and could not be downloaded ({'; '.join(failures)}). "
        f"Download {spec.urls[0]} yourself and save it as {hub / spec.filenames[0]}, "
        f"or pass {spec.option} PATH (or set {spec.env_var})."
    )


def locate_weights(
    explicit: str | os.PathLike[str] | None = None,
    spec: WeightsSpec = INCEPTION_2015,
    *,
    progress: bool = True,
    env: Mapping[str, str] | None = None,
) -> ResolvedWeights:
    """The weights file to use, its sha256 and where it was found, downloading it if needed.

    Order: ``explicit`` (must be an existing file); ``$INCEPTION_SCORE_WEIGHTS``
    (``spec.env_var``; same check; read from ``env`` when given, else ``os.environ``;
    empty means unset); the Hugging Face cache's copy (:func:`hf_hub_cache_dir`) for
    a spec with ``hf_repo``; any of ``spec.filenames`` in :func:`hub_checkpoint_dir`;
    a copy whose hash matches in :func:`fallback_dir`; then a download of each of
    ``spec.urls`` in turn into the checkpoint directory under the matching file
    name. Files given explicitly or through the environment are not hash-checked
    (they may be your own conversion); downloads always are.

    Raises :class:`WeightsError` with a one-line message when nothing works.

    Example:
        >>> locate_weights("/nonexistent.pth")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        inception_score.errors.WeightsError: Inception weights /nonexistent.pth (given as --weights ...
    """
    path, origin = _find(explicit, spec, progress, os.environ if env is None else env)
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise WeightsError(
            f"Cannot read {spec.network} weights {path}: {_reason(exc)}; expected a readable file."
        ) from exc
    if origin == "cache" and spec.sha256_prefix is not None and not digest.startswith(spec.sha256_prefix):
        # found by name only: say it is not the file
        warn(
            f"{spec.network} weights {path} (torch hub cache) have sha256 {digest[:8]}..., not {spec.sha256_prefix}... "
            "as the published weights: scores are not comparable with published numbers (delete the file to "
            "download the real weights)"
        )
    return ResolvedWeights(path=path, sha256=digest, source=origin)


def _load_failure(exc: BaseException) -> str:
    """Short reason for a failed ``torch.load(..., weights_only=True)``."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    marker = "WeightsUnpickler error:"
    if marker in text:
        detail = re.split(r"\.\s|\n\s*\n", text.split(marker, 1)[1].strip())[0]
        return (
            f"torch.load(weights_only=True) refused it ({_one_line(detail)}): it is "
            "corrupt or holds objects other than tensors, which could run code"
        )
    first = re.split(r"\.\s|\n\s*\n", text.strip())[0]
    return f"torch.load failed ({type(exc).__name__}: {_one_line(first)})"


def load_state_dict(path: str | os.PathLike[str], spec: WeightsSpec = INCEPTION_2015) -> dict[str, torch.Tensor]:
    """Load a checkpoint safely as a ``{name: tensor}`` dict on the CPU.

    Uses ``torch.load(path, map_location="cpu", weights_only=True)``, so a file
    that would run code when unpickled is refused. A ``{"state_dict": {...}}``
    wrapper is unwrapped and a ``module.`` prefix present on every key (from
    ``DataParallel``) is removed. Tensors keep their dtypes. Any problem,
    including a floating-point tensor holding NaN or inf (which would make every
    score NaN), raises a one-line :class:`WeightsError` naming the file (and
    ``spec.network``, the weights it was meant to hold).

    Example:
        >>> import tempfile, torch
        >>> path = Path(tempfile.mkdtemp()) / "w.pth"
        >>> torch.save({"fc.weight": torch.zeros(2, 3)}, path)
        >>> load_state_dict(path)["fc.weight"].shape
        torch.Size([2, 3])
        >>> torch.save({"fc.weight": torch.tensor([1.0, float("nan")])}, path)
        >>> load_state_dict(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        inception_score.errors.WeightsError: Cannot load Inception weights ...: tensor fc.weight holds NaN or inf ...
    """
    import torch

    path = Path(os.fspath(path))

    def fail(reason: str, expected: str = "") -> WeightsError:
        expected = expected or (f"a PyTorch state dict of tensors (.pth) such as {spec.filenames[0]}")
        return WeightsError(f"Cannot load {spec.network} weights {path}: {reason}; expected {expected}.")

    if not path.exists():
        raise fail("the file does not exist")
    if not path.is_file():
        raise fail("it is not a file")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise fail(_reason(exc)) from exc
    if not magic:
        raise fail("the file is empty (0 bytes)")
    if magic != b"PK\x03\x04" and magic[:1] != b"\x80":
        raise fail(f"it is not a PyTorch checkpoint (it starts with {magic!r}, neither a zip archive nor a pickle)")

    try:
        loaded: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise fail(_load_failure(exc)) from exc

    if isinstance(loaded, Mapping) and len(loaded) == 1 and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise fail(f"it holds a {type(loaded).__name__}, not a mapping of names to tensors")
    if not loaded:
        raise fail("it holds an empty mapping")
    for key, value in loaded.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise fail(f"entry {key!r} is a {type(key).__name__} -> {type(value).__name__}, not str -> Tensor")
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise fail(
                f"tensor {printable(key)} holds NaN or inf ({bad} of {value.numel()} values)",
                "finite numbers in every tensor (the file is damaged, or was saved from a diverged model)",
            )

    state: dict[str, torch.Tensor] = dict(loaded)
    prefix = "module."
    if all(key.startswith(prefix) for key in state):
        state = {key[len(prefix) :]: value for key, value in state.items()}
    return state
