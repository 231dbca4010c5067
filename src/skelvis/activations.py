"""Hidden states of a trained recurrent classifier for every sample: ``activations.h5``.

``results/{dataset}/activations/{arch}.h5`` (read by the autoencoder and periods stages):

=========== ==================== ====================================================
name        type, shape          meaning
=========== ==================== ====================================================
hidden      float32 (N, T, H)    hidden state h_t of the configured layer, 0 after length
length      int32 (N,)           valid frames per sequence
label       int32 (N,)           true class
split       int8 (N,)            0 train, 1 validation, 2 test
predicted   int32 (N,)           the classifier's prediction (from the last valid frame)
sample_id   str (N,)             as in data.h5
=========== ==================== ====================================================

attrs: ``model``, ``data`` (input paths), ``layer`` (0-based index of the layer stored),
``num_layers``, ``cell``, ``classes`` (JSON list).
"""
from __future__ import annotations

import json

import h5py
import numpy as np
import torch

from .datasets.store import Dataset, DatasetInfo, iter_dataset, read_dataset_info
from .io import atomic_path, concat_h5, decode_attrs, decode_strings, open_h5, require
from .models import resolve_device
from .settings import ActivationsConfig

__all__ = ["compute_activations", "gather_activations", "iter_activations", "read_activations", "resolve_layer", "stream_activations",
           "write_activations"]

_FIELDS = ("hidden", "length", "label", "split", "predicted")


def resolve_layer(layer: int, num_layers: int) -> int:
    """0-based layer index for ``layer`` (negative counts from the top); clear error if out of range."""
    idx = layer + num_layers if layer < 0 else layer
    if not 0 <= idx < num_layers:
        raise ValueError(f"config key 'activations.layer': {layer} is out of range for a model with "
                         f"{num_layers} layer(s); use -1 (top) or 0..{num_layers - 1}")
    return idx


@torch.no_grad()
def compute_activations(model: torch.nn.Module, ds: Dataset,
                        cfg: ActivationsConfig = ActivationsConfig()) -> dict[str, np.ndarray]:
    """Hidden states (N, T, H) of ``cfg.layer`` and the predictions (N,), in batches of
    ``cfg.batch_size`` on ``cfg.device``.

    ``model`` is a :class:`skelvis.models.RecurrentClassifier` (LSTM or GRU, any depth); the
    hidden states are exactly ``model.hidden_states(x, length, layer)``.
    """
    layer = resolve_layer(int(cfg.layer), int(model.num_layers))
    batch_size = cfg.batch_size
    device = resolve_device(cfg.device)
    was = model.training
    model.eval().to(device)
    n, T = ds.x.shape[:2]
    hidden = np.zeros((n, T, model.hidden_size), np.float32)
    predicted = np.zeros(n, np.int32)
    for i in range(0, n, batch_size):
        x = torch.from_numpy(np.ascontiguousarray(ds.x[i:i + batch_size])).flatten(2).to(device)
        length = torch.from_numpy(ds.length[i:i + batch_size].astype(np.int64)).to(device)
        hidden[i:i + batch_size] = model.hidden_states(x, length, layer=layer).cpu().numpy()
        predicted[i:i + batch_size] = model(x, length).argmax(1).cpu().numpy()
    model.train(was).cpu()
    return {"hidden": hidden, "predicted": predicted, "layer": layer}


