"""Evaluation: per-sample logits and predictions, confusion matrices, confusable class pairs."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import List, Tuple

import h5py
import numpy as np
import pandas as pd
import torch

from .datasets.store import SPLIT_NAMES, Dataset, atomic_path
from .train import predict, to_tensors

__all__ = ["Evaluation", "evaluate_model", "write_predictions", "read_predictions", "confusion_matrix",
           "write_confusion", "confusable_pairs"]


@dataclass
class Evaluation:
    logits: np.ndarray     # (N, K) float32
    predicted: np.ndarray  # (N,) int32


def evaluate_model(model: torch.nn.Module, ds: Dataset) -> Evaluation:
    x, length, _ = to_tensors(ds)
    logits = predict(model, x, length).numpy().astype(np.float32)
    return Evaluation(logits=logits, predicted=logits.argmax(1).astype(np.int32))


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


def read_predictions(path) -> dict:
    with h5py.File(path, "r") as f:
        out = {k: f[k][...] for k in ("logits", "probability", "predicted", "label", "split")}
        out["sample_id"] = np.array([s.decode() if isinstance(s, bytes) else s for s in f["sample_id"][...]])
    return out


def confusion_matrix(label: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (K, K): rows true class, columns predicted class."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (label, predicted), 1)
    return cm


def write_confusion(ev: Evaluation, ds: Dataset, path, split: str = "test") -> pd.DataFrame:
    code = {v: k for k, v in SPLIT_NAMES.items()}[split]
    mask = ds.split == code
    if not mask.any():
        mask = ds.split == 1
    cm = confusion_matrix(ds.label[mask], ev.predicted[mask], len(ds.classes))
    df = pd.DataFrame(cm, index=pd.Index(ds.classes, name="true"), columns=list(ds.classes))
    with atomic_path(path) as tmp:
        df.to_csv(tmp)
    return df


def confusable_pairs(cm: np.ndarray, top: int = 3) -> List[Tuple[int, int, int]]:
    """Class pairs (a, b, count) with the most confusions in either direction, most first."""
    sym = cm + cm.T
    np.fill_diagonal(sym, 0)
    iu = np.triu_indices_from(sym, 1)
    order = np.argsort(-sym[iu], kind="stable")[:top]
    return [(int(iu[0][i]), int(iu[1][i]), int(sym[iu][i])) for i in order]
