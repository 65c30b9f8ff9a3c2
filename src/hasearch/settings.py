"""Settings of a search, as given on the command line or in Python, saved with the run."""

from __future__ import annotations

import math
import numbers
import os
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from hasearch.errors import UserError, damaged_file
from hasearch.fieldkinds import check_field_kinds
from hasearch.space.search_space import plain_values

BUDGET_UNITS = ("epochs", "seconds")
PRECISIONS = ("fp32", "bf16")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
EXECUTORS = ("local", "ray")
MIN_SECONDS = 1.0
MAX_THREADS_PER_CORE = 4  # beyond it torch's thread pools only wait on each other (256 threads on 2 cores: 50x slower)
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``text`` such as ``90``, ``90s``, ``5m``, ``1h30m``, ``2m30s``.

    Raises:
        UserError: if ``text`` is not a positive duration.
    """
    match = _DURATION.match(text)
    if not text.strip() or match is None or not any(match.groups()):
        raise UserError(f"--budget {text!r} is not a duration (e.g. 90s, 5m, 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not math.isfinite(total):
        raise UserError(f"--budget {text[:40]!r}... is not a finite duration")
    if total <= 0:
        raise UserError(f"--budget {text!r} must be positive")
    if total < MIN_SECONDS:
        raise UserError(f"--budget {text!r} is shorter than {MIN_SECONDS:g} second")
    return total


def check_device_words(device: object, precision: object) -> None:
    """``--device`` and ``--precision`` are well-formed (whether this machine has the device
    is checked when the search runs: a run may be resumed elsewhere)."""
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise UserError(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if precision is not None and precision not in PRECISIONS:
        raise UserError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


@dataclass(frozen=True)
class SearchSettings:
    """Everything that defines a search.

    Attributes:
        space: Built-in space name or path of a space YAML file.
        dataset: ``digits``, ``mnist5k``, ``imagefolder:PATH`` or ``npz:PATH``.
        strategy: Name of the search method (``hasearch search --help`` lists them).
        seed: Seeds the strategy, weight initialisation and batch order.
        split_seed: Seeds the train/validation/test split (kept fixed across seeds so
            runs are comparable).
        time_budget: Seconds in which new trials may start (``None``: unbounded).
        max_trials: Maximum number of trials (``None``: unbounded).
        max_budget: Largest training budget of a trial (in ``budget_unit``).
        min_budget: Smallest budget of a multi-fidelity method.
        budget_unit: ``epochs`` (default) or ``seconds`` of training time.
        eta: Halving rate of multi-fidelity methods.
        final_budget: Budget of the final retraining (default: ``max_budget``).
        workers: Trials evaluated in parallel.
        threads: CPU threads of each training process (``None``: all cores in-process,
            this machine's cores divided between the workers of a pool).
        executor: ``local`` (in-process / process pool) or ``ray``.
        address: Address of an existing Ray cluster (``None``: start a local one).
        compare_baseline: Retrain and test the baseline next to the found configuration.
        checkpoint_seconds: How often single-run methods (AutoHAS) save a resumable checkpoint.
        keep_found: Save the found configuration's model as the result even when the
            baseline scores higher on validation (default: the better one is saved).
        max_macs: Resource limit: multi-trial methods train no configuration with more
            multiply-accumulates per image; AutoHAS uses it as its FLOPs target F0.
        max_latency: Resource limit for multi-trial methods: milliseconds per image on this
            device, predicted by the latency table (MBConv families).
        controller_lr: Learning rate of the AutoHAS controller (seed 000 picks from
            {0.01, 0.02, 0.05, 0.1}; default 0.05).
        target_macs: Resource target of NES and the uniform-rescale baselines, MACs per
            image (the found model is within 5% of it).
        target_latency: The same in milliseconds per image on this device (latency table).
        device: ``auto`` (CUDA when available, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``;
            resolved on the machine that runs (or resumes) the search.
        precision: ``fp32`` or ``bf16`` autocast of training (``None``: bf16 on CUDA, fp32 on the CPU).
        trials_per_gpu: Pool or Ray trials that share one GPU (small models); Ray requests
            ``1 / trials_per_gpu`` GPUs per trial.
        strategy_options: Meta-hyperparameters of a single-run strategy by name, e.g.
            ``{"hyper_lr": 0.3}`` for DHA (``--option hyper_lr=0.3``; the strategy's
            options class lists them in ``TUNABLE``). Values: numbers, booleans, words,
            or the command line's strings, converted to the option's type.
    """

    space: str
    dataset: str
    strategy: str = "random"
    seed: int = 0
    split_seed: int = 0
    time_budget: float | None = None
    max_trials: int | None = None
    max_budget: float = 9.0
    min_budget: float = 1.0
    budget_unit: str = "epochs"
    eta: int = 3
    final_budget: float | None = None
    workers: int = 1
    threads: int | None = None
    executor: str = "local"
    address: str | None = None
    compare_baseline: bool = True
    checkpoint_seconds: float = 60.0
    keep_found: bool = False
    controller_lr: float = 0.05
    max_macs: float | None = None
    max_latency: float | None = None
    target_macs: float | None = None
    target_latency: float | None = None
    device: str = "auto"
    precision: str | None = None
    trials_per_gpu: int = 1
    strategy_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.space, os.PathLike):  # a space file given as a Path
            object.__setattr__(self, "space", os.fspath(self.space))
        check_field_kinds(self)  # a number as a string, e.g. from an edited settings file
        self._check_strategy_options()
        if self.time_budget is None and self.max_trials is None:
            raise UserError("give --budget and/or --trials to bound the search")
        named = (("--budget", self.time_budget), ("--max-budget", self.max_budget), ("--checkpoint-every", self.checkpoint_seconds),
                 ("--final-budget", self.final_budget))  # fmt: skip
        for name, value in named:
            if value is not None and not 0 < value < math.inf:
                raise UserError(f"{name} must be a positive finite number, got {value}")
        for name, value in (("--seed", self.seed), ("--split-seed", self.split_seed)):
            if not 0 <= value < 2**32:
                raise UserError(f"{name} must be in [0, 2**32), got {value}")
        if self.max_trials is not None and self.max_trials < 1:
            raise UserError(f"--trials must be >= 1, got {self.max_trials}")
        if not 0 < self.min_budget <= self.max_budget:
            raise UserError(f"--min-budget {self.min_budget} must be in (0, --max-budget {self.max_budget}]")
        if self.budget_unit not in BUDGET_UNITS:
            raise UserError(f"--budget-unit must be one of {', '.join(BUDGET_UNITS)}, got {self.budget_unit!r}")
        if self.executor not in EXECUTORS:
            raise UserError(f"--executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if self.eta < 2:
            raise UserError(f"--eta must be >= 2, got {self.eta}")
        if self.workers < 1:
            raise UserError(f"--workers must be >= 1, got {self.workers}")
        if self.threads is not None and self.threads < 1:
            raise UserError(f"--threads must be >= 1, got {self.threads}")
        if not 0 < self.controller_lr <= 1:
            raise UserError(f"--controller-lr must be in (0, 1], got {self.controller_lr}")
        named = (("--max-macs", self.max_macs), ("--max-latency", self.max_latency), ("--target-macs", self.target_macs), ("--target-latency", self.target_latency))
        for name, limit in named:
            if limit is not None and not 0 < limit < float("inf"):
                raise UserError(f"{name} must be a positive number, got {limit}")
        if self.target_macs is not None and self.target_latency is not None:
            raise UserError("give one target: --target-macs or --target-latency, not both")
        check_device_words(self.device, self.precision)
        if self.trials_per_gpu < 1:
            raise UserError(f"--trials-per-gpu must be >= 1, got {self.trials_per_gpu}")

    def _check_strategy_options(self) -> None:
        """Names are identifiers, values scalars; kept as a copy (the caller's dict is never touched)."""
        given = self.strategy_options
        if not isinstance(given, dict):
            raise UserError(f"strategy_options must be a mapping of names to values, got {type(given).__name__}")
        for name, value in given.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise UserError(f"--option name {name!r} is not a name (NAME=VALUE, e.g. hyper_lr=0.3)")
            if not isinstance(value, str | bool | numbers.Real):
                raise UserError(f"--option {name}: value {value!r} is not a number, boolean or word")
        object.__setattr__(self, "strategy_options", plain_values(given))  # numpy scalars as Python's

    def check_budgets(self, *, train_size: int, batch_size: int) -> None:
        """Refuse budgets too small to train anything: less than one optimizer step (epochs;
        ``train_size`` images in batches of ``batch_size``) or less than one second."""
        named = [("--min-budget", self.min_budget), ("--max-budget/--epochs", self.max_budget)]
        named += [("--final-budget", self.final_budget)] if self.final_budget is not None else []
        steps_per_epoch = max(1, train_size // batch_size)
        for name, value in named:
            if self.budget_unit == "seconds" and value < MIN_SECONDS:
                raise UserError(f"{name} {value:g} is shorter than {MIN_SECONDS:g} second of training")
            if self.budget_unit == "epochs" and value * steps_per_epoch < 1:
                raise UserError(
                    f"{name} {value:g} epochs is less than one training step "
                    f"({steps_per_epoch} steps per epoch at batch size {batch_size})"
                )

    def check_for_this_machine(self) -> None:
        """What a new search asks of this machine (a run resumed elsewhere keeps its settings).

        Raises:
            UserError: more than :data:`MAX_THREADS_PER_CORE` threads or local workers per
                core, or a Ray address without the Ray executor.
        """
        cores = os.cpu_count() or 1
        if self.threads is not None and self.threads > MAX_THREADS_PER_CORE * cores:
            raise UserError(f"--threads {self.threads} is more than {MAX_THREADS_PER_CORE}x this machine's {cores} cores")
        if self.executor == "local" and self.workers > MAX_THREADS_PER_CORE * cores:
            raise UserError(f"--workers {self.workers} is more than {MAX_THREADS_PER_CORE}x this machine's {cores} cores (a Ray cluster: --executor ray)")
        if self.address and self.executor != "ray":
            raise UserError("--address names a Ray cluster: give it with --executor ray")

    @property
    def retrain_budget(self) -> float:
        return self.final_budget if self.final_budget is not None else self.max_budget

    @property
    def trial_threads(self) -> int:
        """Threads per pool or Ray worker: ``threads``, or the cores split between the workers."""
        return self.threads or max(1, (os.cpu_count() or 1) // self.workers)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # a deep copy: strategy_options included

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "settings") -> SearchSettings:
        """Settings saved with a run; RunDirError naming ``source`` if they are damaged."""
        try:
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})  # field kinds: check_field_kinds
        except (TypeError, ValueError, AttributeError, UserError) as exc:  # UserError: a value out of range
            raise damaged_file(source, exc) from None
