"""``hasearch export DIR --format torchscript|onnx``, ``hasearch predict DIR IMAGE...`` and
``hasearch report DIR``: what a user takes away from a run."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text


def add_export_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = sub.add_parser("export", help="write a run's model as TorchScript or ONNX (raw images in [0, 1] in, class probabilities out)")
    export.add_argument("dir")
    export.add_argument("--format", dest="fmt", default="torchscript", help="torchscript (default) or onnx (needs hasearch[onnx])")
    export.add_argument("--out", help="file to write (default DIR/final/model.ts or model.onnx)")
    export.set_defaults(handler=cmd_export)
    predict = sub.add_parser("predict", help="classify image files with a run's model")
    predict.add_argument("dir")
    predict.add_argument("images", nargs="+", help="image files (converted and resized to the run's input shape)")
    predict.add_argument("--top", type=int, default=3, help="classes shown per image (default 3)")
    predict.set_defaults(handler=cmd_predict)
    report = sub.add_parser("report", help="write a self-contained HTML report of a run (figures also as PNG in DIR/report/)")
    report.add_argument("dir")
    report.add_argument("--out", help="HTML file to write (default DIR/report.html)")
    report.set_defaults(handler=cmd_report)
    compare = sub.add_parser("compare", help="compare runs on one space and data set (self-contained HTML)")
    compare.add_argument("dirs", nargs="+")
    compare.add_argument("--out", default="comparison.html", help="HTML file to write (default comparison.html)")
    compare.add_argument("--force", action="store_true", help="compare runs of different spaces or data sets too")
    compare.set_defaults(handler=cmd_compare)


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    from hasearch.export import export_model

    path, difference = export_model(args.dir, args.fmt, args.out)
    console.print(f"wrote {path} ({args.fmt}; largest difference from the PyTorch model on random images: {difference:.1e})", markup=False)
    return 0


def cmd_predict(args: argparse.Namespace, console: Console) -> int:
    from hasearch.errors import UserError
    from hasearch.export import predict_files

    if args.top < 1:
        raise UserError(f"--top must be >= 1, got {args.top}")
    predictions = predict_files(args.dir, args.images, top=args.top)
    table = Table(title=f"predictions of {escape(args.dir)}")  # paths and class names are the user's: no markup
    table.add_column("image")
    table.add_column("class (probability)")
    for prediction in predictions:
        table.add_row(Text(prediction.image), Text(", ".join(f"{name} ({p:.3f})" for name, p in prediction.ranked)))
    console.print(table)
    converted = [p for p in predictions if p.converted]
    if converted:
        console.print(
            f"note: {len(converted)} of {len(predictions)} images differ from the model's input "
            f"({_shape(converted[0].input_shape)}) and were converted to it (bilinear resize, colour "
            f"conversion), e.g. {converted[0].image} ({_shape(converted[0].stored_shape)})",
            markup=False,
        )
    return 0


def _shape(shape: tuple[int, int, int]) -> str:
    channels, height, width = shape
    return f"{height}x{width} {'grey' if channels == 1 else 'colour'}"


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    from hasearch.report import write_report

    console.print(f"wrote {write_report(args.dir, args.out)}", markup=False)
    return 0


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from hasearch.report.compare import write_comparison

    console.print(f"wrote {write_comparison(args.dirs, args.out, force=args.force)}", markup=False)
    return 0
