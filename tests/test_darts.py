"""The ``darts`` cell space: the family, its one-shot supernet (export equals the supernet
under the child's coefficients, zero coefficients are not computed, BatchNorm modes), MACs
equal torch's FLOP counter, and the built-in space end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from hasearch.catalog import builtin_space_names, definition_for, resolve_space
from hasearch.cli.main import main
from hasearch.errors import SpaceError
from hasearch.models.darts import (
    CELL_TYPES,
    CELLS,
    DARTS_V2,
    FAMILY,
    NODES,
    PRIMITIVES,
    arch_of,
    build_darts,
)
from hasearch.space import space_from_dict
from hasearch.supernet import BNMode, DartsSupernet, has_supernet, resource_model, supernet_for
from hasearch.supernet.darts import weights_of
from hasearch.train.cost import count_macs

SHAPES = [(1, 28, 28), (3, 32, 32)]
DEFINITION = resolve_space("darts")
# every kind of edge: skip (FactorizedReduce) and dil convs on a reduction cell's inputs,
# pools on both cell types, edges from intermediate nodes
SPECIAL = {
    "reduce_node0_op_a": "skip_connect",
    "reduce_node0_op_b": "dil_conv_5x5",
    "reduce_node1_inputs": "0-2",
    "reduce_node1_op_a": "avg_pool_3x3",
    "reduce_node1_op_b": "dil_conv_3x3",
    "reduce_node3_inputs": "3-4",
    "reduce_node3_op_a": "sep_conv_5x5",
    "normal_node1_op_a": "max_pool_3x3",
    "normal_node2_inputs": "2-3",
    "normal_node2_op_b": "avg_pool_3x3",
    "normal_node3_inputs": "1-4",
    "normal_node3_op_b": "dil_conv_5x5",
}


def _configs(count: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [{**dict(DEFINITION.space.sample(rng)), "dropout": 0.0} for _ in range(count)]


def _supernet(shape: tuple[int, int, int]) -> DartsSupernet:
    torch.manual_seed(0)
    net = supernet_for(DEFINITION.family, DEFINITION.space, shape, 10)
    for p in net.parameters():  # non-trivial BatchNorm affine parameters
        if p.ndim == 1:
            p.data.uniform_(0.5, 1.5)
    assert isinstance(net, DartsSupernet)
    return net


def _coefficients(rng: np.random.Generator) -> dict[str, list[tuple[float, float]]]:
    return {kind: [(float(a), float(b)) for a, b in rng.uniform(-1.5, 1.5, (NODES, 2))] for kind in CELL_TYPES}


@pytest.mark.parametrize("shape", SHAPES)
def test_export_equals_the_supernet_under_the_childs_coefficients(shape: tuple[int, int, int]) -> None:
    net, rng = _supernet(shape), np.random.default_rng(1)
    for config in [{**DEFINITION.baseline, **SPECIAL}, *_configs(3, seed=sum(shape))]:
        coefficients = _coefficients(rng)
        weights = weights_of(arch_of(config), coefficients=coefficients)
        x = torch.rand(4, *shape)
        child = net.export(config, coefficients).train()
        net.train()
        with torch.no_grad(), net.bn_mode(BNMode.TRAIN):  # batch statistics in both
            assert torch.allclose(net(x, weights), child(x), atol=1e-5), config
        net.recalibrate(weights, torch.rand(64, *shape))
        child = net.export(config, coefficients).eval()
        net.eval()
        with torch.no_grad(), net.bn_mode(BNMode.RUNNING):
            assert torch.allclose(net(x, weights), child(x), atol=1e-5), config
        assert torch.equal(child.cells[1].nodes[3].coefficients, torch.tensor(coefficients["reduce"][3]))


def test_arch_of_is_one_hot_at_the_chosen_edges_and_runs_the_child() -> None:
    net, config = _supernet((3, 32, 32)), {**DEFINITION.baseline, **SPECIAL}
    weights = net.arch_of(config)
    for kind in CELL_TYPES:
        assert [tuple(w.shape) for w in weights[kind]] == [(j + 2, len(PRIMITIVES)) for j in range(NODES)]
        for j, w in enumerate(weights[kind]):
            inputs, op_a, op_b = (config[f"{kind}_node{j}_{p}"] for p in ("inputs", "op_a", "op_b"))
            a, b = map(int, inputs.split("-"))
            expected = torch.zeros_like(w)
            expected[a, PRIMITIVES.index(op_a)] = expected[b, PRIMITIVES.index(op_b)] = 1.0
            assert torch.equal(w, expected)
    net.eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad(), net.bn_mode(BNMode.RUNNING):
        assert torch.allclose(net(x, weights), net.export(config).eval()(x), atol=1e-5)


def _count_op_calls(net: DartsSupernet) -> dict[str, int]:
    calls = {"ops": 0}
    for cell in net.cells:
        for node in cell.edges:
            for edge in node:
                for op in edge:
                    op.register_forward_hook(lambda *_: calls.__setitem__("ops", calls["ops"] + 1))
    return calls


def test_zero_coefficients_are_not_computed_and_gradients_reach_the_others() -> None:
    net, rng = _supernet((3, 32, 32)), np.random.default_rng(2)
    calls = _count_op_calls(net)
    weights: dict[str, list[Tensor]] = {}
    for kind in CELL_TYPES:
        dense = [torch.randn(j + 2, len(PRIMITIVES)) for j in range(NODES)]
        weights[kind] = [(w * torch.from_numpy(rng.random(w.shape) < 0.3)).requires_grad_() for w in dense]
    per_type = {kind: sum(int(w.count_nonzero()) for w in weights[kind]) for kind in CELL_TYPES}
    net(torch.rand(4, 3, 32, 32), weights).square().sum().backward()
    reductions = sum(cell.spec.reduction for cell in net.cells)
    assert calls["ops"] == per_type["normal"] * (CELLS - reductions) + per_type["reduce"] * reductions
    for kind in CELL_TYPES:
        for w in weights[kind]:
            assert w.grad is not None and bool(((w.grad != 0) == (w != 0)).all())  # zero ones: not in the graph
    for cell in net.cells:
        for j, node in enumerate(cell.edges):
            for i, edge in enumerate(node):
                for k, op in enumerate(edge):
                    used = bool(weights[cell.spec.kind][j][i, k] != 0)
                    assert all((p.grad is not None) == used for p in op.parameters())


def test_a_node_without_active_edges_is_zero() -> None:
    net = _supernet((3, 32, 32))
    weights = net.arch_of(DEFINITION.baseline)
    weights["normal"][3].zero_()  # node 3 of normal cells contributes nothing
    weights["reduce"][0].zero_()
    out = net(torch.rand(2, 3, 32, 32).contiguous(memory_format=torch.channels_last), weights)
    assert out.shape == (2, 10) and bool(out.isfinite().all())


def _bn_buffers(net: nn.Module) -> list[Tensor]:
    return [b.clone() for m in net.modules() if isinstance(m, nn.BatchNorm2d) for b in (m.running_mean, m.running_var)]


def test_batchnorm_modes() -> None:
    net, x = _supernet((3, 32, 32)), torch.rand(8, 3, 32, 32)
    weights = net.arch_of(DEFINITION.baseline)
    net.recalibrate(weights, torch.rand(32, 3, 32, 32))
    before = _bn_buffers(net)
    net.train()
    with torch.no_grad():
        with net.bn_mode(BNMode.BATCH):
            batch = net(x, weights)
            assert all(torch.equal(a, b) for a, b in zip(before, _bn_buffers(net), strict=True))  # untouched
            assert not torch.allclose(net(x[:1], weights), batch[:1], atol=1e-4)  # batch statistics
        with net.bn_mode(BNMode.RUNNING):  # running statistics, even in training mode
            running = net(x, weights)
            assert torch.allclose(net(x[:1], weights), running[:1], atol=1e-5)
            assert all(torch.equal(a, b) for a, b in zip(before, _bn_buffers(net), strict=True))
        assert net.mode is BNMode.TRAIN
        net(x, weights)  # TRAIN: batch statistics, running statistics updated
        assert not all(torch.equal(a, b) for a, b in zip(before, _bn_buffers(net), strict=True))
        assert torch.allclose(net(x, weights), batch, atol=1e-5)


def test_macs_equal_the_flop_counter_on_random_children() -> None:
    for shape in SHAPES:
        macs = resource_model(DEFINITION.family, shape, 10)
        assert macs.unit == "MACs"
        for config in _configs(5, seed=shape[0]) + [DEFINITION.baseline]:
            assert macs.cost(config) == count_macs(build_darts(config, shape, 10), shape), config


def test_one_training_step_in_channels_last() -> None:
    shape = (3, 32, 32)
    x, y = torch.rand(8, *shape).contiguous(memory_format=torch.channels_last), torch.randint(0, 10, (8,))
    net = _supernet(shape).to(memory_format=torch.channels_last)
    dense = {kind: [torch.full((j + 2, len(PRIMITIVES)), 0.1) for j in range(NODES)] for kind in CELL_TYPES}
    child = build_darts({**DEFINITION.baseline, **SPECIAL}, shape, 10).to(memory_format=torch.channels_last)
    for model, forward in ((net, lambda: net(x, dense)), (child, lambda: child(x))):
        nn.functional.cross_entropy(forward(), y).backward()
        assert all(bool(p.grad.isfinite().all()) for p in model.parameters() if p.grad is not None)


def test_the_builtin_space_and_family() -> None:
    assert "darts" in builtin_space_names() and has_supernet(DEFINITION.family)
    arch = [p for p in DEFINITION.space.params if p.role.value == "architecture"]
    assert len(arch) == 2 * NODES * 3 and {p.name for p in arch} <= set(FAMILY.defaults)
    assert {k: v for k, v in DEFINITION.baseline.items() if k in FAMILY.defaults} == FAMILY.resolve({}) | {"dropout": 0.0}
    assert arch_of(DEFINITION.baseline).cell("normal").nodes[3] == ((0, "skip_connect"), (2, "dil_conv_3x3"))
    assert DARTS_V2["reduce"][1] == ("1-2", "max_pool_3x3", "skip_connect")
    assert sum(1 for k in build_darts({}, (1, 28, 28), 10).state_dict() if k.endswith("coefficients")) == CELLS * NODES
    for name, value in (("normal_node1_inputs", "1-3"), ("reduce_node0_op_a", "none")):
        bad = {"name": "bad", "model": "darts", "parameters": [{"name": name, "role": "architecture", "type": "categorical", "choices": [value]}]}
        with pytest.raises(SpaceError, match=name):
            definition_for(space_from_dict(bad, source="bad.yaml"))


def test_random_search_on_the_darts_space_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["search", "--space", "darts", "--strategy", "random", "--dataset", "digits", "--trials", "2", "--epochs", "1", "--no-baseline"]
    assert main([*argv, "--out", str(out)]) == 0
    assert (out / "best.json").exists() and (out / "final" / "model.pt").exists()
