"""Ctrl-C and SIGTERM during a single-run search: the step ends, a checkpoint is saved, then the run stops."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Self

import pytest
import torch

import hasearch.cli.main
from hasearch.checkpoint_clock import checkpoint_clock
from hasearch.cli.main import main
from hasearch.loop import ELAPSED
from hasearch.reporting import NullReporter
from hasearch.store import RunDir


def test_a_signal_waits_for_the_step_then_the_checkpoint_is_saved_and_the_signal_acts() -> None:
    saves: list[str] = []
    finished: list[int] = []
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), checkpoint_clock(seconds=1e9, save=lambda: saves.append("saved")) as clock:
        for step in range(3):
            if step == 1:
                os.kill(os.getpid(), signal.SIGINT)
            finished.append(step)  # the rest of the step runs
            clock.tick()
    assert finished == [0, 1] and saves == ["saved"]
    assert signal.getsignal(signal.SIGINT) is before


def test_a_second_signal_acts_at_once_without_a_checkpoint() -> None:
    saves: list[str] = []
    with pytest.raises(KeyboardInterrupt), checkpoint_clock(seconds=1e9, save=lambda: saves.append("saved")):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        raise AssertionError("the second Ctrl-C did not stop the step")
    assert saves == []


def test_a_signal_after_the_last_step_still_saves_before_it_acts() -> None:
    saves: list[str] = []
    with pytest.raises(KeyboardInterrupt), checkpoint_clock(seconds=1e9, save=lambda: saves.append("saved")) as clock:
        clock.tick()
        os.kill(os.getpid(), signal.SIGINT)  # after the loop's last tick, before the block ends
    assert saves == ["saved"]


def test_an_error_in_a_step_is_not_followed_by_a_checkpoint() -> None:
    saves: list[str] = []
    with pytest.raises(ValueError), checkpoint_clock(seconds=1e9, save=lambda: saves.append("saved")):
        os.kill(os.getpid(), signal.SIGINT)
        raise ValueError("the step failed")
    assert saves == []


def test_checkpoints_are_saved_every_seconds_without_a_signal() -> None:
    saves: list[str] = []
    with checkpoint_clock(seconds=0.0, save=lambda: saves.append("saved")) as clock:
        clock.tick()
        clock.tick()
    assert saves == ["saved", "saved"]


class _InterruptingReporter(NullReporter):
    """Sends Ctrl-C (or SIGTERM) to this process at the search task's third progress update."""

    signum = signal.SIGINT
    at = 3  # 0: never

    def __init__(self) -> None:
        self.updates = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, key: str, *, completed: float | None = None, description: str | None = None) -> None:
        self.updates += 1
        if self.updates == self.at:
            os.kill(os.getpid(), self.signum)


def _done(strategy: str, saved: dict[str, Any]) -> int:
    """The finished steps (AutoHAS, DHA) or updates of H (NES) a checkpoint holds."""
    return {"autohas-hp": lambda: saved["step"], "nes": lambda: saved["update"], "dha": lambda: saved["state"]["total_steps"]}[strategy]()


@pytest.mark.parametrize(
    ("space", "strategy", "checkpoint", "signum", "status"),
    [
        ("mbconv", "autohas-hp", "autohas/checkpoint.pt", signal.SIGINT, 130),
        ("mobilenetv2", "nes", "search/nes_checkpoint.pt", signal.SIGTERM, 143),
        ("darts", "dha", "search/dha_checkpoint.pt", signal.SIGINT, 130),
    ],
)
def test_an_interrupted_single_run_search_saves_its_last_step_and_resumes_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, space: str, strategy: str, checkpoint: str, signum: int, status: int
) -> None:
    out = tmp_path / "run"
    monkeypatch.setattr(_InterruptingReporter, "signum", signum)
    monkeypatch.setattr(hasearch.cli.main, "RichReporter", _InterruptingReporter)
    args = ["search", "--space", space, "--strategy", strategy, "--dataset", "digits", "--budget", "10m", "--epochs", "1",
            "--out", str(out), "--no-baseline", "--checkpoint-every", "600"]  # fmt: skip
    assert main(args) == status  # before: stopped at once, and the first checkpoint was 600 s away
    saved = torch.load(out / checkpoint, weights_only=True)
    assert _done(strategy, saved) >= 1 and not (out / "best.json").exists()
    assert RunDir.open(out).db.get(ELAPSED) == pytest.approx(saved["state"]["elapsed"] if strategy == "dha" else saved["elapsed"])
    monkeypatch.setattr(_InterruptingReporter, "at", 0)
    assert main(["resume", str(out), "--budget", "2s"]) == 0
    assert (out / "best.json").exists()
