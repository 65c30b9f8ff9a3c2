"""Hostile inputs found by a sweep of every command (457 cases): each gets one line and exit 2,
never a traceback, a hang or a crash, and never changes a run."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hasearch.cli.main import main
from tests.conftest import copy_of, one_line_error, snapshot, tiny_run


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory)


@pytest.fixture()
def run(finished: Path, tmp_path: Path) -> Path:
    return copy_of(finished, tmp_path)


READERS = {
    "export": lambda run, out: ["export", str(run), "--out", out],
    "report": lambda run, out: ["report", str(run), "--out", out],
    "compare": lambda run, out: ["compare", str(run), "--out", out],
}


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("target", ["settings.json", "trials.sqlite", "final/model.pt"])
def test_reading_commands_refuse_an_out_over_a_file_of_a_run(
    reader: str, target: str, run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(run)
    assert "is a file in the run" in one_line_error(READERS[reader](run, str(run / target)), capsys)
    assert snapshot(run) == before


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("way", ["dot-dot", "symbolic link", "new file"])
def test_reading_commands_refuse_a_way_round_into_a_run(
    reader: str, way: str, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "link").symlink_to(run / "final")
    out = {"dot-dot": run / "report" / ".." / "settings.json", "symbolic link": tmp_path / "link" / "model.pt", "new file": run / "new.ts"}[way]
    before = snapshot(run)
    assert "in the run" in one_line_error(READERS[reader](run, str(out)), capsys)  # before: settings.json, model.pt overwritten
    assert snapshot(run) == before and not (run / "report").exists()


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize(("out", "message"), [("", "--out is empty"), ("DIR", "is a directory"), ("/dev/full", "not a regular file")])
def test_reading_commands_refuse_an_empty_out_a_folder_and_a_device(
    reader: str, out: str, message: str, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(run)
    out = str(tmp_path) if out == "DIR" else out
    assert message in one_line_error(READERS[reader](run, out), capsys)
    assert snapshot(run) == before  # export --out '' wrote DIR/final/model.ts; report's PNGs came before the check


@pytest.mark.parametrize("reader", list(READERS))
def test_a_failed_write_is_one_line_and_leaves_the_old_file(
    reader: str, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.file"
    out.write_text("old")

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("hasearch.store.run_dir.os.replace", disk_full)
    assert "No space left on device" in one_line_error(READERS[reader](run, str(out)), capsys)
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def _spec_edit(run: Path, **changes: object) -> None:
    spec = run / "final" / "model.json"
    spec.write_text(json.dumps({**json.loads(spec.read_text()), **changes}))


MISFITS = {
    "weights with another tensor": (lambda run: torch.save({"evil": torch.zeros(1)}, run / "final" / "model.pt"), "does not fit the model"),
    "spec with another class count": (lambda run: _spec_edit(run, num_classes=3, classes=["a", "b", "c"]), "does not fit the model"),
    "spec with a class count its names disagree with": (lambda run: _spec_edit(run, num_classes=3), "10 class names for 3 classes"),
    "spec with too few class names": (lambda run: _spec_edit(run, classes=["a"]), "1 class names for 10 classes"),
    "spec with a negative input size": (lambda run: _spec_edit(run, input_shape=[1, -1, 0]), "input shape"),
    "spec with a huge input size": (lambda run: _spec_edit(run, input_shape=[1, 100000, 100000]), "input shape"),  # before: killed for memory
    "spec with a word for a mean": (lambda run: _spec_edit(run, mean="x"), "mean x and std"),  # before: ValueError from torch
    "spec with a NaN in the configuration": (lambda run: _spec_edit(run, config={"dropout": math.nan}), "is not a mapping of finite values"),
}


@pytest.mark.parametrize("case", list(MISFITS))
@pytest.mark.parametrize("command", ["predict", "export"])
def test_a_model_that_does_not_fit_its_spec_is_one_line(
    case: str, command: str, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damage, message = MISFITS[case]
    damage(run)
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (8, 8)).save(image)
    argv = ["predict", str(run), str(image)] if command == "predict" else ["export", str(run), "--out", str(tmp_path / "m.ts")]
    assert message in one_line_error(argv, capsys)


def test_predict_refuses_a_fifo_instead_of_waiting_on_it(finished: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    exe = str(Path(sys.executable).with_name("hasearch"))
    result = subprocess.run([exe, "predict", str(finished), str(fifo)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "not a regular file" in result.stderr and result.stderr.count("\n") == 1


def _npz(tmp_path: Path, name: str, labels: np.ndarray, *, npy: bool = False) -> str:
    x = np.random.default_rng(0).random((len(labels), 8, 8)).astype(np.float32)
    path = tmp_path / name
    if npy:
        np.save(path, x)
    else:
        np.savez(path, x_train=x, y_train=labels)
    return f"npz:{path}"


def _search(tmp_path: Path, *extra: str) -> list[str]:
    return ["search", "--space", "mbconv", "--trials", "1", "--epochs", "1", "--out", str(tmp_path / "new"), *extra]


def test_bad_npz_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    huge = np.arange(200) % 3 * 10**9  # classes 0, 1e9, 2e9: a set of 2e9 names took 24 GB before
    cases = {
        "one array (.npy)": (_npz(tmp_path, "one.npy", np.zeros(1), npy=True), "holds one array, not an archive"),
        "huge labels": (_npz(tmp_path, "huge.npz", huge), "no image has label 1 (max 2000000000)"),
        "one class": (_npz(tmp_path, "one.npz", np.zeros(50, dtype=np.int64)), "at least two classes"),
    }
    for dataset, message in cases.values():
        assert message in one_line_error(_search(tmp_path, "--dataset", dataset), capsys)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--threads", str(5 * (os.cpu_count() or 1))], "more than 4x this machine's"),
        (["--workers", str(5 * (os.cpu_count() or 1))], "more than 4x this machine's"),  # before: up to N processes
        (["--address", "127.0.0.1:1"], "give it with --executor ray"),
        (["--budget", "0.5s"], "shorter than 1 second"),
        (["--budget", "9" * 400], "is not a finite duration"),  # before: OverflowError after the run was created
    ],
)
def test_search_settings_this_machine_cannot_use_are_refused(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in one_line_error(_search(tmp_path, "--dataset", "digits", *extra), capsys)
    assert not (tmp_path / "new").exists()


def test_a_new_run_inside_a_run_is_refused(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(run)
    argv = ["search", "--space", "mbconv", "--dataset", "digits", "--trials", "1", "--out", str(run / "sub")]
    assert "is inside the run" in one_line_error(argv, capsys)
    assert snapshot(run) == before and not (run / "sub").exists()


@pytest.mark.parametrize("value", ["abc", "", "0", "-1", "nan"])
def test_a_bad_progress_interval_is_one_line(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HASEARCH_PROGRESS_SECONDS", value)  # 0, -1, nan: a busy loop of 40,000 lines in 10 s before
    assert "HASEARCH_PROGRESS_SECONDS" in one_line_error(_search(tmp_path, "--dataset", "digits"), capsys)


def test_a_cache_home_that_is_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert "is not a folder; set XDG_CACHE_HOME" in one_line_error(["latency", "--space", "resnet-joint", "--input", "1x8x8"], capsys)


def test_odd_arguments_of_reading_commands_are_one_line(finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = tmp_path / "inf.yaml"
    space.write_text("name: x\nmodel: mbconv\nparameters:\n  - {name: lr, role: hyperparameter, type: float, range: [0.01, .inf]}\n")
    assert "give 2 to 1000 children" in one_line_error(["latency", "--space", "mbconv", "--validate", "0"], capsys)
    assert "is a file, not a run directory" in one_line_error(["show", str(finished / "best.json")], capsys)
    assert "must be finite" in one_line_error(_search(tmp_path, "--dataset", "digits", "--space", str(space)), capsys)


def test_running_out_of_memory_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def allocate(*args: object) -> int:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you tried to allocate 268435456 bytes")

    monkeypatch.setattr("hasearch.cli.main.cmd_spaces", allocate)
    assert "out of memory" in one_line_error(["spaces"], capsys)


@pytest.fixture(scope="module")
def autohas_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("autohas") / "run"
    argv = ["search", "--space", "mbconv", "--strategy", "autohas", "--dataset", "digits", "--budget", "4s",
            "--epochs", "1", "--no-baseline", "--out", str(out)]
    assert main(argv) == 0 and (out / "autohas" / "checkpoint.pt").is_file()
    return out


def _checkpoint_of_another_search(checkpoint: Path) -> None:
    blob = torch.load(checkpoint, weights_only=True)
    torch.save({**blob, "network": {"stem.0.weight": torch.zeros(3, 3)}}, checkpoint)


CHECKPOINT_DAMAGE = {
    "text": lambda checkpoint: checkpoint.write_text("hello"),  # before: KeyError: 101 from torch.load
    "a plain dict": lambda checkpoint: torch.save({"network": {}}, checkpoint),  # before: KeyError 'optimizers'
    "another network": _checkpoint_of_another_search,  # before: RuntimeError, size mismatch
    "a configuration outside the space": lambda checkpoint: torch.save(
        {**torch.load(checkpoint, weights_only=True), "base": {"kernel_0": 4}}, checkpoint),
}


@pytest.mark.parametrize("case", list(CHECKPOINT_DAMAGE))
def test_resume_from_a_checkpoint_that_does_not_fit_is_one_line(
    case: str, autohas_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(autohas_run, run)
    CHECKPOINT_DAMAGE[case](run / "autohas" / "checkpoint.pt")
    before = snapshot(run)
    assert main(["resume", str(run)]) == 2  # the finished search's result is derived from the checkpoint again
    err = capsys.readouterr().err
    error = err.strip().splitlines()[-1]  # after the lines announcing the search, which come first
    assert error.startswith("hasearch: error: ") and "Traceback" not in err and err.count("hasearch: error") == 1
    assert "checkpoint.pt" in error and ("does not fit this run's search" in error or "was refused" in error)
    assert snapshot(run) == before


def test_settings_of_the_wrong_kind_are_named(finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    settings = run / "settings.json"
    settings.write_text(json.dumps({**json.loads(settings.read_text()), "time_budget": "20"}))
    before = snapshot(run)
    error = one_line_error(["resume", str(run)], capsys)  # before: ValueError: Unknown format code 'f' for 'str'
    assert "settings.json" in error and "time_budget must be float or None" in error
    assert snapshot(run) == before


def test_an_error_quoting_a_huge_value_stays_short(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    anchors = ["  - &a [x, x, x, x, x, x, x, x, x, x]"]
    anchors += [f"  - &{n} [{', '.join(['*' + p] * 10)}]" for p, n in zip("abcde", "bcdef", strict=True)]
    space = tmp_path / "bomb.yaml"
    space.write_text("name: t\nmodel: mbconv\ndescription:\n" + "\n".join(anchors) + "\nparameters:\n"
                     "  - {name: lr, role: hyperparameter, type: float, range: [0.01, 0.1]}\nbaseline: {lr: *f}\n")
    error = one_line_error(_search(tmp_path, "--dataset", "digits", "--space", str(space)), capsys)
    assert "'description' must be a string, got a list" in error and len(error) < 700  # before: 5.2 MB, the expanded aliases
    space.write_text(space.read_text().replace("description:\n", "description: a bomb\nbomb:\n"))
    assert "unknown field 'bomb'" in one_line_error(_search(tmp_path, "--dataset", "digits", "--space", str(space)), capsys)


@pytest.mark.parametrize("values", [{"time_budget": -5.0}, {"time_budget": math.nan}, {"max_budget": math.inf}, {"checkpoint_seconds": -1.0}])
def test_settings_in_python_refuse_budgets_that_are_not_positive_and_finite(values: dict[str, float]) -> None:
    from hasearch.errors import UserError
    from hasearch.settings import SearchSettings

    with pytest.raises(UserError, match="must be a positive finite number"):  # before: -5 and nan ran a search of 0 trials
        SearchSettings(space="mbconv", dataset="digits", **{"time_budget": 60.0, **values})


def test_show_says_when_the_space_that_resume_and_report_need_is_damaged(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (run / "space.yaml").write_text("garbage: [\n")
    assert main(["show", str(run)]) == 0
    assert "note: space.yaml: malformed YAML at line 2; resume and report need it" in capsys.readouterr().out


def _mbconv_space() -> object:
    from hasearch.catalog import resolve_space

    return resolve_space("mbconv").space


@pytest.mark.parametrize(
    ("values", "message"),
    [({"top_n_percent": 200}, "top_n_percent must be a number in (0, 100)"), ({"random_fraction": 2}, "random_fraction must be a number in [0, 1]"),
     ({"num_samples": 0}, "num_samples must be an integer in [1, 100000]"), ({"bandwidth_factor": -1.0}, "bandwidth_factor must be a positive")],
)  # fmt: skip
def test_bohb_refuses_model_settings_outside_their_ranges(values: dict[str, float], message: str) -> None:
    from hasearch.strategies import BOHB

    with pytest.raises(ValueError, match=re.escape(message)):
        BOHB(_mbconv_space(), min_budget=1, max_budget=9, **values)  # before: accepted, and never learned or failed later


def test_random_search_refuses_a_budget_of_nothing_and_a_space_of_the_wrong_kind() -> None:
    from hasearch.strategies import RandomSearch

    with pytest.raises(ValueError, match="max_budget must be a positive finite number, got 0"):
        RandomSearch(_mbconv_space(), max_budget=0)
    with pytest.raises(TypeError, match="space must be a hasearch SearchSpace or a ConfigSpace ConfigurationSpace, got NoneType"):
        RandomSearch(None)  # type: ignore[arg-type]  # before: AttributeError deep in ConfigSpace


@pytest.mark.parametrize(
    ("values", "message"),
    [({"controller_lr": -1.0}, "controller_lr in (0, 1]"), ({"val_batch": 2.5}, "AutoHAS option val_batch must be int, got 2.5"),
     ({"warmup": "0.3"}, "AutoHAS option warmup must be float, got '0.3'"), ({"history_every": 0}, "history_every >= 1")],
)  # fmt: skip
def test_autohas_options_of_the_wrong_kind_or_range_are_named(values: dict[str, object], message: str) -> None:
    from hasearch.autohas import AutoHAS, AutoHASOptions
    from hasearch.errors import UserError

    with pytest.raises(UserError, match=re.escape(message)):
        AutoHAS(options=AutoHASOptions(**values))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="options must be AutoHASOptions, got str"):
        AutoHAS(options="joint")  # type: ignore[arg-type]


def test_nes_and_dha_options_of_the_wrong_kind_are_named() -> None:
    from hasearch.dha.strategy import DHA, DHAOptions
    from hasearch.errors import UserError
    from hasearch.nes.strategy import NES, NESOptions

    with pytest.raises(UserError, match="NES option samples must be int, got '5'"):
        NES(options=NESOptions(samples="5"))  # type: ignore[arg-type]
    with pytest.raises(UserError, match="DHA option hyper_lr must be float, got None"):
        DHA(options=DHAOptions(hyper_lr=None))  # type: ignore[arg-type]


def test_a_basis_index_outside_the_basis_is_refused() -> None:
    from hasearch.errors import SpaceError
    from hasearch.space import BasisSet

    bases = BasisSet(_mbconv_space())
    with pytest.raises(SpaceError, match=r"basis index -1 of lr is outside \[0, 5\)"):
        bases.from_indices({"lr": -1})  # before: the last basis value
    with pytest.raises(SpaceError, match="unknown parameter 'nope'"):
        bases.from_indices({"nope": 0})


def test_a_choice_of_the_wrong_kind_for_its_reader_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = tmp_path / "words.yaml"
    space.write_text("model: mbconv\nparameters:\n  - {name: label_smoothing, role: hyperparameter, type: categorical, choices: [0.0, 5e-06]}\n")
    error = one_line_error(_search(tmp_path, "--dataset", "digits", "--space", str(space)), capsys)
    assert "parameter 'label_smoothing': value '5e-06' cannot be used" in error  # before: TypeError from the check


def test_a_space_whose_run_file_could_not_be_read_back_is_refused_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    choices = ", ".join(f"{i / 1_000_000:.6f}" for i in range(80_000))  # 800 kB here, over 1 MB one per line
    space = tmp_path / "many.yaml"
    space.write_text(f"model: mbconv\nparameters:\n  - {{name: label_smoothing, role: hyperparameter, type: categorical, choices: [{choices}]}}\n")
    argv = _search(tmp_path, "--dataset", "digits", "--space", str(space))
    assert "more than a run's space file may hold" in one_line_error(argv, capsys)
    assert not Path(argv[argv.index("--out") + 1]).exists()  # before: a run that resume could not read


def test_paths_that_look_like_rich_markup_are_printed_as_they_are(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    monkeypatch.setenv("COLUMNS", "500")  # long temporary paths on one line

    odd = tmp_path / "["
    odd.mkdir()
    run = odd / "r]"
    shutil.copytree(finished, run)
    Image.new("L", (8, 8)).save(odd / "x].png")
    for argv in (["predict", str(run), str(odd / "x].png")], ["export", str(run), "--out", str(odd / "y].ts")],
                 ["report", str(run)], ["compare", str(run), str(finished), "--out", str(odd / "c].html")], ["show", str(run)]):
        assert main(argv) == 0, argv  # before: rich.errors.MarkupError ('[/...]' closes no tag)
    printed = capsys.readouterr().out
    assert "x].png" in printed and "y].ts" in printed and "c].html" in printed


def test_sixteen_bit_images_keep_their_grey_levels_and_float_images_are_one_line(tmp_path: Path) -> None:
    from PIL import Image

    from hasearch.data.sources import read_images
    from hasearch.errors import DataError

    levels = np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000
    Image.fromarray(levels).save(tmp_path / "g16.png")
    x = read_images([tmp_path / "g16.png"], size=(8, 8), channels=1)
    assert float(x.mean()) == pytest.approx(float((levels / 65535).mean()), abs=1e-3)  # before: 0.997 (clipped at 255)
    Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(DataError, match="32-bit float pixels have no fixed range"):
        read_images([tmp_path / "f.tiff"], size=(8, 8), channels=1)  # before: all zeros, silently


def test_damaged_json_nested_deeply_and_damaged_latency_tables_are_handled(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (run / "best.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "JSON nested too deeply" in one_line_error(["show", str(run)], capsys)  # before: RecursionError
    from hasearch.catalog import resolve_space
    from hasearch.supernet import latency_model
    from hasearch.supernet.latency import cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    family = resolve_space("mbconv").family
    for entries, scale in (({("stem",): -8.0}, 1.0), ({("stem",): 2.0}, math.nan)):
        table = latency_model(family, (1, 8, 8), 10)
        table.entries, table.scale, table.built = entries, scale, True
        table.save()
        reread = latency_model(family, (1, 8, 8), 10)
        assert table.path.parent == cache_dir() and reread.entries == {} and not reread.built  # before: -8 ms or NaN predicted


def test_a_data_set_too_small_to_train_on_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _npz(tmp_path, "three.npz", np.array([0, 1, 2]))
    argv = ["search", "--space", "mobilenetv2", "--strategy", "nes", "--dataset", data, "--budget", "3s", "--out", str(tmp_path / "run")]
    assert "1 training images after the split (of 3); hasearch needs at least 8" in one_line_error(argv, capsys)  # before: BatchNorm traceback


@pytest.mark.parametrize(
    ("strategy", "space", "option", "message"),
    [("dha", "darts", "policy_lr=1e308", "policy_lr and hyper_lr in [0, 10]"), ("dha", "darts", "epochs=0", "epochs > 0"),
     ("autohas", "mbconv", "flops_beta=-1e308", "flops_beta in [-10, 0]")],
)  # fmt: skip
def test_single_run_options_far_out_of_range_are_one_line(
    strategy: str, space: str, option: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["search", "--space", space, "--strategy", strategy, "--dataset", "digits", "--budget", "3s", "--option", option, "--out", str(tmp_path / "run")]
    assert message in one_line_error(argv, capsys)  # before: an overflow or NaN-probability traceback mid-search


@pytest.mark.parametrize(
    ("images", "top", "message"),
    [("x.png", 3, "images must be a non-empty list"), ([], 3, "images must be a non-empty list"),
     (["x.png"], "3", "top must be an integer >= 1, got '3'"), (["x.png"], 0, "top must be an integer >= 1, got 0")],
)  # fmt: skip
def test_predict_in_python_names_a_wrong_images_or_top(finished: Path, images: object, top: object, message: str) -> None:
    from hasearch.errors import UserError
    from hasearch.export import predict_files

    with pytest.raises(UserError, match=re.escape(message)):
        predict_files(finished, images, top=top)  # type: ignore[arg-type]  # before: read letter by letter, numpy's stack error, []


def test_a_space_of_the_wrong_kind_in_python_is_named() -> None:
    from hasearch.catalog import resolve_space
    from hasearch.space import load_space

    with pytest.raises(TypeError, match="space must be a built-in space's name or a YAML file's path, got NoneType"):
        resolve_space(None)  # type: ignore[arg-type]  # before: 'NoneType' object has no attribute 'endswith'
    with pytest.raises(TypeError, match="path must be a str or Path, got int"):
        load_space(3)  # type: ignore[arg-type]
    assert resolve_space(Path("mbconv")).space.name == "mbconv"  # a Path names a built-in space as its string does
