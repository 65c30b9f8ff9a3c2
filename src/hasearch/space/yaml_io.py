"""Read and write search spaces as YAML (schema: docs/space-schema.md).

Every error names the file and the field at fault, e.g.
``space.yaml: parameters[2] (lr): 'range' needs two numbers low < high``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hasearch.errors import SpaceError
from hasearch.space.params import Clause, Condition, Kind, ParamSpec, Role
from hasearch.space.search_space import SearchSpace

_PARAM_KEYS = {"name", "role", "type", "choices", "range", "step", "log", "default", "basis_size", "active_if", "repeat"}
_MAX_STEPS = 1000
_TOP_KEYS = {"name", "model", "description", "basis_size", "parameters", "baseline"}


MAX_SPACE_BYTES = 1_000_000  # the built-in spaces are about 3 KB
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's safe loader where available
_MAX_INT = 2**53  # ConfigSpace holds values as float64: integers beyond it are not exact
_CHOICE_ONLY, _RANGE_ONLY = {"choices"}, {"range", "step", "log", "basis_size"}


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: object, line: int) -> None:
        super().__init__(f"key {key!r} appears twice in one mapping (line {line})")


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[misc,valid-type]
    """The safe loader, refusing a key given twice in one mapping (YAML forbids it; PyYAML
    would keep the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # an unhashable key: PyYAML's own error follows
            if duplicate:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_space(path: str | Path, *, seed: int | None = None) -> SearchSpace:
    """Load a space from a YAML file.

    Raises:
        SpaceError: if the file is missing, is not valid YAML, or breaks the schema.
    """
    if not isinstance(path, str | Path):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    path = Path(path)
    if path.exists() and not path.is_file():
        raise SpaceError(f"space file {str(path)!r} is not a file")
    if not path.is_file():
        raise SpaceError(f"space file {str(path)!r} does not exist")
    size = path.stat().st_size
    if size > MAX_SPACE_BYTES:
        raise SpaceError(f"{path.name}: {size:,} bytes is far more than a space file needs (at most {MAX_SPACE_BYTES:,})")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except _DuplicateKey as exc:
        raise SpaceError(f"{path.name}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SpaceError(f"{path.name}: not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise SpaceError(f"{path.name}: YAML nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpaceError(f"{path.name}: malformed YAML{where}") from None
    return space_from_dict(data, source=path.name, seed=seed)


def save_space(space: SearchSpace, path: str | Path, *, description: str | None = None) -> None:
    """Write ``space`` as YAML (expanded: one entry per parameter)."""
    Path(path).write_text(dump_space(space, description=description))


def check_space_file_size(space: SearchSpace, *, description: str | None = None) -> None:
    """Refuse a space that, written out as a run's ``space.yaml``, :func:`load_space` would not
    read back (a file that fits can still expand: one line per choice)."""
    size = len(dump_space(space, description=description).encode())
    if size > MAX_SPACE_BYTES:
        raise SpaceError(f"space {space.name!r} takes {size:,} bytes written out, more than a run's space file may hold ({MAX_SPACE_BYTES:,}): give fewer choices")


def dump_space(space: SearchSpace, *, description: str | None = None) -> str:
    """``space`` as a YAML string."""
    return yaml.safe_dump(space_to_dict(space, description=description), sort_keys=False)


def space_to_dict(space: SearchSpace, *, description: str | None = None) -> dict[str, Any]:
    """The schema form of ``space`` (plain Python types only)."""
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
    out: dict[str, Any] = {"name": space.name}
    if space.model is not None:
        out["model"] = space.model
    if description:
        out["description"] = description
    out["parameters"] = [_param_to_dict(p) for p in space.params]
    out["baseline"] = {k: _plain(v) for k, v in space.baseline.items()}
    return out


def _param_to_dict(p: ParamSpec) -> dict[str, Any]:
    d: dict[str, Any] = {"name": p.name, "role": str(p.role), "type": str(p.kind)}
    if p.kind in (Kind.CATEGORICAL, Kind.ORDINAL):
        d["choices"] = [_plain(c) for c in p.choices]
    else:
        d["range"] = [_plain(p.low), _plain(p.high)]
        if p.log:
            d["log"] = True
        d["basis_size"] = p.basis_size
    if p.default is not None:
        d["default"] = _plain(p.default)
    if p.condition is not None:
        clauses = [{"parameter": c.parameter, "in": [_plain(v) for v in c.values]} for c in p.condition.clauses]
        d["active_if"] = {p.condition.combine: clauses}
    return d


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    return v


# ------------------------------------------------------------------- parsing
def space_from_dict(data: Any, *, source: str = "space", seed: int | None = None) -> SearchSpace:
    """Build a space from its schema form, validating every field."""
    if not isinstance(data, Mapping):
        raise SpaceError(f"{source}: top level must be a mapping with a 'parameters' list")
    _no_unknown_keys(data, _TOP_KEYS, source)
    raw_params = data.get("parameters")
    if not isinstance(raw_params, list) or not raw_params:
        raise SpaceError(f"{source}: 'parameters' must be a non-empty list")
    default_m = _basis_size(data.get("basis_size", 5), f"{source}: basis_size")
    params: list[ParamSpec] = []
    for index, raw in enumerate(raw_params):
        params.extend(_expand(raw, f"{source}: parameters[{index}]", default_m))
    _check_conditions(params, source)
    baseline = data.get("baseline") or {}
    if not isinstance(baseline, Mapping):
        raise SpaceError(f"{source}: 'baseline' must be a mapping of parameter -> value")
    name = data.get("name", Path(source).stem)
    for field, value in (("name", name), ("model", data.get("model")), ("description", data.get("description"))):
        if value is not None and not isinstance(value, str):
            raise SpaceError(f"{source}: '{field}' must be a string, got a {type(value).__name__}")
    model = data.get("model")
    try:
        return SearchSpace(params, name=str(name), model=model, baseline=baseline, seed=seed)
    except SpaceError as exc:
        raise SpaceError(f"{source}: {exc}") from None


def _expand(raw: Any, where: str, default_m: int) -> list[ParamSpec]:
    if not isinstance(raw, Mapping):
        raise SpaceError(f"{where}: each parameter must be a mapping")
    repeat = raw.get("repeat")
    if repeat is None:
        return [_parse_param(raw, where, default_m)]
    if isinstance(repeat, int) and not isinstance(repeat, bool) and 1 <= repeat <= 1000:
        indices: list[Any] = list(range(repeat))
    elif isinstance(repeat, list) and repeat and all(isinstance(v, (int, str)) for v in repeat):
        indices = repeat
    else:
        raise SpaceError(f"{where}: 'repeat' must be a count in [1, 1000] or a list of indices")
    if "{i}" not in str(raw.get("name", "")):
        raise SpaceError(f"{where}: a repeated parameter's name must contain '{{i}}'")
    return [_parse_param(_substitute(raw, i), where, default_m) for i in indices]


def _substitute(raw: Any, i: Any) -> Any:
    if isinstance(raw, str):
        return raw.replace("{i}", str(i))
    if isinstance(raw, Mapping):
        return {k: _substitute(v, i) for k, v in raw.items() if k != "repeat"}
    if isinstance(raw, list):
        return [_substitute(v, i) for v in raw]
    return raw


def _parse_param(raw: Mapping[str, Any], where: str, default_m: int) -> ParamSpec:
    name = raw.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise SpaceError(f"{where}: 'name' must be an identifier (letters, digits, _), got {name!r}")
    where = f"{where} ({name})"
    _no_unknown_keys(raw, _PARAM_KEYS, where)
    role = _enum(Role, raw.get("role"), f"{where}: role")
    kind = _enum(Kind, raw.get("type"), f"{where}: type")
    common: dict[str, Any] = {"name": name, "role": role, "kind": kind, "condition": _parse_condition(raw.get("active_if"), where)}
    chosen = kind in (Kind.CATEGORICAL, Kind.ORDINAL)
    if misplaced := sorted(set(raw) & (_RANGE_ONLY if chosen else _CHOICE_ONLY)):
        needs = "lists its 'choices'" if chosen else "has a 'range'"
        raise SpaceError(f"{where}: '{misplaced[0]}' does not apply to a {kind} parameter, which {needs}")
    if chosen:
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices or len(set(map(repr, choices))) != len(choices):
            raise SpaceError(f"{where}: 'choices' must be a non-empty list of distinct values")
        spec = ParamSpec(choices=tuple(choices), default=raw.get("default"), **common)
        if spec.default is not None and not spec.contains(spec.default):
            raise SpaceError(f"{where}: default {spec.default!r} is not one of the choices")
        return spec
    low, high = _parse_range(raw.get("range"), kind, where)
    if "step" in raw:
        return _stepped(raw, low, high, common, where)
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"{where}: 'log' must be true or false")
    if log and low <= 0:
        raise SpaceError(f"{where}: a log-scale range must be positive, got low={low}")
    m = _basis_size(raw.get("basis_size", default_m), f"{where}: basis_size")
    spec = ParamSpec(low=low, high=high, log=log, default=raw.get("default"), basis_size=m, **common)
    if spec.default is not None and not spec.contains(spec.default):
        raise SpaceError(f"{where}: default {spec.default!r} is outside [{low}, {high}]")
    return spec


def _stepped(raw: Mapping[str, Any], low: float, high: float, common: dict[str, Any], where: str) -> ParamSpec:
    """``range`` + ``step``: the ordered values low, low + step, ..., high (an ordinal
    parameter; seed 003 Table 4 gives channels, depth and resolution as range and step)."""
    step = raw["step"]
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 < step < math.inf:
        raise SpaceError(f"{where}: 'step' must be a positive number, got {step!r}")
    if raw.get("log", False):
        raise SpaceError(f"{where}: 'step' and 'log' cannot be combined")
    count = (high - low) / step
    if count > _MAX_STEPS or abs(count - round(count)) > 1e-6:
        raise SpaceError(f"{where}: 'range' [{low}, {high}] must be a whole number (at most {_MAX_STEPS}) of steps {step}")
    cast = int if common["kind"] is Kind.INT else float
    if cast is int and not float(step).is_integer():
        raise SpaceError(f"{where}: an int parameter's step must be an integer")
    values = tuple(cast(round(low + k * step, 10)) for k in range(round(count) + 1))
    spec = ParamSpec(choices=values, default=raw.get("default"), **{**common, "kind": Kind.ORDINAL})
    if spec.default is not None and not spec.contains(spec.default):
        raise SpaceError(f"{where}: default {spec.default!r} is not one of the steps {list(values)}")
    return spec


def _parse_range(raw: Any, kind: Kind, where: str) -> tuple[float, float]:
    for text in raw if isinstance(raw, list) else ():
        if isinstance(text, str) and _looks_numeric(text):
            raise SpaceError(f"{where}: 'range' value {text!r} is text in YAML 1.1; write a float with a dot and a signed exponent, e.g. 1.0e-3")
    ok = isinstance(raw, list) and len(raw) == 2 and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in raw
    )
    if not ok or not raw[0] < raw[1]:
        raise SpaceError(f"{where}: 'range' needs two numbers [low, high] with low < high")
    if not all(math.isfinite(v) for v in raw):
        raise SpaceError(f"{where}: 'range' [{raw[0]}, {raw[1]}] must be finite")
    raw = [v.item() if hasattr(v, "item") else v for v in raw]  # numpy scalars as Python numbers
    if not math.isfinite(raw[1] - raw[0]):
        raise SpaceError(f"{where}: 'range' [{raw[0]}, {raw[1]}] is wider than a float can hold")
    if kind is Kind.INT and not all(float(v).is_integer() for v in raw):
        raise SpaceError(f"{where}: an int parameter's range must be integers")
    if kind is Kind.INT and not all(abs(v) <= _MAX_INT for v in raw):
        raise SpaceError(f"{where}: an int parameter's range must lie within +-2**53, got [{raw[0]}, {raw[1]}]")
    cast = int if kind is Kind.INT else float
    return cast(raw[0]), cast(raw[1])


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_condition(raw: Any, where: str) -> Condition | None:
    if raw is None:
        return None
    if isinstance(raw, Mapping) and set(raw) <= {"any", "all"} and len(raw) == 1:
        combine, items = next(iter(raw.items()))
    elif isinstance(raw, Mapping):
        combine, items = "any", [raw]
    else:
        raise SpaceError(f"{where}: 'active_if' must be {{parameter, in}} or {{any|all: [...]}}")
    if not isinstance(items, list) or not items:
        raise SpaceError(f"{where}: 'active_if.{combine}' must be a non-empty list")
    clauses = []
    for item in items:
        if not isinstance(item, Mapping) or set(item) != {"parameter", "in"} or not isinstance(item["in"], list):
            raise SpaceError(f"{where}: each 'active_if' clause must be {{parameter: NAME, in: [values]}}")
        clauses.append(Clause(str(item["parameter"]), tuple(item["in"])))
    return Condition(tuple(clauses), combine)


def _check_conditions(params: list[ParamSpec], source: str) -> None:
    by_name = {}
    for p in params:
        if p.name in by_name:
            raise SpaceError(f"{source}: parameter {p.name!r} is defined twice")
        by_name[p.name] = p
    for p in params:
        for clause in p.condition.clauses if p.condition else ():
            parent = by_name.get(clause.parameter)
            if parent is None:
                raise SpaceError(f"{source}: {p.name}: 'active_if' names unknown parameter {clause.parameter!r}")
            bad = [v for v in clause.values if not parent.contains(v)]
            if bad:
                raise SpaceError(f"{source}: {p.name}: 'active_if' value {bad[0]!r} is not a value of {parent.name}")


def _enum(enum: Any, value: Any, where: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise SpaceError(f"{where} must be one of {{{allowed}}}, got {value!r}") from None


def _basis_size(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= 64:
        raise SpaceError(f"{where} must be an integer in [2, 64], got {value!r}")
    return value


def _no_unknown_keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise SpaceError(f"{where}: unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
