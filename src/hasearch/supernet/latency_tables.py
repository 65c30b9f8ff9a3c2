"""The latency tables of the built-in families: which layers a child has, how to time one.

* MBConv families: the input resize, the stem, each MBConv block (channels, kernel,
  expansion, stride, input size), the head with pooling and classifier.
* ``resnet-joint``: the stem, each residual block (channels, branches, stride, input size;
  its projection included when the shape changes), the final ReLU, pooling and classifier.
* ``darts``: the stem, each cell's two input preprocessings, each chosen edge (primitive,
  stride, input size), each node's weighted sum, each cell's concatenation, the head.

Grids measure at most three channel counts per stage; the rest is interpolated.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import product
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from hasearch.models.darts import (
    CELL_TYPES,
    NODES,
    build_darts,
    cell_plan,
    edge_stride,
    make_op,
    preprocessors,
    stem,
    stem_size,
)
from hasearch.models.darts import arch_of as darts_arch_of
from hasearch.models.family import InputShape
from hasearch.models.mbconv import (
    MBConvArch,
    MBConvBlock,
    MBConvFamily,
    conv_bn,
    resize,
    scaled_size,
    stem_stride,
)
from hasearch.models.resnet_joint import MAIN_BLOCKS, STRIDES, ResBlock, build_resnet_joint
from hasearch.space import SearchSpace
from hasearch.supernet.darts import op_macs
from hasearch.supernet.latency import LatencyTable, Signature
from hasearch.supernet.mbconv import space_values
from hasearch.supernet.resources import MBConvLayers, ResNetJointLayers, conv_out


class _Resize(nn.Module):
    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize(x, self.size)


class _Head(nn.Module):
    """An MBConv head (1x1 conv) or none, then ReLU (ResNet; ``relu=False``: darts), pooling
    and the classifier."""

    def __init__(self, cin: int, head: int | None, classes: int, *, relu: bool = True) -> None:
        super().__init__()
        self.conv = conv_bn(cin, head, 1) if head else nn.ReLU() if relu else nn.Identity()
        self.classifier = nn.Linear(head or cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.conv(x), 1), 1))


def thin(values: list[int], keep: int = 3) -> list[int]:
    """At most ``keep`` evenly spread values of a sorted list (first and last included)."""
    if len(values) <= keep:
        return values
    return sorted({values[round(i * (len(values) - 1) / (keep - 1))] for i in range(keep)})


class MBConvLatency(LatencyTable):
    """The latency table of an MBConv family."""

    name = "mbconv"
    channels: ClassVar[dict[str, tuple[int, ...]]] = {"block": (1, 2), "head": (1,)}

    def __init__(self, family: MBConvFamily, input_shape: InputShape, num_classes: int, *, batch_size: int = 1, cache: Path | None = None) -> None:
        self.family, self.walk = family, MBConvLayers(family, input_shape, num_classes)
        super().__init__(input_shape, num_classes, batch_size=batch_size, cache=cache, plan=repr(family.plan))

    def layers(self, config: Mapping[str, Any]) -> list[Signature]:
        return self.walk.layers(config)

    def build_layer(self, signature: Signature) -> tuple[nn.Module, tuple[int, ...]]:
        kind, *rest = signature
        if kind == "resize":
            h, w, h2, w2 = rest
            return _Resize((h2, w2)), (self.input_shape[0], h, w)
        if kind == "stem":
            c, cout, s, h, w = rest
            return conv_bn(c, cout, 3, s), (c, h, w)
        if kind == "block":
            cin, cout, k, e, s, h, w = rest
            return MBConvBlock(cin, cout, kernel=k, expansion=e, stride=s), (cin, h, w)
        cin, head, classes, h, w = rest
        return _Head(cin, head, classes), (cin, h, w)

    def layer_macs(self, signature: Signature) -> int:
        return self.walk.layer_macs(signature)

    def build_network(self, config: Mapping[str, Any]) -> nn.Module:
        return self.family.build(config, self.input_shape, self.num_classes)

    def grid(self, space: SearchSpace) -> list[Signature]:
        """Every layer shape the space's children can have, channels thinned per stage."""
        plan, out = self.family.plan, set()
        widths = [thin(sorted({max(1, round(v * st.channels)) for v in space_values(space, f"width_{s}", 1.0)})) for s, st in enumerate(plan.stages)]
        depths = [int(max(space_values(space, f"depth_{s}", st.depth))) for s, st in enumerate(plan.stages)]
        for scale in space_values(space, "input_scale", 1.0):
            base = MBConvArch(tuple(depths), tuple(w[0] for w in widths), tuple(((3, 6),) * d for d in depths), scale)
            out.update(sig for sig in self.walk.layers_of(base) if sig[0] != "block")
            size = scaled_size(self.input_shape, scale)
            h, w = conv_out(size[0], stem_stride(self.input_shape)), conv_out(size[1], stem_stride(self.input_shape))
            slot, previous = 0, [plan.stem]
            for s, stage in enumerate(plan.stages):
                for b in range(depths[s]):
                    stride = stage.stride if b == 0 else 1
                    kernels, expansions = space_values(space, f"kernel_{slot + b}", 3), space_values(space, f"expansion_{slot + b}", 6)
                    for k, e, cin, cout in product(kernels, expansions, previous if b == 0 else widths[s], widths[s]):
                        out.add(("block", cin, cout, int(k), int(e), stride, h, w))
                    h, w = conv_out(h, stride), conv_out(w, stride)
                slot, previous = slot + stage.max_depth, widths[s]
            out.update(("head", c, plan.head, self.num_classes, h, w) for c in widths[-1])
        return sorted(out, key=repr)


