"""The weight-sharing foundation: elastic children equal their exported standalone networks,
MACs from per-layer entries equal torch's FLOP counter, a child runs only its own path."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest
import torch

from hasearch.catalog import resolve_space
from hasearch.supernet import BNMode, has_supernet, resource_model, supernet_for
from hasearch.train.cost import count_macs

SHAPES = [(1, 28, 28), (3, 32, 32), (1, 8, 8)]
# one elastic dimension at a time, away from the baseline (mobilenetv2 slot numbering)
ONE_DIMENSION = {
    "width": {"width_1": 0.5, "width_2": 1.5, "width_3": 0.75},
    "kernel": {"kernel_1": 5, "kernel_4": 5},
    "expansion": {"expansion_0": 3, "expansion_5": 3},
    "depth": {"depth_1": 1, "depth_2": 3, "depth_3": 3},
    "resolution": {"input_scale": 0.625},
    "everything": {"width_1": 1.25, "depth_2": 3, "kernel_6": 5, "expansion_6": 3, "input_scale": 0.75},
}


def _supernet_and_child_outputs(space_name: str, config: dict[str, Any], shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    definition = resolve_space(space_name)
    torch.manual_seed(0)
    net = supernet_for(definition.family, definition.space, shape, 10)
    for p in net.parameters():  # non-trivial BatchNorm affine parameters
        if p.ndim == 1:
            p.data.uniform_(0.5, 1.5)
    arch = net.arch_of(config)
    net.set_training_config(config)  # e.g. ShakeDrop's death rate, which the exported child also applies
    net.recalibrate(arch, torch.randn(300, *shape))
    x = torch.rand(6, *shape)
    net.eval()
    with torch.no_grad(), net.bn_mode(BNMode.RUNNING):
        through_supernet = net(x, arch)
    child = net.export(config).eval()
    with torch.no_grad():
        standalone = child(x)
    return through_supernet, standalone


@pytest.mark.parametrize("dimension", list(ONE_DIMENSION))
def test_each_elastic_dimension_exports_a_child_with_equal_outputs(dimension: str) -> None:
    definition = resolve_space("mobilenetv2")
    config = {**definition.baseline, **ONE_DIMENSION[dimension]}
    for shape in SHAPES[:2]:
        supernet_out, child_out = _supernet_and_child_outputs("mobilenetv2", config, shape)
        assert torch.allclose(supernet_out, child_out, atol=1e-5), (dimension, shape)


RESNET_ONE_DIMENSION = {
    "width": {"filters": 12, "widen_factor_1": 1.0, "widen_factor_2": 1.5, "widen_factor_3": 0.7},
    "depth": {"res_blocks_1": 1, "res_blocks_2": 4, "res_blocks_3": 3},
    "branches": {"res_branches_1": 1, "res_branches_2": 3, "res_branches_3": 1, "shakedrop_death_rate": 0.5},
}


@pytest.mark.parametrize("dimension", list(RESNET_ONE_DIMENSION))
def test_each_resnet_joint_dimension_exports_a_child_with_equal_outputs(dimension: str) -> None:
    definition = resolve_space("resnet-joint")
    config = definition.space.complete({**definition.baseline, **RESNET_ONE_DIMENSION[dimension]})
    supernet_out, child_out = _supernet_and_child_outputs("resnet-joint", config, (3, 32, 32))
    assert torch.allclose(supernet_out, child_out, atol=1e-5), dimension


@pytest.mark.parametrize("space_name", ["mbconv", "mobilenetv2", "resnet-joint"])
def test_random_children_export_with_equal_outputs(space_name: str) -> None:
    definition = resolve_space(space_name)
    rng = np.random.default_rng(3)
    for shape in SHAPES:
        for _ in range(3):
            config = dict(definition.space.sample(rng))
            supernet_out, child_out = _supernet_and_child_outputs(space_name, config, shape)
            assert torch.allclose(supernet_out, child_out, atol=1e-5), (config, shape)


@pytest.mark.parametrize("space_name", ["mbconv", "mobilenetv2", "resnet-joint"])
def test_macs_of_30_random_children_equal_the_flop_counter(space_name: str) -> None:
    definition = resolve_space(space_name)
    rng = np.random.default_rng(0)
    for shape in [(3, 32, 32), (1, 28, 28)]:
        model = resource_model(definition.family, shape, 10)
        for _ in range(15):
            config = dict(definition.space.sample(rng))
            assert model.cost(config) == count_macs(definition.build(config, shape, 10), shape), config


def test_every_built_in_family_has_a_supernet() -> None:
    from hasearch.models import FAMILIES

    assert all(has_supernet(family) for family in FAMILIES.values())


def test_a_child_runs_only_its_own_path() -> None:
    definition = resolve_space("mobilenetv2")
    net = supernet_for(definition.family, definition.space, (3, 32, 32), 10)
    config = {**definition.baseline, "width_1": 0.5, "depth_2": 1, "kernel_1": 3, "expansion_1": 3}
    arch = net.arch_of(config)
    net(torch.rand(4, 3, 32, 32), arch).sum().backward()
    grads = {name: p.grad for name, p in net.named_parameters()}
    assert grads["blocks.5.project_weight"] is None and grads["blocks.9.expand_weight"] is None  # skipped blocks
    block = net.blocks[1]  # stage 1, first block: 16 -> 12 channels, kernel 3 of 5, expansion 3 of 6
    grad = block.depthwise_weight.grad
    assert grad is not None and grad[: 16 * 3, :, 1:4, 1:4].abs().sum() > 0
    assert grad[16 * 3 :].abs().sum() == 0 and grad[:, :, 0].abs().sum() == 0  # unused channels and kernel border
    assert block.project_weight.grad[12:].abs().sum() == 0  # output channels beyond width 0.5 x 24


def test_largest_and_smallest_children_cost_what_their_size_says() -> None:
    definition = resolve_space("mobilenetv2")
    macs = resource_model(definition.family, (3, 32, 32), 10)
    base = definition.baseline
    small = {**base, "width_1": 0.5, "width_2": 0.5, "width_3": 0.5, "depth_1": 1, "depth_2": 1, "input_scale": 0.5}
    large = {**base, "width_1": 1.5, "width_2": 1.5, "width_3": 1.5, "depth_1": 3, "depth_2": 3, "depth_3": 3}
    assert macs.cost(small) < macs.cost(base) / 4 and macs.cost(large) > 2 * macs.cost(base)


def test_latency_table_sums_layers_interpolates_channels_and_caches(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hasearch.models.mbconv import MOBILENETV2
    from hasearch.supernet.latency_tables import MBConvLatency

    definition = resolve_space("mobilenetv2")
    shape = (1, 8, 8)
    table = MBConvLatency(MOBILENETV2, shape, 10, cache=tmp_path)
    block = ("block", 16, 24, 3, 6, 2, 8, 8)
    for cout in (12, 36):  # a grid of two output widths; 24 lies between them
        table.entries[("block", 16, cout, 3, 6, 2, 8, 8)] = 1.0 if cout == 12 else 4.0
    assert table.entry(block) == pytest.approx(2.5) and table.measured_now == 0  # interpolated, not measured
    grid = table.grid(definition.space)
    assert all(layer[0] in ("stem", "block", "head", "resize") for layer in grid)
    assert {w for layer in grid if layer[0] == "head" for w in [layer[1]]} == {32, 64, 96}  # widths 0.5, 1, 1.5 of 64
    config = dict(definition.space.sample(np.random.default_rng(0)))
    assert table.cost(config) == pytest.approx(sum(table.entry(layer) for layer in table.layers(config)))
    assert table.measured_now > 0  # layers off the grid were measured when first needed
    table.save()
    again = MBConvLatency(MOBILENETV2, shape, 10, cache=tmp_path)
    assert again.entries == table.entries and again.cost(config) == table.cost(config)
    other = MBConvLatency(MOBILENETV2, shape, 10, batch_size=8, cache=tmp_path)
    assert other.entries == {}  # another batch size is another table
    table.scale = 1.25
    table.save()
    scaled = MBConvLatency(MOBILENETV2, shape, 10, cache=tmp_path)
    assert scaled.cost(config) == pytest.approx(1.25 * again.cost(config))  # the fitted scale multiplies the sum


def test_latency_command_builds_the_tables_of_every_family_and_refuses_bad_shapes(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from hasearch.cli.main import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert main(["latency", "--space", "mbconv", "--input", "1x8x8"]) == 0
    out = capsys.readouterr().out
    assert "baseline: predicted" in out and list((tmp_path / "hasearch" / "latency").glob("mbconv-*.json"))
    saved = json.loads(next((tmp_path / "hasearch" / "latency").glob("mbconv-*.json")).read_text())
    assert 0.3 < saved["scale"] < 3.0 and saved["built"]  # whole networks / summed layers, fitted at build time
    assert main(["latency", "--space", "mbconv", "--input", "1x8x8", "--validate", "4"]) == 0
    out = capsys.readouterr().out
    assert " / 0 " in out  # second time: everything from the cache
    spearman = float(re.search(r"validation \(4 children\): Spearman\s*│\s*(-?[\d.]+|nan)", out).group(1))  # type: ignore[union-attr]
    error = float(re.search(r"validation \(4 children\): median error\s*│\s*([\d.]+)%", out).group(1))  # type: ignore[union-attr]
    assert -1.0 <= spearman <= 1.0 and 0.0 <= error < 100.0
    assert main(["latency", "--space", "resnet-joint", "--input", "1x8x8"]) == 0
    assert list((tmp_path / "hasearch" / "latency").glob("resnet-joint-*.json"))
    capsys.readouterr()
    for argv, message in (
        (["latency", "--space", "mbconv", "--input", "0x8x8"], "is not a shape CxHxW"),
        (["latency", "--space", "mbconv", "--input", "1x8x8", "--validate", "1"], "give 2 to 1000 children"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err


@pytest.mark.parametrize("space_name", ["mobilenetv2", "resnet-joint"])
def test_a_child_is_scored_after_recalibration_as_its_exported_network_scores(space_name: str, digits) -> None:  # type: ignore[no-untyped-def]
    from hasearch.supernet.scoring import calibration_images, score_child
    from hasearch.train.trainer import evaluate

    definition = resolve_space(space_name)
    net = supernet_for(definition.family, definition.space, digits.input_shape, digits.num_classes)
    images = calibration_images(digits.train, count=500, seed=1)
    assert torch.equal(images, calibration_images(digits.train, count=500, seed=1))  # a fixed set
    config = dict(definition.space.sample(np.random.default_rng(5)))
    net.set_training_config(config)
    loss, accuracy = score_child(net, net.arch_of(config), images, digits.val)
    child_loss, child_accuracy = evaluate(net.export(config), digits.val)
    assert accuracy == child_accuracy and loss == pytest.approx(child_loss, rel=1e-5)


@pytest.mark.parametrize("space_name", ["mbconv", "mobilenetv2", "resnet-joint", "darts"])
def test_the_latency_grid_covers_every_child_by_measurement_or_interpolation(space_name: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hasearch.supernet import latency_model

    definition = resolve_space(space_name)
    table = latency_model(definition.family, (3, 32, 32), 10, cache=tmp_path)
    for layer in table.grid(definition.space):  # stand-in timings linear in MACs: interpolation must recover them
        table.entries[layer] = 0.01 + 1e-6 * table.layer_macs(layer) if layer[0] in table.channels else 0.01
    rng = np.random.default_rng(2)
    for _ in range(20):
        config = dict(definition.space.sample(rng))
        expected = sum(0.01 + 1e-6 * table.layer_macs(layer) if layer[0] in table.channels else 0.01 for layer in table.layers(config))
        assert table.cost(config) == pytest.approx(expected, rel=1e-9)
    assert table.measured_now == 0  # nothing had to be timed outside the grid


def test_the_darts_latency_table_lists_every_layer_a_child_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hasearch.models.darts import CELLS, NODES, arch_of
    from hasearch.supernet import latency_model

    definition = resolve_space("darts")
    table = latency_model(definition.family, (3, 32, 32), 10, cache=tmp_path)
    config = dict(definition.space.sample(np.random.default_rng(4)))
    layers = table.layers(config)
    edges = [layer for layer in layers if layer[0] == "dedge"]
    arch = arch_of(config)
    assert [e[1] for e in edges] == [op for spec_kind in ("normal", "reduce", "normal", "reduce", "normal")
                                     for node in arch.cell(spec_kind).nodes for _, op in node]
    assert len(edges) == 2 * NODES * CELLS and sum(layer[0] == "dnode" for layer in layers) == NODES * CELLS
    assert {e[3] for e in edges} == {1, 2}  # reduction cells' edges from their inputs have stride 2
    for layer in layers:  # every layer builds and runs on its input shape
        module, shape = table.build_layer(layer)
        assert module.eval()(torch.rand(1, *shape)).ndim in (2, 4)


def test_validate_table_compares_predictions_with_whole_networks_timed_in_the_same_rounds(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from hasearch.supernet import latency as latency_module
    from hasearch.supernet import latency_model
    from hasearch.supernet.latency import validate_table

    definition = resolve_space("mobilenetv2")
    table = latency_model(definition.family, (1, 8, 8), 10, cache=tmp_path)
    timed: list[int] = []

    def fake_rounds(items, **_):  # type: ignore[no-untyped-def]  # a network's "ms" = its parameter count / 1e4
        timed.append(len(items))
        return [sum(p.numel() for p in module.parameters()) / 1e4 for module, _ in items]

    monkeypatch.setattr(latency_module, "time_in_rounds", fake_rounds)
    check = validate_table(table, definition.space, children=6, seed=3)
    grid = len(table.grid(definition.space))
    assert timed == [grid + latency_module.CALIBRATION_NETWORKS + 6]  # grid, calibration and validation children in one set of rounds
    assert check.children == 6 and len(check.predicted_ms) == 6 and table.built
    assert check.measured_to_predict == 0 and check.predicted_ms == tuple(table.cost(c) for c in check.configs)
    assert check.median_relative_error == pytest.approx(
        float(np.median([abs(p - m) / m for p, m in zip(check.predicted_ms, check.measured_ms, strict=True)]))
    )
    again = validate_table(table, definition.space, children=6, seed=3)  # a built table: only the children are timed
    assert timed[-1] == 6 and again.measured_ms == check.measured_ms and again.predicted_ms == check.predicted_ms
    with pytest.raises(ValueError):
        validate_table(table, definition.space, children=1)
