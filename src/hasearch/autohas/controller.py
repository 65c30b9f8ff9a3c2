"""The AutoHAS controller (seed 000 Sec. 2.3): independent categorical distributions over
every searched parameter's basis, trained with REINFORCE.

Policy loss = -(R - b) * sum_i log p_i(a_i) over the parameters that affected the sample
(inactive conditional parameters are left out); b is an exponential moving average of the
reward (momentum 0.95); Adam with beta1 = 0 (TuNAS); no update during the warm-up (the
first 30% of the search).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


@dataclass(frozen=True)
class Sample:
    """One draw: a basis index per parameter."""

    indices: dict[str, int]


class Controller:
    """Independent multinomials P = {P_alpha, P_h} (seed 000 Sec. 2.3), one per parameter.

    Args:
        sizes: Basis size of each searched parameter, by name.
        lr: Adam learning rate (the paper picks from {0.01, 0.02, 0.05, 0.1}).
        baseline_momentum: Momentum of the reward moving average.
        seed: Seeds the sampling generator.
    """

    def __init__(self, sizes: Mapping[str, int], *, lr: float = 0.05, baseline_momentum: float = 0.95, seed: int = 0) -> None:
        self.names = tuple(sizes)
        self.logits = {name: torch.zeros(size, requires_grad=True) for name, size in sizes.items()}
        self.optimizer = torch.optim.Adam(list(self.logits.values()), lr=lr, betas=(0.0, 0.999))
        self.baseline_momentum = baseline_momentum
        self.baseline: float | None = None
        self.generator = torch.Generator().manual_seed(seed)

    def probabilities(self) -> dict[str, list[float]]:
        with torch.no_grad():
            return {n: torch.softmax(l, 0).tolist() for n, l in self.logits.items()}

    def entropy(self) -> float:
        """Total entropy (nats) of the independent distributions."""
        with torch.no_grad():
            total = 0.0
            for logits in self.logits.values():
                logp = torch.log_softmax(logits, 0)
                total -= float((logp.exp() * logp).sum())
            return total

    def sample(self) -> Sample:
        with torch.no_grad():
            return Sample(
                {n: int(torch.multinomial(torch.softmax(l, 0), 1, generator=self.generator)) for n, l in self.logits.items()}
            )

    def log_prob(self, sample: Sample, names: Sequence[str]) -> Tensor:
        return sum((torch.log_softmax(self.logits[n], 0)[sample.indices[n]] for n in names), torch.zeros(()))

    def update(self, sample: Sample, reward: float, active: Sequence[str]) -> float:
        """One REINFORCE step; returns the advantage R - b (b before this step)."""
        baseline = reward if self.baseline is None else self.baseline
        advantage = reward - baseline
        loss = -advantage * self.log_prob(sample, active)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.observe(reward)
        return advantage

    def observe(self, reward: float) -> None:
        """Update the moving-average baseline (also during warm-up)."""
        m = self.baseline_momentum
        self.baseline = reward if self.baseline is None else m * self.baseline + (1 - m) * reward

    def state_dict(self) -> dict[str, Any]:
        return {
            "logits": {n: l.detach().clone() for n, l in self.logits.items()},
            "optimizer": self.optimizer.state_dict(),
            "baseline": self.baseline,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        with torch.no_grad():
            for n, l in self.logits.items():
                l.copy_(state["logits"][n])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]
        self.generator.set_state(state["generator"])


def uniform_entropy(sizes: Mapping[str, int]) -> float:
    return sum(math.log(s) for s in sizes.values())
