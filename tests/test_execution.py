"""Executors and resume, end to end through the CLI on digits."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hasearch.cli.main import main
from hasearch.store import RunDir, TrialStatus

HASEARCH = str(Path(sys.executable).with_name("hasearch"))


def _only_loopback() -> bool:
    """Ray must only run where the network namespace has nothing but loopback."""
    return {name for _, name in socket.if_nameindex()} <= {"lo"}


def _records(out: Path) -> list[tuple[int, str, float, str]]:
    run = RunDir.open(out)
    rows = [(t.trial_id, repr(sorted(t.config.items())), t.budget, t.status.value) for t in run.db.trials()]
    run.close()
    return rows


def _accuracies(out: Path) -> list[float]:
    run = RunDir.open(out)
    values = [t.val_accuracy for t in run.db.trials()]
    run.close()
    return values


def _search(out: Path, *extra: str) -> list[str]:
    return ["search", "--space", "mbconv", "--dataset", "digits", "--out", str(out), "--final-budget", "1", *extra]


def test_pool_executor_writes_the_same_records_as_in_process(tmp_path: Path) -> None:
    args = ["--strategy", "random", "--trials", "4", "--epochs", "1", "--seed", "2"]
    assert main(_search(tmp_path / "inline", *args)) == 0
    assert main(_search(tmp_path / "pool", *args, "--workers", "2")) == 0
    assert _records(tmp_path / "inline") == _records(tmp_path / "pool")
    for a, b in zip(_accuracies(tmp_path / "inline"), _accuracies(tmp_path / "pool"), strict=True):
        assert a == pytest.approx(b, abs=0.03)  # 2 threads in-process vs 1 per worker


@pytest.mark.skipif(not _only_loopback(), reason="Ray tests run only in a loopback-only network namespace (make test)")
def test_ray_executor_matches_the_pool_and_is_readable_by_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--strategy", "hyperband", "--trials", "6", "--epochs", "3", "--seed", "4", "--workers", "1"]
    assert main(_search(tmp_path / "pool", *args)) == 0
    assert main(_search(tmp_path / "ray", *args, "--executor", "ray")) == 0
    assert _records(tmp_path / "ray") == _records(tmp_path / "pool")
    capsys.readouterr()
    assert main(["show", str(tmp_path / "ray")]) == 0
    out = capsys.readouterr().out
    assert "hyperband" in out and "test accuracy" in out and "rank correlation" in out


def _finished(db: Path, *, status: str = "status != 'running'") -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute(f"SELECT COUNT(*) FROM trials WHERE {status}").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_resume_after_sigkill_loses_and_repeats_nothing(tmp_path: Path) -> None:
    args = ["--strategy", "hyperband", "--trials", "14", "--epochs", "9", "--seed", "1"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([HASEARCH, *_search(killed, *args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    db = killed / "trials.sqlite"
    # kill in the middle of a trial: 6 finished and one running (between two trials none is)
    while (_finished(db) < 6 or not _finished(db, status="status = 'running'")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the search ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _records(killed)
    assert any(status == "running" for *_, status in before)
    assert main(["resume", str(killed)]) == 0
    after = _records(killed)
    assert [r for r in before if r[3] != "running"] == [r for r in after if r[0] in {b[0] for b in before if b[3] != "running"}]
    assert main(_search(tmp_path / "straight", *args)) == 0
    straight = _records(tmp_path / "straight")
    assert after == straight  # same trials, ids, configurations and budgets; none duplicated
    assert len({r[0] for r in after}) == len(after) == 14
    assert all(status == TrialStatus.FINISHED.value for *_, status in after)
    assert (killed / "best.json").exists()


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_and_wait(out: Path, args: list[str], finished: int, timeout: float) -> subprocess.Popen[bytes]:
    """Start a search and return once ``finished`` trials are done (it is still running)."""
    proc = subprocess.Popen([HASEARCH, *_search(out, *args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while _finished(out / "trials.sqlite") < finished and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return proc


def _kill_and_survivors(proc: subprocess.Popen[bytes], pids: list[int]) -> list[int]:
    """SIGKILL the driver; the given processes still alive 10 seconds later."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(10)
    return [pid for pid in pids if _alive(pid)]


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux-only")
def test_pool_workers_die_with_a_killed_driver(tmp_path: Path) -> None:
    proc = _start_and_wait(tmp_path / "run", ["--strategy", "random", "--trials", "40", "--epochs", "9", "--workers", "2"], 1, 120)
    workers = _children(proc.pid)
    if proc.poll() is None and len(workers) < 2:
        proc.kill()  # not left running under the rest of the suite
    assert proc.poll() is None and len(workers) >= 2, "the pool did not start"
    assert _kill_and_survivors(proc, workers) == []


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        kids = _children(frontier.pop())
        found += kids
        frontier += kids
    return found


