"""Is an existing stage file intact? Cheap checks run by the workflow's input functions.

Snakemake reruns a job whose input is newer than its outputs and deletes those outputs before the
job starts. A damaged input (a truncated copy, a disk-full write from another tool, a file from
another run) is therefore checked *before* scheduling: :func:`check_data_file` and
:func:`check_model_file` raise :class:`~skelvis.errors.DamagedInput` naming the file, what is
wrong and ``fix``, so the run stops with every trained model and result still in place.

The checks are structural and fast (no array is read): an HDF5 file must open (h5py compares the
superblock's end-of-file address with the file size, which catches truncation) and hold the data
contract's datasets and attributes with consistent lengths; a model file must be a complete zip
archive (``torch.save``'s format) whose members pass their CRC check. Results are cached per
(path, size, mtime), so a large DAG checks each file once.
"""
from __future__ import annotations

import os
import zipfile

import h5py

from .errors import DamagedInput

__all__ = ["check_data_file", "check_hdf5_file", "check_model_file"]

_CACHE: dict = {}

_DATA_DATASETS = ("x", "length", "label", "subject", "split", "sample_id")
_DATA_ATTRS = ("dataset", "topology", "classes", "fps", "normalization")


def _key(path):
    st = os.stat(path)
    return (os.path.abspath(path), st.st_size, st.st_mtime_ns)


def _cached(kind, path, check, *args):
    key = (kind, *_key(path), *args)
    if key not in _CACHE:
        try:
            check(path, *args)
            _CACHE[key] = None
        except DamagedInput as e:
            _CACHE[key] = str(e)
    if _CACHE[key] is not None:
        raise DamagedInput(_CACHE[key])


def _damaged(path, problem: str, fix: str) -> DamagedInput:
    return DamagedInput(f"{path}: {problem}. Nothing was deleted. {fix}".rstrip())


def _open_h5(path, fix: str):
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise _damaged(path, f"not a readable HDF5 file ({' '.join(str(e).split())})", fix) from None


def _check_hdf5(path, fix):
    with _open_h5(path, fix):
        pass


def _check_data(path, dataset, fix):
    with _open_h5(path, fix) as f:
        missing = [k for k in _DATA_DATASETS if k not in f] + [f"attr {k}" for k in _DATA_ATTRS if k not in f.attrs]
        if missing:
            raise _damaged(path, f"not a skelvis data file (missing {missing})", fix)
        n = f["x"].shape[0] if f["x"].ndim == 4 else -1
        if n < 0 or any(f[k].shape != (n,) for k in _DATA_DATASETS[1:]):
            raise _damaged(path, "inconsistent shapes (x must be (N, T, J, C) and length, label, subject, split, "
                                 f"sample_id (N,)): {[(k, f[k].shape) for k in _DATA_DATASETS]}", fix)
        name = f.attrs["dataset"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        if dataset is not None and name != dataset:
            raise _damaged(path, f"holds dataset {name!r}, not {dataset!r} (a file copied from another run?)", fix)


def _check_model(path, fix):
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise _damaged(path, f"not a complete model file ({e})", fix) from None
    except Exception as e:  # noqa: BLE001 - zlib errors inside a member
        raise _damaged(path, f"corrupted model file ({type(e).__name__}: {e})", fix) from None
    if bad is not None:
        raise _damaged(path, f"corrupted model file (member {bad!r} fails its CRC check)", fix)


def check_hdf5_file(path, fix: str = "") -> None:
    """Raise :class:`DamagedInput` when ``path`` exists but is not a readable HDF5 file."""
    if os.path.exists(path):
        _cached("h5", path, _check_hdf5, fix)


def check_data_file(path, dataset: str | None = None, fix: str = "") -> None:
    """Raise :class:`DamagedInput` when an existing ``data.h5`` is unreadable, lacks the data
    contract's datasets/attributes, has inconsistent lengths, or belongs to another dataset."""
    if os.path.exists(path):
        _cached("data", path, _check_data, dataset, fix)


def check_model_file(path, fix: str = "") -> None:
    """Raise :class:`DamagedInput` when an existing model file (``torch.save`` zip) is incomplete
    or corrupted."""
    if os.path.exists(path):
        _cached("model", path, _check_model, fix)
