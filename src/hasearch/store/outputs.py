"""Files the reading commands write (``export``, ``report``, ``compare``): checked before any
work, written whole or not at all (:func:`writing_file`, as a run's own files are), and never
over a run's own files.

A reading command must not change a run's results. Its ``--out`` may name any new file or
existing regular file outside every run, or one of the files these commands write into a
run by default (:data:`READER_OUTPUTS`); any other file in a run (its settings, trial
database, model weights, or a new file beside them) is refused, as are directories and
special files (a device, a FIFO), which a write would hang on, abort on or replace. The
path is resolved first ('..', symbolic links), so neither leads into a run's own files.
"""

from __future__ import annotations

import os
from pathlib import Path

from hasearch.errors import UserError
from hasearch.store.run_dir import as_path, enclosing_run, writing_file

__all__ = ["READER_OUTPUTS", "output_file", "writing_file"]

#: What the reading commands write into a run directory by default (relative to it), and
#: the folder of the report's PNG copies.
READER_OUTPUTS = frozenset({"report.html", "comparison.html", "final/model.ts", "final/model.onnx"})
REPORT_FIGURES = "report/"


def output_file(out: str | Path) -> Path:
    """``out`` as a file a reading command may write (see the module docstring).

    Raises:
        UserError: naming ``out`` and why it may not be written.
    """
    as_path(out, "out")  # a path of the right kind (its text is read below: Path('') would be '.')
    text = os.fspath(out)
    if not text.strip():
        raise UserError("--out is empty; give a file name")
    path = Path(os.path.realpath(text))  # '..' and symbolic links resolved: the file a write would replace
    if path.is_dir():
        raise UserError(f"--out {text!r} is a directory; give a file name")
    if path.exists() and not path.is_file():
        raise UserError(f"--out {text!r} is not a regular file (a device, FIFO or socket)")
    run = enclosing_run(path)
    if run is not None:
        inside = path.absolute().relative_to(run).as_posix()
        ours = inside in READER_OUTPUTS or inside.startswith(REPORT_FIGURES)
        if not ours:
            raise UserError(
                f"--out {text!r} is {'a file' if path.exists() else 'a new file'} in the run {str(run)!r}; "
                f"a reading command writes only its own outputs there ({', '.join(sorted(READER_OUTPUTS))}, {REPORT_FIGURES}*.png)"
            )
    return path
