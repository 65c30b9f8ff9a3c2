"""What ``resume`` checks before it touches a run: every file reads back, the run still
describes the search it started, and this machine can run it.

A run's ``settings.json`` and ``space.yaml`` are plain files that a user may edit. Settings
that say *how* the search runs (workers, threads, executor and address, device, the time and
trial limits, what happens after the search) may change between segments of a run; those
that say *what* is searched may not: the trial database, the strategy state replayed from
it and its checkpoints belong to them. They are recorded in the trial database when the
run starts (:func:`record_identity`) and compared on every resume.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hasearch.artifacts import load_weights
from hasearch.errors import RunDirError, UserError
from hasearch.settings import SearchSettings
from hasearch.space import SearchSpace, load_space
from hasearch.space.yaml_io import space_to_dict
from hasearch.store import RunDir
from hasearch.store.db import roll_back_interrupted_write
from hasearch.store.run_dir import DATABASE

IDENTITY_KEY = "search_identity"
SPACE_KEY = "space.yaml"
#: The settings that define what a run searches (the others may change on resume).
SEARCH_FIELDS = (
    "space", "dataset", "strategy", "seed", "split_seed", "max_budget", "min_budget", "budget_unit", "eta",
    "controller_lr", "max_macs", "max_latency", "target_macs", "target_latency", "strategy_options",
)  # fmt: skip


def search_identity(settings: SearchSettings, space: SearchSpace) -> dict[str, Any]:
    """The values of :data:`SEARCH_FIELDS` and a digest of the space's schema form (so a
    comment or reformatting of ``space.yaml`` is no change, a different range is)."""
    identity: dict[str, Any] = {name: getattr(settings, name) for name in SEARCH_FIELDS}
    schema = json.dumps(space_to_dict(space), sort_keys=True, default=str)
    identity[SPACE_KEY] = hashlib.sha256(schema.encode()).hexdigest()
    return json.loads(json.dumps(identity))  # as the database stores it: a plain copy


def record_identity(run: RunDir, settings: SearchSettings, space: SearchSpace) -> None:
    """Record what ``run`` searches, once, when it starts."""
    run.db.put(IDENTITY_KEY, search_identity(settings, space))


def check_identity(recorded: Any, settings: SearchSettings, space: SearchSpace) -> None:
    """Refuse a run whose settings or space were edited since it started.

    Raises:
        RunDirError: naming the first changed setting (or ``space.yaml``).
    """
    if not isinstance(recorded, dict):
        return  # a run made before identities were recorded: nothing to compare with
    current = search_identity(settings, space)
    for name, value in current.items():
        if name in recorded and recorded[name] != value:
            if name == SPACE_KEY:
                raise RunDirError("space.yaml was edited since the run started; a run resumes the space it searched (start a new run for the edited space)")
            raise RunDirError(
                f"settings.json: {name} was {recorded[name]!r} when the run started and is {value!r} now; "
                "a run resumes the search it started (put it back, or start a new run)"
            )


def check_resumable(out: str) -> SearchSettings:
    """Read everything ``resume`` needs without writing: the settings, every trial record,
    the space and the checkpoints; check that they still describe the search the run
    started. Returns the settings.

    Raises:
        RunDirError: naming the file that is missing, damaged or edited (nothing is written).
    """
    run = RunDir.open(out, read_only=True)
    roll_back_interrupted_write(run.file(DATABASE))  # SQLite's own repair after a kill mid-commit
    try:
        run.db.trials()  # every row parses
        run.db.events()
        settings = SearchSettings.from_dict(run.read_json("settings.json"), source=str(run.file("settings.json")))
        space = load_space(run.file("space.yaml"))
        check_identity(run.db.get(IDENTITY_KEY), settings, space)
        for tensors in sorted(run.path.rglob("*.pt")):  # checkpoints and the final model: tensors only
            load_weights(tensors)
    finally:
        run.close()
    return settings


def check_machine(settings: SearchSettings) -> None:
    """What a search asks of this machine: thread and worker counts, a reachable Ray address.

    Raises:
        UserError: naming the setting.
    """
    settings.check_for_this_machine()
    if settings.executor == "ray" and settings.address:
        from hasearch.execution.ray_executor import check_ray_address

        check_ray_address(settings.address)


def check_machine_for_resume(out: str, settings: SearchSettings) -> None:
    """:func:`check_machine` for a resumed run, whose settings come from its file."""
    try:
        check_machine(settings)
    except UserError as exc:
        raise RunDirError(f"{out}/settings.json: {exc} (edit the file to resume here)") from None
