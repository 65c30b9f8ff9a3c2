"""``--option NAME=VALUE``: single-run strategies' meta-hyperparameters from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hasearch.cli.main import main
from hasearch.dha import DHAOptions
from hasearch.errors import UserError
from hasearch.nes import NESOptions
from hasearch.settings import SearchSettings
from hasearch.strategies.registry import STRATEGIES, StrategyOptions
from hasearch.strategies.tunables import tuned
from tests.conftest import one_line_error


def test_values_are_converted_to_the_fields_types_and_the_original_is_kept() -> None:
    base = NESOptions()
    changed = tuned(base, {"rho": "2.5", "samples": "100", "mirrored": "true", "max_updates": "7", "eval_batch": 64})
    assert (changed.rho, changed.samples, changed.mirrored, changed.max_updates, changed.eval_batch) == (2.5, 100, True, 7, 64)
    assert base == NESOptions()  # a copy, never the object passed in
    assert tuned(DHAOptions(), {"hyper_lr": 1, "held_batch": "fresh"}) == DHAOptions(hyper_lr=1.0, held_batch="fresh")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"samples": "many"}, "--option samples=many must be an integer"),
        ({"samples": 2.5}, "--option samples=2.5 must be an integer"),
        ({"samples": True}, "--option samples=True must be an integer"),
        ({"rho": "inf"}, "must be a finite number"),
        ({"mirrored": "maybe"}, "--option mirrored=maybe must be true or false"),
        ({"schedule": "x"}, "not an option of strategy 'NESOptions' (its options: rho, samples,"),  # not settable: no TUNABLE entry
    ],
)
def test_a_bad_value_or_name_is_one_user_error(values: dict[str, object], message: str) -> None:
    with pytest.raises(UserError) as caught:
        tuned(NESOptions(), values)
    assert message in str(caught.value)


def test_every_tunable_name_is_a_field_of_its_options_class() -> None:
    for entry in STRATEGIES.values():
        options_type = entry.load_options_type()
        if options_type is not None:
            fields = set(options_type.__dataclass_fields__)
            assert set(options_type.TUNABLE) <= fields, entry.name


def test_the_strategy_is_built_with_the_options_and_out_of_range_values_are_refused() -> None:
    from hasearch.catalog import resolve_space

    space = resolve_space("darts").space
    options = StrategyOptions(space, 0, 1.0, 3.0, 3, tuning={"hyper_lr": "0.3", "freeze_at": "0.25"})
    strategy = STRATEGIES["dha"].make(options)
    assert (strategy.options.hyper_lr, strategy.options.freeze_at) == (0.3, 0.25)  # type: ignore[attr-defined]
    with pytest.raises(UserError, match="freeze_at"):
        STRATEGIES["dha"].make(StrategyOptions(space, 0, 1.0, 3.0, 3, tuning={"freeze_at": "2"}))


@pytest.mark.parametrize(("strategy", "option"), [("nes", "max_updates"), ("autohas", "max_steps")])
def test_a_zero_step_limit_is_refused(strategy: str, option: str) -> None:
    from hasearch.catalog import resolve_space

    space = resolve_space("mobilenetv2").space
    with pytest.raises(UserError, match=f"{option} >= 1"):
        STRATEGIES[strategy].make(StrategyOptions(space, 0, 1.0, 3.0, 3, tuning={option: "0"}))


def test_settings_copy_the_mapping_and_refuse_non_scalar_values() -> None:
    given = {"hyper_lr": 0.3}
    settings = SearchSettings(space="darts", dataset="digits", strategy="dha", time_budget=10.0, strategy_options=given)
    given["hyper_lr"] = 9.0
    assert settings.strategy_options == {"hyper_lr": 0.3}
    assert SearchSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    with pytest.raises(UserError, match="is not a number, boolean or word"):
        SearchSettings(space="darts", dataset="digits", time_budget=10.0, strategy_options={"hyper_lr": [0.3]})


def test_cli_options_reach_nes_and_are_saved_and_shown_with_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["search", "--space", "mobilenetv2", "--strategy", "nes", "--dataset", "digits", "--budget", "60s", "--epochs", "0.3",
            "--min-budget", "0.3", "--no-baseline", "--out", str(out), "--option", "max_updates=2", "--option", "samples=3"]  # fmt: skip
    assert main(argv) == 0
    entries = json.loads((out / "search" / "history.json").read_text())["entries"]
    assert len(entries) == 2 and max(e["children_scored"] for e in entries) <= 3 + 1  # M = 3 perturbed children + H's
    assert json.loads((out / "settings.json").read_text())["strategy_options"] == {"max_updates": "2", "samples": "3"}
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    assert "max_updates=2, samples=3" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strategy", "dha", "--option", "hyperlr=1"], "--option hyperlr: not an option of strategy 'dha' (its options: search_fraction"),
        (["--strategy", "random", "--option", "samples=3"], "not an option of strategy 'random' (it takes no --option)"),
        (["--strategy", "dha", "--option", "hyper_lr"], "must be NAME=VALUE"),
        (["--strategy", "dha", "--option", "hyper_lr=1", "--option", "hyper_lr=2"], "--option hyper_lr is given twice"),
        (["--strategy", "dha", "--option", "hyper_lr=-1"], "policy_lr and hyper_lr in [0, 10]"),
    ],
)
def test_option_misuse_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str) -> None:
    argv = ["search", "--space", "darts", "--dataset", "digits", "--budget", "5s", "--out", str(tmp_path / "run"), *extra]
    assert message in one_line_error(argv, capsys) and not (tmp_path / "run").exists()
