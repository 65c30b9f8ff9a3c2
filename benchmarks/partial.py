"""Resuming an interrupted benchmark: rows already written to its JSON file by a run with the
same arguments are kept and not measured again (rows of each method are stored in seed order)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

IGNORED = ("out", "threads")


def load_partial(out: Path, args: dict[str, Any], names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Returns the rows of ``out`` if it was written with the same arguments, else empty lists."""
    empty: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    if not out.exists():
        return empty
    previous = json.loads(out.read_text())
    same = {k: v for k, v in previous.get("args", {}).items() if k not in IGNORED} == {
        k: v for k, v in args.items() if k not in IGNORED}
    if not same:
        return empty
    kept = {name: list(previous["results"].get(name, [])) for name in names}
    print(f"resuming {out}: {sum(map(len, kept.values()))} rows already measured", flush=True)
    return kept