class ResNetJointLatency(LatencyTable):
    """The latency table of the ``resnet-joint`` family."""

    name = "resnet-joint"
    channels: ClassVar[dict[str, tuple[int, ...]]] = {"rstem": (2,), "resblock": (1, 2), "rhead": (1,)}

    def __init__(self, input_shape: InputShape, num_classes: int, *, batch_size: int = 1, cache: Path | None = None) -> None:
        super().__init__(input_shape, num_classes, batch_size=batch_size, cache=cache, plan="resnet-joint")
        self.walk = ResNetJointLayers(input_shape, num_classes)
        self.stem_stride = self.walk.stem_stride

    def layers(self, config: Mapping[str, Any]) -> list[Signature]:
        return self.walk.layers(config)

    def build_layer(self, signature: Signature) -> tuple[nn.Module, tuple[int, ...]]:
        kind, *rest = signature
        if kind == "rstem":
            c, filters, s, h, w = rest
            return nn.Sequential(nn.Conv2d(c, filters, 3, s, 1, bias=False), nn.BatchNorm2d(filters)), (c, h, w)
        if kind == "resblock":
            cin, cout, branches, s, h, w = rest
            return ResBlock(cin, cout, stride=s, branches=branches, death_rate=0.0), (cin, h, w)
        cin, classes, h, w = rest
        return _Head(cin, None, classes), (cin, h, w)

    def layer_macs(self, signature: Signature) -> int:
        return self.walk.layer_macs(signature)

    def build_network(self, config: Mapping[str, Any]) -> nn.Module:
        return build_resnet_joint(config, self.input_shape, self.num_classes)

    def grid(self, space: SearchSpace) -> list[Signature]:
        """Every layer shape of the space's children, channels thinned to three per stage."""
        filters = thin(sorted({int(v) for v in space_values(space, "filters", 16)}))
        c, height, width = self.input_shape
        out: set[Signature] = {("rstem", c, f, self.stem_stride, height, width) for f in filters}
        h, w, previous = conv_out(height, self.stem_stride), conv_out(width, self.stem_stride), filters
        for j, stride in zip(range(1, MAIN_BLOCKS + 1), STRIDES, strict=True):
            widen = space_values(space, f"widen_factor_{j}", 2.0)
            widths = thin(sorted({max(1, round(f * p)) for f in widen for p in previous}))
            branches = [int(b) for b in space_values(space, f"res_branches_{j}", 2)]
            for first, cins in ((True, previous), (False, widths)):
                s = stride if first else 1
                out.update(("resblock", cin, cout, b, s, h, w) for cin, cout, b in product(cins, widths, branches))
                if first:
                    h, w = conv_out(h, s), conv_out(w, s)
            previous = widths
        out.update(("rhead", cin, self.num_classes, h, w) for cin in previous)
        return sorted(out, key=repr)


