"""Deterministic, seeded train / validation / test splits (seed 000 Table 1 hold-outs).

The validation split is the hold-out that scores candidates during a search; the test
split is touched only by the final retraining. Splits are stratified by class, and images
are normalised per channel with statistics of the training split.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from sklearn.model_selection import train_test_split
from torch import Tensor

from hasearch.data.sources import DataSource, ImageSet
from hasearch.errors import DataError


@dataclass(frozen=True)
class Split:
    """Normalised images and labels of one split."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class DataSplits:
    """Everything a trainer needs to know about the data of a search."""

    name: str
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...]
    flip: bool
    crop_padding: int
    mean: tuple[float, ...]  # per-channel normalisation applied to every split
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def device(self) -> torch.device:
        return self.train.x.device

    def to(self, device: torch.device | str) -> DataSplits:
        """The splits on ``device`` (moved once; ``self`` when already there)."""
        if torch.device(device) == self.device:
            return self
        move = lambda s: Split(s.x.to(device), s.y.to(device))
        return replace(self, train=move(self.train), val=move(self.val), test=move(self.test))

    def train_and_val(self) -> Split:
        """Training and validation together, for retraining the final configuration."""
        return Split(torch.cat([self.train.x, self.val.x]), torch.cat([self.train.y, self.val.y]))


MIN_TRAIN_IMAGES = 8


def make_splits(
    source: DataSource, *, seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.2
) -> DataSplits:
    """Load ``source`` and split it (stratified, seeded by ``seed``)."""
    loaded = source.load()
    pool = loaded.pool
    if loaded.test is None:
        pool_idx, test_idx = _stratified(pool.y, test_fraction, seed)
        test_set = _subset(pool, test_idx)
        pool = _subset(pool, pool_idx)
    else:
        test_set = loaded.test
    train_idx, val_idx = _stratified(pool.y, val_fraction / (1.0 - test_fraction), seed + 1)
    train, val = _subset(pool, train_idx), _subset(pool, val_idx)
    if len(train.y) < MIN_TRAIN_IMAGES:  # BatchNorm cannot train on one image of 1x1 activations
        raise DataError(f"{source.spec}: {len(train.y)} training images after the split (of {len(loaded.pool.y)}); hasearch needs at least {MIN_TRAIN_IMAGES}")
    mean, std = _channel_stats(train.x)
    norm = lambda s: Split((s.x - mean) / std, s.y)
    return DataSplits(
        name=source.spec,
        train=norm(train),
        val=norm(val),
        test=norm(test_set),
        classes=pool.classes,
        flip=loaded.natural_images,
        crop_padding=source.default_crop_padding,
        mean=tuple(mean.flatten().tolist()),
        std=tuple(std.flatten().tolist()),
    )


def _stratified(y: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    idx = torch.arange(len(y))
    counts = torch.bincount(y)
    stratify = y.numpy() if int(counts[counts > 0].min()) >= 2 else None
    try:
        keep, held = train_test_split(idx.numpy(), test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise DataError(f"cannot split {len(y)} images: {exc}") from None
    return torch.from_numpy(keep), torch.from_numpy(held)


def _subset(data: ImageSet, idx: Tensor) -> ImageSet:
    return ImageSet(data.x[idx], data.y[idx], data.classes)


def _channel_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return mean[0], std[0]
