"""ISTA-NAS on the ``darts`` cell space (seed 001 Sec. 3.3, Eq. 5-7; Yang et al. 2020).

Per cell type and intermediate node j, the architecture weights alpha_j over its (j + 2) x 7
(input, operation) pairs are never trained directly: a fixed measurement matrix A_j and a
trainable compressed code b_j in R^7 (Eq. 5) stand for them, alpha_j is recovered from b_j by
ISTA (Eq. 6), and the network uses the relaxed coefficients of Eq. 7,
c = A^T b - E alpha (E = A^T A - I; alpha held fixed), through which the training loss
reaches b (single level, one backward with the weights).

* Support: each node runs only its top-2 inputs (the two inputs with the largest L1 norm of
  alpha, each with its largest |alpha| operation: the derived genotype), so a step costs the
  child's step and the trained network is a DARTS genotype at every moment. The references
  also run a two-operation support (``sparseness = 2``); how the two are picked differs
  (below).
* Recovery: every ``recover_every`` steps (the reference: once per epoch), 1,000 ISTA steps
  from 0 (departure: an early-stopped, dense alpha; the reference solves the LASSO exactly,
  as ``exact_recovery`` does; measured in :mod:`hasearch.dha.ista`).
* The genotype (departure in the rule, not in what it picks from): the two inputs with the
  largest L1 norm of |alpha| over their operations, each with its largest-|alpha| operation.
  The DHA reference ranks inputs by their largest *signed* alpha and takes the signed
  argmax; ISTA-NAS takes the two largest |alpha| entries overall. Magnitude, because the
  coefficients the network uses are scale-free |c| (below): a large negative alpha is as
  strong an edge as a large positive one.
* Eq. 7 uses the whole alpha: c = A^T b - E^T alpha = alpha + A^T (b - A alpha), which at the
  exact solution is alpha plus the LASSO's small residual term; the references restrict alpha
  and A to the two-operation support before forming c (so c_S = x_S + A_S^T (b - A_S x_S)).
  Only the ratio |c_a| / |c_b| reaches the network (scale-free coefficients), and the
  gradient to b is A_S's columns either way.
* Freezing (one-stage ISTA-NAS): a node whose recovered alpha moved by at most 1e-3 (L2) since
  the last recovery is frozen: its b stops training and its coefficients stay as they are.
  At ``freeze_at`` of the search every node is frozen (the reference instead searches until all
  nodes froze, then trains as long again; DHA's default freezes at a quarter, departure:
  :data:`hasearch.dha.components.ISTA_FREEZE_AT`); the rest of the run trains exactly the
  exported child.
* Scale-free coefficients (departure): the network multiplies a node's two support ops by
  |c_a| and |c_b| of Eq. 7 normalised to sum 2, not by the signed c. In the reference every
  op, pooling and skip included, ends in a BatchNorm (affine frozen at 1, 0 while its node
  searches), so an edge's output is normalised before its coefficient and only the ratio
  and sign of c reach the next op; our pooling and skip ops carry no BatchNorm, and the
  signed, unnormalised c slowed training so much that a CPU-scale one-stage run fell far
  behind the baseline: one-stage ISTA on mnist5k, 3 epochs, seeds 0-2: 82.6 / 91.4 / 68.6%
  test with signed c, 90.0 / 92.3 / 91.8% with scale-free c (baseline 89.3 / 90.4 / 89.8%).
  The genotype is chosen by |alpha| (below), so the sign never carried a choice.
* b starts at N(0, 1), not 1e-3 N(0, 1) (departure): with 1e-3 every node's output is ~1e-3
  of its operations' and a CPU-scale search never leaves that regime (the training loss of
  DHA on digits stayed at 2.303 for 100 steps, measured); at unit scale the recovered
  coefficients are O(1) from the start.
* Adam on b with betas (0.5, 0.999) and weight decay 1e-3 as ISTA-NAS, but a step of 3e-3
  instead of 3e-4 (departure: a CPU-scale search has ~10^3 steps, ISTA-NAS ~10^5).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from hasearch.dha.ista import SparseCodedNode
from hasearch.models.darts import (
    CELL_TYPES,
    FAMILY,
    NODES,
    PRIMITIVES,
    input_pairs,
    parameter_names,
)
from hasearch.space import SearchSpace

Pair = tuple[tuple[int, int], tuple[int, int]]  # ((input a, op index), (input b, op index)), a < b
B_INIT_SCALE = 1.0  # ISTA-NAS: 1e-3 (see the module docstring)


class ISTACells:
    """Sparse-coded architecture parameters of both cell types of a ``DartsSupernet``."""

    learning_rate, weight_decay = 3e-3, 1e-3

    def __init__(
        self, net: nn.Module, space: SearchSpace, base: Mapping[str, Any], *, freeze_at: float = 0.5, seed: int = 0,
        lam: float = 1e-5, recover_every: int = 50, init_scale: float = B_INIT_SCALE, exact_recovery: bool = False,
    ) -> None:  # fmt: skip
        self.net, self.base, self.freeze_at, self.recover_every = net, dict(base), freeze_at, recover_every
        self.exact_recovery = exact_recovery
        generator = torch.Generator().manual_seed(seed)
        ops = len(PRIMITIVES)
        self.nodes = {t: [SparseCodedNode(inputs=j + 2, operations=ops, lam=lam, init_scale=init_scale, generator=generator) for j in range(NODES)] for t in CELL_TYPES}
        self.legal = {t: [_legal(space, base, t, j) for j in range(NODES)] for t in CELL_TYPES}
        self.alpha = {t: [n.recover(exact=exact_recovery) for n in self.nodes[t]] for t in CELL_TYPES}
        self.support = {t: [self._best_pair(t, j) for j in range(NODES)] for t in CELL_TYPES}
        self.fixed: dict[str, list[Tensor | None]] = {t: [None] * NODES for t in CELL_TYPES}
        self.steps = 0
        for t in CELL_TYPES:  # a node the space does not search keeps the base's edges, coefficient 1
            for j in range(NODES):
                if self.legal[t][j] is None:
                    self.support[t][j] = _base_pair(base, t, j)
                    self.fixed[t][j] = _coefficients(j, self.support[t][j], torch.ones(2))

    # ------------------------------------------------------------------ search
    def parameters(self) -> list[Tensor]:
        """Every node's code b, frozen ones included (a frozen node's b gets no gradient), so
        the optimizer's parameter list never changes and its checkpoint always loads."""
        return [n.b for t in CELL_TYPES for n in self.nodes[t]]

    def step_weights(self) -> dict[str, list[Tensor]]:
        """Eq. 7's coefficients on each node's support (fixed ones for frozen nodes)."""
        return {t: [self._node_weights(t, j) for j in range(NODES)] for t in CELL_TYPES}

    def _node_weights(self, t: str, j: int) -> Tensor:
        fixed = self.fixed[t][j]
        if fixed is not None:
            return fixed
        c = self.nodes[t][j].relaxed(self.alpha[t][j]).to(torch.float32)
        (a, ra), (b, rb) = self.support[t][j]
        return _coefficients(j, self.support[t][j], _scale_free(torch.stack([c[a, ra], c[b, rb]])))

    def after_update(self, progress: float) -> None:
        self.steps += 1
        if self.steps % self.recover_every == 0:
            self._recover()
        if progress >= self.freeze_at:
            for t in CELL_TYPES:
                for j in range(NODES):
                    self._freeze(t, j)

    def _recover(self) -> None:
        """Eq. 6 for every open node; a node whose alpha stopped moving freezes."""
        for t in CELL_TYPES:
            for j, node in enumerate(self.nodes[t]):
                if self.fixed[t][j] is not None:
                    continue
                alpha = node.recover(exact=self.exact_recovery)
                settled = node.update_frozen(self.alpha[t][j], alpha)
                self.alpha[t][j] = alpha
                self.support[t][j] = self._best_pair(t, j)
                if settled:
                    self._freeze(t, j)

    def _freeze(self, t: str, j: int) -> None:
        if self.fixed[t][j] is None:
            self.nodes[t][j].frozen = True
            self.fixed[t][j] = self._node_weights(t, j).detach().clone()

    def _best_pair(self, t: str, j: int) -> Pair:
        """The two inputs with the largest L1 norm of alpha (each with its largest |alpha| op),
        among the pairs and operations the space allows."""
        strength = self.alpha[t][j].abs()
        legal = self.legal[t][j]
        assert legal is not None
        pairs, ops_a, ops_b = legal
        best: tuple[float, Pair] | None = None
        for a, b in pairs:
            ra = max(ops_a, key=lambda r: float(strength[a, r]))
            rb = max(ops_b, key=lambda r: float(strength[b, r]))
            score = float(strength[a].sum() + strength[b].sum())
            if best is None or score > best[0]:
                best = (score, ((a, ra), (b, rb)))
        assert best is not None
        return best[1]

    # ------------------------------------------------------------------ result
    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for t in CELL_TYPES:
            for j in range(NODES):
                (a, ra), (b, rb) = self.support[t][j]
                inputs, op_a, op_b = parameter_names(t, j)
                out |= {inputs: f"{a}-{b}", op_a: PRIMITIVES[ra], op_b: PRIMITIVES[rb]}
        return out

    def coefficients(self) -> dict[str, list[tuple[float, float]]]:
        out: dict[str, list[tuple[float, float]]] = {}
        for t in CELL_TYPES:
            out[t] = []
            for j in range(NODES):
                w = self._node_weights(t, j).detach()
                (a, ra), (b, rb) = self.support[t][j]
                out[t].append((float(w[a, ra]), float(w[b, rb])))
        return out

    def export(self) -> nn.Module:
        return self.net.export({**self.base, **self.config()}, self.coefficients())

    def record(self) -> dict[str, Any]:
        coefficients = self.coefficients()
        strength = {f"{t}{j}": round(abs(ca) + abs(cb), 5) for t in CELL_TYPES for j, (ca, cb) in enumerate(coefficients[t])}
        frozen = sum(f is not None for t in CELL_TYPES for f in self.fixed[t])
        return {"strength": strength, "frozen": frozen, "genotype": self.config()}

    # ------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "nodes": {t: [n.state_dict() for n in self.nodes[t]] for t in CELL_TYPES},
            "alpha": self.alpha, "support": self.support, "fixed": self.fixed, "steps": self.steps,
        }  # fmt: skip

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for t in CELL_TYPES:
            for node, saved in zip(self.nodes[t], state["nodes"][t], strict=True):
                node.load_state_dict(saved)
        self.alpha = {t: list(v) for t, v in state["alpha"].items()}
        self.support = {t: [_as_pair(p) for p in v] for t, v in state["support"].items()}
        self.fixed = {t: list(v) for t, v in state["fixed"].items()}
        self.steps = int(state["steps"])


