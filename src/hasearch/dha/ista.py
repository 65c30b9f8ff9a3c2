"""Sparse coding of architecture parameters (seed 001 Sec. 3.3, after ISTA-NAS).

Eq. 5: b = A alpha + eps, with A in R^{m x n} a fixed random measurement matrix and b in R^m
(m << n) the trainable compressed representation of a node's alpha in R^n. alpha is recovered
from b by the LASSO min_x 1/2 ||A x - b||_2^2 + lam ||x||_1, solved with ISTA (Eq. 6), and the
operation weights are relaxed by Eq. 7 so that the training loss has a gradient w.r.t. b.

Unlike scikit-learn's ``Lasso`` (which minimises 1/(2 n_samples) ||A x - b||^2 + alpha ||x||_1
and fits an intercept by default), the loss here is unscaled and has no intercept, so ``lam``
is not interchangeable with scikit-learn's ``alpha`` (lam = m * alpha).

Departure (the solver, not the problem), measured: by default a node's alpha is
:data:`ISTA_STEPS` = 1,000 ISTA steps (Eq. 6) from x = 0, which at the search's lam = 1e-5
with A ~ U[0, 1) (7 x 14..35) stop far from the LASSO's solution: an early-stopped, dense
alpha (24.5 non-zeros on average where the solution has at most 7; a higher LASSO objective
on 60 of 60 random nodes; another derived (input, operation) pair on 44 of 60). The ISTA-NAS
reference solves the LASSO exactly (cvxpy); ``DHAOptions.recovery="lasso"`` does too
(:func:`lasso`). At CPU scale the exact solution was not better: Table 1/3 rows at 3 epochs,
six seeds, exact minus early-stopped: CIFAR-10 subset -0.87..+0.54 points per row (within
noise), mnist5k -1.95..-4.02, and the rows' spread across seeds 1.5-4x larger
(docs/benchmarks.md, DHA).
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn

from hasearch.errors import UserError

#: ISTA steps of the default recovery (see the module docstring).
ISTA_STEPS = 1000


def soft_threshold(v: Tensor, t: float) -> Tensor:
    """The shrinkage operator eta_t(v) = sign(v) * max(|v| - t, 0), elementwise (Eq. 6)."""
    if not (math.isfinite(t) and t >= 0.0):
        raise UserError(f"threshold must be a finite number >= 0; got {t}")
    return v.sign() * (v.abs() - t).clamp_min(0.0)


def lasso_objective(A: Tensor, b: Tensor, x: Tensor, lam: float) -> float:
    """1/2 ||A x - b||_2^2 + lam ||x||_1 (the LASSO of Eq. 5-6)."""
    return (0.5 * (A @ x - b).square().sum() + lam * x.abs().sum()).item()


def _check_problem(A: Tensor, b: Tensor, lam: float, iterations: int, step: float | None) -> None:
    if A.dim() != 2 or b.dim() != 1 or b.shape[0] != A.shape[0]:
        shapes = f"{tuple(A.shape)} and {tuple(b.shape)}"
        raise UserError(f"ista needs A (m, n) and b (m,); got {shapes}")
    if not (math.isfinite(lam) and lam >= 0.0):
        raise UserError(f"lam must be a finite number >= 0; got {lam}")
    if iterations < 0:
        raise UserError(f"iterations must be >= 0; got {iterations}")
    if step is not None and not (math.isfinite(step) and step > 0.0):
        raise UserError(f"step must be a finite number > 0; got {step}")


@torch.no_grad()
def ista(
    A: Tensor,
    b: Tensor,
    lam: float,
    *,
    iterations: int = 100,
    step: float | None = None,
    tol: float = 1e-6,
) -> Tensor:
    """Minimise 1/2 ||A x - b||_2^2 + lam ||x||_1 by ISTA (Eq. 6), from x_0 = 0.

    x_{t+1} = soft(x_t - s A^T (A x_t - b), lam s), with s = 1/L by default, L the largest
    eigenvalue of A^T A (the squared spectral norm of A: the Lipschitz constant of the
    gradient, for which the objective decreases monotonically). Stops after ``iterations``
    steps or once ||x_{t+1} - x_t||_2 <= tol * ||x_{t+1}||_2 (relative, since the scale of b is
    arbitrary: ISTA-NAS initialises it at 1e-3). No gradient flows through the result.
    """
    _check_problem(A, b, lam, iterations, step)
    x = A.new_zeros(A.shape[1])
    if step is None:
        lipschitz = torch.linalg.matrix_norm(A, ord=2).item() ** 2
        if lipschitz == 0.0:
            return x  # A = 0: x = 0 is optimal
        step = 1.0 / lipschitz
    for _ in range(iterations):
        x_next = soft_threshold(x - step * (A.T @ (A @ x - b)), lam * step)  # Eq. 6
        done = (x_next - x).norm().item() <= tol * x_next.norm().item()
        x = x_next
        if done:
            break
    return x


@torch.no_grad()
def lasso(A: Tensor, b: Tensor, lam: float) -> Tensor:
    """The exact minimiser of 1/2 ||A x - b||_2^2 + lam ||x||_1 (Eq. 5-6), in A's dtype.

    LARS with the lasso modification (Efron et al. 2004, Sec. 3.1; scikit-learn's
    ``lars_path``, whose loss is scaled by 1 / (2 m), hence its alpha = lam / m), in float64:
    a piecewise-linear path in lam followed to its end, so the solution meets the LASSO's
    optimality conditions to rounding (|A^T (b - A x)| <= lam, with equality and x's sign on
    its support) and has at most m non-zeros. About a millisecond for a 7 x 35 node.
    """
    from sklearn.linear_model import lars_path

    _check_problem(A, b, lam, 0, None)
    design, target = A.detach().double().cpu().numpy(), b.detach().double().cpu().numpy()
    if not target.any() or not design.any():
        return A.new_zeros(A.shape[1])  # x = 0 is optimal
    m, n = design.shape
    with warnings.catch_warnings():  # LARS notes (and handles) collinear steps of the path
        warnings.simplefilter("ignore")
        _, _, coefs = lars_path(design, target, alpha_min=lam / m, method="lasso", max_iter=20 * n)
    return torch.from_numpy(coefs[:, -1].copy()).to(dtype=A.dtype, device=A.device)


class SparseCodedNode(nn.Module):
    """The architecture parameters of one node: b (trainable, R^m) coding alpha (R^n), Eq. 5.

    n = inputs * operations (one alpha per input edge and operation). A ~ U[0, 1) (m, n) is a
    fixed buffer, b is initialised ``init_scale`` * N(0, 1) (ISTA-NAS: 1e-3), both drawn from
    ``generator`` (A first).
    ``frozen`` (saved in the state dict) marks a node whose alpha has stopped moving; the
    caller then stops updating its b.
    """

    def __init__(
        self,
        *,
        inputs: int,
        operations: int,
        measurements: int | None = None,
        lam: float = 1e-5,
        init_scale: float = 1e-3,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        m = operations if measurements is None else measurements
        if inputs < 1 or operations < 1 or m < 1:
            sizes = f"{inputs}, {operations}, {m}"
            raise UserError(f"inputs, operations and measurements must be >= 1; got {sizes}")
        if not (math.isfinite(lam) and lam >= 0.0):
            raise UserError(f"lam must be a finite number >= 0; got {lam}")
        self.inputs, self.operations, self.lam = inputs, operations, float(lam)
        self.register_buffer("A", torch.rand(m, inputs * operations, generator=generator))
        self.b = nn.Parameter(init_scale * torch.randn(m, generator=generator))
        self.frozen = False

    def recover(self, *, exact: bool = False) -> Tensor:
        """alpha for argmin_x 1/2 ||A x - b||^2 + lam ||x||_1 (Eq. 5-6), shape (inputs,
        operations): :data:`ISTA_STEPS` steps of Eq. 6 from 0, or with ``exact`` the solution
        itself (:func:`lasso`)."""
        b = self.b.detach()
        x = lasso(self.A, b, self.lam) if exact else ista(self.A, b, self.lam, iterations=ISTA_STEPS)
        return x.reshape(self.inputs, self.operations)

    def relaxed(self, alpha: Tensor) -> Tensor:
        """Eq. 7's coefficients c = A^T b - E^T alpha, E = A^T A - I, shape (inputs, operations).

        ``alpha`` (from :meth:`recover`) is detached, so c is differentiable w.r.t. b only
        (dc/db = A^T); at an exact solution (A alpha = b) c equals alpha numerically.
        """
        flat = alpha.detach().reshape(-1)
        if flat.shape[0] != self.A.shape[1]:
            want = f"{self.inputs} x {self.operations}"
            raise UserError(f"alpha must have {want} entries; got {tuple(alpha.shape)}")
        gram = self.A.T @ self.A
        e = gram - torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        c = self.A.T @ self.b - e.T @ flat.to(self.A.dtype)
        return c.reshape(self.inputs, self.operations)

    def top_inputs(self, alpha: Tensor, k: int = 2) -> list[int]:
        """The ``k`` input edges with the largest L1 norm sum_r |alpha_edge^r|.

        Ordered by decreasing norm, ties by lower index. ``alpha``: (inputs, operations).
        """
        if not 1 <= k <= self.inputs:
            raise UserError(f"k must be in [1, {self.inputs}]; got {k}")
        norms = alpha.detach().reshape(self.inputs, self.operations).abs().sum(dim=1).tolist()
        return sorted(range(self.inputs), key=lambda i: (-norms[i], i))[:k]

    def update_frozen(self, previous_alpha: Tensor, alpha: Tensor, tol: float = 1e-3) -> bool:
        """Freeze the node once ||alpha_t - alpha_{t-1}||_2 <= ``tol``; a frozen node stays frozen.

        Returns ``frozen``.
        """
        if not self.frozen:
            change = (alpha.detach() - previous_alpha.detach()).norm().item()
            self.frozen = change <= tol
        return self.frozen

    def get_extra_state(self) -> dict[str, bool]:
        """``frozen``, so that it round-trips through ``state_dict``."""
        return {"frozen": self.frozen}

    def set_extra_state(self, state: dict[str, bool]) -> None:
        """Restore :meth:`get_extra_state`'s output."""
        self.frozen = bool(state["frozen"])
