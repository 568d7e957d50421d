"""The few exception types the library raises and the CLI turns into one-line messages.

Every error names the input it is about, the value received and what would have been
accepted, so that the message alone tells a user what to change. The CLI prints
``str(error)`` on one line and exits with ``error.exit_code``; it never shows a traceback
unless asked to (``--debug``).
"""

from __future__ import annotations

__all__ = [
    "InceptionScoreError",
    "InputError",
    "OptionsError",
    "WeightsError",
    "DeviceError",
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
