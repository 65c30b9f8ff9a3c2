"""Threads per training process when other processes keep cores busy (hasearch.cores)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hasearch import cores
from hasearch.settings import SearchSettings


def test_the_free_cores_are_split_between_the_workers() -> None:
    assert cores.free_threads(1, cores=2, busy=0) is None  # nothing busy: torch's default
    assert cores.free_threads(1, cores=2, busy=1) == 1
    assert cores.free_threads(2, cores=8, busy=2) == 3
    assert cores.free_threads(1, cores=2, busy=5) == 1  # at least one


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="procs_running is Linux's")
def test_a_busy_process_is_seen() -> None:
    idle = cores.busy_cores()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert cores.busy_cores() >= idle + 1 >= 1
    finally:
        spinner.kill()
        spinner.wait()


def test_a_search_without_threads_trains_on_the_free_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cores, "busy_cores", lambda: 1)
    monkeypatch.setattr(cores.os, "cpu_count", lambda: 4)
    notes: list[str] = []
    settings = SearchSettings(space="mbconv", dataset="digits", max_trials=1)
    shared = cores.sharing_cores(settings, notes.append)
    assert shared.threads == 3 and settings.threads is None  # a copy: the caller's settings are not changed
    assert "other processes keep 1 of this machine's 4 cores busy: training with 3 thread(s) per process instead of 4" in notes[0]
    for given in (SearchSettings(space="mbconv", dataset="digits", max_trials=1, threads=4),
                  SearchSettings(space="mbconv", dataset="digits", max_trials=1, executor="ray")):  # fmt: skip
        assert cores.sharing_cores(given, notes.append) == given and len(notes) == 1


def test_more_runnable_threads_than_cores_are_all_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cores, "busy_cores", lambda: 3)
    monkeypatch.setattr(cores.os, "cpu_count", lambda: 2)
    notes: list[str] = []
    shared = cores.sharing_cores(SearchSettings(space="mbconv", dataset="digits", max_trials=1), notes.append)
    assert shared.threads == 1
    assert "other processes keep 2 of this machine's 2 cores busy" in notes[0]  # said "3 of 2" before


def test_a_search_leaves_the_callers_torch_threads_as_it_found_them(tmp_path: Path) -> None:
    import torch

    from hasearch.search import run_search

    before = torch.get_num_threads()
    settings = SearchSettings(space="mbconv", dataset="digits", max_trials=1, max_budget=1.0, threads=1, compare_baseline=False)
    run_search(settings, str(tmp_path / "run"))
    assert torch.get_num_threads() == before  # before: 1 for the rest of the process
