"""Latency look-up tables, measured on the running device (the family-specific tables are in
:mod:`hasearch.supernet.latency_tables`).

Seed 003 Sec. 4.2: a network's latency is the sum of its layers' latencies, each read from
a table measured on the target device. An entry is one layer shape (e.g. an MBConv block
with its channels, kernel, expansion, stride and input size), timed as a standalone module
in eval mode with warm-up runs and the fastest of repeated runs (:func:`time_module`), in
several rounds over the whole grid (:func:`time_in_rounds`).
Channel counts that were not measured are interpolated (a least-squares line of latency
against the layer's MACs through the measured layers of the same kind and shape); anything
else missing is measured when first needed. The table is cached in the user's cache directory (``$XDG_CACHE_HOME``
or ``~/.cache``, ``hasearch/latency/``), keyed by device, torch version, thread count,
batch size, input shape and classes. ``hasearch latency --space NAME`` builds or shows it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from hasearch.errors import RunNotWritable, UserError
from hasearch.models.family import InputShape
from hasearch.space import SearchSpace
from hasearch.store.run_dir import writing_file
from hasearch.supernet.resources import Signature

WARMUP, REPEATS = 10, 15
ROUNDS, ROUND_REPEATS, MIN_SECONDS, MAX_ROUNDS = 3, 10, 5.0, 20  # time_in_rounds
CALIBRATION_NETWORKS = 20  # whole children timed with the grid to fit the table's scale


def device_name() -> str:
    """The CPU model (``/proc/cpuinfo``), or the platform's processor name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/hasearch/latency`` (default ``~/.cache/...``); UserError at once, before
    anything is measured, when a file stands where a folder of it must be."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(root) / "hasearch" / "latency"
    try:
        existing = next(p for p in (path, *path.parents) if p.exists())
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise UserError(f"the latency table's cache folder {str(path)[:200]!r} cannot be used ({exc.strerror or exc}); set XDG_CACHE_HOME") from None
    if not existing.is_dir():
        raise UserError(f"the latency table's cache folder {str(path)!r} cannot be made: {str(existing)!r} is not a folder; set XDG_CACHE_HOME")
    return path


@torch.inference_mode()
def time_module(module: nn.Module, x: torch.Tensor, *, warmup: int = WARMUP, repeats: int = REPEATS) -> float:
    """Milliseconds of one forward of ``module`` on ``x``: after warm-up runs, the fastest of
    ``repeats`` single calls (the minimum, not the median: interference only ever adds time;
    single calls, not loops of one layer, because a layer called many times in a row keeps
    its weights in cache as it never does inside a network: the ratio of a network's summed
    layers to the whole network spread over 0.67-1.05 across ten resnet-joint children with
    ~1 ms loops, 0.83-0.92 with single calls)."""
    module.eval()
    for _ in range(warmup):
        module(x)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        module(x)
        samples.append(time.perf_counter() - start)
    return 1000.0 * min(samples)


def time_in_rounds(items: Sequence[tuple[nn.Module, torch.Tensor]], *, rounds: int = ROUNDS, min_seconds: float = MIN_SECONDS) -> list[float]:
    """Milliseconds of each (module, input): the fastest of several rounds over all of them,
    at least ``rounds`` rounds and at least ``min_seconds`` (at most ``MAX_ROUNDS`` rounds).

    This machine's speed changes for stretches of a fraction of a second to minutes (one
    network timed 1.35 ms four times in a row, then 2.2-2.5 ms sixteen times; another's
    fastest time per 3 s window ranged 10.0-15.6 ms over a minute). Timings taken in one
    stretch are all fast or all slow; rounds spread every item's chances over the run.
    """
    best = [float("inf")] * len(items)
    start, done = time.perf_counter(), 0
    while done < rounds or (time.perf_counter() - start < min_seconds and done < MAX_ROUNDS):
        warmup = WARMUP if done == 0 else 3
        for i, (module, x) in enumerate(items):
            best[i] = min(best[i], time_module(module, x, warmup=warmup, repeats=ROUND_REPEATS))
        done += 1
    return best


