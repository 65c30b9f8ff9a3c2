"""Model families: what turns a configuration into a standalone child network."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

InputShape = tuple[int, int, int]  # (channels, height, width)
Builder = Callable[[Mapping[str, Any], InputShape, int], nn.Module]
ValueCheck = Callable[[Any], bool]


@dataclass(frozen=True)
class ModelFamily:
    """A family of networks parameterised by named architecture choices.

    Attributes:
        name: The name a space file gives as ``model:``.
        description: One line for ``hasearch spaces``.
        build: ``build(config, input_shape, num_classes)`` -> the child network. Values the
            configuration does not hold take ``defaults``.
        defaults: Every parameter the builder reads (architecture choices and model-level
            hyperparameters such as dropout) with its default value.
        checks: Per parameter, a predicate every value of that parameter must satisfy,
            with a description of the legal values.
    """

    name: str
    description: str
    build: Builder
    defaults: Mapping[str, Any]
    checks: Mapping[str, tuple[ValueCheck, str]] = field(default_factory=dict)

    def reads(self, name: str) -> bool:
        return name in self.defaults

    def resolve(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The builder's view of ``config``: its defaults overridden by the config."""
        return {k: config.get(k, v) for k, v in self.defaults.items()}
