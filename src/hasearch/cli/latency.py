"""``hasearch latency --space NAME``: build (or show) the space's latency table on this device."""

from __future__ import annotations

import argparse
import re
import time

from rich.console import Console
from rich.table import Table

from hasearch.data import MAX_IMAGE_SIDE
from hasearch.errors import UserError

_SHAPE = re.compile(r"^(\d{1,4})x(\d{1,4})x(\d{1,4})$")


def add_latency_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    latency = sub.add_parser("latency", help="build or show the latency look-up table of a space on this device")
    latency.add_argument("--space", required=True, help="built-in space name or YAML file")
    latency.add_argument("--input", default="3x32x32", help="input shape CxHxW (default 3x32x32)")
    latency.add_argument("--classes", type=int, default=10, help="number of classes (default 10)")
    latency.add_argument("--batch-size", type=int, default=1, help="images per forward pass (default 1)")
    latency.add_argument("--rebuild", action="store_true", help="measure every entry again")
    latency.add_argument(
        "--validate", type=int, default=None, metavar="N",
        help="also time N random children whole and compare them with the table (Spearman, median relative error)",
    )
    latency.set_defaults(handler=cmd_latency)


def _shape(text: str) -> tuple[int, int, int]:
    match = _SHAPE.match(text)
    if match is None or min(int(g) for g in match.groups()) < 1:
        raise UserError(f"--input {text!r} is not a shape CxHxW such as 3x32x32")
    c, h, w = (int(g) for g in match.groups())
    if c not in (1, 3) or max(h, w) > MAX_IMAGE_SIDE:
        raise UserError(f"--input {text!r}: images have 1 or 3 channels and sides of at most {MAX_IMAGE_SIDE} pixels")
    return c, h, w


def cmd_latency(args: argparse.Namespace, console: Console) -> int:
    import torch

    from hasearch.catalog import resolve_space
    from hasearch.supernet import latency_model
    from hasearch.supernet.latency import build_table, time_module, validate_table

    shape = _shape(args.input)
    if not 1 <= args.classes <= 100_000 or not 1 <= args.batch_size <= 4096:
        raise UserError("--classes must be in [1, 100000] and --batch-size in [1, 4096]")
    if args.validate is not None and not 2 <= args.validate <= 1000:
        raise UserError(f"--validate {args.validate}: give 2 to 1000 children (or leave it out)")
    definition = resolve_space(args.space)
    table = latency_model(definition.family, shape, args.classes, batch_size=args.batch_size)
    if args.rebuild:
        table.entries.clear()
    cached, start = len(table.entries), time.perf_counter()
    build_table(table, definition.space)
    baseline = definition.build(definition.baseline, shape, args.classes).to(memory_format=torch.channels_last)
    measured = time_module(baseline, torch.rand(args.batch_size, *shape).contiguous(memory_format=torch.channels_last))
    out = Table(title=f"latency table of {definition.space.name} ({table.key['device']}, {table.threads} threads, batch {args.batch_size})")
    out.add_column("")
    out.add_column("value", justify="right")
    out.add_row("entries (cached / measured now)", f"{cached} / {table.measured_now}")
    out.add_row("build time", f"{time.perf_counter() - start:.1f}s")
    out.add_row("whole network / sum of layers (fitted)", f"{table.scale:.3f}")
    out.add_row("baseline: predicted (scale x sum of layers)", f"{table.cost(definition.baseline):.3f} ms")
    out.add_row("baseline: measured (whole network)", f"{measured:.3f} ms")
    if args.validate is not None:
        check = validate_table(table, definition.space, children=args.validate)
        out.add_row(f"validation ({check.children} children): Spearman", f"{check.spearman:.3f}")
        out.add_row(f"validation ({check.children} children): median error", f"{100 * check.median_relative_error:.1f}%")
    out.add_row("file", str(table.path))
    console.print(out)
    return 0
