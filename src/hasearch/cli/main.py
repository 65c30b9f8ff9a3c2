"""The ``hasearch`` command line.

Bad input (unknown names, malformed files, out-of-range values, missing paths, an --out
that is not empty) is reported as one line ``hasearch: error: ...`` with exit code 2.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

from rich.console import Console
from rich.table import Table

from hasearch import __version__
from hasearch.catalog import builtin_space_names, resolve_space
from hasearch.cli.export import add_export_parsers
from hasearch.cli.latency import add_latency_parser
from hasearch.cli.progress import RichReporter
from hasearch.cli.show import show_run
from hasearch.cli.stopping import report_stop, resumable, sigterm_as_interrupt
from hasearch.data.sources import BUILTIN
from hasearch.errors import UserError
from hasearch.settings import BUDGET_UNITS, EXECUTORS, PRECISIONS, SearchSettings, parse_duration
from hasearch.space import Role
from hasearch.strategies.registry import STRATEGIES

EXIT_USAGE = 2
MAX_MESSAGE = 500  # characters of an error message shown
DEMO_STRATEGY = "bohb"  # 90 s of AutoHAS returned the baseline (its controller concentrates in minutes; docs/benchmarks.md)
DEMO_BUDGET = "90s"  # + data and retraining: under 5 minutes with the install of a fresh clone (measured)
DEMO_EPOCHS = 5.0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message: str) -> NoReturn:
        raise UserError(message)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive finite number")
    return value


def _add_search_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", required=True, help="built-in space name (see `hasearch spaces`) or a space YAML file")
    p.add_argument("--strategy", default="random", help=f"search method: {', '.join(STRATEGIES)} (default random)")
    p.add_argument("--dataset", required=True, help="digits | mnist5k | imagefolder:PATH | npz:PATH")
    p.add_argument("--budget", help="search time, e.g. 90s, 5m, 1h: trials start within it (running ones finish), "
                   "a single-run search stops at it; the final retraining comes after it and is announced with its estimated time")
    p.add_argument("--trials", type=int, help="maximum number of trials")
    p.add_argument("--out", required=True, help="new run directory")
    p.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the train/val/test split (default 0)")
    p.add_argument("--max-budget", "--epochs", dest="max_budget", type=_positive_float, default=9.0,
                   help="largest training budget of a trial (default 9 epochs)")
    p.add_argument("--min-budget", "--min-epochs", dest="min_budget", type=_positive_float, default=1.0,
                   help="smallest budget of multi-fidelity methods (default 1)")
    p.add_argument("--budget-unit", choices=BUDGET_UNITS, default="epochs", help="unit of trial budgets (default epochs)")
    p.add_argument("--eta", type=int, default=3, help="halving rate of multi-fidelity methods (default 3)")
    p.add_argument("--final-budget", "--final-epochs", dest="final_budget", type=_positive_float,
                   help="budget of the final retraining (default --max-budget)")
    p.add_argument("--workers", type=int, default=1, help="trials run in parallel (default 1)")
    p.add_argument("--threads", type=int, help="CPU threads per training process (default: all cores in-process, cores / workers in a pool; "
                   "the cores left free when other processes keep some busy at the start)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N: where every trial, single-run search "
                   "and the final retraining train (default auto: CUDA when available, else the CPU)")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="training precision: bf16 autocast with float32 master weights, or fp32 (default bf16 on CUDA, fp32 on the CPU)")
    p.add_argument("--trials-per-gpu", type=int, default=1,
                   help="with --workers/--executor ray on CUDA: trials sharing one GPU (default 1; Ray requests 1/K GPU per trial)")
    p.add_argument("--executor", choices=EXECUTORS, default="local", help="local processes or a Ray cluster")
    p.add_argument("--address", help="address of a running Ray cluster (default: start a local one)")
    p.add_argument("--no-baseline", dest="compare_baseline", action="store_false",
                   help="do not retrain the baseline for comparison")
    p.add_argument("--keep-found", action="store_true",
                   help="save the found model as the result even when the baseline scores higher on validation")
    p.add_argument("--max-macs", type=_positive_float, default=None,
                   help="resource limit: no trained configuration has more multiply-accumulates per image "
                        "(AutoHAS: its FLOPs target F0); `hasearch show` says whether the result meets it")
    p.add_argument("--max-latency", type=_positive_float, default=None,
                   help="resource limit of multi-trial strategies: milliseconds per image on this device, "
                        "from the latency table (`hasearch latency`; every built-in model family)")
    p.add_argument("--target-macs", type=_positive_float, default=None,
                   help="resource target of nes and uniform-* strategies: MACs per image (found model within 5%%; "
                        "default: the baseline's MACs). NES searches the ordered architecture parameters (widths, depths, "
                        "input scale); the others (kernel, expansion, training hyperparameters) keep the baseline's values")
    p.add_argument("--target-latency", type=_positive_float, default=None,
                   help="resource target of nes and uniform-* strategies: milliseconds per image on this device "
                        "(latency table, measured once and cached)")
    p.add_argument("--controller-lr", type=_positive_float, default=0.05,
                   help="AutoHAS controller learning rate (seed 000 picks from 0.01, 0.02, 0.05, 0.1; default 0.05)")
    p.add_argument("--option", dest="strategy_options", action="append", default=[], metavar="NAME=VALUE",
                   help="a meta-hyperparameter of a single-run strategy, repeatable: e.g. hyper_lr=0.3 or freeze_at=0.25 "
                        "(dha and its ablations), samples=100 or mirrored=true (nes), val_batch=128 (autohas); "
                        "an unknown name lists the strategy's options")
    p.add_argument("--checkpoint-every", dest="checkpoint_seconds", type=_positive_float, default=60.0,
                   help="seconds between checkpoints of single-run methods (AutoHAS, NES, DHA; default 60); "
                        "Ctrl-C and SIGTERM save one after the running step")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hasearch", description="Joint hyperparameter + architecture + augmentation search.")
    parser.add_argument("--version", action="version", version=f"hasearch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    search = sub.add_parser("search", help="run a search and compare the result with the baseline")
    _add_search_options(search)
    search.set_defaults(handler=cmd_search)
    resume = sub.add_parser("resume", help="continue a killed or finished run")
    resume.add_argument("dir")
    resume.add_argument("--budget", help="more search time from now, e.g. 5m (default: what remained)")
    resume.set_defaults(handler=cmd_resume)
    show = sub.add_parser("show", help="show a run: baseline vs found configuration")
    show.add_argument("dir")
    show.set_defaults(handler=cmd_show)
    add_latency_parser(sub)
    add_export_parsers(sub)
    sub.add_parser("spaces", help="list built-in search spaces").set_defaults(handler=cmd_spaces)
    sub.add_parser("datasets", help="list built-in data sets").set_defaults(handler=cmd_datasets)
    demo = sub.add_parser("demo", help="a joint search on mnist5k in under 5 minutes")
    demo.add_argument("--out", help="run directory (default runs/demo-<time>)")
    demo.add_argument("--strategy", default=DEMO_STRATEGY, help=f"search method (default {DEMO_STRATEGY})")
    demo.add_argument("--budget", default=DEMO_BUDGET, help=f"search time (default {DEMO_BUDGET})")
    demo.add_argument("--epochs", type=_positive_float, default=DEMO_EPOCHS, help=f"epochs per trial (default {DEMO_EPOCHS:g})")
    demo.set_defaults(handler=cmd_demo)
    return parser


def settings_from_args(args: argparse.Namespace) -> SearchSettings:
    return SearchSettings(
        space=args.space,
        dataset=args.dataset,
        strategy=args.strategy,
        seed=args.seed,
        split_seed=args.split_seed,
        time_budget=parse_duration(args.budget) if args.budget is not None else None,
        max_trials=args.trials,
        max_budget=args.max_budget,
        min_budget=args.min_budget,
        budget_unit=args.budget_unit,
        eta=args.eta,
        final_budget=args.final_budget,
        workers=args.workers,
        threads=args.threads,
        executor=args.executor,
        address=args.address,
        compare_baseline=args.compare_baseline,
        checkpoint_seconds=args.checkpoint_seconds,
        keep_found=args.keep_found,
        controller_lr=args.controller_lr,
        max_macs=args.max_macs,
        max_latency=args.max_latency,
        target_macs=args.target_macs,
        target_latency=args.target_latency,
        device=args.device,
        precision=args.precision,
        trials_per_gpu=args.trials_per_gpu,
        strategy_options=_assignments(args.strategy_options),
    )


def _assignments(pairs: list[str]) -> dict[str, str]:
    """``["hyper_lr=0.3", ...]`` as a mapping (UserError naming a malformed one)."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UserError(f"--option {pair!r} must be NAME=VALUE, e.g. hyper_lr=0.3")
        if name.strip() in out:
            raise UserError(f"--option {name.strip()} is given twice")
        out[name.strip()] = value.strip()
    return out