class LatencyTable:
    """Predicted milliseconds of any child of a model family on this device: the sum of its
    layers' entries (seed 003 Sec. 4.2). Subclasses say which layers a child has
    (:meth:`layers`), how to build one layer to time it (:meth:`build_layer`), which
    layers to measure up front (:meth:`grid`) and each layer's MACs (for interpolation)."""

    unit = "ms"
    name = "table"
    channels: ClassVar[dict[str, tuple[int, ...]]] = {}  # per layer kind: positions of its channel counts

    def __init__(self, input_shape: InputShape, num_classes: int, *, batch_size: int = 1, cache: Path | None = None, plan: str = "") -> None:
        self.input_shape, self.num_classes, self.batch_size = input_shape, num_classes, batch_size
        self.threads = torch.get_num_threads()
        self.key = {
            "device": device_name(), "torch": torch.__version__, "threads": self.threads, "batch_size": batch_size,
            "input_shape": list(input_shape), "num_classes": num_classes, "plan": plan,
        }  # fmt: skip
        digest = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()[:16]
        self.path = (cache or cache_dir()) / f"{self.name}-{digest}.json"
        self.built = False  # every grid layer measured (build_table) rather than only those needed so far
        self.scale = 1.0  # whole network / sum of its layers, fitted by build_table on calibration networks
        self.entries: dict[Signature, float] = self._load()
        self._estimates: dict[Signature, float | None] = {}  # interpolations, until a new measurement
        self.measured_now = 0

    def layers(self, config: Mapping[str, Any]) -> list[Signature]:
        raise NotImplementedError

    def build_layer(self, signature: Signature) -> tuple[nn.Module, tuple[int, ...]]:
        """The module of one layer and the shape of one input image to time it on."""
        raise NotImplementedError

    def grid(self, space: SearchSpace) -> list[Signature]:
        raise NotImplementedError

    def build_network(self, config: Mapping[str, Any]) -> nn.Module:
        """The standalone child of ``config`` (timed whole to fit :attr:`scale`)."""
        raise NotImplementedError

    def layer_macs(self, signature: Signature) -> int:
        raise NotImplementedError

    # ------------------------------------------------------------------ costs
    def cost(self, config: Mapping[str, Any]) -> float:
        """The child's predicted ms: the sum of its layer latencies (seed 003 Sec. 4.2) times
        :attr:`scale` (a departure: layers timed alone run faster than inside a network)."""
        return self.scale * self.layer_sum(config)

    def layer_sum(self, config: Mapping[str, Any]) -> float:
        return sum(self.entry(signature) for signature in self.layers(config))

    # ---------------------------------------------------------------- entries
    def entry(self, signature: Signature) -> float:
        """The table's milliseconds for one layer: measured, interpolated, or measured now."""
        if signature in self.entries:
            return self.entries[signature]
        if signature not in self._estimates:  # a scan of the table: once per layer shape, not per cost()
            self._estimates[signature] = self._interpolate(signature)
        estimate = self._estimates[signature]
        if estimate is not None:
            return estimate
        return self.measure(signature)

    def measure(self, signature: Signature) -> float:
        """Time one layer now (a layer that is neither on the grid nor interpolable)."""
        self.record({signature: time_module(*self.timing_item(signature))})
        return self.entries[signature]

    def timing_item(self, signature: Signature) -> tuple[nn.Module, torch.Tensor]:
        """The layer's module (channels-last, eval mode) and a batch to time it on."""
        module, shape = self.build_layer(signature)
        x = torch.rand(self.batch_size, *shape).contiguous(memory_format=torch.channels_last)
        return module.to(memory_format=torch.channels_last).eval(), x

    def record(self, measured: Mapping[Signature, float]) -> None:
        self.entries.update(measured)
        self._estimates.clear()  # new points can move the interpolation lines
        self.measured_now += len(measured)

    def _interpolate(self, signature: Signature) -> float | None:
        """A layer's latency from measured layers of the same kind and shape (kernel,
        expansion, branches, stride, input size) but other channel counts: a least-squares
        line of latency against the layer's MACs through them (needs two distinct sizes)."""
        if signature[0] not in self.channels:
            return None
        shape = self._shape_key(signature)
        points = [(self.layer_macs(s), v) for s, v in self.entries.items() if s[0] == signature[0] and self._shape_key(s) == shape]
        if len({m for m, _ in points}) < 2:
            return None
        xs, ys = [float(m) for m, _ in points], [v for _, v in points]
        mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)
        return max(min(ys) * 0.5, mean_y + slope * (self.layer_macs(signature) - mean_x))

    def _shape_key(self, signature: Signature) -> Signature:
        skip = self.channels[signature[0]]
        return tuple(v for i, v in enumerate(signature) if i not in skip)

    # ------------------------------------------------------------------ cache
    def _load(self) -> dict[Signature, float]:
        try:
            data = json.loads(self.path.read_text())
            if data.get("key") != self.key:
                return {}
            entries = {tuple(e["layer"]): float(e["ms"]) for e in data["entries"]}
            scale = float(data.get("scale", 1.0))
            if not (0 < scale < math.inf and all(0 < ms < math.inf for ms in entries.values())):
                return {}  # a damaged table (NaN scale, negative times) would predict nonsense
            self.built, self.scale = bool(data.get("built", False)), scale
            return entries
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return {}  # no table yet, or an unreadable one: it is measured again

    def save(self) -> None:
        """Write the table to the cache (atomically)."""
        entries = [{"layer": list(k), "ms": v} for k, v in sorted(self.entries.items(), key=repr)]
        try:
            with writing_file(self.path) as tmp:
                tmp.write_text(json.dumps({"key": self.key, "built": self.built, "scale": self.scale, "entries": entries}))
        except RunNotWritable as exc:
            raise UserError(f"{exc} (the latency table); set XDG_CACHE_HOME to a writable folder") from None


