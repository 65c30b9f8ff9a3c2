"""``hasearch report``: one self-contained HTML page of a run (no external scripts, styles or
fonts; figures embedded as PNG data), its figures also saved as PNG files in ``DIR/report/``.

Sections: the summary (the tables of ``hasearch show``), the settings, the incumbent over wall time and
compute, validation error against MACs with the Pareto front, parameter importance (fANOVA
from ``optuna.importance`` when optuna is installed) with marginal effects, and the
method's own history for single-run searches (the plot the method saved). A run still in
progress gets what is there so far.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure
from rich.console import Console

from hasearch.catalog import definition_for
from hasearch.cli.show import renderables
from hasearch.errors import RunNotWritable
from hasearch.report.figures import (
    importance,
    importance_figure,
    incumbent_figure,
    pareto_figure,
    pareto_front,
    pareto_points,
)
from hasearch.settings import SearchSettings
from hasearch.space import load_space
from hasearch.store import RunDir
from hasearch.store.outputs import output_file, writing_file
from hasearch.store.records import TrialRecord
from hasearch.store.run_dir import as_path

FIGURES = "report"  # folder of the PNG copies in the run directory
HISTORY_PLOTS = ("search/nes.png", "autohas/probabilities.png")
STYLE = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}img{max-width:100%}pre{font-size:12px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of a run (default ``DIR/report.html``); returns its path.

    Raises:
        UserError: a damaged run, or an ``out`` that may not be written
            (:func:`hasearch.store.outputs.output_file`).
    """
    path = output_file(as_path(run_dir, "run directory") / "report.html" if out is None else out)
    run = RunDir.open(run_dir, read_only=True)
    try:
        sections = _sections(run, str(run_dir))
    finally:
        run.close()
    body = "\n".join(f"<section><h2>{html.escape(title)}</h2>\n{content}</section>" for title, content in sections)
    page = f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hasearch report: {html.escape(str(run_dir))}</title><style>{STYLE}</style></head><body><h1>hasearch report</h1>\n{body}</body></html>"
    with writing_file(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def _sections(run: RunDir, label: str) -> list[tuple[str, str]]:
    settings = SearchSettings.from_dict(run.read_json("settings.json"), source=str(run.file("settings.json")))
    trials = run.db.trials()
    figures = _Figures(run)
    sections = [("summary", _summary_html(run, label)), ("settings", _settings_html(settings))]
    if trials:
        sections.append(("incumbent over time and compute", figures.embed("incumbent", incumbent_figure(trials, settings.budget_unit))))
        sections.append(("validation error vs MACs", _pareto_html(trials, figures)))
        sections.append(("parameter importance", _importance_html(run, trials, figures)))
    for name in HISTORY_PLOTS:
        if run.has(name):
            sections.append(("the method's history", embedded_png(run.file(name).read_bytes(), name)))
    return sections


def _summary_html(run: RunDir, label: str) -> str:
    console = Console(record=True, width=110, file=io.StringIO())
    for part in renderables(run, label):
        console.print(part)
    return console.export_html(inline_styles=True, code_format="<pre>{code}</pre>")


def _settings_html(settings: SearchSettings) -> str:
    """Every setting of the run that has a value (as ``settings.json`` holds them)."""
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in settings.to_dict().items() if v is not None)
    return f"<table><tr><th>setting</th><th>value</th></tr>{rows}</table>"


def _pareto_html(trials: Sequence[TrialRecord], figures: _Figures) -> str:
    points = pareto_points(trials)
    front = pareto_front(points)
    rows = "".join(f"<tr><td>{ident}</td><td>{cost:,.0f}</td><td>{100 * (1 - error):.2f}%</td></tr>" for cost, error, ident in front)
    table = f"<p>Pareto front (no trial has fewer MACs and lower error):</p><table><tr><th>trial</th><th>MACs</th><th>val accuracy</th></tr>{rows}</table>"
    return figures.embed("pareto", pareto_figure(points)) + (table if front else "")


def _importance_html(run: RunDir, trials: Sequence[TrialRecord], figures: _Figures) -> str:
    space = definition_for(load_space(run.file("space.yaml"))).space
    scores = importance(trials, space)
    if scores is None:
        return "<p>not available: needs optuna (pip install 'hasearch[bench]') and at least 8 finished trials on the largest budget</p>"
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{v:.3f}</td></tr>" for n, v in list(scores.items())[:5])
    table = f"<table><tr><th>parameter (top 5)</th><th>fANOVA importance</th></tr>{rows}</table>"
    return figures.embed("importance", importance_figure(scores, trials)) + table


class _Figures:
    """Embeds figures in the page and saves them as PNG files under ``DIR/report/``."""

    def __init__(self, run: RunDir) -> None:
        self.folder = run.path / FIGURES

    def embed(self, name: str, figure: Figure | None) -> str:
        if figure is None:
            return "<p>nothing to show yet (no finished trial)</p>"
        png = png_bytes(figure)
        try:
            self.folder.mkdir(exist_ok=True)
            (self.folder / f"{name}.png").write_bytes(png)
        except OSError as exc:
            raise RunNotWritable(f"cannot write {str(self.folder / f'{name}.png')!r} ({exc.strerror or exc})") from None
        return embedded_png(png, name)


def png_bytes(figure: Figure) -> bytes:
    """A figure as PNG (80 dpi), then closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()


def embedded_png(png: bytes, alt: str) -> str:
    """An <img> holding the PNG itself (the page needs no other file)."""
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
