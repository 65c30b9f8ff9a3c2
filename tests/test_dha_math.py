"""DHA's pure math: one-step hypergradients (seed 001 Eq. 3-4), ISTA sparse coding (Eq. 5-7)."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hasearch.dha.hypergrad import (
    RELATIVE_FLOOR,
    HyperBounds,
    LearnedHyperparameters,
    commit,
    functional_forward,
    hypergradient_step,
    lookahead_sgd,
)
from hasearch.dha.ista import SparseCodedNode, ista, lasso, lasso_objective, soft_threshold
from hasearch.errors import UserError

DECAY = frozenset({"conv.weight", "fc.weight"})  # weight decay on weights, not on BN / biases


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3 * 4 * 4, 4)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(F.relu(self.bn(self.conv(x))).flatten(1))


def _batch(g: torch.Generator, dtype: torch.dtype, n: int = 16) -> tuple[Tensor, Tensor]:
    return torch.randn(n, 2, 6, 6, generator=g, dtype=dtype), torch.randint(0, 4, (n,), generator=g)


def _model(dtype: torch.dtype = torch.float64) -> Tiny:
    torch.manual_seed(0)
    return Tiny().to(dtype).train()


def _params(model: nn.Module) -> dict[str, nn.Parameter]:
    return dict(model.named_parameters())


def _grads(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
    params = _params(model)
    loss = F.cross_entropy(model(x), y)
    return dict(zip(params, torch.autograd.grad(loss, list(params.values())), strict=True))


def _hp(**kw: float) -> LearnedHyperparameters:
    bounds = HyperBounds(lr=(1e-4, 1.0), weight_decay=(0.0, 0.1))
    return LearnedHyperparameters(**{"lr": 0.05, "weight_decay": 1e-3, "bounds": bounds, **kw})


# --- lookahead_sgd is torch.optim.SGD ---------------------------------------------------


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_lookahead_equals_torch_sgd(momentum: float, dtype: torch.dtype) -> None:
    ours, ref = _model(dtype), _model(dtype)
    ref_params = _params(ref)
    decayed = [p for n, p in ref_params.items() if n in DECAY]
    others = [p for n, p in ref_params.items() if n not in DECAY]
    opt = torch.optim.SGD(
        [{"params": decayed, "weight_decay": 5e-3}, {"params": others, "weight_decay": 0.0}],
        lr=0.1, momentum=momentum,
    )
    g, store = torch.Generator().manual_seed(1), {}
    # a few ulps: torch fuses g + wd * w into one add(alpha=wd), which a tensor wd cannot use
    tol = {"rtol": 1e-13, "atol": 1e-15} if dtype == torch.float64 else {"rtol": 1e-6, "atol": 1e-8}
    for lr in [0.1, 0.05, 0.2, 0.07]:  # lr changes between steps, as with DHA
        x, y = _batch(g, dtype)
        grads = _grads(ours, x, y)
        for name, p in ref_params.items():
            p.grad = grads[name].clone()
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        lr_t, wd_t = torch.tensor(lr, dtype=torch.float64), torch.tensor(5e-3, dtype=torch.float64)
        new, bufs = lookahead_sgd(_params(ours), grads, store, lr=lr_t, weight_decay=wd_t,
                                  momentum=momentum, decay=DECAY)
        commit(_params(ours), new, bufs, store)
        for name, p in ref_params.items():
            torch.testing.assert_close(_params(ours)[name], p, **tol)
            if momentum:
                torch.testing.assert_close(store[name], opt.state[p]["momentum_buffer"], **tol)
    assert (len(store) > 0) == bool(momentum)


def test_lookahead_is_in_the_graph_of_lr_and_wd_only() -> None:
    model = _model()
    x, y = _batch(torch.Generator().manual_seed(2), torch.float64)
    hp = _hp()
    new, bufs = lookahead_sgd(_params(model), _grads(model, x, y), {}, lr=hp.lr_tensor(),
                              weight_decay=hp.wd_tensor(), momentum=0.9, decay=DECAY)
    assert all(t.requires_grad for t in new.values())
    assert bufs["conv.weight"].requires_grad  # wd enters the buffer ...
    assert not bufs["conv.bias"].requires_grad  # ... of decayed names only
    out = torch.autograd.grad(sum(t.sum() for t in new.values()), list(_params(model).values()),
                              allow_unused=True)
    assert all(o is None for o in out)  # Sec. 3.2: theta^t is a constant


def test_lookahead_rejects_negative_momentum() -> None:
    with pytest.raises(UserError):
        lookahead_sgd({}, {}, {}, lr=torch.tensor(0.1), weight_decay=torch.tensor(0.0),
                      momentum=-0.1, decay=frozenset())


# --- the hypergradient (Eq. 4) ------------------------------------------------------------


def _held_problem() -> tuple[Tiny, dict[str, Tensor], dict[str, Tensor], tuple[Tensor, Tensor]]:
    """A model after one committed momentum step, the next step's gradients, and a held batch."""
    model, store = _model(), {}
    g = torch.Generator().manual_seed(3)
    x, y = _batch(g, torch.float64)
    lr0, wd0 = torch.tensor(0.1, dtype=torch.float64), torch.tensor(1e-3, dtype=torch.float64)
    new, bufs = lookahead_sgd(_params(model), _grads(model, x, y), store, lr=lr0, weight_decay=wd0,
                              momentum=0.9, decay=DECAY)
    commit(_params(model), new, bufs, store)
    x, y = _batch(g, torch.float64)
    return model, _grads(model, x, y), store, _batch(g, torch.float64)


