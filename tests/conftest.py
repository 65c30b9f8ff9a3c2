from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from hasearch.data import DataSplits, make_splits, resolve_dataset

torch.set_num_threads(2)

_SHARED_ROOTS = (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared"))
SHARED_CIFAR = next(
    (root / "datasets" / "cifar10-jpeg-subset" for root in _SHARED_ROOTS if (root / "datasets" / "cifar10-jpeg-subset").is_dir()),
    _SHARED_ROOTS[0] / "datasets" / "cifar10-jpeg-subset",
)


@pytest.fixture(scope="session")
def digits() -> DataSplits:
    return make_splits(resolve_dataset("digits"), seed=0)


def snapshot(path: Path) -> dict[str, str]:
    """Content hash of every file under ``path`` (to prove a run was left untouched)."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }
