"""Recurrent classifiers (Patil et al., Fig. 1) and their loading.

The classifier reads the flattened pose vector x_t (J*C values) directly into a recurrent layer
(LSTM or GRU, one or more layers), takes the top layer's hidden state h_T at the last valid frame
of each sequence, and maps it through one fully connected layer to class logits; softmax gives
class probabilities.

The gate nonlinearity is a property of the model (``gate``, saved with it; see
:mod:`skelvis.rnn`): with torch's ``sigmoid`` the model runs torch's ``nn.LSTM``/``nn.GRU``
kernels; with a hard sigmoid (an imported Keras model) it runs the core's step loop on the same
parameters, so the state dict has the same layout either way.

Public API (used by every later stage and by outside checks)::

    model = load_model(path)                 # torch.load(..., weights_only=True)
    logits = model(x, length)                # x (N, T, J*C) float, length (N,) int -> (N, K)
    h = model.hidden_states(x, length)       # (N, T, H), top layer, zero after length
    model.rnn                                # torch.nn.LSTM | torch.nn.GRU, batch_first=True (parameters)
    model.gate                               # 'sigmoid' | 'hard_sigmoid_keras2' | 'hard_sigmoid_keras3'
    model.classifier                         # torch.nn.Linear(H, K)

Load a user's own model (state dict, TorchScript, Keras HDF5) with
:func:`skelvis.importers.import_model`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import rnn as R
from .datasets.store import SPLIT_NAMES
from .io import atomic_path

__all__ = [
    "RecurrentClassifier",
    "accuracy_by_split",
    "build_model",
    "load_model",
    "model_spec",
    "predict",
    "resolve_device",
    "save_model",
    "to_tensors",
]

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentClassifier(nn.Module):
    """Recurrent layer(s) -> fully connected layer -> class logits (softmax applied by the loss).

    Parameters: input_size = J*C, hidden_size = H, num_classes = K, cell 'lstm'|'gru',
    num_layers, dropout (between stacked layers, as torch applies it), gate (the gates'
    nonlinearity, a name in :data:`skelvis.rnn.GATES`).
    Extra metadata (class names, topology, dataset) travels in :attr:`meta`.
    """

    def __init__(self, input_size: int, hidden_size: int, num_classes: int, cell: str = "lstm",
                 num_layers: int = 1, dropout: float = 0.0, meta: dict[str, Any] | None = None,
                 gate: str = "sigmoid"):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
        self.cell = cell
        self.input_size, self.hidden_size, self.num_classes = int(input_size), int(hidden_size), int(num_classes)
        self.num_layers, self.dropout = int(num_layers), float(dropout)
        self.rnn = _CELLS[cell](self.input_size, self.hidden_size, num_layers=self.num_layers,
                                batch_first=True, dropout=self.dropout if self.num_layers > 1 else 0.0)
        self.classifier = nn.Linear(self.hidden_size, self.num_classes)
        self.gate = R.gate_function(gate).name
        self.meta: dict[str, Any] = dict(meta or {})

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:  # (N, T, J, C) -> (N, T, J*C)
            x = x.flatten(2)
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"model expects input (N, T, {self.input_size}) (J*C = {self.input_size}), "
                             f"got shape {tuple(x.shape)}: the data's joints x channels do not match the model")
        return x

    def _top_layer(self, x: torch.Tensor) -> torch.Tensor:
        """Top-layer h (N, T, H), unmasked: torch's kernels for sigmoid gates, else the core."""
        if self.gate == "sigmoid":
            return self.rnn(x)[0]
        return R.sequence_states(self.rnn, x, self.gate, dropout=self._dropout())[-1].h

    def _dropout(self) -> float:
        return self.dropout if self.training else 0.0

    def all_hidden_states(self, x: torch.Tensor, length: torch.Tensor) -> list[torch.Tensor]:
        """Hidden states of every layer, bottom first: list of (N, T, H), zero after length."""
        x = self._check(x)
        mask = _mask(length, x)
        return [st.h * mask for st in R.sequence_states(self.rnn, x, self.gate, dropout=self._dropout())]

    def hidden_states(self, x: torch.Tensor, length: torch.Tensor, layer: int = -1) -> torch.Tensor:
        """Hidden states h_t of one layer (default: top), (N, T, H), zero after length."""
        x = self._check(x)
        if layer in (-1, self.num_layers - 1):
            return self._top_layer(x) * _mask(length, x)
        return self.all_hidden_states(x, length)[layer]

    def last_hidden(self, x: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """Top-layer h at the last valid frame of each sequence, (N, H)."""
        x = self._check(x)
        out = self._top_layer(x)
        idx = (length.to(out.device).long() - 1).clamp(min=0)
        return out[torch.arange(out.shape[0], device=out.device), idx]

    def forward(self, x: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """Class logits (N, K) from the last valid frame."""
        return self.classifier(self.last_hidden(x, length))

    def spec(self) -> dict[str, Any]:
        return model_spec(self)


def _mask(length: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(N, T, 1) in x's dtype: 1 on the valid frames of x (N, T, D) (:func:`skelvis.rnn.valid_frames`)."""
    return R.valid_frames(length.to(x.device), x.shape[1]).to(x.dtype)[..., None]


def model_spec(model: RecurrentClassifier) -> dict[str, Any]:
    """Sizes needed to rebuild the model (saved next to the weights)."""
    return {"input_size": model.input_size, "hidden_size": model.hidden_size,
            "num_classes": model.num_classes, "cell": model.cell, "num_layers": model.num_layers,
            "dropout": model.dropout, "gate": model.gate}


def build_model(spec: dict[str, Any], meta: dict[str, Any] | None = None) -> RecurrentClassifier:
    keys = ("input_size", "hidden_size", "num_classes", "cell", "num_layers", "dropout", "gate")
    return RecurrentClassifier(**{k: spec[k] for k in keys if k in spec}, meta=meta)


def save_model(model: RecurrentClassifier, path, extra: dict[str, Any] | None = None) -> None:
    """Save spec, metadata and state dict as plain tensors/containers (loadable with weights_only)."""
    payload = {"format": "skelvis-model-1", "spec": model_spec(model), "meta": dict(model.meta),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    if extra:
        payload["extra"] = extra
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_model(path, map_location="cpu") -> RecurrentClassifier:
    """Load a model saved by :func:`save_model`; never unpickles arbitrary objects."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: model file not found; run the 'train' rule or set models.<arch>.import")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises several types for bad files
        raise ValueError(f"{path}: not a loadable skelvis model ({type(e).__name__}: {e}); "
                         f"delete it and run the 'train' rule again") from None
    if not isinstance(payload, dict) or payload.get("format") != "skelvis-model-1":
        raise ValueError(f"{path}: not a skelvis model file (no 'format: skelvis-model-1'); "
                         f"for your own model use skelvis.importers.import_model")
    model = build_model(payload["spec"], meta=payload.get("meta"))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; 'cuda' without CUDA raises a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was asked for but torch.cuda.is_available() is False; "
                           "set device: auto or cpu")
    return torch.device(device)


def to_tensors(ds, mask: np.ndarray | None = None, device="cpu"):
    """The model's inputs for a Dataset's samples in ``mask`` (all when None): x (N, T, J*C)
    float32, length (N,) int64, label (N,) int64 tensors on ``device``."""
    sel = slice(None) if mask is None else mask
    x = torch.from_numpy(np.ascontiguousarray(ds.x[sel])).flatten(2).to(device)
    length = torch.from_numpy(ds.length[sel].astype(np.int64)).to(device)
    label = torch.from_numpy(ds.label[sel].astype(np.int64)).to(device)
    return x, length, label


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, length: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Logits (N, K), evaluated in batches with the model in eval mode (its mode is restored)."""
    was = model.training
    model.eval()
    out = [model(x[i:i + batch_size], length[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    model.train(was)
    return torch.cat(out) if out else torch.zeros(0, getattr(model, "num_classes", 0))


def accuracy_by_split(model: nn.Module, ds, device="cpu", block: int = 1024) -> dict[str, float]:
    """Share of correctly classified samples per split name present in ``ds``.  The poses are taken
    ``block`` sequences at a time (a multiple of :func:`predict`'s batch: the same batches as one
    pass), so a lazily read ``ds.x`` is never held whole."""
    n = len(ds.x)
    parts = []
    for i in range(0, n, block):
        sl = slice(i, min(i + block, n))
        x = torch.from_numpy(np.ascontiguousarray(ds.x[sl], np.float32)).flatten(2).to(device)
        parts.append(predict(model, x, torch.from_numpy(ds.length[sl].astype(np.int64)).to(device)).argmax(1).cpu())
    pred = torch.cat(parts).numpy() if parts else np.zeros(0, np.int64)
    out = {}
    for k, name in SPLIT_NAMES.items():
        m = ds.split == k
        if m.any():
            out[name] = float((pred[m] == ds.label[m]).mean())
    return out
