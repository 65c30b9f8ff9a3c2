from __future__ import annotations

import numpy as np
import pytest

from hasearch import RandomSearch
from hasearch.space import SearchSpace
from hasearch.strategies.base import SingleRunStrategy, Strategy
from hasearch.strategies.registry import STRATEGIES, StrategyOptions
from tests.strategy_contract import check_contract, drive, toy_space


def _factory(name: str):  # type: ignore[no-untyped-def]
    def make(space, seed):  # type: ignore[no-untyped-def]
        space = space if isinstance(space, SearchSpace) else SearchSpace.from_configspace(space)
        return STRATEGIES[name].make(StrategyOptions(space, seed, min_budget=1, max_budget=9, eta=3))

    return make


MULTI_TRIAL = [name for name in STRATEGIES if isinstance(_factory(name)(toy_space(), 0), Strategy)]


@pytest.mark.parametrize("name", MULTI_TRIAL)
def test_every_multi_trial_strategy_satisfies_the_contract(name: str) -> None:
    check_contract(_factory(name))


def test_every_registered_strategy_is_one_of_the_two_seams() -> None:
    for name in STRATEGIES:
        assert isinstance(_factory(name)(toy_space(), 0), (Strategy, SingleRunStrategy))


def test_random_search_covers_the_prior() -> None:
    opt = RandomSearch(toy_space(), max_budget=27, seed=0)
    jobs = [job for job, _ in drive(opt, 400)]
    assert {j.budget for j in jobs} == {27.0}
    lrs = np.log10([j.config["lr"] for j in jobs])
    assert lrs.min() < -3.5 and lrs.max() > -0.5  # log-uniform over [1e-4, 1]
    assert abs(np.mean([j.config["opt"] == "sgd" for j in jobs]) - 0.5) < 0.1
    assert {j.config["layers"] for j in jobs} == set(range(1, 9))


def test_tell_refuses_misuse_with_documented_exceptions() -> None:
    mine, other = RandomSearch(toy_space(), max_budget=1, seed=0), RandomSearch(toy_space(), max_budget=1, seed=0)
    job = mine.ask()
    assert job is not None
    mine.tell(job, 0.5)
    with pytest.raises(ValueError, match="not pending"):
        mine.tell(job, 0.4)  # told twice
    pending, foreign = mine.ask(), other.ask()
    other_job = other.ask()
    assert pending is not None and foreign is not None and other_job is not None
    with pytest.raises(ValueError, match="not pending"):
        mine.tell(other_job, 0.1)  # same id as a pending job of mine, asked from another strategy
    with pytest.raises(TypeError, match="real number"):
        mine.tell(pending, None)  # type: ignore[arg-type]
    mine.tell(pending, float("nan"))  # a failed job is a legal result


@pytest.mark.parametrize("name", MULTI_TRIAL)
def test_a_search_never_reseeds_the_callers_configspace(name: str) -> None:
    reference = toy_space()
    reference.seed(123)
    expected = [dict(reference.sample_configuration()) for _ in range(5)]
    mine = toy_space()
    mine.seed(123)
    drive(_factory(name)(mine, 0), 30)
    assert [dict(mine.sample_configuration()) for _ in range(5)] == expected


@pytest.mark.parametrize("name", MULTI_TRIAL)
def test_every_multi_trial_strategy_proposes_only_configurations_under_the_limit(name: str) -> None:
    from hasearch.space import Constraint

    space = SearchSpace.from_configspace(toy_space())
    limit = Constraint("--max-macs", 4.0, lambda c: float(c["layers"]))  # the toy's "cost": its layer count
    options = StrategyOptions(space.constrained(limit), 0, 1.0, 9.0, 3)
    strategy = STRATEGIES[name].make(options)
    assert isinstance(strategy, Strategy)
    history = drive(strategy, 80)  # BOHB fits its KDE after a few brackets: its candidates are filtered too
    assert len(history) == 80 and all(job.config["layers"] <= 4 for job, _ in history)


def test_a_limit_nothing_meets_is_a_clear_error() -> None:
    from hasearch.errors import SpaceError
    from hasearch.space import Constraint

    space = SearchSpace.from_configspace(toy_space()).constrained(Constraint("--max-macs", 0.5, lambda c: float(c["layers"]), "MACs"))
    with pytest.raises(SpaceError, match=r"--max-macs 0.5: none of 1000 random configurations .*smallest seen: 1 MACs"):
        space.sample(np.random.default_rng(0))


def test_autohas_takes_max_macs_as_its_flops_target() -> None:
    space = SearchSpace.from_configspace(toy_space())
    for name in ("autohas", "autohas-arch", "autohas-phase"):
        strategy = STRATEGIES[name].make(StrategyOptions(space, 0, 1.0, 9.0, 3, max_macs=123_456.0))
        assert strategy.options.flops_target == 123_456.0  # type: ignore[attr-defined]