def _search(settings: SearchSettings, out: str, console: Console) -> int:
    from hasearch.search import execute_search, prepare_search  # torch is imported only to search

    prepared = prepare_search(settings, out, log=lambda text: print(f"hasearch: {text}", file=sys.stderr))  # every check first
    with resumable(out), RichReporter() as reporter:
        execute_search(prepared, reporter=reporter)
    show_run(out, console)
    return 0


def cmd_search(args: argparse.Namespace, console: Console) -> int:
    return _search(settings_from_args(args), args.out, console)


def cmd_resume(args: argparse.Namespace, console: Console) -> int:
    from hasearch.search import resume_search

    more = parse_duration(args.budget) if args.budget is not None else None
    with resumable(args.dir), RichReporter() as reporter:  # draws nothing before the first task: a damaged run is one line
        resume_search(args.dir, more_time=more, reporter=reporter)
    show_run(args.dir, console)
    return 0


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    show_run(args.dir, console)
    return 0


def cmd_spaces(args: argparse.Namespace, console: Console) -> int:
    table = Table(title="built-in search spaces")
    for column in ("name", "model", "parameters (arch / hp / aug)", "description"):
        table.add_column(column)
    for name in builtin_space_names():
        d = resolve_space(name)
        counts = [len(d.space.with_role(role)) for role in Role]
        table.add_row(name, d.family.name, " / ".join(map(str, counts)), d.description)
    console.print(table)
    return 0


