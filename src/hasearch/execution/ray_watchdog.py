"""Stop a local Ray instance whose driver died without shutting it down (SIGKILL, OOM).

Ray ties its head processes (GCS, raylet) to the driver that started them, but its agents
(dashboard agent, runtime-env agent) survive a killed driver for minutes. The Ray executor
starts this watchdog next to a local Ray instance it owns: it follows every descendant of
the driver while the driver lives, and when the driver is gone it terminates all of them
that are still running (SIGTERM, then SIGKILL after a grace period). A driver that shuts Ray
down normally terminates the watchdog first.

Run as ``python -m hasearch.execution.ray_watchdog DRIVER_PID``; needs psutil (a Ray
dependency).
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

POLL_SECONDS = 0.5
GRACE_SECONDS = 3.0


def start_watchdog(driver_pid: int) -> subprocess.Popen[bytes]:
    """Start the watchdog for ``driver_pid`` in its own session (a Ctrl-C of the terminal
    reaches the driver, which shuts Ray down itself, not the watchdog)."""
    return subprocess.Popen(
        [sys.executable, "-m", "hasearch.execution.ray_watchdog", str(driver_pid)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def follow(driver: psutil.Process) -> dict[int, psutil.Process]:
    """Track the driver's descendants until the driver is gone; return them."""
    me = psutil.Process()
    tracked: dict[int, psutil.Process] = {}
    while driver.is_running() and driver.status() != psutil.STATUS_ZOMBIE:
        try:
            for child in driver.children(recursive=True):
                if child.pid != me.pid:
                    tracked.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            break
        time.sleep(POLL_SECONDS)
    return tracked


def stop(processes: list[psutil.Process]) -> None:
    """SIGTERM each process still running (and its descendants), SIGKILL what remains."""
    alive = [p for p in processes if p.is_running()]  # is_running also checks the pid was not reused
    for process in list(alive):
        try:
            alive += process.children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    for process in alive:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, remaining = psutil.wait_procs(alive, timeout=GRACE_SECONDS)
    for process in remaining:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def main(argv: list[str]) -> int:
    try:
        driver = psutil.Process(int(argv[0]))
    except (IndexError, ValueError, psutil.NoSuchProcess):
        return 2
    stop(list(follow(driver).values()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
