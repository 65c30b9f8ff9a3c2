"""The directory of one run: settings, space, trials, best result and final model.

Layout::

    DIR/settings.json     resolved settings of the search (enough to resume it)
    DIR/space.yaml        the search space as searched (self-contained copy)
    DIR/trials.sqlite     every trial: configuration, budget, status, metrics, timings
    DIR/best.json         found vs baseline configuration: accuracies, size, times
    DIR/final/model.pt    weights of the found configuration (state_dict)
    DIR/final/model.json  what is needed to rebuild it (configuration, space, shapes)
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from hasearch.errors import RunDirError, RunNotWritable
from hasearch.store.db import TrialDB, json_default

SETTINGS = "settings.json"
DATABASE = "trials.sqlite"


@contextmanager
def writing_file(path: Path) -> Iterator[Path]:
    """Yield a temporary file beside ``path`` that replaces it when the block succeeds
    (missing parent folders are made); a failed write leaves ``path`` as it was.

    Raises:
        RunNotWritable: naming ``path`` when it cannot be written (read-only or immutable
            folder, disk full).
    """
    tmp = path.with_name(f".tmp{os.getpid()}-{path.name}")  # same suffix: exporters may go by it
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise RunNotWritable(f"cannot write {str(path)!r} ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)


def as_path(value: object, what: str) -> Path:
    """``value`` as a Path; TypeError naming ``what`` for anything that is not a path."""
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"{what} must be a path (str or Path), got {type(value).__name__}")
    return Path(value)


def enclosing_run(path: Path) -> Path | None:
    """The run directory that ``path`` lies in (a folder above it with a settings file and a
    trial database), or None."""
    for folder in path.absolute().parents:
        if (folder / SETTINGS).is_file() and (folder / DATABASE).exists():
            return folder
    return None


class RunDir:
    """A run directory; create a new one with :meth:`create`, reopen with :meth:`open`."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only  # reading commands (show) never write into the run
        self._db: TrialDB | None = None
        self._lock: IO[str] | None = None

    def lock(self) -> None:
        """Hold this run for the calling process (released by :meth:`close` or at exit).

        Raises:
            RunDirError: if another process is searching in this run.
        """
        try:
            handle = open(self.path / ".lock", "a")  # noqa: SIM115 - held until close()
        except OSError as exc:
            raise RunNotWritable(f"cannot write {str(self.path / '.lock')!r} ({exc.strerror or exc})") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunDirError(f"run {str(self.path)!r} is in use by another hasearch process") from None
        self._lock = handle

    def in_use(self) -> bool:
        """Whether a hasearch process holds this run now (a search or resume running in it).

        Reads only: the lock file is opened read-only and a shared lock is tried and
        released at once (a writer starting in that instant is told the run is in use).
        """
        try:  # non-blocking: a FIFO planted as the lock file must not hang a reader
            fd = os.open(self.path / ".lock", os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return False  # never locked (or unreadable): nothing to say
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            os.close(fd)
        return False

    @classmethod
    def check_new(cls, path: str | Path) -> Path:
        """Raise RunDirError unless ``path`` is absent or an empty directory."""
        path = as_path(path, "out")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            what = "holds another run" if (path / SETTINGS).exists() else "is not empty"
            raise RunDirError(f"--out {str(path)!r} {what}; choose a new directory (or `hasearch resume` it)")
        run = enclosing_run(path)
        if run is not None:
            raise RunDirError(f"--out {str(path)!r} is inside the run {str(run)!r}; choose a directory outside it")
        ancestor = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
        if not ancestor.is_dir():
            raise RunDirError(f"--out {str(path)!r} cannot be created: {str(ancestor)!r} is a file, not a directory")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise RunDirError(f"--out {str(path)!r} cannot be created: {str(ancestor)!r} is not writable")
        return path

    @classmethod
    def create(cls, path: str | Path) -> RunDir:
        path = cls.check_new(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"--out {str(path)!r} cannot be created ({exc.strerror or exc})") from None
        return cls(path)

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False) -> RunDir:
        """An existing run; ``read_only`` for commands that only read it (nothing is written)."""
        path = as_path(path, "run directory")
        if path.exists() and not path.is_dir():
            raise RunDirError(f"{str(path)!r} is a file, not a run directory")
        if not path.is_dir():
            raise RunDirError(f"run directory {str(path)!r} does not exist")
        if not (path / SETTINGS).is_file():
            raise RunDirError(f"{str(path)!r} is not a hasearch run (no {SETTINGS})")
        return cls(path, read_only=read_only)

    @property
    def db(self) -> TrialDB:
        if self._db is None:
            self._db = TrialDB(self.path / DATABASE, read_only=self.read_only)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, value: Any) -> None:
        """Write ``name`` atomically (a crash leaves the old file or the new one)."""
        target = self.path / name
        with self.writing(target) as tmp:
            tmp.write_text(json.dumps(value, indent=2, default=json_default))

    @contextmanager
    def writing(self, target: Path) -> Iterator[Path]:
        """Yield a temporary path to write; it replaces ``target`` when the block succeeds.

        Raises:
            RunNotWritable: naming ``target`` when it cannot be written (read-only or
                immutable file system, disk full).
        """
        if self.read_only:
            raise RunDirError(f"run {str(self.path)!r} was opened read-only")
        with writing_file(target) as tmp:
            yield tmp

    def save_figure(self, name: str, figure: Any) -> None:
        """Save a matplotlib figure as PNG at ``name`` (atomically) and close it."""
        import matplotlib.pyplot as plt

        try:
            with self.writing(self.file(name)) as tmp:
                figure.savefig(tmp, dpi=80, format="png")
        finally:
            plt.close(figure)

    def read_json(self, name: str) -> Any:
        target = self.path / name
        try:
            return json.loads(target.read_text())
        except FileNotFoundError:
            raise RunDirError(f"{str(target)!r} does not exist") from None
        except json.JSONDecodeError as exc:
            raise RunDirError(f"{str(target)!r} is not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise RunDirError(f"{str(target)!r} is damaged (JSON nested too deeply)") from None
        except (UnicodeDecodeError, IsADirectoryError) as exc:
            raise RunDirError(f"{str(target)!r} is not a JSON text file ({type(exc).__name__})") from None

    def has(self, name: str) -> bool:
        return (self.path / name).exists()

