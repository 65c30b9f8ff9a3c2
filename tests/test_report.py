"""hasearch report: a self-contained page of a run; importance, Pareto front, incumbent."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from hasearch.cli.main import main
from hasearch.report.figures import importance, incumbent_curve, pareto_front
from hasearch.space import Kind, ParamSpec, Role, SearchSpace
from hasearch.store.records import TrialRecord, TrialStatus
from tests.conftest import one_line_error


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.headings: list[str] = []
        self.external: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(values.get("src") or "")
        if tag in ("script", "link") or (values.get("src") or "").startswith("http"):
            self.external.append(tag)
        self._in_h2 = tag == "h2"

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text())
    return page


def _trial(i: int, config: dict, loss: float, *, budget: float = 1.0, macs: float = 1e6) -> TrialRecord:
    return TrialRecord(i, config, budget, TrialStatus.FINISHED, loss, {"val_accuracy": 1 - loss, "macs": macs},
                       started_at=100.0 + i, finished_at=101.0 + i, seconds=1.0, cost=budget)  # fmt: skip


def test_importance_ranks_the_one_parameter_that_matters_first() -> None:
    space = SearchSpace(
        [ParamSpec("lr", Role.HYPERPARAMETER, Kind.FLOAT, low=1e-3, high=1.0, log=True),
         ParamSpec("noise_a", Role.HYPERPARAMETER, Kind.FLOAT, low=0.0, high=1.0),
         ParamSpec("noise_b", Role.HYPERPARAMETER, Kind.CATEGORICAL, choices=("x", "y", "z"))],
        name="synthetic",
    )  # fmt: skip
    rng = np.random.default_rng(0)
    trials = []
    for i in range(60):
        config = {"lr": float(10 ** rng.uniform(-3, 0)), "noise_a": float(rng.uniform()), "noise_b": str(rng.choice(["x", "y", "z"]))}
        trials.append(_trial(i, config, 0.1 + 0.3 * (np.log10(config["lr"]) + 1.5) ** 2 + 0.01 * rng.normal()))
    scores = importance(trials, space)
    assert scores is not None and next(iter(scores)) == "lr" and scores["lr"] > 0.8


def test_pareto_front_and_incumbent() -> None:
    assert pareto_front([(3.0, 0.1, 1), (1.0, 0.3, 2), (2.0, 0.2, 3), (2.5, 0.25, 4)]) == [(1.0, 0.3, 2), (2.0, 0.2, 3), (3.0, 0.1, 1)]
    trials = [_trial(0, {}, 0.5), _trial(1, {}, 0.2, budget=3.0), _trial(2, {}, 0.4)]
    assert incumbent_curve(trials) == [(1.0, 1.0, 0.5), (2.0, 4.0, 0.8), (3.0, 5.0, 0.8)]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    argv = ["search", "--space", "mbconv", "--strategy", "random", "--dataset", "digits", "--trials", "10", "--epochs", "1",
            "--out", str(out), "--no-baseline"]  # fmt: skip
    assert main(argv) == 0
    return out


def test_report_of_a_finished_run_is_one_self_contained_page(finished_run: Path) -> None:
    assert main(["report", str(finished_run)]) == 0
    page = _parse(finished_run / "report.html")
    assert page.headings == ["summary", "settings", "incumbent over time and compute", "validation error vs MACs", "parameter importance"]
    assert len(page.images) == 3 and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert not page.external  # opens offline
    assert sorted(p.name for p in (finished_run / "report").iterdir()) == ["importance.png", "incumbent.png", "pareto.png"]
    assert re.search(r"Pareto front", (finished_run / "report.html").read_text())


def test_report_of_an_unfinished_run_shows_what_is_there(finished_run: Path, tmp_path: Path) -> None:
    unfinished = tmp_path / "run"
    shutil.copytree(finished_run, unfinished)
    (unfinished / "best.json").unlink()  # as a run killed mid-search leaves it
    out = tmp_path / "page.html"
    assert main(["report", str(unfinished), "--out", str(out)]) == 0
    text = out.read_text()
    assert "search not finished" in text and len(_parse(out).images) == 3


def test_report_of_a_missing_run_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "does not exist" in one_line_error(["report", str(tmp_path / "none")], capsys)


def test_compare_puts_seeds_of_one_strategy_together_and_refuses_other_problems(finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    second, other = tmp_path / "second", tmp_path / "other"
    common = ["--dataset", "digits", "--epochs", "1", "--no-baseline"]
    assert main(["search", "--space", "mbconv", "--strategy", "random", "--trials", "3", "--seed", "1", "--out", str(second), *common]) == 0
    assert main(["search", "--space", "mobilenetv2", "--strategy", "uniform-input", "--budget", "5s", "--out", str(other), *common]) == 0
    out = tmp_path / "cmp.html"
    assert main(["compare", str(finished_run), str(second), "--out", str(out)]) == 0
    text = re.sub(r"<[^>]+>", " ", out.read_text())
    assert re.search(r"random\s+2\s+[\d.]+ \+- [\d.]+", text) and len(_parse(out).images) == 1
    capsys.readouterr()
    assert "different problems" in one_line_error(["compare", str(finished_run), str(other), "--out", str(out)], capsys)
    assert main(["compare", str(finished_run), str(other), "--out", str(out), "--force"]) == 0
