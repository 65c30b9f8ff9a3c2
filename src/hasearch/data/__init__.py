"""Data sets, deterministic splits and batch augmentation."""

from hasearch.data.sources import BUILTIN, DataSource, ImageSet, resolve_dataset
from hasearch.data.splits import DataSplits, Split, make_splits

__all__ = ["BUILTIN", "DataSource", "DataSplits", "ImageSet", "Split", "make_splits", "resolve_dataset"]
