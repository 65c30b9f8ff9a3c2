"""AutoHAS (seed 000): controller, temporary weights, supernet, derivation, end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hasearch.autohas import AutoHAS, AutoHASOptions, Controller
from hasearch.autohas.engine import SharedWeightsTrainer
from hasearch.autohas.temporary import temporary_weights
from hasearch.catalog import resolve_space
from hasearch.cli.main import main
from hasearch.data import DataSplits
from hasearch.models.mbconv import MBCONV
from hasearch.problem import Problem
from hasearch.space import BasisSet, Role
from hasearch.store import RunDir
from hasearch.supernet import MBConvSupernet
from tests.conftest import kill_after_checkpoints


def test_reinforce_concentrates_on_the_best_arm() -> None:
    rng = np.random.default_rng(0)
    means = {"arm": np.array([0.2, 0.5, 0.8, 0.4, 0.3]), "other": np.array([0.5, 0.6])}
    controller = Controller({"arm": 5, "other": 2}, lr=0.05, seed=0)
    for step in range(600):
        sample = controller.sample()
        reward = sum(float(rng.normal(means[n][i], 0.1)) for n, i in sample.indices.items())
        if step >= 180:  # 30% warm-up
            controller.update(sample, reward, ["arm", "other"])
        else:
            controller.observe(reward)
    probs = controller.probabilities()
    assert probs["arm"][2] > 0.9 and probs["other"][1] > 0.8
    assert controller.entropy() < 0.5


def test_groups_have_their_own_rewards_and_baselines() -> None:
    controller = Controller({"k": 2, "lr": 3}, groups={"k": "architecture", "lr": "hyperparameter"}, lr=0.1, seed=0)
    controller.observe({"architecture": 0.8, "hyperparameter": 0.01})
    sample = controller.sample()
    advantages = controller.update(sample, {"architecture": 0.9, "hyperparameter": 0.01}, ["k", "lr"])
    assert advantages["architecture"] == pytest.approx(0.1) and advantages["hyperparameter"] == pytest.approx(0.0)
    assert torch.equal(controller.logits["lr"].detach(), torch.zeros(3))  # zero advantage: no change
    assert controller.baselines["architecture"] == pytest.approx(0.95 * 0.8 + 0.05 * 0.9)


def test_inactive_parameters_get_no_gradient() -> None:
    controller = Controller({"a": 3, "b": 3}, lr=0.1, seed=0)
    before = controller.logits["b"].detach().clone()
    controller.observe(0.0)
    controller.update(controller.sample(), 1.0, ["a"])
    assert torch.equal(controller.logits["b"].detach(), before)
    assert not torch.equal(controller.logits["a"].detach(), torch.zeros(3))


@pytest.fixture(scope="module")
def mbconv_trainer(digits: DataSplits) -> tuple[SharedWeightsTrainer, dict]:
    definition = resolve_space("mbconv")
    torch.manual_seed(0)
    net = MBConvSupernet(MBCONV, definition.space, digits.input_shape, digits.num_classes)
    return SharedWeightsTrainer(net, digits, seed=0), definition.baseline


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_temporary_weights_leave_w_and_the_state_untouched_and_equal_the_real_step(mbconv_trainer, optimizer: str) -> None:  # type: ignore[no-untyped-def]
    trainer, baseline = mbconv_trainer
    config = dict(baseline, optimizer=optimizer, lr=0.05, weight_decay=1e-3, kernel_1=5, expansion_2=3)
    arch = trainer.net.arch_of(config)
    for _ in range(2):  # the second step has optimizer state (momentum, moments)
        opt = trainer.configure(config, 1.0)
        trainer.gradient(config, arch)
        before = {n: p.detach().clone() for n, p in trainer.net.named_parameters()}
        state_before = {(id(p), k): v.clone() for p, s in opt.state.items() for k, v in s.items() if torch.is_tensor(v)}
        w_star = temporary_weights(opt, trainer.names)  # the differentiable variant's W*
        for n, p in trainer.net.named_parameters():
            assert torch.equal(p, before[n]), n
        state_after = {(id(p), k): v for p, s in opt.state.items() for k, v in s.items() if torch.is_tensor(v)}
        assert state_after.keys() == state_before.keys()
        assert all(torch.equal(state_after[k], state_before[k]) for k in state_before)  # optimizer state untouched
        assert [n for n in w_star if not torch.equal(w_star[n], before[n])]  # W* differs from W
        opt.step()
        params = dict(trainer.net.named_parameters())
        for n, value in w_star.items():
            assert torch.allclose(params[n], value, rtol=1e-4, atol=1e-5), (n, float((params[n] - value).abs().max()))  # one gradient served both


def test_all_finite_is_exact_for_large_finite_values() -> None:
    from hasearch.autohas.engine import all_finite

    large = torch.full((1000,), 1e30)  # finite, but its norm overflows float32
    assert all_finite([large, torch.zeros(3)])
    assert not all_finite([large, torch.tensor([1.0, float("inf")])])
    assert not all_finite([torch.tensor([float("nan")]), torch.zeros(3)])


def test_entropy_follows_the_logits_through_updates_and_loads() -> None:
    def fresh(c: Controller) -> float:
        return -sum(float((torch.log_softmax(l.detach(), 0).exp() * torch.log_softmax(l.detach(), 0)).sum()) for l in c.logits.values())

    controller, other = Controller({"a": 3, "b": 2}, lr=0.3, seed=0), Controller({"a": 3, "b": 2}, seed=1)
    assert controller.entropy() == pytest.approx(math.log(3) + math.log(2))
    controller.observe(0.0)
    for _ in range(3):
        controller.update(controller.sample(), 1.0, ["a", "b"])
        assert controller.entropy() == pytest.approx(fresh(controller)) and controller.entropy() < math.log(6)
    other.entropy()
    other.load_state_dict(controller.state_dict())
    assert other.entropy() == pytest.approx(controller.entropy())


def _twin_trainers(data: DataSplits) -> tuple[SharedWeightsTrainer, SharedWeightsTrainer, dict]:
    definition = resolve_space("mbconv")
    nets = []
    for _ in range(2):
        torch.manual_seed(0)
        nets.append(MBConvSupernet(MBCONV, definition.space, data.input_shape, data.num_classes))
    return SharedWeightsTrainer(nets[0], data, seed=0), SharedWeightsTrainer(nets[1], data, seed=0), definition.baseline


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_step_takes_the_real_step_and_scores_w_star_and_w_on_one_batch(digits: DataSplits, optimizer: str) -> None:
    """Seed 000: Q = accuracy of W* = f_h(W); paired: W's accuracy on the same batch."""
    trainer, twin, baseline = _twin_trainers(digits)
    config = dict(baseline, optimizer=optimizer, lr=0.05, weight_decay=1e-3, kernel_1=5, expansion_2=3)
    arch = trainer.net.arch_of(config)
    for i in range(2):  # the second step has optimizer state
        torch.manual_seed(i)  # augmentation draws from the global generator
        result = trainer.step(config, arch, 1.0, paired=True)
        torch.manual_seed(i)
        opt = twin.configure(config, 1.0)  # the same step by hand, on an identical twin
        twin.gradient(config, arch)
        x, y = twin._val_batch()
        before = twin._accuracy(x, y, arch)
        opt.step()
        for (n, p), q in zip(trainer.net.named_parameters(), twin.net.parameters(), strict=True):
            assert torch.equal(p, q), n  # W took exactly the optimizer's step
        assert result.accuracy == twin._accuracy(x, y, arch) and result.accuracy_before == before
        assert not result.diverged and result.accuracy != result.accuracy_before


