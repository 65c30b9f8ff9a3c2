from __future__ import annotations

from pathlib import Path

import ConfigSpace as CS
import numpy as np
import pytest
import yaml

from hasearch.catalog import builtin_space_names, resolve_space
from hasearch.errors import SpaceError
from hasearch.space import (
    Kind,
    Role,
    SearchSpace,
    dump_space,
    load_space,
    space_from_dict,
    space_to_dict,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "small-mbconv.yaml"


def test_builtin_spaces_round_trip_through_yaml(tmp_path: Path) -> None:
    for name in builtin_space_names():
        space = resolve_space(name).space
        text = dump_space(space)
        again = space_from_dict(yaml.safe_load(text), source="again")
        assert dump_space(again) == text
        assert again.params == space.params
        assert again.baseline == space.baseline


def test_example_file_round_trips(tmp_path: Path) -> None:
    space = load_space(EXAMPLE)
    out = tmp_path / "out.yaml"
    out.write_text(dump_space(space))
    assert load_space(out).params == space.params
    assert resolve_space(str(EXAMPLE)).family.name == "mbconv"


def test_roles_kinds_and_order_are_kept() -> None:
    space = resolve_space("resnet-joint").space
    assert len(space.with_role(Role.ARCHITECTURE)) == 10
    assert len(space.with_role(Role.HYPERPARAMETER)) + len(space.with_role(Role.AUGMENTATION)) == 7
    assert space["lr"].log and space["batch_size"].kind is Kind.INT and space["batch_size"].log
    ordered = {p.name for p in space.ordered_architecture()}
    assert {"filters", "res_blocks_1", "res_branches_3"} <= ordered
    assert "widen_factor_1" not in ordered  # float: not an ordered integer choice
    assert space.configspace["lr"].meta["role"] == "hyperparameter"


def test_condition_deactivates_child() -> None:
    space = resolve_space("resnet-joint").space
    rng = np.random.default_rng(0)
    seen_active = seen_inactive = False
    for _ in range(200):
        config = dict(space.sample(rng))
        single = any(config[f"res_branches_{j}"] == 1 for j in (1, 2, 3))
        assert ("shakedrop_death_rate" in config) == single
        seen_active |= single
        seen_inactive |= not single
    assert seen_active and seen_inactive


def test_complete_fills_defaults_and_drops_inactive() -> None:
    space = resolve_space("mbconv").space
    config = space.complete({"optimizer": "adam", "lr": 0.01})
    assert config["optimizer"] == "adam" and "momentum" not in config
    assert config["kernel_0"] == 3


def _space(**override: object) -> dict:
    param = {"name": "lr", "role": "hyperparameter", "type": "float", "range": [0.001, 1.0], "log": True}
    param.update(override)
    return {"name": "t", "model": "mbconv", "parameters": [param]}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"role": "bogus"}, "role must be one of"),
        ({"type": "complex"}, "type must be one of"),
        ({"range": [1.0, 0.1]}, "'range' needs two numbers"),
        ({"range": [0.0, 1.0]}, "log-scale range must be positive"),
        ({"default": 5.0}, "default 5.0 is outside"),
        ({"basis_size": 1}, "basis_size must be an integer in [2, 64]"),
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"name": "bad name"}, "'name' must be an identifier"),
        ({"active_if": {"parameter": "nope", "in": [1]}}, "unknown parameter 'nope'"),
        ({"range": ["1e-3", 1.0]}, "'range' value '1e-3' is text in YAML 1.1"),
        ({"range": [-1e308, 1e308], "log": False}, "is wider than a float can hold"),
        ({"type": "int", "range": [0, 10**30], "log": False}, "must lie within +-2**53"),
        ({"choices": [0.1, 1.0]}, "'choices' does not apply to a float parameter"),
        ({"type": "categorical", "choices": ["a", "b"], "range": None}, "'log' does not apply to a categorical parameter"),
    ],
)
def test_schema_errors_name_the_field(override: dict, message: str) -> None:
    with pytest.raises(SpaceError, match=None) as info:
        space_from_dict(_space(**override), source="s.yaml")
    assert message in str(info.value)
    assert "s.yaml" in str(info.value)


def test_baseline_out_of_range_is_rejected() -> None:
    data = _space()
    data["baseline"] = {"lr": 3.0}
    with pytest.raises(SpaceError, match="baseline: lr=3.0 is outside"):
        space_from_dict(data)


