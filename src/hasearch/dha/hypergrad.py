"""One-step hypergradient optimisation of learning rate and weight decay (seed 001 Sec. 3.2).

Eq. 3: theta^{t+1} = OP(theta^t, eta^t, grad_theta L^tr(theta^t)), with OP = SGD with momentum
and L2 weight decay, computed out of place so that theta^{t+1} stays a function of
eta = (lr, weight decay). Eq. 4: eta^{t+1} = eta^t - beta * grad_eta L^tr(theta^{t+1}(eta^t)) on
a held batch (a subset of the training set). As in Sec. 3.2, theta^t, the gradient and the old
momentum buffer are constants (the dependence of theta^t on eta^{t-1} is dropped).

The look-ahead step is the real training step: the caller computes it once, uses it for the
hypergradient, then commits it to the model::

    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    loss = criterion(model(x), y)
    grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
    new, bufs = lookahead_sgd(params, grads, store, lr=hp.lr_tensor(),
                              weight_decay=hp.wd_tensor(), momentum=0.9, decay=decay)
    held = hypergradient_step(model, new, x_held, y_held, hp)   # Eq. 4, updates hp
    commit(params, new, bufs, store)                           # Eq. 3, theta^{t+1}

``store`` (name -> momentum buffer, initially empty) replaces torch.optim.SGD's state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hasearch.errors import UserError

Forward = Callable[[dict[str, Tensor], Tensor], Tensor]
Criterion = Callable[[Tensor, Tensor], Tensor]

#: Lower clamp of a hyperparameter whose lower bound is 0, relative to its upper bound.
RELATIVE_FLOOR = 1e-6


@dataclass(frozen=True)
class HyperBounds:
    """Closed intervals ``(low, high)`` for the learning rate and the weight decay."""

    lr: tuple[float, float]
    weight_decay: tuple[float, float]


def _check_interval(name: str, bounds: tuple[float, float]) -> tuple[float, float]:
    low, high = (float(v) for v in bounds)
    if not (math.isfinite(low) and math.isfinite(high) and 0.0 <= low <= high and high > 0.0):
        raise UserError(f"bounds of {name} must satisfy 0 <= low <= high, high > 0; got {bounds}")
    return low, high


def _clamped_log(log_value: float, low: float, high: float) -> float:
    """``log_value`` clamped to [log low, log high], such that exp of the result lies in it.

    ``low`` == 0 is replaced by ``RELATIVE_FLOOR * high``, since 0 has no logarithm. The result
    is nudged by one ulp where exp (math's or torch's) would round it outside [low, high].
    """
    low = max(low, RELATIVE_FLOOR * high)
    x = min(max(log_value, math.log(low)), math.log(high))

    def exps(v: float) -> tuple[float, float]:
        return math.exp(v), torch.tensor(v, dtype=torch.float64).exp().item()

    while max(exps(x)) > high:
        x = math.nextafter(x, -math.inf)
    while min(exps(x)) < low:
        x = math.nextafter(x, math.inf)
    return x


def _log(value: float) -> float:
    return math.log(value) if value > 0.0 else -math.inf


class LearnedHyperparameters:
    """Learning rate and weight decay learned by Eq. 4, held as float64 scalar tensors.

    Departure from Eq. 4: the variables are log lr and log wd, updated by plain SGD with step
    ``hyper_lr``: log eta <- log eta - hyper_lr * dL/dlog eta, where dL/dlog eta = eta * dL/deta.
    This makes the step scale-free (a relative change of eta), so one ``hyper_lr`` serves an lr
    near 0.1 and a weight decay near 5e-4; Eq. 4's linear step would need a beta per scale.
    After every update each value is clamped to its bounds (the log is clamped to [log low,
    log high], the same as clamping the value since exp is monotone, and nudged by an ulp where
    exp would round outside). A lower bound of 0 (possible for weight decay) is replaced by the
    floor ``RELATIVE_FLOOR * high`` (1e-6 of the upper bound), so the log stays finite; an
    initial value of 0 starts at that floor. Near the floor a log step is tiny (it is
    proportional to the value), so a weight decay driven there stays close to 0.
    """

    def __init__(
        self, *, lr: float, weight_decay: float, bounds: HyperBounds, hyper_lr: float = 0.01
    ) -> None:
        self.bounds = HyperBounds(
            lr=_check_interval("lr", bounds.lr),
            weight_decay=_check_interval("weight_decay", bounds.weight_decay),
        )
        if not (math.isfinite(hyper_lr) and hyper_lr >= 0.0):
            raise UserError(f"hyper_lr must be a finite number >= 0; got {hyper_lr}")
        for name, value in (("lr", lr), ("weight_decay", weight_decay)):
            if not (math.isfinite(value) and value >= 0.0):
                raise UserError(f"{name} must be a finite number >= 0; got {value}")
        self.hyper_lr = float(hyper_lr)
        self.log_lr = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
        self.log_wd = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
        self._set(_log(lr), _log(weight_decay))

    def _set(self, log_lr: float, log_wd: float) -> None:
        with torch.no_grad():
            self.log_lr.fill_(_clamped_log(log_lr, *self.bounds.lr))
            self.log_wd.fill_(_clamped_log(log_wd, *self.bounds.weight_decay))

    def lr_tensor(self) -> Tensor:
        """The learning rate exp(log lr), differentiable w.r.t. ``log_lr``."""
        return self.log_lr.exp()

    def wd_tensor(self) -> Tensor:
        """The weight decay exp(log wd), differentiable w.r.t. ``log_wd``."""
        return self.log_wd.exp()

    def hypergradients(self, held_loss: Tensor) -> tuple[float, float]:
        """(dL/dlog lr, dL/dlog wd) of ``held_loss``; 0 for one it does not depend on."""
        g_lr, g_wd = torch.autograd.grad(held_loss, [self.log_lr, self.log_wd], allow_unused=True)
        return (0.0 if g_lr is None else g_lr.item(), 0.0 if g_wd is None else g_wd.item())

    def update(self, held_loss: Tensor) -> tuple[float, float]:
        """Eq. 4 in log space on ``held_loss``, then clamp; returns the log-space hypergradients.

        A non-finite hypergradient skips the step (eta is left as it was).
        """
        g_lr, g_wd = self.hypergradients(held_loss)
        if not (math.isfinite(g_lr) and math.isfinite(g_wd)):
            return g_lr, g_wd  # a non-finite hypergradient would poison eta: skip the step
        step = self.hyper_lr
        self._set(self.log_lr.item() - step * g_lr, self.log_wd.item() - step * g_wd)
        return g_lr, g_wd

    def values(self) -> dict[str, float]:
        """The current values, ``{"lr": ..., "weight_decay": ...}``."""
        return {"lr": self.lr_tensor().item(), "weight_decay": self.wd_tensor().item()}

    def state_dict(self) -> dict[str, float]:
        """The log values and ``hyper_lr``, for a checkpoint (exact round trip)."""
        return {
            "log_lr": self.log_lr.item(), "log_wd": self.log_wd.item(), "hyper_lr": self.hyper_lr
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (values clamped to this object's bounds)."""
        try:
            log_lr, log_wd, hyper_lr = (float(state[k]) for k in ("log_lr", "log_wd", "hyper_lr"))
        except (KeyError, TypeError, ValueError) as exc:
            damage = f"{type(exc).__name__}: {exc}"
            raise UserError(f"hyperparameter state is damaged: {damage}") from exc
        valid_step = math.isfinite(hyper_lr) and hyper_lr >= 0.0
        if math.isnan(log_lr) or math.isnan(log_wd) or not valid_step:
            raise UserError(f"hyperparameter state is damaged: {dict(state)}")
        self.hyper_lr = hyper_lr
        self._set(log_lr, log_wd)


