"""The final comparison: retrain a configuration on train+validation, score it on test.

Both the found configuration and the baseline go through the same protocol with the same
budget and seed, so the table compares like with like:

1. validation accuracy: train on the training split, score on the validation split (the
   search's own protocol; reused from the search when it already did exactly this);
2. test accuracy: retrain from scratch on training + validation, score on the test split.

The run's result is the better of the two *on validation accuracy* (never on test):
when the baseline scores higher, the search did not pay off and the baseline's model is
saved (:func:`choose_result`; ``--keep-found`` keeps the found one).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from hasearch.errors import TrialFailed
from hasearch.problem import Problem
from hasearch.reporting import Reporter
from hasearch.supernet.latency import time_module
from hasearch.train.cost import count_macs, count_parameters
from hasearch.train.trainer import EpochReport, TrainingRun, TrainState, evaluate, train_child

FOUND, BASELINE = "found", "baseline"
_EVAL_OVERHEAD = 1.05  # one evaluation pass per epoch, about 5% of an epoch's training (measured on CIFAR)


@dataclass(frozen=True)
class FinalScore:
    """A configuration's validation and test accuracy after the final retraining."""

    config: Mapping[str, Any]
    val_accuracy: float | None
    test_accuracy: float | None
    test_loss: float | None
    params: int
    macs: int
    budget: float  # epochs or seconds (the run's budget unit)
    retrain_seconds: float
    error: str | None = None
    retrained: bool = True  # False: the search's own trained network, scored as it is
    latency_ms: float | None = None  # measured on this device, one image per forward pass

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "config": dict(self.config)}


def score_configuration(
    problem: Problem,
    config: Mapping[str, Any],
    budget: float,
    *,
    label: str,
    reporter: Reporter,
    val_accuracy: float | None = None,
) -> tuple[FinalScore, nn.Module | None]:
    """Validation accuracy (unless given) and test accuracy of ``config`` after ``budget``."""
    probe = problem.build(config)
    params, macs = count_parameters(probe), count_macs(probe, problem.data.input_shape)
    try:
        if val_accuracy is None:
            val_accuracy = _train(problem, config, budget, f"{label}: train -> validation", reporter, probe, test=False)[0]
        model = problem.build(config)
        test_acc, test_loss, seconds = _train(problem, config, budget, f"{label}: train+val -> test", reporter, model, test=True)
    except TrialFailed as exc:
        return FinalScore(dict(config), val_accuracy, None, None, params, macs, budget, 0.0, str(exc)), None
    latency = measure_latency(model, problem.data.input_shape)
    return FinalScore(dict(config), val_accuracy, test_acc, test_loss, params, macs, budget, seconds, latency_ms=latency), model


def score_trained(problem: Problem, network: nn.Module, config: Mapping[str, Any], budget: float) -> FinalScore:
    """A network the search already trained on the training split (one-stage methods such
    as DHA), scored as it is: validation and test accuracy, no retraining."""
    params, macs = count_parameters(network), count_macs(network, problem.data.input_shape)
    _, val_accuracy = evaluate(network, problem.data.val)
    test_loss, test_accuracy = evaluate(network, problem.data.test)
    latency = measure_latency(network, problem.data.input_shape)
    return FinalScore(dict(config), val_accuracy, test_accuracy, test_loss, params, macs, budget, 0.0, retrained=False, latency_ms=latency)


def measure_latency(model: nn.Module, input_shape: tuple[int, int, int]) -> float:
    """Median milliseconds of one forward pass of one image on this machine's CPU (the
    latency table's timing: warm-up, median of repeats; a model trained on a GPU is timed
    as a CPU copy, the device a one-image deployment runs on and the tables measure)."""
    if next(model.parameters()).device.type != "cpu":
        model = copy.deepcopy(model).cpu()
    was_training = model.training
    try:
        return time_module(model, torch.rand(1, *input_shape).contiguous(memory_format=torch.channels_last))
    finally:
        model.train(was_training)


def _train(
    problem: Problem, config: Mapping[str, Any], budget: float, title: str, reporter: Reporter, model: nn.Module, *, test: bool
) -> tuple[float, float, float]:
    data = problem.data
    reporter.start(title, title, budget if problem.budget_unit == "epochs" else None)

    def on_epoch(report: EpochReport) -> None:
        reporter.update(title, completed=report.epoch)

    result = train_child(
        model,
        config,
        data,
        replace(problem, max_budget=budget).budget(budget),
        seed=problem.seed,
        train_split=data.train_and_val() if test else data.train,
        eval_split=data.test if test else data.val,
        on_epoch=on_epoch,
        compute=problem.compute,
    )
    reporter.stop(title)
    return result.val_accuracy, result.val_loss, result.seconds


def choose_result(baseline: FinalScore | None, found: FinalScore | None, *, keep_found: bool = False) -> str:
    """``"found"`` or ``"baseline"``: the configuration whose model is the run's result.

    The found configuration wins unless the baseline has a strictly higher validation
    accuracy, or the found one failed or has no score; test accuracy is never looked at.
    """
    if baseline is None or baseline.error is not None or baseline.val_accuracy is None:
        return FOUND
    if keep_found and found is not None and found.error is None:
        return FOUND
    if found is None or found.error is not None or found.val_accuracy is None:
        return BASELINE
    return BASELINE if baseline.val_accuracy > found.val_accuracy else FOUND


def verdict(baseline: FinalScore | None, found: FinalScore | None, result: str, *, kept_because: str = "--keep-found") -> str | None:
    """One sentence on whether the search beat the baseline (``None`` without a baseline);
    ``kept_because``: why a found model that lost on validation is still the result."""
    if baseline is None or baseline.val_accuracy is None:
        return None
    if found is None or found.error is not None or found.val_accuracy is None:
        return "the search produced no usable configuration: the baseline is the result"
    vals = f"validation accuracy {100 * found.val_accuracy:.2f}% found vs {100 * baseline.val_accuracy:.2f}% baseline"
    if baseline.val_accuracy > found.val_accuracy:
        kept = f"the found model is kept ({kept_because})" if result == FOUND else "the baseline is saved as the result"
        return f"the search did not beat the baseline ({vals}): {kept}"
    if dict(found.config) == dict(baseline.config):
        return f"the search returned the baseline configuration ({vals})"
    if found.val_accuracy == baseline.val_accuracy:
        return f"the search found a configuration as good as the baseline, not better ({vals})"
    return f"the search beat the baseline ({vals})"


def estimate_training_seconds(problem: Problem, config: Mapping[str, Any], epochs: float, *, steps: int = 6) -> float:
    """Seconds to train ``config`` for ``epochs`` on training + validation, from timing a few steps."""
    model, data = problem.build(config), problem.data
    split = data.train_and_val()
    state = TrainState()
    run = TrainingRun.for_config(
        model, config, data, problem.budget(epochs), seed=problem.seed, fmt=torch.channels_last, state=state,
        train_size=len(split), compute=problem.compute,
    )  # fmt: skip
    run.train_until(split, state, 2)  # warm-up: first steps allocate
    _synchronize(problem)
    start, done = time.perf_counter(), state.step
    run.train_until(split, state, done + steps)
    _synchronize(problem)
    per_step = (time.perf_counter() - start) / max(1, state.step - done)
    return per_step * run.steps_per_epoch * epochs * _EVAL_OVERHEAD


def _synchronize(problem: Problem) -> None:
    """Wait for the GPU's queued work, so wall-clock timings include it (no-op on the CPU)."""
    if problem.compute.is_cuda:
        torch.cuda.synchronize(problem.compute.torch_device)
