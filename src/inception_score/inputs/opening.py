"""Opening what a user named: regular files only, and one-line reasons for what goes wrong.

Every path the package opens as input (images, ``.npz``/``.npy``, archives, list files, model
files, glob matches) goes through :func:`open_regular` or :func:`regular_file_problem` first. A
FIFO, a socket or a device named ``x.npz`` would block a read forever (or read without end), so
it is refused from its metadata (``stat``) before it is opened; the file is then opened without
blocking and checked again on the open descriptor (``fstat``), so that a file swapped for a FIFO
between the two is refused too.

Library messages (Pillow, zipfile, numpy, torch) go into our messages through :func:`one_line`:
their first non-empty line only, so that a message stays one line whatever the library says
(the CLI also escapes control characters that a file or member name may hold).

Example:
    >>> import os, tempfile
    >>> fifo = os.path.join(tempfile.mkdtemp(), "x.npz")
    >>> os.mkfifo(fifo)
    >>> open_regular(fifo, "x.npz", "an .npz archive")
    Traceback (most recent call last):
    ...
    inception_score.errors.InputError: x.npz: not a regular file (a FIFO); expected an .npz archive
    >>> one_line(ValueError("\\nfirst line\\nsecond line"))
    'first line'
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from ..errors import InputError

__all__ = ["one_line", "file_kind", "regular_file_problem", "open_regular", "MAX_MESSAGE"]

MAX_MESSAGE = 300  # characters of a library message kept in ours


def one_line(exc: BaseException | str, limit: int = MAX_MESSAGE) -> str:
    """The first non-empty line of a message (of an exception: its type name when it has none)."""
    if isinstance(exc, str):
        text = exc
    elif len(exc.args) > 1 and isinstance(exc.args[0], str):  # ('message', position) as tokenize gives
        text = exc.args[0]
    else:
        text = str(exc)
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 3] + "..."
    return "" if isinstance(exc, str) else type(exc).__name__


def file_kind(mode: int) -> str:
    """What a ``stat`` mode that is not a regular file is, in words."""
    for test, kind in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "not a file"


def _os_reason(exc: OSError, path: str | os.PathLike[str]) -> str:
    if isinstance(exc, FileNotFoundError):
        return "broken symbolic link" if os.path.islink(path) else "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return one_line(exc.strerror or exc).lower()


def regular_file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as a file, from its metadata alone (``stat``), or None."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return _os_reason(exc, path)
    except ValueError:  # an embedded NUL byte
        return "not a valid path (it holds a NUL character)"
    if not stat.S_ISREG(info.st_mode):
        return f"not a regular file ({file_kind(info.st_mode)})"
    return None


def open_regular(path: str | os.PathLike[str], name: str, expected: str) -> BinaryIO:
    """Open ``path`` for reading in binary mode if it is a regular file; else InputError
    ``"<name>: <why>; expected <expected>"``. The caller closes the file."""
    problem = regular_file_problem(path)
    if problem:
        raise InputError(f"{name}: {problem}; expected {expected}")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(f"{name}: {_os_reason(exc, path)}; expected {expected}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # replaced between the stat and the open
            raise InputError(f"{name}: not a regular file ({file_kind(info.st_mode)}); expected {expected}")
        if getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
