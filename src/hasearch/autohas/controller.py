"""The AutoHAS controller (seed 000 Sec. 2.3): independent categorical distributions over
every searched parameter's basis, trained with REINFORCE.

Policy loss = -sum_i (R_g(i) - b_g(i)) log p_i(a_i) over the parameters that affected the
sample (inactive conditional parameters are left out). Parameters are split into groups
(default: one); each group g has its own reward signal R_g and baseline b_g, an
exponential moving average of R_g (momentum 0.95). Because the distributions are
independent, a group's reward may subtract anything that does not depend on that group's
own choices without biasing its gradient (AutoHAS uses this to pair each hyperparameter
reward with the same validation batch's accuracy before the step). Adam with beta1 = 0
(TuNAS); the caller skips updates during the warm-up (the first 30% of the search).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

ALL = "all"


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

    def __init__(
        self,
        sizes: Mapping[str, int],
        *,
        groups: Mapping[str, str] | None = None,
        lr: float = 0.05,
        baseline_momentum: float = 0.95,
        seed: int = 0,
    ) -> None:
        self.names = tuple(sizes)
        self.logits = {name: torch.zeros(size, requires_grad=True) for name, size in sizes.items()}
        self.group_of = dict(groups) if groups is not None else {name: ALL for name in sizes}
        self.optimizer = torch.optim.Adam(list(self.logits.values()), lr=lr, betas=(0.0, 0.999), foreach=True)
        self.baseline_momentum = baseline_momentum
        self.baselines: dict[str, float | None] = {g: None for g in sorted(set(self.group_of.values()))}
        self.generator = torch.Generator().manual_seed(seed)
        self.updates = {name: 0 for name in sizes}  # REINFORCE updates in which each parameter was active
        self._entropy: float | None = None  # of the current logits (a search reports it every step)

    def probabilities(self) -> dict[str, list[float]]:
        with torch.no_grad():
            return {n: torch.softmax(l, 0).tolist() for n, l in self.logits.items()}

    def entropy(self) -> float:
        """Total entropy (nats) of the independent distributions."""
        if self._entropy is None:
            with torch.no_grad():
                logp = [torch.log_softmax(logits, 0) for logits in self.logits.values()]
                self._entropy = -sum(float((p.exp() * p).sum()) for p in logp)
        return self._entropy

    def sample(self) -> Sample:
        with torch.no_grad():
            return Sample(
                {n: int(torch.multinomial(torch.softmax(l, 0), 1, generator=self.generator)) for n, l in self.logits.items()}
            )

    def log_prob(self, sample: Sample, names: Sequence[str]) -> Tensor:
        return sum((torch.log_softmax(self.logits[n], 0)[sample.indices[n]] for n in names), torch.zeros(()))

    def _by_group(self, rewards: float | Mapping[str, float]) -> dict[str, float]:
        if isinstance(rewards, Mapping):
            return {g: float(rewards[g]) for g in self.baselines}
        return {g: float(rewards) for g in self.baselines}

    def update(self, sample: Sample, rewards: float | Mapping[str, float], active: Sequence[str]) -> dict[str, float]:
        """One REINFORCE step; returns each group's advantage R_g - b_g (b before this step)."""
        rewards = self._by_group(rewards)
        advantages = {g: r - (r if self.baselines[g] is None else self.baselines[g]) for g, r in rewards.items()}
        loss = torch.zeros(())
        for name in active:
            logp = torch.log_softmax(self.logits[name], 0)[sample.indices[name]]
            loss = loss - advantages[self.group_of[name]] * logp
            self.updates[name] += 1
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self._entropy = None
        self.observe(rewards)
        return advantages

    def observe(self, rewards: float | Mapping[str, float]) -> None:
        """Update the moving-average baselines (also during warm-up)."""
        m = self.baseline_momentum
        for g, r in self._by_group(rewards).items():
            b = self.baselines[g]
            self.baselines[g] = r if b is None else m * b + (1 - m) * r

    def state_dict(self) -> dict[str, Any]:
        return {
            "logits": {n: l.detach().clone() for n, l in self.logits.items()},
            "optimizer": self.optimizer.state_dict(),
            "baselines": self.baselines,
            "generator": self.generator.get_state(),
            "updates": dict(self.updates),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        with torch.no_grad():
            for n, l in self.logits.items():
                l.copy_(state["logits"][n])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baselines = dict(state["baselines"])
        self.generator.set_state(state["generator"])
        self.updates = {n: int(state.get("updates", {}).get(n, 0)) for n in self.names}
        self._entropy = None


def uniform_entropy(sizes: Mapping[str, int]) -> float:
    return sum(math.log(s) for s in sizes.values())
