from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hasearch.data import DataSplits, make_splits, resolve_dataset

torch.set_num_threads(2)

_SHARED_ROOTS = (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared"))
SHARED_CIFAR = next(
    (root / "datasets" / "cifar10-jpeg-subset" for root in _SHARED_ROOTS if (root / "datasets" / "cifar10-jpeg-subset").is_dir()),
    _SHARED_ROOTS[0] / "datasets" / "cifar10-jpeg-subset",
)


@pytest.fixture(scope="session")
def digits() -> DataSplits:
    return make_splits(resolve_dataset("digits"), seed=0)


def tiny_run(tmp_path_factory: pytest.TempPathFactory, *, trials: int = 1) -> Path:
    """A finished random search of ``mbconv`` on digits: ``trials`` trials of one epoch, no
    baseline (the run that hostile-input tests damage, edit and resume copies of)."""
    from hasearch.cli.main import main

    out = tmp_path_factory.mktemp("runs") / "run"
    argv = ["search", "--space", "mbconv", "--dataset", "digits", "--trials", str(trials), "--epochs", "1", "--no-baseline", "--out", str(out)]
    assert main(argv) == 0
    return out


def copy_of(run: Path, tmp_path: Path) -> Path:
    """A copy of ``run`` in ``tmp_path`` (for a test that changes it)."""
    return Path(shutil.copytree(run, tmp_path / "run"))


def snapshot(path: Path) -> dict[str, str]:
    """Content hash of every file under ``path`` (to prove a run was left untouched)."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``hasearch argv`` in-process; it must exit 2 with exactly one line on stderr, returned."""
    from hasearch.cli.main import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def kill_after_checkpoints(argv: list[str], checkpoint: Path, *, saves: int = 3, timeout: float = 120.0) -> None:
    """Run ``hasearch`` with ``argv`` in a subprocess and SIGKILL it once ``checkpoint`` was
    written ``saves`` times (mid-search: the process must still be running)."""
    exe = str(Path(sys.executable).with_name("hasearch"))
    proc = subprocess.Popen([exe, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, seen = time.monotonic() + timeout, set()
    try:
        while len(seen) < saves and time.monotonic() < deadline and proc.poll() is None:
            if checkpoint.exists():
                seen.add(checkpoint.stat().st_mtime)
            time.sleep(0.1)
        assert proc.poll() is None and len(seen) >= saves
    finally:  # a failed wait must not leave a long search running under the rest of the suite
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
