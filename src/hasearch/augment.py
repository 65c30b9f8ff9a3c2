"""Use a learned augmentation policy on its own (seed 001 Sec. 3.1).

A DHA run saves its policy as ``search/policy.json``; :func:`load_policy` reads it (from the
run directory or the file) and :func:`augment_batch` applies it to a batch of images in
[0, 1], each image getting its own pair of operations drawn from the policy, so a user can
train other models with what DHA learned::

    from hasearch.augment import load_policy, augment_batch
    policy = load_policy("runs/dha")
    x = augment_batch(policy, images01, seed=step)      # (n, C, H, W) in [0, 1]
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from hasearch.dha.history import POLICY
from hasearch.dha.policy import AugmentationPolicy
from hasearch.errors import UserError


def load_policy(path: str | Path) -> AugmentationPolicy:
    """The policy of a DHA run (its directory) or of a policy JSON file.

    Raises:
        UserError: one line naming the file when it is missing, damaged or not a policy.
    """
    target = Path(path)
    if target.is_dir():
        target = target / POLICY
    if not target.is_file():
        raise UserError(f"no augmentation policy at {str(target)!r} (a run of a DHA strategy with augmentation saves {POLICY})")
    return AugmentationPolicy.load(target)


@torch.no_grad()
def augment_batch(policy: AugmentationPolicy, images: Tensor, *, seed: int | None = None, generator: torch.Generator | None = None) -> Tensor:
    """``images`` (n, C, H, W) in [0, 1] augmented by pairs drawn from ``policy`` (a new tensor)."""
    if images.ndim != 4 or not images.is_floating_point():
        raise UserError(f"augment_batch needs a float batch (n, C, H, W) in [0, 1], got {tuple(images.shape)} {images.dtype}")
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else seed)
    pairs, _ = policy.sample(len(images), generator)
    return policy.augment(images.clamp(0.0, 1.0), pairs, generator)


__all__ = ["AugmentationPolicy", "augment_batch", "load_policy"]
