"""Seed 000 Sec. 2.2 basis and Eq. 4-5 derivation on hand-checked examples."""

from __future__ import annotations

import pytest

from hasearch.catalog import resolve_space
from hasearch.errors import SpaceError
from hasearch.space import BasisSet, space_from_dict

SPACE = {
    "name": "hand",
    "parameters": [
        {"name": "lr", "role": "hyperparameter", "type": "float", "range": [0.001, 1.0], "log": True, "basis_size": 4},
        {"name": "mixup_alpha", "role": "hyperparameter", "type": "float", "range": [0.0, 1.0]},
        {"name": "batch_size", "role": "hyperparameter", "type": "int", "range": [32, 128], "log": True},
        {"name": "blocks", "role": "architecture", "type": "int", "range": [1, 4]},
        {"name": "kernel", "role": "architecture", "type": "categorical", "choices": [3, 5, 7]},
        {"name": "optimizer", "role": "hyperparameter", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
        {
            "name": "momentum",
            "role": "hyperparameter",
            "type": "float",
            "range": [0.5, 0.9],
            "basis_size": 3,
            "active_if": {"parameter": "optimizer", "in": ["sgd", "rmsprop"]},
        },
    ],
}


@pytest.fixture()
def bases() -> BasisSet:
    return BasisSet(space_from_dict(SPACE))


def test_basis_values(bases: BasisSet) -> None:
    assert bases["lr"].values == pytest.approx((0.001, 0.01, 0.1, 1.0))  # log-spaced, m=4
    assert bases["mixup_alpha"].values == pytest.approx((0.0, 0.25, 0.5, 0.75, 1.0))  # default m=5
    assert bases["batch_size"].values == (32, 45, 64, 91, 128)  # 32 * 2^(k/2), rounded
    assert bases["blocks"].values == (1, 2, 3, 4)  # fewer integers than m: all of them
    assert bases["kernel"].values == (3, 5, 7)
    assert bases["momentum"].values == pytest.approx((0.5, 0.7, 0.9))
    assert bases.sizes == (4, 5, 5, 4, 3, 3, 3)


def test_eq5_continuous_hyperparameters_take_the_weighted_sum(bases: BasisSet) -> None:
    config = bases.derive(
        {
            "lr": [0.1, 0.2, 0.3, 0.4],  # 0.0001 + 0.002 + 0.03 + 0.4
            "mixup_alpha": [0.2, 0.2, 0.2, 0.2, 0.2],
            "batch_size": [0.0, 0.0, 0.5, 0.5, 0.0],  # (64 + 91) / 2 = 77.5 -> 78
            "momentum": [0.25, 0.5, 0.25],
            "optimizer": [0.3, 0.3, 0.4],
        }
    )
    assert config["lr"] == pytest.approx(0.4321)
    assert config["mixup_alpha"] == pytest.approx(0.5)
    assert config["batch_size"] == 78
    assert config["momentum"] == pytest.approx(0.7)
    assert config["optimizer"] == "rmsprop"  # Eq. 5 categorical: argmax


def test_eq4_architecture_takes_the_argmax_even_when_numeric(bases: BasisSet) -> None:
    config = bases.derive({"blocks": [0.1, 0.2, 0.3, 0.4], "kernel": [0.2, 0.5, 0.3]})
    assert config["blocks"] == 4  # not the weighted sum 3.0
    assert config["kernel"] == 5


def test_derived_configuration_drops_inactive_parameters(bases: BasisSet) -> None:
    config = bases.derive({"optimizer": [0.1, 0.8, 0.1], "momentum": [1.0, 0.0, 0.0]})
    assert config["optimizer"] == "adam"
    assert "momentum" not in config


def test_from_indices_picks_basis_elements(bases: BasisSet) -> None:
    config = bases.from_indices({"lr": 2, "kernel": 0, "optimizer": 0, "momentum": 2})
    assert config["lr"] == pytest.approx(0.1) and config["kernel"] == 3 and config["momentum"] == pytest.approx(0.9)


def test_bad_probabilities_are_rejected(bases: BasisSet) -> None:
    with pytest.raises(SpaceError, match="needs 3 probabilities"):
        bases.derive({"kernel": [0.5, 0.5]})
    with pytest.raises(SpaceError, match="sum to 1"):
        bases.derive({"kernel": [0.5, 0.5, 0.5]})
    with pytest.raises(SpaceError, match="unknown parameter"):
        bases.derive({"nope": [1.0]})


def test_builtin_uniform_probabilities_give_a_valid_configuration() -> None:
    for name in ("mbconv", "resnet-joint"):
        space = resolve_space(name).space
        bases = BasisSet(space)
        uniform = {b.param.name: [1.0 / len(b)] * len(b) for b in bases.bases}
        config = bases.derive(uniform)
        space.complete(config)  # validates every value against the space
