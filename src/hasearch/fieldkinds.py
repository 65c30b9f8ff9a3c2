"""Dataclass fields of plain kinds (int, float, str, bool) hold values of their annotated kind.

Settings and strategy options are frozen dataclasses a user fills in Python or through an
edited file; a number given as a string, or a float where a count belongs, would otherwise
fail much later with a traceback far from its cause.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import fields
from typing import Any, TypeVar

from hasearch.errors import UserError

_KINDS: dict[str, tuple[type, ...]] = {"int": (numbers.Integral,), "float": (numbers.Real,), "str": (str,), "bool": (bool,)}
_PLAIN = {"int": int, "float": float}
T = TypeVar("T")


def check_field_kinds(instance: Any, *, owner: str = "") -> None:
    """Refuse a field whose value is not of its annotated plain kind (``None`` where the
    annotation allows it; fields of other types are left to their owner). numpy scalars are
    numbers like any other: they are stored as Python's ``int`` / ``float`` (JSON writes those).

    Raises:
        UserError: naming the field (prefixed by ``owner``), its kind and the value.
    """
    for f in fields(instance):
        declared = str(f.type).replace(" ", "").split("|")
        value = getattr(instance, f.name)
        allowed = tuple(t for name in declared for t in _KINDS.get(name, ()))
        if not allowed or (value is None and "None" in declared):
            continue
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            raise UserError(f"{owner}{f.name} must be {' or '.join(declared)}, got {value!r}")
        if type(value) not in (int, float, str, bool):  # a numpy scalar: np.int64(3) -> 3, np.float32(0.5) -> 0.5
            plain = next(_PLAIN[name] for name in declared if name in _PLAIN and isinstance(value, _KINDS[name]))
            object.__setattr__(instance, f.name, plain(value))  # the frozen dataclass's own field


def checked_options(options: T | None, kind: type[T], *, owner: str) -> T:
    """A strategy's options: a copy of ``options`` (default ``kind()``) whose plain fields
    hold their kinds (:func:`check_field_kinds`, normalised on the copy, never on the
    caller's object).

    Raises:
        TypeError: ``options`` is not a ``kind``.
        UserError: a field of the wrong kind, named with ``owner``.
    """
    if options is None:
        options = kind()
    if not isinstance(options, kind):
        raise TypeError(f"options must be {kind.__name__}, got {type(options).__name__}")
    copy = dataclasses.replace(options)  # type: ignore[type-var]
    check_field_kinds(copy, owner=f"{owner} option ")
    return copy
