"""The weight-sharing supernet of the ``darts`` family (DARTS's one-shot model; seed 001
Sec. 3.3 searches it with ISTA-NAS).

Every cell holds, for node j, an edge from every state i in 0..j+1 with all 7 primitives
(14 edges x 7 ops per cell). :meth:`DartsSupernet.forward` takes per-edge, per-op
coefficients (:data:`DartsWeights`) and computes node j as the sum over (i, op) of
``weights[kind][j][i, op] * op(state_i)``, skipping every exactly-zero coefficient (one
``nonzero`` per cell type per call), so a sparse code costs only its non-zero ops and a
one-hot code (:meth:`~DartsSupernet.arch_of`) is exactly a discrete child.
:meth:`~DartsSupernet.export` gives that child standalone
(:class:`~hasearch.models.darts.DartsNet`), with the coefficients a search learned.

Every BatchNorm reads the network's :class:`~hasearch.supernet.elastic.BNMode` through a
shared holder, so ``with net.bn_mode(BNMode.BATCH)`` reaches all of them.
:class:`DartsMacs` prices a child from per-op entries (equal to torch's FLOP counter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hasearch.models.darts import (
    CELL_TYPES,
    NODES,
    PRIMITIVES,
    CellSpec,
    DartsArch,
    DartsNet,
    arch_of,
    build_darts,
    cell_plan,
    edge_stride,
    halve,
    make_op,
    preprocessors,
    stem,
    stem_size,
)
from hasearch.models.family import InputShape
from hasearch.space import SearchSpace
from hasearch.supernet.elastic import (
    BNMode,
    BNModeSwitch,
    elastic_bn,
    memory_format,
    recalibrate_bn,
)

DartsWeights = Mapping[str, Sequence[Tensor]]  # {"normal": [(j + 2, 7) for j in 0..3], "reduce": [...]}
Coefficients = Mapping[str, Sequence[tuple[float, float]]]  # per cell type, per node (c_a, c_b)
EDGES = [(j, i) for j in range(NODES) for i in range(j + 2)]  # (node, input state), row-major


class _ModeHolder:
    """The one BNMode every BatchNorm of a supernet reads."""

    __slots__ = ("mode",)

    def __init__(self) -> None:
        self.mode = BNMode.TRAIN


class _ModalBatchNorm(nn.BatchNorm2d):
    """A BatchNorm2d that normalises as its supernet's mode says (TRAIN, BATCH, RUNNING)."""

    def __init__(self, num_features: int, *, holder: _ModeHolder) -> None:
        super().__init__(num_features)
        self.holder = holder

    def forward(self, x: Tensor) -> Tensor:
        return elastic_bn(x, self, self.num_features, self.holder.mode)


def active_edges(weights: Sequence[Tensor]) -> list[list[tuple[int, int]]]:
    """Per node, the (input state, op index) pairs whose coefficient is non-zero (one sync)."""
    for j, w in enumerate(weights):
        if tuple(w.shape) != (j + 2, len(PRIMITIVES)):
            raise ValueError(f"weights of node {j} must have shape ({j + 2}, {len(PRIMITIVES)}), not {tuple(w.shape)}")
    rows = torch.cat([w.detach() for w in weights]).ne(0).nonzero().tolist()
    out: list[list[tuple[int, int]]] = [[] for _ in range(NODES)]
    for row, op in rows:
        j, i = EDGES[row]
        out[j].append((i, op))
    return out


