"""Run trials on a Ray cluster (``--executor ray [--address ADDR]``, extra ``hasearch[ray]``).

One actor per worker loads the data once and evaluates tasks sent to it. Without an
address a local Ray instance with ``workers`` CPUs is started (and stopped afterwards; a
watchdog stops it when the driver is killed, see :mod:`hasearch.execution.ray_watchdog`).
Checkpoint paths are plain paths: on a multi-node cluster the run directory must be on a
shared file system.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from dataclasses import replace
from typing import Any

from hasearch.errors import UserError
from hasearch.evaluate import TrialOutcome
from hasearch.execution.base import TrialTask, run_task
from hasearch.execution.recipe import ProblemRecipe

CONNECT_SECONDS = 3.0


def check_ray_address(address: str) -> None:
    """Fail within seconds, with one line, when nothing listens at ``address`` (``host:port``,
    optionally ``ray://host:port``); ``auto`` and ``local`` are left to Ray."""
    if address in ("auto", "local"):
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UserError(f"--address {address!r} is not host:port (or ray://host:port, auto)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        raise UserError(f"--address {address!r}: no Ray cluster answers there ({exc.strerror or exc})") from None


def _init_ray(ray: Any, kwargs: dict[str, Any]) -> None:
    """``ray.init``; a cluster address that accepts connections but is no Ray cluster (a
    proxy, another service) fails after Ray's own retries (about 20 s) with one line.

    ``ray.init`` replaces the driver's SIGTERM handler (by ``sys.exit(15)`` behind a native
    handler that prints a stack dump): the caller's handler is put back, so ``kill PID``
    stops a Ray search as it stops any other (``hasearch.cli.stopping``)."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    caller_handler = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        if kwargs.get("address") is None:
            raise
        raise UserError(f"--address {kwargs['address']!r}: no Ray cluster answers there ({str(exc).splitlines()[0]})") from None
    finally:
        if caller_handler is not None:
            signal.signal(signal.SIGTERM, caller_handler)


class _TrialActor:
    def __init__(self, recipe: ProblemRecipe) -> None:
        compute = recipe.compute
        self.problem = recipe.build(replace(compute, device="cuda:0") if compute.is_cuda else compute)

    def run(self, task: TrialTask) -> TrialOutcome:
        return run_task(self.problem, task)


class RayTrialExecutor:
    """Evaluates tasks on ``workers`` Ray actors."""

    def __init__(self, recipe: ProblemRecipe, workers: int, address: str | None = None, *, trials_per_gpu: int = 1) -> None:
        try:
            import psutil  # noqa: F401 - the watchdog's
            import ray
        except ImportError:
            raise UserError("--executor ray needs Ray and psutil: pip install 'hasearch[ray]'") from None
        from hasearch.execution.ray_watchdog import start_watchdog
        self._ray = ray
        self._owns_cluster = not ray.is_initialized() and address is None
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"address": address, "include_dashboard": False, "log_to_driver": False}
            if address is None:
                kwargs["num_cpus"] = workers
            _init_ray(ray, kwargs)
        self._watchdog = start_watchdog(os.getpid()) if self._owns_cluster else None
        self._recipe = recipe
        # on CUDA each trial asks Ray for 1/K of a GPU, so Ray places it on a GPU node and sets
        # CUDA_VISIBLE_DEVICES: inside the actor its GPU is cuda:0
        gpus = 1.0 / trials_per_gpu if recipe.compute.is_cuda else 0
        self._actor_class = ray.remote(num_cpus=1, num_gpus=gpus)(_TrialActor)
        self._idle = [self._actor_class.remote(recipe) for _ in range(workers)]
        self.workers = workers
        self._running: dict[Any, tuple[TrialTask, Any]] = {}

    @property
    def capacity(self) -> int:
        return self.workers

    @property
    def running(self) -> int:
        return len(self._running)

    def submit(self, task: TrialTask) -> None:
        actor = self._idle.pop()
        self._running[actor.run.remote(task)] = (task, actor)

    def wait(self) -> list[tuple[TrialTask, TrialOutcome]]:
        ready, _ = self._ray.wait(list(self._running), num_returns=1)
        results = []
        for ref in ready:
            task, actor = self._running.pop(ref)
            try:
                outcome = self._ray.get(ref)
            except self._ray.exceptions.RayError as exc:  # the actor died: replace it
                outcome = TrialOutcome(float("inf"), error=f"ray worker failed: {type(exc).__name__}")
                actor = self._actor_class.remote(self._recipe)
            self._idle.append(actor)
            results.append((task, outcome))
        return results

    def shutdown(self) -> None:
        self._running.clear()
        if self._owns_cluster:
            self._ray.shutdown()
        if self._watchdog is not None:
            self._watchdog.terminate()
            self._watchdog.wait()
