"""Dataset readers (one module per source) and the HDF5 store."""
from .store import SPLIT_NAMES, Dataset, read_dataset, write_dataset

__all__ = ["SPLIT_NAMES", "Dataset", "read_dataset", "write_dataset"]
