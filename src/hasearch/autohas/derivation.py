"""Derive only what the search learned: Eq. 4-5 of seed 000 for concentrated parameters,
the baseline's value for the rest.

**Departure from seed 000.** The paper derives every parameter by Eq. 4-5 (argmax for
choices, the probability-weighted basis sum for continuous hyperparameters). When a
distribution has barely moved from uniform, Eq. 5 lands near the middle of the range
(on CIFAR at 10 CPU minutes: dropout 0.29, label smoothing 0.13, mixup 0.20 -- values
the controller never preferred) and Eq. 4's argmax is a coin toss; both can hand back
a configuration worse than the baseline (docs/benchmarks.md, "Search must pay off").
Here a parameter is *learned* only when its distribution is more concentrated than pure
noise would make it: REINFORCE with Adam moves the logits by about ``lr`` per update
whatever the reward, so even rewards without any signal lower the entropy, the more the
more updates there were. :func:`null_entropy_quantile` measures that by simulating the
controller's own update rule (same basis size, update count, learning rate, baseline
momentum) on reward noise; a parameter whose normalised entropy is not below the
``quantile`` of that null distribution keeps the baseline's value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from hasearch.space import BasisSet

NULL_QUANTILE = 0.05  # a parameter counts as learned when its entropy is below the 5% quantile of noise
NULL_REPEATS = 400
_BETA2, _EPS = 0.999, 1e-8  # the controller's Adam (beta1 = 0)


@dataclass(frozen=True)
class ParameterDerivation:
    """How one parameter's value was chosen."""

    name: str
    normalised_entropy: float  # H(P) / log(basis size): 1 = uniform, 0 = one-hot
    null_threshold: float  # the NULL_QUANTILE of the same quantity under noise-only rewards
    updates: int  # controller updates in which the parameter was active
    learned: bool
    value: Any  # the value used (None: inactive in the result)
    eq5_value: Any  # what seed 000 Eq. 4-5 would give

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalised_entropy(probs: Sequence[float]) -> float:
    """Entropy of ``probs`` divided by that of the uniform distribution (0 for one element)."""
    if len(probs) < 2:
        return 0.0
    p = torch.tensor(probs, dtype=torch.float64)
    return float(-torch.special.xlogy(p, p).sum()) / math.log(len(probs))  # 0 log 0 = 0


def null_entropy_quantile(
    size: int, updates: int, *, lr: float, baseline_momentum: float, quantile: float = NULL_QUANTILE, seed: int = 0
) -> float:
    """The ``quantile`` of the normalised entropy that ``updates`` REINFORCE-Adam updates on
    N(0, 1) rewards leave (``NULL_REPEATS`` simulated controllers, vectorised)."""
    if size < 2 or updates <= 0:
        return 1.0
    gen = torch.Generator().manual_seed(seed)
    logits = torch.zeros(NULL_REPEATS, size, dtype=torch.float64)
    v = torch.zeros_like(logits)
    baseline = torch.zeros(NULL_REPEATS, dtype=torch.float64)
    for t in range(1, updates + 1):
        p = torch.softmax(logits, 1)
        action = torch.multinomial(p, 1, generator=gen).squeeze(1)
        reward = torch.randn(NULL_REPEATS, generator=gen, dtype=torch.float64)
        advantage = reward - (reward if t == 1 else baseline)
        grad = advantage[:, None] * (p - torch.nn.functional.one_hot(action, size))  # d(-A log p_a)/d logits
        v = _BETA2 * v + (1 - _BETA2) * grad**2
        logits -= lr * grad / ((v / (1 - _BETA2**t)).sqrt() + _EPS)
        baseline = reward if t == 1 else baseline_momentum * baseline + (1 - baseline_momentum) * reward
    p = torch.softmax(logits, 1)
    entropy = -torch.special.xlogy(p, p).sum(1) / math.log(size)
    return float(torch.quantile(entropy, quantile))


def derive_learned(
    bases: BasisSet,
    probabilities: Mapping[str, Sequence[float]],
    updates: Mapping[str, int],
    base: Mapping[str, Any],
    *,
    lr: float,
    baseline_momentum: float,
) -> tuple[dict[str, Any], list[ParameterDerivation]]:
    """The configuration from Eq. 4-5 for learned parameters and ``base`` for the others."""
    thresholds: dict[tuple[int, int], float] = {}
    rows, learned = [], {}
    for name, probs in probabilities.items():
        key = (len(probs), int(updates.get(name, 0)))
        if key not in thresholds:
            thresholds[key] = null_entropy_quantile(key[0], key[1], lr=lr, baseline_momentum=baseline_momentum)
        entropy = normalised_entropy(probs)
        ok = entropy < thresholds[key]  # unlearned: the base value, or the default where base lacks it
        if ok:
            learned[name] = probs
        rows.append((name, entropy, thresholds[key], key[1], ok, bases[name].combine(probs)))
    config = bases.derive(learned, base=base)
    report = [ParameterDerivation(n, e, t, u, ok, config.get(n), eq5) for n, e, t, u, ok, eq5 in rows]
    return config, report


def derivation_notes(report: Sequence[ParameterDerivation]) -> list[str]:
    """One sentence listing the parameters that kept the baseline's value."""
    kept = [d.name for d in report if not d.learned]
    if not kept:
        return []
    return [
        (
            f"kept the baseline's value for {len(kept)} of {len(report)} searched parameters whose distribution stayed "
            f"as spread as noise leaves it ({', '.join(kept)}); see `hasearch show` (departure from seed 000 Eq. 5)"
        )
    ]


def entropy_warning(start: float, end: float, steps: int, seconds: float) -> str | None:
    """A warning when the controller's total entropy fell by less than a quarter."""
    if start <= 0 or steps <= 0:
        return None
    drop = (start - end) / start
    if drop >= 0.25:
        return None
    needed = steps * 0.5 / max(drop, 1e-3)
    rate = steps / seconds if seconds > 0 else 0.0
    time_text = f" (about {needed / rate / 60:.0f} minutes at this run's {rate:.2f} steps/s)" if rate else ""
    return (
        f"the controller's entropy fell only {100 * drop:.0f}% ({start:.1f} -> {end:.1f} nats in {steps} steps): "
        f"the search was too short to learn much; at this rate halving it would take about {needed:,.0f} steps{time_text}"
    )
