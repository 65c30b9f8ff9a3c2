"""Resource models of children: multiply-accumulates (MACs) from per-layer entries.

A network's MACs are the sum of its layers' (seed 003 Sec. 4.2 sums layer costs the same
way for latency). Each entry is computed once per distinct layer shape and cached, so
scoring a child costs a few dictionary look-ups; the sums equal torch's
``FlopCounterMode`` count / 2 exactly (tested on random children of every space). Only
convolutions and linear layers count, as in the FLOP counter (BatchNorm, activations,
pooling and the input resize are not multiply-accumulates of weights).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Protocol

from hasearch.models.family import InputShape
from hasearch.models.mbconv import MBConvArch, MBConvFamily, scaled_size, stem_stride
from hasearch.models.resnet_joint import STRIDES
from hasearch.supernet.resnet_joint import ResNetArch


class ResourceModel(Protocol):
    """What a resource limit or target needs: a child's cost from its configuration."""

    unit: str

    def cost(self, config: Mapping[str, Any]) -> float: ...


def conv_out(size: int, stride: int) -> int:
    """Output size of a 'same'-padded convolution with odd kernel."""
    return (size - 1) // stride + 1


@lru_cache(maxsize=65536)
def mbconv_block_macs(cin: int, cout: int, kernel: int, expansion: int, stride: int, height: int, width: int) -> int:
    """One inverted-residual block: 1x1 expand (unless e = 1), kxk depthwise, 1x1 project."""
    mid = cin * expansion
    ho, wo = conv_out(height, stride), conv_out(width, stride)
    expand = height * width * cin * mid if expansion != 1 else 0
    return expand + ho * wo * mid * kernel * kernel + ho * wo * mid * cout


class MBConvMacs:
    """MACs of every child of an MBConv family on one input shape."""

    unit = "MACs"

    def __init__(self, family: MBConvFamily, input_shape: InputShape, num_classes: int) -> None:
        self.family, self.input_shape, self.num_classes = family, input_shape, num_classes

    def cost(self, config: Mapping[str, Any]) -> float:
        return float(self.macs(self.family.arch_of(config)))

    def macs(self, arch: MBConvArch) -> int:
        plan = self.family.plan
        h, w = scaled_size(self.input_shape, arch.scale)
        stride = stem_stride(self.input_shape)
        h, w = conv_out(h, stride), conv_out(w, stride)
        total = h * w * plan.stem * self.input_shape[0] * 9
        cin = plan.stem
        for stage, width, choices in zip(plan.stages, arch.widths, arch.blocks, strict=True):
            for b, (kernel, expansion) in enumerate(choices):
                s = stage.stride if b == 0 else 1
                total += mbconv_block_macs(cin, width, kernel, expansion, s, h, w)
                h, w, cin = conv_out(h, s), conv_out(w, s), width
        return total + h * w * cin * plan.head + plan.head * self.num_classes


class ResNetJointMacs:
    """MACs of every child of the ``resnet-joint`` family (seed 002 Eq. 1) on one input shape."""

    unit = "MACs"

    def __init__(self, input_shape: InputShape, num_classes: int) -> None:
        self.input_shape, self.num_classes = input_shape, num_classes

    def cost(self, config: Mapping[str, Any]) -> float:
        arch = ResNetArch.of(config)
        c, height, width = self.input_shape
        stem = 2 if min(height, width) >= 24 else 1
        h, w = conv_out(height, stem), conv_out(width, stem)
        total, cin = h * w * c * arch.filters * 9, arch.filters
        for cout, blocks, branches, stride in zip(arch.widths, arch.blocks, arch.branches, STRIDES, strict=True):
            for k in range(blocks):
                s = stride if k == 0 else 1
                total += resnet_block_macs(cin, cout, branches, s, h, w)
                h, w, cin = conv_out(h, s), conv_out(w, s), cout
        return float(total + cin * self.num_classes)


@lru_cache(maxsize=65536)
def resnet_block_macs(cin: int, cout: int, branches: int, stride: int, height: int, width: int) -> int:
    """Branches of two 3x3 convolutions each, plus the 1x1 projection when the shape changes."""
    ho, wo = conv_out(height, stride), conv_out(width, stride)
    per_branch = ho * wo * cin * cout * 9 + ho * wo * cout * cout * 9
    projection = ho * wo * cin * cout if stride != 1 or cin != cout else 0
    return branches * per_branch + projection
