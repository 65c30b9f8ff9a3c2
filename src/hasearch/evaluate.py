"""Evaluate one configuration: build the child, train it for a budget, score it.

This is the objective multi-trial strategies optimise: loss = validation error.
Anything that goes wrong inside a trial (an exception, a NaN loss, divergence) becomes a
failed outcome with its error, so the search goes on.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from hasearch.device import is_out_of_memory, release_memory
from hasearch.errors import TrialFailed
from hasearch.problem import Problem
from hasearch.store.run_dir import writing_file
from hasearch.train.cost import count_macs, count_parameters
from hasearch.train.trainer import EpochCallback, EpochReport, TrainState, train_child


@dataclass(frozen=True)
class TrialOutcome:
    """Result of one evaluation: ``loss`` is +inf and ``error`` set when it failed."""

    loss: float
    metrics: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    cost: float = 0.0  # budget actually spent by this evaluation (epochs or seconds)

    @property
    def failed(self) -> bool:
        return self.error is not None


def evaluate_config(
    problem: Problem,
    config: Mapping[str, Any],
    budget: float,
    *,
    seed: int,
    on_epoch: EpochCallback | None = None,
    resume_from: Path | None = None,
    checkpoint_to: Path | None = None,
) -> TrialOutcome:
    """Train ``config`` for ``budget`` (of a ``problem.max_budget`` schedule) and score it.

    Args:
        resume_from: A checkpoint of the same configuration on a smaller budget to continue.
        checkpoint_to: Where to save weights and optimizer state for later promotion.
    """
    start = time.perf_counter()
    try:
        model = problem.build(config, seed=seed)
        metrics: dict[str, Any] = {
            "params": count_parameters(model),
            "macs": count_macs(model, problem.data.input_shape),
            "device": problem.compute.device,
        }
        state = _load_checkpoint(model, resume_from)
        start_seconds = state.seconds
        result = train_child(
            model, config, problem.data, problem.budget(budget), seed=seed, on_epoch=on_epoch, state=state, compute=problem.compute
        )
        metrics.update(
            val_accuracy=result.val_accuracy,
            val_loss=result.val_loss,
            epochs=result.epochs,
            train_seconds=result.seconds,
            history=[asdict(r) for r in result.history],
        )
        if checkpoint_to is not None:
            _save_checkpoint(model, state, checkpoint_to)
    except TrialFailed as exc:
        return TrialOutcome(float("inf"), error=str(exc), seconds=time.perf_counter() - start, cost=budget)
    except Exception as exc:  # noqa: BLE001 - any error inside a trial fails only that trial
        error = _describe_failure(exc, problem)
        return TrialOutcome(float("inf"), error=error, seconds=time.perf_counter() - start, cost=budget)
    cost = result.seconds - start_seconds if problem.budget_unit == "seconds" else result.epochs - result.start_epoch
    return TrialOutcome(1.0 - result.val_accuracy, metrics, seconds=time.perf_counter() - start, cost=cost)


def _describe_failure(exc: Exception, problem: Problem) -> str:
    """One line for a trial's exception; CUDA out-of-memory named as such (and the GPU's
    cached memory released, so the next trial starts clean)."""
    if is_out_of_memory(exc):
        release_memory(problem.compute)
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return f"out of memory on {problem.compute.device}: the configuration does not fit (fewer --trials-per-gpu or a smaller batch size); {first}"
    last = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"


def _load_checkpoint(model: torch.nn.Module, path: Path | None) -> TrainState:
    if path is None or not path.exists():
        return TrainState()
    blob = torch.load(path, weights_only=True, map_location=next(model.parameters()).device)
    model.load_state_dict(blob["model"])
    history = [EpochReport(**r) for r in blob["history"]]
    return TrainState(int(blob["step"]), float(blob["seconds"]), blob["optimizer"], history)


def _save_checkpoint(model: torch.nn.Module, state: TrainState, path: Path) -> None:
    blob = {
        "model": model.state_dict(),
        "optimizer": state.optimizer,
        "step": state.step,
        "seconds": state.seconds,
        "history": [asdict(r) for r in state.history],
    }
    with writing_file(path) as tmp:
        torch.save(blob, tmp)
