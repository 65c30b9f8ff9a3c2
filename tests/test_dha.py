"""DHA (seed 001) as a strategy: the one-stage result, the step's components, sequential
variants, resume after SIGKILL, and the saved policy used on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hasearch.artifacts import load_final_model
from hasearch.augment import augment_batch, load_policy
from hasearch.catalog import resolve_space
from hasearch.cli.main import main
from hasearch.data import DataSplits, make_splits, resolve_dataset
from hasearch.dha.components import build_engine, stages_for
from hasearch.dha.strategy import DHAOptions
from hasearch.errors import UserError
from hasearch.problem import Problem
from hasearch.store import RunDir
from hasearch.supernet.elastic import BNMode
from tests.conftest import kill_after_checkpoints, one_line_error


def _engine(data: DataSplits, space: str, components: set[str], **options: float) -> object:
    problem = Problem(resolve_space(space), data, 5)
    o = DHAOptions(components=frozenset(components), **options)  # type: ignore[arg-type]
    return build_engine(problem, stages_for(o)[0], {}, o, 0)


@pytest.fixture(scope="module")
def dha_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dha") / "run"
    args = ["search", "--space", "darts", "--strategy", "dha", "--dataset", "digits", "--budget", "10m", "--option", "epochs=5",
            "--out", str(out), "--keep-found"]  # 45 steps, about 3 s alone: as many on a busy machine, only slower
    assert main(args) == 0
    return out


def test_a_dha_run_returns_its_trained_network_without_retraining(dha_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    best = json.loads((dha_run / "best.json").read_text())
    found, baseline = best["found"], best["baseline"]
    assert found["retrained"] is False and best["result"] == "found"
    assert found["budget"] == baseline["budget"] < 100  # the baseline trained as many epochs as DHA did
    assert any("no retraining" in note for note in best["notes"])
    model, _ = load_final_model(dha_run)
    test = make_splits(resolve_dataset("digits"), seed=0).test
    with torch.no_grad():
        accuracy = (model(test.x).argmax(1) == test.y).float().mean().item()
    assert accuracy == pytest.approx(found["test_accuracy"], abs=1e-6) and accuracy > 0.8  # chance: 0.1; 0.94 here after 5 epochs
    assert found["budget"] == pytest.approx(5.0)
    assert main(["show", str(dha_run)]) == 0
    out = capsys.readouterr().out
    assert "as searched, no retraining" in out and "DHA steps" in out


def test_a_dha_run_records_policy_hyperparameters_and_architecture(dha_run: Path) -> None:
    history = RunDir.open(dha_run).read_json("search/history.json")
    assert history["method"] == "dha" and (dha_run / "search" / "dha.png").stat().st_size > 0
    last = history["entries"][-1]
    for key in ("lr", "weight_decay", "policy_entropy", "top_pairs", "architecture", "held_loss"):
        assert key in last
    assert set(last["architecture"]["genotype"]) <= set(history["derived"])
    assert last["architecture"]["frozen"] == 8  # every node frozen by the end: the last part trained the exported child
    lrs = [e["lr"] for e in history["entries"]]
    assert lrs[-1] < lrs[0]  # the cosine decay


def test_the_saved_policy_is_usable_on_its_own(dha_run: Path) -> None:
    policy = load_policy(dha_run)
    images = torch.rand(16, 3, 12, 12)
    out = augment_batch(policy, images, seed=1)
    assert out.shape == images.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(out, augment_batch(policy, images, seed=1)) and not torch.equal(out, images)
    with pytest.raises(UserError, match="no augmentation policy"):
        load_policy(dha_run / "final")


def test_ista_cells_freeze_and_export_exactly_the_trained_child(digits: DataSplits) -> None:
    engine = _engine(digits, "darts", {"nas"}, freeze_at=0.0)
    arch = engine.arch  # type: ignore[attr-defined]
    engine.step(0.5)  # type: ignore[attr-defined]
    assert all(n.frozen for t in arch.nodes.values() for n in t)  # every node frozen: b no longer trains
    codes = [n.b.detach().clone() for t in arch.nodes.values() for n in t]
    coefficients = arch.coefficients()
    for _ in range(3):
        engine.step(0.6)  # type: ignore[attr-defined]
    assert all(torch.equal(a, n.b) for a, n in zip(codes, [n for t in arch.nodes.values() for n in t], strict=True))
    assert arch.coefficients() == coefficients
    net, child = arch.net, arch.export().eval()
    x = digits.val.x[:64]
    net.eval()
    with torch.no_grad(), net.bn_mode(BNMode.RUNNING):
        expected = net(x, arch.step_weights())
    with torch.no_grad():
        assert torch.allclose(child(x), expected, atol=1e-5)
    assert any(abs(c) != 1.0 for pair in coefficients.values() for cs in pair for c in cs)  # learned coefficients kept


def test_ista_runs_each_node_with_scale_free_support_coefficients(digits: DataSplits) -> None:
    """|c| normalised to sum 2 on the two support entries (README departure): signed Eq. 7
    coefficients slowed CPU-scale training far below the baseline."""
    arch = _engine(digits, "darts", {"nas"}).arch  # type: ignore[attr-defined]
    for kind, nodes in arch.step_weights().items():
        for j, w in enumerate(nodes):
            support = w[w != 0]
            assert support.numel() == 2 and bool((support > 0).all()), (kind, j, w)
            assert float(support.detach().sum()) == pytest.approx(2.0, abs=1e-5)
            assert w.requires_grad  # b still receives the training loss's gradient


@pytest.mark.parametrize(("held_batch", "forwards"), [("next", 1), ("fresh", 2)])
def test_the_hypergradient_on_the_next_batch_costs_no_extra_forward(digits: DataSplits, held_batch: str, forwards: int) -> None:
    engine = _engine(digits, "darts", {"hpo"}, held_batch=held_batch)  # type: ignore[arg-type]
    calls: list[int] = []
    engine.net.register_forward_pre_hook(lambda *_: calls.append(1))  # type: ignore[attr-defined]
    before = engine.hyper.values()  # type: ignore[attr-defined]
    records = [engine.step(0.1) for _ in range(3)]  # type: ignore[attr-defined]
    assert len(calls) == 3 * forwards
    assert engine.hyper.values() != before  # type: ignore[attr-defined]  # eta moved
    assert records[-1].held_loss is not None and (held_batch == "fresh" or records[-1].held_loss == records[-1].loss)
    with pytest.raises(UserError, match="held_batch"):
        _engine(digits, "darts", {"hpo"}, held_batch="held")  # type: ignore[arg-type]


def test_the_policy_takes_the_place_of_crop_and_flip_and_cutout_follows_it(digits: DataSplits) -> None:
    """As the reference's DA transform: no random crop / flip before the policy; the base
    configuration's cutout after it. Without a policy the standard augmentation stays."""
    problem = Problem(resolve_space("darts"), digits, 5)
    with_policy = build_engine(problem, stages_for(DHAOptions(components=frozenset({"da"})))[0], {"cutout": 4}, DHAOptions(), 0)
    assert len(with_policy.standard.ops) == 0
    assert [type(op).__name__ for op in with_policy.cutout.ops] == ["RandomErasing"]
    without = build_engine(problem, stages_for(DHAOptions(components=frozenset({"hpo"})))[0], {"cutout": 4}, DHAOptions(), 0)
    assert [type(op).__name__ for op in without.standard.ops] == ["RandomCrop", "RandomErasing"]  # digits: padding 1, no flip


