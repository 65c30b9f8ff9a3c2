"""The DARTS cell space (Liu et al., 2019) at CPU scale: the ``darts`` family (seed 001
Sec. 3.3 searches it with ISTA-NAS).

A network is a 3x3 stem (``STEM_MULTIPLIER * INIT_CHANNELS`` channels; it halves inputs of
24 pixels or more), ``CELLS`` cells and a linear classifier on global average pooling. The
cells at ``REDUCTIONS`` halve the resolution and double the channels; all normal cells
share one architecture, all reduction cells another. A cell reads the outputs of the two
previous cells (s0, s1), brings both to its C channels (a 1x1 ReLU-conv-BN, or a
:class:`FactorizedReduce` for s0 when the cell before halved the resolution), computes 4
intermediate nodes and outputs their concatenation (4C channels). Node j sums two edges
``c_a * op_a(state_a) + c_b * op_b(state_b)`` with inputs a < b among states 0..j+1
(0, 1: the cell inputs; 2 + k: node k); on a reduction cell the edges from states 0 and 1
have stride 2. The coefficients ``c`` are the buffer ``coefficients`` (shape (2,),
default 1.0) of each node: a one-stage ISTA-NAS search keeps the learned ones.

Primitives (DARTS's, without ``none``): ReLU-conv-BN, ``sep_conv`` applied twice, pools
followed by nothing (no BatchNorm, in the supernet too, so an exported child is exactly
the supernet's), skip connection = identity (stride 2: FactorizedReduce). Every BatchNorm
is affine.

Configuration: ``{t}_node{j}_inputs`` ("a-b"), ``{t}_node{j}_op_a``, ``{t}_node{j}_op_b``
for t in (normal, reduce), j in 0..3, and ``dropout`` before the classifier. Defaults:
DARTS-V2's cells.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hasearch.models.family import InputShape, ModelFamily
from hasearch.models.mbconv import stem_stride

INIT_CHANNELS = 8
STEM_MULTIPLIER = 3
CELLS = 5
REDUCTIONS = (1, 3)
NODES = 4
CELL_TYPES = ("normal", "reduce")
PRIMITIVES = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")

BatchNorm = Callable[[int], nn.Module]  # channels -> a BatchNorm2d (the supernet passes its mode-aware one)
Edge = tuple[int, str]  # (input state, primitive)


def halve(size: int) -> int:
    """Output size of a stride-2 'same' operation."""
    return (size - 1) // 2 + 1


def relu_conv_bn(cin: int, cout: int, *, bn: BatchNorm = nn.BatchNorm2d) -> nn.Sequential:
    """ReLU, 1x1 convolution, BatchNorm (the cell's input preprocessing)."""
    return nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(cin, cout, 1, bias=False), bn(cout))


class FactorizedReduce(nn.Module):
    """Halve the resolution with two 1x1 convolutions on the even and the odd pixel grids
    (each half of the output channels), then BatchNorm.

    The strided 1x1 convolutions are written as subsampling + stride-1 convolutions (same
    output; avoids the torch CPU bug in channels_last backward, see
    :class:`~hasearch.models.resnet_joint.StridedProjection`); an odd size is zero-padded
    so both grids have ``halve(size)`` pixels.
    """

    def __init__(self, cin: int, cout: int, *, bn: BatchNorm = nn.BatchNorm2d) -> None:
        super().__init__()
        self.conv_1 = nn.Conv2d(cin, cout // 2, 1, bias=False)
        self.conv_2 = nn.Conv2d(cin, cout - cout // 2, 1, bias=False)
        self.bn = bn(cout)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(x)
        odd = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))[:, :, 1::2, 1::2]
        return self.bn(torch.cat([self.conv_1(x[:, :, ::2, ::2]), self.conv_2(odd)], dim=1))


def _dw_pw(channels: int, kernel: int, stride: int, dilation: int, bn: BatchNorm) -> list[nn.Module]:
    """ReLU, depthwise kxk (dilated), pointwise 1x1, BatchNorm."""
    pad = dilation * (kernel // 2)
    return [
        nn.ReLU(inplace=False),
        nn.Conv2d(channels, channels, kernel, stride, pad, dilation=dilation, groups=channels, bias=False),
        nn.Conv2d(channels, channels, 1, bias=False),
        bn(channels),
    ]


def sep_conv(kernel: int, channels: int, stride: int, bn: BatchNorm) -> nn.Module:
    """DARTS's separable convolution: the depthwise-pointwise pair twice (stride on the first)."""
    return nn.Sequential(*_dw_pw(channels, kernel, stride, 1, bn), *_dw_pw(channels, kernel, 1, 1, bn))


def dil_conv(kernel: int, channels: int, stride: int, bn: BatchNorm) -> nn.Module:
    """Dilated (2) depthwise-pointwise convolution."""
    return nn.Sequential(*_dw_pw(channels, kernel, stride, 2, bn))


def skip_connect(channels: int, stride: int, bn: BatchNorm) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, bn=bn)