class _SuperCell(nn.Module):
    """A cell with every (input, primitive) edge of every node."""

    def __init__(self, spec: CellSpec, holder: _ModeHolder) -> None:
        super().__init__()
        bn = lambda c: _ModalBatchNorm(c, holder=holder)
        self.spec = spec
        self.pre0, self.pre1 = preprocessors(spec, bn=bn)
        self.edges = nn.ModuleList(
            nn.ModuleList(nn.ModuleList(make_op(p, spec.channels, edge_stride(spec, i), bn=bn) for p in PRIMITIVES) for i in range(j + 2))
            for j in range(NODES)
        )

    def forward(self, s0: Tensor, s1: Tensor, weights: Sequence[Tensor], active: list[list[tuple[int, int]]]) -> Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for j, (w, edges) in enumerate(zip(weights, active, strict=True)):
            out: Tensor | None = None
            for i, k in edges:
                term = w[i, k] * self.edges[j][i][k](states[i])
                out = term if out is None else out + term
            states.append(out if out is not None else self._zeros(states[1]))
        return torch.cat(states[2:], dim=1)

    def _zeros(self, s1: Tensor) -> Tensor:
        """A node without any active edge."""
        n, c, h, w = s1.shape
        if self.spec.reduction:
            h, w = halve(h), halve(w)
        return s1.new_zeros((n, c, h, w)).contiguous(memory_format=memory_format(s1))


class DartsSupernet(BNModeSwitch, nn.Module):
    """The ``darts`` one-shot network: every cell holds all 14 edges x 7 primitives.

    ``space`` is accepted for the common supernet interface; every primitive is always
    held (a space restricting choices simply never selects the others).
    """

    def __init__(self, space: SearchSpace, input_shape: InputShape, num_classes: int) -> None:
        super().__init__()
        self.space, self.input_shape, self.num_classes = space, input_shape, num_classes
        self._holder = _ModeHolder()
        self.stem = stem(input_shape, bn=lambda c: _ModalBatchNorm(c, holder=self._holder))
        plan = cell_plan(input_shape)
        self.cells = nn.ModuleList(_SuperCell(spec, self._holder) for spec in plan)
        self.classifier = nn.Linear(NODES * plan[-1].channels, num_classes)
        self.dropout = 0.0

    @property
    def mode(self) -> BNMode:
        """The BatchNorm mode every BatchNorm of the network follows."""
        return self._holder.mode

    @mode.setter
    def mode(self, value: BNMode) -> None:
        self._holder.mode = value

    def forward(self, x: Tensor, weights: DartsWeights) -> Tensor:
        """Logits of the mixture ``weights`` (zero coefficients: ops not computed)."""
        active = {kind: active_edges(weights[kind]) for kind in CELL_TYPES}
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            kind = cell.spec.kind
            s0, s1 = s1, cell(s0, s1, weights[kind], active[kind])
        x = torch.flatten(F.adaptive_avg_pool2d(s1, 1), 1)
        return self.classifier(F.dropout(x, self.dropout, self.training))

    def arch_of(self, config: Mapping[str, Any]) -> dict[str, list[Tensor]]:
        """The one-hot weights of ``config``'s child (1 at each chosen (input, op))."""
        return weights_of(arch_of(config), device=self.classifier.weight.device)

    def child_state_dict(self, config: Mapping[str, Any], coefficients: Coefficients | None = None) -> dict[str, Tensor]:
        """The state of ``config``'s standalone child, named as :class:`DartsNet` names it."""
        arch = arch_of(config)
        state = _prefixed("stem", self.stem) | _prefixed("classifier", self.classifier)
        for c, cell in enumerate(self.cells):
            kind, prefix = cell.spec.kind, f"cells.{c}"
            state |= _prefixed(f"{prefix}.pre0", cell.pre0) | _prefixed(f"{prefix}.pre1", cell.pre1)
            for j, edges in enumerate(arch.cell(kind).nodes):
                for e, (i, op) in enumerate(edges):
                    state |= _prefixed(f"{prefix}.nodes.{j}.ops.{e}", cell.edges[j][i][PRIMITIVES.index(op)])
                values = coefficients[kind][j] if coefficients is not None else (1.0, 1.0)
                state[f"{prefix}.nodes.{j}.coefficients"] = torch.tensor([float(v) for v in values])
        return {k: v.detach().clone() for k, v in state.items()}

    def export(self, config: Mapping[str, Any], coefficients: Coefficients | None = None) -> DartsNet:
        """The standalone child of ``config`` with this supernet's weights for its ops and the
        per-node ``coefficients`` (default 1.0): its outputs equal ``forward(x, weights)``
        for weights zero except the chosen (input, op) entries, which hold the coefficients."""
        child = build_darts(config, self.input_shape, self.num_classes)
        child.load_state_dict(self.child_state_dict(config, coefficients))
        return child

    def recalibrate(self, arch: DartsWeights, images: Tensor) -> None:
        """Re-estimate the BatchNorm running statistics for the child (or mixture) ``arch``."""
        recalibrate_bn(lambda x: self(x, arch), self, images)