class _NodeSum(nn.Module):
    """A darts node's weighted sum of its two edges (``c_a * a + c_b * b``)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("coefficients", torch.ones(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.coefficients[0] * x + self.coefficients[1] * x


class _Concat(nn.Module):
    """A darts cell's output: its nodes concatenated along the channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x] * NODES, dim=1)


class DartsLatency(LatencyTable):
    """The latency table of the ``darts`` cell family. Channel counts are fixed by the
    family, so the grid holds every layer a child can have and nothing is interpolated."""

    name = "darts"

    def __init__(self, input_shape: InputShape, num_classes: int, *, batch_size: int = 1, cache: Path | None = None) -> None:
        self.plan = cell_plan(input_shape)
        super().__init__(input_shape, num_classes, batch_size=batch_size, cache=cache, plan=repr(self.plan))

    def layers(self, config: Mapping[str, Any]) -> list[Signature]:
        arch = darts_arch_of(config)
        out: list[Signature] = [("dstem", *self.input_shape)]
        for i, spec in enumerate(self.plan):
            c = spec.channels
            out += [("dpre0", i), ("dpre1", i)]
            for node in arch.cell(spec.kind).nodes:
                out += [("dedge", op, c, edge_stride(spec, j), *spec.edge_input_size(j)) for j, op in node]
                out.append(("dnode", c, *spec.node_size))
            out.append(("dconcat", c, *spec.node_size))
        out.append(("dhead", NODES * self.plan[-1].channels, *self.plan[-1].node_size))
        return out

    def build_layer(self, signature: Signature) -> tuple[nn.Module, tuple[int, ...]]:
        kind, *rest = signature
        if kind == "dstem":
            return stem(self.input_shape), tuple(self.input_shape)
        if kind in ("dpre0", "dpre1"):  # s0 is the output of the cell before the previous one
            i = rest[0]
            spec, first = self.plan[i], kind == "dpre0"
            size = (self.plan[i - 1].size if i else stem_size(self.input_shape)) if first else spec.size
            return preprocessors(spec)[0 if first else 1], (spec.c_prev_prev if first else spec.c_prev, *size)
        if kind == "dedge":
            op, c, stride, h, w = rest
            return make_op(op, c, stride), (c, h, w)
        if kind == "dnode":
            return _NodeSum(), tuple(rest)
        if kind == "dconcat":
            return _Concat(), tuple(rest)
        cin, h, w = rest
        return _Head(cin, None, self.num_classes, relu=False), (cin, h, w)

    def layer_macs(self, signature: Signature) -> int:
        kind, *rest = signature
        return op_macs(*rest) if kind == "dedge" else 0

    def build_network(self, config: Mapping[str, Any]) -> nn.Module:
        return build_darts(config, self.input_shape, self.num_classes)

    def grid(self, space: SearchSpace) -> list[Signature]:
        """Every layer of every child: each primitive the space allows on each edge shape of
        each cell, and the layers every child shares (stem, preprocessings, sums, head)."""
        baseline = darts_arch_of(space.baseline)  # the family's defaults for parameters the space fixes
        ops = {op for kind in CELL_TYPES for node in baseline.cell(kind).nodes for _, op in node}
        ops |= {str(c) for p in space.params if p.name.endswith(("_op_a", "_op_b")) for c in p.choices}
        out: set[Signature] = {layer for layer in self.layers(space.baseline) if layer[0] != "dedge"}
        for spec in self.plan:  # an edge from a cell input (states 0, 1) or from a node (2 on)
            shapes = {(edge_stride(spec, state), *spec.edge_input_size(state)) for state in (0, 2)}
            out.update(("dedge", op, spec.channels, stride, h, w) for op in ops for stride, h, w in shapes)
        return sorted(out, key=repr)