OPS: dict[str, Callable[[int, int, BatchNorm], nn.Module]] = {
    "max_pool_3x3": lambda c, stride, bn: nn.MaxPool2d(3, stride, 1),
    "avg_pool_3x3": lambda c, stride, bn: nn.AvgPool2d(3, stride, 1, count_include_pad=False),
    "skip_connect": skip_connect,
    "sep_conv_3x3": partial(sep_conv, 3),
    "sep_conv_5x5": partial(sep_conv, 5),
    "dil_conv_3x3": partial(dil_conv, 3),
    "dil_conv_5x5": partial(dil_conv, 5),
}


def make_op(name: str, channels: int, stride: int, *, bn: BatchNorm = nn.BatchNorm2d) -> nn.Module:
    """The primitive ``name`` on ``channels`` channels."""
    return OPS[name](channels, stride, bn)


@dataclass(frozen=True)
class CellArch:
    """One cell type's architecture: per node, its two edges ((input, op), (input, op))."""

    nodes: tuple[tuple[Edge, Edge], ...]


@dataclass(frozen=True)
class DartsArch:
    """A child: the normal and the reduction cell (like DARTS's ``Genotype``)."""

    normal: CellArch
    reduce: CellArch

    def cell(self, kind: str) -> CellArch:
        return getattr(self, kind)


@dataclass(frozen=True)
class CellSpec:
    """One cell's place in the network: channels of its inputs and own C, whether it (or
    the cell before) reduces, and the resolution of s1 (s0: twice it after a reduction)."""

    c_prev_prev: int
    c_prev: int
    channels: int
    reduction: bool
    reduction_prev: bool
    size: tuple[int, int]

    @property
    def kind(self) -> str:
        return "reduce" if self.reduction else "normal"

    @property
    def node_size(self) -> tuple[int, int]:
        """The resolution of the cell's nodes and output (halved on a reduction cell)."""
        return (halve(self.size[0]), halve(self.size[1])) if self.reduction else self.size

    def edge_input_size(self, state: int) -> tuple[int, int]:
        """The resolution of an edge's input: the cell inputs (states 0, 1) or a node."""
        return self.size if state < 2 else self.node_size


def stem_size(input_shape: InputShape) -> tuple[int, int]:
    s = stem_stride(input_shape)
    return (input_shape[1], input_shape[2]) if s == 1 else (halve(input_shape[1]), halve(input_shape[2]))


def cell_plan(input_shape: InputShape) -> tuple[CellSpec, ...]:
    """The cells of every ``darts`` network on ``input_shape``, in order."""
    stem = STEM_MULTIPLIER * INIT_CHANNELS
    c_pp, c_p, channels, size, reduction_prev = stem, stem, INIT_CHANNELS, stem_size(input_shape), False
    specs = []
    for i in range(CELLS):
        reduction = i in REDUCTIONS
        channels *= 2 if reduction else 1
        specs.append(CellSpec(c_pp, c_p, channels, reduction, reduction_prev, size))
        c_pp, c_p, reduction_prev, size = c_p, NODES * channels, reduction, specs[-1].node_size
    return tuple(specs)


def preprocessors(spec: CellSpec, *, bn: BatchNorm = nn.BatchNorm2d) -> tuple[nn.Module, nn.Module]:
    """A cell's s0 and s1 preprocessing to its C channels."""
    pre0 = FactorizedReduce(spec.c_prev_prev, spec.channels, bn=bn) if spec.reduction_prev else relu_conv_bn(spec.c_prev_prev, spec.channels, bn=bn)
    return pre0, relu_conv_bn(spec.c_prev, spec.channels, bn=bn)


def edge_stride(spec: CellSpec, state: int) -> int:
    """Stride of an edge from ``state``: 2 from a reduction cell's inputs, else 1."""
    return 2 if spec.reduction and state < 2 else 1


def stem(input_shape: InputShape, *, bn: BatchNorm = nn.BatchNorm2d) -> nn.Sequential:
    out = STEM_MULTIPLIER * INIT_CHANNELS
    return nn.Sequential(nn.Conv2d(input_shape[0], out, 3, stem_stride(input_shape), 1, bias=False), bn(out))


class Node(nn.Module):
    """``coefficients[0] * op_a(state_a) + coefficients[1] * op_b(state_b)``."""

    def __init__(self, edges: tuple[Edge, Edge], spec: CellSpec) -> None:
        super().__init__()
        self.inputs = tuple(i for i, _ in edges)
        self.ops = nn.ModuleList(make_op(op, spec.channels, edge_stride(spec, i)) for i, op in edges)
        self.register_buffer("coefficients", torch.ones(len(edges)))

    def forward(self, states: list[Tensor]) -> Tensor:
        a, b = self.inputs
        return self.coefficients[0] * self.ops[0](states[a]) + self.coefficients[1] * self.ops[1](states[b])


