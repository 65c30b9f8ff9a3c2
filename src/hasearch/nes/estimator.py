"""The natural-evolution-strategy gradient and update of seed 003 (Eq. 5-7, 9; Alg. 1).

Pure functions of numpy arrays: the strategy supplies the losses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Schedule:
    """Linear decays of the perturbation deviation sigma and the update rate alpha to 0 over
    the search (seed 003 App. B: sigma 1.25 -> 0, alpha 5 -> 0), both in steps of H."""

    sigma0: float = 1.25
    alpha0: float = 5.0

    def sigma(self, progress: float) -> float:
        return self.sigma0 * max(0.0, 1.0 - progress)

    def alpha(self, progress: float) -> float:
        return self.alpha0 * max(0.0, 1.0 - progress)


def nes_gradient(noise: np.ndarray, losses: np.ndarray, loss_at_h: float, sigma: float) -> np.ndarray:
    """G = 1 / (sigma M) * sum_i (L_i - L(H)) n_i  (Eq. 5-7), literally.

    With n_i ~ N(0, sigma^2) this estimates sigma * grad L (of L smoothed by the Gaussian),
    not grad L: the effective step of Eq. 9 is alpha * sigma (measured: G / grad L = 1.245,
    0.498 and 0.10 at sigma = 1.25, 0.5 and 0.1 on a smooth quadratic).

    Args:
        noise: The M perturbations n_i, shape (M, d), drawn from N(0, sigma^2).
        losses: L(int(H + n_i), W), shape (M,).
        loss_at_h: L(H, W), the unperturbed child's loss on the same batch.
        sigma: The deviation the perturbations were drawn with.
    """
    if sigma <= 0.0:
        return np.zeros(noise.shape[1])
    delta = np.asarray(losses, dtype=float) - loss_at_h
    return (delta[:, None] * noise).sum(axis=0) / (sigma * len(delta))


def nes_update(h: np.ndarray, gradient: np.ndarray, alpha: float, *, max_step: float = 1.0) -> np.ndarray:
    """H <- H - alpha G (Eq. 9), each coordinate moving at most ``max_step`` steps.

    Departure: the paper does not bound the step. Early in a search alpha is near 5 and the
    resource term's part of G is large wherever H is off the target, so alpha G would move
    a width by several steps on one noisy estimate; the bound makes such updates sign steps.
    (Late in a search G vanishes by itself: at integer H, a small sigma leaves most
    perturbations in H's own child.)
    """
    return h - np.clip(alpha * gradient, -max_step, max_step)


def perturbations(rng: np.random.Generator, samples: int, dims: int, sigma: float, *, mirrored: bool = False) -> np.ndarray:
    """The M perturbations n_i ~ N(0, sigma^2), shape (M, dims).

    ``mirrored``: antithetic pairs n, -n (the last one unpaired when M is odd). Departure
    from seed 003's i.i.d. draws (Salimans et al. 2017's variance reduction): with pairs,
    Eq. 5-7's sum becomes sum_k (L(H + n_k) - L(H - n_k)) n_k, so L(H) cancels and the
    even part of the loss around H (its curvature, the noise common to both children of a
    pair) no longer enters G; the estimator stays unbiased and costs the same M losses.
    """
    if sigma <= 0.0:
        return np.zeros((samples, dims))
    if not mirrored:
        return rng.normal(0.0, sigma, size=(samples, dims))
    half = rng.normal(0.0, sigma, size=((samples + 1) // 2, dims))
    return np.concatenate([half, -half])[:samples]


def estimate(
    h: np.ndarray, loss_of: Callable[[np.ndarray], float], *, sigma: float, samples: int, rng: np.random.Generator, mirrored: bool = False
) -> tuple[np.ndarray, float]:
    """One NES gradient estimate at ``h`` with ``samples`` perturbations; ``loss_of`` maps a
    point of H to its loss. Returns (G, L(H))."""
    noise = perturbations(rng, samples, len(h), sigma, mirrored=mirrored)
    loss_at_h = loss_of(h)
    losses = np.array([loss_of(h + n) for n in noise])
    return nes_gradient(noise, losses, loss_at_h, sigma), loss_at_h
