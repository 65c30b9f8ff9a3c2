"""Dataclass fields of plain kinds (int, float, str, bool) hold values of their annotated kind.

Settings and strategy options are frozen dataclasses a user fills in Python or through an
edited file; a number given as a string, or a float where a count belongs, would otherwise
fail much later with a traceback far from its cause.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from hasearch.errors import UserError

_KINDS: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def check_field_kinds(instance: Any, *, owner: str = "") -> None:
    """Refuse a field whose value is not of its annotated plain kind (``None`` where the
    annotation allows it; fields of other types are left to their owner).

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
