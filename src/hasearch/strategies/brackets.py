"""Hyperband bracket plans (Li et al. 2018, Alg. 1 and Table 1).

With R = max_budget / min_budget and s_max = floor(log_eta R), bracket s starts
n = ceil((s_max + 1) / (s + 1) * eta^s) configurations on budget max_budget * eta^-s; rung
i of the bracket keeps n_i = floor(n * eta^-i) of them on budget max_budget * eta^(i - s).
For (R=81, eta=3) this gives the paper's table: s=4: 81/27/9/3/1 on 1/3/9/27/81, s=3:
34/11/3/1, s=2: 15/5/1, s=1: 8/2, s=0: 5.

(HpBandSter, the BOHB reference, starts floor((s_max+1)/(s+1)) * eta^s configurations
instead: 81/27/9/6/5 for the same R; hasearch follows the Hyperband paper for every method.)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from hasearch.checks import require_bool, require_number


@dataclass(frozen=True)
class BracketPlan:
    """One successive-halving bracket: rung sizes and budgets."""

    s: int
    sizes: tuple[int, ...]
    budgets: tuple[float, ...]


def max_halvings(min_budget: float, max_budget: float, eta: int) -> int:
    """s_max = floor(log_eta(max_budget / min_budget)), robust to float round-off.

    Raises:
        ValueError: budgets that are not 0 < min_budget <= max_budget < inf with a ratio a
            float holds, or an eta that is not an integer >= 2.
    """
    numbers_ok = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (min_budget, max_budget))
    if not (numbers_ok and 0 < min_budget <= max_budget < math.inf and max_budget / min_budget < math.inf):
        raise ValueError(f"need 0 < min_budget <= max_budget, both finite, got {min_budget!r}, {max_budget!r}")
    eta = integral_eta(eta)
    return math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9)


def integral_eta(eta: object) -> int:
    """``eta`` as a Python int >= 2 (numpy integers too; ValueError otherwise)."""
    require_number("eta", eta, "an integer >= 2", lambda v: v >= 2, integer=True)
    return int(eta)  # type: ignore[call-overload]


def rung_budgets(min_budget: float, max_budget: float, eta: int, *, integer: bool = False) -> tuple[float, ...]:
    """The s_max + 1 budgets max_budget * eta^-k, smallest first.

    With ``integer`` (epochs), budgets are rounded to whole numbers (at least 1), so a
    1..52 epoch range gives 2, 6, 17, 52 instead of 1.93, 5.78, 17.3, 52.
    """
    s_max, eta = max_halvings(min_budget, max_budget, eta), integral_eta(eta)
    budgets = [max_budget * eta ** (k - s_max) for k in range(s_max + 1)]
    if integer:
        budgets = [max(1, round(b)) for b in budgets]
    return tuple(float(b) for b in budgets)


def hyperband_plans(min_budget: float, max_budget: float, eta: int, *, integer: bool = False) -> tuple[BracketPlan, ...]:
    """All brackets of one Hyperband iteration, most aggressive (s = s_max) first."""
    require_bool("integer_budgets", integer)
    s_max, eta = max_halvings(min_budget, max_budget, eta), integral_eta(eta)
    budgets = rung_budgets(min_budget, max_budget, eta, integer=integer)
    plans = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * eta**s)
        sizes = tuple(max(1, math.floor(n * eta**-i + 1e-9)) for i in range(s + 1))
        plans.append(BracketPlan(s, sizes, budgets[s_max - s :]))
    return tuple(plans)
