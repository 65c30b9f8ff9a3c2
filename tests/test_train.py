from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from hasearch.catalog import resolve_space
from hasearch.data import DataSplits
from hasearch.errors import TrialFailed
from hasearch.evaluate import evaluate_config
from hasearch.problem import Problem
from hasearch.train.hparams import TrainingHyperparameters
from hasearch.train.trainer import Budget, TrainState, evaluate, train_child


@pytest.fixture(scope="module")
def problem(digits: DataSplits) -> Problem:
    return Problem(resolve_space("mbconv"), digits, max_budget=4, seed=0)


def test_baseline_learns_digits(problem: Problem) -> None:
    config = problem.space.baseline
    model = problem.build(config)
    reports = []
    result = train_child(model, config, problem.data, Budget(8), on_epoch=reports.append)
    assert [r.epoch for r in reports] == [float(e) for e in range(1, 9)]
    assert result.val_accuracy > 0.85  # chance is 0.10
    assert reports[-1].train_loss < reports[0].train_loss
    assert model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)  # trained in NHWC
    _, acc = evaluate(model, problem.data.val)
    assert acc == pytest.approx(result.val_accuracy)


def test_continuing_from_a_checkpoint_equals_training_straight(problem: Problem, tmp_path: Path) -> None:
    config = dict(problem.space.baseline, mixup_alpha=0.3, cutout=3, dropout=0.2)
    straight = evaluate_config(problem, config, 2, seed=5)
    ckpt = tmp_path / "c.pt"
    first = evaluate_config(problem, config, 1, seed=5, checkpoint_to=ckpt)
    second = evaluate_config(problem, config, 2, seed=5, resume_from=ckpt)
    assert not straight.failed and not first.failed and not second.failed
    assert second.metrics["val_loss"] == pytest.approx(straight.metrics["val_loss"], rel=1e-4)
    assert second.cost == pytest.approx(1.0) and straight.cost == pytest.approx(2.0)
    assert len(second.metrics["history"]) == 2  # the history continues too


def test_cosine_schedule_spans_the_schedule_budget(problem: Problem) -> None:
    model = problem.build(problem.space.baseline)
    seen: list[float] = []
    opt_step = torch.optim.SGD.step

    def spy(self, *a, **k):  # type: ignore[no-untyped-def]
        seen.append(self.param_groups[0]["lr"])
        return opt_step(self, *a, **k)

    torch.optim.SGD.step = spy  # type: ignore[method-assign]
    try:
        result = train_child(model, problem.space.baseline, problem.data, Budget(1, schedule_epochs=2))
    finally:
        torch.optim.SGD.step = opt_step  # type: ignore[method-assign]
    lr = problem.space.baseline["lr"]
    assert seen[0] == pytest.approx(lr)
    # after one epoch of a two-epoch cosine schedule the rate is about half the peak
    assert seen[-1] == pytest.approx(lr * 0.5 * (1 + math.cos(math.pi * (result.steps - 1) / (2 * result.steps))))


class _Exploding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1)) * float("nan")


def test_nan_loss_fails_the_trial(problem: Problem) -> None:
    with pytest.raises(TrialFailed, match="training loss became nan"):
        train_child(_Exploding(), {}, problem.data, Budget(1))


def test_a_failing_configuration_becomes_a_failed_outcome(problem: Problem, monkeypatch: pytest.MonkeyPatch) -> None:
    def bad_build(self, config, *, seed=None):  # type: ignore[no-untyped-def]
        raise RuntimeError("shape mismatch")

    with monkeypatch.context() as patch:
        patch.setattr(Problem, "build", bad_build)
        outcome = evaluate_config(problem, problem.space.baseline, 1, seed=0)
    assert outcome.failed and math.isinf(outcome.loss)
    assert "RuntimeError: shape mismatch" in (outcome.error or "")
    assert not evaluate_config(problem, problem.space.baseline, 1, seed=0).failed


def test_time_budget_stops_training(problem: Problem) -> None:
    model = problem.build(problem.space.baseline)
    result = train_child(model, problem.space.baseline, problem.data, Budget(50, max_seconds=0.5))
    assert result.epochs < 50 and result.seconds < 5


def test_optimizers_and_weight_decay_groups() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    for name in ("sgd", "adam", "rmsprop"):
        opt = TrainingHyperparameters(optimizer=name, weight_decay=0.1).make_optimizer(model)
        decays = [g["weight_decay"] for g in opt.param_groups]
        assert decays == [0.1, 0.0]
        assert [len(g["params"]) for g in opt.param_groups] == [1, 3]  # conv weight | conv bias, bn w, bn b


def test_state_defaults_start_fresh() -> None:
    state = TrainState()
    assert state.step == 0 and state.optimizer is None


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_the_optimizers_step_bit_identically_to_torchs_one_tensor_at_a_time_steps(optimizer: str) -> None:
    """The factories use foreach kernels (faster on the CPU); results must not change."""
    torch.manual_seed(0)
    hp = TrainingHyperparameters(optimizer=optimizer, lr=0.01, weight_decay=1e-3, momentum=0.9)
    fast, slow = nn.Linear(7, 5), nn.Linear(7, 5)
    slow.load_state_dict(fast.state_dict())
    fast_opt = hp.make_optimizer(fast)
    slow_opt = hp.make_optimizer(slow)
    for group in slow_opt.param_groups:
        group["foreach"] = False
    assert all(group["foreach"] for group in fast_opt.param_groups)
    for step in range(5):
        grads = [torch.randn(p.shape, generator=torch.Generator().manual_seed(step * 10 + i)) for i, p in enumerate(fast.parameters())]
        for model, opt in ((fast, fast_opt), (slow, slow_opt)):
            for p, g in zip(model.parameters(), grads, strict=True):
                p.grad = g.clone()
            opt.step()
    assert all(torch.equal(a, b) for a, b in zip(fast.parameters(), slow.parameters(), strict=True))
