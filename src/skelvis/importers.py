"""Import a user's own recurrent classifier into a :class:`~skelvis.models.RecurrentClassifier`.

``import_model(path, spec=None)`` reads

* a PyTorch **state dict** (``.pt``/``.pth``/``.bin``, loaded with ``weights_only=True``) of an
  ``nn.LSTM``/``nn.GRU`` (``batch_first`` or not: the weights are the same) plus an
  ``nn.Linear`` classifier; parameter names are found by shape (``*weight_ih_l0`` for the
  recurrent layer, a 2-D ``*weight`` with H columns for the classifier) or given in the spec
  (``rnn_prefix``, ``classifier_prefix``);
* **TorchScript** (``torch.jit.save``): its parameters are converted the same way, and the
  conversion is checked numerically against the scripted module on a random batch; a scripted
  model whose weights are not an LSTM/GRU + Linear is refused with a message;
* a **Keras HDF5** file (``model.save("m.h5")`` or ``save_weights``) of an LSTM followed by a
  Dense layer, read with h5py. Keras stores the LSTM gates as (i, f, c, o) in one kernel of
  shape (input, 4H) and one recurrent kernel (H, 4H), the same gate order as torch's (i, f, g, o):
  ``weight_ih = kernel.T``, ``weight_hh = recurrent_kernel.T``, ``bias_ih = bias``,
  ``bias_hh = 0``. Keras' Dense softmax output is ``softmax`` of the imported model's logits.
  The LSTM's ``recurrent_activation`` becomes the model's gate (:mod:`skelvis.rnn`):
  ``sigmoid`` -> torch's sigmoid; ``hard_sigmoid`` -> clip(0.2 z + 0.5, 0, 1) for a file
  written by Keras 1.x/2.x (``keras_version`` attribute; the default of Keras 2.0-2.2 LSTMs) and
  relu6(z + 3) / 6 for Keras 3.  Both Sequential configs are read: Keras <= 2.1 stores the layer
  list itself, Keras >= 2.2 a dict with ``layers``.

The spec is a dict or a YAML file: ``cell`` (lstm|gru), ``input_size``, ``hidden_size``,
``num_layers``, ``num_classes`` (all optional: read from the weights), ``classes`` (names),
``topology``, ``rnn_prefix``, ``classifier_prefix``, ``format`` (auto|state_dict|torchscript|keras),
``gate`` (the gate nonlinearity of a state dict's model, default sigmoid; names in
:data:`skelvis.rnn.GATES`).
Nothing here unpickles arbitrary objects.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
import yaml

from .errors import ModelImportError
from .models import RecurrentClassifier, accuracy_by_split, predict, to_tensors
from .rnn import GATES

__all__ = [
    "ModelImportError",
    "detect_format",
    "from_keras_h5",
    "from_state_dict",
    "from_torchscript",
    "import_model",
]

SPEC_KEYS = ("format", "cell", "input_size", "hidden_size", "num_layers", "num_classes", "classes",
             "topology", "rnn_prefix", "classifier_prefix", "gate")


def _load_spec(spec) -> dict[str, Any]:
    if spec is None:
        return {}
    if isinstance(spec, (str, Path)):
        p = Path(spec)
        if not p.exists():
            raise ModelImportError(f"{p}: model spec file not found; give a YAML with cell, hidden_size, ... or none")
        spec = yaml.safe_load(p.read_text()) or {}
    spec = dict(spec)
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ModelImportError(f"model spec: unknown key(s) {unknown}; allowed: {list(SPEC_KEYS)}")
    return spec


def detect_format(path) -> str:
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "keras"
    if head.startswith(b"PK"):
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        return "state_dict"
    raise ModelImportError(f"{p}: not a PyTorch (.pt zip), TorchScript or Keras HDF5 file; "
                       f"save your model with torch.save(model.state_dict(), ...), torch.jit.save or Keras model.save('m.h5')")


def _meta(spec: dict[str, Any], path, fmt: str, num_classes: int) -> dict[str, Any]:
    classes = spec.get("classes") or [f"class_{k}" for k in range(num_classes)]
    if len(classes) != num_classes:
        raise ModelImportError(f"{path}: spec lists {len(classes)} classes but the classifier has {num_classes} outputs")
    meta = {"classes": list(map(str, classes)), "imported_from": str(path), "import_format": fmt}
    if spec.get("topology"):
        meta["topology"] = spec["topology"]
    return meta


_RNN_KEY = re.compile(r"^(.*?)weight_ih_l(\d+)$")


def from_state_dict(sd: dict[str, torch.Tensor], spec: dict[str, Any] | None = None, path="<state dict>",
                    fmt: str = "state_dict") -> RecurrentClassifier:
    """A state dict of LSTM/GRU + Linear -> RecurrentClassifier (exact copy of the weights)."""
    spec = dict(spec or {})
    sd = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    if any(k.endswith("_reverse") for k in sd):
        raise ModelImportError(f"{path}: bidirectional recurrent layers are not supported (SkeletonVis reads h_t forward in time)")
    prefixes = {m.group(1) for k in sd for m in [_RNN_KEY.match(k)] if m}
    if spec.get("rnn_prefix") is not None:
        prefixes = {spec["rnn_prefix"]}
    if len(prefixes) != 1:
        raise ModelImportError(f"{path}: found {len(prefixes)} recurrent layers ({sorted(prefixes)}); name the one "
                           f"to use with spec rnn_prefix (e.g. 'lstm.')")
    pre = prefixes.pop()
    if f"{pre}weight_ih_l0" not in sd:
        raise ModelImportError(f"{path}: no '{pre}weight_ih_l0' in the state dict; keys: {sorted(sd)[:12]}")
    layers = 0
    while f"{pre}weight_ih_l{layers}" in sd:
        layers += 1
    w_ih0 = sd[f"{pre}weight_ih_l0"]
    w_hh0 = sd[f"{pre}weight_hh_l0"]
    H = w_hh0.shape[1]
    gates = w_ih0.shape[0] // H
    cell = spec.get("cell") or {4: "lstm", 3: "gru"}.get(gates)
    if cell not in ("lstm", "gru") or {"lstm": 4, "gru": 3}[cell] != gates:
        raise ModelImportError(f"{path}: recurrent weights of shape {tuple(w_ih0.shape)} are neither an LSTM (4H rows) "
                           f"nor a GRU (3H rows) with H={H}")
    if f"{pre}weight_hr_l0" in sd:
        raise ModelImportError(f"{path}: LSTMs with projections (proj_size) are not supported")
    cpre = spec.get("classifier_prefix")
    if cpre is None:
        cands = [k[:-len("weight")] for k, v in sd.items()
                 if k.endswith("weight") and not k.startswith(pre) and v.dim() == 2 and v.shape[1] == H]
        if len(cands) != 1:
            raise ModelImportError(f"{path}: expected exactly one Linear layer with {H} inputs after the recurrent layer, "
                               f"found {cands}; name it with spec classifier_prefix")
        cpre = cands[0]
    W = sd.get(f"{cpre}weight")
    if W is None or W.dim() != 2 or W.shape[1] != H:
        raise ModelImportError(f"{path}: '{cpre}weight' is not a Linear({H}, K) weight")
    b = sd.get(f"{cpre}bias", torch.zeros(W.shape[0]))
    for k, want in (("input_size", w_ih0.shape[1]), ("hidden_size", H), ("num_layers", layers), ("num_classes", W.shape[0])):
        if spec.get(k) is not None and int(spec[k]) != int(want):
            raise ModelImportError(f"{path}: spec {k}={spec[k]} but the weights say {want}")
    gate = spec.get("gate") or "sigmoid"
    if gate not in GATES:
        raise ModelImportError(f"{path}: spec gate={gate!r}; use one of {list(GATES)}")
    model = RecurrentClassifier(int(w_ih0.shape[1]), int(H), int(W.shape[0]), cell=cell, num_layers=layers,
                                meta=_meta(spec, path, fmt, int(W.shape[0])), gate=gate)
    new = {}
    for layer in range(layers):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            key = f"{pre}{name}_l{layer}"
            ref = getattr(model.rnn, f"{name}_l{layer}")
            new[f"rnn.{name}_l{layer}"] = sd[key].detach().float() if key in sd else torch.zeros_like(ref)
    new["classifier.weight"] = W.detach().float()
    new["classifier.bias"] = b.detach().float()
    try:
        model.load_state_dict(new)
    except RuntimeError as e:
        raise ModelImportError(f"{path}: weight shapes do not fit an {cell.upper()} of {layers} layer(s): {e}") from None
    model.eval()
    return model


def from_torchscript(path, spec: dict[str, Any] | None = None, check: bool = True) -> RecurrentClassifier:
    """TorchScript module -> RecurrentClassifier, checked against the scripted module's output."""
    spec = dict(spec or {})
    scripted = torch.jit.load(str(path), map_location="cpu")
    sd = dict(scripted.state_dict())
    model = from_state_dict(sd, spec, path, fmt="torchscript")
    if check:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(3, 7, model.input_size, generator=g)
        length = torch.full((3,), 7, dtype=torch.long)
        scripted.eval()
        with torch.no_grad():
            try:
                ref = scripted(x, length)
            except Exception:  # noqa: BLE001 - scripted forward(x) without lengths
                ref = scripted(x)
            if isinstance(ref, (tuple, list)):
                ref = ref[0]
            got = model(x, length)
        if tuple(ref.shape) != tuple(got.shape) or not torch.allclose(ref, got, atol=1e-5, rtol=1e-5):
            raise ModelImportError(f"{path}: the scripted model's output differs from an LSTM/GRU + Linear on the last "
                               f"frame with the same weights (max diff "
                               f"{(ref - got).abs().max().item() if ref.shape == got.shape else 'shape'}); "
                               f"export the state dict instead and describe it with a spec")
    return model


