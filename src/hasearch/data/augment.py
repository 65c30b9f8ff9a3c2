"""Batch-level data augmentation: random crop, horizontal flip, cutout, mixup.

Augmentation runs on whole batches in the main process (no per-sample Python loops):
kornia's RandomCrop / RandomHorizontalFlip / RandomErasing for the standard operations and
a vectorised mixup (Zhang et al. 2018).
"""

from __future__ import annotations

import math

import kornia.augmentation as K
import torch
from torch import Tensor, nn

from hasearch.data.splits import DataSplits
from hasearch.train.hparams import AugmentationSettings


class BatchAugmenter(nn.Module):
    """Standard augmentation of a normalised batch, configured per training run.

    Cutout (DeVries & Taylor 2017) is a square of side ``cutout`` pixels set to 0 (the
    mean after normalisation); kornia's RandomErasing places it fully inside the image.
    """

    def __init__(self, settings: AugmentationSettings, *, image_size: tuple[int, int], crop_padding: int, flip: bool) -> None:
        """``crop_padding`` and ``flip`` are the data set's defaults; ``settings`` may override them."""
        super().__init__()
        height, width = image_size
        padding = crop_padding if settings.crop_padding is None else int(settings.crop_padding)
        flip = flip if settings.flip is None else bool(settings.flip)
        ops: list[nn.Module] = []
        if padding > 0:
            ops.append(K.RandomCrop((height, width), padding=padding))
        if flip:
            ops.append(K.RandomHorizontalFlip())
        length = min(int(settings.cutout), height, width)
        if length > 0:
            area = length * length / (height * width)
            ops.append(K.RandomErasing(scale=(area, area), ratio=(1.0, 1.0), value=0.0, p=1.0))
        self.ops = nn.Sequential(*ops)

    @classmethod
    def for_data(cls, settings: AugmentationSettings, data: DataSplits) -> BatchAugmenter:
        """The augmenter for ``data`` with its default padding and flipping."""
        return cls(settings, image_size=data.input_shape[1:], crop_padding=data.crop_padding, flip=data.flip)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        return self.ops(x) if len(self.ops) else x


def cutout_note(largest: int, image_size: tuple[int, int]) -> str | None:
    """A warning when a space's cutout (in pixels) can hide over half of every image, as
    cutout 7-12 does on 8x8 digits (random search there: every trial with cutout >= 7 ended at
    chance, every one with cutout <= 5 trained); ``None`` where it cannot."""
    height, width = image_size
    first = math.isqrt(height * width // 2)  # then the smallest square over half the image
    while 2 * first * first <= height * width:
        first += 1
    if min(largest, height, width) < first:
        return None
    return (f"cutout reaches {largest} pixels on these {height}x{width} images: from {first} pixels on, the square hides "
            "over half of each image and such trials may learn nothing (cutout is in pixels, not a fraction of the image)")


def mixup(x: Tensor, y: Tensor, alpha: float, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, float]:
    """Mix each image with a random partner: lam ~ Beta(alpha, alpha).

    Returns the mixed batch, both label vectors and lam; the loss is
    ``lam * CE(out, y) + (1 - lam) * CE(out, y_partner)``.
    """
    if alpha <= 0:
        return x, y, y, 1.0
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(len(y), generator=generator).to(x.device)  # drawn on the CPU: the same partners on every device
    return x.mul(lam).add_(x[perm], alpha=1.0 - lam), y, y[perm], lam
