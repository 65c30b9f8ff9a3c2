"""Run store: a directory per run with an SQLite file of trials."""

from hasearch.store.db import TrialDB
from hasearch.store.records import TrialRecord, TrialStatus
from hasearch.store.run_dir import RunDir

__all__ = ["RunDir", "TrialDB", "TrialRecord", "TrialStatus"]
