"""Latency look-up table of the MBConv families, measured on the running device.

Seed 003 Sec. 4.2: a network's latency is the sum of its layers' latencies, each read from
a table measured on the target device. An entry is one layer shape (the stem, the input
resize, an MBConv block with its channels, kernel, expansion, stride and input size, the
head with pooling and classifier), timed as a standalone module in eval mode with warm-up
runs and the fastest of repeated runs (:func:`time_module`). Channel counts that were not measured are
interpolated (a least-squares line of latency against the layer's MACs through the measured
layers of the same kernel, expansion, stride and size); anything else missing is measured
when first needed. The table is cached in the user's cache directory (``$XDG_CACHE_HOME``
or ``~/.cache``, ``hasearch/latency/``), keyed by device, torch version, thread count,
batch size, input shape and classes. ``hasearch latency --space NAME`` builds or shows it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from itertools import product
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hasearch.models.family import InputShape
from hasearch.models.mbconv import (
    MBConvArch,
    MBConvBlock,
    MBConvFamily,
    conv_bn,
    resize,
    scaled_size,
    stem_stride,
)
from hasearch.space import SearchSpace
from hasearch.supernet.mbconv import space_values
from hasearch.supernet.resources import conv_out, mbconv_block_macs

WARMUP, REPEATS = 10, 15
Signature = tuple[Any, ...]


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
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "hasearch" / "latency"


@torch.inference_mode()
def time_module(module: nn.Module, x: torch.Tensor) -> float:
    """Milliseconds of one forward of ``module`` on ``x``: after warm-up runs, the fastest of
    ``REPEATS`` repeats of about 1 ms each (the minimum, not the median: on a shared machine
    the median of one network's repeats ranged 1.2-2.6 ms between calls, the minimum
    1.77-1.94 ms; interference only ever adds time)."""
    module.eval()
    for _ in range(WARMUP):
        module(x)
    start = time.perf_counter()
    module(x)
    number = max(1, int(0.001 / max(time.perf_counter() - start, 1e-7)))
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(number):
            module(x)
        samples.append((time.perf_counter() - start) / number)
    return 1000.0 * min(samples)


class _Resize(nn.Module):
    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize(x, self.size)


class _Head(nn.Module):
    def __init__(self, cin: int, head: int, classes: int) -> None:
        super().__init__()
        self.conv, self.classifier = conv_bn(cin, head, 1), nn.Linear(head, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.conv(x), 1), 1))


class MBConvLatency:
    """Predicted milliseconds of any child of an MBConv family on this device."""

    unit = "ms"

    def __init__(self, family: MBConvFamily, input_shape: InputShape, num_classes: int, *, batch_size: int = 1, cache: Path | None = None) -> None:
        self.family, self.input_shape, self.num_classes, self.batch_size = family, input_shape, num_classes, batch_size
        self.threads = torch.get_num_threads()
        self.key = {
            "device": device_name(), "torch": torch.__version__, "threads": self.threads, "batch_size": batch_size,
            "input_shape": list(input_shape), "num_classes": num_classes, "plan": repr(family.plan),
        }  # fmt: skip
        digest = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()[:16]
        self.path = (cache or cache_dir()) / f"mbconv-{digest}.json"
        self.built = False  # every grid layer measured (build_table) rather than only those needed so far
        self.entries: dict[Signature, float] = self._load()
        self.measured_now = 0

    # ------------------------------------------------------------------ costs
    def cost(self, config: Mapping[str, Any]) -> float:
        return self.latency(self.family.arch_of(config))

    def latency(self, arch: MBConvArch) -> float:
        """Sum of the child's layer latencies (ms), seed 003 Sec. 4.2."""
        return sum(self.entry(signature) for signature in self.layers(arch))

    def layers(self, arch: MBConvArch) -> list[Signature]:
        return self.layers_of(self.family, self.input_shape, self.num_classes, arch)

    @staticmethod
    def layers_of(family: MBConvFamily, input_shape: InputShape, num_classes: int, arch: MBConvArch) -> list[Signature]:
        """The layer shapes of one child, in order."""
        plan, (c, height, width) = family.plan, input_shape
        size = scaled_size(input_shape, arch.scale)
        out: list[Signature] = [("resize", height, width, *size)] if size != (height, width) else []
        stride = stem_stride(input_shape)
        out.append(("stem", c, plan.stem, stride, *size))
        h, w, cin = conv_out(size[0], stride), conv_out(size[1], stride), plan.stem
        for stage, cout, choices in zip(plan.stages, arch.widths, arch.blocks, strict=True):
            for b, (kernel, expansion) in enumerate(choices):
                s = stage.stride if b == 0 else 1
                out.append(("block", cin, cout, kernel, expansion, s, h, w))
                h, w, cin = conv_out(h, s), conv_out(w, s), cout
        out.append(("head", cin, plan.head, num_classes, h, w))
        return out

    # ---------------------------------------------------------------- entries
    def entry(self, signature: Signature) -> float:
        """The table's milliseconds for one layer: measured, interpolated, or measured now."""
        if signature in self.entries:
            return self.entries[signature]
        estimate = self._interpolate(signature)
        if estimate is not None:
            return estimate
        return self.measure(signature)

    def measure(self, signature: Signature) -> float:
        module, x = self._module(signature)
        self.entries[signature] = time_module(module.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last))
        self.measured_now += 1
        return self.entries[signature]

    def _module(self, signature: Signature) -> tuple[nn.Module, torch.Tensor]:
        kind, *rest = signature
        builders: dict[str, Callable[..., tuple[nn.Module, tuple[int, ...]]]] = {
            "resize": lambda h, w, h2, w2: (_Resize((h2, w2)), (self.input_shape[0], h, w)),
            "stem": lambda c, cout, s, h, w: (conv_bn(c, cout, 3, s), (c, h, w)),
            "block": lambda cin, cout, k, e, s, h, w: (MBConvBlock(cin, cout, kernel=k, expansion=e, stride=s), (cin, h, w)),
            "head": lambda cin, head, classes, h, w: (_Head(cin, head, classes), (cin, h, w)),
        }
        module, shape = builders[kind](*rest)
        return module, torch.rand(self.batch_size, *shape)

    def _interpolate(self, signature: Signature) -> float | None:
        """A block's or head's latency from measured layers of the same kind, kernel,
        expansion, stride and input size but other channel counts: a least-squares line of
        latency against the layer's MACs through them (needs two distinct measured sizes)."""
        if signature[0] not in _CHANNELS:
            return None
        shape = _shape_key(signature)
        points = [(_layer_macs(s), v) for s, v in self.entries.items() if s[0] == signature[0] and _shape_key(s) == shape]
        if len({m for m, _ in points}) < 2:
            return None
        xs, ys = [float(m) for m, _ in points], [v for _, v in points]
        mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)
        return max(min(ys) * 0.5, mean_y + slope * (_layer_macs(signature) - mean_x))

    # ------------------------------------------------------------------ cache
    def _load(self) -> dict[Signature, float]:
        try:
            data = json.loads(self.path.read_text())
            if data.get("key") != self.key:
                return {}
            self.built = bool(data.get("built", False))
            return {tuple(e["layer"]): float(e["ms"]) for e in data["entries"]}
        except (OSError, ValueError, KeyError, TypeError):
            return {}  # no table yet, or an unreadable one: it is measured again

    def save(self) -> None:
        """Write the table to the cache (atomically)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        entries = [{"layer": list(k), "ms": v} for k, v in sorted(self.entries.items(), key=repr)]
        tmp.write_text(json.dumps({"key": self.key, "built": self.built, "entries": entries}))
        os.replace(tmp, self.path)


_CHANNELS = {"block": (1, 2), "head": (1,)}  # positions of the channel counts in a signature


def _shape_key(signature: Signature) -> Signature:
    skip = _CHANNELS[signature[0]]
    return tuple(v for i, v in enumerate(signature) if i not in skip)


def _layer_macs(signature: Signature) -> int:
    if signature[0] == "block":
        return mbconv_block_macs(*signature[1:])
    _, cin, head, classes, h, w = signature
    return h * w * cin * head + head * classes


def grid_layers(family: MBConvFamily, space: SearchSpace, input_shape: InputShape, num_classes: int) -> list[Signature]:
    """Every layer shape the space's children can have, with channel counts thinned to at
    most three grid values per stage (the rest is interpolated)."""
    plan, out = family.plan, set()
    widths = [_thin(sorted({max(1, round(v * st.channels)) for v in space_values(space, f"width_{s}", 1.0)})) for s, st in enumerate(plan.stages)]
    depths = [int(max(space_values(space, f"depth_{s}", st.depth))) for s, st in enumerate(plan.stages)]
    for scale in space_values(space, "input_scale", 1.0):
        base = MBConvArch(tuple(depths), tuple(w[0] for w in widths), tuple(((3, 6),) * d for d in depths), scale)
        out.update(sig for sig in MBConvLatency.layers_of(family, input_shape, num_classes, base) if sig[0] != "block")
        size = scaled_size(input_shape, scale)
        h, w = conv_out(size[0], stem_stride(input_shape)), conv_out(size[1], stem_stride(input_shape))
        slot, previous = 0, [plan.stem]
        for s, stage in enumerate(plan.stages):
            for b in range(stage.max_depth):
                stride = stage.stride if b == 0 else 1
                if b < depths[s]:
                    kernels = space_values(space, f"kernel_{slot + b}", 3)
                    expansions = space_values(space, f"expansion_{slot + b}", 6)
                    for k, e, cin, cout in product(kernels, expansions, previous if b == 0 else widths[s], widths[s]):
                        out.add(("block", cin, cout, int(k), int(e), stride, h, w))
                h, w = conv_out(h, stride), conv_out(w, stride)
            slot, previous = slot + stage.max_depth, widths[s]
        out.update(("head", c, plan.head, num_classes, h, w) for c in widths[-1])
    return sorted(out, key=repr)


def _thin(values: list[int], keep: int = 3) -> list[int]:
    if len(values) <= keep:
        return values
    return sorted({values[round(i * (len(values) - 1) / (keep - 1))] for i in range(keep)})


def build_table(table: MBConvLatency, space: SearchSpace) -> None:
    """Measure every grid layer of ``space`` the table lacks, and save it."""
    for layer in grid_layers(table.family, space, table.input_shape, table.num_classes):
        if layer not in table.entries:
            table.measure(layer)
    table.built = True
    table.save()
