"""A contract every ask/tell strategy must satisfy (run for each registered strategy)."""

from __future__ import annotations

import math
from collections.abc import Callable

import ConfigSpace as CS

from hasearch.space import SearchSpace
from hasearch.strategies.base import Job, Strategy

StrategyFactory = Callable[[SearchSpace | CS.ConfigurationSpace, int], Strategy]


def toy_space() -> CS.ConfigurationSpace:
    cs = CS.ConfigurationSpace(name="toy")
    opt = CS.Categorical("opt", ["sgd", "adam"])
    mom = CS.Float("momentum", (0.0, 0.99))
    cs.add([opt, mom, CS.Float("lr", (1e-4, 1.0), log=True), CS.Integer("layers", (1, 8))])
    cs.add(CS.EqualsCondition(mom, opt, "sgd"))
    return cs


def toy_loss(job: Job) -> float:
    c = job.config
    return (math.log10(c["lr"]) + 2) ** 2 + 0.1 * abs(c["layers"] - 3) + 1.0 / (1.0 + job.budget)


def drive(strategy: Strategy, n: int, loss: Callable[[Job], float] = toy_loss) -> list[tuple[Job, float]]:
    """Ask/tell ``n`` jobs sequentially (telling pending ones when the strategy waits)."""
    history: list[tuple[Job, float]] = []
    pending: list[Job] = []
    while len(history) < n and not strategy.finished:
        job = strategy.ask()
        if job is None:
            assert pending, "ask() returned None with nothing pending"
        else:
            pending.append(job)
        if job is None or len(pending) >= 1:
            done = pending.pop(0)
            value = loss(done)
            strategy.tell(done, value)
            history.append((done, value))
    return history


def check_contract(make: StrategyFactory) -> None:
    space = toy_space()
    strategy = make(space, 0)
    history = drive(strategy, 40)
    assert len(history) >= 10
    ids = [job.job_id for job, _ in history]
    assert len(set(ids)) == len(ids), "job ids must be unique"
    for job, _ in history:
        CS.Configuration(space, values=dict(job.config)).check_valid_configuration()
        assert job.budget > 0
        assert ("momentum" in job.config) == (job.config["opt"] == "sgd")
    # Same seed, same jobs; failures (inf / nan) are accepted and the search goes on.
    again = [(j.job_id, dict(j.config), j.budget) for j, _ in drive(make(space, 0), 40)]
    assert again == [(j.job_id, dict(j.config), j.budget) for j, _ in history]
    failing = make(space, 1)
    flaky = drive(failing, 20, loss=lambda job: math.nan if job.job_id % 3 == 0 else toy_loss(job))
    assert len(flaky) >= 10
    # The first job is the baseline (a plain ConfigSpace space's defaults), on any seed.
    first = make(space, 7).ask()
    assert first is not None and dict(first.config) == dict(space.get_default_configuration())
    # A hasearch SearchSpace works as well as a ConfigSpace space.
    assert make(SearchSpace.from_configspace(space), 0).ask() is not None
