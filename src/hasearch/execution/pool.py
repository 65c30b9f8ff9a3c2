"""Run trials in a local pool of worker processes (``--workers N``)."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from hasearch.device import worker_device
from hasearch.evaluate import TrialOutcome
from hasearch.execution.base import TrialTask, run_task
from hasearch.execution.recipe import ProblemRecipe
from hasearch.problem import Problem

_PROBLEM: Problem | None = None


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel SIGKILL this worker when its driver dies, even by SIGKILL.

    (The workers are started from the driver's main thread, which lives as long as the
    driver.) If the driver died before this ran, exit now.
    """
    if sys.platform != "linux":
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


def _init_worker(recipe: ProblemRecipe, parent: int, counter: Any, trials_per_gpu: int) -> None:
    """Build the problem on this worker's device: worker k (in start order) takes GPU
    k // trials_per_gpu, round robin over the visible GPUs."""
    global _PROBLEM
    _die_with_parent(parent)
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    _PROBLEM = recipe.build(worker_device(recipe.compute, index, trials_per_gpu=trials_per_gpu))


def _run_in_worker(task: TrialTask) -> TrialOutcome:
    assert _PROBLEM is not None, "worker not initialised"
    return run_task(_PROBLEM, task)


class ProcessPoolTrialExecutor:
    """``workers`` processes (spawned, each loading the data once) evaluate tasks in parallel.

    A worker that dies (out of memory, a crash in native code) fails the tasks it held;
    the pool is restarted and the search goes on.
    """

    def __init__(self, recipe: ProblemRecipe, workers: int, *, trials_per_gpu: int = 1) -> None:
        self.recipe = recipe
        self.workers, self.trials_per_gpu = workers, trials_per_gpu
        self._pool = self._new_pool()
        self._futures: dict[Future[TrialOutcome], TrialTask] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")  # fork after torch/OpenMP start is unsafe
        counter = context.Value("i", 0)  # the workers' start order, for GPU placement
        initargs = (self.recipe, os.getpid(), counter, self.trials_per_gpu)
        return ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker, initargs=initargs)

    @property
    def capacity(self) -> int:
        return self.workers

    @property
    def running(self) -> int:
        return len(self._futures)

    def submit(self, task: TrialTask) -> None:
        self._futures[self._pool.submit(_run_in_worker, task)] = task

    def wait(self) -> list[tuple[TrialTask, TrialOutcome]]:
        done, _ = wait(list(self._futures), return_when=FIRST_COMPLETED)
        results, broken = [], False
        for future in done:
            task = self._futures.pop(future)
            try:
                results.append((task, future.result()))
            except BrokenProcessPool as exc:
                broken = True
                results.append((task, TrialOutcome(float("inf"), error=f"worker process died: {exc}")))
        if broken:
            for task in self._futures.values():
                results.append((task, TrialOutcome(float("inf"), error="worker process died")))
            self._futures.clear()
            self._pool = self._new_pool()
        return results

    def shutdown(self) -> None:
        """Stop the pool. Trials still running (only when the search was interrupted: the
        loop waits for running trials otherwise) are abandoned, their workers killed at once;
        ``hasearch resume`` runs them again."""
        if self._futures:
            self._kill_workers()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._futures.clear()

    def _kill_workers(self) -> None:
        kill_workers = getattr(self._pool, "kill_workers", None)  # Python >= 3.14
        if kill_workers is not None:
            kill_workers()
            return
        for process in list((getattr(self._pool, "_processes", None) or {}).values()):  # no public way before 3.14
            process.kill()
