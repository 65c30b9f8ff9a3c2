"""``--option NAME=VALUE``: a single-run strategy's own meta-hyperparameters.

A strategy's options dataclass (``AutoHASOptions``, ``NESOptions``, ``DHAOptions``) names the
fields a user may set in its ``TUNABLE`` class attribute (name -> one-line description); their
types come from the dataclass's annotations, their ranges are checked by the strategy's
constructor. Values arrive as strings from the command line or as Python values from
:class:`~hasearch.settings.SearchSettings`; nothing is evaluated.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union

from hasearch.errors import UserError

T = TypeVar("T")
_BOOL = {**dict.fromkeys(("true", "yes", "on", "1"), True), **dict.fromkeys(("false", "no", "off", "0"), False)}
_WANTED = {float: "a number", int: "an integer", bool: "true or false", str: "a word"}


def tunable_names(options_type: type) -> dict[str, str]:
    """The settable fields of ``options_type`` and what each one does."""
    return dict(getattr(options_type, "TUNABLE", {}))


def check_option_names(values: Mapping[str, object], options_type: type | None, strategy: str) -> None:
    """Every name in ``values`` is a settable option of ``strategy`` (UserError naming the known ones)."""
    known = tunable_names(options_type) if options_type is not None else {}
    for name in values:
        if name not in known:
            listing = f"its options: {', '.join(known)}" if known else "it takes no --option"
            raise UserError(f"--option {name}: not an option of strategy {strategy!r} ({listing})")


def tuned(options: T, values: Mapping[str, object]) -> T:
    """A copy of the dataclass ``options`` with ``values`` (names checked, values converted)."""
    if not values:
        return options
    cls = type(options)
    check_option_names(values, cls, cls.__name__)
    hints = typing.get_type_hints(cls)
    changes = {name: _converted(name, raw, hints[name]) for name, raw in values.items()}
    return dataclasses.replace(options, **changes)  # type: ignore[type-var]


def _scalar_type(annotation: Any) -> type:
    """``float`` for ``float``, ``float | None`` and ``Optional[float]``."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return typing.cast(type, inner)
    return typing.cast(type, annotation)


def _converted(name: str, raw: object, annotation: Any) -> object:
    kind = _scalar_type(annotation)
    problem = f"--option {name}={raw!s} must be {_WANTED.get(kind, 'a word')}"
    if isinstance(raw, str):
        text = raw.strip()
        try:
            value: object = _BOOL[text.lower()] if kind is bool else kind(text)
        except (KeyError, ValueError):
            raise UserError(problem) from None
    elif kind is float and isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    elif type(raw) is kind:
        value = raw
    else:
        raise UserError(problem)
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(problem.replace("a number", "a finite number"))
    return value