class DartsCell(nn.Module):
    """A cell of one discrete architecture."""

    def __init__(self, arch: CellArch, spec: CellSpec) -> None:
        super().__init__()
        self.pre0, self.pre1 = preprocessors(spec)
        self.nodes = nn.ModuleList(Node(edges, spec) for edges in arch.nodes)

    def forward(self, s0: Tensor, s1: Tensor) -> Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for node in self.nodes:
            states.append(node(states))
        return torch.cat(states[2:], dim=1)


class DartsNet(nn.Module):
    """The standalone child network of the ``darts`` family."""

    def __init__(self, arch: DartsArch, *, dropout: float, input_shape: InputShape, num_classes: int) -> None:
        super().__init__()
        self.stem = stem(input_shape)
        plan = cell_plan(input_shape)
        self.cells = nn.ModuleList(DartsCell(arch.cell(spec.kind), spec) for spec in plan)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(NODES * plan[-1].channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        x = torch.flatten(F.adaptive_avg_pool2d(s1, 1), 1)
        return self.classifier(self.dropout(x))


# DARTS-V2 (Liu et al. 2019: the cells of the second-order search), in this encoding: per node (inputs, op_a, op_b)
DARTS_V2: dict[str, tuple[tuple[str, str, str], ...]] = {
    "normal": (
        ("0-1", "sep_conv_3x3", "sep_conv_3x3"),
        ("0-1", "sep_conv_3x3", "sep_conv_3x3"),
        ("0-1", "skip_connect", "sep_conv_3x3"),
        ("0-2", "skip_connect", "dil_conv_3x3"),
    ),
    "reduce": (
        ("0-1", "max_pool_3x3", "max_pool_3x3"),
        ("1-2", "max_pool_3x3", "skip_connect"),
        ("0-2", "max_pool_3x3", "skip_connect"),
        ("1-2", "max_pool_3x3", "skip_connect"),
    ),
}


def input_pairs(node: int) -> tuple[str, ...]:
    """The legal ``inputs`` values of ``node``: "a-b" with a < b in 0..node+1."""
    return tuple(f"{a}-{b}" for b in range(1, node + 2) for a in range(b))


def parameter_names(kind: str, node: int) -> tuple[str, str, str]:
    """The names of a node's inputs, op_a and op_b parameters."""
    return f"{kind}_node{node}_inputs", f"{kind}_node{node}_op_a", f"{kind}_node{node}_op_b"


def _defaults() -> dict[str, Any]:
    d: dict[str, Any] = {}
    for kind in CELL_TYPES:
        for j, values in enumerate(DARTS_V2[kind]):
            d |= dict(zip(parameter_names(kind, j), values, strict=True))
    return d | {"dropout": 0.0}


def _checks() -> dict[str, Any]:
    c: dict[str, Any] = {"dropout": (lambda v: 0.0 <= v < 1.0, "dropout in [0, 1)")}
    op_check = (lambda v: v in PRIMITIVES, f"one of {', '.join(PRIMITIVES)}")
    for kind in CELL_TYPES:
        for j in range(NODES):
            inputs, op_a, op_b = parameter_names(kind, j)
            pairs = input_pairs(j)
            c[inputs] = (lambda v, legal=pairs: v in legal, f"'a-b' with a < b in 0..{j + 1} ({', '.join(pairs)})")
            c[op_a] = c[op_b] = op_check
    return c


def arch_of(config: Mapping[str, Any]) -> DartsArch:
    """The child ``config`` describes (missing values: DARTS-V2's)."""
    c = FAMILY.resolve(config)
    cells = []
    for kind in CELL_TYPES:
        nodes = []
        for j in range(NODES):
            inputs, op_a, op_b = parameter_names(kind, j)
            a, b = (int(s) for s in str(c[inputs]).split("-"))
            nodes.append(((a, str(c[op_a])), (b, str(c[op_b]))))
        cells.append(CellArch(tuple(nodes)))
    return DartsArch(*cells)


def build_darts(config: Mapping[str, Any], input_shape: InputShape, num_classes: int) -> DartsNet:
    """Build the ``darts`` child described by ``config`` (missing values: family defaults)."""
    dropout = float(config.get("dropout", 0.0))
    return DartsNet(arch_of(config), dropout=dropout, input_shape=input_shape, num_classes=num_classes)


FAMILY = ModelFamily(
    name="darts",
    description="DARTS cells (4 nodes, 2 of 7 primitives each) at CPU scale (seed 001 Sec. 3.3)",
    build=build_darts,
    defaults=_defaults(),
    checks=_checks(),
)
