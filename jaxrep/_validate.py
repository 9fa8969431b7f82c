"""Argument checks shared by every family: integers with a lower bound, positive numbers, fractions and
"did you mean" hints.

A private leaf module (it imports nothing from jaxrep), so building blocks, families and the task layer
can all use it without import cycles. Messages name the argument and fit on one line.
"""

import difflib
import math
import numbers
from collections.abc import Iterable


def did_you_mean(value, choices: Iterable, *, cutoff: float = 0.6, n: int = 1, paren: bool = False) -> str:
    """The hint for an unknown `value`: `"; did you mean 'x'?"` (or `" (did you mean 'x'?)"` with `paren`).

    Returns `""` when no choice is close enough (`difflib.get_close_matches` with `cutoff`); with `n > 1`
    up to `n` candidates are listed.
    """
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=n, cutoff=cutoff)
    if not close:
        return ""
    names = ", ".join(repr(c) for c in close)
    return f" (did you mean {names}?)" if paren else f"; did you mean {names}?"


def check_fraction(value, name: str) -> float:
    """`float(value)`, or a `ValueError` naming `name` unless `value` is a real number (not a bool) in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a float in [0, 1), got {value!r}")
    return float(value)


def check_int(value, name: str, minimum: int = 1) -> int:
    """`int(value)`, or a `ValueError` naming `name` unless `value` is an integer (not a bool) >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive(value, name: str) -> float:
    """`float(value)`, or a `ValueError` naming `name` unless `value` is a finite real number > 0.

    Python and NumPy scalars and 0-d arrays are accepted; bools, strings and arrays with more than one
    element are not.
    """
    ok = False
    if not isinstance(value, (bool, str)) and getattr(value, "ndim", 0) == 0:
        try:
            v = float(value)
            ok = v > 0 and math.isfinite(v)
        except (TypeError, ValueError):
            pass
    if not ok:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v
