"""Export acceptance (issue: results): TorchScript and ONNX outputs against the PyTorch
model on 64 test images, and ``hasearch predict`` on 20 image files against the model.

    .venv/bin/python benchmarks/export_check.py --cifar ../shared/datasets/cifar10-jpeg-subset

A run on the CIFAR-10 subset (100 training and 7 holdout images per class, all 10 classes;
``mobilenetv2`` at input scale 0.75 via ``uniform-input``, 2 epochs) is exported in both
formats; prints the largest absolute difference of class probabilities on the first 64
holdout images and how many of 20 holdout files ``predict`` names as the model does.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    import onnxruntime

    from hasearch.artifacts import load_final_model
    from hasearch.catalog import resolve_space
    from hasearch.cli.main import main as cli
    from hasearch.data import resolve_dataset
    from hasearch.export import predict
    from hasearch.supernet import resource_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", required=True)
    args = parser.parse_args()
    source = Path(args.cifar)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for split, count in (("train", 100), ("holdout", 7)):
            for class_dir in sorted((source / split).iterdir()):
                (root / split / class_dir.name).mkdir(parents=True)
                for f in sorted(class_dir.iterdir())[:count]:
                    shutil.copy(f, root / split / class_dir.name / f.name)
        run = root / "run"
        definition = resolve_space("mobilenetv2")
        target = 0.5625 * resource_model(definition.family, (3, 32, 32), 10).cost(definition.space.baseline)  # input scale 0.75
        cli(["search", "--space", "mobilenetv2", "--strategy", "uniform-input", "--target-macs", str(round(target)), "--dataset", f"imagefolder:{root}",
             "--budget", "5s", "--epochs", "2", "--no-baseline", "--out", str(run)])  # fmt: skip
        model, spec = load_final_model(run)
        test = resolve_dataset(f"imagefolder:{root}").load().test
        x = test.x[:64]
        mean, std = torch.tensor(spec["mean"]).view(1, -1, 1, 1), torch.tensor(spec["std"]).view(1, -1, 1, 1)
        with torch.no_grad():
            expected = torch.softmax(model((x - mean) / std), dim=1)
        cli(["export", str(run), "--format", "torchscript", "--out", str(root / "m.ts")])
        cli(["export", str(run), "--format", "onnx", "--out", str(root / "m.onnx")])
        scripted = torch.jit.load(str(root / "m.ts"))
        session = onnxruntime.InferenceSession(str(root / "m.onnx"), providers=["CPUExecutionProvider"])
        ts_diff = float((scripted(x).detach() - expected).abs().max())
        onnx_diff = float(np.abs(session.run(None, {"images": x.numpy()})[0] - expected.numpy()).max())
        files = sorted((root / "holdout").rglob("*.jpg"))
        order = sorted(files, key=lambda f: (f.parent.name, f.name))
        with torch.no_grad():
            own = torch.softmax(model((test.x - mean) / std), dim=1).argmax(1)
        picked = list(range(0, len(order), max(1, len(order) // 20)))[:20]
        named = predict(run, [order[i] for i in picked], top=1)
        agree = sum(r[0][0] == spec["classes"][int(own[i])] for r, i in zip(named, picked, strict=True))
        print(f"input_scale {spec['config']['input_scale']}; 64 test images: TorchScript max |diff| {ts_diff:.2e}, "
              f"ONNX max |diff| {onnx_diff:.2e}; predict agrees with the model on {agree} of {len(picked)} files")


if __name__ == "__main__":
    main()
