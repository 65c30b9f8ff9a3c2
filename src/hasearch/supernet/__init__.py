"""Weight sharing for single-run methods (AutoHAS now; NES and DHA next).

* :mod:`~hasearch.supernet.elastic`: elastic width / kernel slices, BatchNorm modes and
  recalibration (Once-for-All style);
* :mod:`~hasearch.supernet.mbconv`: the elastic supernet of the MBConv families (width,
  depth, kernel, expansion, input scale) with export of any child;
* :mod:`~hasearch.supernet.resnet_joint`: the same for ``resnet-joint`` (width, depth,
  branches);
* :mod:`~hasearch.supernet.darts`: the DARTS one-shot cell network (every edge holds all
  primitives; per-edge, per-op coefficients; zero ones not computed), export, MACs;
* :mod:`~hasearch.supernet.fixed`: a fixed network for hyperparameter-only search;
* :mod:`~hasearch.supernet.resources`: MACs of a child from per-layer entries;
* :mod:`~hasearch.supernet.latency`, :mod:`~hasearch.supernet.latency_tables`: the
  latency look-up tables;
* :mod:`~hasearch.supernet.scoring`: a child's loss and accuracy after BatchNorm
  recalibration on a fixed set of training images.

:func:`supernet_for`, :func:`resource_model` and :func:`latency_model` pick the right one
for a model family
(factories in dicts keyed by family name; every built-in family has a supernet, MACs
and a latency table).
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
from hasearch.supernet.darts import DartsMacs, DartsSupernet
from hasearch.supernet.elastic import BNMode, recalibrate_bn
from hasearch.supernet.fixed import FixedNetwork
from hasearch.supernet.latency import LatencyTable
from hasearch.supernet.latency_tables import DartsLatency, MBConvLatency, ResNetJointLatency
from hasearch.supernet.mbconv import MBConvSupernet
from hasearch.supernet.resnet_joint import ResNetJointSupernet
from hasearch.supernet.resources import MBConvMacs, ResNetJointMacs, ResourceModel

SupernetFactory = Callable[[SearchSpace, InputShape, int], nn.Module]
LatencyFactory = Callable[..., LatencyTable]  # (input_shape, num_classes, *, batch_size, cache)

MBCONV_FAMILIES: dict[str, MBConvFamily] = {"mbconv": MBCONV, "mobilenetv2": MOBILENETV2}
SUPERNETS: dict[str, SupernetFactory] = {name: partial(MBConvSupernet, plan) for name, plan in MBCONV_FAMILIES.items()}
SUPERNETS["resnet-joint"] = ResNetJointSupernet
SUPERNETS["darts"] = DartsSupernet
_MAC_TABLES: dict[str, Callable[[InputShape, int], ResourceModel]] = {
    name: partial(MBConvMacs, plan) for name, plan in MBCONV_FAMILIES.items()
}
_MAC_TABLES["resnet-joint"] = ResNetJointMacs
_MAC_TABLES["darts"] = DartsMacs
_LATENCY_TABLES: dict[str, LatencyFactory] = {name: partial(MBConvLatency, plan) for name, plan in MBCONV_FAMILIES.items()}
_LATENCY_TABLES["resnet-joint"] = ResNetJointLatency
_LATENCY_TABLES["darts"] = DartsLatency


def has_supernet(family: ModelFamily) -> bool:
    return family.name in SUPERNETS


def supernet_for(family: ModelFamily, space: SearchSpace, input_shape: InputShape, num_classes: int) -> nn.Module:
    """The elastic supernet of ``family`` over ``space``."""
    return _factory(SUPERNETS, family, "elastic supernet")(space, input_shape, num_classes)


def resource_model(family: ModelFamily, input_shape: InputShape, num_classes: int) -> ResourceModel:
    """MACs of ``family``'s children, from per-layer entries."""
    return _factory(_MAC_TABLES, family, "MACs table")(input_shape, num_classes)


def latency_model(
    family: ModelFamily, input_shape: InputShape, num_classes: int, *, batch_size: int = 1, cache: Path | None = None
) -> LatencyTable:
    """The measured latency table of ``family``'s children on this device (``cache``: the
    folder of cached tables, default the user's cache directory)."""
    return _factory(_LATENCY_TABLES, family, "latency table")(input_shape, num_classes, batch_size=batch_size, cache=cache)


def _factory(factories: Mapping[str, Any], family: ModelFamily, what: str) -> Any:
    try:
        return factories[family.name]
    except KeyError:
        raise UserError(f"model {family.name!r} has no {what} yet (families with one: {', '.join(factories)})") from None


__all__ = [
    "MBCONV_FAMILIES",
    "BNMode",
    "DartsLatency",
    "DartsMacs",
    "DartsSupernet",
    "FixedNetwork",
    "LatencyTable",
    "MBConvLatency",
    "MBConvSupernet",
    "ResNetJointLatency",
    "ResNetJointSupernet",
    "ResourceModel",
    "has_supernet",
    "latency_model",
    "recalibrate_bn",
    "resource_model",
    "supernet_for",
]
