"""Find, download, verify and load the Inception weights.

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

Checkpoints are always loaded with ``torch.load(..., weights_only=True)``: a
weights file can never run code.

Importing this module is cheap: ``torch`` and ``tqdm`` are imported only by the
functions that need them.

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
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import WeightsError

if TYPE_CHECKING:
    import torch

__all__ = [
    "ENV_VAR",
    "INCEPTION_2015",
    "ResolvedWeights",
    "WeightsSpec",
    "download",
    "fallback_dir",
    "hub_checkpoint_dir",
    "load_state_dict",
    "locate_weights",
    "resolve_weights",
    "sha256_file",
]

#: Environment variable naming a weights file to use instead of the cache.
ENV_VAR = "INCEPTION_SCORE_WEIGHTS"

_CHUNK = 1 << 20  # 1 MiB
_MAX_REASON = 300  # characters of a foreign exception message kept in ours

Source = Literal["argument", "environment", "cache", "download"]


@dataclass(frozen=True)
class WeightsSpec:
    """Where a set of published weights can be found and how to recognise it.

    ``filenames[i]`` is the name under which ``urls[i]`` is saved in the cache;
    ``sha256_prefix`` is the start of the file's sha256 hex digest (the torch.hub
    convention of putting it in the file name).

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
    sha256_prefix: str
    origin: str
    license: str

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
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
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


@dataclass(frozen=True)
class ResolvedWeights:
    """The weights file that will be used, its sha256 and where it was found.

    ``source`` is one of ``"argument"``, ``"environment"``, ``"cache"`` or
    ``"download"``.

    Example:
        >>> ResolvedWeights(Path("w.pth"), "6726825d" + "0" * 56, "cache").source
        'cache'
    """

    path: Path
    sha256: str
    source: Source


class _DownloadError(WeightsError):
    """A download failed; ``reason`` is the short cause, without the URL."""

    def __init__(self, url: str, dest: Path, reason: str) -> None:
        self.url = url
        self.dest = dest
        self.reason = reason
        super().__init__(f"Could not download {url} to {dest}: {reason}")


def _one_line(text: object) -> str:
    """Collapse ``text`` to a single, bounded line for an error message."""
    line = " ".join(str(text).split())
    if len(line) > _MAX_REASON:
        line = line[: _MAX_REASON - 3] + "..."
    return line


