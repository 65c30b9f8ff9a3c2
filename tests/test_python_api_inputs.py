"""The Python API with arguments of the wrong kind or range (a fourth sweep, 281 calls): each
fails with an exception naming the argument, numpy scalars count as numbers, and nothing the
caller passed in is changed."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import ConfigSpace as CS
import numpy as np
import pytest

from hasearch.catalog import resolve_space
from hasearch.errors import UserError
from hasearch.settings import SearchSettings
from hasearch.strategies import BOHB, Hyperband, RandomSearch
from tests.conftest import tiny_run

SPACE = resolve_space("mbconv").space


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory)


def test_a_failed_resume_releases_the_run(finished: Path, tmp_path: Path) -> None:
    from hasearch.search import resume_search

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    with pytest.raises(UserError, match="more_time must be a positive finite number of seconds, got -5"):
        resume_search(str(run), more_time=-5)
    resume_search(str(run))  # before: 'in use by another hasearch process' for the rest of the process


def test_numpy_scalars_are_numbers() -> None:
    from hasearch.autohas import AutoHAS, AutoHASOptions

    settings = SearchSettings(space="mbconv", dataset="digits", max_trials=np.int64(2), seed=np.int64(3), max_budget=np.float32(2.5),
                              strategy_options={"hyper_lr": np.float32(0.25)})  # fmt: skip
    assert (type(settings.seed), type(settings.max_budget), type(settings.strategy_options["hyper_lr"])) == (int, float, float)
    assert Hyperband(SPACE, min_budget=1, max_budget=9, eta=np.int64(3)).plans[0].budgets == (1.0, 3.0, 9.0)
    BOHB(SPACE, min_budget=1, max_budget=9, num_samples=np.int64(8))
    options = AutoHASOptions(val_batch=np.int64(64))
    assert type(AutoHAS(options=options).options.val_batch) is int and type(options.val_batch) is np.int64  # the caller's: untouched


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [(lambda: Hyperband(SPACE, min_budget=1, max_budget=math.inf), ValueError, "both finite"),
     (lambda: Hyperband(SPACE, min_budget=1e-300, max_budget=1e300), ValueError, "both finite"),
     (lambda: Hyperband(SPACE, min_budget=1, max_budget=9, eta=math.nan), ValueError, "eta must be an integer >= 2"),
     (lambda: BOHB(SPACE, min_budget=1, max_budget=9, adaptive_floor=math.inf), ValueError, "adaptive_floor must be None or a positive finite number"),
     (lambda: BOHB(SPACE, min_budget=1, max_budget=9, num_samples=10**12), ValueError, "num_samples must be an integer in [1, 100000]"),
     (lambda: RandomSearch(CS.ConfigurationSpace()), ValueError, "no hyperparameters to search"),
     (lambda: SearchSettings(space="mbconv", dataset="digits", max_trials=1, final_budget=math.nan), UserError, "--final-budget must be"),
     (lambda: __import__("hasearch.search").search.run_search(None, "x"), TypeError, "settings must be SearchSettings, got NoneType")],
)  # fmt: skip
def test_arguments_out_of_range_are_named(make: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        make()  # type: ignore[operator]  # before: OverflowError, MemoryError, scipy's domain error, ZeroDivisionError, ...


def test_tell_names_a_job_that_is_not_one_and_takes_a_huge_loss_as_a_failure() -> None:
    search = RandomSearch(SPACE, max_budget=1)
    job = search.ask()
    with pytest.raises(TypeError, match="tell: job must be a Job"):
        search.tell(None, 0.5)  # type: ignore[arg-type]
    search.tell(job, 10**400)  # before: OverflowError
    assert not search.pending


def test_readers_name_a_wrong_list_of_runs_or_out(finished: Path, tmp_path: Path) -> None:
    from hasearch.export import export_model
    from hasearch.report.compare import write_comparison

    for paths in (str(finished), []):
        with pytest.raises(UserError, match="non-empty list"):
            write_comparison(paths, tmp_path / "c.html")  # type: ignore[arg-type]  # before: letter by letter, or a page of no runs
    with pytest.raises(TypeError, match="out must be a path"):
        export_model(finished, "torchscript", out=5)  # type: ignore[arg-type]  # before: a file named 5
    assert not (Path.cwd() / "5").exists()


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [(lambda: RandomSearch(SPACE, max_budget=None), ValueError, "max_budget must be a positive finite number, got None"),
     (lambda: RandomSearch(SPACE, seed=-1), ValueError, r"seed must be an integer in \[0, 2\*\*32\), got -1"),
     (lambda: BOHB(SPACE, min_budget=1, max_budget=9, num_samples=True), ValueError, r"num_samples must be an integer in \[1, 100000\], got True"),
     (lambda: BOHB(SPACE, min_budget=1, max_budget=9, top_n_percent=None), ValueError, "top_n_percent must be a number in"),
     (lambda: BOHB(SPACE, min_budget=1, max_budget=9, random_fraction="0.3"), ValueError, "random_fraction must be a number in"),
     (lambda: BOHB(SPACE, min_budget=1, max_budget=9, bandwidth_factor=10**400), ValueError, "bandwidth_factor must be a positive finite number"),
     (lambda: BOHB(SPACE, min_budget=1, max_budget=9, min_bandwidth=None), ValueError, "min_bandwidth must be a positive finite number, got None"),
     (lambda: BOHB(SPACE, min_budget=1, max_budget=9, adaptive_floor="1"), ValueError, "adaptive_floor must be None or a positive"),
     (lambda: BOHB(SPACE, min_budget=1, max_budget=9, min_points_in_model="5"), ValueError, "min_points_in_model must be None or an integer >= 1, got '5'"),
     (lambda: BOHB(SPACE, min_budget=1, max_budget=9, min_points_in_model=-5), ValueError, "min_points_in_model must be None or an integer >= 1, got -5"),
     (lambda: BOHB(SPACE, min_budget=1, max_budget=9, min_points_in_model=2.5), ValueError, "min_points_in_model must be None or an integer >= 1, got 2.5"),
     (lambda: BOHB(SPACE, min_budget=1, max_budget=9, integer_budgets="no"), TypeError, "integer_budgets must be True or False, got 'no'"),
     (lambda: __import__("hasearch.space").space.BasisSet(SPACE).derive(None), TypeError, "derive: probabilities must be a mapping"),
     (lambda: __import__("hasearch.space").space.BasisSet(SPACE).from_indices({"lr": 2.5}), Exception, "basis index 2.5 of lr"),
     (lambda: __import__("hasearch.search").search.resume_search(None), TypeError, "run directory must be a path"),
     (lambda: __import__("hasearch.search").search.run_search(SearchSettings(space="mbconv", dataset="digits", max_trials=1), None),
      TypeError, "out must be a path")],
)  # fmt: skip
def test_arguments_of_the_wrong_kind_are_named(make: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()  # type: ignore[operator]  # before: comparison TypeErrors, numpy's seed error, pathlib's, 2.5 as an index


def test_a_space_path_and_numpy_range_values_are_taken() -> None:
    from hasearch.space.yaml_io import space_from_dict

    assert SearchSettings(space=Path("mbconv"), dataset="digits", max_trials=1).space == "mbconv"
    param = {"name": "lr", "role": "hyperparameter", "type": "float", "range": [np.float64(0.01), np.float32(0.5)]}
    assert space_from_dict({"model": "mbconv", "parameters": [param]})["lr"].high == pytest.approx(0.5)


def test_the_last_loose_arguments_are_named(finished: Path) -> None:
    from hasearch.errors import SpaceError
    from hasearch.export import export_model, predict_files
    from hasearch.space import BasisSet
    from hasearch.space.yaml_io import dump_space

    with pytest.raises(TypeError, match="start_with_baseline must be True or False, got 'no'"):
        RandomSearch(SPACE, start_with_baseline="no")  # type: ignore[arg-type]  # before: taken as True
    with pytest.raises(SpaceError, match="the probabilities of lr must be numbers"):
        BasisSet(SPACE).derive({"lr": "abc"})  # type: ignore[dict-item]
    for call in (lambda: BasisSet(None), lambda: dump_space(None)):  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="space must be a SearchSpace, got NoneType"):
            call()
    with pytest.raises(UserError, match="images must be a non-empty list"):
        predict_files(finished, b"x.png")  # type: ignore[arg-type]  # before: bytes read as numbers
    from hasearch.report import write_report

    for call in (lambda: export_model(None, "torchscript"), lambda: write_report(None)):  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="run directory must be a path"):
            call()  # before: pathlib's "expected str, bytes or os.PathLike object"
    with pytest.raises(UserError, match=r"unknown export format \['onnx'\]"):
        export_model(finished, ["onnx"])  # type: ignore[arg-type]  # before: unhashable type
    with pytest.raises(TypeError, match="each image must be a path"):
        predict_files(finished, [None])  # type: ignore[list-item]
