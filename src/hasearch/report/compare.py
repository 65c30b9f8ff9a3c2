"""``hasearch compare DIR DIR ...``: runs on one space and data set side by side, as one
self-contained HTML page: per run and per strategy (mean +- std over its seeds) the found
model's validation and test accuracy, MACs, search time and compute, and every run's
incumbent over wall time and over trial compute in one figure."""

from __future__ import annotations

import html
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from hasearch.comparison import BEST
from hasearch.errors import UserError
from hasearch.report.figures import incumbent_curve
from hasearch.report.html import STYLE, embedded_png, png_bytes
from hasearch.settings import SearchSettings
from hasearch.store import RunDir
from hasearch.store.outputs import output_file, writing_file


@dataclass(frozen=True)
class RunSummary:
    """What the comparison shows of one run."""

    path: str
    settings: SearchSettings
    found: dict[str, Any] | None  # best.json's "found" (None: not finished)
    search_seconds: float | None
    compute: float  # budget trained by the search's trials (epochs or seconds)
    curve: list[tuple[float, float, float]]  # incumbent (seconds, compute, val accuracy)


def summarise(path: str) -> RunSummary:
    run = RunDir.open(path, read_only=True)
    try:
        settings = SearchSettings.from_dict(run.read_json("settings.json"), source=str(run.file("settings.json")))
        best = run.read_json(BEST) if run.has(BEST) else {}
        trials = run.db.trials()
    finally:
        run.close()
    compute = sum(float(t.cost if t.cost is not None else t.budget) for t in trials if t.finished_at is not None)
    return RunSummary(path, settings, best.get("found"), best.get("search_seconds"), compute, incumbent_curve(trials))


def write_comparison(paths: Sequence[str], out: str | Path, *, force: bool = False) -> Path:
    """Compare runs (UserError when they differ in space or data set, unless ``force``, or
    when ``out`` may not be written: :func:`hasearch.store.outputs.output_file`)."""
    if isinstance(paths, str | Path) or not paths:
        raise UserError(f"give the run directories to compare as a non-empty list, got {paths!r}")  # not letter by letter
    path = output_file(out)
    runs = [summarise(p) for p in paths]
    problems = {(r.settings.space, r.settings.dataset) for r in runs}
    if len(problems) > 1 and not force:
        listed = "; ".join(f"{r.path}: {r.settings.space} on {r.settings.dataset}" for r in runs)
        raise UserError(f"the runs search different problems ({listed}); --force compares them anyway")
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hasearch compare</title><style>{STYLE}</style></head><body>"
        f"<h1>hasearch compare</h1><h2>by strategy</h2>{_strategy_table(runs)}<h2>runs</h2>{_run_table(runs)}"
        f"<h2>incumbents over wall time and compute</h2>{_curves(runs)}</body></html>"
    )
    with writing_file(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def _pct(values: list[float]) -> str:
    if not values:
        return "-"
    mean = 100 * statistics.fmean(values)
    return f"{mean:.2f} +- {100 * statistics.stdev(values):.2f}" if len(values) > 1 else f"{mean:.2f}"


def _strategy_table(runs: Sequence[RunSummary]) -> str:
    rows = []
    for strategy in sorted({r.settings.strategy for r in runs}):
        group = [r for r in runs if r.settings.strategy == strategy and r.found]
        val = [float(r.found["val_accuracy"]) for r in group if r.found and r.found.get("val_accuracy") is not None]
        test = [float(r.found["test_accuracy"]) for r in group if r.found and r.found.get("test_accuracy") is not None]
        macs = [float(r.found["macs"]) for r in group if r.found and r.found.get("macs") is not None]
        rows.append(f"<tr><td>{html.escape(strategy)}</td><td>{len(group)}</td><td>{_pct(val)}</td><td>{_pct(test)}</td>"
                    f"<td>{statistics.fmean(macs) / 1e6:.2f} M</td></tr>" if macs else f"<tr><td>{html.escape(strategy)}</td><td>0</td><td colspan=3>no finished run</td></tr>")  # fmt: skip
    head = "<tr><th>strategy</th><th>finished runs</th><th>val accuracy %</th><th>test accuracy %</th><th>MACs (mean)</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _run_table(runs: Sequence[RunSummary]) -> str:
    head = "<tr><th>run</th><th>strategy</th><th>seed</th><th>val %</th><th>test %</th><th>MACs</th><th>search s</th><th>trial compute</th></tr>"
    rows = []
    for r in runs:
        f = r.found or {}
        cells = [r.path, r.settings.strategy, str(r.settings.seed), _pct([f["val_accuracy"]]) if f.get("val_accuracy") is not None else "-",
                 _pct([f["test_accuracy"]]) if f.get("test_accuracy") is not None else "-", f"{f['macs']:,.0f}" if f.get("macs") else "-",
                 f"{r.search_seconds:.0f}" if r.search_seconds else "-", f"{r.compute:g} {r.settings.budget_unit}" if r.compute else "- (no trials)"]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _curves(runs: Sequence[RunSummary]) -> str:
    """Every run's incumbent over search wall time and over trial compute, in two panels."""
    fig, (ax_time, ax_compute) = plt.subplots(1, 2, figsize=(12, 4))
    colours = {s: f"C{i}" for i, s in enumerate(sorted({r.settings.strategy for r in runs}))}
    for r in runs:
        colour, label = colours[r.settings.strategy], f"{r.settings.strategy} seed {r.settings.seed}"
        if r.curve:
            for ax, index in ((ax_time, 0), (ax_compute, 1)):
                ax.step([p[index] for p in r.curve], [p[2] for p in r.curve], where="post", color=colour, label=label)
        elif r.found and r.found.get("val_accuracy") is not None and r.search_seconds:  # a single-run search: its result
            ax_time.scatter(r.search_seconds, r.found["val_accuracy"], color=colour, marker="*", s=80, label=label)
    units = sorted({r.settings.budget_unit for r in runs if r.curve})
    ax_time.set(xlabel="search wall time (s)", ylabel="validation accuracy (incumbent; * single-run result)")
    ax_compute.set(xlabel=f"trial compute ({' / '.join(units) or 'epochs'} trained)", ylabel="validation accuracy (incumbent)",
                   title="multi-trial runs (single-run searches train no trials)")  # fmt: skip
    ax_time.legend(fontsize=7)
    fig.tight_layout()
    return embedded_png(png_bytes(fig), "incumbents")
