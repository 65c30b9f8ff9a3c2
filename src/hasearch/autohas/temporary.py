"""Temporary weights W* = f_h(W): one step of the sampled optimizer, computed out of place.

Seed 000 Alg. 1 / Sec. 2.3: the quality Q(alpha, h) of a sample is the validation accuracy
of W* (one step of the optimizer chosen by h, with h's learning rate, weight decay and
momentum); W* is then discarded, so W and the optimizer state are never touched here.
The formulas are torch.optim's SGD, Adam and RMSprop (L2 weight decay added to the
gradient), so W* equals what the real optimizer step will produce from the same gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

StepRule = Callable[[Tensor, Tensor, Mapping[str, Any], Mapping[str, Any]], Tensor]


def _sgd(p: Tensor, g: Tensor, state: Mapping[str, Any], group: Mapping[str, Any]) -> Tensor:
    d = g + group["weight_decay"] * p if group["weight_decay"] else g
    if group["momentum"]:
        buf = state.get("momentum_buffer")
        d = d.clone() if buf is None else buf * group["momentum"] + d * (1 - group["dampening"])
    return p - group["lr"] * d


def _adam(p: Tensor, g: Tensor, state: Mapping[str, Any], group: Mapping[str, Any]) -> Tensor:
    beta1, beta2 = group["betas"]
    d = g + group["weight_decay"] * p if group["weight_decay"] else g
    step = float(state["step"]) + 1 if "step" in state else 1.0
    m = state["exp_avg"] * beta1 + d * (1 - beta1) if "exp_avg" in state else d * (1 - beta1)
    v = state["exp_avg_sq"] * beta2 + d * d * (1 - beta2) if "exp_avg_sq" in state else d * d * (1 - beta2)
    denom = v.sqrt() / (1 - beta2**step) ** 0.5 + group["eps"]
    return p - group["lr"] / (1 - beta1**step) * m / denom


def _rmsprop(p: Tensor, g: Tensor, state: Mapping[str, Any], group: Mapping[str, Any]) -> Tensor:
    d = g + group["weight_decay"] * p if group["weight_decay"] else g
    alpha = group["alpha"]
    sq = state["square_avg"] * alpha + d * d * (1 - alpha) if "square_avg" in state else d * d * (1 - alpha)
    avg = sq.sqrt() + group["eps"]
    if group["momentum"] > 0:
        buf = state["momentum_buffer"] * group["momentum"] + d / avg if "momentum_buffer" in state else d / avg
        return p - group["lr"] * buf
    return p - group["lr"] * d / avg


RULES: dict[type, StepRule] = {torch.optim.SGD: _sgd, torch.optim.Adam: _adam, torch.optim.RMSprop: _rmsprop}


@torch.no_grad()
def temporary_weights(optimizer: torch.optim.Optimizer, names: Mapping[Tensor, str]) -> dict[str, Tensor]:
    """W* for every parameter of ``optimizer`` that has a gradient, keyed by ``names[param]``.

    Reads the gradients and the optimizer's state and hyperparameters; writes nothing.
    """
    rule = RULES[type(optimizer)]
    out = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None:
                out[names[p]] = rule(p, p.grad, optimizer.state.get(p, {}), group)
    return out
