"""Evaluation: per-sample logits and predictions, confusion matrices, confusable class pairs, and
the model's result files with one reader beside each writer:

* ``model/{arch}/predictions.h5`` (:func:`write_predictions` / :func:`read_predictions`);
* ``model/{arch}/confusion.csv`` (:func:`write_confusion` / :func:`read_confusion`);
* ``model/{arch}/metrics.json`` (:func:`write_metrics` / :func:`read_metrics`: ``accuracy`` by
  split, ``best_epoch``, ``epochs``, ``model`` (the spec), ``data``, ``train_seconds``, and
  ``imported_from`` for an imported model);
* ``model/{arch}/history.csv`` (:func:`write_history` / :func:`read_history`: one row per epoch).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import pandas as pd
import torch

from .datasets.store import SPLIT_NAMES, Dataset, DatasetInfo, iter_dataset, read_dataset_info
from .errors import DataFormatError
from .io import (
    atomic_path,
    concat_h5,
    decode_attrs,
    decode_strings,
    open_h5,
    read_json,
    read_table,
    require,
    rerun_fix,
)
from .models import predict, to_tensors
from .settings import EvaluateConfig

__all__ = [
    "Evaluation",
    "confusable_pairs",
    "confusion_matrix",
    "confusion_split",
    "evaluate_model",
    "gather_predictions",
    "read_confusion",
    "read_history",
    "read_metrics",
    "read_predictions",
    "stream_evaluation",
    "write_confusion",
    "write_history",
    "write_metrics",
    "write_predictions",
]

_PREDICTIONS = ("logits", "probability", "predicted", "label", "split", "sample_id")


@dataclass
class Evaluation:
    logits: np.ndarray     # (N, K) float32
    predicted: np.ndarray  # (N,) int32


def evaluate_model(model: torch.nn.Module, ds: Dataset) -> Evaluation:
    x, length, _ = to_tensors(ds)
    logits = predict(model, x, length).numpy().astype(np.float32)
    return Evaluation(logits=logits, predicted=logits.argmax(1).astype(np.int32))


def stream_evaluation(model: torch.nn.Module, data, rows: slice | None = None, chunk: int = 1024,
                      info: DatasetInfo | None = None) -> tuple[Evaluation, Dataset]:
    """:func:`evaluate_model` of the sequences ``rows`` (a contiguous slice, default all) of the
    contract file ``data``, read ``chunk`` sequences at a time: memory holds one chunk of poses and
    the logits (K floats per sequence).  Returns the evaluation and those rows' Dataset without
    poses (``x`` of shape (n, 0, 0, 0); label, split, sample_id for the writers)."""
    info = info or read_dataset_info(data)
    sl = slice(0, info.shape[0]) if rows is None else rows
    idx = np.arange(info.shape[0])[sl]
    logits = [evaluate_model(model, ds).logits for _, ds in iter_dataset(data, chunk, rows=idx, info=info)]
    K = len(info.classes)
    lg = np.concatenate(logits) if logits else np.zeros((0, K), np.float32)
    meta = info.rows(np.zeros((len(idx), 0, 0, 0), np.float32), idx)
    return Evaluation(logits=lg, predicted=lg.argmax(1).astype(np.int32)), meta


def write_predictions(ev: Evaluation, ds: Dataset, path, model: str = "", data: str = "") -> None:
    """predictions.h5: logits (N, K), probability (N, K), predicted, label, split, sample_id."""
    prob = torch.softmax(torch.from_numpy(ev.logits), 1).numpy()
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f["logits"] = ev.logits
        f["probability"] = prob.astype(np.float32)
        f["predicted"] = ev.predicted
        f["label"] = ds.label
        f["split"] = ds.split
        f.create_dataset("sample_id", data=np.asarray(ds.sample_id, dtype=object), dtype=h5py.string_dtype())
        f.attrs["model"], f.attrs["data"] = str(model), str(data)
        f.attrs["classes"] = json.dumps(list(ds.classes))


def gather_predictions(parts, path, confusion, split: str = EvaluateConfig.confusion_split) -> pd.DataFrame:
    """The evaluate rule's two files from its shards' predictions files ``parts`` (rows in order):
    predictions.h5 (their datasets concatenated, the attrs of the first) and confusion.csv (as
    :func:`write_confusion`, from the gathered label, prediction and split).  Returns the confusion."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        concat_h5(parts, f, _PREDICTIONS)
        with h5py.File(parts[0], "r") as first:
            for k, v in first.attrs.items():
                f.attrs[k] = v
    p = read_predictions(path, keys=("predicted", "label", "split"))
    return _write_confusion(p["label"], p["predicted"], p["split"], json.loads(p["attrs"]["classes"]),
                            confusion, split)


