from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hasearch.data import DataSplits, make_splits, resolve_dataset
from hasearch.data.augment import BatchAugmenter, mixup
from hasearch.errors import DataError
from hasearch.train.hparams import AugmentationSettings
from tests.conftest import SHARED_CIFAR


def test_digits_split_is_deterministic_disjoint_and_stratified(digits: DataSplits) -> None:
    again = make_splits(resolve_dataset("digits"), seed=0)
    assert torch.equal(digits.train.x, again.train.x) and torch.equal(digits.test.y, again.test.y)
    assert len(digits.train) + len(digits.val) + len(digits.test) == 1797
    assert len(digits.test) == pytest.approx(0.2 * 1797, abs=2)
    assert len(digits.val) == pytest.approx(0.15 * 1797, abs=2)
    # stratified: every class in every split, with proportions close to the pool's
    for split in (digits.train, digits.val, digits.test):
        share = torch.bincount(split.y, minlength=10).float() / len(split)
        assert torch.all((share - 0.1).abs() < 0.03)
    # disjoint: no image appears in two splits
    rows = lambda s: {tuple(r.tolist()) for r in s.x.flatten(1)}
    assert not rows(digits.train) & rows(digits.test)
    other = make_splits(resolve_dataset("digits"), seed=1)
    assert not torch.equal(other.test.y, digits.test.y)


def test_normalisation_uses_training_statistics(digits: DataSplits) -> None:
    assert digits.train.x.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert digits.train.x.std().item() == pytest.approx(1.0, abs=1e-2)
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10 and not digits.flip


def test_mnist5k() -> None:
    data = make_splits(resolve_dataset("mnist5k"))
    assert data.input_shape == (1, 28, 28)
    assert len(data.train) + len(data.val) + len(data.test) == 5000


def _write_folder(root: Path, n_per_class: int = 6, size: tuple[int, int] = (12, 10)) -> None:
    rng = np.random.default_rng(0)
    for label in ("cat", "dog", "emu"):
        (root / label).mkdir(parents=True)
        for i in range(n_per_class):
            pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")


def test_imagefolder(tmp_path: Path) -> None:
    _write_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "cat" / "notes.txt").write_text("not an image")
    data = make_splits(resolve_dataset(f"imagefolder:{tmp_path / 'imgs'}"))
    assert data.classes == ("cat", "dog", "emu")
    assert data.input_shape == (3, 10, 12)
    assert len(data.train) + len(data.val) + len(data.test) == 18
    assert data.flip


def test_imagefolder_with_train_and_holdout(tmp_path: Path) -> None:
    _write_folder(tmp_path / "d" / "train", 8)
    _write_folder(tmp_path / "d" / "holdout", 3)
    data = make_splits(resolve_dataset(f"imagefolder:{tmp_path / 'd'}"))
    assert len(data.test) == 9 and len(data.train) + len(data.val) == 24


@pytest.mark.skipif(not SHARED_CIFAR.exists(), reason="shared CIFAR-10 subset not present")
def test_cifar_subset_folder_loads_quickly() -> None:
    import time

    start = time.perf_counter()
    data = make_splits(resolve_dataset(f"imagefolder:{SHARED_CIFAR}"))
    assert time.perf_counter() - start < 30
    assert data.input_shape == (3, 32, 32) and data.num_classes == 10
    assert len(data.test) == 2000 and len(data.train) + len(data.val) == 10000


def test_npz_layouts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x_train=rng.integers(0, 255, (40, 9, 9, 3), dtype=np.uint8), y_train=np.arange(40) % 4)
    data = make_splits(resolve_dataset(f"npz:{path}"))
    assert data.input_shape == (3, 9, 9) and data.num_classes == 4
    path2 = tmp_path / "e.npz"
    np.savez(
        path2,
        x_train=rng.random((30, 7, 7)).astype(np.float32),
        y_train=np.arange(30) % 3,
        x_test=rng.random((6, 7, 7)).astype(np.float32),
        y_test=np.arange(6) % 3,
    )
    data2 = make_splits(resolve_dataset(f"npz:{path2}"))
    assert data2.input_shape == (1, 7, 7) and len(data2.test) == 6


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cifar100", "unknown dataset 'cifar100'"),
        ("imagefolder:/no/such/dir", "does not exist"),
        ("npz:/no/such.npz", "does not exist"),
    ],
)
def test_bad_dataset_specs(spec: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        resolve_dataset(spec)


def test_npz_missing_array(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((3, 4, 4)))
    with pytest.raises(DataError, match="lacks array 'x_train'"):
        resolve_dataset(f"npz:{path}").load()


def test_augmenter_crop_flip_cutout() -> None:
    x = torch.randn(64, 3, 32, 32)
    aug = BatchAugmenter(AugmentationSettings(cutout=8), image_size=(32, 32), crop_padding=4, flip=True)
    torch.manual_seed(0)
    y = aug(x)
    assert y.shape == x.shape
    # cutout zeroes an 8x8 square in every image (crop padding may add more zeros)
    zeros = (y == 0).all(dim=1).flatten(1).sum(1)
    assert torch.all(zeros >= 64)
    assert len(aug.ops) == 3
    plain = BatchAugmenter(AugmentationSettings(crop_padding=0, flip=False), image_size=(32, 32), crop_padding=4, flip=True)
    assert plain(x) is x


def test_mixup_is_a_convex_pairing() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(8.0).reshape(8, 1, 1, 1)
    y = torch.arange(8)
    torch.manual_seed(0)
    mixed, _ya, yb, lam = mixup(x, y, 0.4, gen)
    assert 0.0 <= lam <= 1.0
    assert torch.allclose(mixed.flatten(), lam * y.float() + (1 - lam) * yb.float())
    assert sorted(yb.tolist()) == list(range(8))
    assert mixup(x, y, 0.0, gen)[3] == 1.0


def test_the_cutout_note_warns_where_the_square_hides_over_half_of_an_image() -> None:
    from hasearch.data.augment import cutout_note

    assert cutout_note(5, (8, 8)) is None  # 25 of 64 pixels
    note = cutout_note(12, (8, 8))  # 6 x 6 = 36 > 32: from 6 pixels on
    assert note is not None and "from 6 pixels on" in note and "8x8" in note
    assert cutout_note(12, (28, 28)) is None and cutout_note(12, (32, 32)) is None  # the built-in spaces on mnist5k / CIFAR
    assert cutout_note(20, (32, 32)) is None and cutout_note(23, (32, 32)) is not None  # 22 x 22 = 484 < 512 < 529
