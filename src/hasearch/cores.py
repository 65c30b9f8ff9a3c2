"""How many CPU threads a search trains with when the user did not say (``--threads``).

PyTorch's OpenMP threads spin while they wait for each other at the end of each parallel
operation. When two processes' thread teams share cores, each team waits on a thread the
other process has descheduled: two 20 s DHA searches started together on a 2-core machine,
each with torch's default of 2 threads, made 3 steps each, against 281 steps alone and 233 /
218 with one thread each (docs/benchmarks.md, "Sharing the CPU with other processes"). So a
search that finds cores busy when it starts trains on the cores left free, and says so.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import torch

from hasearch.settings import SearchSettings

_STAT = "/proc/stat"


def busy_cores(*, samples: int = 5, interval: float = 0.02) -> int:
    """Threads of other processes that are runnable now: Linux's ``procs_running`` (the median
    of ``samples`` readings ``interval`` seconds apart) less this process's own; 0 where it
    cannot be read (other systems)."""
    readings = []
    for _ in range(samples):
        try:
            with open(_STAT, encoding="ascii") as stat:
                line = next(row for row in stat if row.startswith("procs_running"))
            readings.append(int(line.split()[1]))
        except (OSError, StopIteration, ValueError, IndexError):
            return 0
        time.sleep(interval)
    return max(0, int(statistics.median(readings)) - 1)


def free_threads(workers: int, *, busy: int, cores: int | None = None) -> int | None:
    """Threads per training process when ``busy`` cores are busy (:func:`busy_cores`): the
    free cores split between the ``workers`` (at least 1); None when no core is busy (torch's
    default, or the pool's share of all cores)."""
    cores = cores or os.cpu_count() or 1
    if busy <= 0 or cores <= 1:
        return None
    return max(1, (cores - busy) // max(1, workers))


def sharing_cores(settings: SearchSettings, log: Callable[[str], None]) -> SearchSettings:
    """``settings`` with the threads per training process set to what :func:`free_threads`
    leaves when other processes keep cores busy (only where the user gave no ``--threads``
    and the trials run here, not on Ray); ``log`` says so."""
    if settings.threads is not None or settings.executor != "local":
        return settings
    cores = os.cpu_count() or 1
    busy = min(busy_cores(), cores)  # runnable threads of other processes may outnumber the cores
    threads = free_threads(settings.workers, busy=busy, cores=cores)
    if threads is None or threads >= settings.trial_threads:
        return settings
    log(
        f"note: other processes keep {busy} of this machine's {cores} cores busy: training with {threads} "
        f"thread(s) per process instead of {settings.trial_threads} (threads that share cores wait on each other; --threads sets it)"
    )
    return replace(settings, threads=threads)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` inside the block (None: left alone), and
    what they were restored after it: a search run from Python leaves its caller's torch as
    it found it."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