def _attr_str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _keras_groups(f) -> tuple[list, dict[str, Any], str]:
    """[(layer_name, {weight_name: array})] in layer order, the model config (if stored) and
    the ``keras_version`` attribute ('' when absent)."""
    root = f.get("model_weights", f)
    names = [_attr_str(n) for n in root.attrs.get("layer_names", list(root.keys()))]
    config = {}
    raw = f.attrs.get("model_config")
    if raw is not None:
        config = json.loads(_attr_str(raw))
    version = _attr_str(f.attrs.get("keras_version", root.attrs.get("keras_version", "")))
    layers = []
    for n in names:
        if n not in root:
            continue
        weights: dict[str, np.ndarray] = {}

        def visit(name, obj, weights=weights):
            if isinstance(obj, h5py.Dataset):
                weights[name.split("/")[-1].split(":")[0]] = obj[...]
        root[n].visititems(visit)
        if weights:
            layers.append((n, weights))
    return layers, config, version


def _keras_layer_configs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Layer name -> {class_name, **config}.  Keras <= 2.1 stores a Sequential model's config as
    the list of its layers, later versions as a dict with ``layers``."""
    out = {}
    inner = config.get("config") or {}
    layers = inner if isinstance(inner, list) else inner.get("layers") or []
    for L in layers:
        c = L.get("config", {})
        out[c.get("name", "")] = {"class_name": L.get("class_name"), **c}
    return out


def _keras_gate(path, layer: str, activation: str, version: str) -> str:
    """The skelvis gate for a Keras LSTM's ``recurrent_activation`` (module docstring)."""
    if activation == "sigmoid":
        return "sigmoid"
    if activation == "hard_sigmoid":
        major = re.match(r"\s*(\d+)", version or "")
        return "hard_sigmoid_keras3" if major and int(major.group(1)) >= 3 else "hard_sigmoid_keras2"
    raise ModelImportError(f"{path}: layer {layer} uses recurrent_activation {activation!r}; supported: "
                       f"sigmoid, hard_sigmoid")


