"""``hasearch show DIR``: the comparison table of a run, read from its files."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hasearch.analysis import rank_correlation
from hasearch.comparison import BEST
from hasearch.errors import SpaceError, damaged_file
from hasearch.search import best_trial
from hasearch.settings import SearchSettings
from hasearch.space import load_space
from hasearch.store import RunDir, TrialStatus
from hasearch.strategies.base import SEARCH_HISTORY


def show_run(path: str, console: Console) -> None:
    """Print the baseline-vs-found table (or, for an unfinished run, the best so far).

    The run is opened read-only and every file is read and checked before anything is
    printed, so a damaged run gives one RunDirError naming the file, and nothing else.
    """
    run = RunDir.open(path, read_only=True)
    try:
        parts = renderables(run, path)
    finally:
        run.close()
    for part in parts:
        console.print(part)


def _space_note(run: RunDir) -> list[RenderableType]:
    """``show`` does not need the run's space, ``resume`` and ``report`` do: say if it is damaged."""
    try:
        load_space(run.file("space.yaml"))
    except SpaceError as exc:
        return [Text(f"note: {exc}; resume and report need it", style="yellow")]
    return []


@contextmanager
def _shape_of(run: RunDir, name: str) -> Iterator[None]:
    """Turn the errors of a valid-JSON file of the wrong shape into one RunDirError."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        raise damaged_file(run.file(name), exc) from None


def _unfinished(run: RunDir, path: str) -> Text:
    if run.in_use():
        return Text("search running (another hasearch process holds the run; no best.json yet)", style="yellow")
    return Text(f"search not finished (no best.json): continue it with: hasearch resume {shlex.quote(path)}", style="yellow")


def renderables(run: RunDir, path: str) -> list[RenderableType]:
    """Everything ``show`` prints about a run (also the summary of ``hasearch report``)."""
    parts: list[RenderableType] = []
    settings = SearchSettings.from_dict(run.read_json("settings.json"), source=str(run.file("settings.json")))
    parts.append(Text.from_markup(
        f"[bold]{escape(path)}[/]: {escape(settings.strategy)} on space {escape(settings.space)}, "
        f"dataset {escape(settings.dataset)}, seed {settings.seed}"
        + "".join(f", {escape(name)}={escape(str(value))}" for name, value in settings.strategy_options.items())
    ))
    trials = run.db.trials()
    parts += _space_note(run)
    if run.has(BEST):
        with _shape_of(run, BEST):
            parts += _best_parts(run.read_json(BEST))
    else:
        top = best_trial(trials)
        parts.append(_unfinished(run, path))
        if top is not None:
            parts.append(Text(f"best trial so far: {top.trial_id}, val acc {top.val_accuracy:.4f} on budget {top.budget:g}"))
    correlation = rank_correlation(trials)
    if len(correlation["budgets"]) > 1:
        parts.append(correlation_table(correlation))
    history_file = next((name for name in (SEARCH_HISTORY, _OLD_AUTOHAS_HISTORY) if run.has(name)), None)
    if history_file is not None:
        with _shape_of(run, history_file):
            history = run.read_json(history_file)
            parts.append(Text(single_run_summary(history)))
            parts += [derivation_table(phase) for phase in history.get("phases") or [] if phase.get("derivation")]
    else:
        finished = sum(t.status is TrialStatus.FINISHED for t in trials)
        failed = sum(t.status is TrialStatus.FAILED for t in trials)
        running = sum(t.status is TrialStatus.RUNNING for t in trials)
        parts.append(Text(f"trials: {finished} finished, {failed} failed" + (f", {running} running" if running else "")))
    return parts


_OLD_AUTOHAS_HISTORY = "autohas/history.json"  # runs made before the strategy-neutral history


def _best_parts(best: Mapping[str, Any]) -> list[RenderableType]:
    parts: list[RenderableType] = [comparison_table(best)]
    if best.get("found"):
        parts.append(config_table((best.get("baseline") or {}).get("config", {}), best["found"]["config"]))
    parts += [Text(f"note: {note}") for note in best.get("notes") or []]
    limit = best.get("limits")
    if isinstance(limit, Mapping):
        named = [f"--max-macs {limit['max_macs']:,.0f}" if "max_macs" in limit else "", f"--max-latency {limit['max_latency_ms']:g} ms" if "max_latency_ms" in limit else ""]
        meets = "meets it" if limit.get("found_meets") else "does NOT meet it"
        parts.append(Text(f"resource limit {' and '.join(n for n in named if n)}: the found model {meets}"))
    if best.get("result"):
        same = (best.get("found") or {}).get("config") == (best.get("baseline") or {}).get("config")
        who = "the baseline configuration, which the search returned" if same else f"the {best['result']} configuration"
        parts.append(Text(f"saved model (final/model.pt): {who}"))
    return parts


def single_run_summary(history: Mapping[str, Any]) -> str:
    """One line about a single-run search, from its history file (whatever the method)."""
    entries = history.get("entries") or []
    method = str(history.get("method", "autohas"))
    summarise = _SUMMARIES.get(method) or _SUMMARIES.get(method.split("-")[0])
    if entries and summarise is not None:
        return summarise(entries)
    steps = [p["steps"] for p in history.get("phases") or [] if "steps" in p]
    if steps:
        return f"search steps: {sum(steps)}"
    if str(history.get("method", "")).startswith("uniform-"):
        return f"{history['method']}: a fixed rescale to the target, no search"
    return "search steps: none recorded"


def _autohas_summary(entries: list[dict[str, Any]]) -> str:
    last = entries[-1]
    text = f"controller steps: {last['step']} (phase {last['phase']}), entropy {entries[0]['entropy']:.1f} -> {last['entropy']:.1f}"
    return text + " (probabilities over time: autohas/probabilities.png)"


def _nes_summary(entries: list[dict[str, Any]]) -> str:
    first, last = entries[0], entries[-1]
    return (
        f"NES updates: {last['update']} ({last['step']} weight steps); resource of H's child {first['relative']:.2f} -> "
        f"{last['relative']:.2f} x target; sigma {first['sigma']:.2f} -> {last['sigma']:.2f} (H over time: search/nes.png)"
    )


def _dha_summary(entries: list[dict[str, Any]]) -> str:
    first, last = entries[0], entries[-1]
    text = f"DHA steps: {last['step']}; lr {first['lr']:.3g} -> {last['lr']:.3g} (with the cosine decay), weight decay {first['weight_decay']:.3g} -> {last['weight_decay']:.3g}"
    with_policy = [e for e in entries if "policy_entropy" in e]
    if with_policy:
        top = ", ".join(f"{a}+{b}" for a, b, _ in last.get("top_pairs", [])[:3])
        text += f"; policy entropy {with_policy[0]['policy_entropy']:.3f} -> {with_policy[-1]['policy_entropy']:.3f} (top pairs {top})"
    return text + " (over time: search/dha.png)"


_SUMMARIES: dict[str, Callable[[list[dict[str, Any]]], str]] = {
    "autohas": _autohas_summary, "nes": _nes_summary, "dha": _dha_summary, "ista": _dha_summary,
}  # fmt: skip


def derivation_table(phase: Mapping[str, Any]) -> Table:
    """Per searched parameter: how concentrated its distribution is and where its value came from.

    ``entropy`` is normalised (1 = uniform); a parameter is learned when it is below ``noise 5%``,
    the 5% quantile that noise-only rewards would leave after the same number of updates.
    """
    table = Table(title=f"AutoHAS phase {phase.get('phase', 0) + 1}: value from Eq. 4-5 (learned) or from the baseline")
    for column in ("parameter", "entropy", "noise 5%", "updates", "value", "from", "Eq. 4-5"):
        table.add_column(column, justify="left" if column in ("parameter", "from") else "right", no_wrap=True)
    for d in phase["derivation"]:
        table.add_row(
            d["name"], f"{d['normalised_entropy']:.2f}", f"{d['null_threshold']:.2f}", str(d["updates"]),
            Text(_fmt(d["value"])), "learned" if d["learned"] else "baseline", Text(_fmt(d["eq5_value"])),
            style="bold" if d["learned"] else "dim",
        )
    return table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def comparison_table(best: Mapping[str, Any]) -> Table:
    """Baseline vs found: accuracies, size and times."""
    base, found = best.get("baseline") or {}, best.get("found") or {}
    table = Table(title=f"baseline vs found ({best['final_budget']:g} {best.get('budget_unit', 'epochs')} each)")
    table.add_column("")
    table.add_column("baseline", justify="right")
    table.add_column("found", justify="right")
    rows = [
        ("validation accuracy", _pct(base.get("val_accuracy")), _pct(found.get("val_accuracy"))),
        ("test accuracy", _pct(base.get("test_accuracy")), _pct(found.get("test_accuracy"))),
        ("parameters", _count(base, "params"), _count(found, "params")),
        ("MACs (FLOPs)", _count(base, "macs"), _count(found, "macs")),
        ("latency (1 image, measured)", _ms(base), _ms(found)),
        ("final training", _how(base), _how(found)),
        ("retrain time", _seconds(base), _seconds(found)),
        ("search time", "-", f"{best['search_seconds']:.1f}s"),
    ]
    for row in rows:
        table.add_row(*row)
    errors = [f"{name}: {d['error']}" for name, d in (("baseline", base), ("found", found)) if d.get("error")]
    if errors:
        table.caption = escape("; ".join(errors))
    return table


def _count(score: Mapping[str, Any], key: str) -> str:
    return f"{score[key]:,}" if score else "-"


def _ms(score: Mapping[str, Any]) -> str:
    value = score.get("latency_ms") if score else None
    return "-" if value is None else f"{value:.2f} ms"


def _how(score: Mapping[str, Any]) -> str:
    if not score:
        return "-"
    return "retrained" if score.get("retrained", True) else "as searched, no retraining"


def _seconds(score: Mapping[str, Any]) -> str:
    return f"{score['retrain_seconds']:.1f}s" if score else "-"


def correlation_table(correlation: Mapping[str, Any]) -> Table:
    """Spearman rank correlation of validation errors between budgets (seed 002 Table 1)."""
    budgets = correlation["budgets"]
    cells = {(p["low"], p["high"]): p for p in correlation["pairs"]}
    table = Table(title="rank correlation of validation errors across budgets (Spearman rho, n)")
    table.add_column("budget")
    for high in budgets[1:]:
        table.add_column(f"{high:g}", justify="right")
    for low in budgets[:-1]:
        row = []
        for high in budgets[1:]:
            pair = cells.get((low, high))
            if pair is None:
                row.append("")
            else:
                rho = "-" if pair["rho"] is None else f"{pair['rho']:.2f}"
                row.append(f"{rho} (n={pair['n']})")
        table.add_row(f"{low:g}", *row)
    return table


def config_table(baseline: Mapping[str, Any], found: Mapping[str, Any]) -> Table:
    """The parameters of both configurations, changed ones marked."""
    table = Table(title="configurations")
    table.add_column("parameter")
    table.add_column("baseline", justify="right")
    table.add_column("found", justify="right")
    for name in sorted(set(baseline) | set(found)):
        b, f = _fmt(baseline.get(name)), _fmt(found.get(name))
        style = "bold" if b != f else "dim"
        table.add_row(name, Text(b), Text(f), style=style)  # values are the user's words: no markup
    return table


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
