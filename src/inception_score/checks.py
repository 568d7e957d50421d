"""The checks of option values, one of each, used by Options, the metric object, the protocols and the inputs.

Each returns the value in its canonical type (ints as int, pairs and triples as tuples of floats)
or raises :class:`~inception_score.errors.OptionsError` naming the option, the value received and
what would have been accepted. This module imports nothing of the package but its errors, so any
module may use it.

Example:
    >>> check_int(3, "splits")
    3
    >>> check_image_range([-1, 1])
    (-1.0, 1.0)
    >>> try:
    ...     check_int(0, "batch_size")
    ... except OptionsError as err:
    ...     print(err)
    batch_size: got 0, expected a positive integer
"""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import OptionsError

__all__ = ["check_int", "check_choice", "check_image_range", "check_triple", "check_shard", "check_device"]

_DEVICE = re.compile(r"^(auto|cpu|mps|(cuda|xpu)(:\d+)?)$")


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``; OptionsError naming ``name`` otherwise (bools are not ints)."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise OptionsError(f"{name}: got {value!r}, expected an integer")
    value = int(value)
    if value < minimum:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise OptionsError(f"{name}: got {value}, expected {kind}")
    return value


def _numbers(value: Any, name: str, count: int, example: str) -> tuple[float, ...]:
    if isinstance(value, str):
        raise OptionsError(
            f"{name}: got {value!r}, expected a tuple of {count} numbers such as ({example}) "
            f"(the command line's comma-separated form is parsed into one)"
        )
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise OptionsError(f"{name}: got {value!r}, expected {count} numbers such as ({example})") from None
    if len(numbers) != count or not all(math.isfinite(v) for v in numbers):
        raise OptionsError(f"{name}: got {value!r}, expected {count} finite numbers such as ({example})")
    return numbers


def check_image_range(value: Any, name: str = "image_range") -> tuple[float, float] | None:
    """The value range of float images, (lo, hi) with lo < hi (e.g. (0, 1), (-1, 1), (0, 255)); None: uint8 only."""
    if value is None:
        return None
    lo, hi = _numbers(value, name, 2, "-1, 1")
    if not lo < hi:
        raise OptionsError(f"{name}: got {value!r}, expected lo < hi")
    return lo, hi


def check_triple(value: Any, name: str) -> tuple[float, float, float]:
    """Three per-channel numbers (a single number is repeated); stds must be positive."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value,) * 3
    a, b, c = _numbers(value, name, 3, "0.5, 0.5, 0.5")
    if name.endswith("std") and min(a, b, c) <= 0:
        raise OptionsError(f"{name}: got {value!r}, expected positive numbers (they divide the pixels)")
    return a, b, c


def check_shard(value: Any) -> tuple[int, int] | None:
    """(i, K) with 0 <= i < K: shard i of K."""
    if value is None:
        return None
    if isinstance(value, str) or not hasattr(value, "__len__") or len(value) != 2:
        raise OptionsError(
            f"shard: got {value!r}, expected a pair (i, K) such as (0, 4) (the command line's i/K is parsed into it)"
        )
    index, count = (check_int(v, "shard", 0) for v in value)
    if count < 1 or not index < count:
        raise OptionsError(f"shard: got {value!r}, expected (i, K) with 0 <= i < K")
    return index, count


def check_device(value: Any) -> str:
    """auto, cpu, cuda, cuda:N, mps, xpu or xpu:N (whether it exists is checked when the run starts)."""
    if not isinstance(value, str) or not _DEVICE.match(value):
        raise OptionsError(f"device: got {value!r}, expected auto, cpu, cuda, cuda:N, mps, xpu or xpu:N")
    return value


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise OptionsError(f"{name}: got {value!r}, expected one of {', '.join(choices)}")
    return value  # type: ignore[no-any-return]