def _describe(exc: BaseException) -> str:
    """Short human reason for a failed transfer."""
    if isinstance(exc, urllib.error.HTTPError):
        return _one_line(f"HTTP {exc.code} {exc.reason}")
    if isinstance(exc, urllib.error.URLError):
        return _one_line(exc.reason)
    if isinstance(exc, http.client.IncompleteRead):
        expected = (exc.expected or 0) + len(exc.partial)
        return f"connection closed after {len(exc.partial)} bytes of {expected}"
    text = _one_line(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


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


def hub_checkpoint_dir() -> Path:
    """The torch.hub checkpoint directory, ``$TORCH_HOME/hub/checkpoints`` by default.

    This is where torch-fidelity and pytorch-fid cache these same weights.

    Example:
        >>> hub_checkpoint_dir().name
        'checkpoints'
    """
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def fallback_dir() -> Path:
    """Where downloads go when the checkpoint directory cannot be written.

    Example:
        >>> fallback_dir().name
        'inception-score-weights'
    """
    return Path(tempfile.gettempdir()) / "inception-score-weights"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Full sha256 hex digest of the file at ``path``, read in 1 MiB chunks.

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


def _writable_dir(directory: Path) -> str | None:
    """Create ``directory`` and check a file can be made in it; the reason if not."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return _describe(exc)
    return None


@contextlib.contextmanager
def _file_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (no-op where fcntl is missing).

    The lock file is removed on release. Because another process may remove it
    between our ``open`` and our ``flock``, the lock only counts once the locked
    descriptor is still the file at ``lock_path``.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return

    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                current = os.stat(lock_path)
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        if current is not None and (current.st_dev, current.st_ino) == (
            held.st_dev,
            held.st_ino,
        ):
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)  # releases the lock


def _is_valid(path: Path, sha256_prefix: str | None) -> bool:
    """Whether ``path`` is a file whose sha256 starts with ``sha256_prefix``."""
    if not path.is_file():
        return False
    if sha256_prefix is None:
        return True
    try:
        return sha256_file(path).startswith(sha256_prefix.lower())
    except OSError:
        return False


def _fetch(
    url: str,
    dest: Path,
    sha256_prefix: str | None,
    *,
    progress: bool,
    timeout: float,
) -> None:
    """Stream ``url`` to a temporary file next to ``dest``, verify, then rename."""
    from tqdm import tqdm

    try:
        tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed explicitly below
            dir=dest.parent, delete=False, prefix=dest.name + ".", suffix=".part"
        )
    except OSError as exc:
        raise _DownloadError(url, dest, f"cannot create a file there ({_describe(exc)})") from exc
    tmp_path = Path(tmp.name)
    try:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "inception-score (python urllib)"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                length_header = response.headers.get("Content-Length")
                try:
                    total = int(length_header) if length_header else None
                except ValueError:
                    total = None
                digest = hashlib.sha256()
                received = 0
                with tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=dest.name,
                    file=sys.stderr,
                    disable=not progress,
                    leave=False,
                ) as bar:
                    while chunk := response.read(_CHUNK):
                        tmp.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
            if total is not None and received != total:
                raise _DownloadError(
                    url,
                    dest,
                    f"connection closed after {received} bytes of {total}",
                )
            tmp.flush()
            os.fsync(tmp.fileno())
            tmp.close()
        except _DownloadError:
            raise
        except Exception as exc:
            raise _DownloadError(url, dest, _describe(exc)) from exc

        got = digest.hexdigest()
        if sha256_prefix is not None and not got.startswith(sha256_prefix.lower()):
            raise _DownloadError(
                url,
                dest,
                f"sha256 {got} does not start with the expected prefix {sha256_prefix}; the file was discarded",
            )
        with contextlib.suppress(OSError):
            os.chmod(tmp_path, 0o644)
        try:
            os.replace(tmp_path, dest)
        except OSError as exc:
            raise _DownloadError(url, dest, _describe(exc)) from exc
        _fsync_dir(dest.parent)
    except BaseException:
        tmp.close()
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def _fsync_dir(directory: Path) -> None:
    """Best-effort fsync of a directory so a rename survives a crash."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def download(
    url: str,
    dest: Path,
    sha256_prefix: str | None,
    *,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` atomically and return the path actually written.

    The body is streamed into ``<dest>.<random>.part`` next to ``dest`` while its
    sha256 is computed; only a complete transfer whose digest starts with
    ``sha256_prefix`` (``None``: no check) is fsynced and renamed to ``dest``. On
    any failure the partial file is deleted, nothing is left at ``dest`` and a
    :class:`WeightsError` is raised (a ``KeyboardInterrupt`` is cleaned up the
    same way and re-raised as is).

    Concurrent calls for the same ``dest`` are serialised by an ``flock`` on
    ``<dest>.lock`` (POSIX only); a caller that gets the lock after another one
    finished returns the existing valid file without downloading it again. An
    existing ``dest`` is valid when its sha256 starts with the prefix (any file
    when the prefix is ``None``).

    If ``dest``'s directory cannot be created or written, the file goes to
    :func:`fallback_dir` instead, with a warning; the returned path says where.

    Example:
        >>> download("https://example.org/w.pth", Path("/tmp/w.pth"), "0123abcd")
        ... # doctest: +SKIP
        PosixPath('/tmp/w.pth')
    """
    dest = Path(dest)
    problem = _writable_dir(dest.parent)
    if problem is not None:
        fallback = fallback_dir()
        fallback_problem = _writable_dir(fallback)
        if fallback_problem is not None:
            raise _DownloadError(
                url,
                dest,
                f"cannot write to {dest.parent} ({problem}) nor to {fallback} ({fallback_problem})",
            )
        warnings.warn(
            f"Cannot write to {dest.parent} ({problem}); saving {dest.name} in {fallback} instead.",
            stacklevel=2,
        )
        dest = fallback / dest.name

    lock_path = dest.with_name(dest.name + ".lock")
    try:
        with _file_lock(lock_path):
            # Another process may have finished the same download while we waited.
            if not _is_valid(dest, sha256_prefix):
                _fetch(url, dest, sha256_prefix, progress=progress, timeout=timeout)
    except OSError as exc:  # _fetch raises only WeightsError; this is the lock file
        raise _DownloadError(url, dest, f"cannot lock {lock_path}: {_describe(exc)}") from exc
    return dest


def _checked_file(path: Path, how: str) -> Path:
    """Return ``path`` if it is an existing file, else raise a one-line error."""
    if path.is_file():
        return path
    state = "is not a file" if path.exists() else "does not exist"
    raise WeightsError(
        f"Inception weights {path} ({how}) {state}; expected an existing file such as "
        f"{INCEPTION_2015.filenames[0]} (a PyTorch state dict, .pth)."
    )


def _resolve(
    explicit: str | os.PathLike[str] | None,
    spec: WeightsSpec,
    progress: bool,
    env: Mapping[str, str] | None,
) -> tuple[Path, Source]:
    """The weights file to use and where it was found; see :func:`resolve_weights`."""
    if explicit is not None:
        path = Path(os.fspath(explicit)).expanduser()
        return _checked_file(path, "given as --weights / argument"), "argument"

    environ = os.environ if env is None else env
    from_env = environ.get(ENV_VAR, "")
    if from_env:
        path = Path(from_env).expanduser()
        how = f"from environment variable {ENV_VAR}"
        return _checked_file(path, how), "environment"

    hub = hub_checkpoint_dir()
    for filename in spec.filenames:
        candidate = hub / filename
        if candidate.is_file():
            return candidate, "cache"
    # An earlier download may have fallen back to the temporary directory; that
    # directory is shared, so only trust a copy whose hash matches.
    fallback = fallback_dir()
    for filename in spec.filenames:
        candidate = fallback / filename
        if candidate.is_file() and _is_valid(candidate, spec.sha256_prefix):
            return candidate, "cache"

    failures: list[str] = []
    for url, filename in zip(spec.urls, spec.filenames, strict=True):
        try:
            path = download(url, hub / filename, spec.sha256_prefix, progress=progress)
        except _DownloadError as exc:
            failures.append(f"{url}: {exc.reason}")
        except WeightsError as exc:  # pragma: no cover - download raises _DownloadError
            failures.append(f"{url}: {_one_line(exc)}")
        else:
            return path, "download"
    raise WeightsError(
        f"Inception weights not found and could not be downloaded ({'; '.join(failures)}). "
        f"Download {spec.urls[0]} yourself and save it as {hub / spec.filenames[0]}, "
        f"or pass --weights PATH (or set {ENV_VAR})."
    )


def resolve_weights(
    explicit: str | os.PathLike[str] | None = None,
    spec: WeightsSpec = INCEPTION_2015,
    *,
    progress: bool = True,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Path of the weights file to use, downloading it if needed.

    Order: ``explicit`` (must be an existing file); ``$INCEPTION_SCORE_WEIGHTS``
    (same check; read from ``env`` when given, else ``os.environ``; empty means
    unset); any of ``spec.filenames`` in :func:`hub_checkpoint_dir`; a copy whose
    hash matches in :func:`fallback_dir`; then a download of each of
    ``spec.urls`` in turn into the checkpoint directory under the matching file
    name. Files given explicitly or through the environment are not hash-checked
    (they may be your own conversion); downloads always are.

    Raises :class:`WeightsError` with a one-line message when nothing works.

    Example:
        >>> resolve_weights("/nonexistent.pth")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        inception_score.errors.WeightsError: Inception weights /nonexistent.pth ...
    """
    return _resolve(explicit, spec, progress, env)[0]


def locate_weights(
    explicit: str | os.PathLike[str] | None = None,
    spec: WeightsSpec = INCEPTION_2015,
    *,
    progress: bool = True,
    env: Mapping[str, str] | None = None,
) -> ResolvedWeights:
    """Like :func:`resolve_weights`, also giving the file's sha256 and its source.

    Example:
        >>> found = locate_weights()  # doctest: +SKIP
        >>> found.source, found.sha256[:8]  # doctest: +SKIP
        ('cache', '6726825d')
    """
    path, source = _resolve(explicit, spec, progress, env)
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise WeightsError(
            f"Cannot read Inception weights {path}: {_describe(exc)}; expected a readable file."
        ) from exc
    return ResolvedWeights(path=path, sha256=digest, source=source)


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Load a checkpoint safely as a ``{name: tensor}`` dict on the CPU.

    Uses ``torch.load(path, map_location="cpu", weights_only=True)``, so a file
    that would run code when unpickled is refused. A ``{"state_dict": {...}}``
    wrapper is unwrapped and a ``module.`` prefix present on every key (from
    ``DataParallel``) is removed. Any problem raises a one-line
    :class:`WeightsError` naming the file.

    Example:
        >>> sd = load_state_dict(resolve_weights())  # doctest: +SKIP
        >>> sd["conv.weight"].dtype  # doctest: +SKIP
        torch.float32
    """
    import torch

    path = Path(os.fspath(path))

    def fail(reason: str) -> WeightsError:
        return WeightsError(
            f"Cannot load Inception weights {path}: {reason}; expected a PyTorch state "
            f"dict of tensors (.pth) such as {INCEPTION_2015.filenames[0]}."
        )

    if not path.exists():
        raise fail("the file does not exist")
    if not path.is_file():
        raise fail("it is not a file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise fail(_describe(exc)) from exc
    if size == 0:
        raise fail("the file is empty (0 bytes)")

    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise fail(_describe(exc)) from exc
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

    state: dict[str, torch.Tensor] = dict(loaded)
    prefix = "module."
    if all(key.startswith(prefix) for key in state):
        state = {key[len(prefix) :]: value for key, value in state.items()}
    return state
