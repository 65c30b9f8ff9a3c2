"""A search must pay off: the baseline is evaluated first, the better model on validation is
the result, AutoHAS derives only what it learned, and the audited AutoHAS defects stay fixed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from hasearch.autohas import AutoHAS, AutoHASOptions
from hasearch.autohas.engine import SharedWeightsTrainer, scored_logits
from hasearch.autohas.temporary import temporary_weights
from hasearch.catalog import resolve_space
from hasearch.cli.main import main
from hasearch.data import DataSplits
from hasearch.data.splits import Split
from hasearch.errors import UserError
from hasearch.final import FinalScore
from hasearch.models.mbconv import MBCONV
from hasearch.problem import Problem
from hasearch.space import BasisSet, SearchSpace
from hasearch.strategies.base import SearchContext, SingleRunStrategy, Strategy
from hasearch.strategies.registry import STRATEGIES, StrategyEntry, StrategyOptions
from hasearch.supernet import FixedNetwork, MBConvSupernet
from tests.strategy_contract import toy_space


# --------------------------------------------------------------- baseline first (item 5)
@pytest.mark.parametrize("name", [n for n in STRATEGIES if n in ("random", "sh", "hyperband", "bohb", "bohb-adaptive")])
def test_every_multi_trial_strategy_evaluates_the_baseline_first(name: str) -> None:
    space = resolve_space("mbconv").space
    strategy = STRATEGIES[name].make(StrategyOptions(space, 3, min_budget=1, max_budget=9, eta=3))
    assert isinstance(strategy, Strategy)
    first, second = strategy.ask(), strategy.ask()
    assert first is not None and dict(first.config) == space.baseline
    assert second is not None and dict(second.config) != space.baseline


def test_a_plain_configspace_starts_from_its_defaults_unless_told_not_to() -> None:
    from hasearch import RandomSearch

    cs = toy_space()
    defaults = dict(cs.get_default_configuration())
    assert dict(RandomSearch(cs, max_budget=1, seed=0).ask().config) == defaults  # type: ignore[union-attr]
    assert dict(RandomSearch(cs, max_budget=1, seed=0, start_with_baseline=False).ask().config) != defaults  # type: ignore[union-attr]


# ------------------------------------------------------------ never worse (item 1)
def _score(val: float | None, test: float | None, error: str | None = None, config: dict | None = None) -> FinalScore:
    return FinalScore(config or {}, val, test, 0.5, 1, 1, 9.0, 1.0, error)


def test_the_result_is_the_better_configuration_on_validation_never_on_test() -> None:
    from hasearch.final import BASELINE, FOUND, choose_result

    assert choose_result(_score(0.60, 0.50), _score(0.55, 0.70)) == BASELINE  # higher test of found is ignored
    assert choose_result(_score(0.55, 0.70), _score(0.60, 0.50)) == FOUND
    assert choose_result(_score(0.60, 0.5), _score(0.60, 0.4)) == FOUND  # a tie keeps the found one
    assert choose_result(_score(0.60, 0.5), _score(None, None, "diverged")) == BASELINE
    assert choose_result(_score(0.60, 0.5), None) == BASELINE
    assert choose_result(_score(0.60, 0.50), _score(0.55, 0.70), keep_found=True) == FOUND
    assert choose_result(None, _score(0.55, 0.70)) == FOUND  # --no-baseline


def test_the_verdict_says_why_a_found_model_that_lost_is_kept() -> None:
    from hasearch.final import BASELINE, FOUND, verdict

    lost = (_score(0.60, 0.50, config={"lr": 0.1}), _score(0.55, 0.70, config={"lr": 0.2}))
    assert verdict(*lost, BASELINE) is not None and verdict(*lost, BASELINE).endswith("the baseline is saved as the result")  # type: ignore[union-attr]
    assert verdict(*lost, FOUND).endswith("the found model is kept (--keep-found)")  # type: ignore[union-attr]
    over = verdict(*lost, FOUND, kept_because="the baseline is over the resource limit")
    assert over is not None and over.endswith("kept (the baseline is over the resource limit)")


class _WorseThanBaseline(SingleRunStrategy):
    """A 'search' that returns a configuration far worse than the baseline."""

    def run(self, context: SearchContext) -> Any:
        from hasearch.strategies.base import SingleRunResult

        return SingleRunResult({**context.problem.space.baseline, "lr": 0.005, "dropout": 0.5, "label_smoothing": 0.2})


@pytest.mark.parametrize("keep_found", [False, True])
def test_a_search_that_did_not_beat_the_baseline_saves_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_found: bool
) -> None:
    monkeypatch.setitem(STRATEGIES, "worse", StrategyEntry("worse", "test", lambda o: _WorseThanBaseline()))
    out = tmp_path / "run"
    args = ["search", "--space", "mbconv", "--strategy", "worse", "--dataset", "digits", "--trials", "1",
            "--epochs", "10", "--out", str(out)] + (["--keep-found"] if keep_found else [])
    assert main(args) == 0
    best = json.loads((out / "best.json").read_text())
    assert best["baseline"]["val_accuracy"] > best["found"]["val_accuracy"]  # the premise of this test
    assert best["result"] == ("found" if keep_found else "baseline")
    assert any("did not beat the baseline" in note for note in best["notes"])
    saved = json.loads((out / "final" / "model.json").read_text())
    expected = best["found"]["config"] if keep_found else best["baseline"]["config"]
    assert saved["config"] == expected


def test_a_found_baseline_is_not_retrained_and_its_trial_validation_is_reused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["search", "--space", "mbconv", "--dataset", "digits", "--trials", "1", "--epochs", "2", "--out", str(out)]) == 0
    best = json.loads((out / "best.json").read_text())
    assert best["found"]["config"] == best["baseline"]["config"]  # the only trial is the baseline
    assert best["found"] == best["baseline"]
    assert any("returned the baseline configuration" in note for note in best["notes"])


# ---------------------------------------------------- derive only what was learned (item 2)
def test_noise_alone_concentrates_the_controller_more_with_more_updates() -> None:
    from hasearch.autohas.derivation import null_entropy_quantile

    few, many = (null_entropy_quantile(5, n, lr=0.05, baseline_momentum=0.95) for n in (50, 1000))
    assert 0.0 < many < few < 1.0


def test_an_unconcentrated_parameter_keeps_the_baseline_value_a_concentrated_one_follows_eq_5() -> None:
    from hasearch.autohas.derivation import derive_learned, normalised_entropy

    space = resolve_space("mbconv").space
    bases = BasisSet(space)
    probs = {"dropout": [0.2] * 5, "weight_decay": [0.01, 0.01, 0.02, 0.06, 0.9], "kernel_0": [0.52, 0.48]}
    updates = dict.fromkeys(probs, 300)
    config, report = derive_learned(bases, probs, updates, space.baseline, lr=0.05, baseline_momentum=0.95)
    rows = {d.name: d for d in report}
    assert not rows["dropout"].learned and config["dropout"] == space.baseline["dropout"]
    assert rows["dropout"].eq5_value == pytest.approx(0.25)  # what Eq. 5 would have returned
    assert not rows["kernel_0"].learned and config["kernel_0"] == space.baseline["kernel_0"]
    assert rows["weight_decay"].learned
    assert config["weight_decay"] == pytest.approx(bases["weight_decay"].combine(probs["weight_decay"]))
    assert normalised_entropy([1.0, 0.0]) == 0.0 and normalised_entropy([0.5, 0.5]) == pytest.approx(1.0)


# ------------------------------------------------------------- audited defects (item 3)
def _nan_training_data(data: DataSplits) -> DataSplits:
    return replace(data, train=Split(torch.full_like(data.train.x, float("nan")), data.train.y))


def test_a_diverged_sample_gets_the_worst_paired_reward(digits: DataSplits) -> None:
    space = resolve_space("mbconv").space
    torch.manual_seed(0)
    net = MBConvSupernet(MBCONV, space, digits.input_shape, digits.num_classes)
    trainer = SharedWeightsTrainer(net, _nan_training_data(digits), seed=0)
    result = trainer.step(space.baseline, net.arch_of(space.baseline), 1.0, paired=True)
    assert result.diverged and result.accuracy == 0.0
    assert result.accuracy_before is not None and result.accuracy_before > 0.0
    assert result.accuracy - result.accuracy_before == -result.accuracy_before  # the lowest the batch allows


def _resnet_trainer(digits: DataSplits, **values: Any) -> tuple[SharedWeightsTrainer, dict[str, Any]]:
    definition = resolve_space("resnet-joint")
    config = {**definition.space.baseline, **values}
    torch.manual_seed(0)
    problem = Problem(definition, digits, 1.0)
    return SharedWeightsTrainer(FixedNetwork(problem.build(config)), digits, seed=0), config


def test_rewards_are_scored_deterministically_with_shake_shake_and_shakedrop(digits: DataSplits) -> None:
    trainer, config = _resnet_trainer(digits, res_branches_1=1, shakedrop_death_rate=0.5)
    trainer.gradient(config, ())
    x, _ = trainer._val_batch()
    model = trainer.net.model  # type: ignore[union-attr]
    assert any(len(block.branches) > 1 for block in model.blocks)  # Shake-Shake
    assert any(len(block.branches) == 1 and block.death_rate > 0 for block in model.blocks)  # ShakeDrop
    logits = [scored_logits(trainer.net, x, (), dtype=None) for _ in range(3)]
    assert all(torch.equal(logits[0], other) for other in logits[1:])


def test_the_sampled_shakedrop_death_rate_is_applied(digits: DataSplits) -> None:
    trainer, config = _resnet_trainer(digits, res_branches_1=1, shakedrop_death_rate=0.1)
    trainer.gradient({**config, "shakedrop_death_rate": 0.8}, ())
    rates = [block.death_rate for block in trainer.net.model.blocks]  # type: ignore[union-attr]
    assert rates[-1] == pytest.approx(0.8) and rates[0] == pytest.approx(0.8 / len(rates))


def test_rmsprop_first_used_without_momentum_accepts_momentum_later(digits: DataSplits) -> None:
    baseline = resolve_space("mbconv").space.baseline
    torch.manual_seed(0)
    trainer = SharedWeightsTrainer(MBConvSupernet(MBCONV, resolve_space("mbconv").space, digits.input_shape, digits.num_classes), digits, seed=0)
    arch = trainer.net.arch_of(baseline)
    for momentum in (0.0, 0.6):
        config = {**baseline, "optimizer": "rmsprop", "lr_rmsprop": 1e-3, "momentum": momentum}
        optimizer = trainer.configure(config, 1.0)
        trainer.gradient(config, arch)
        temporary_weights(optimizer, trainer.names)
        optimizer.step()  # KeyError 'momentum_buffer' before the fix


def test_phase_wise_with_hyperparameters_only_is_refused(digits: DataSplits) -> None:
    problem = Problem(resolve_space("mbconv"), digits, 1.0)
    strategy = AutoHAS(options=AutoHASOptions(mode="phase-wise", search=("weight_decay", "mixup_alpha")))
    with pytest.raises(UserError, match="phase-wise"):
        strategy.check(problem, 10.0)
    AutoHAS(options=AutoHASOptions(mode="phase-wise", search=("weight_decay", "kernel_0"))).check(problem, 10.0)


def test_the_controller_learning_rate_reaches_autohas() -> None:
    space: SearchSpace = resolve_space("mbconv").space
    strategy = STRATEGIES["autohas"].make(StrategyOptions(space, 0, 1, 9, 3, controller_lr=0.02))
    assert isinstance(strategy, AutoHAS) and strategy.options.controller_lr == 0.02


def test_a_search_without_a_trial_on_the_largest_budget_says_what_the_incumbent_was_chosen_on(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["search", "--space", "mbconv", "--strategy", "sh", "--dataset", "digits", "--trials", "3",
                 "--epochs", "9", "--min-epochs", "1", "--final-epochs", "1", "--out", str(out)]) == 0
    best = json.loads((out / "best.json").read_text())
    assert any("no trial finished at the largest budget (9 epochs)" in n and "after 1 epochs" in n for n in best["notes"])


class _OneStage(SingleRunStrategy):
    """A one-stage 'search' (as DHA will be): trains its network itself and hands it over."""

    def run(self, context: SearchContext) -> Any:
        from hasearch.strategies.base import SingleRunResult
        from hasearch.train.trainer import train_child

        problem = context.problem
        config = dict(problem.space.baseline)
        network = problem.build(config)
        train_child(network, config, problem.data, problem.budget(2), seed=problem.seed)
        context.run.write_json("search/history.json", {"method": "one-stage", "entries": [], "phases": [{"steps": 7}], "derived": config})
        return SingleRunResult(config, ["trained in one stage"], network=network)


def test_a_single_run_method_that_returns_a_trained_network_is_not_retrained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hasearch.artifacts import load_final_model
    from hasearch.data import make_splits, resolve_dataset
    from hasearch.train.trainer import evaluate

    monkeypatch.setitem(STRATEGIES, "one-stage", StrategyEntry("one-stage", "test", lambda o: _OneStage()))
    out = tmp_path / "run"
    argv = ["search", "--space", "mbconv", "--strategy", "one-stage", "--dataset", "digits", "--trials", "1", "--epochs", "2", "--out", str(out), "--keep-found"]
    assert main(argv) == 0
    best = json.loads((out / "best.json").read_text())
    assert best["found"]["retrained"] is False and best["found"]["retrain_seconds"] == 0.0
    assert best["baseline"]["retrained"] is True  # the baseline is trained standalone for the same budget
    model, _ = load_final_model(out)  # the saved model is the handed-over network: its test accuracy is the table's
    data = make_splits(resolve_dataset("digits"), seed=0)
    assert evaluate(model, data.test)[1] == pytest.approx(best["found"]["test_accuracy"])
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "as searched, no retraining" in shown and "search steps: 7" in shown


def test_the_differentiable_variant_teaches_its_controller_with_diverged_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hasearch.autohas.controller import Controller
    from hasearch.autohas.differentiable import DifferentiableAutoHAS

    rewards: list[float] = []
    real_update = Controller.update

    def recording_update(self, sample, reward, active):  # type: ignore[no-untyped-def]
        rewards.append(float(reward))
        return real_update(self, sample, reward, active)

    monkeypatch.setattr(Controller, "update", recording_update)
    monkeypatch.setattr(SharedWeightsTrainer, "gradient", lambda self, config, arch: float("nan"))  # every sample diverges
    monkeypatch.setitem(STRATEGIES, "darts-diverging", StrategyEntry("darts-diverging", "test", lambda o: DifferentiableAutoHAS(warmup=0.0, seed=0)))
    argv = ["search", "--space", "mbconv", "--strategy", "darts-diverging", "--dataset", "digits", "--budget", "2s", "--epochs", "1",
            "--out", str(tmp_path / "run"), "--no-baseline"]
    assert main(argv) == 0
    assert rewards and set(rewards) == {0.0}  # before: a diverged sample only moved the baseline, never the policy
    options = StrategyOptions(resolve_space("mbconv").space, 0, 1.0, 9.0, 3, controller_lr=0.02)
    assert STRATEGIES["autohas-darts"].make(options).controller_lr == 0.02  # type: ignore[union-attr]  # before: always 0.05