def cmd_datasets(args: argparse.Namespace, console: Console) -> int:
    table = Table(title="data sets")
    table.add_column("spec")
    table.add_column("description")
    for spec, source in BUILTIN.items():
        table.add_row(spec, source.description)
    table.add_row("imagefolder:PATH", "one sub-folder per class (or PATH/train + PATH/test|holdout)")
    table.add_row("npz:PATH", "arrays x_train, y_train[, x_test, y_test]")
    console.print(table)
    return 0


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    out = args.out or time.strftime("runs/demo-%Y%m%d-%H%M%S")
    settings = SearchSettings(
        space="mbconv",
        dataset="mnist5k",
        strategy=args.strategy,
        time_budget=parse_duration(args.budget),
        max_budget=args.epochs,
    )
    console.print(f"demo: {settings.strategy} joint search of mbconv on mnist5k for {args.budget}, run in {out}", markup=False)
    return _search(settings, out, console)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hasearch`` console script; returns the exit code."""
    console = Console()
    try:
        args = build_parser().parse_args(argv)
        with sigterm_as_interrupt():
            return int(args.handler(args, console))
    except UserError as exc:
        message = " ".join(str(exc).split())
        if len(message) > MAX_MESSAGE:  # a value quoted from a YAML alias bomb was 5.2 MB
            message = f"{message[:MAX_MESSAGE]}... ({len(message):,} characters)"
        print(f"hasearch: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as stop:
        return report_stop(stop)
    except (MemoryError, RuntimeError) as exc:  # torch reports a failed allocation as RuntimeError
        if not isinstance(exc, MemoryError) and "can't allocate memory" not in str(exc):
            raise
        print("hasearch: error: out of memory: choose a smaller input, batch size or data set", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