@pytest.mark.parametrize(("recovery", "exact"), [("ista", False), ("lasso", True)])
def test_the_recovery_option_reaches_the_darts_nodes(digits: DataSplits, recovery: str, exact: bool) -> None:
    from hasearch.dha.strategy import DHA

    problem = Problem(resolve_space("darts"), digits, 5)
    options = DHAOptions(components=frozenset({"nas"}), recovery=recovery)
    engine = build_engine(problem, stages_for(options)[0], {}, options, 0)
    assert engine.arch.exact_recovery is exact  # type: ignore[attr-defined]
    alpha = engine.arch.alpha["normal"][3]  # type: ignore[attr-defined]  # 5 inputs x 7 ops
    assert (int((alpha != 0).sum()) <= 7) is exact  # the exact solution has at most m = 7 non-zeros
    with pytest.raises(UserError, match="recovery must be one of ista, lasso"):
        DHA(options=DHAOptions(recovery="cvxpy"))


def test_a_checkpoint_taken_after_some_nodes_froze_loads(digits: DataSplits) -> None:
    """The architecture optimizer's parameter list must not shrink as nodes freeze (it did:
    resuming a run whose first nodes had frozen raised in Adam.load_state_dict)."""
    engine = _engine(digits, "darts", {"nas"})
    engine.step(0.1)  # type: ignore[attr-defined]
    engine.arch._freeze("normal", 0)  # type: ignore[attr-defined]
    engine.step(0.2)  # type: ignore[attr-defined]
    state = engine.state_dict()  # type: ignore[attr-defined]
    fresh = _engine(digits, "darts", {"nas"})
    fresh.load_state_dict(state)  # type: ignore[attr-defined]
    assert fresh.arch.fixed["normal"][0] is not None and fresh.arch.fixed["normal"][1] is None  # type: ignore[attr-defined]
    saved, loaded = state["arch_optimizer"]["state"], fresh.arch_optimizer.state_dict()["state"]  # type: ignore[attr-defined]
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k]["exp_avg"], loaded[k]["exp_avg"]) for k in saved)


