"""Export of a run's model (TorchScript, ONNX) and predictions on image files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hasearch.artifacts import load_final_model
from hasearch.catalog import resolve_space
from hasearch.cli.main import main
from hasearch.data import resolve_dataset
from hasearch.supernet import resource_model
from tests.conftest import SHARED_CIFAR, one_line_error

CLASSES = ("airplane", "cat", "ship")


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A run on three CIFAR-10 classes (30 training, 22 holdout images each) whose found model
    rescales its input (uniform input rescale to 0.56 of the baseline's MACs: input scale 0.75)."""
    if not SHARED_CIFAR.is_dir():
        pytest.skip("the CIFAR-10 subset of ../shared is not on this machine")
    root = tmp_path_factory.mktemp("cifar")
    holdout: list[Path] = []
    for name in CLASSES:
        for split, count in (("train", 30), ("holdout", 22)):
            (root / split / name).mkdir(parents=True)
            for f in sorted((SHARED_CIFAR / split / name).iterdir())[:count]:
                shutil.copy(f, root / split / name / f.name)
        holdout += sorted((root / "holdout" / name).iterdir())
    definition = resolve_space("mobilenetv2")
    target = 0.56 * resource_model(definition.family, (3, 32, 32), len(CLASSES)).cost(definition.space.baseline)
    out = root / "run"
    argv = ["search", "--space", "mobilenetv2", "--strategy", "uniform-input", "--dataset", f"imagefolder:{root}",
            "--budget", "5s", "--epochs", "1", "--no-baseline", "--target-macs", str(round(target)), "--out", str(out)]
    assert main(argv) == 0
    return out, holdout


def _test_images(run: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The holdout images as the data pipeline loads them, and the model's own predictions."""
    model, spec = load_final_model(run)
    test = resolve_dataset(f"imagefolder:{run.parent}").load().test
    assert test is not None and len(test.y) == 66
    mean, std = torch.tensor(spec["mean"]).view(1, -1, 1, 1), torch.tensor(spec["std"]).view(1, -1, 1, 1)
    with torch.no_grad():
        return test.x, torch.softmax(model((test.x - mean) / std), dim=1)


def test_torchscript_and_onnx_files_give_the_pytorch_models_probabilities(cifar_run: tuple[Path, list[Path]]) -> None:
    import onnxruntime

    run, _ = cifar_run
    assert load_final_model(run)[1]["config"]["input_scale"] < 1.0  # the antialiased resize is exported too
    x, expected = _test_images(run)
    assert main(["export", str(run), "--format", "torchscript"]) == 0
    scripted = torch.jit.load(str(run / "final" / "model.ts"))
    assert float((scripted(x).detach() - expected).abs().max()) < 1e-4
    out = run.parent / "onnx" / "m.onnx"
    out.parent.mkdir()
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    assert [f.name for f in out.parent.iterdir()] == ["m.onnx"]  # one self-contained file (weights were in a .tmp*.data beside it)
    moved = run.parent / "elsewhere.onnx"
    out.rename(moved)
    session = onnxruntime.InferenceSession(str(moved), providers=["CPUExecutionProvider"])
    assert float(np.abs(session.run(None, {"images": x.numpy()})[0] - expected.numpy()).max()) < 1e-4


def test_predict_names_the_classes_the_model_predicts(cifar_run: tuple[Path, list[Path]], capsys: pytest.CaptureFixture[str]) -> None:
    from hasearch.export import predict

    run, holdout = cifar_run
    _, expected = _test_images(run)
    picked = list(range(0, 66, 3))[:20]
    ranked = predict(run, [holdout[i] for i in picked], top=2)
    assert [r[0][0] for r in ranked] == [CLASSES[int(expected[i].argmax())] for i in picked]
    assert all(r[0][1] == pytest.approx(float(expected[i].max()), abs=1e-5) for r, i in zip(ranked, picked, strict=True))
    assert main(["predict", str(run), str(holdout[0]), "--top", "1"]) == 0
    assert f"{CLASSES[int(expected[0].argmax())]} ({float(expected[0].max()):.3f})" in capsys.readouterr().out


def test_predict_says_which_images_it_converted_to_the_models_input(
    cifar_run: tuple[Path, list[Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    from hasearch.export import predict_files

    run, holdout = cifar_run
    grey = tmp_path / "grey.png"
    Image.open(holdout[0]).convert("L").resize((40, 24)).save(grey)
    fits, converted = predict_files(run, [holdout[0], grey], top=1)
    assert (fits.converted, fits.stored_shape, fits.input_shape) == (False, (3, 32, 32), (3, 32, 32))
    assert (converted.converted, converted.stored_shape) == (True, (1, 24, 40))
    assert main(["predict", str(run), str(holdout[0])]) == 0
    assert "note:" not in capsys.readouterr().out  # an image that fits says nothing
    assert main(["predict", str(run), str(holdout[0]), str(grey)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "note: 1 of 2 images differ from the model's input (32x32 colour)" in out and "(24x40 grey)" in out


def test_export_and_predict_refuse_bad_input_in_one_line(cifar_run: tuple[Path, list[Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, _ = cifar_run
    (tmp_path / "broken.png").write_bytes(b"not an image")
    for argv, message in (
        (["export", str(run), "--format", "tflite"], "unknown export format 'tflite'"),
        (["export", str(tmp_path / "none")], "does not exist"),
        (["predict", str(run), str(tmp_path / "broken.png")], "cannot read image"),
    ):
        assert message in one_line_error(argv, capsys)
