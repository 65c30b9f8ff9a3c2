"""``resume`` continues the search a run started, on a machine that can run it: an edited
``settings.json`` or ``space.yaml`` that changes what is searched, or settings this machine
cannot use, are one line and exit 2, and the run is left as it was."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from hasearch.cli.main import main
from hasearch.errors import UserError
from hasearch.execution import ray_executor
from hasearch.resumption import IDENTITY_KEY
from tests.conftest import copy_of, one_line_error, snapshot, tiny_run


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory, trials=2)


@pytest.fixture()
def run(finished: Path, tmp_path: Path) -> Path:
    return copy_of(finished, tmp_path)


def _edit_settings(run: Path, **changes: Any) -> None:
    path = run / "settings.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _trials(run: Path) -> int:
    with sqlite3.connect(run / "trials.sqlite") as con:
        return int(con.execute("select count(*) from trials").fetchone()[0])


@pytest.mark.parametrize(
    "changes",
    [{"dataset": "mnist5k"}, {"strategy": "bohb"}, {"seed": 7}, {"max_budget": 3.0}, {"strategy_options": {"samples": 5}}],
)
def test_resume_refuses_settings_edited_to_another_search(run: Path, changes: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    _edit_settings(run, **changes)
    before = snapshot(run)
    (name,) = changes
    message = one_line_error(["resume", str(run), "--budget", "2s"], capsys)
    assert f"settings.json: {name} was " in message and "resumes the search it started" in message
    assert snapshot(run) == before


def test_resume_refuses_a_space_edited_to_another_space(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = run / "space.yaml"
    space = yaml.safe_load(path.read_text())
    ranged = next(p for p in space["parameters"] if "range" in p)
    ranged["range"][1] *= 0.9
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    before = snapshot(run)
    assert "space.yaml was edited since the run started" in one_line_error(["resume", str(run), "--budget", "2s"], capsys)
    assert snapshot(run) == before


def test_resume_takes_changes_of_how_the_search_runs_and_a_reformatted_space(run: Path) -> None:
    _edit_settings(run, threads=1, workers=1, max_trials=3, checkpoint_seconds=30.0, compare_baseline=False)
    (run / "space.yaml").write_text("# my notes\n" + (run / "space.yaml").read_text())
    assert main(["resume", str(run), "--budget", "30s"]) == 0
    assert _trials(run) == 3


def test_a_run_from_before_identities_were_recorded_still_resumes(run: Path) -> None:
    with sqlite3.connect(run / "trials.sqlite") as con:
        assert con.execute("delete from documents where key = ?", (IDENTITY_KEY,)).rowcount == 1
    _edit_settings(run, max_trials=3)
    assert main(["resume", str(run), "--budget", "30s"]) == 0
    assert _trials(run) == 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"threads": 100000}, "--threads 100000 is more than"), ({"workers": 100000}, "--workers 100000 is more than"),
     ({"address": "127.0.0.1:1"}, "--address names a Ray cluster")],
)  # fmt: skip
def test_resume_refuses_settings_this_machine_cannot_use(
    run: Path, changes: dict[str, Any], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit_settings(run, **changes)
    before = snapshot(run)
    line = one_line_error(["resume", str(run), "--budget", "2s"], capsys)
    assert "settings.json: " in line and message in line and "edit the file" in line
    assert snapshot(run) == before


def test_an_address_that_answers_but_is_no_ray_cluster_is_one_line() -> None:
    class _NotACluster:
        def init(self, **_: Any) -> None:
            raise ConnectionError("Failed to connect to Ray cluster at 10.1.2.3:6379\nmore")

    with pytest.raises(UserError, match=r"^--address '10.1.2.3:6379': no Ray cluster answers there \(Failed to connect"):
        ray_executor._init_ray(_NotACluster(), {"address": "10.1.2.3:6379"})
    with pytest.raises(ConnectionError):  # a local cluster that fails to start is not the user's input
        ray_executor._init_ray(_NotACluster(), {"address": None})


def test_a_finished_single_run_search_is_not_extended_but_can_be_finished(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["search", "--space", "mbconv", "--strategy", "autohas", "--dataset", "digits", "--budget", "3s", "--epochs", "1",
            "--no-baseline", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    before = snapshot(out)
    message = one_line_error(["resume", str(out), "--budget", "20s"], capsys)
    assert "the autohas search of" in message and "a single-run search is not extended" in message
    assert snapshot(out) == before
    (out / "best.json").unlink()  # as if killed in the final retraining
    assert main(["resume", str(out)]) == 0
    assert "the search finished before, then the final retraining" in " ".join(capsys.readouterr().err.split())
    assert (out / "best.json").exists()


def test_show_says_whether_an_unfinished_run_is_running_or_can_be_resumed(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hasearch.store import RunDir

    (run / "best.json").unlink()  # as a run stopped before its result
    before = snapshot(run)
    holder = RunDir.open(run)
    holder.lock()  # a search or resume in progress holds it
    try:
        assert main(["show", str(run)]) == 0
        assert "search running (another hasearch process holds the run" in capsys.readouterr().out
    finally:
        holder.close()
    assert main(["show", str(run)]) == 0
    assert f"search not finished (no best.json): continue it with: hasearch resume {run}" in " ".join(capsys.readouterr().out.split())
    assert snapshot(run) == before  # show still writes nothing
