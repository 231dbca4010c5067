"""The HDF5 data contract shared by every stage (docs/design.md, "Data contract").

``results/{dataset}/data.h5`` holds:

========== ======================= ==============================================
name       type, shape             meaning
========== ======================= ==============================================
x          float32 (N, T, J, C)    normalised sequences, zero-padded after length
length     int32 (N,)              valid frames per sequence
label      int32 (N,)              class index
subject    int32 (N,)              performer
split      int8 (N,)               0 train, 1 validation, 2 test
sample_id  str (N,)                original file or sample name
scale      float32 (N,)            body-frame scale divided out by normalisation (1 if none)
========== ======================= ==============================================

Optional per-sample arrays (``Dataset.extra_arrays``, any other (N,) dataset in the file), e.g.
``shortcut_cue`` int8 (N,): 1 where the sequence carries the synthetic data's planted cue.

attrs: ``dataset``, ``topology``, ``classes`` (JSON list), ``fps``, ``normalization`` (JSON),
``source_sha256``, ``skelvis_version``; optional ``class_joints`` (JSON: class -> joint names
that carry its motion, ground truth for saliency scoring on synthetic data), ``shortcut``
(JSON: the planted cue of the synthetic data: ``class``, ``joints``, ``frames`` [start, stop),
``share`` of that class's training sequences carrying it, ``other_share`` of all others, ``cue``),
``designed_pairs`` (JSON list of the synthetic data's designed confusable class pairs) and
``excluded`` (JSON list of excluded samples with reasons).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from ..errors import ConfigError, DataFormatError
from ..io import atomic_path, decode_attrs, decode_strings, open_h5, require, rerun_fix

__all__ = [
    "SPLIT_NAMES",
    "Dataset",
    "DatasetInfo",
    "LazyPoses",
    "create_poses",
    "iter_dataset",
    "parse_shard",
    "pose_chunks",
    "read_dataset",
    "read_dataset_info",
    "sequence_count",
    "shard_rows",
    "write_contract_fields",
    "write_dataset",
]

SPLIT_NAMES = {0: "train", 1: "validation", 2: "test"}
_REQUIRED = ("x", "length", "label", "subject", "split", "sample_id")
_REQUIRED_ATTRS = ("dataset", "topology", "classes", "fps", "normalization", "source_sha256",
                   "skelvis_version")


@dataclass
class Dataset:
    """The common in-memory form of a dataset (shapes as in the module docstring)."""

    x: np.ndarray
    length: np.ndarray
    label: np.ndarray
    subject: np.ndarray
    split: np.ndarray
    sample_id: np.ndarray
    classes: list[str]
    topology: str
    name: str
    fps: float = 30.0
    normalization: dict[str, Any] = field(default_factory=dict)
    source_sha256: str = ""
    scale: np.ndarray | None = None
    extra_attrs: dict[str, Any] = field(default_factory=dict)
    extra_arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.x)
        for name in ("length", "label", "subject", "split", "sample_id"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Dataset.{name} has {len(getattr(self, name))} entries, x has {n}")
        for name, a in self.extra_arrays.items():
            if np.shape(a) != (n,):
                raise ValueError(f"Dataset.extra_arrays[{name!r}] has shape {np.shape(a)}, expected ({n},)")
        if self.scale is None:
            self.scale = np.ones(n, np.float32)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, mask: np.ndarray) -> Dataset:
        """Samples where ``mask`` is True (same attrs)."""
        return Dataset(x=self.x[mask], length=self.length[mask], label=self.label[mask],
                       subject=self.subject[mask], split=self.split[mask],
                       sample_id=self.sample_id[mask], classes=list(self.classes),
                       topology=self.topology, name=self.name, fps=self.fps,
                       normalization=dict(self.normalization), source_sha256=self.source_sha256,
                       scale=self.scale[mask], extra_attrs=dict(self.extra_attrs),
                       extra_arrays={k: v[mask] for k, v in self.extra_arrays.items()})


def write_dataset(ds: Dataset, path) -> None:
    """Write ``ds`` to ``path`` atomically in the HDF5 contract."""
    x = np.asarray(ds.x, np.float32)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("x", data=x, compression="gzip", compression_opts=4, chunks=pose_chunks(x.shape))
        write_contract_fields(f, ds)


#: bytes of poses per HDF5 chunk of ``x`` (whole sequences, see :func:`pose_chunks`)
CHUNK_BYTES = 2 ** 20


def pose_chunks(shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """HDF5 chunk shape of ``x`` (N, T, J, C): whole sequences, about :data:`CHUNK_BYTES` (1 MiB;
    35 sequences of 100 frames x 25 joints), so that reading any rows, contiguous or not,
    decompresses at most about 1 MiB more than asked for (h5py's own guess cuts across frames and
    joints: 2,750 sequences a chunk at NTU-60 size).  None (contiguous) for an empty x."""
    shape = tuple(int(s) for s in shape)
    if not shape or not shape[0] or not all(shape[1:]):
        return None
    per_sequence = int(np.prod(shape[1:])) * 4
    return (max(1, min(shape[0], round(CHUNK_BYTES / per_sequence))),) + shape[1:]


def create_poses(f: h5py.File, shape: tuple[int, ...]) -> h5py.Dataset:
    """The pre-sized ``x`` of a contract file written block by block: float32 ``shape``, the chunks
    and compression :func:`write_dataset` gives an array of that shape (so both files read alike);
    it can be shrunk along the sequences (``resize``) when fewer were written."""
    shape = tuple(int(s) for s in shape)
    chunks = pose_chunks(shape)
    return f.create_dataset("x", shape=shape, maxshape=shape, dtype=np.float32, chunks=chunks,
                            **({"compression": "gzip", "compression_opts": 4} if chunks else {}))


def write_contract_fields(f: h5py.File, ds: Dataset | DatasetInfo) -> None:
    """Everything of the contract but ``x`` (per-sequence arrays and attrs) from ``ds`` into ``f``."""
    f["length"] = np.asarray(ds.length, np.int32)
    f["label"] = np.asarray(ds.label, np.int32)
    f["subject"] = np.asarray(ds.subject, np.int32)
    f["split"] = np.asarray(ds.split, np.int8)
    f.create_dataset("sample_id", data=np.asarray([str(s) for s in ds.sample_id], dtype=object),
                     dtype=h5py.string_dtype())
    f["scale"] = np.asarray(ds.scale, np.float32)
    for k, v in ds.extra_arrays.items():
        if k in _REQUIRED or k == "scale":
            raise ValueError(f"Dataset.extra_arrays may not be named {k!r} (a contract dataset)")
        f[k] = np.asarray(v)
    f.attrs["dataset"] = ds.name
    f.attrs["topology"] = ds.topology
    f.attrs["classes"] = json.dumps(list(ds.classes))
    f.attrs["fps"] = float(ds.fps)
    f.attrs["normalization"] = json.dumps(ds.normalization)
    f.attrs["source_sha256"] = ds.source_sha256
    f.attrs["skelvis_version"] = __version__
    for k, v in ds.extra_attrs.items():
        f.attrs[k] = v if isinstance(v, (str, int, float)) else json.dumps(v)


@dataclass
class DatasetInfo:
    """A contract file without ``x``: its shape (N, T, J, C), the per-sequence vectors and attrs.

    What a streaming stage holds for the whole dataset (a few bytes per sequence); ``x`` is read
    chunk by chunk with :func:`iter_dataset`."""

    shape: tuple[int, int, int, int]
    length: np.ndarray
    label: np.ndarray
    subject: np.ndarray
    split: np.ndarray
    sample_id: np.ndarray
    classes: list[str]
    topology: str
    name: str
    fps: float = 30.0
    normalization: dict[str, Any] = field(default_factory=dict)
    source_sha256: str = ""
    scale: np.ndarray | None = None
    extra_attrs: dict[str, Any] = field(default_factory=dict)
    extra_arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def rows(self, x: np.ndarray, idx) -> Dataset:
        """The :class:`Dataset` of the sequences ``idx`` (slice or index array) whose poses are ``x``."""
        return Dataset(x=x, length=self.length[idx], label=self.label[idx], subject=self.subject[idx],
                       split=self.split[idx], sample_id=self.sample_id[idx], classes=list(self.classes),
                       topology=self.topology, name=self.name, fps=self.fps,
                       normalization=dict(self.normalization), source_sha256=self.source_sha256,
                       scale=None if self.scale is None else self.scale[idx], extra_attrs=dict(self.extra_attrs),
                       extra_arrays={k: v[idx] for k, v in self.extra_arrays.items()})


def _open_contract(path) -> h5py.File:
    f = open_h5(path, rule="prepare")
    try:
        require(f, _REQUIRED, path, "prepare")
        require(f.attrs, _REQUIRED_ATTRS, path, "prepare", kind="attribute(s)")
    except DataFormatError:
        f.close()
        raise
    return f


def _info(f: h5py.File, path) -> DatasetInfo:
    """Read and check everything but ``x`` from an open contract file."""
    path = Path(path)
    try:
        shape = tuple(int(s) for s in f["x"].shape)
        arrays = {k: f[k][...] for k in ("length", "label", "subject", "split")}
        sample_id = decode_strings(f["sample_id"])
        scale = f["scale"][...] if "scale" in f else None
        extra_arrays = {k: f[k][...] for k in f if k not in _REQUIRED and k != "scale"
                        and isinstance(f[k], h5py.Dataset) and f[k].shape == (shape[0],)}
    except (OSError, KeyError) as e:
        raise DataFormatError(path, f"truncated or corrupted ({e})", fix=rerun_fix("prepare")) from None
    attrs = decode_attrs(f.attrs)
    if len(shape) != 4:
        raise DataFormatError(path, f"'x' must be (N, T, J, C), got shape {shape}")
    n = shape[0]
    for k, a in arrays.items():
        if a.shape != (n,):
            raise DataFormatError(path, f"'{k}' must have shape ({n},), got {a.shape}")
    if np.any(arrays["length"] < 1) or np.any(arrays["length"] > shape[1]):
        raise DataFormatError(path, f"'length' out of range [1, {shape[1]}]")
    classes = json.loads(attrs["classes"])
    if np.any(arrays["label"] < 0) or np.any(arrays["label"] >= len(classes)):
        raise DataFormatError(path, f"'label' out of range [0, {len(classes)})")
    known = set(_REQUIRED_ATTRS)
    extra = {k: v for k, v in attrs.items() if k not in known}
    return DatasetInfo(shape=shape, length=arrays["length"].astype(np.int32),
                       label=arrays["label"].astype(np.int32), subject=arrays["subject"].astype(np.int32),
                       split=arrays["split"].astype(np.int8), sample_id=sample_id, classes=classes,
                       topology=str(attrs["topology"]), name=str(attrs["dataset"]), fps=float(attrs["fps"]),
                       normalization=json.loads(attrs["normalization"]),
                       source_sha256=str(attrs["source_sha256"]), scale=scale, extra_attrs=extra,
                       extra_arrays=extra_arrays)


def read_dataset_info(path) -> DatasetInfo:
    """Everything in a contract file but ``x`` (checked as :func:`read_dataset` does)."""
    with _open_contract(path) as f:
        return _info(f, path)


class LazyPoses:
    """The ``x`` of a contract file, read on access: ``shape``, ``len()``, ``dtype`` and indexing
    (an int, a slice, a mask, indices in any order, or a tuple of those) read only the sequences asked for
    (float32).  What a notebook or page that shows a few sequences holds instead of (N, T, J, C)."""

    dtype = np.dtype(np.float32)

    def __init__(self, path, shape: tuple[int, int, int, int]):
        self.path, self.shape = Path(path), tuple(shape)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return 4

    def __getitem__(self, key) -> np.ndarray:
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        with h5py.File(self.path, "r") as f:
            try:
                if isinstance(rows, (int, np.integer, slice)):
                    return np.asarray(f["x"][key], np.float32)
                # indices in any order (or a mask): h5py reads increasing unique rows, then reorder
                idx = np.arange(self.shape[0])[rows]
                uniq, inverse = np.unique(idx, return_inverse=True)
                out = np.asarray(f["x"][uniq], np.float32)[inverse] if len(uniq) else \
                    np.zeros((0,) + self.shape[1:], np.float32)
                return out[(slice(None),) + rest] if rest else out
            except (OSError, KeyError) as e:
                raise DataFormatError(self.path, f"truncated or corrupted ({e})", fix=rerun_fix("prepare")) from None


def read_dataset(path, lazy: bool = False) -> Dataset:
    """Read and check a contract file; a wrong or truncated file raises :class:`DataFormatError`.
    ``lazy``: ``x`` is a :class:`LazyPoses` (read on access) instead of the whole array."""
    if lazy:
        info = read_dataset_info(path)
        return info.rows(LazyPoses(path, info.shape), slice(None))
    with _open_contract(path) as f:
        info = _info(f, path)
        try:
            x = f["x"][...]
        except (OSError, KeyError) as e:
            raise DataFormatError(path, f"truncated or corrupted ({e})", fix=rerun_fix("prepare")) from None
    return info.rows(x.astype(np.float32, copy=False), slice(None))


def iter_dataset(path, chunk: int, rows=None, info: DatasetInfo | None = None
                 ) -> Iterator[tuple[np.ndarray, Dataset]]:
    """Yield ``(indices (n,), Dataset of those sequences)`` in chunks of at most ``chunk`` sequences.

    ``rows``: increasing sequence indices to read (default all, in order); only one chunk of ``x``
    is in memory at a time (h5py slicing).  ``info``: the file's :func:`read_dataset_info` when
    the caller has it already."""
    chunk = max(1, int(chunk))
    with _open_contract(path) as f:
        info = info or _info(f, path)
        N = info.shape[0]
        rows = np.arange(N) if rows is None else np.asarray(rows, np.int64).reshape(-1)
        if len(rows) and (np.any(np.diff(rows) <= 0) or rows[0] < 0 or rows[-1] >= N):
            raise ValueError(f"rows must be increasing indices in [0, {N}) of {path}")
        X = f["x"]
        for s in range(0, len(rows), chunk):
            idx = rows[s:s + chunk]
            contiguous = idx[-1] - idx[0] + 1 == len(idx)
            try:
                x = X[int(idx[0]):int(idx[-1]) + 1] if contiguous else X[idx]
            except (OSError, KeyError) as e:
                raise DataFormatError(path, f"truncated or corrupted ({e})", fix=rerun_fix("prepare")) from None
            yield idx, info.rows(x.astype(np.float32, copy=False), idx)


def parse_shard(item: str | None) -> tuple[int, int]:
    """``(i, n)`` from Snakemake's scatter item ``"i-of-n"`` (1-based i); None or '' is ``(1, 1)``."""
    if not item:
        return 1, 1
    m = re.fullmatch(r"(\d+)-of-(\d+)", str(item))
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise ConfigError(f"shard {item!r}: expected 'i-of-n' with 1 <= i <= n (Snakemake's scatteritem)")
    return int(m[1]), int(m[2])


def sequence_count(path) -> int:
    """N of a contract file, from the shape of ``x`` alone (cheap enough for a DAG-time check)."""
    with _open_contract(path) as f:
        return int(f["x"].shape[0])


def shard_rows(n_sequences: int, item: str | None, path="data.h5") -> slice:
    """The contiguous rows of shard ``item`` (``"i-of-n"``) of ``n_sequences``: n near-equal parts
    in order (the first ``N % n`` one sequence longer), so that concatenating shards 1..n gives
    every row once, in order.  More shards than sequences is refused (config key ``shards``)."""
    i, n = parse_shard(item)
    if n > n_sequences:
        raise ConfigError(f"config key 'shards' is {n} but {path} has {n_sequences} sequences; "
                          f"use at most {n_sequences} shards")
    q, r = divmod(int(n_sequences), n)
    start = (i - 1) * q + min(i - 1, r)
    return slice(start, start + q + (1 if i - 1 < r else 0))
