"""Checks of the Python API's numeric and boolean arguments, with one message form.

A setting given as a string, ``None`` or a boolean where a number belongs would otherwise
fail later as a bare ``TypeError`` from a comparison (``'<' not supported between ...``)
that names no argument, or be taken silently (a non-empty string is true).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable


def require_number(
    name: str, value: object, allowed: str, accept: Callable[[float], bool], *, integer: bool = False,
    error: type[Exception] = ValueError,
) -> None:  # fmt: skip
    """Refuse ``value`` unless it is a real number (an integer where ``integer``; never a
    boolean) that a float holds and for which ``accept`` is true.

    Raises:
        ``error`` (default ValueError; UserError where the CLI passes the value on):
        ``"{name} must be {allowed}, got {value!r}"``.
    """
    kind = numbers.Integral if integer else numbers.Real
    ok = not isinstance(value, bool) and isinstance(value, kind)
    if ok:
        try:
            ok = accept(float(value))  # type: ignore[arg-type]
        except OverflowError:  # an int beyond any float (10**400)
            ok = False
    if not ok:
        raise error(f"{name} must be {allowed}, got {value!r}")


def require_bool(name: str, value: object) -> None:
    """Refuse anything but ``True`` / ``False`` (``'no'`` would be true).

    Raises:
        TypeError: ``"{name} must be True or False, got {value!r}"``.
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
