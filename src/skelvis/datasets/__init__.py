"""Dataset readers (one module per source) and the HDF5 store."""
from .store import Dataset, read_dataset, write_dataset, SPLIT_NAMES

__all__ = ["Dataset", "read_dataset", "write_dataset", "SPLIT_NAMES"]
