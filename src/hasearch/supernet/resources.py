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


Signature = tuple[Any, ...]  # one layer: its kind, then the numbers that fix its shape


class MBConvLayers:
    """The layers of any child of an MBConv family on one input shape, in order: the input
    resize, the stem, each block (channels, kernel, expansion, stride, input size), the
    head with pooling and classifier. MACs and latency tables both sum over them."""

    def __init__(self, family: MBConvFamily, input_shape: InputShape, num_classes: int) -> None:
        self.family, self.input_shape, self.num_classes = family, input_shape, num_classes

    def layers(self, config: Mapping[str, Any]) -> list[Signature]:
        return self.layers_of(self.family.arch_of(config))

    def layers_of(self, arch: MBConvArch) -> list[Signature]:
        plan, (c, height, width) = self.family.plan, self.input_shape
        size = scaled_size(self.input_shape, arch.scale)
        out: list[Signature] = [("resize", height, width, *size)] if size != (height, width) else []
        stride = stem_stride(self.input_shape)
        out.append(("stem", c, plan.stem, stride, *size))
        h, w, cin = conv_out(size[0], stride), conv_out(size[1], stride), plan.stem
        for stage, cout, choices in zip(plan.stages, arch.widths, arch.blocks, strict=True):
            for b, (kernel, expansion) in enumerate(choices):
                s = stage.stride if b == 0 else 1
                out.append(("block", cin, cout, kernel, expansion, s, h, w))
                h, w, cin = conv_out(h, s), conv_out(w, s), cout
        out.append(("head", cin, plan.head, self.num_classes, h, w))
        return out

    @staticmethod
    def layer_macs(signature: Signature) -> int:
        kind, *rest = signature
        if kind == "resize":
            return 0
        if kind == "stem":
            c, cout, s, h, w = rest
            return conv_out(h, s) * conv_out(w, s) * c * cout * 9
        if kind == "block":
            return mbconv_block_macs(*rest)
        cin, head, classes, h, w = rest
        return h * w * cin * head + head * classes


class ResNetJointLayers:
    """The layers of any child of the ``resnet-joint`` family (seed 002 Eq. 1): the stem,
    each residual block (channels, branches, stride, input size), the classifier."""

    def __init__(self, input_shape: InputShape, num_classes: int) -> None:
        self.input_shape, self.num_classes = input_shape, num_classes
        self.stem_stride = 2 if min(input_shape[1:]) >= 24 else 1

    def layers(self, config: Mapping[str, Any]) -> list[Signature]:
        return self.layers_of(ResNetArch.of(config))

    def layers_of(self, arch: ResNetArch) -> list[Signature]:
        c, height, width = self.input_shape
        out: list[Signature] = [("rstem", c, arch.filters, self.stem_stride, height, width)]
        h, w, cin = conv_out(height, self.stem_stride), conv_out(width, self.stem_stride), arch.filters
        for cout, blocks, branches, stride in zip(arch.widths, arch.blocks, arch.branches, STRIDES, strict=True):
            for k in range(blocks):
                s = stride if k == 0 else 1
                out.append(("resblock", cin, cout, branches, s, h, w))
                h, w, cin = conv_out(h, s), conv_out(w, s), cout
        out.append(("rhead", cin, self.num_classes, h, w))
        return out

    @staticmethod
    def layer_macs(signature: Signature) -> int:
        kind, *rest = signature
        if kind == "rstem":
            c, filters, s, h, w = rest
            return conv_out(h, s) * conv_out(w, s) * c * filters * 9
        if kind == "resblock":
            return resnet_block_macs(*rest)
        return rest[0] * rest[1]


class _SummedMacs:
    """MACs of a child: the sum of its layers' (each entry cached per layer shape)."""

    unit = "MACs"
    layers: Any
    layer_macs: Any

    def cost(self, config: Mapping[str, Any]) -> float:
        return float(sum(self.layer_macs(layer) for layer in self.layers(config)))


class MBConvMacs(_SummedMacs, MBConvLayers):
    """MACs of every child of an MBConv family on one input shape."""


class ResNetJointMacs(_SummedMacs, ResNetJointLayers):
    """MACs of every child of the ``resnet-joint`` family on one input shape."""


@lru_cache(maxsize=65536)
def resnet_block_macs(cin: int, cout: int, branches: int, stride: int, height: int, width: int) -> int:
    """Branches of two 3x3 convolutions each, plus the 1x1 projection when the shape changes."""
    ho, wo = conv_out(height, stride), conv_out(width, stride)
    per_branch = ho * wo * cin * cout * 9 + ho * wo * cout * cout * 9
    projection = ho * wo * cin * cout if stride != 1 or cin != cout else 0
    return branches * per_branch + projection
