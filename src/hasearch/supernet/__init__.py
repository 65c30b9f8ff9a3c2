"""Weight sharing for single-run methods (AutoHAS now; NES and DHA next).

* :mod:`~hasearch.supernet.elastic`: elastic width / kernel slices, BatchNorm modes and
  recalibration (Once-for-All style);
* :mod:`~hasearch.supernet.mbconv`: the elastic supernet of the MBConv families (width,
  depth, kernel, expansion, input scale) with export of any child;
* :mod:`~hasearch.supernet.fixed`: a fixed network for hyperparameter-only search;
* :mod:`~hasearch.supernet.resources`: MACs of a child from per-layer entries.

:func:`supernet_for` and :func:`resource_model` pick the right one for a model family
(factories in one dict; a family without an entry has no supernet, and its MACs are
counted with torch's FLOP counter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from hasearch.models.family import InputShape, ModelFamily
from hasearch.models.mbconv import MBCONV, MOBILENETV2
from hasearch.space import SearchSpace
from hasearch.supernet.elastic import BNMode, recalibrate_bn
from hasearch.supernet.fixed import FixedNetwork
from hasearch.supernet.mbconv import MBConvSupernet
from hasearch.supernet.resources import MBConvMacs, ResourceModel
from hasearch.train.cost import count_macs

SupernetFactory = Callable[[SearchSpace, InputShape, int], nn.Module]

SUPERNETS: dict[str, SupernetFactory] = {
    "mbconv": lambda space, shape, classes: MBConvSupernet(MBCONV, space, shape, classes),
    "mobilenetv2": lambda space, shape, classes: MBConvSupernet(MOBILENETV2, space, shape, classes),
}
_MAC_TABLES: dict[str, Callable[[InputShape, int], ResourceModel]] = {
    "mbconv": lambda shape, classes: MBConvMacs(MBCONV, shape, classes),
    "mobilenetv2": lambda shape, classes: MBConvMacs(MOBILENETV2, shape, classes),
}


def has_supernet(family: ModelFamily) -> bool:
    return family.name in SUPERNETS


def supernet_for(family: ModelFamily, space: SearchSpace, input_shape: InputShape, num_classes: int) -> nn.Module:
    """The elastic supernet of ``family`` over ``space`` (KeyError if it has none)."""
    return SUPERNETS[family.name](space, input_shape, num_classes)


class CountedMacs:
    """MACs of any family's child, counted on the built network (cached per configuration)."""

    unit = "MACs"

    def __init__(self, family: ModelFamily, input_shape: InputShape, num_classes: int) -> None:
        self.family, self.input_shape, self.num_classes = family, input_shape, num_classes
        self._cache: dict[str, float] = {}

    def cost(self, config: Mapping[str, Any]) -> float:
        resolved = self.family.resolve(config)
        key = repr(sorted(resolved.items()))
        if key not in self._cache:
            self._cache[key] = float(count_macs(self.family.build(resolved, self.input_shape, self.num_classes), self.input_shape))
        return self._cache[key]


def resource_model(family: ModelFamily, input_shape: InputShape, num_classes: int) -> ResourceModel:
    """MACs of ``family``'s children: a per-layer table where there is one, else counted."""
    table = _MAC_TABLES.get(family.name)
    return table(input_shape, num_classes) if table else CountedMacs(family, input_shape, num_classes)


__all__ = [
    "BNMode",
    "CountedMacs",
    "FixedNetwork",
    "MBConvSupernet",
    "ResourceModel",
    "has_supernet",
    "recalibrate_bn",
    "resource_model",
    "supernet_for",
]
