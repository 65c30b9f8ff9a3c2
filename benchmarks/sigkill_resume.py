"""Crash safety: SIGKILL a search at random moments, resume it, count what was lost.

    .venv/bin/python benchmarks/sigkill_resume.py --kills 3 --seed 0

For a BOHB run, a `--workers 2` random-search run and an AutoHAS run (mbconv on digits),
``--kills`` times each: start the search, SIGKILL it at a random moment of its window
(``WINDOWS``: bohb 2-12 s, `--workers 2` 10-30 s, AutoHAS 8-25 s), record what was
finished, `hasearch resume` it to the end, and check:
* multi-trial: every trial finished before the kill is still there, identical (id,
  configuration, budget, status, loss); no trial id twice; the resumed run has exactly the
  trial count of the same search run straight through, with the same configurations;
* AutoHAS: the resumed run continues from its last checkpoint (its step history begins with
  the checkpoint's) and finishes.
Prints one line per kill and the totals of lost and duplicated trials.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hasearch.cli.main import main as cli
from hasearch.store import RunDir

HASEARCH = str(Path(sys.executable).with_name("hasearch"))
BASE = ["--space", "mbconv", "--dataset", "digits", "--final-budget", "1", "--seed", "1"]
RUNS = {
    "bohb": ["--strategy", "bohb", "--trials", "16", "--epochs", "9"],
    "random --workers 2": ["--strategy", "random", "--trials", "40", "--epochs", "3", "--workers", "2"],
    "autohas": ["--strategy", "autohas-hp", "--budget", "30s", "--epochs", "1", "--checkpoint-every", "1", "--no-baseline"],
}
# when to kill (seconds after the start): after the pool's workers have loaded torch and the
# data, and after AutoHAS's first checkpoints, so that kills find finished work to lose
WINDOWS = {"bohb": (2.0, 12.0), "random --workers 2": (10.0, 30.0), "autohas": (8.0, 25.0)}


def records(out: Path) -> list[tuple[Any, ...]]:
    run = RunDir.open(out, read_only=True)
    try:
        return [(t.trial_id, repr(sorted(t.config.items())), t.budget, t.status.value, t.loss) for t in run.db.trials()]
    finally:
        run.close()


def kill_and_resume(name: str, out: Path, delay: float) -> dict[str, Any]:
    proc = subprocess.Popen([HASEARCH, "search", *BASE, *RUNS[name], "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    if proc.poll() is not None:
        return {"killed": False, "returncode": proc.returncode}
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if name == "autohas":
        return resume_single_run(out)
    before = [r for r in records(out) if r[3] != "running"]
    assert cli(["resume", str(out)]) == 0
    after = records(out)
    kept = {r[0]: r for r in after}
    lost = sum(kept.get(r[0]) != r for r in before)
    duplicated = len(after) - len({r[0] for r in after})
    return {"killed": True, "finished_before": len(before), "lost": lost, "duplicated": duplicated, "after": after}


def resume_single_run(out: Path) -> dict[str, Any]:
    import torch

    checkpoint = out / "autohas" / "checkpoint.pt"
    saved = torch.load(checkpoint, weights_only=True)["step"] if checkpoint.exists() else 0
    assert cli(["resume", str(out)]) == 0
    run = RunDir.open(out, read_only=True)
    steps = [e["step"] for e in run.read_json("search/history.json")["entries"]]
    run.close()
    lost = 0 if not steps or steps[0] <= saved else 1
    return {"killed": True, "finished_before": saved, "lost": lost, "duplicated": int(steps != sorted(set(steps)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    totals = {"lost": 0, "duplicated": 0, "kills": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in RUNS.items():
            straight = None
            if name != "autohas":
                assert cli(["search", *BASE, *options, "--out", str(Path(tmp) / f"{name}-straight")]) == 0
                straight = records(Path(tmp) / f"{name}-straight")
            for k in range(args.kills):
                delay = rng.uniform(*WINDOWS[name])
                result = kill_and_resume(name, Path(tmp) / f"{name}-{k}", delay)
                if not result["killed"]:
                    print(f"{name}: ended (exit {result['returncode']}) before the kill at {delay:.1f}s", flush=True)
                    continue
                same = "-" if straight is None else ("yes" if [r[:3] for r in result["after"]] == [r[:3] for r in straight] else "NO")
                totals["lost"] += result["lost"]
                totals["duplicated"] += result["duplicated"]
                totals["kills"] += 1
                print(f"{name}: killed at {delay:.1f}s with {result['finished_before']} finished "
                      f"{'steps checkpointed' if name == 'autohas' else 'trials'}; lost {result['lost']}, "
                      f"duplicated {result['duplicated']}, same trials as a straight run: {same}", flush=True)
    print(f"{totals['kills']} kills: {totals['lost']} finished trials lost, {totals['duplicated']} duplicated")


if __name__ == "__main__":
    main()
