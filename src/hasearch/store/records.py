"""Trial records as frozen dataclasses (after SMAC3's runhistory dataclasses)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TrialStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True)
class TrialRecord:
    """One evaluation of a configuration on a budget, as stored in ``trials.sqlite``.

    Attributes:
        trial_id: Unique id within the run (the strategy's job id).
        config: The configuration (active parameters only).
        budget: The budget it was evaluated on (epochs or seconds).
        status: running, finished or failed.
        loss: Validation error (1 - accuracy); ``inf`` for failed trials.
        metrics: Validation accuracy and loss, epochs, parameters, MACs, per-epoch history.
        error: Why a failed trial failed.
        info: Strategy bookkeeping (bracket, rung, ...).
        parent_id: The trial whose checkpoint this one continued from.
        started_at: Unix time the trial started.
        finished_at: Unix time it ended (``None`` while running).
        seconds: Wall time of the evaluation.
        cost: Budget actually spent by this trial (less than ``budget`` when it continued
            from a checkpoint).
    """

    trial_id: int
    config: Mapping[str, Any]
    budget: float
    status: TrialStatus
    loss: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    parent_id: int | None = None
    started_at: float = 0.0
    finished_at: float | None = None
    seconds: float | None = None
    cost: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is TrialStatus.FINISHED and self.loss is not None and math.isfinite(self.loss)

    @property
    def val_accuracy(self) -> float | None:
        value = self.metrics.get("val_accuracy")
        return None if value is None else float(value)
