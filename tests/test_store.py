from __future__ import annotations

import math
from pathlib import Path

import pytest

from hasearch.errors import RunDirError
from hasearch.store import RunDir, TrialDB, TrialStatus


def test_trial_lifecycle(tmp_path: Path) -> None:
    db = TrialDB(tmp_path / "t.sqlite")
    db.start(0, {"lr": 0.1, "opt": "sgd"}, 3.0, info={"bracket": 1})
    db.start(1, {"lr": 0.2}, 3.0, parent_id=0)
    db.start(2, {"lr": 0.3}, 9.0)
    db.finish(0, 0.25, {"val_accuracy": 0.75, "history": [{"epoch": 1.0}]}, seconds=1.5, cost=3.0)
    db.fail(1, "RuntimeError: boom", seconds=0.2, cost=3.0)
    trials = db.trials()
    assert [t.status for t in trials] == [TrialStatus.FINISHED, TrialStatus.FAILED, TrialStatus.RUNNING]
    assert trials[0].config == {"lr": 0.1, "opt": "sgd"} and trials[0].info == {"bracket": 1}
    assert trials[0].val_accuracy == 0.75 and trials[0].ok
    assert math.isinf(trials[1].loss) and trials[1].error == "RuntimeError: boom" and trials[1].parent_id == 0
    assert not trials[1].ok
    db.close()
    reopened = TrialDB(tmp_path / "t.sqlite")
    assert reopened.events() == [("ask", 0), ("ask", 1), ("ask", 2), ("tell", 0), ("tell", 1)]
    reopened.restart(2)  # a trial re-run after a kill keeps its single ask event
    reopened.finish(2, 0.5, {}, seconds=1.0, cost=9.0)
    assert reopened.events()[-1] == ("tell", 2) and len(reopened.events()) == 6
    with pytest.raises(KeyError):
        reopened.restart(0)
    reopened.put("state", {"a": [1, 2]})
    assert reopened.get("state") == {"a": [1, 2]} and reopened.get("missing", 5) == 5
    with pytest.raises(KeyError):
        reopened.finish(99, 0.1, {}, seconds=0, cost=0)


def test_run_dir_refuses_non_empty_and_non_runs(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r")
    run.write_json("settings.json", {"x": 1})
    with pytest.raises(RunDirError, match="holds another run"):
        RunDir.create(tmp_path / "r")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file").write_text("x")
    with pytest.raises(RunDirError, match="is not empty"):
        RunDir.check_new(tmp_path / "other")
    with pytest.raises(RunDirError, match="is not a hasearch run"):
        RunDir.open(tmp_path / "other")
    with pytest.raises(RunDirError, match="does not exist"):
        RunDir.open(tmp_path / "nope")
    assert RunDir.open(tmp_path / "r").read_json("settings.json") == {"x": 1}
    (tmp_path / "empty").mkdir()
    RunDir.create(tmp_path / "empty")  # an empty directory is fine


def test_a_run_in_use_cannot_be_resumed_twice(tmp_path: Path) -> None:
    first = RunDir.create(tmp_path / "r")
    first.write_json("settings.json", {})
    first.lock()
    with pytest.raises(RunDirError, match="in use by another hasearch process"):
        RunDir.open(tmp_path / "r").lock()
    first.close()
    RunDir.open(tmp_path / "r").lock()  # free again