def test_unknown_parameter_for_model_is_rejected(tmp_path: Path) -> None:
    data = _space(name="kernel_size_everywhere")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpaceError, match="read by neither model 'mbconv' nor the trainer"):
        resolve_space(str(path))


def test_unbuildable_value_is_rejected(tmp_path: Path) -> None:
    data = {"model": "mbconv", "parameters": [{"name": "kernel_0", "role": "architecture", "type": "categorical", "choices": [3, 4]}]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpaceError, match="kernel_0.*4"):
        resolve_space(str(path))


@pytest.mark.parametrize(("top", "message"), [({"name": [1]}, "'name' must be a string"), ({"description": {"a": 1}}, "'description' must be a string")])
def test_top_level_words_must_be_strings(top: dict, message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        space_from_dict({**_space(), **top}, source="s.yaml")


def test_a_key_given_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("model: mbconv\nparameters:\n  - {name: lr, role: hyperparameter, type: float, range: [0.01, 0.1], range: [0.1, 1.0]}\n")
    with pytest.raises(SpaceError, match=r"^twice.yaml: key 'range' appears twice in one mapping \(line 3\)$"):
        load_space(path)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nparameters:\n  - name: [unclosed\n")
    with pytest.raises(SpaceError, match="bad.yaml: malformed YAML at line"):
        load_space(path)


def test_repeat_expands_with_index_list() -> None:
    data = {"parameters": [{"name": "w_{i}", "repeat": [1, 2], "role": "architecture", "type": "int", "range": [1, 4]}]}
    space = space_from_dict(data)
    assert space.names == ("w_1", "w_2")


def test_from_configspace_keeps_types_and_conditions() -> None:
    cs = CS.ConfigurationSpace(seed=0)
    opt = CS.Categorical("opt", ["sgd", "adam"])
    mom = CS.Float("momentum", (0.0, 0.99))
    cs.add([opt, mom, CS.Integer("layers", (1, 8), log=True), CS.OrdinalHyperparameter("width", [16, 32, 64])])
    cs.add(CS.EqualsCondition(mom, opt, "sgd"))
    space = SearchSpace.from_configspace(cs)
    assert space["layers"].kind is Kind.INT and space["layers"].log
    assert space["width"].kind is Kind.ORDINAL and space["width"].is_ordered
    assert space["momentum"].condition is not None
    assert "momentum" not in space.configuration({"opt": "adam", "momentum": 0.5, "layers": 2, "width": 16})


def test_space_to_dict_is_plain_data() -> None:
    data = space_to_dict(resolve_space("resnet-joint").space)
    yaml.safe_dump(data)  # would raise on numpy or enum values
    assert data["parameters"][0]["name"] == "lr"


def test_per_optimizer_learning_rate() -> None:
    from hasearch.train.hparams import TrainingHyperparameters

    space = resolve_space("mbconv").space
    adam = space.complete({"optimizer": "adam", "lr_adam": 0.002})
    assert "lr" not in adam and "lr_rmsprop" not in adam and "momentum" not in adam
    assert TrainingHyperparameters.from_config(adam).lr == 0.002
    sgd = space.complete({"optimizer": "sgd"})
    assert TrainingHyperparameters.from_config(sgd).lr == 0.05 and "lr_adam" not in sgd


def test_the_fine_benchmark_space_is_the_builtin_mobilenetv2_with_finer_ordered_steps() -> None:
    """benchmarks/spaces/mobilenetv2-fine.yaml (the NES Table 1 grid experiment) stays in step
    with the built-in space: four times finer width and input steps, everything else equal."""
    fine = resolve_space(str(Path(__file__).resolve().parents[1] / "benchmarks" / "spaces" / "mobilenetv2-fine.yaml"))
    coarse = resolve_space("mobilenetv2")
    assert fine.family.name == "mobilenetv2" and fine.space.baseline == coarse.space.baseline
    fine_params, coarse_params = {p.name: p for p in fine.space.params}, {p.name: p for p in coarse.space.params}
    assert fine_params.keys() == coarse_params.keys()
    finer = {n for n in fine_params if fine_params[n] != coarse_params[n]}
    assert finer == {"width_0", "width_1", "width_2", "width_3", "input_scale"}
    assert fine_params["width_0"].choices == tuple(0.5 + k * 0.0625 for k in range(17))
    assert fine_params["input_scale"].choices == tuple(0.5 + k / 32 for k in range(17))