def test_a_step_whose_w_star_is_not_finite_leaves_w_and_the_optimizer_state_as_they_were(digits: DataSplits) -> None:
    trainer, _, baseline = _twin_trainers(digits)
    arch = trainer.net.arch_of(baseline)
    trainer.step(baseline, arch, 1.0)  # optimizer state exists
    params = {n: p.detach().clone() for n, p in trainer.net.named_parameters()}
    opt = trainer.optimizers[baseline["optimizer"]]
    state = {(id(p), k): v.clone() for p, s in opt.state.items() for k, v in s.items() if torch.is_tensor(v)}
    result = trainer.step(dict(baseline, lr=math.inf), arch, 1.0, paired=True)  # finite loss, W* not finite
    assert result.diverged and result.accuracy == 0.0 and result.accuracy_before is not None
    assert all(torch.equal(p, params[n]) for n, p in trainer.net.named_parameters())
    restored = {(id(p), k): v for p, s in opt.state.items() for k, v in s.items() if torch.is_tensor(v)}
    assert restored.keys() == state.keys() and all(torch.equal(restored[k], state[k]) for k in state)
    rmsprop = dict(baseline, optimizer="rmsprop", lr_rmsprop=math.inf)  # a first RMSprop step creates its state, then diverges
    assert trainer.step(rmsprop, arch, 1.0).diverged and not trainer.optimizers["rmsprop"].state
    assert all(torch.equal(p, params[n]) for n, p in trainer.net.named_parameters())


