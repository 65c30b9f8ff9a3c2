"""Bad data is refused before anything is written: one line, exit 2, no run directory left.

Data that is accepted but wrong (NaN pixels, a label of 1000 that silently makes a
1001-class model, an empty class folder) must be refused as firmly as data that crashes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hasearch.cli.main import main

RNG = np.random.default_rng(0)


def _images(n: int = 40) -> np.ndarray:
    return RNG.random((n, 8, 8), dtype=np.float32)


def _labels(n: int = 40, k: int = 4) -> np.ndarray:
    return np.arange(n) % k


def _npz(**arrays: np.ndarray) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        np.savez(tmp / "data.npz", **arrays)
        return f"npz:{tmp / 'data.npz'}"

    return make


def _with(x: np.ndarray | None = None, y: np.ndarray | None = None, **extra: np.ndarray) -> Callable[[Path], str]:
    return _npz(x_train=_images() if x is None else x, y_train=_labels() if y is None else y, **extra)


def _nan() -> np.ndarray:
    x = _images()
    x[3, 2, 2] = np.nan
    return x


def _inf() -> np.ndarray:
    x = _images()
    x[0, 0, 0] = np.inf
    return x


def _truncated(tmp: Path) -> str:
    np.savez(tmp / "full.npz", x_train=_images(), y_train=_labels())
    (tmp / "data.npz").write_bytes((tmp / "full.npz").read_bytes()[:300])
    return f"npz:{tmp / 'data.npz'}"


def _folder(empty_class: bool = False, garbage: bool = False) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        for name in ("cat", "dog", "owl"):
            (tmp / "imgs" / name).mkdir(parents=True)
            if empty_class and name == "owl":
                continue
            for i in range(6):
                Image.fromarray((RNG.random((16, 16, 3)) * 255).astype(np.uint8)).save(tmp / "imgs" / name / f"{i}.png")
        if garbage:
            (tmp / "imgs" / "dog" / "9.png").write_bytes(b"not a png at all")
        return f"imagefolder:{tmp / 'imgs'}"

    return make


CASES: dict[str, tuple[Callable[[Path], str], str]] = {
    "NaN pixels": (_with(x=_nan()), "NaN or infinite pixels"),
    "infinite pixels": (_with(x=_inf()), "NaN or infinite pixels"),
    "a label far beyond the classes": (_with(y=np.r_[_labels(39), 1000]), "no image has label"),
    "labels with a gap": (_with(y=np.r_[np.zeros(20, int), np.full(20, 2)]), "no image has label 1"),
    "a negative label": (_with(y=np.r_[_labels(39), -1]), "labels must be >= 0"),
    "complex pixels": (_with(x=_images().astype(np.complex64)), "dtype complex64"),
    "boolean pixels": (_with(x=_images() > 0.5), "dtype bool"),
    "string pixels": (_with(x=np.full((40, 8, 8), "a")), "dtype <U1"),
    "object pixels": (_with(x=np.empty((40, 8, 8), dtype=object)), "Object arrays cannot be loaded"),
    "no images": (_with(x=np.zeros((0, 8, 8), np.float32), y=np.zeros(0, int)), "holds no images"),
    "boolean labels": (_with(y=_labels() > 1), "labels must be 40 integers"),
    "float labels": (_with(y=_labels().astype(float)), "labels must be 40 integers"),
    "fewer labels than images": (_with(y=_labels(39)), "labels must be 40 integers"),
    "test labels outside the training classes": (
        _with(x_test=_images(10), y_test=np.r_[_labels(9), 7]), "labels must be in 0..3 (the training classes)"),
    "truncated npz": (_truncated, "cannot read npz file"),
    "an empty class folder": (_folder(empty_class=True), "holds no images"),
    "an image file that is not an image": (_folder(garbage=True), "cannot read image"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_data_is_one_line_exit_2_and_leaves_no_run(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, message = CASES[case]
    spec = make(tmp_path)
    out = tmp_path / "new"
    assert main(["search", "--space", "mbconv", "--dataset", spec, "--trials", "1", "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hasearch: error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert not out.exists()


def test_an_image_over_the_decompression_bomb_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _folder()(tmp_path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 16x16 images are then over twice the limit
    assert main(["search", "--space", "mbconv", "--dataset", spec, "--trials", "1", "--out", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read image" in err and "decompression bomb" in err, err


_CYCLIC = """model: mbconv
parameters:
  - {name: a, role: hyperparameter, type: categorical, choices: [x, y], default: x, active_if: {parameter: b, in: [x]}}
  - {name: b, role: hyperparameter, type: categorical, choices: [x, y], default: x, active_if: {parameter: a, in: [x]}}
"""
SPACE_CASES: dict[str, tuple[bytes, str]] = {
    "space not UTF-8": (b"name: x\nparameters: []\n# \xff\xfe\n", "not UTF-8"),
    "space nested deeply": (b"model: mbconv\nparameters: " + b"[" * 5000 + b"]" * 5000 + b"\n", "space.yaml: "),
    "space with cyclic conditions": (_CYCLIC.encode(), "conditions must not form a cycle"),
    "space with an infinite range": (
        b"model: mbconv\nparameters:\n  - {name: lr, role: hyperparameter, type: float, range: [0.01, .inf], default: 0.05}\n",
        "must be finite"),
    "space with a NaN bound": (
        b"model: mbconv\nparameters:\n  - {name: lr, role: hyperparameter, type: float, range: [.nan, 1], default: 0.05}\n",
        "needs two numbers"),
    "space file of 2 MB": (b"name: x\n" + b"#" * 2_000_000, "far more than a space file needs"),
    "space a list": (b"- 1\n- 2\n", "space.yaml: "),
}


@pytest.mark.parametrize("case", list(SPACE_CASES))
def test_bad_space_file_is_one_line_exit_2_and_leaves_no_run(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content, message = SPACE_CASES[case]
    (tmp_path / "space.yaml").write_bytes(content)
    out = tmp_path / "new"
    assert main(["search", "--space", str(tmp_path / "space.yaml"), "--dataset", "digits", "--trials", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hasearch: error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert not out.exists()
