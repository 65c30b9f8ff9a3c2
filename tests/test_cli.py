"""End-to-end CLI tests: one per command, and every bad-input case (exit 2, one line)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hasearch.artifacts import load_final_model
from hasearch.cli.main import main
from hasearch.data import make_splits, resolve_dataset
from hasearch.store import RunDir
from tests.conftest import snapshot

FAST = ["--epochs", "1", "--trials", "2"]


def _search(out: Path, *extra: str) -> list[str]:
    return ["search", "--space", "mbconv", "--dataset", "digits", "--out", str(out), *FAST, *extra]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "a"
    assert main(_search(out, "--seed", "3")) == 0
    return out


def test_search_writes_a_complete_run(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("settings.json", "space.yaml", "trials.sqlite", "best.json", "final/model.pt", "final/model.json"):
        assert (finished_run / name).exists(), name
    run = RunDir.open(finished_run)
    best = run.read_json("best.json")
    trials = run.db.trials()
    assert len(trials) == 2 and all(t.budget == 1.0 for t in trials)
    assert best["found"]["test_accuracy"] is not None and best["baseline"]["test_accuracy"] is not None
    # the saved model reproduces the reported test accuracy
    model, spec = load_final_model(finished_run)
    test = make_splits(resolve_dataset("digits"), seed=0).test
    with torch.no_grad():
        acc = (model(test.x).argmax(1) == test.y).float().mean().item()
    assert acc == pytest.approx(best[best["result"]]["test_accuracy"], abs=1e-6)  # the saved model is the result
    assert spec["classes"] == [str(i) for i in range(10)]


def test_show(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(finished_run)]) == 0
    out = capsys.readouterr().out
    for text in ("baseline vs found", "validation accuracy", "test accuracy", "parameters", "MACs", "search time"):
        assert text in out


def _damage(run: Path, how: str) -> None:
    db = run / "trials.sqlite"
    if how == "removed database":
        db.unlink()
    elif how == "empty database":
        db.write_bytes(b"")
    elif how == "garbage database":
        db.write_bytes(b"\x00garbage" * 100)
    elif how == "database of another schema":
        db.unlink()
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE other (x INTEGER)")
        conn.close()
    elif how == "row with invalid JSON":
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE trials SET config = '{not json' WHERE trial_id = 0")
        conn.close()


@pytest.mark.parametrize(
    "how", ["intact", "removed database", "empty database", "garbage database", "database of another schema", "row with invalid JSON"]
)
def test_show_never_writes_into_a_run(finished_run: Path, tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)
    _damage(run, how)
    before, names = snapshot(run), sorted(p.name for p in run.iterdir())
    code = main(["show", str(run)])
    err = capsys.readouterr().err
    assert snapshot(run) == before, "show changed the run directory"
    assert sorted(p.name for p in run.iterdir()) == names, "show created files in the run directory"
    if how == "intact":
        assert code == 0
    else:
        assert code == 2 and err.count("\n") == 1 and "trials.sqlite" in err, err


def test_spaces_and_datasets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    assert "mbconv" in out and "resnet-joint" in out
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "mnist5k" in out and "imagefolder:PATH" in out


def test_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--budget", "3s", "--epochs", "1"]) == 0
    text = capsys.readouterr().out
    assert "demo: bohb joint search of mbconv on mnist5k" in text and "test accuracy" in text
    assert (out / "best.json").exists()
    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "trials:" in shown
    assert main(["demo", "--out", str(tmp_path / "single"), "--strategy", "autohas", "--budget", "2s", "--epochs", "1"]) == 0
    assert main(["show", str(tmp_path / "single")]) == 0
    shown = capsys.readouterr().out
    assert "autohas" in shown and "steps" in shown and "trials:" not in shown  # a single-run search reports its steps


BAD_YAML = "name: x\nparameters:\n  - name: [unclosed\n"
OUT_OF_RANGE_YAML = (
    "model: mbconv\nparameters:\n  - {name: lr, role: hyperparameter, type: float, range: [0.01, 0.1], default: 0.5}\n"
)


def _bad_cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    (tmp / "bad.yaml").write_text(BAD_YAML)
    (tmp / "range.yaml").write_text(OUT_OF_RANGE_YAML)
    base = ["search", "--dataset", "digits", "--trials", "1", "--out", str(tmp / "new")]
    return {
        "unknown space": ([*base, "--space", "nope"], "unknown space 'nope'"),
        "unknown strategy": ([*base, "--space", "mbconv", "--strategy", "magic"], "unknown strategy 'magic'"),
        "unknown dataset": (
            ["search", "--space", "mbconv", "--dataset", "cifar1000", "--trials", "1", "--out", str(tmp / "new")],
            "unknown dataset 'cifar1000'",
        ),
        "malformed yaml": ([*base, "--space", str(tmp / "bad.yaml")], "malformed YAML at line"),
        "out-of-range yaml value": ([*base, "--space", str(tmp / "range.yaml")], "default 0.5 is outside"),
        "out-of-range epochs": ([*base, "--space", "mbconv", "--epochs", "0"], "must be a positive finite number"),
        "out-of-range trials": ([*base, "--space", "mbconv", "--trials", "0"], "--trials must be >= 1"),
        "out-of-range threads": ([*base, "--space", "mbconv", "--threads", "0"], "--threads must be >= 1"),
        "out-of-range workers": ([*base, "--space", "mbconv", "--workers", "0"], "--workers must be >= 1"),
        "bad budget": ([*base, "--space", "mbconv", "--budget", "soon"], "is not a duration"),
        "missing space file": ([*base, "--space", str(tmp / "none.yaml")], "does not exist"),
        "missing image folder": (
            ["search", "--space", "mbconv", "--dataset", f"imagefolder:{tmp / 'nofolder'}", "--trials", "1", "--out", str(tmp / "new")],
            "does not exist",
        ),
        "missing npz": (
            ["search", "--space", "mbconv", "--dataset", f"npz:{tmp / 'no.npz'}", "--trials", "1", "--out", str(tmp / "new")],
            "does not exist",
        ),
        "no bound": (["search", "--space", "mbconv", "--dataset", "digits", "--out", str(tmp / "new")], "--budget and/or --trials"),
        "missing option": (["search", "--space", "mbconv"], "required"),
        "show a non-run": (["show", str(tmp)], "is not a hasearch run"),
        "autohas without a time budget": ([*base, "--space", "mbconv", "--strategy", "autohas"], "AutoHAS needs a time budget"),
        "infinite epochs": ([*base, "--space", "mbconv", "--epochs", "inf"], "positive finite number"),
        "epochs below one step": (
            [*base, "--space", "mbconv", "--epochs", "1e-9", "--min-epochs", "1e-9"],
            "--min-budget 1e-09 epochs is less than one training step",
        ),
        "final epochs below one step": ([*base, "--space", "mbconv", "--final-epochs", "1e-6"], "--final-budget 1e-06 epochs"),
        "a MACs limit nothing meets": (
            [*base, "--space", "mobilenetv2", "--max-macs", "1000"],
            "--max-macs 1,000: none of 1000 random configurations",
        ),
        "a budget under a second": (
            [*base, "--space", "mbconv", "--budget-unit", "seconds", "--epochs", "0.01", "--min-epochs", "0.01"],
            "shorter than 1 second",
        ),
        "negative seed": ([*base, "--space", "mbconv", "--seed", "-1"], "--seed must be in"),
        "huge seed": ([*base, "--space", "mbconv", "--seed", "100000000000000000000000"], "--seed must be in"),
        "empty budget": ([*base, "--space", "mbconv", "--budget", ""], "is not a duration"),
        "controller lr above 1": ([*base, "--space", "mbconv", "--controller-lr", "5"], "--controller-lr must be in"),
        "out below a regular file": (
            ["search", "--space", "mbconv", "--dataset", "digits", "--trials", "1", "--out", str(tmp / "bad.yaml" / "run")],
            "is a file, not a directory"),
        "ray address where nothing listens": ([*base, "--space", "mbconv", "--executor", "ray", "--address", "127.0.0.1:9"],
                                              "no Ray cluster answers there"),
        "out where nothing can be created": (
            ["search", "--space", "mbconv", "--dataset", "digits", "--trials", "1", "--epochs", "1", "--out", "/proc/hasearch/run"],
            "cannot be created"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "unknown space",
        "unknown strategy",
        "unknown dataset",
        "malformed yaml",
        "out-of-range yaml value",
        "out-of-range epochs",
        "out-of-range trials",
        "out-of-range threads",
        "out-of-range workers",
        "bad budget",
        "missing space file",
        "missing image folder",
        "missing npz",
        "no bound",
        "missing option",
        "show a non-run",
        "autohas without a time budget",
        "infinite epochs",
        "epochs below one step",
        "final epochs below one step",
        "a budget under a second",
        "a MACs limit nothing meets",
        "negative seed",
        "huge seed",
        "empty budget",
        "controller lr above 1",
        "out below a regular file",
        "out where nothing can be created",
        "ray address where nothing listens",
    ],
)
def test_bad_input_is_one_line_exit_2(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, message = _bad_cases(tmp_path)[case]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hasearch: error: ")
    assert message in err
    assert not (tmp_path / "new").exists()


def test_out_holding_a_run_is_untouched(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(finished_run)
    assert main(_search(finished_run)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds another run" in err
    assert snapshot(finished_run) == before


def test_console_script_reports_errors_without_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("hasearch")
    result = subprocess.run([str(exe), "search", "--space", "nope", "--dataset", "digits", "--trials", "1", "--out", str(tmp_path / "x")], check=False, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["hasearch: error: unknown space 'nope' (built-in: darts, mbconv, mobilenetv2, resnet-joint; or give a .yaml file)"]


def test_progress_lines_reach_a_log_file_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).with_name("hasearch"))
    log = tmp_path / "stderr.log"
    cmd = [exe, "search", "--space", "mbconv", "--strategy", "autohas", "--dataset", "digits", "--budget", "4s",
           "--epochs", "1", "--final-epochs", "15", "--no-baseline", "--out", str(tmp_path / "run")]
    with log.open("w") as handle:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=handle, env={**os.environ, "HASEARCH_PROGRESS_SECONDS": "1"})
    lines = [line for line in log.read_text().splitlines() if line.startswith("progress: ")]
    assert any("autohas phase" in line and "elapsed" in line for line in lines), lines
    assert any("train+val -> test" in line and "elapsed" in line for line in lines), lines


def test_bad_input_found_after_the_run_was_created_leaves_nothing_and_out_can_be_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hasearch.errors import UserError
    from hasearch.strategies.base import SingleRunStrategy
    from hasearch.strategies.registry import STRATEGIES, StrategyEntry

    class _RefusesLate(SingleRunStrategy):
        def run(self, context):  # type: ignore[no-untyped-def]
            raise UserError("a problem only the search itself can see")

    monkeypatch.setitem(STRATEGIES, "late", StrategyEntry("late", "test", lambda o: _RefusesLate()))
    out = tmp_path / "run"
    assert main(["search", "--space", "mbconv", "--strategy", "late", "--dataset", "digits", "--trials", "1", "--out", str(out)]) == 2
    assert "only the search itself can see" in capsys.readouterr().err
    assert not out.exists()
    assert main(["search", "--space", "mbconv", "--dataset", "digits", "--trials", "1", "--epochs", "1", "--out", str(out)]) == 0


def test_max_macs_keeps_every_trained_trial_under_the_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hasearch.catalog import resolve_space
    from hasearch.store import RunDir
    from hasearch.supernet import resource_model

    out, limit = tmp_path / "run", 400_000
    argv = ["search", "--space", "mobilenetv2", "--dataset", "digits", "--trials", "6", "--epochs", "1", "--max-macs", str(limit), "--out", str(out)]
    assert main(argv) == 0
    definition = resolve_space("mobilenetv2")
    macs = resource_model(definition.family, (1, 8, 8), 10)
    run = RunDir.open(out, read_only=True)
    trials, best = run.db.trials(), run.read_json("best.json")
    run.close()
    assert len(trials) == 6 and all(macs.cost(t.config) <= limit for t in trials)
    assert macs.cost(definition.baseline) > limit  # so the baseline was not trained ...
    assert best["limits"] == {"max_macs": limit, "found_meets": True, "baseline_meets": False}
    assert best["result"] == "found"  # ... and cannot be the result
    searched = capsys.readouterr()
    assert "note: cutout reaches 12 pixels on these 8x8 images: from 6 pixels on" in searched.out + searched.err
    assert main(["show", str(out)]) == 0
    assert "--max-macs 400,000: the found model meets it" in capsys.readouterr().out


def test_max_latency_uses_the_device_table_and_refuses_what_it_cannot_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "run"
    base = ["search", "--space", "mbconv", "--dataset", "digits", "--trials", "2", "--epochs", "1"]
    assert main([*base, "--max-latency", "1000", "--out", str(out)]) == 0  # first use builds the table
    assert list((tmp_path / "cache" / "hasearch" / "latency").glob("mbconv-*.json"))
    best = json.loads((out / "best.json").read_text())
    assert best["limits"]["max_latency_ms"] == 1000 and best["limits"]["found_meets"] is True
    assert best["found"]["latency_ms"] > 0
    capsys.readouterr()
    for argv, message in (
        ([*base, "--max-latency", "0.000001", "--out", str(tmp_path / "new")], "--max-latency 1e-06: none of 1000"),
        ([*base, "--strategy", "autohas", "--budget", "10s", "--max-latency", "5", "--out", str(tmp_path / "new")],
         "--max-latency limits multi-trial strategies"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
        assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("batch_size", ["type: ordinal\n    choices: [32, 64]", "type: int\n    range: [32, 64]\n    step: 32"])
def test_a_batch_size_the_space_draws_from_choices_or_steps_trains(tmp_path: Path, batch_size: str) -> None:
    """ConfigSpace gives such values as numpy integers (every sampled trial failed: 'an integer is required')."""
    from hasearch.store import RunDir

    space = tmp_path / "space.yaml"
    space.write_text(f"model: mbconv\nparameters:\n  - name: batch_size\n    role: hyperparameter\n    {batch_size}\n")
    out = tmp_path / "run"
    assert main(["search", "--space", str(space), "--dataset", "digits", "--trials", "3", "--epochs", "1", "--final-epochs", "1", "--no-baseline", "--out", str(out)]) == 0
    run = RunDir.open(out)
    try:
        trials = run.db.trials()
    finally:
        run.close()
    assert len(trials) == 3 and all(t.error is None for t in trials), [t.error for t in trials]
    assert {t.config["batch_size"] for t in trials} <= {32, 64}