def _held_loss(
    model: Tiny, grads: dict, store: dict, held: tuple, lr: Tensor, wd: Tensor
) -> Tensor:
    new, _ = lookahead_sgd(_params(model), grads, store, lr=lr, weight_decay=wd, momentum=0.9,
                           decay=DECAY)
    return F.cross_entropy(functional_forward(model)(new, held[0]), held[1])


def _finite_differences(model: Tiny, grads: dict, store: dict, held: tuple, lr: float, wd: float
                        ) -> tuple[float, float]:
    def loss(a: float, b: float) -> float:
        with torch.no_grad():
            lr_t, wd_t = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
            return _held_loss(model, grads, store, held, lr_t, wd_t).item()

    h_lr, h_wd = 1e-4 * lr, 1e-4 * wd
    d_lr = (loss(lr + h_lr, wd) - loss(lr - h_lr, wd)) / (2 * h_lr)
    d_wd = (loss(lr, wd + h_wd) - loss(lr, wd - h_wd)) / (2 * h_wd)
    return d_lr, d_wd


def test_hypergradient_matches_finite_differences() -> None:
    model, grads, store, held = _held_problem()
    hp = _hp(weight_decay=0.02)
    lr, wd = hp.values()["lr"], hp.values()["weight_decay"]
    held_loss = _held_loss(model, grads, store, held, hp.lr_tensor(), hp.wd_tensor())
    g_lr, g_wd = hp.hypergradients(held_loss)
    fd_lr, fd_wd = _finite_differences(model, grads, store, held, lr, wd)
    # d/dlog eta = eta * d/deta
    assert abs(g_lr / lr - fd_lr) <= 1e-3 * abs(fd_lr)
    assert abs(g_wd / wd - fd_wd) <= 1e-3 * abs(fd_wd)
    assert abs(fd_lr) > 1e-3 and abs(fd_wd) > 1e-4  # not a vacuous comparison