def from_keras_h5(path, spec: dict[str, Any] | None = None) -> RecurrentClassifier:
    """Keras HDF5 (LSTM -> Dense) -> RecurrentClassifier (see the module docstring for the gate map)."""
    spec = dict(spec or {})
    with h5py.File(path, "r") as f:
        layers, config, version = _keras_groups(f)
    lcfg = _keras_layer_configs(config)
    rec = [(n, w) for n, w in layers if {"kernel", "recurrent_kernel"} <= set(w)]
    dense = [(n, w) for n, w in layers if set(w) == {"kernel", "bias"} and w["kernel"].ndim == 2]
    if len(rec) < 1 or len(dense) != 1:
        raise ModelImportError(f"{path}: expected LSTM layer(s) followed by one Dense layer, found layers "
                           f"{[n for n, _ in layers]}")
    gates = set()
    for n, _ in rec:
        c = lcfg.get(n, {})
        if c.get("class_name") not in (None, "LSTM"):
            raise ModelImportError(f"{path}: layer {n} is a {c.get('class_name')}; only Keras LSTM layers are supported")
        if c.get("activation", "tanh") != "tanh":
            raise ModelImportError(f"{path}: layer {n} uses activation {c.get('activation')!r}; only tanh maps onto "
                               f"an LSTM's candidate and output")
        gates.add(_keras_gate(path, n, c.get("recurrent_activation", "sigmoid"), version))
        if c.get("go_backwards"):
            raise ModelImportError(f"{path}: layer {n} runs backwards in time; not supported")
    if len(gates) > 1:
        raise ModelImportError(f"{path}: the LSTM layers use different recurrent activations {sorted(gates)}; "
                           f"one model has one gate nonlinearity")
    sd: dict[str, torch.Tensor] = {}
    for layer, (_, w) in enumerate(rec):
        k, rk = (np.asarray(w[a], np.float32) for a in ("kernel", "recurrent_kernel"))
        H = rk.shape[0]
        b = np.asarray(w["bias"], np.float32) if "bias" in w else np.zeros(4 * H, np.float32)  # use_bias=False
        if k.shape[1] != 4 * H or rk.shape != (H, 4 * H) or b.shape != (4 * H,):
            raise ModelImportError(f"{path}: LSTM weights kernel {k.shape}, recurrent {rk.shape}, bias {b.shape} "
                               f"do not have the Keras (input, 4H), (H, 4H), (4H,) shapes")
        sd[f"rnn.weight_ih_l{layer}"] = torch.from_numpy(k.T.copy())
        sd[f"rnn.weight_hh_l{layer}"] = torch.from_numpy(rk.T.copy())
        sd[f"rnn.bias_ih_l{layer}"] = torch.from_numpy(b.copy())
        sd[f"rnn.bias_hh_l{layer}"] = torch.zeros(4 * H)
    dk, db = (np.asarray(dense[0][1][a], np.float32) for a in ("kernel", "bias"))
    sd["classifier.weight"] = torch.from_numpy(dk.T.copy())
    sd["classifier.bias"] = torch.from_numpy(db.copy())
    return from_state_dict(sd, {**spec, "rnn_prefix": "rnn.", "classifier_prefix": "classifier.", "cell": "lstm",
                                "gate": gates.pop()}, path, fmt="keras")


