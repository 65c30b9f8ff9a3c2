"""Analyses of a run's trials: Spearman rank correlation across budgets (seed 002 Table 1)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from scipy.stats import spearmanr

from hasearch.store.db import json_default
from hasearch.store.records import TrialRecord


def config_key(config: Any) -> str:
    """A canonical string of a configuration (same configuration, same key)."""
    return json.dumps(json.loads(json.dumps(dict(config), default=json_default)), sort_keys=True)


def rank_correlation(trials: Iterable[TrialRecord]) -> dict[str, Any]:
    """Spearman correlation of validation errors between every pair of budgets.

    For budgets b < b', the configurations evaluated successfully on both are ranked by
    their loss on each; rho is reported with the number n of such configurations (rho is
    ``None`` when n < 3). Seed 002 Table 1 found ~0.87 between neighbouring budgets.
    """
    losses: dict[float, dict[str, float]] = {}
    for t in trials:
        if t.ok and t.loss is not None:
            losses.setdefault(t.budget, {})[config_key(t.config)] = t.loss
    budgets = sorted(losses)
    pairs = []
    for i, low in enumerate(budgets):
        for high in budgets[i + 1 :]:
            common = sorted(set(losses[low]) & set(losses[high]))
            rho = None
            a, b = [losses[low][k] for k in common], [losses[high][k] for k in common]
            if len(common) >= 3 and len(set(a)) > 1 and len(set(b)) > 1:  # undefined for constant ranks
                value = spearmanr(a, b).statistic
                rho = None if math.isnan(value) else float(value)
            pairs.append({"low": low, "high": high, "n": len(common), "rho": rho})
    return {"budgets": budgets, "pairs": pairs}