def read_predictions(path, keys=None) -> dict:
    """The arrays of a predictions.h5 (``sample_id`` as str) plus its attrs under ``attrs``;
    ``keys``: only these arrays (default all)."""
    with open_h5(path, rule="evaluate", what="predictions file") as f:
        require(f, _PREDICTIONS, path, "evaluate")
        want = _PREDICTIONS if keys is None else tuple(keys)
        out: dict[str, Any] = {k: f[k][...] for k in _PREDICTIONS[:-1] if k in want}
        if "sample_id" in want:
            out["sample_id"] = decode_strings(f["sample_id"])
        out["attrs"] = decode_attrs(f.attrs)
    return out


def confusion_matrix(label: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (K, K): rows true class, columns predicted class."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (label, predicted), 1)
    return cm


def confusion_split(split_codes: np.ndarray, wanted: str = EvaluateConfig.confusion_split) -> str:
    """The split whose confusion matrix is written: ``wanted`` when it has sequences, else the
    first non-empty of test, validation, train (a dataset may lack any split but train)."""
    present = {SPLIT_NAMES[int(k)] for k in np.unique(split_codes)}
    return next(s for s in (wanted, "test", "validation", "train") if s in present)


def write_confusion(ev: Evaluation, ds: Dataset, path, split: str = EvaluateConfig.confusion_split) -> pd.DataFrame:
    """confusion.csv: counts (K, K), rows the true class (index name ``true``), columns the
    predicted class, on ``split`` (or :func:`confusion_split`'s fallback when that split is empty)."""
    return _write_confusion(ds.label, ev.predicted, ds.split, ds.classes, path, split)


def _write_confusion(label, predicted, split_codes, classes, path, split: str) -> pd.DataFrame:
    code = {v: k for k, v in SPLIT_NAMES.items()}[confusion_split(split_codes, split)]
    mask = np.asarray(split_codes) == code
    cm = confusion_matrix(np.asarray(label)[mask], np.asarray(predicted)[mask], len(classes))
    df = pd.DataFrame(cm, index=pd.Index(classes, name="true"), columns=list(classes))
    with atomic_path(path) as tmp:
        df.to_csv(tmp)
    return df


def read_confusion(path) -> pd.DataFrame:
    """A confusion.csv as written by :func:`write_confusion` (class names as index and columns)."""
    df = read_table(path, "evaluate", "confusion matrix", index_col=0)
    if df.shape[0] != df.shape[1] or list(df.index.astype(str)) != list(df.columns.astype(str)):
        raise DataFormatError(path, f"not a square confusion matrix with the same classes on both axes "
                                    f"(shape {df.shape})", fix=rerun_fix("evaluate"))
    return df


def write_metrics(path, accuracy: dict[str, float], model_spec: dict[str, Any], data: str, best_epoch: int,
                  epochs: int, train_seconds: float, **extra: Any) -> None:
    """metrics.json of a trained or imported model (keys in the module docstring), atomically."""
    doc = {"accuracy": accuracy, "best_epoch": int(best_epoch), "epochs": int(epochs), "model": model_spec,
           "data": str(data), "train_seconds": float(train_seconds), **extra}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))


def read_metrics(path) -> dict[str, Any]:
    """A metrics.json as written by :func:`write_metrics`."""
    doc = read_json(path, rule="train", what="metrics file")
    if not isinstance(doc, dict) or "accuracy" not in doc or "model" not in doc:
        raise DataFormatError(path, "not a skelvis metrics file (no 'accuracy' and 'model')", fix=rerun_fix("train"))
    return doc


def write_history(path, rows: Sequence[dict[str, float]]) -> None:
    """history.csv: one row per epoch (``epoch``, ``lr``, ``train_loss``, ``train_accuracy``,
    ``validation_loss``, ``validation_accuracy``, ``seconds``), atomically."""
    with atomic_path(path) as tmp:
        pd.DataFrame(list(rows)).to_csv(tmp, index=False)


def read_history(path) -> pd.DataFrame:
    """A history.csv as written by :func:`write_history`."""
    df = read_table(path, "train", "training history")
    if "epoch" not in df.columns:
        raise DataFormatError(path, "not a training history (no 'epoch' column)", fix=rerun_fix("train"))
    return df


def confusable_pairs(cm: np.ndarray, top: int = 3) -> list[tuple[int, int, int]]:
    """Class pairs (a, b, count) with the most confusions in either direction, most first."""
    sym = cm + cm.T
    np.fill_diagonal(sym, 0)
    iu = np.triu_indices_from(sym, 1)
    order = np.argsort(-sym[iu], kind="stable")[:top]
    return [(int(iu[0][i]), int(iu[1][i]), int(sym[iu][i])) for i in order]
