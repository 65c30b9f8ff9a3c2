"""Built-in spaces and the checks that tie a space to its model family and trainer.

A :class:`SpaceDefinition` is what a search needs from a space: the space, the builder
of child networks, and the baseline configuration. Built-in spaces are YAML files in
``hasearch/space/builtin``, written in the same schema users write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from hasearch.errors import SpaceError
from hasearch.models import InputShape, ModelFamily, get_family
from hasearch.space import SearchSpace, load_space, space_from_dict
from hasearch.space.params import ParamSpec
from hasearch.train.hparams import CHECKS, VOCABULARY

_BUILTIN = resources.files("hasearch.space") / "builtin"


@dataclass(frozen=True)
class SpaceDefinition:
    """A search space with the model family that builds its children."""

    space: SearchSpace
    family: ModelFamily
    description: str = ""

    @property
    def baseline(self) -> dict[str, Any]:
        return self.space.baseline

    def build(self, config: Mapping[str, Any], input_shape: InputShape, num_classes: int) -> nn.Module:
        """The standalone child network of ``config``."""
        return self.family.build(config, input_shape, num_classes)


def builtin_space_names() -> list[str]:
    """Names of the spaces shipped with hasearch."""
    return sorted(p.name.removesuffix(".yaml") for p in _BUILTIN.iterdir() if p.name.endswith(".yaml"))


def resolve_space(name_or_path: str | Path, *, seed: int | None = None) -> SpaceDefinition:
    """A built-in space by name, or a space YAML file by path.

    Raises:
        SpaceError: unknown name, missing or malformed file, or a parameter that neither
            the model family nor the trainer understands.
    """
    if not isinstance(name_or_path, str | Path):
        raise TypeError(f"space must be a built-in space's name or a YAML file's path, got {type(name_or_path).__name__}")
    name_or_path = str(name_or_path)
    if name_or_path in builtin_space_names():
        text = (_BUILTIN / f"{name_or_path}.yaml").read_text()
        data = yaml.safe_load(text)
        space = space_from_dict(data, source=f"{name_or_path}.yaml", seed=seed)
        description = str(data.get("description", ""))
    elif name_or_path.endswith((".yaml", ".yml")) or Path(name_or_path).exists():
        space = load_space(name_or_path, seed=seed)
        description = f"from {name_or_path}"
    else:
        known = ", ".join(builtin_space_names())
        raise SpaceError(f"unknown space {name_or_path!r} (built-in: {known}; or give a .yaml file)")
    return definition_for(space, description=description)


def definition_for(space: SearchSpace, *, description: str = "") -> SpaceDefinition:
    """Check that every parameter of ``space`` is understood, and pair it with its family."""
    if space.model is None:
        raise SpaceError(f"space {space.name!r}: 'model' is missing (one of the model families)")
    family = get_family(space.model)
    for spec in space.params:
        _check_understood(spec, family)
    return SpaceDefinition(space=space, family=family, description=description)


def _check_understood(spec: ParamSpec, family: ModelFamily) -> None:
    if family.reads(spec.name):
        check = family.checks.get(spec.name)
    elif spec.name in VOCABULARY:
        check = CHECKS[spec.name]
    else:
        raise SpaceError(
            f"parameter {spec.name!r} is read by neither model {family.name!r} nor the trainer "
            f"(model reads: {', '.join(sorted(family.defaults))}; trainer reads: {', '.join(sorted(VOCABULARY))})"
        )
    if check is None:
        return
    predicate, legal = check
    for value in spec.choices or (spec.low, spec.high):
        try:
            usable = bool(predicate(value))
        except (TypeError, ValueError):  # a word where a number belongs (YAML 1.1 reads 5e-06 as text)
            usable = False
        if not usable:
            raise SpaceError(f"parameter {spec.name!r}: value {value!r} cannot be used ({legal})")
