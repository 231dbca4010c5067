"""Opening and writing the stages' result files: the one place a corrupt, foreign or missing file
becomes one clear line (``<file>: <problem>; <fix>``, a :class:`~skelvis.errors.DataFormatError`).

Every reader of a results format (``read_dataset``, ``read_predictions``, ``read_saliency``,
``read_maximization``, ``read_activations``, ``read_paths``, ``read_periods``,
``read_faithfulness``, ``read_json``) opens its file through :func:`open_h5` or :func:`read_json`
and checks its members with :func:`require`; every writer writes through :func:`atomic_path`, so a
failed rule leaves no partial output. The formats themselves are listed in docs/design.md.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from .errors import DataFormatError

__all__ = ["atomic_path", "concat_h5", "decode_attrs", "decode_strings", "open_h5", "read_json", "require", "rerun_fix"]


def rerun_fix(rule: str) -> str:
    """The fix named in every reader's error: delete the file and run the rule that writes it."""
    return f"delete it and run the '{rule}' rule again"


class atomic_path:
    """Context manager yielding a temporary sibling path that is renamed onto ``path`` on success.

    A failure (exception, kill) leaves no partial file at ``path``.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


def open_h5(path, rule: str, what: str = "HDF5 file", fix: str = "") -> h5py.File:
    """Open a stage's HDF5 file for reading.

    A missing file raises :class:`DataFormatError` "file not found; run the '<rule>' rule first";
    a truncated or foreign file "not a readable <what> (...); delete it and run the '<rule>' rule
    again" (``fix`` replaces that advice where another one fits better).
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(path, "file not found", fix=fix or f"run the '{rule}' rule first")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise DataFormatError(path, f"not a readable {what} ({e})", fix=fix or rerun_fix(rule)) from None


def require(f: h5py.Group, names: Iterable[str], path, rule: str, kind: str = "dataset(s)") -> None:
    """Raise one :class:`DataFormatError` listing the members of ``names`` that ``f`` lacks."""
    missing = [k for k in names if k not in f]
    if missing:
        name = getattr(f, "name", "/")
        where = "" if name == "/" else f" in group {name!r}"
        raise DataFormatError(path, f"missing {kind} {missing}{where}", fix=rerun_fix(rule))


def decode_attrs(attrs) -> dict[str, Any]:
    """HDF5 attrs as a dict with bytes decoded to str."""
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}


def decode_strings(a) -> np.ndarray:
    """A stored string array (bytes or str) as a numpy array of str."""
    return np.array([s.decode() if isinstance(s, bytes) else str(s) for s in a[...]])


def read_json(path, rule: str, what: str = "JSON file") -> Any:
    """A stage's JSON file; missing or unparsable files raise one :class:`DataFormatError`."""
    path = Path(path)
    if not path.exists():
        raise DataFormatError(path, "file not found", fix=f"run the '{rule}' rule first")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataFormatError(path, f"not a readable {what} ({e})", fix=rerun_fix(rule)) from None


def read_table(path, rule: str, what: str = "table", **read_csv) -> pd.DataFrame:
    """A stage's CSV file (``pandas.read_csv`` with ``read_csv``); missing or unparsable files
    raise one :class:`DataFormatError` naming the file and the rule to run again."""
    path = Path(path)
    if not path.exists():
        raise DataFormatError(path, "file not found", fix=f"run the '{rule}' rule first")
    try:
        return pd.read_csv(path, **read_csv)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataFormatError(path, f"not a readable {what} ({e})", fix=rerun_fix(rule)) from None


def concat_h5(parts, out: h5py.File, names: Iterable[str], rows: int = 1024) -> list[int]:
    """Concatenate the datasets ``names`` of the HDF5 files ``parts`` (in order) along axis 0
    into the open file ``out``: one pre-sized dataset each, with the first part's dtype, gzip level,
    shuffle and chunk shape (rows of a chunk capped at the total), filled ``rows`` rows at a time,
    so memory holds one block whatever the total.  Used by the gather rules of sharded stages
    (Snakemake ``scattergather``, config key ``shards``).  Returns the row count of each part."""
    names = list(names)
    counts: list[int] = []
    shapes: dict[str, tuple] = {}
    totals = dict.fromkeys(names, 0)
    for p in parts:
        with open_h5(p, rule="the shard", what="shard file") as f:
            require(f, names, p, "the shard")
            counts.append(f[names[0]].shape[0] if names else 0)
            for k in names:
                totals[k] += f[k].shape[0]
                shapes.setdefault(k, (f[k].shape[1:], f[k].dtype, f[k].compression, f[k].compression_opts,
                                      f[k].shuffle, f[k].chunks))
    for k in names:
        tail, dtype, comp, level, shuffle, chunks = shapes[k]
        n = totals[k]
        kw = {}
        if comp and n:
            kw = {"compression": comp, "compression_opts": level, "shuffle": shuffle}
        if chunks and n:
            kw["chunks"] = (min(chunks[0], n),) + tuple(chunks[1:])
        out.create_dataset(k, shape=(n, *tail), dtype=dtype, **kw)
    at = dict.fromkeys(names, 0)
    for p in parts:
        with h5py.File(p, "r") as f:
            for k in names:
                src, dst = f[k], out[k]
                for s in range(0, src.shape[0], max(1, int(rows))):
                    block = src[s:s + rows]
                    dst[at[k] + s:at[k] + s + len(block)] = block
                at[k] += src.shape[0]
    return counts
