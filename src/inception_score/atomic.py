"""Writing files so that a reader never sees half of one: temporary file, fsync, ``os.replace``.

Every file this package writes (downloaded weights, cache entries, statistics and state files,
the report and its figures) goes through :func:`atomic_write`: the bytes go to a temporary file
in the target's folder, are flushed to disk, and the file is renamed over the target in one
step. A run killed mid-write leaves the previous file (or none), never a partial one, and
concurrent writers of the same path leave one complete file. Files get mode 0o644 (less the
umask), as ``open()`` would give them, not the 0o600 of ``tempfile``.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> atomic_write(path, b"hello")
    >>> path.read_bytes()
    b'hello'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "fsync_dir"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(
    path: str | os.PathLike[str], data: bytes | Callable[[IO[bytes]], None], mode: int = 0o644, fsync: bool = True
) -> None:
    """Write ``data`` (bytes, or a function writing to a binary file object) to ``path`` atomically.

    The folder must exist. On any failure (including KeyboardInterrupt) the temporary file is
    removed and the exception propagates; ``path`` is untouched.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        with contextlib.suppress(OSError):  # a file system without permissions (FAT) is no reason to fail
            os.chmod(tmp, mode & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        fsync_dir(target.parent)


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Best-effort fsync of a folder, so that a rename in it survives a crash (no-op on Windows)."""
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
