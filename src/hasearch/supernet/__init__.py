"""Weight sharing for single-run methods (AutoHAS now; NES and DHA next).

* :mod:`~hasearch.supernet.elastic`: elastic width / kernel slices, BatchNorm modes and
  recalibration (Once-for-All style);
* :mod:`~hasearch.supernet.mbconv`: the elastic supernet of the MBConv families (width,
  depth, kernel, expansion, input scale) with export of any child;
* :mod:`~hasearch.supernet.resnet_joint`: the same for ``resnet-joint`` (width, depth,
  branches);
* :mod:`~hasearch.supernet.fixed`: a fixed network for hyperparameter-only search;
* :mod:`~hasearch.supernet.resources`: MACs of a child from per-layer entries;
* :mod:`~hasearch.supernet.latency`: the latency look-up table (MBConv families);
* :mod:`~hasearch.supernet.scoring`: a child's loss and accuracy after BatchNorm
  recalibration on a fixed set of training images.

:func:`supernet_for` and :func:`resource_model` pick the right one for a model family
(factories in one dict; a family without an entry has no supernet, and its MACs are
counted with torch's FLOP counter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from torch import nn

from hasearch.errors import UserError
from hasearch.models.family import InputShape, ModelFamily
from hasearch.models.mbconv import MBCONV, MOBILENETV2, MBConvFamily
from hasearch.space import SearchSpace
from hasearch.supernet.elastic import BNMode, recalibrate_bn
from hasearch.supernet.fixed import FixedNetwork
from hasearch.supernet.latency import LatencyTable
from hasearch.supernet.latency_tables import MBConvLatency, ResNetJointLatency
from hasearch.supernet.mbconv import MBConvSupernet
from hasearch.supernet.resnet_joint import ResNetJointSupernet
from hasearch.supernet.resources import MBConvMacs, ResNetJointMacs, ResourceModel
from hasearch.train.cost import count_macs

SupernetFactory = Callable[[SearchSpace, InputShape, int], nn.Module]

MBCONV_FAMILIES: dict[str, MBConvFamily] = {"mbconv": MBCONV, "mobilenetv2": MOBILENETV2}
SUPERNETS: dict[str, SupernetFactory] = {name: partial(MBConvSupernet, plan) for name, plan in MBCONV_FAMILIES.items()}
SUPERNETS["resnet-joint"] = ResNetJointSupernet
_MAC_TABLES: dict[str, Callable[[InputShape, int], ResourceModel]] = {
    name: partial(MBConvMacs, plan) for name, plan in MBCONV_FAMILIES.items()
}
_MAC_TABLES["resnet-joint"] = ResNetJointMacs


def mbconv_family(family: ModelFamily) -> MBConvFamily:
    """The MBConv plan of ``family``; UserError for families that have none."""
    try:
        return MBCONV_FAMILIES[family.name]
    except KeyError:
        known = ", ".join(MBCONV_FAMILIES)
        raise UserError(f"model {family.name!r} has no elastic supernet or latency table yet (MBConv families: {known})") from None


def latency_model(
    family: ModelFamily, input_shape: InputShape, num_classes: int, *, batch_size: int = 1, cache: Path | None = None
) -> LatencyTable:
    """The measured latency table of ``family``'s children on this device (``cache``: the
    folder of cached tables, default the user's cache directory)."""
    if family.name == "resnet-joint":
        return ResNetJointLatency(input_shape, num_classes, batch_size=batch_size, cache=cache)
    return MBConvLatency(mbconv_family(family), input_shape, num_classes, batch_size=batch_size, cache=cache)


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
    "MBCONV_FAMILIES",
    "BNMode",
    "CountedMacs",
    "FixedNetwork",
    "LatencyTable",
    "MBConvLatency",
    "MBConvSupernet",
    "ResNetJointLatency",
    "ResNetJointSupernet",
    "ResourceModel",
    "has_supernet",
    "latency_model",
    "mbconv_family",
    "recalibrate_bn",
    "resource_model",
    "supernet_for",
]
