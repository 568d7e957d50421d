"""The few exception types the library raises and the CLI turns into one-line messages.

Every error names the input it is about, the value received and what would have been
accepted, so that the message alone tells a user what to change. The CLI prints
``str(error)`` on one line and exits with ``error.exit_code``; it never shows a traceback
unless asked to (``--debug``).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = [
    "InceptionScoreError",
    "InputError",
    "OptionsError",
    "WeightsError",
    "DeviceError",
    "InceptionScoreWarning",
    "warn",
    "recording",
    "printable",
    "plural",
    "ordinal",
]


class InceptionScoreError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code: int = 1


class OptionsError(InceptionScoreError, ValueError):
    """An option has a value outside what is accepted (``--splits 0``, an unknown protocol...)."""

    exit_code = 2


class InputError(InceptionScoreError, ValueError):
    """A source of images cannot be scored as given (missing, empty, corrupt, wrong shape...)."""

    exit_code = 3


class WeightsError(InceptionScoreError):
    """The Inception weights cannot be found, downloaded, verified or loaded."""

    exit_code = 4


class DeviceError(InceptionScoreError):
    """The requested device does not exist on this machine."""

    exit_code = 5


class InceptionScoreWarning(UserWarning):
    """Something that makes the number less trustworthy (the CLI prints it on one line).

    A run records every such warning in ``Result.warnings`` whatever the user's warnings filter
    (many users silence library warnings); the filter decides only whether it is shown.
    """


_RECORD: ContextVar[list[str] | None] = ContextVar("inception_score_warnings", default=None)


def warn(message: str, stacklevel: int = 2) -> None:
    """Record ``message`` in the run in progress (if any), then show it as an InceptionScoreWarning.

    Recording does not go through Python's warnings machinery, so what a run records does not
    depend on the user's warnings filter; showing it does (``simplefilter("ignore")`` hides it).
    """
    log = _RECORD.get()
    if log is not None and message not in log:
        log.append(message)
    warnings.warn(message, InceptionScoreWarning, stacklevel=stacklevel + 1)


@contextlib.contextmanager
def recording() -> Iterator[list[str]]:
    """Collect the messages :func:`warn` gives inside the block (each once, in order)."""
    log: list[str] = []
    token = _RECORD.set(log)
    try:
        yield log
    finally:
        _RECORD.reset(token)


def printable(text: object) -> str:
    r"""``text`` safe for one line of a terminal: control characters (newline, CR, ESC, ...) and
    the bytes of undecodable file names become visible escapes (``\n``, ``\x1b``, ``\xff``).

    Example:
        >>> print(printable("bad\nname\x1b[2J.png"))
        bad\nname\x1b[2J.png
    """
    s = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    out = []
    for ch in s:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029):
            out.append(_ESCAPES.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"))
        else:
            out.append(ch)
    return "".join(out)


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def a(noun: object) -> str:
    """``noun`` with its indefinite article, for messages: ``"an int"``, ``"a str"``, ``"a uint8 array"``.

    Example:
        >>> a("Image"), a("float32 array"), a("uint8 array")
        ('an Image', 'a float32 array', 'a uint8 array')
    """
    text = str(noun)
    return f"an {text}" if text[:1].lower() in ("a", "e", "i", "o") else f"a {text}"


def plural(count: int, noun: str) -> str:
    """``"1 image"``, ``"2 images"``: a count with its noun, for messages.

    Example:
        >>> plural(1, "image"), plural(0, "split")
        ('1 image', '0 splits')
    """
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def ordinal(n: int) -> str:
    """``"1st"``, ``"2nd"``, ``"3rd"``, ``"11th"``, ``"23rd"``: an English ordinal, for messages.

    Example:
        >>> [ordinal(k) for k in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)]
        ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '101st', '111th']
    """
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