def test_open_nodes_train_their_codes_and_run_only_the_support(digits: DataSplits) -> None:
    engine = _engine(digits, "darts", {"nas"})
    arch = engine.arch  # type: ignore[attr-defined]
    before = [p.detach().clone() for p in arch.parameters()]
    engine.step(0.0)  # type: ignore[attr-defined]
    assert any(not torch.equal(a, p) for a, p in zip(before, arch.parameters(), strict=True))
    for cell in arch.step_weights().values():
        assert all(int((w != 0).sum()) == 2 for w in cell)  # top-2 inputs, one op each


def test_learned_hyperparameters_stay_in_the_space_and_the_policy_moves(digits: DataSplits) -> None:
    engine = _engine(digits, "darts", {"da", "hpo"}, hyper_lr=50.0, policy_lr=0.1)
    space = resolve_space("darts").space
    for i in range(3):
        record = engine.step(0.0)  # type: ignore[attr-defined]
        assert (record.held_loss is not None) == (i > 0)  # Eq. 4 on the next batch: from the second step
        values = engine.hyper.values()  # type: ignore[attr-defined]
        assert space["lr"].low <= values["lr"] <= space["lr"].high
        assert space["weight_decay"].low <= values["weight_decay"] <= space["weight_decay"].high
    assert engine.policy.entropy() < 1.0  # type: ignore[attr-defined]


def test_gumbel_choices_on_mbconv_train_the_logits_then_export_the_frozen_child(digits: DataSplits) -> None:
    engine = _engine(digits, "mbconv", {"nas"}, freeze_at=0.5)
    arch = engine.arch  # type: ignore[attr-defined]
    logits = {n: t.detach().clone() for n, t in arch.logits.items()}
    engine.step(0.0)  # type: ignore[attr-defined]
    assert any(not torch.equal(logits[n], arch.logits[n]) for n in logits)
    engine.step(0.7)  # type: ignore[attr-defined]
    assert arch.frozen
    frozen = {n: t.detach().clone() for n, t in arch.logits.items()}
    engine.step(0.8)  # type: ignore[attr-defined]
    assert all(torch.equal(frozen[n], arch.logits[n]) for n in frozen)  # frozen logits get no gradient
    child, net, x = arch.export().eval(), arch.net, digits.val.x[:32]
    net.eval()
    with torch.no_grad(), net.bn_mode(BNMode.RUNNING):
        expected = net(x, arch.step_weights())
    with torch.no_grad():
        assert torch.allclose(child(x), expected, atol=1e-5)


def test_sequential_dha_trains_the_architecture_it_derived_from_scratch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "seq"
    args = ["search", "--space", "darts", "--strategy", "dha-sequential", "--dataset", "digits", "--budget", "10s", "--out", str(out), "--no-baseline"]
    assert main(args) == 0
    said = capsys.readouterr()
    assert "its trained network is the result (no retraining)" in said.err + said.out  # not "up to 2 trainings of 9 epochs"
    assert "trainings of" not in said.err + said.out
    history = RunDir.open(out).read_json("search/history.json")
    first, second = history["phases"]
    assert first["components"] == ["nas"] and second["components"] == ["da", "hpo"]
    assert {k: history["derived"][k] for k in first["derived"]} == first["derived"]  # stage 2 kept stage 1's genotype
    assert history["method"] == "dha-sequential"


@pytest.mark.parametrize(
    ("strategy", "space", "message"),
    [("dha", "resnet-joint", "DHA's architecture search needs model darts"), ("ista", "darts", None)],
)
def test_misuse_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], strategy: str, space: str, message: str | None) -> None:
    args = ["search", "--space", space, "--strategy", strategy, "--dataset", "digits", "--out", str(tmp_path / "x")]
    if message is None:  # bounded by trials only: a single run needs a time budget
        message, args = "needs a time budget", [*args, "--trials", "2"]
    else:
        args += ["--budget", "5s"]
    assert message in one_line_error(args, capsys)
    assert not (tmp_path / "x").exists()


def test_a_killed_dha_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["search", "--space", "darts", "--strategy", "dha", "--dataset", "digits", "--budget", "10m", "--out", str(out),
            "--no-baseline", "--checkpoint-every", "1"]  # fmt: skip
    checkpoint = out / "search" / "dha_checkpoint.pt"
    kill_after_checkpoints(args, checkpoint)
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["state"]["step"] > 0 and not (out / "best.json").exists()
    assert main(["resume", str(out), "--budget", "3s"]) == 0
    entries = RunDir.open(out).read_json("search/history.json")["entries"]
    steps = [e["step"] for e in entries]
    assert steps[: len(saved["history"])] == [e["step"] for e in saved["history"]]  # continued, not restarted
    assert steps == sorted(steps) and steps[-1] > saved["state"]["total_steps"]
    assert entries[-1]["lr"] < saved["history"][-1]["lr"]  # the schedule went on
