"""A run's final model as a deployable file, and predictions on image files.

The exported network takes raw images in [0, 1] (N x C x H x W, the run's input shape) and
returns class probabilities: the run's per-channel normalisation and a softmax are inside
it. TorchScript needs nothing beyond torch; ONNX needs the ``onnx`` extra (onnx, onnxscript,
and onnxruntime to check the file).
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hasearch.artifacts import load_final_model
from hasearch.checks import require_number
from hasearch.data.sources import read_images, stored_shapes
from hasearch.errors import UserError
from hasearch.store.outputs import output_file, writing_file
from hasearch.store.run_dir import as_path

CHECK_IMAGES = 8  # random inputs the exported file is checked on
TOLERANCE = 1e-4


class Deployable(nn.Module):
    """Raw images in [0, 1] -> class probabilities (normalisation, the model, softmax)."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.model = model.eval()
        self.register_buffer("mean", torch.tensor(list(mean)).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std)).view(1, -1, 1, 1))

    def forward(self, images: Tensor) -> Tensor:
        return torch.softmax(self.model((images - self.mean) / self.std), dim=1)


def deployable(run_dir: str | Path) -> tuple[Deployable, dict[str, Any]]:
    """The run's final model wrapped for deployment, and its spec (classes, input shape)."""
    model, spec = load_final_model(run_dir)
    return Deployable(model, spec["mean"], spec["std"]).eval(), spec


def export_model(run_dir: str | Path, fmt: str, out: str | Path | None = None) -> tuple[Path, float]:
    """Write the run's model as ``fmt`` (torchscript or onnx); returns the file and the largest
    difference between its outputs and the PyTorch model's on random images.

    Raises:
        UserError: unknown format, a missing extra, an ``out`` that may not be written
            (:func:`hasearch.store.outputs.output_file`), or outputs that differ by more than 1e-4.
    """
    if not isinstance(fmt, str) or fmt not in EXPORTERS:
        raise UserError(f"unknown export format {fmt!r} (known: {', '.join(EXPORTERS)})")
    path = output_file(as_path(run_dir, "run directory") / "final" / f"model.{SUFFIXES[fmt]}" if out is None else out)
    net, spec = deployable(run_dir)
    example = torch.rand(CHECK_IMAGES, *spec["input_shape"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = net(example)
    run_exported = EXPORTERS[fmt](net, example, path)
    difference = float((run_exported(example) - expected).abs().max())
    if difference > TOLERANCE:
        raise UserError(f"the exported {fmt} model's outputs differ from PyTorch's by {difference:.2g} (> {TOLERANCE:g})")
    return path, difference


def _torchscript(net: Deployable, example: Tensor, path: Path) -> Callable[[Tensor], Tensor]:
    """A traced module (the input size is fixed, as the model's is; the batch size is free).
    torch marks ``torch.jit.trace`` deprecated in favour of ``torch.export``; TorchScript
    files still load in C++ and in every torch release that reads them."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the resize's shape test: constant for a fixed input size
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(net, example)
        buffer = io.BytesIO()  # torch's own file writer aborts the process when a write fails
        torch.jit.save(traced, buffer)
    with writing_file(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loaded = torch.jit.load(str(path))
    return lambda x: loaded(x).detach()


def _onnx(net: Deployable, example: Tensor, path: Path) -> Callable[[Tensor], Tensor]:
    try:
        import onnxruntime
    except ImportError:
        raise UserError("ONNX export needs the onnx extra: pip install 'hasearch[onnx]'") from None
    batch = torch.export.Dim("batch", min=1)
    logger = logging.getLogger("torch.onnx")  # it logs every torchvision operator it skips
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), writing_file(path) as tmp:
            warnings.simplefilter("ignore", FutureWarning)
            # the dynamo exporter: the TorchScript-based one cannot export antialiased resizing (input_scale);
            # weights inside the one file (external_data=True wrote them beside it, named after the
            # temporary file, and the renamed model then pointed at that name): protobuf's 2 GB limit is far
            torch.onnx.export(net, (example,), str(tmp), input_names=["images"], output_names=["probabilities"],
                              dynamic_shapes={"images": {0: batch}}, dynamo=True, verbose=False, external_data=False)  # fmt: skip
    finally:
        logger.setLevel(level)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"images": x.numpy()})[0])


EXPORTERS: dict[str, Callable[[Deployable, Tensor, Path], Callable[[Tensor], Tensor]]] = {"torchscript": _torchscript, "onnx": _onnx}
SUFFIXES = {"torchscript": "ts", "onnx": "onnx"}


@dataclass(frozen=True)
class Prediction:
    """The model's ``ranked`` classes (name, probability) for one image file, and the file's
    (channels, height, width) as stored next to the model's input shape."""

    image: str
    ranked: list[tuple[str, float]]
    stored_shape: tuple[int, int, int]
    input_shape: tuple[int, int, int]

    @property
    def converted(self) -> bool:
        """Whether the file was resized or its colour converted to fit the model."""
        return self.stored_shape != self.input_shape


def predict_files(run_dir: str | Path, images: Sequence[str | Path], *, top: int = 3) -> list[Prediction]:
    """The ``top`` classes and probabilities of the run's model for each image file (read
    and resized to the run's input shape, scaled to [0, 1]), with each file's stored shape."""
    if isinstance(images, str | bytes | Path) or not images:
        raise UserError(f"images must be a non-empty list of image files, got {images!r}")  # a string is not read letter by letter
    require_number("top", top, "an integer >= 1", lambda v: v >= 1, integer=True, error=UserError)
    top = int(top)
    net, spec = deployable(run_dir)
    channels, height, width = (int(v) for v in spec["input_shape"])
    paths = [as_path(p, "each image") for p in images]
    stored = stored_shapes(paths)
    x = read_images(paths, size=(height, width), channels=channels)
    with torch.no_grad():
        probabilities = net(x)
    values, indices = probabilities.topk(min(top, probabilities.shape[1]), dim=1)
    classes = spec["classes"]
    return [
        Prediction(str(path), [(str(classes[i]), float(v)) for v, i in zip(row_v, row_i, strict=True)], shape, (channels, height, width))
        for path, shape, row_v, row_i in zip(paths, stored, values.tolist(), indices.tolist(), strict=True)
    ]


def predict(run_dir: str | Path, images: Sequence[str | Path], *, top: int = 3) -> list[list[tuple[str, float]]]:
    """The ``top`` classes and probabilities of the run's model for each image file (read
    and resized to the run's input shape, scaled to [0, 1])."""
    return [p.ranked for p in predict_files(run_dir, images, top=top)]
