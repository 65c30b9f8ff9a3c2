"""Shake-Shake (Gastaldi 2017) and ShakeDrop (Yamada et al. 2018) regularisers.

Both scale branch outputs by one random factor in the forward pass and another in the
backward pass. The trick ``y*b + (y*(a-b)).detach()`` gives value ``a*y`` and gradient
``b`` w.r.t. ``y`` without a custom autograd function. Factors are drawn per image
("Image" level, the S-S-I variant used by seed 002).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _forward_backward(y: Tensor, fwd: Tensor, bwd: Tensor) -> Tensor:
    return y * bwd + (y * (fwd - bwd)).detach()


def shake_shake(branches: list[Tensor], training: bool) -> Tensor:
    """Combine branch outputs with random convex weights (training) or their mean (eval).

    Seed 002 footnote 1: branch i is scaled by alpha_i with sum_i alpha_i = 1.
    """
    if len(branches) == 1:
        return branches[0]
    if not training:
        return torch.stack(branches).mean(0)
    n = branches[0].shape[0]
    shape = (len(branches), n, 1, 1, 1)
    alpha = torch.rand(shape, device=branches[0].device)
    beta = torch.rand(shape, device=branches[0].device)
    alpha, beta = alpha / alpha.sum(0), beta / beta.sum(0)
    out = _forward_backward(branches[0], alpha[0], beta[0])
    for i in range(1, len(branches)):
        out = out + _forward_backward(branches[i], alpha[i], beta[i])
    return out


def shake_drop(y: Tensor, death_rate: float, training: bool) -> Tensor:
    """ShakeDrop on a single residual branch output ``y``.

    Forward factor b + alpha - b*alpha (alpha ~ U[-1,1]), backward b + beta - b*beta
    (beta ~ U[0,1]), b ~ Bernoulli(1 - death_rate); at test time E = 1 - death_rate.
    """
    if death_rate <= 0.0:
        return y
    if not training:
        return y * (1.0 - death_rate)
    shape = (y.shape[0], 1, 1, 1)
    gate = torch.bernoulli(torch.full(shape, 1.0 - death_rate, device=y.device))
    alpha = torch.empty(shape, device=y.device).uniform_(-1.0, 1.0)
    beta = torch.rand(shape, device=y.device)
    return _forward_backward(y, gate + alpha - gate * alpha, gate + beta - gate * beta)
