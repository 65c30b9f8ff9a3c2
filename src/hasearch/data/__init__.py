"""Data sets, deterministic splits and batch augmentation."""

from hasearch.data.sources import BUILTIN, MAX_IMAGE_SIDE, DataSource, ImageSet, resolve_dataset
from hasearch.data.splits import DataSplits, Split, make_splits

__all__ = ["BUILTIN", "MAX_IMAGE_SIDE", "DataSource", "DataSplits", "ImageSet", "Split", "make_splits", "resolve_dataset"]