def test_an_unscored_step_takes_the_same_step_without_validation_forwards(digits: DataSplits) -> None:
    trainer, twin, baseline = _twin_trainers(digits)
    arch = trainer.net.arch_of(baseline)
    forwards: list[int] = []
    twin._accuracy = lambda x, y, a: forwards.append(len(x)) or 0.5  # type: ignore[method-assign]
    for i in range(2):
        torch.manual_seed(i)
        scored = trainer.step(baseline, arch, 1.0, paired=True)
        torch.manual_seed(i)
        unscored = twin.step(baseline, arch, 1.0, paired=True, scored=False)
        assert scored.accuracy is not None and unscored.accuracy is None and unscored.accuracy_before is None
        assert unscored.train_loss == scored.train_loss and not unscored.diverged
        assert all(torch.equal(p, q) for p, q in zip(trainer.net.parameters(), twin.net.parameters(), strict=True))
    assert forwards == []
    assert twin.step(dict(baseline, lr=math.inf), arch, 1.0, scored=False).diverged  # and W was put back
    assert all(torch.equal(p, q) for p, q in zip(trainer.net.parameters(), twin.net.parameters(), strict=True))


def test_warm_up_scores_only_the_steps_that_prime_the_baseline_and_the_history(digits: DataSplits, tmp_path: Path) -> None:
    """Seed 000 updates no controller during warm-up; its rewards only feed the moving-average
    baselines, so only the last priming_steps of warm-up (and history entries) are scored."""
    from hasearch.autohas.strategy import priming_steps
    from hasearch.reporting import NullReporter
    from hasearch.strategies.base import SearchContext

    assert priming_steps(0.95) == 90 and 0.95**90 <= 0.01 < 0.95**89 and priming_steps(0.0) == 1
    options = AutoHASOptions(mode="hp-only", max_steps=100, warmup=0.5, baseline_momentum=0.5, history_every=10)
    scored: list[bool] = []
    step = SharedWeightsTrainer.step

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        scored.append(kwargs["scored"])
        return step(self, *args, **kwargs)

    problem = Problem(resolve_space("mbconv"), digits, 1)
    run = RunDir.create(tmp_path / "run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SharedWeightsTrainer, "step", spy)
        AutoHAS(options=options).run(SearchContext(problem, run, None, NullReporter()))
    k = priming_steps(0.5)  # 7
    expected = [i >= 50 - k or i % 10 == 0 for i in range(100)]
    assert k == 7 and scored == expected
    history = run.read_json("search/history.json")
    assert [e["step"] for e in history["entries"]] == list(range(0, 100, 10))
    assert all(e["accuracy"] is not None for e in history["entries"])


def test_modes_pick_parameters_by_role(digits: DataSplits) -> None:
    problem = Problem(resolve_space("mbconv"), digits, 1)
    arch = {p.name for p in problem.space.with_role(Role.ARCHITECTURE)}
    phases = lambda mode: AutoHAS(options=AutoHASOptions(mode=mode)).phases(problem)
    assert set(phases("arch-only")[0]) == arch
    assert not set(phases("hp-only")[0]) & arch and "mixup_alpha" in phases("hp-only")[0]
    assert len(phases("joint")) == 1 and set(phases("joint")[0]) == set(problem.space.names)
    first, second = phases("phase-wise")
    assert set(first) == arch and set(second) == set(problem.space.names) - arch
    custom = AutoHAS(options=AutoHASOptions(mode="phase-wise", search=("mixup_alpha", "kernel_0"))).phases(problem)
    assert custom == [("kernel_0",), ("mixup_alpha",)]


def test_derived_configuration_follows_eq_4_5_for_learned_parameters(tmp_path: Path) -> None:
    """The result of a run is Eq. 4-5 of the controller's final probabilities for every
    parameter the controller learned, and the baseline's value for the others."""
    out = tmp_path / "run"
    assert main(["search", "--space", "mbconv", "--strategy", "autohas", "--dataset", "digits", "--budget", "6s",
                 "--epochs", "1", "--out", str(out), "--no-baseline"]) == 0
    run = RunDir.open(out)
    history = run.read_json("search/history.json")
    best = run.read_json("best.json")
    space = resolve_space("mbconv").space
    phase = history["phases"][-1]
    final_probs = phase["probabilities"]
    assert history["derived"] == best["found"]["config"]
    derived = history["derived"]
    bases = BasisSet(space)
    for d in phase["derivation"]:
        name, probs = d["name"], final_probs[d["name"]]
        if bases[name].combinable:  # Eq. 5: the probability-weighted sum of the basis
            eq5 = float(np.dot(probs, bases[name].values))
            assert d["eq5_value"] == pytest.approx(round(eq5) if isinstance(d["eq5_value"], int) else eq5, rel=1e-9)
        else:  # Eq. 4 and Eq. 5 for choices: the argmax
            assert d["eq5_value"] == bases[name].values[int(np.argmax(probs))]
        assert d["learned"] == (d["normalised_entropy"] < d["null_threshold"])
        assert d["value"] == derived.get(name)
        if name in derived:
            fallback = space.baseline.get(name, space[name].default)
            expected = d["eq5_value"] if d["learned"] else fallback
            # floats pass through ConfigSpace (it gave 0.0007057923221 for 0.00070579232212758): equal, not bit for bit
            assert derived[name] == (pytest.approx(expected, rel=1e-9) if isinstance(expected, float) else expected)
    assert run.has("autohas/probabilities.png") and run.has("autohas/checkpoint.pt")
    assert len(history["entries"]) >= 2


def test_autohas_killed_mid_search_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["search", "--space", "mbconv", "--strategy", "autohas-hp", "--dataset", "digits", "--budget", "10m",
            "--epochs", "1", "--out", str(out), "--no-baseline", "--checkpoint-every", "1"]
    checkpoint = out / "autohas" / "checkpoint.pt"
    kill_after_checkpoints(args, checkpoint)  # two checkpoints after the first
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["phase"] == 0 and saved["step"] > 0 and not (out / "best.json").exists()
    assert main(["resume", str(out), "--budget", "3s"]) == 0
    history = RunDir.open(out).read_json("search/history.json")
    steps = [e["step"] for e in history["entries"]]
    assert steps[: len(saved["history"])] == [e["step"] for e in saved["history"]]  # continued, not restarted
    assert steps == sorted(steps)
    assert history["phases"][0]["steps"] > saved["step"]  # history entries come every 10 steps: count the phase's steps
    assert (out / "best.json").exists()


def test_resuming_a_phase_wise_run_keeps_what_its_finished_phases_derived(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["search", "--space", "mbconv", "--strategy", "autohas-phase", "--dataset", "digits", "--budget", "6s",
            "--epochs", "1", "--out", str(out), "--no-baseline"]
    assert main(argv) == 0
    history = lambda: json.loads((out / "search" / "history.json").read_text())
    before = history()["phases"]
    assert len(before) == 2 and all("derivation" in phase for phase in before)
    assert main(["resume", str(out)]) == 0  # nothing left to search: the checkpoint holds both phases
    assert history()["phases"] == before  # before: the resumed run wrote an empty list (show lost its tables)
