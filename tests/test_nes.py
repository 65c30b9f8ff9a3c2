"""NES (seed 003): gradient estimate, rounding, target projection, uniform baselines, CLI, resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hasearch.autohas.engine import SharedWeightsTrainer
from hasearch.catalog import resolve_space
from hasearch.cli.main import main
from hasearch.errors import UserError
from hasearch.nes import NES, NESOptions
from hasearch.nes.coordinates import OrderedCoordinates, dimension_names
from hasearch.nes.estimator import Schedule, estimate, nes_gradient, nes_update, perturbations
from hasearch.nes.target import (
    TOLERANCE,
    ResourceTarget,
    penalty_gradient,
    project,
    uniform_rescale,
)
from hasearch.store import RunDir
from hasearch.supernet import resource_model
from tests.conftest import kill_after_checkpoints, one_line_error

CENTRE = np.array([4.0, 1.0, 2.0, 5.0, 3.0])
WEIGHTS = np.array([1.0, 0.5, 2.0, 1.5, 1.0])


def _integer_bowl(point: np.ndarray) -> float:
    """A smooth function evaluated only at integer points (the child of ``point``)."""
    child = np.floor(point + 0.5)
    return float(np.sum(WEIGHTS * (child - CENTRE) ** 2))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_the_nes_estimate_points_along_the_true_gradient_with_100_samples() -> None:
    h = np.array([1.3, 3.6, 0.4, 2.2, 5.7])
    true = 2 * WEIGHTS * (h - CENTRE)
    cosines = []
    for seed in range(20):
        gradient, _ = estimate(h, _integer_bowl, sigma=1.25, samples=100, rng=np.random.default_rng(seed))
        cosines.append(_cosine(gradient, true))
    assert np.median(cosines) > 0.8 and min(cosines) > 0.6


def test_mirrored_perturbations_come_in_pairs_and_estimate_the_gradient_better() -> None:
    noise = perturbations(np.random.default_rng(0), 7, 3, 1.0, mirrored=True)
    assert noise.shape == (7, 3) and np.allclose(noise[:3] + noise[4:7], 0.0)  # pairs n, -n; the 7th unpaired
    h = CENTRE + np.array([0.8, -0.6, 0.7, -0.9, 0.6])  # near the minimum, where the curvature is most of L(H + n) - L(H)
    true = 2 * WEIGHTS * (h - CENTRE)
    cosines = {
        mirrored: np.median([_cosine(estimate(h, _integer_bowl, sigma=1.25, samples=20, rng=np.random.default_rng(seed), mirrored=mirrored)[0], true) for seed in range(40)])
        for mirrored in (False, True)
    }  # fmt: skip
    # the bowl's curvature (even part) enters i.i.d. estimates as noise and cancels in pairs
    # (far from the minimum the i.i.d. draws' 20 directions beat 10 pairs: 0.91 vs 0.83 at the point above)
    assert cosines[True] > 0.8 and cosines[True] > cosines[False] + 0.1


def test_nes_updates_with_the_paper_schedule_reach_the_minimum() -> None:
    h, schedule, rng, updates = np.zeros(5), Schedule(alpha0=0.5), np.random.default_rng(0), 300
    for u in range(updates):
        progress = u / updates
        gradient, _ = estimate(h, _integer_bowl, sigma=schedule.sigma(progress), samples=20, rng=rng)
        h = np.clip(nes_update(h, gradient, schedule.alpha(progress)), 0, 6)
    assert np.array_equal(np.floor(h + 0.5), CENTRE)


def test_the_gradient_is_eq_7_and_an_update_moves_at_most_one_step() -> None:
    noise = np.array([[1.0, 0.0], [0.0, -2.0]])
    g = nes_gradient(noise, np.array([3.0, 5.0]), 1.0, sigma=0.5)
    assert g == pytest.approx([(3 - 1) * 1 / (0.5 * 2), (5 - 1) * -2 / (0.5 * 2)])
    assert nes_update(np.array([2.0, 2.0]), g, alpha=5.0) == pytest.approx([1.0, 3.0])  # clipped to +-1 step
    assert np.array_equal(nes_gradient(noise, np.array([3.0, 5.0]), 1.0, sigma=0.0), [0.0, 0.0])


def test_h_rounds_to_the_nearest_step_and_depth_activates_its_blocks() -> None:
    space = resolve_space("mobilenetv2").space
    coords = OrderedCoordinates(space, dimension_names(space, None))
    assert set(coords.names) == {"width_0", "width_1", "width_2", "width_3", "depth_1", "depth_2", "depth_3", "input_scale"}
    h0 = coords.indices_of(space.baseline)
    assert coords.config(coords.child(h0), space.baseline) == space.complete(space.baseline)  # H0 is the baseline
    h = h0.copy()
    h[coords.names.index("depth_1")] = 1.6  # rounds to index 2: depth 3
    h[coords.names.index("width_0")] = -3.0  # clipped to the narrowest
    config = coords.config(coords.child(h), space.baseline)
    assert config["depth_1"] == 3 and config["width_0"] == 0.5 and "kernel_3" in config
    assert dimension_names(space, ("input",)) == ("input_scale",)
    with pytest.raises(UserError, match="unknown NES dimension"):
        dimension_names(space, ("colour",))


Fixture = tuple[OrderedCoordinates, dict[str, Any], ResourceTarget]


@pytest.fixture(scope="module")
def macs_target() -> Fixture:
    definition = resolve_space("mobilenetv2")
    model = resource_model(definition.family, (3, 32, 32), 10)
    base = dict(definition.space.baseline)
    target = ResourceTarget("--target-macs", 0.5 * model.cost(base), model.cost, "MACs")
    return OrderedCoordinates(definition.space, dimension_names(definition.space, None)), base, target


def test_projection_meets_the_target_and_keeps_a_child_that_already_does(macs_target: Fixture) -> None:
    coords, base, target = macs_target
    start = coords.indices_of(base)  # the baseline: twice the target
    chosen = project(start, coords, base, target)
    assert abs(target.relative(coords.config(chosen, base)) - 1) <= TOLERANCE
    assert project(np.array(chosen, dtype=float), coords, base, target) == chosen


def test_the_penalty_gradient_is_the_central_difference_and_points_back_to_the_target(macs_target: Fixture) -> None:
    coords, base, target = macs_target
    penalty = lambda child: target.penalty(coords.config(child, base))
    over = tuple(int(i) for i in coords.indices_of(base))  # the baseline: twice the target
    gradient = penalty_gradient(over, coords, base, target)
    for j, upper in enumerate(coords.upper):
        low, high = max(over[j] - 1, 0), min(over[j] + 1, int(upper))
        below, above = list(over), list(over)
        below[j], above[j] = low, high
        expected = 0.0 if high == low else (penalty(above) - penalty(below)) / (high - low)
        assert gradient[j] == pytest.approx(expected)
    assert gradient[[n.startswith(("width", "input")) for n in coords.names]].min() > 0  # H - alpha G narrows
    under = tuple(0 for _ in coords.names)  # the smallest child: under the target
    assert penalty_gradient(under, coords, base, target).max() <= 0 < -penalty_gradient(under, coords, base, target).min()


def test_exact_resource_gradient_moves_h_towards_the_target_without_sampling_the_penalty(tmp_path: Path) -> None:
    definition = resolve_space("mobilenetv2")
    model = resource_model(definition.family, (1, 8, 8), 10)
    target = round(0.5 * model.cost(definition.space.baseline))
    out = tmp_path / "run"
    argv = ["search", "--space", "mobilenetv2", "--strategy", "nes-channel-input", "--dataset", "digits", "--budget", "1m",
            "--epochs", "1", "--out", str(out), "--no-baseline", "--target-macs", str(target), "--option", "resource_gradient=exact",
            "--option", "max_updates=3", "--option", "samples=4", "--option", "weight_steps=2"]  # fmt: skip
    assert main(argv) == 0
    entries = json.loads((out / "search" / "history.json").read_text())["entries"]
    assert [e["update"] for e in entries] == [1, 2, 3]
    assert entries[0]["relative"] < 2.0  # from the baseline (2x the target), the penalty's gradient narrowed H
    with pytest.raises(UserError, match="resource_gradient 'sampled' is not one of: nes, exact"):
        NES(options=NESOptions(resource_gradient="sampled"))


def test_the_sandwich_rule_trains_the_largest_child_every_other_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trained: list[dict[str, Any]] = []
    original = SharedWeightsTrainer.gradient

    def recording(self: SharedWeightsTrainer, config: dict[str, Any], arch: Any) -> float:
        trained.append(dict(config))
        return original(self, config, arch)

    monkeypatch.setattr(SharedWeightsTrainer, "gradient", recording)
    argv = ["search", "--space", "mobilenetv2", "--strategy", "nes-channel-input", "--dataset", "digits", "--budget", "1m",
            "--epochs", "1", "--out", str(tmp_path / "run"), "--no-baseline", "--option", "sandwich=true",
            "--option", "max_updates=2", "--option", "samples=2", "--option", "weight_steps=6"]  # fmt: skip
    assert main(argv) == 0
    space = resolve_space("mobilenetv2").space
    coords = OrderedCoordinates(space, dimension_names(space, ("channel", "input")))
    largest = tuple(int(u) for u in coords.upper)
    shapes = [tuple(int(i) for i in coords.indices_of(c)) for c in trained]
    assert len(shapes) == 12 and set(shapes[1::2]) == {largest}
    assert any(shape != largest for shape in shapes[0::2])  # the others around H (from the baseline, below the largest)


def test_an_unreachable_target_is_refused_in_one_line(macs_target: Fixture) -> None:
    coords, base, target = macs_target
    tiny = ResourceTarget("--target-macs", 10.0, target.cost, "MACs")
    with pytest.raises(UserError, match="--target-macs 10 is outside"):
        tiny.check_reachable(coords, base)


def test_uniform_rescales_scale_one_dimension_alike(macs_target: Fixture) -> None:
    coords, base, target = macs_target
    space = coords.space
    channel = uniform_rescale([OrderedCoordinates(space, dimension_names(space, ("channel",)))], base, target)
    assert len({channel[f"width_{s}"] for s in range(4)}) == 1 and channel["input_scale"] == base["input_scale"]
    assert channel["width_0"] < 1.0  # narrower than the baseline, which is twice the target
    both = uniform_rescale([OrderedCoordinates(space, dimension_names(space, (d,))) for d in ("channel", "input")], base, target)
    assert abs(target.relative(both) - 1) <= TOLERANCE and len({both[f"width_{s}"] for s in range(4)}) == 1
    even = ResourceTarget("--target-macs", target.cost(both | {"input_scale": 0.75} | {f"width_{s}": 0.75 for s in range(4)}), target.cost, "MACs")
    assert uniform_rescale([OrderedCoordinates(space, dimension_names(space, (d,))) for d in ("channel", "input")], base, even)["input_scale"] == 0.75


def test_nes_search_meets_its_macs_target_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    definition = resolve_space("mobilenetv2")
    model = resource_model(definition.family, (1, 8, 8), 10)
    target = round(0.6 * model.cost(definition.space.baseline))
    out = tmp_path / "run"
    argv = ["search", "--space", "mobilenetv2", "--strategy", "nes", "--dataset", "digits", "--budget", "12s",
            "--epochs", "1", "--out", str(out), "--no-baseline", "--target-macs", str(target)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    best = json.loads((out / "best.json").read_text())
    assert abs(best["found"]["macs"] / target - 1) <= TOLERANCE and model.cost(best["found"]["config"]) == best["found"]["macs"]
    history = json.loads((out / "search" / "history.json").read_text())
    assert history["method"] == "nes" and len(history["entries"]) >= 2
    assert [e["sigma"] for e in history["entries"]] == sorted((e["sigma"] for e in history["entries"]), reverse=True)
    assert (out / "search" / "nes.png").exists() and "NES found" in printed
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "the method&#x27;s history" in page and "NES found" in page and page.count("data:image/png;base64,") == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strategy", "random", "--target-macs", "1000"], "--target-macs is the target of nes"),
        (["--strategy", "nes", "--max-macs", "1000"], "meets a target within 5%, not a limit"),
        (["--strategy", "nes", "--target-macs", "10"], "--target-macs 10 is outside"),
        (["--strategy", "uniform-channel", "--target-macs", "5", "--target-latency", "1"], "give one target"),
    ],
)
def test_target_misuse_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str) -> None:
    argv = ["search", "--space", "mobilenetv2", "--dataset", "digits", "--budget", "5s", "--out", str(tmp_path / "run"), *extra]
    assert message in one_line_error(argv, capsys) and not (tmp_path / "run").exists()


def test_uniform_channel_strategy_returns_its_rescale(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["search", "--space", "mobilenetv2", "--strategy", "uniform-channel", "--dataset", "digits", "--budget", "5s",
            "--epochs", "1", "--out", str(out), "--no-baseline"]
    assert main(argv) == 0
    config = json.loads((out / "best.json").read_text())["found"]["config"]
    assert len({config[f"width_{s}"] for s in range(4)}) == 1


def test_the_budget_ends_the_search_inside_a_long_round(tmp_path: Path) -> None:
    """A round of 5000 weight steps and an update of 5000 samples take minutes; 3 s is the budget."""
    out = tmp_path / "run"
    argv = ["search", "--space", "mobilenetv2", "--strategy", "nes", "--dataset", "digits", "--budget", "3s", "--epochs", "1",
            "--out", str(out), "--no-baseline", "--option", "samples=5000", "--option", "weight_steps=5000"]
    assert main(argv) == 0
    assert 3.0 <= json.loads((out / "best.json").read_text())["search_seconds"] < 4.5


def test_nes_killed_mid_search_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["search", "--space", "mobilenetv2", "--strategy", "nes", "--dataset", "digits", "--budget", "10m",
            "--epochs", "1", "--out", str(out), "--no-baseline", "--checkpoint-every", "1"]
    checkpoint = out / "search" / "nes_checkpoint.pt"
    kill_after_checkpoints(args, checkpoint)
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["update"] > 0 and not (out / "best.json").exists()
    assert main(["resume", str(out), "--budget", "3s"]) == 0
    entries = RunDir.open(out).read_json("search/history.json")["entries"]
    updates = [e["update"] for e in entries]
    assert updates[: len(saved["history"])] == [e["update"] for e in saved["history"]]  # continued, not restarted
    assert updates == sorted(updates) and updates[-1] > saved["update"]
    assert entries[len(saved["history"])]["sigma"] <= saved["history"][-1]["sigma"]  # the schedule went on


def test_a_uniform_start_is_the_rescale_that_meets_the_target(macs_target: Fixture) -> None:
    from types import SimpleNamespace

    from hasearch.nes.strategy import NES, NESOptions, _start_config

    coords, base, target = macs_target
    problem: Any = SimpleNamespace(space=coords.space)
    start = _start_config("uniform", problem, coords, target)
    assert abs(target.relative(start) - 1) <= TOLERANCE and len({start[f"width_{s}"] for s in range(4)}) == 1
    assert start["input_scale"] <= base["input_scale"] and [start[f"depth_{s}"] for s in (1, 2, 3)] == [base[f"depth_{s}"] for s in (1, 2, 3)]
    assert _start_config("baseline", problem, coords, target) == base
    with pytest.raises(UserError, match="NES start 'middle' is not one of: baseline, uniform"):
        NES(options=NESOptions(start="middle"))


@pytest.mark.parametrize("h", [[3.0, 2.0, 4.0, 3.0, 0.0], [4.0, 3.0, 3.0, 3.0, 0.0]])
def test_projection_looks_beyond_the_box_when_no_neighbour_meets_the_target(macs_target: Fixture, h: list[float]) -> None:
    # H on integer steps (the one-step bound keeps it there) has a box of one child; these two
    # are 34% and 25% under the target, the nearest children within 5% 3 and 4 steps (L1) away;
    # the box and the all-ones shift alone returned children 17% and 7% over it
    coords, base, target = macs_target
    channel_input = OrderedCoordinates(coords.space, dimension_names(coords.space, ("channel", "input")))
    chosen = project(np.array(h), channel_input, base, target)
    assert abs(target.relative(channel_input.config(chosen, base)) - 1) <= TOLERANCE