@pytest.mark.skipif(not _only_loopback(), reason="Ray tests run only in a loopback-only network namespace (make test)")
def test_a_local_ray_does_not_outlive_its_killed_driver(tmp_path: Path) -> None:
    args = ["--strategy", "random", "--trials", "60", "--epochs", "2", "--workers", "2", "--executor", "ray"]
    proc = _start_and_wait(tmp_path / "run", args, 2, 180)
    ray_processes = _descendants(proc.pid)
    if proc.poll() is None and len(ray_processes) < 4:
        proc.kill()  # not left running under the rest of the suite
    assert proc.poll() is None and len(ray_processes) >= 4, "Ray did not start"
    time.sleep(1.0)  # the watchdog polls every 0.5 s: let it see every process
    ray_processes = sorted(set(ray_processes) | set(_descendants(proc.pid)))
    assert _kill_and_survivors(proc, ray_processes) == []  # before: Ray's agents lived on for minutes


def test_sigterm_stops_a_pool_search_at_once_with_one_line_and_the_run_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--strategy", "random", "--trials", "4", "--epochs", "4", "--workers", "2", "--seed", "3", "--no-baseline"]
    proc = subprocess.Popen([HASEARCH, *_search(out, *args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    db = out / "trials.sqlite"
    while (_finished(db) < 2 or not _finished(db, status="status = 'running'")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = _children(proc.pid)
    assert proc.poll() is None, "the search ended before it could be stopped"
    os.kill(proc.pid, signal.SIGTERM)  # `kill PID`: the driver only, as a service manager stops it
    stopped_at = time.monotonic()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert time.monotonic() - stopped_at < 10  # the running trials are abandoned, not waited for
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("hasearch: terminated: continue the run with: hasearch resume ") and str(out) in last
    assert "Traceback" not in stderr and "leaked" not in stderr
    while any(_alive(pid) for pid in workers) and time.monotonic() - stopped_at < 10:
        time.sleep(0.1)
    assert [Path(f"/proc/{pid}/cmdline").read_text() for pid in workers if _alive(pid)] == []
    assert main(["resume", str(out)]) == 0
    assert [status for *_, status in _records(out)] == [TrialStatus.FINISHED.value] * 4


def test_sigterm_in_process_is_an_interruption_and_the_previous_handler_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import hasearch.search

    def terminated(prepared: object, *, reporter: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("SIGTERM did not stop the search")

    def not_main(signum: int, frame: object) -> None:
        raise AssertionError("main() did not handle SIGTERM")

    monkeypatch.setattr(hasearch.search, "execute_search", terminated)
    previous = signal.signal(signal.SIGTERM, not_main)  # the caller's handler (and no SIGTERM of pytest)
    try:
        out = tmp_path / "run me"
        assert main(_search(out, "--strategy", "random", "--trials", "1")) == 128 + signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) is not_main
    finally:
        signal.signal(signal.SIGTERM, previous)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"hasearch: terminated: continue the run with: hasearch resume '{out}' (finished trials are kept")


def test_ray_init_leaves_the_callers_sigterm_handler_in_place() -> None:
    from hasearch.execution.ray_executor import _init_ray

    class FakeRay:  # ray.init installs sys.exit(15) as the driver's SIGTERM handler
        @staticmethod
        def init(**kwargs: object) -> None:
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))

    def callers(signum: int, frame: object) -> None:
        raise AssertionError("unexpected SIGTERM")

    previous = signal.signal(signal.SIGTERM, callers)
    try:
        _init_ray(FakeRay(), {"address": None})
        assert signal.getsignal(signal.SIGTERM) is callers  # so `kill PID` stops a Ray search like any other
    finally:
        signal.signal(signal.SIGTERM, previous)
