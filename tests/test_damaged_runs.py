"""Damaged run directories: reading and resuming them gives one line and exit 2, and the
directory stays byte-identical (a full disk or a stray edit must never cost a traceback)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from hasearch.cli.main import main
from tests.conftest import snapshot


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["search", "--space", "mbconv", "--dataset", "digits", "--trials", "2", "--epochs", "1", "--out", str(out)]) == 0
    return out


def _sql(db: Path, statement: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(statement)
    conn.close()


def _other_schema(db: Path) -> None:
    db.unlink()
    _sql(db, "CREATE TABLE other (x INTEGER)")


DB = "trials.sqlite"
DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "database removed": (DB, lambda p: p.unlink()),
    "database empty": (DB, lambda p: p.write_bytes(b"")),
    "database garbage": (DB, lambda p: p.write_bytes(b"\x00garbage\xff" * 200)),
    "database truncated": (DB, lambda p: p.write_bytes(p.read_bytes()[:1500])),
    "database of another schema": (DB, _other_schema),
    "trial row with invalid JSON": (DB, lambda p: _sql(p, "UPDATE trials SET config = '{oops' WHERE trial_id = 0")),
    "trial row of the wrong JSON type": (DB, lambda p: _sql(p, "UPDATE trials SET metrics = '[1, 2]' WHERE trial_id = 0")),
    "settings a list": ("settings.json", lambda p: p.write_text("[1, 2]")),
    "settings missing keys": ("settings.json", lambda p: p.write_text('{"seed": 0}')),
    "settings with a string max budget": (
        "settings.json", lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "max_budget": "nine"}))),
    "settings binary garbage": ("settings.json", lambda p: p.write_bytes(b"\xff\xfe\x00garbage")),
    "settings invalid JSON": ("settings.json", lambda p: p.write_text("{")),
    "best.json a list": ("best.json", lambda p: p.write_text("[]")),
    "best.json missing keys": ("best.json", lambda p: p.write_text('{"baseline": {}}')),
    "best.json with a string budget": (
        "best.json", lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "final_budget": "nine"}))),
    "best.json binary garbage": ("best.json", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")),
    "best.json empty": ("best.json", lambda p: p.write_bytes(b"")),
}
# resume re-does the final comparison and rewrites best.json, so best.json damage only matters to show
RESUME_CASES = [name for name, (file, _) in DAMAGE.items() if file != "best.json"]


def _damaged_copy(finished: Path, tmp_path: Path, case: str) -> Path:
    run = tmp_path / "copy"
    shutil.copytree(finished, run)
    file, damage = DAMAGE[case]
    damage(run / file)
    return run


def _check_refused(argv: list[str], run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before, names = snapshot(run), sorted(p.name for p in run.iterdir())
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("hasearch: error: ") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert snapshot(run) == before and sorted(p.name for p in run.iterdir()) == names


@pytest.mark.parametrize("case", list(DAMAGE))
def test_show_of_a_damaged_run_is_one_line_and_changes_nothing(
    finished: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _damaged_copy(finished, tmp_path, case)
    _check_refused(["show", str(run)], run, capsys)


@pytest.mark.parametrize("case", RESUME_CASES)
def test_resume_of_a_damaged_run_is_one_line_and_changes_nothing(
    finished: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _damaged_copy(finished, tmp_path, case)
    _check_refused(["resume", str(run)], run, capsys)


class _Payload:
    """Unpickling this would create a file: the proof that a payload ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def _plant_payload(file: Path, marker: Path) -> None:
    import torch

    torch.save({"weights": _Payload(marker)}, file)


def test_a_model_file_carrying_a_pickle_payload_is_refused_and_never_runs(finished: Path, tmp_path: Path) -> None:
    from hasearch.artifacts import load_final_model
    from hasearch.errors import RunDirError

    run, marker = tmp_path / "copy", tmp_path / "payload-ran"
    shutil.copytree(finished, run)
    _plant_payload(run / "final" / "model.pt", marker)
    with pytest.raises(RunDirError, match="model.pt' was refused"):
        load_final_model(run)
    assert not marker.exists()


def test_resume_refuses_a_checkpoint_carrying_a_pickle_payload(finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, marker = tmp_path / "copy", tmp_path / "payload-ran"
    shutil.copytree(finished, run)
    (run / "autohas").mkdir()
    _plant_payload(run / "autohas" / "checkpoint.pt", marker)
    _check_refused(["resume", str(run)], run, capsys)
    assert not marker.exists()


_KILL_MID_COMMIT = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size=1")  # spill changed pages into the database file before the commit
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE trials SET config = ?", ("{" + " " * 5000 + "}",))
conn.execute("INSERT INTO documents (key, value) VALUES ('filler', ?)", ("0" * 200000,))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_run_killed_in_the_middle_of_a_write_is_named_by_show_and_repaired_by_resume(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    from hasearch.resumption import check_resumable
    from hasearch.store import TrialDB

    run = tmp_path / "copy"
    shutil.copytree(finished, run)
    before = [t.config for t in TrialDB(finished / DB, read_only=True).trials()]
    subprocess.run([sys.executable, "-c", _KILL_MID_COMMIT, str(run / DB)], check=False)
    assert (run / f"{DB}-journal").stat().st_size > 0  # a hot journal: the database file holds half a write
    _check_refused(["show", str(run)], run, capsys)
    check_resumable(str(run))  # SQLite rolls the half write back
    assert not (run / f"{DB}-journal").exists()
    assert [t.config for t in TrialDB(run / DB, read_only=True).trials()] == before


def test_a_run_directory_made_immutable_mid_run_ends_with_one_line_naming_the_file(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from hasearch.store import TrialDB

    out = tmp_path / "run"
    exe = str(Path(sys.executable).with_name("hasearch"))
    argv = [exe, "search", "--space", "mbconv", "--dataset", "digits", "--strategy", "hyperband", "--trials", "60", "--epochs", "9", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not ((out / DB).exists() and TrialDB(out / DB, read_only=True).trials()):
            time.sleep(0.5)
        if subprocess.run(["chattr", "-R", "+i", str(out)], check=False, capture_output=True).returncode != 0:
            proc.kill()
            pytest.skip("chattr +i is not available here (needs root on ext4-like file systems)")
        _, err = proc.communicate(timeout=120)
    finally:
        subprocess.run(["chattr", "-R", "-i", str(out)], check=False, capture_output=True)
        proc.kill()
    assert proc.returncode == 2, err  # before: SIGBUS (-7) from SQLite's shared-memory map
    last = err.strip().splitlines()[-1]
    assert last.startswith("hasearch: error: cannot write ") and str(out) in last
    assert "Traceback" not in err


def test_a_write_failure_is_reported_even_when_the_database_cannot_be_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """CI once saw the immutable-directory test end in a traceback: after SQLite failed to
    write, reading the trials back (to decide whether to clean up) raised 'disk I/O error'."""
    from hasearch import search
    from hasearch.errors import RunNotWritable
    from hasearch.store import TrialDB

    out = tmp_path / "run"

    def refuse_write(*_args: object, **_kwargs: object) -> None:
        raise RunNotWritable(f"cannot write {str(out / DB)!r} (disk I/O error)")

    def unreadable(*_args: object, **_kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(search, "_search_and_compare", refuse_write)
    monkeypatch.setattr(TrialDB, "trials", unreadable)
    assert main(["search", "--space", "mbconv", "--dataset", "digits", "--trials", "1", "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("hasearch: error: cannot write ") and str(out) in err[-1]