def _scale_free(values: Tensor) -> Tensor:
    """A node's two support coefficients as |c| / (|c_a| + |c_b|) * 2 (departure, see the
    module docstring): equal strengths give the unit-coefficient genotype."""
    magnitude = values.abs()
    return 2.0 * magnitude / (magnitude.sum() + 1e-8)


def _coefficients(j: int, pair: Pair, values: Tensor) -> Tensor:
    """A (j + 2, 7) tensor holding ``values`` at the pair's two (input, op) entries (differentiable in ``values``)."""
    (a, ra), (b, rb) = pair
    index = (torch.tensor([a, b]), torch.tensor([ra, rb]))
    return torch.zeros(j + 2, len(PRIMITIVES), dtype=values.dtype).index_put(index, values)


def _legal(space: SearchSpace, base: Mapping[str, Any], t: str, j: int) -> tuple[list[tuple[int, int]], list[int], list[int]] | None:
    """The input pairs and op indices the space allows for node j (None: not searched)."""
    names = parameter_names(t, j)
    if not all(n in space and space[n].choices for n in names):
        return None
    inputs, op_a, op_b = (space[n].choices or () for n in names)
    pairs = [tuple(int(s) for s in str(v).split("-")) for v in inputs if str(v) in input_pairs(j)]
    index = {name: r for r, name in enumerate(PRIMITIVES)}
    return [(a, b) for a, b in pairs], [index[str(v)] for v in op_a], [index[str(v)] for v in op_b]  # type: ignore[misc]


def _base_pair(base: Mapping[str, Any], t: str, j: int) -> Pair:
    inputs, op_a, op_b = parameter_names(t, j)
    base = FAMILY.resolve(base)
    a, b = (int(s) for s in str(base[inputs]).split("-"))
    return (a, PRIMITIVES.index(str(base[op_a]))), (b, PRIMITIVES.index(str(base[op_b])))


def _as_pair(value: Any) -> Pair:
    (a, ra), (b, rb) = value
    return (int(a), int(ra)), (int(b), int(rb))
