"""Model families (builders of standalone child networks) and their registry."""

from __future__ import annotations

from hasearch.errors import SpaceError
from hasearch.models import darts, mbconv, resnet_joint
from hasearch.models.family import InputShape, ModelFamily

FAMILIES: dict[str, ModelFamily] = {f.name: f for f in (mbconv.FAMILY, mbconv.MOBILENETV2_FAMILY, resnet_joint.FAMILY, darts.FAMILY)}


def get_family(name: str) -> ModelFamily:
    """The model family called ``name``; SpaceError naming the known ones otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        known = ", ".join(sorted(FAMILIES))
        raise SpaceError(f"unknown model family {name!r} (known: {known})") from None


__all__ = ["FAMILIES", "InputShape", "ModelFamily", "get_family"]