def test_the_next_batch_surrogate_is_that_batchs_hypergradient() -> None:
    """held_batch="next" (engine): grad L(theta') . theta'(eta), back-propagated to eta, is
    dL(theta'(eta))/deta exactly (checked against finite differences)."""
    model, grads, store, held = _held_problem()
    hp = _hp(weight_decay=0.02)
    new, _ = lookahead_sgd(_params(model), grads, store, lr=hp.lr_tensor(), weight_decay=hp.wd_tensor(), momentum=0.9, decay=DECAY)
    at_new = {n: t.detach().requires_grad_() for n, t in new.items()}
    loss = F.cross_entropy(functional_forward(model)(at_new, held[0]), held[1])
    next_grads = dict(zip(at_new, torch.autograd.grad(loss, list(at_new.values())), strict=True))
    g_lr, g_wd = hp.hypergradients(torch.stack([(next_grads[n] * new[n]).sum() for n in new]).sum())
    fd_lr, fd_wd = _finite_differences(model, grads, store, held, *hp.values().values())
    lr, wd = hp.values()["lr"], hp.values()["weight_decay"]
    assert abs(g_lr / lr - fd_lr) <= 1e-5 * abs(fd_lr) and abs(g_wd / wd - fd_wd) <= 1e-4 * abs(fd_wd)


def test_hypergradient_step_takes_the_log_space_sgd_step() -> None:
    model, grads, store, held = _held_problem()
    hp = _hp(weight_decay=0.02, hyper_lr=1e-3)
    lr, wd = hp.values()["lr"], hp.values()["weight_decay"]
    fd_lr, fd_wd = _finite_differences(model, grads, store, held, lr, wd)
    before = _held_loss(model, grads, store, held, hp.lr_tensor(), hp.wd_tensor()).item()
    new, _ = lookahead_sgd(_params(model), grads, store, lr=hp.lr_tensor(),
                           weight_decay=hp.wd_tensor(), momentum=0.9, decay=DECAY)
    held_loss = hypergradient_step(model, new, *held, hp)
    assert held_loss == pytest.approx(before, rel=1e-12)
    # log eta' = log eta - hyper_lr * eta * dL/deta
    assert np.log(hp.values()["lr"]) == pytest.approx(np.log(lr) - 1e-3 * lr * fd_lr,
                                                      rel=0, abs=1e-9)
    assert np.log(hp.values()["weight_decay"]) == pytest.approx(np.log(wd) - 1e-3 * wd * fd_wd,
                                                                rel=0, abs=1e-9)
    assert all(p.grad is None for p in model.parameters())


def test_held_forward_leaves_batchnorm_running_stats_alone() -> None:
    model, grads, store, held = _held_problem()
    before = {n: b.clone() for n, b in model.named_buffers()}
    hp = _hp()
    new, _ = lookahead_sgd(_params(model), grads, store, lr=hp.lr_tensor(),
                           weight_decay=hp.wd_tensor(), momentum=0.9, decay=DECAY)
    hypergradient_step(model, new, *held, hp)
    for name, b in model.named_buffers():
        assert torch.equal(b, before[name]), name
    # the hazard being guarded against: a plain functional_call in train mode updates them
    torch.func.functional_call(model, {n: t.detach() for n, t in new.items()}, (held[0],))
    assert not torch.equal(model.bn.running_mean, before["bn.running_mean"])


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_hyperparameters_stay_within_bounds(sign: float) -> None:
    bounds = HyperBounds(lr=(1e-3, 0.5), weight_decay=(0.0, 1e-2))
    hp = LearnedHyperparameters(lr=0.05, weight_decay=1e-3, bounds=bounds, hyper_lr=100.0)
    for _ in range(5):
        hp.update(sign * 1e3 * (hp.lr_tensor() + hp.wd_tensor()))
        lr, wd = hp.values()["lr"], hp.values()["weight_decay"]
        assert 1e-3 <= lr <= 0.5 and RELATIVE_FLOOR * 1e-2 <= wd <= 1e-2
    expected = (1e-3, RELATIVE_FLOOR * 1e-2) if sign > 0 else (0.5, 1e-2)
    assert (lr, wd) == pytest.approx(expected, rel=1e-12)


def test_hyperparameter_state_round_trips_and_validates() -> None:
    hp = _hp(weight_decay=0.0)  # lower bound 0: starts at the floor
    assert hp.values()["weight_decay"] == pytest.approx(RELATIVE_FLOOR * 0.1)
    hp.update(hp.lr_tensor() - 3 * hp.wd_tensor())
    other = _hp()
    other.load_state_dict(hp.state_dict())
    assert other.values() == hp.values() and other.hyper_lr == hp.hyper_lr
    with pytest.raises(UserError):
        other.load_state_dict({"log_lr": 0.0})
    with pytest.raises(UserError):
        _hp(lr=-1.0)
    with pytest.raises(UserError):
        LearnedHyperparameters(lr=0.1, weight_decay=0.0, bounds=HyperBounds((0.5, 0.1), (0.0, 1.0)))