def build_table(
    table: LatencyTable,
    space: SearchSpace,
    *,
    calibration: int = CALIBRATION_NETWORKS,
    seed: int = 0,
    also: Sequence[tuple[nn.Module, torch.Tensor]] = (),
) -> list[float]:
    """Measure every grid layer of ``space`` the table lacks, together with ``calibration``
    random children of the space as whole networks (the same rounds of
    :func:`time_in_rounds`), set the table's :attr:`~LatencyTable.scale` to the median of
    whole / summed layers over them, and save it. ``also``: more (module, input) pairs timed
    in the same rounds, e.g. networks to validate the table with; their ms are returned.

    Departure from seed 003 (pure sums): the sum of layers timed alone fell short of the
    whole network by a factor of 0.67-0.90 (median per space and batch size, single-call
    timing), more at batch 32 where a network's activations leave the cache.
    """
    missing = [layer for layer in table.grid(space) if layer not in table.entries]
    rng = np.random.default_rng(seed)
    configs = [dict(space.sample(rng)) for _ in range(calibration)] if missing else []
    x = torch.rand(table.batch_size, *table.input_shape).contiguous(memory_format=torch.channels_last)
    networks = [(table.build_network(c).to(memory_format=torch.channels_last).eval(), x) for c in configs]
    timings = time_in_rounds([table.timing_item(layer) for layer in missing] + networks + list(also)) if missing or also else []
    table.record(dict(zip(missing, timings[: len(missing)], strict=True)))
    whole = timings[len(missing) : len(missing) + len(configs)]
    if configs:
        table.scale = statistics.median(ms / table.layer_sum(c) for ms, c in zip(whole, configs, strict=True))
    table.built = True
    table.save()
    return timings[len(missing) + len(configs) :]


@dataclass(frozen=True)
class TableCheck:
    """A latency table's predictions against whole networks timed on this device."""

    configs: tuple[Mapping[str, Any], ...]  # the children, in order
    spearman: float  # rank correlation of predicted and measured ms over the children
    median_relative_error: float  # median of |predicted - measured| / measured
    measured_ms: tuple[float, ...]
    predicted_ms: tuple[float, ...]
    measured_to_predict: int  # layers neither on the grid nor interpolable, timed alone to predict

    @property
    def children(self) -> int:
        return len(self.measured_ms)


def validation_networks(
    table: LatencyTable, space: SearchSpace, *, children: int, seed: int
) -> tuple[list[dict[str, Any]], list[tuple[nn.Module, torch.Tensor]]]:
    """The random children :func:`validate_table` times for ``seed``: their configurations and
    (whole network, input batch) pairs for :func:`time_in_rounds`."""
    rng = np.random.default_rng(seed)
    configs = [dict(space.sample(rng)) for _ in range(children)]
    x = torch.rand(table.batch_size, *table.input_shape).contiguous(memory_format=torch.channels_last)
    return configs, [(table.build_network(c).to(memory_format=torch.channels_last).eval(), x) for c in configs]


def validate_table(table: LatencyTable, space: SearchSpace, *, children: int = 30, seed: int = 0) -> TableCheck:
    """Time ``children`` random children of ``space`` as whole networks, in the same rounds as
    the grid layers the table still lacks (:func:`build_table`: the machine's speed drift hits
    both alike), and compare them with the table's predictions (the foundation issue's
    acceptance: Spearman >= 0.9, median relative error <= 15%). The calibration children of a
    new table are drawn with another seed, so they are not the validation children."""
    if children < 2:
        raise ValueError("validate_table needs at least 2 children")
    configs, networks = validation_networks(table, space, children=children, seed=seed)
    measured = build_table(table, space, seed=seed + 1000, also=networks)
    before = table.measured_now
    predicted = [table.cost(c) for c in configs]
    errors = [abs(p - m) / m for p, m in zip(predicted, measured, strict=True)]
    return TableCheck(
        tuple(configs), float(spearmanr(predicted, measured).statistic), statistics.median(errors),
        tuple(measured), tuple(predicted), table.measured_now - before,
    )
