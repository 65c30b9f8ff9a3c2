"""Executors: where trials run (in-process now; process pools and Ray plug in here)."""

from hasearch.execution.base import Executor, TrialTask, run_task
from hasearch.execution.inline import InlineExecutor

__all__ = ["Executor", "InlineExecutor", "TrialTask", "run_task"]