def import_model(path, spec=None) -> RecurrentClassifier:
    """Load the user's own model (state dict + spec, TorchScript, or Keras HDF5); see module docs."""
    path = Path(path)
    if not path.exists():
        raise ModelImportError(f"{path}: model file not found; check models.<arch>.import")
    spec = _load_spec(spec)
    fmt = spec.get("format", "auto")
    if fmt in (None, "auto"):
        fmt = detect_format(path)
    if fmt == "keras":
        return from_keras_h5(path, spec)
    if fmt == "torchscript":
        return from_torchscript(path, spec)
    if fmt == "state_dict":
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001
            raise ModelImportError(f"{path}: not loadable with torch.load(weights_only=True) ({type(e).__name__}: {e}); "
                               f"save only the state dict: torch.save(model.state_dict(), path)") from None
        if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
            sd = sd["state_dict"]
        if not isinstance(sd, dict):
            raise ModelImportError(f"{path}: expected a state dict (name -> tensor), got {type(sd).__name__}")
        return from_state_dict(sd, spec, path)
    raise ModelImportError(f"{path}: unknown format {fmt!r}; use auto, state_dict, torchscript or keras")


def prepare_imported(path, spec, ds) -> tuple[RecurrentClassifier, dict[str, float], list]:
    """Import ``path`` for dataset ``ds``: check sizes against the data, take its class names and
    topology when the spec gives none, and score it. Returns (model, accuracy by split, history
    rows in the ``train`` format: one row, epoch 0, the imported model's train loss/accuracy)."""
    model = import_model(path, spec)
    jc = int(np.prod(ds.x.shape[2:]))
    if model.input_size != jc:
        raise ModelImportError(f"{path}: the model reads {model.input_size} values per frame but data '{ds.name}' has "
                           f"J*C = {jc} ({ds.topology}); import a model trained on this data's joints")
    if model.num_classes != len(ds.classes):
        raise ModelImportError(f"{path}: the model has {model.num_classes} outputs but data '{ds.name}' has "
                           f"{len(ds.classes)} classes")
    given = _load_spec(spec)
    if not given.get("classes"):
        model.meta["classes"] = list(ds.classes)
    model.meta.setdefault("topology", ds.topology)
    model.meta["dataset"] = ds.name
    model.meta["best_epoch"] = 0
    acc = accuracy_by_split(model, ds)
    row: dict[str, float] = {"epoch": 0, "lr": float("nan"), "seconds": 0.0}
    for split, name in ((0, "train"), (1, "validation")):
        mask = ds.split == split
        if mask.any():
            x, length, y = to_tensors(ds, mask)
            logits = predict(model, x, length)
            row[f"{name}_loss"] = float(torch.nn.functional.cross_entropy(logits, y))
            row[f"{name}_accuracy"] = float((logits.argmax(1) == y).float().mean())
    return model, acc, [row]
