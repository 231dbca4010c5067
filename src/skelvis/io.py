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

from .errors import DataFormatError

__all__ = ["atomic_path", "decode_attrs", "decode_strings", "open_h5", "read_json", "require", "rerun_fix"]


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