def _prefixed(prefix: str, module: nn.Module) -> dict[str, Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def weights_of(arch: DartsArch, *, device: torch.device | str = "cpu", coefficients: Coefficients | None = None) -> dict[str, list[Tensor]]:
    """:data:`DartsWeights` of a discrete child: zero except its chosen (input, op) entries,
    which hold ``coefficients`` (default 1.0)."""
    out: dict[str, list[Tensor]] = {}
    for kind in CELL_TYPES:
        out[kind] = []
        for j, edges in enumerate(arch.cell(kind).nodes):
            w = torch.zeros(j + 2, len(PRIMITIVES), device=device)
            values = coefficients[kind][j] if coefficients is not None else (1.0, 1.0)
            for (i, op), value in zip(edges, values, strict=True):
                w[i, PRIMITIVES.index(op)] = float(value)
            out[kind].append(w)
    return out


_OP_MACS: dict[str, Any] = {  # (output area, channels, kernel, stride) -> MACs, per primitive kind
    "sep_conv": lambda a, c, k, s: 2 * (a * c * k * k + a * c * c),  # (depthwise + pointwise) twice
    "dil_conv": lambda a, c, k, s: a * c * k * k + a * c * c,
    "skip": lambda a, c, k, s: a * c * c if s == 2 else 0,  # FactorizedReduce's two 1x1 halves
    "max_pool": lambda a, c, k, s: 0,
    "avg_pool": lambda a, c, k, s: 0,
}


@lru_cache(maxsize=4096)
def op_macs(op: str, channels: int, stride: int, height: int, width: int) -> int:
    """Multiply-accumulates of one primitive on a (channels, height, width) input."""
    ho, wo = (halve(height), halve(width)) if stride == 2 else (height, width)
    kind, _, size = op.rpartition("_")  # "sep_conv", "3x3"; "skip", "connect"
    kernel = int(size[0]) if size[0].isdigit() else 0
    return int(_OP_MACS[kind](ho * wo, channels, kernel, stride))


def cell_macs(spec: CellSpec, nodes: Sequence[tuple[tuple[int, str], tuple[int, str]]]) -> int:
    """The preprocessing and chosen edges of one cell (both preprocessings end at s1's
    resolution: a FactorizedReduce of s0 after a reduction, a 1x1 convolution otherwise)."""
    h, w = spec.size
    total = h * w * (spec.c_prev_prev + spec.c_prev) * spec.channels
    for node in nodes:
        for i, op in node:
            total += op_macs(op, spec.channels, edge_stride(spec, i), *spec.edge_input_size(i))
    return total


class DartsMacs:
    """MACs of every ``darts`` child on one input shape (convolutions and the classifier,
    as torch's FLOP counter counts them: pools, BatchNorm and coefficients are free)."""

    unit = "MACs"

    def __init__(self, input_shape: InputShape, num_classes: int) -> None:
        self.input_shape, self.num_classes = input_shape, num_classes
        self.plan = cell_plan(input_shape)

    def cost(self, config: Mapping[str, Any]) -> float:
        """The MACs of ``config``'s child on one image."""
        arch = arch_of(config)
        h, w = stem_size(self.input_shape)
        total = h * w * self.input_shape[0] * self.plan[0].c_prev * 9
        total += sum(cell_macs(spec, arch.cell(spec.kind).nodes) for spec in self.plan)
        return float(total + NODES * self.plan[-1].channels * self.num_classes)