# --- ISTA (Eq. 5-6) -----------------------------------------------------------------------


def test_soft_threshold() -> None:
    v = torch.tensor([-3.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    assert torch.equal(soft_threshold(v, 1.0), torch.tensor([-2.0, 0.0, 0.0, 0.0, 0.0, 2.0]))
    assert torch.equal(soft_threshold(v, 0.0), v)
    with pytest.raises(UserError):
        soft_threshold(v, -1.0)


def _sparse_problem(
    seed: int, m: int = 40, n: int = 100, k: int = 5
) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(m, n, generator=g, dtype=torch.float64) / m**0.5
    x = torch.zeros(n, dtype=torch.float64)
    support = torch.randperm(n, generator=g)[:k]
    signs = torch.randn(k, generator=g, dtype=torch.float64).sign()
    x[support] = signs * (1 + torch.rand(k, generator=g))  # |x_i| in [1, 2)
    return A, A @ x, x


def test_ista_recovers_a_sparse_vector() -> None:
    A, b, x_star = _sparse_problem(0)
    x = ista(A, b, 1e-2, iterations=3000, tol=1e-10)
    assert torch.equal(x != 0, x_star != 0)
    assert ((x - x_star).norm() / x_star.norm()).item() < 0.05


@pytest.mark.parametrize("seed", [1, 2])
def test_ista_solves_the_lasso_as_scikit_learn_with_alpha_lam_over_m(seed: int) -> None:
    from sklearn.linear_model import Lasso

    A, b, _ = _sparse_problem(seed)  # seeds whose LASSO solution has a spurious entry
    lam = 1e-2
    x = ista(A, b, lam, iterations=5000, tol=1e-12)
    ref = Lasso(alpha=lam / A.shape[0], fit_intercept=False, tol=1e-12, max_iter=100_000)
    coef = ref.fit(A.numpy(), b.numpy()).coef_
    np.testing.assert_allclose(x.numpy(), coef, atol=1e-8)


@pytest.mark.parametrize("seed", [1, 2])
def test_lasso_is_the_solution_ista_converges_to_where_it_converges(seed: int) -> None:
    A, b, _ = _sparse_problem(seed)
    x = ista(A, b, 1e-2, iterations=5000, tol=1e-12)
    np.testing.assert_allclose(lasso(A, b, 1e-2).numpy(), x.numpy(), atol=1e-8)


def _dha_node_problem(seed: int, inputs: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)  # as a DHA node: A ~ U[0, 1) (7 x 7 inputs), b ~ N(0, 1)
    return torch.rand(7, 7 * inputs, generator=g, dtype=torch.float64), torch.randn(7, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("seed", range(8))
def test_a_dha_node_recovers_the_exact_sparse_lasso_solution(seed: int) -> None:
    A, b = _dha_node_problem(seed, inputs=2 + seed % 4)
    lam = 1e-5
    x = lasso(A, b, lam)
    residual_correlation = A.T @ (b - A @ x)  # optimality: |A^T r| <= lam, = lam sign(x) on the support
    assert residual_correlation.abs().max().item() <= lam * (1 + 1e-6)
    support = x != 0
    torch.testing.assert_close(residual_correlation[support], lam * x[support].sign(), rtol=1e-6, atol=1e-12)
    assert int(support.sum()) <= 7  # at most m non-zeros (1,000 ISTA steps from 0 left 14-35)
    assert lasso_objective(A, b, x, lam) < lasso_objective(A, b, ista(A, b, lam, iterations=1000), lam)
    node = SparseCodedNode(inputs=2 + seed % 4, operations=7, generator=torch.Generator().manual_seed(seed))
    alpha = node.recover(exact=True)  # DHAOptions.recovery="lasso"
    assert int((alpha != 0).sum()) <= 7 and alpha.dtype == torch.float32
    torch.testing.assert_close(node.recover(), ista(node.A, node.b.detach(), node.lam, iterations=1000).reshape(alpha.shape))


def test_ista_objective_decreases_monotonically() -> None:
    A, b, _ = _sparse_problem(0)
    iterates = [ista(A, b, 1e-2, iterations=t, tol=0.0) for t in range(60)]  # x_0 .. x_59
    objective = [lasso_objective(A, b, x, 1e-2) for x in iterates]
    assert all(later <= earlier + 1e-12 for earlier, later in itertools.pairwise(objective))
    assert objective[-1] < 0.1 * objective[0]


def test_ista_validates_and_carries_no_gradient() -> None:
    A, b, _ = _sparse_problem(0)
    assert not ista(A, b.clone().requires_grad_(), 1e-2, iterations=3).requires_grad
    assert torch.equal(ista(torch.zeros(3, 4), torch.ones(3), 0.1), torch.zeros(4))
    for bad_a, bad_b, bad_lam in [(A, b[:-1], 0.1), (A, b, -1.0), (A[0], b, 0.1)]:
        with pytest.raises(UserError):
            ista(bad_a, bad_b, bad_lam)
    with pytest.raises(UserError):
        ista(A, b, 0.1, step=0.0)


# --- SparseCodedNode (Eq. 5-7) -------------------------------------------------------------


def _node(inputs: int = 3) -> SparseCodedNode:
    return SparseCodedNode(inputs=inputs, operations=7, generator=torch.Generator().manual_seed(0))


def test_node_shapes_and_initialisation() -> None:
    node = _node()
    assert node.A.shape == (7, 21) and node.b.shape == (7,)
    assert 0.0 <= node.A.min().item() and node.A.max().item() < 1.0
    assert node.b.abs().max().item() < 1e-2
    assert [n for n, _ in node.named_parameters()] == ["b"] and "A" in dict(node.named_buffers())
    assert node.recover().shape == (3, 7)
    assert torch.equal(_node().A, node.A) and torch.equal(_node().b, node.b)
    small = SparseCodedNode(inputs=2, operations=7, measurements=4, generator=torch.Generator())
    assert small.A.shape == (4, 14)


def test_relaxed_is_differentiable_in_b_only() -> None:
    node = _node()
    alpha = node.recover().requires_grad_()
    c = node.relaxed(alpha)
    assert c.shape == (3, 7)
    flat = alpha.detach().reshape(-1)  # Eq. 7: c = A^T b - E^T alpha = alpha + A^T (b - A alpha)
    expected = flat + node.A.T @ (node.b.detach() - node.A @ flat)
    torch.testing.assert_close(c.detach().reshape(-1), expected)
    c.sum().backward()
    assert alpha.grad is None
    torch.testing.assert_close(node.b.grad, node.A @ torch.ones(21))


def test_top_inputs_by_l1_norm() -> None:
    node = _node(inputs=3)
    alpha = torch.zeros(3, 7)
    alpha[0, :2] = 0.9  # L1 1.8, L2 1.27
    alpha[1, 0] = -1.5  # L1 1.5, L2 1.5
    alpha[2, 0] = 0.1
    assert node.top_inputs(alpha) == [0, 1]
    assert node.top_inputs(torch.ones(3, 7), k=2) == [0, 1]  # ties: lower index
    assert node.top_inputs(alpha, k=1) == [0]
    with pytest.raises(UserError):
        node.top_inputs(alpha, k=4)


def test_freezing_and_its_state() -> None:
    node = _node()
    alpha = node.recover()
    assert not node.update_frozen(alpha, alpha + 0.01)
    assert node.update_frozen(alpha, alpha + 1e-4)
    assert node.update_frozen(alpha, alpha + 1.0)  # stays frozen
    fresh = _node()
    fresh.load_state_dict(copy.deepcopy(node.state_dict()))
    assert fresh.frozen