def write_activations(path, ds: Dataset, hidden: np.ndarray, predicted: np.ndarray, layer: int,
                      model: str = "", data: str = "", num_layers: int = 1, cell: str = "") -> None:
    """Write the activations file atomically (layout in the module docstring)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("hidden", data=np.asarray(hidden, np.float32), compression="gzip",
                         compression_opts=4, chunks=True)
        _write_fields(f, ds, predicted, layer, model, data, num_layers, cell)


def _write_fields(f: h5py.File, ds: Dataset, predicted, layer: int, model: str, data: str, num_layers: int,
                  cell: str) -> None:
    """Everything of the activations file but ``hidden``."""
    f["length"] = np.asarray(ds.length, np.int32)
    f["label"] = np.asarray(ds.label, np.int32)
    f["split"] = np.asarray(ds.split, np.int8)
    f["predicted"] = np.asarray(predicted, np.int32)
    f.create_dataset("sample_id", data=np.asarray([str(s) for s in ds.sample_id], dtype=object),
                     dtype=h5py.string_dtype())
    f.attrs["model"], f.attrs["data"] = str(model), str(data)
    f.attrs["layer"], f.attrs["num_layers"], f.attrs["cell"] = int(layer), int(num_layers), str(cell)
    f.attrs["classes"] = json.dumps(list(ds.classes))


def stream_activations(model: torch.nn.Module, data, path, cfg: ActivationsConfig = ActivationsConfig(),
                       rows: slice | None = None, model_path: str = "", info: DatasetInfo | None = None) -> dict:
    """The activations rule through bounded memory: the sequences ``rows`` (a contiguous slice, default
    all; one shard of config ``shards``) of the contract file ``data`` read ``cfg.batch_size`` at a
    time, their hidden states (:func:`compute_activations`) written into a pre-sized gzip-chunked
    ``hidden`` dataset of ``path`` as they come (layout in the module docstring): memory holds one
    batch and a few bytes per sequence.  Returns {'N', 'layer', 'H'}."""
    info = info or read_dataset_info(data)
    N, T = info.shape[:2]
    rows = slice(0, N) if rows is None else rows
    idx = np.arange(N)[rows]
    n, H = len(idx), int(model.hidden_size)
    layer = resolve_layer(int(cfg.layer), int(model.num_layers))
    with atomic_path(path) as tmp, h5py.File(tmp, "w", rdcc_nbytes=32 * 2**20) as f:
        hidden = f.create_dataset("hidden", shape=(n, T, H), dtype=np.float32,
                                  **({"chunks": (min(64, n), T, H), "compression": "gzip", "compression_opts": 4}
                                     if n else {}))
        predicted = np.zeros(n, np.int32)
        for ids, ds in iter_dataset(data, cfg.batch_size, rows=idx, info=info):
            out = compute_activations(model, ds, cfg)
            at = slice(int(ids[0] - idx[0]), int(ids[-1] - idx[0]) + 1)
            hidden[at] = out["hidden"]
            predicted[at] = out["predicted"]
        _write_fields(f, info.rows(np.zeros((n, 0, 0, 0), np.float32), idx), predicted, layer, model_path,
                      str(data), int(model.num_layers), str(model.cell))
    return {"N": n, "layer": layer, "H": H}


def gather_activations(parts, path) -> int:
    """activations.h5 from its shards' files ``parts`` (rows in order): datasets concatenated a block
    at a time, the attrs of the first.  Returns N."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        counts = concat_h5(parts, f, _FIELDS + ("sample_id",))
        with h5py.File(parts[0], "r") as first:
            for k, v in first.attrs.items():
                f.attrs[k] = v
    return sum(counts)


def read_activations(path, hidden: bool = True, rows=None, units=None) -> dict[str, object]:
    """Read an activations file into a dict of arrays plus its attrs (``classes`` as a list).

    ``hidden=False`` skips the large (N, T, H) array; ``rows`` (sequence indices, any order) reads
    ``hidden`` for those sequences only, (len(rows), T, H), and ``units`` (indices) only those
    hidden units, (..., len(units)); the per-sequence vectors stay whole (N,).
    """
    with open_h5(path, rule="activations", what="activations file") as f:
        require(f, _FIELDS + ("sample_id",), path, "activations")
        out: dict[str, object] = {k: f[k][...] for k in _FIELDS if k != "hidden"}
        if hidden:
            h = f["hidden"]
            if rows is None:
                out["hidden"] = h[...]
            else:
                r = np.asarray(rows, np.int64).reshape(-1)
                uniq, inv = np.unique(r, return_inverse=True)  # h5py reads increasing indices
                out["hidden"] = h[uniq][inv] if len(uniq) else h[0:0]
            if units is not None:
                out["hidden"] = out["hidden"][..., np.asarray(units, np.int64)]
        out["sample_id"] = decode_strings(f["sample_id"])
        attrs = decode_attrs(f.attrs)
    out["classes"] = json.loads(attrs.pop("classes", "[]"))
    out["attrs"] = attrs
    return out


def iter_activations(path, chunk: int = 1024):
    """Yield ``(rows (n,), hidden (n, T, H))`` of an activations file, ``chunk`` sequences at a
    time and in order: what a stage reading every hidden state holds at once."""
    with open_h5(path, rule="activations", what="activations file") as f:
        require(f, ("hidden",), path, "activations")
        h = f["hidden"]
        for s in range(0, h.shape[0], max(1, int(chunk))):
            block = h[s:s + chunk]
            yield np.arange(s, s + len(block)), block
