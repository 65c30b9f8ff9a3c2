"""The architecture part of DHA on the weight-sharing foundation: what the supernet runs at a
step, which tensors the architecture optimizer trains, and the trained child at the end.

Three implementations of one small protocol (:class:`ArchitectureSearch`):

* :class:`~hasearch.dha.ista_cells.ISTACells` - seed 001 Sec. 3.3 on the ``darts`` cell
  space: ISTA-NAS sparse codes (Eq. 5-7);
* :class:`GumbelChoices` - the differentiable relaxation of the categorical architecture
  choices of the MBConv families (``mbconv``, ``mobilenetv2``): per block slot, kernel and
  expansion drawn by straight-through Gumbel-softmax (SNAS / DSNAS, which seed 001 cites as
  its motivation). Only the sampled candidate runs, so a step costs the child's step; the
  gate (1 in value) carries the gradient to the choice's logits. Departure: seed 001 uses
  ISTA codes on a MobileNet space; a per-slot categorical does not need sparse coding;
* :class:`FixedArchitecture` - no architecture search (DA and/or HPO only, and the second
  stage of the sequential variants): the configuration's child.

After ``freeze_at`` of the search every still-open choice is fixed at its current best, so
the last part of the run trains exactly the child that is exported (one-stage: the trained
network is the result without retraining).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hasearch.models.mbconv import MBConvArch
from hasearch.space import Role, SearchSpace
from hasearch.supernet.mbconv import MBConvSupernet, space_values


class ArchitectureSearch(Protocol):
    """What the DHA step needs from an architecture search."""

    net: nn.Module
    learning_rate: float  # Adam's, for the architecture parameters
    weight_decay: float

    def parameters(self) -> list[Tensor]:
        """The architecture parameters (trained by Adam on the training loss; may be empty).

        The same list for the object's whole life (the optimizer and its checkpoint are
        built on it): frozen parameters stay in it and simply receive no gradient."""

    def step_weights(self) -> Any:
        """The supernet's architecture argument for this step (differentiable in the parameters)."""

    def after_update(self, progress: float) -> None:
        """Called after each architecture update (ISTA recovery, node freezing, ...)."""

    def config(self) -> dict[str, Any]:
        """The derived architecture values (names of the space)."""

    def export(self) -> nn.Module:
        """The derived child as a standalone network holding the trained weights."""

    def record(self) -> dict[str, Any]:
        """A JSON-able snapshot for the history (architecture weights over time)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


class FixedArchitecture:
    """The child of ``config``: nothing to search."""

    learning_rate = weight_decay = 0.0

    def __init__(self, net: nn.Module, config: Mapping[str, Any], names: tuple[str, ...]) -> None:
        self.net, self._config, self.names = net, dict(config), names
        self._arch = net.arch_of(self._config)

    def parameters(self) -> list[Tensor]:
        return []

    def step_weights(self) -> Any:
        return self._arch

    def after_update(self, progress: float) -> None:
        pass

    def config(self) -> dict[str, Any]:
        return {n: self._config[n] for n in self.names if n in self._config}

    def export(self) -> nn.Module:
        return self.net.export(self._config)

    def record(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass


@dataclass(frozen=True)
class GatedArch:
    """A child of an MBConv supernet with one gate per running block (straight-through)."""

    arch: MBConvArch
    gates: list[Tensor]


class GatedMBConvSupernet(MBConvSupernet):
    """An MBConv supernet whose block outputs are multiplied by per-block gates (1 in value)."""

    def gated_forward(self, x: Tensor, arch: MBConvArch, gates: list[Tensor]) -> Tensor:
        x = self.stem_forward(x, arch.scale)
        index = 0
        for s, (width, choices) in enumerate(zip(arch.widths, arch.blocks, strict=True)):
            for b, (kernel, expansion) in enumerate(choices):
                x = gates[index] * self.blocks[self.first_slot[s] + b](x, width, kernel, expansion, self.mode)
                index += 1
        return self.head_forward(x)

    def forward(self, x: Tensor, arch: Any) -> Tensor:
        if isinstance(arch, GatedArch):
            return self.gated_forward(x, arch.arch, arch.gates)
        return super().forward(x, arch)


class GumbelChoices:
    """Straight-through Gumbel-softmax over every categorical architecture choice of an
    MBConv space (kernel and expansion per running block; widths, depths and input scale
    stay at the base configuration's). The logits take Adam steps of 3e-3 (AutoHAS's
    differentiable variant; DARTS uses 3e-4 over far more steps)."""

    learning_rate, weight_decay = 3e-3, 0.0

    def __init__(self, net: GatedMBConvSupernet, space: SearchSpace, base: Mapping[str, Any], *, freeze_at: float = 0.6) -> None:
        self.net, self.base, self.freeze_at = net, dict(base), freeze_at
        searched = {p.name for p in space.with_role(Role.ARCHITECTURE) if p.choices}
        arch = net.arch_of(self.base)
        self.slots: list[str] = []  # the names of the searched choices, in block order
        self.values: dict[str, tuple[int, ...]] = {}
        for s, choices in enumerate(arch.blocks):
            for b in range(len(choices)):
                for kind in ("kernel", "expansion"):
                    name = f"{kind}_{net.first_slot[s] + b}"
                    if name in searched:
                        self.slots.append(name)
                        self.values[name] = tuple(int(v) for v in space_values(space, name, 0))
        self.logits = {n: torch.zeros(len(self.values[n]), requires_grad=True) for n in self.slots}
        self.frozen = False

    def parameters(self) -> list[Tensor]:
        return list(self.logits.values())  # frozen: unused by step_weights, so no gradient

    def step_weights(self) -> Any:
        """A hard sample per choice (the child that runs) and its straight-through gates."""
        config, gate_of = dict(self.base), {}
        for name in self.slots:
            if self.frozen:
                index, gate = int(self.logits[name].argmax()), torch.ones(())
            else:
                sample = F.gumbel_softmax(self.logits[name], tau=1.0, hard=True)
                index = int(sample.argmax())
                gate = sample[index]
            config[name], gate_of[name] = self.values[name][index], gate
        arch = self.net.arch_of(config)
        gates = []
        for s, choices in enumerate(arch.blocks):
            for b in range(len(choices)):
                slot = self.net.first_slot[s] + b
                gate = torch.ones(())
                for kind in ("kernel", "expansion"):
                    gate = gate * gate_of.get(f"{kind}_{slot}", torch.ones(()))
                gates.append(gate)
        return GatedArch(arch, gates)

    def after_update(self, progress: float) -> None:
        if progress >= self.freeze_at:
            self.frozen = True

    def config(self) -> dict[str, Any]:
        """Eq. 4 of seed 000: the most probable value of every choice."""
        return {n: self.values[n][int(self.logits[n].argmax())] for n in self.slots}

    def export(self) -> nn.Module:
        return self.net.export({**self.base, **self.config()})

    def probabilities(self) -> dict[str, list[float]]:
        return {n: [round(float(p), 4) for p in torch.softmax(self.logits[n].detach(), 0)] for n in self.slots}

    def record(self) -> dict[str, Any]:
        probabilities = self.probabilities()
        return {"probabilities": probabilities, "strength": {n: max(p) for n, p in probabilities.items()}, "frozen": self.frozen}

    def state_dict(self) -> dict[str, Any]:
        return {"logits": {n: t.detach().clone() for n, t in self.logits.items()}, "frozen": self.frozen}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        with torch.no_grad():
            for n, t in state["logits"].items():
                self.logits[n].copy_(t)
        self.frozen = bool(state["frozen"])