def lookahead_sgd(
    params: Mapping[str, Tensor],
    grads: Mapping[str, Tensor],
    buffers: Mapping[str, Tensor],
    *,
    lr: Tensor,
    weight_decay: Tensor,
    momentum: float,
    decay: frozenset[str],
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Eq. 3 with OP = torch.optim.SGD (dampening 0, no Nesterov), out of place.

    For every name of ``params``: d = g + wd * w (wd only for names in ``decay``; names of
    ``decay`` not in ``params`` are ignored), buf' = momentum * buf + d (buf' = d where
    ``buffers`` has no entry, as torch does on the first step), w' = w - lr * buf'; with
    momentum 0 there is no buffer (w' = w - lr * d, returned buffers empty). w, g and buf are
    detached (Sec. 3.2: constants), so the results are in the graph only w.r.t. lr and wd.
    Returns (new parameters, new buffers).
    """
    if not (math.isfinite(momentum) and momentum >= 0.0):
        raise UserError(f"momentum must be a finite number >= 0; got {momentum}")
    new: dict[str, Tensor] = {}
    new_buffers: dict[str, Tensor] = {}
    for name, param in params.items():
        w, d = param.detach(), grads[name].detach()
        if name in decay:
            d = d + weight_decay * w
        if momentum:
            old = buffers.get(name)
            d = d if old is None else momentum * old.detach() + d
            new_buffers[name] = d
        new[name] = w - lr * d
    return new, new_buffers


def functional_forward(model: nn.Module) -> Forward:
    """forward(params, x) = ``model`` with ``params`` substituted, on copies of its buffers.

    In train mode BatchNorm normalises with the batch statistics (the held loss is a training
    loss, Sec. 3.2) and updates the running statistics of the buffers it is given; it is given
    clones, so the model's running statistics and ``num_batches_tracked`` stay as they were.
    In eval mode the running statistics are used (and not changed).
    """

    def forward(params: dict[str, Tensor], x: Tensor) -> Tensor:
        buffers = {name: b.clone() for name, b in model.named_buffers()}
        return torch.func.functional_call(model, {**buffers, **params}, (x,), strict=False)

    return forward


def hypergradient_step(
    model: nn.Module,
    params_new: dict[str, Tensor],
    held_x: Tensor,
    held_y: Tensor,
    hp: LearnedHyperparameters,
    *,
    forward: Forward | None = None,
    criterion: Criterion = F.cross_entropy,
) -> float:
    """Eq. 4: the held-batch loss L(theta^{t+1}(eta)), back-propagated to ``hp`` only; steps ``hp``.

    ``params_new`` comes from :func:`lookahead_sgd` (parameters not in it are the model's own).
    ``forward`` defaults to :func:`functional_forward` (model buffers left untouched); a custom
    one must leave them alone itself. Gradients reach only hp's log tensors (no ``.grad`` of
    the model is written). Returns the held loss (before the update of ``hp``).
    """
    run = functional_forward(model) if forward is None else forward
    loss = criterion(run(params_new, held_x), held_y)
    hp.update(loss)
    return loss.item()


@torch.no_grad()
def commit(
    model_params: Mapping[str, nn.Parameter],
    new: Mapping[str, Tensor],
    buffers: Mapping[str, Tensor],
    store: dict[str, Tensor],
) -> None:
    """Make the look-ahead step the real training step (Eq. 3).

    Copies ``new`` into the parameters and copies of ``buffers`` (detached) into ``store``,
    the momentum state the next :func:`lookahead_sgd` call reads.
    """
    for name, value in new.items():
        model_params[name].copy_(value)
    for name, buf in buffers.items():
        store[name] = buf.detach().clone()
