"""Undoing a diverged AutoHAS step: W and the optimizer state from before the step.

An AutoHAS step takes the real optimizer step (W <- W*, seed 000's f_h) before it knows
whether W* is finite; a diverged sample must leave W and the optimizer state as they were.
:class:`StepUndo` keeps copies of both between steps (torch's optimizers update their
state tensors in place, so the copies are refreshed with one foreach copy per step).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class StepUndo:
    """W and the optimizer state from before a step; ``restore`` puts both back bit for bit
    and drops any state the step created."""

    def __init__(self, net: nn.Module) -> None:
        self._params = [p.detach() for p in net.parameters()]
        self._kept = [p.clone() for p in self._params]
        self._state: dict[Tensor, dict[str, Any]] = {}  # the state dicts' entries at the save
        self._live: list[Tensor] = []
        self._backup: list[Tensor] = []

    @torch.no_grad()
    def save(self, optimizer: torch.optim.Optimizer) -> None:
        torch._foreach_copy_(self._kept, self._params)
        self._state = {p: dict(s) for p, s in optimizer.state.items()}
        live = [v for s in self._state.values() for v in s.values() if torch.is_tensor(v)]
        if len(live) != len(self._live) or any(a is not b for a, b in zip(live, self._live, strict=True)):
            self._backup = [v.clone() for v in live]  # new state tensors (first steps): new copies
        elif live:
            torch._foreach_copy_(self._backup, live)
        self._live = live

    @torch.no_grad()
    def restore(self, optimizer: torch.optim.Optimizer) -> None:
        torch._foreach_copy_(self._params, self._kept)
        if self._live:
            torch._foreach_copy_(self._live, self._backup)
        optimizer.state.clear()
        optimizer.state.update(self._state)
