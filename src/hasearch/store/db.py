"""The SQLite file of a run: trials, and small JSON documents (strategy state, events)."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hasearch.errors import RunDirError, RunNotWritable
from hasearch.store.records import TrialRecord, TrialStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    trial_id    INTEGER PRIMARY KEY,
    config      TEXT NOT NULL,
    budget      REAL NOT NULL,
    status      TEXT NOT NULL,
    loss        REAL,
    metrics     TEXT NOT NULL DEFAULT '{}',
    error       TEXT,
    info        TEXT NOT NULL DEFAULT '{}',
    parent_id   INTEGER,
    started_at  REAL NOT NULL,
    finished_at REAL,
    seconds     REAL,
    cost        REAL
);
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind     TEXT NOT NULL,
    trial_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, default=json_default, allow_nan=True)


def json_default(value: Any) -> Any:
    """JSON fallback for numpy scalars and mappings (e.g. ConfigSpace configurations)."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class TrialDB:
    """Trials of one run in an SQLite file (rollback journal: no shared memory map, so a
    file that becomes unwritable mid-run is an error, not SIGBUS; readers wait for a write
    of a few milliseconds at most).

    Every write is its own transaction, so a run killed at any point keeps every
    finished trial. Next to each trial the order of asks and tells is logged as events:
    replaying them into a fresh strategy restores its state on resume.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only:
            self._conn = _connect_read_only(self.path)
            return
        self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        with self._writing():
            self._conn.execute("PRAGMA journal_mode=DELETE")  # also converts runs of older versions (WAL)
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._writing():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn SQLite's failure to write (read-only or immutable files, a full disk) into
        one error naming the file; a database busy past the timeout stays an error too."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise RunNotWritable(f"cannot write {str(self.path)!r} ({exc})") from None

    # ------------------------------------------------------------------ trials
    def start(
        self,
        trial_id: int,
        config: Mapping[str, Any],
        budget: float,
        *,
        info: Mapping[str, Any] | None = None,
        parent_id: int | None = None,
    ) -> None:
        """Record a trial as running (replacing a stale running record of the same id)."""
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO trials (trial_id, config, budget, status, info, parent_id, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (trial_id, _dumps(dict(config)), budget, TrialStatus.RUNNING, _dumps(info or {}), parent_id, time.time()),
            )
            c.execute("INSERT INTO events (kind, trial_id) VALUES ('ask', ?)", (trial_id,))

    def finish(self, trial_id: int, loss: float, metrics: Mapping[str, Any], *, seconds: float, cost: float) -> None:
        """Record a trial's result."""
        self._end(trial_id, TrialStatus.FINISHED, loss, metrics, None, seconds, cost)

    def fail(self, trial_id: int, error: str, metrics: Mapping[str, Any] | None = None, *, seconds: float, cost: float) -> None:
        """Record a trial as failed (loss +inf) with its error."""
        self._end(trial_id, TrialStatus.FAILED, math.inf, metrics or {}, error, seconds, cost)

    def _end(
        self, trial_id: int, status: TrialStatus, loss: float, metrics: Mapping[str, Any], error: str | None, seconds: float, cost: float
    ) -> None:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE trials SET status=?, loss=?, metrics=?, error=?, finished_at=?, seconds=?, cost=? WHERE trial_id=?",
                (status, loss, _dumps(metrics), error, time.time(), seconds, cost, trial_id),
            )
            if cur.rowcount != 1:
                raise KeyError(f"trial {trial_id} was never started")
            c.execute("INSERT INTO events (kind, trial_id) VALUES ('tell', ?)", (trial_id,))

    def trials(self, status: TrialStatus | None = None) -> list[TrialRecord]:
        """All trials (or those with ``status``), by id."""
        query = "SELECT * FROM trials" + (" WHERE status=?" if status else "") + " ORDER BY trial_id"
        cur = self._conn.execute(query, (status,) if status else ())
        names = [d[0] for d in cur.description]
        try:
            return [_record(dict(zip(names, row, strict=True))) for row in cur.fetchall()]
        except (ValueError, TypeError, KeyError, RecursionError) as exc:  # invalid JSON or a value of the wrong type
            raise RunDirError(f"{str(self.path)!r} holds a damaged trial record ({type(exc).__name__}: {exc})") from None

    def restart(self, trial_id: int) -> None:
        """Mark a trial left running by a killed process as running again (no new ask event)."""
        with self._tx() as c:
            cur = c.execute(
                "UPDATE trials SET status=?, started_at=? WHERE trial_id=? AND status=?",
                (TrialStatus.RUNNING, time.time(), trial_id, TrialStatus.RUNNING),
            )
            if cur.rowcount != 1:
                raise KeyError(f"trial {trial_id} is not a running trial")

    def events(self) -> list[tuple[str, int]]:
        """The asks and tells of the run, in order."""
        return [(k, t) for k, t in self._conn.execute("SELECT kind, trial_id FROM events ORDER BY seq")]

    # --------------------------------------------------------------- documents
    def put(self, key: str, value: Any) -> None:
        """Store a JSON document under ``key``."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO documents (key, value) VALUES (?, ?)", (key, _dumps(value)))

    def get(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM documents WHERE key=?", (key,)).fetchone()
        try:
            return default if row is None else json.loads(row[0])
        except (ValueError, TypeError, RecursionError) as exc:
            raise RunDirError(f"{str(self.path)!r} holds a damaged document {key!r} ({type(exc).__name__})") from None


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Open a run's database for reading without writing anything next to it; a damaged
    file raises RunDirError."""
    if not path.is_file():
        raise RunDirError(f"{str(path)!r} does not exist: the run has no trial database")
    # Plain read-only access with shared locks creates no file (a write-ahead log, left by a
    # killed run of an earlier version, is read through SQLite's shared memory).
    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=30.0)
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(check)
        for table, columns in _READ_COLUMNS.items():
            conn.execute(f"SELECT {columns} FROM {table} LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        conn.close()
        if getattr(exc, "sqlite_errorcode", None) == _SQLITE_READONLY_ROLLBACK:
            raise RunDirError(f"{str(path)!r} was left in the middle of a write by a killed process: `hasearch resume` repairs it") from None
        raise RunDirError(f"{str(path)!r} is not a readable hasearch trial database ({exc})") from None
    return conn


def roll_back_interrupted_write(path: Path) -> None:
    """Let SQLite restore ``path`` from the journal a killed writer left behind (a read
    through a writable connection does it; nothing else is written)."""
    if path.is_file() and path.with_name(path.name + "-journal").exists():
        conn = sqlite3.connect(path, timeout=30.0)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError:
            pass  # damaged: the read-only check that follows names the problem
        finally:
            conn.close()


_SQLITE_READONLY_ROLLBACK = 776  # a hot journal that a read-only connection cannot roll back

_READ_COLUMNS = {
    "trials": "trial_id, config, budget, status, info, parent_id, loss, metrics, error, started_at, finished_at, seconds, cost",
    "events": "seq, kind, trial_id",
    "documents": "key, value",
}


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _record(row: dict[str, Any]) -> TrialRecord:
    return TrialRecord(
        trial_id=row["trial_id"],
        config=_json_object(row["config"]),
        budget=row["budget"],
        status=TrialStatus(row["status"]),
        loss=row["loss"],
        metrics=_json_object(row["metrics"]),
        error=row["error"],
        info=_json_object(row["info"]),
        parent_id=row["parent_id"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        seconds=row["seconds"],
        cost=row["cost"],
    )
