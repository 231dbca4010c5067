"""SkeletonVis: the interactive, self-contained HTML viewer (Patil et al., §4 "SkeletonVis").

One HTML file per dataset and model that opens offline in any browser: plotly's offline bundle
(``plotly.offline.get_plotlyjs()``) and the viewer's own JavaScript (``viewer_assets/skelvis.js``)
are inlined, and the data travel inside the page as compact base64 arrays. Nothing is loaded
from the network.

What the page shows (the paper's description of the tool):

- a header with samples, classes, hidden units, sensor/topology and accuracy per split;
- pickers: target (a class or a hidden unit), input sequence (filterable by class, true and
  predicted label shown), mode (sensitivity / activation maximisation), and for maximisation the
  iteration (0 ... I) and the run (constrained / unconstrained);
- a 3-D skeleton player (play/pause, frame slider, rotate/zoom) with joints coloured by
  sensitivity on a sequential colormap with a colour bar; for maximisation the original and the
  maximised skeleton side by side (joints coloured by their displacement) and the response curve;
- a joint x time heatmap under the player, linked to the frame slider (click to jump).

Data reduction: ``sequences_per_class`` sequences per class from the configured splits, at most
``max_units`` hidden units, positions quantised to int16 and maps to uint8 (per array: value =
q * step), so the page stays small however large the dataset.

Inputs follow the contracts of DESIGN.md: ``data.h5``, ``metrics.json``, ``predictions.h5``,
``saliency/{arch}.h5`` (``class_map``/``pred_map`` (N, T, J), ``unit_maps`` (N, K, T, J),
``units`` (K,)) and ``maximize/{arch}.h5`` (one group per target with ``snapshots``
(I+1, T, J, 3), ``response`` (I+1,), ``max_bone_error``, ``max_angle_violation_deg``, the same for
the unconstrained run, attrs ``target`` and ``sample_id``). Saliency and maximisation are optional:
without them the page shows what exists and says what is missing.
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import h5py
import numpy as np

from .datasets.store import SPLIT_NAMES, Dataset, atomic_path, open_h5, read_dataset
from .errors import ConfigError, DataFormatError
from .evaluate import read_predictions
from .topology import get_topology

__all__ = ["ViewerConfig", "encode_array", "decode_array", "select_sequences", "read_saliency",
           "read_maximize", "parse_target", "displacement", "build_payload", "render_html", "write_viewer"]

_SPLIT_CODES = {v: k for k, v in SPLIT_NAMES.items()}


@dataclass
class ViewerConfig:
    """Data reduction settings (config section ``viewer``, see its schema)."""

    sequences_per_class: int = 2
    splits: Sequence[str] = ("validation", "test")
    max_units: int = 8
    title: str = "SkeletonVis"
    encoding: str = "quantized"
    decimals: int = 3

    def __post_init__(self):
        if self.sequences_per_class < 1:
            raise ConfigError(f"viewer.sequences_per_class must be >= 1, got {self.sequences_per_class}")
        if self.max_units < 0:
            raise ConfigError(f"viewer.max_units must be >= 0, got {self.max_units}")
        if self.encoding not in ("quantized", "rounded"):
            raise ConfigError(f"viewer.encoding must be 'quantized' or 'rounded', got {self.encoding!r}")
        bad = [s for s in self.splits if s not in _SPLIT_CODES]
        if bad or not self.splits:
            raise ConfigError(f"viewer.splits must name some of {list(_SPLIT_CODES)}, got {list(self.splits)}")


# --------------------------------------------------------------------------- array encoding

def encode_array(a: np.ndarray, kind: str, encoding: str = "quantized", decimals: int = 3) -> Dict[str, Any]:
    """Pack ``a`` for the page.

    ``encoding='quantized'`` (default): base64 of int16 (``kind='pos'``, symmetric) or uint8
    (``kind='map'``, non-negative) codes; returns ``{"b64", "dtype", "shape", "step"}`` with
    value = q * step, so the error is at most step / 2 (step = max|a| / 32767 or max(a) / 255).
    ``encoding='rounded'``: a plain JSON list rounded to ``decimals`` (``dtype`` "json"); larger
    and slower to parse, kept for comparison (benchmarks/bench_viewer.py)."""
    a = np.nan_to_num(np.asarray(a, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if kind == "map":
        a = np.maximum(a, 0.0)
    if encoding == "rounded":
        r = np.round(a, decimals).ravel()
        vals = [int(v) if v == int(v) else float(v) for v in r.tolist()]
        return {"values": vals, "dtype": "json", "shape": list(a.shape), "step": 1.0}
    if encoding != "quantized":
        raise ValueError(f"encoding must be 'quantized' or 'rounded', got {encoding!r}")
    if kind == "pos":
        m = float(np.abs(a).max()) if a.size else 0.0
        step = m / 32767.0 if m > 0 else 1.0
        q = np.clip(np.round(a / step), -32767, 32767).astype("<i2")
        dtype = "i2"
    elif kind == "map":
        m = float(a.max()) if a.size else 0.0
        step = m / 255.0 if m > 0 else 1.0
        q = np.clip(np.round(a / step), 0, 255).astype("u1")
        dtype = "u1"
    else:
        raise ValueError(f"kind must be 'pos' or 'map', got {kind!r}")
    return {"b64": base64.b64encode(q.tobytes()).decode("ascii"), "dtype": dtype,
            "shape": list(a.shape), "step": step}


def decode_array(enc: Dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_array` (what the page's JavaScript computes), float64."""
    if enc["dtype"] == "json":
        return np.asarray(enc["values"], np.float64).reshape(enc["shape"])
    dt = {"i2": "<i2", "u1": "u1"}[enc["dtype"]]
    q = np.frombuffer(base64.b64decode(enc["b64"]), dtype=dt)
    return (q.astype(np.float64) * enc["step"]).reshape(enc["shape"])


# --------------------------------------------------------------------------- inputs

def _str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def select_sequences(ds: Dataset, predicted: np.ndarray, probability: np.ndarray,
                     cfg: ViewerConfig) -> np.ndarray:
    """Indices of the sequences the page carries: per class, ``sequences_per_class`` samples of the
    configured splits (all splits if those hold none of the class) - the most confidently correct
    ones, plus the most confidently misclassified one when there is one and room for two.
    Deterministic; sorted by class, then by choice order."""
    codes = [_SPLIT_CODES[s] for s in cfg.splits]
    in_split = np.isin(ds.split, codes)
    chosen: List[int] = []
    k = cfg.sequences_per_class
    for c in range(ds.num_classes):
        pool = np.flatnonzero((ds.label == c) & in_split)
        if pool.size == 0:
            pool = np.flatnonzero(ds.label == c)
        if pool.size == 0:
            continue
        conf = probability[pool, c]
        correct = pool[predicted[pool] == c]
        wrong = pool[predicted[pool] != c]
        correct = correct[np.argsort(-probability[correct, c], kind="stable")]
        wrong = wrong[np.argsort(-probability[wrong, predicted[wrong]], kind="stable")]
        pick = list(correct[: k - 1 if (k >= 2 and wrong.size) else k]) + list(wrong[:1] if k >= 2 else [])
        if len(pick) < k:  # too few correct ones: fill with the remaining wrong ones
            rest = [i for i in pool[np.argsort(-conf, kind="stable")] if i not in pick]
            pick += rest[: k - len(pick)]
        chosen.extend(int(i) for i in pick[:k])
    return np.asarray(chosen, dtype=np.int64)


def read_saliency(path, ds: Dataset) -> Dict[str, Any]:
    """Read a saliency file and check it against the data (N, T, J); returns arrays and attrs."""
    path = Path(path)
    f = open_h5(path, fix="run the 'saliency' rule again")
    with f:
        missing = [k for k in ("class_map", "pred_map") if k not in f]
        if missing:
            raise DataFormatError(path, f"missing dataset(s) {missing}", fix="run the 'saliency' rule again")
        n, t, j = ds.x.shape[:3]
        shape = f["class_map"].shape
        if shape[1:] != (t, j) or shape[0] != n:
            raise DataFormatError(path, f"class_map has shape {shape}, the data {ds.x.shape[:3]} (N, T, J)",
                                  fix="the saliency file belongs to another data.h5; run the 'saliency' rule again")
        res = {"class_map": f["class_map"][...], "pred_map": f["pred_map"][...],
               "units": f["units"][...].astype(int) if "units" in f else np.zeros(0, int),
               "attrs": {k: _str(v) for k, v in f.attrs.items()}}
        if "unit_maps" in f:
            um = f["unit_maps"]
            if um.shape[0] != n or um.shape[2:] != (t, j) or um.shape[1] != len(res["units"]):
                raise DataFormatError(path, f"unit_maps has shape {um.shape}, expected ({n}, {len(res['units'])}, {t}, {j})",
                                      fix="run the 'saliency' rule again")
    return res


def _read_unit_maps(path, rows: np.ndarray, k: int) -> np.ndarray:
    with h5py.File(path, "r") as f:
        if "unit_maps" not in f or k == 0:
            return np.zeros((len(rows), 0) + f["class_map"].shape[1:], np.float32)
        order = np.argsort(rows)
        got = f["unit_maps"][np.sort(rows), :k]  # h5py needs increasing indices
    out = np.empty_like(got)
    out[order] = got
    return out


def parse_target(target: str, classes: Sequence[str]) -> Dict[str, Any]:
    """``{"kind": "class", "index": c}`` or ``{"kind": "unit", "index": u}`` from a target attr
    such as ``class:throw``, ``throw``, ``class 3``, ``unit:12``, ``unit 12``, ``hidden_unit=12``."""
    s = str(target).strip()
    m = re.search(r"unit\D*(\d+)", s, re.I)
    if m:
        return {"kind": "unit", "index": int(m.group(1))}
    name = re.sub(r"^\s*class\s*[:=_ ]?\s*", "", s, flags=re.I).strip()
    if name in classes:
        return {"kind": "class", "index": list(classes).index(name)}
    if name.isdigit() and int(name) < len(classes):
        return {"kind": "class", "index": int(name)}
    raise DataFormatError("maximize", f"target {target!r} is neither a class of {list(classes)} nor 'unit:<u>'",
                          fix="check the maximize stage's target attrs")


_UNCONSTRAINED_GROUPS = ("unconstrained",)


def _group_run(g: h5py.Group, prefix: str = "", suffix: str = "") -> Optional[Dict[str, np.ndarray]]:
    names = {"snapshots": "snapshots", "response": "response", "max_bone_error": "max_bone_error",
             "max_angle_violation_deg": "max_angle_violation_deg"}
    key = f"{prefix}snapshots{suffix}"
    if key not in g:
        return None
    run = {}
    for short, name in names.items():
        full = f"{prefix}{name}{suffix}"
        if full in g:
            run[short] = g[full][...]
    return run


def read_maximize(path, classes: Sequence[str]) -> List[Dict[str, Any]]:
    """Every target run in a maximisation file: ``target`` (from attrs ``target_kind`` and
    ``target_index``, else parsed from ``target``), ``label`` (attr ``target``),
    ``sample_id``, ``constrained`` and ``unconstrained`` runs (dicts of arrays; the latter may be
    None). The unconstrained run is found as a sub-group ``unconstrained/`` or as datasets
    ``unconstrained_<name>`` / ``<name>_unconstrained`` beside the constrained ones."""
    path = Path(path)
    f = open_h5(path, fix="run the 'maximize' rule again")
    entries: List[Dict[str, Any]] = []
    with f:
        groups: List[h5py.Group] = []

        def visit(name, obj):
            if isinstance(obj, h5py.Group) and "snapshots" in obj and name.split("/")[-1] not in _UNCONSTRAINED_GROUPS:
                groups.append(obj)
        if "snapshots" in f:
            groups.append(f)
        f.visititems(visit)
        for g in groups:
            con = _group_run(g)
            unc = None
            for sub in _UNCONSTRAINED_GROUPS:
                if sub in g and isinstance(g[sub], h5py.Group):
                    unc = _group_run(g[sub])
            unc = unc or _group_run(g, prefix="unconstrained_") or _group_run(g, suffix="_unconstrained")
            attrs = {k: _str(v) for k, v in g.attrs.items()}
            if "target" not in attrs:
                raise DataFormatError(path, f"group {g.name!r} has no 'target' attribute", fix="run the 'maximize' rule again")
            snaps = con["snapshots"]
            if snaps.ndim != 4 or snaps.shape[-1] != 3:
                raise DataFormatError(path, f"{g.name}/snapshots must be (I+1, T, J, 3), got {snaps.shape}",
                                      fix="run the 'maximize' rule again")
            if attrs.get("target_kind") in ("class", "unit") and "target_index" in attrs:
                target = {"kind": attrs["target_kind"], "index": int(attrs["target_index"])}
            else:
                target = parse_target(attrs["target"], classes)
            entries.append({"target": target, "label": attrs["target"],
                            "sample_id": attrs.get("sample_id", ""), "group": g.name,
                            "constrained": con, "unconstrained": unc, "attrs": attrs})
    return entries


# --------------------------------------------------------------------------- payload

def _valid_frames(seq: np.ndarray) -> int:
    """Frames up to the last one that is not all zeros (padding is zero)."""
    nz = np.flatnonzero(np.abs(seq.reshape(seq.shape[0], -1)).max(1) > 0)
    return int(nz[-1]) + 1 if nz.size else seq.shape[0]


def _run_payload(run: Dict[str, np.ndarray], length: int, enc) -> Dict[str, Any]:
    snaps = np.asarray(run["snapshots"], np.float64)[:, :length]
    out = {"snapshots": enc(snaps, "pos")}  # the page computes displacements (see displacement())
    for k in ("response", "max_bone_error", "max_angle_violation_deg"):
        if k in run:
            out[k] = [float(v) for v in np.round(np.asarray(run[k], np.float64), 6)]
    return out


def build_payload(data, metrics, predictions, saliency=None, maximize=None,
                  cfg: Optional[ViewerConfig] = None, model_name: str = "") -> Dict[str, Any]:
    """Everything the page needs, as a JSON-able dict (see the module docstring)."""
    cfg = cfg or ViewerConfig()

    def enc(a, kind):
        return encode_array(a, kind, cfg.encoding, cfg.decimals)
    ds = read_dataset(data)
    metrics_d = json.loads(Path(metrics).read_text())
    pred = read_predictions(predictions)
    if len(pred["predicted"]) != len(ds.x):
        raise DataFormatError(predictions, f"{len(pred['predicted'])} predictions for {len(ds.x)} samples in {data}",
                              fix="run the 'evaluate' rule again")
    topo = get_topology(ds.topology)
    spec = metrics_d.get("model", {})
    counts = {name: int((ds.split == code).sum()) for code, name in SPLIT_NAMES.items()}
    header = {
        "dataset": ds.name, "model": model_name, "topology": topo.name, "sensor": topo.sensor or topo.name,
        "samples": int(len(ds.x)), "samples_by_split": counts, "classes": list(ds.classes),
        "num_classes": ds.num_classes, "joints": topo.num_joints,
        "hidden_units": spec.get("hidden_size"), "layers": spec.get("num_layers"), "cell": spec.get("cell"),
        "accuracy": {k: (None if v is None else float(v)) for k, v in metrics_d.get("accuracy", {}).items()},
        "fps": ds.fps,
    }
    payload: Dict[str, Any] = {
        "title": cfg.title, "header": header, "joints": list(topo.joints),
        "bones": [list(b) for b in topo.bones], "sequences": [], "units": [], "maxruns": [],
        "notes": [], "sources": {"data": str(data), "metrics": str(metrics), "predictions": str(predictions),
                                 "saliency": str(saliency) if saliency else None,
                                 "maximize": str(maximize) if maximize else None},
    }
    if not topo.is_skeleton:
        raise DataFormatError(data, f"topology {topo.name!r} is not a 3-D skeleton",
                              fix="SkeletonVis draws skeletons only; disable the viewer stage for channel data")
    rows = select_sequences(ds, pred["predicted"], pred["probability"], cfg)
    sal = read_saliency(saliency, ds) if saliency else None
    if sal is None:
        payload["notes"].append("No sensitivity maps (the saliency stage did not run): sensitivity mode is off.")
    else:
        k = min(cfg.max_units, len(sal["units"]))
        payload["units"] = [int(u) for u in sal["units"][:k]]
        unit_maps = _read_unit_maps(saliency, rows, k)
        payload["saliency_mode"] = sal["attrs"].get("mode", "")
    for i, r in enumerate(rows):
        L = int(ds.length[r])
        seq = {"index": int(r), "id": str(ds.sample_id[r]), "label": int(ds.label[r]),
               "pred": int(pred["predicted"][r]), "split": SPLIT_NAMES[int(ds.split[r])],
               "prob": round(float(pred["probability"][r, pred["predicted"][r]]), 4), "length": L,
               "pos": enc(ds.x[r, :L], "pos")}
        if sal is not None:
            seq["class_map"] = enc(sal["class_map"][r, :L], "map")
            seq["pred_map"] = enc(sal["pred_map"][r, :L], "map")
            seq["unit_maps"] = enc(unit_maps[i][:, :L], "map")
        payload["sequences"].append(seq)
    if maximize:
        ids = {str(s): i for i, s in enumerate(ds.sample_id)}
        for e in read_maximize(maximize, ds.classes):
            r = ids.get(e["sample_id"])
            snaps = e["constrained"]["snapshots"]
            L = int(ds.length[r]) if r is not None else _valid_frames(snaps[0])
            L = min(L, snaps.shape[1])
            entry = {"target": e["target"], "label": e["label"], "sample_id": e["sample_id"], "length": L,
                     "true": int(ds.label[r]) if r is not None else None,
                     "constrained": _run_payload(e["constrained"], L, enc),
                     "unconstrained": _run_payload(e["unconstrained"], L, enc) if e["unconstrained"] else None}
            payload["maxruns"].append(entry)
        for e in payload["maxruns"]:
            t = e["target"]
            if t["kind"] == "unit" and t["index"] not in payload["units"]:
                payload["units"].append(t["index"])
    else:
        payload["notes"].append("No activation maximisation (the maximize stage did not run): that mode is off.")
    return payload


def displacement(snapshots: np.ndarray) -> np.ndarray:
    """|x_i - x_0| per joint, (I+1, L, J), from snapshots (I+1, L, J, 3): what the page colours the
    maximised skeleton by (computed in the page from the decoded snapshots, as here)."""
    s = np.asarray(snapshots, np.float64)
    return np.linalg.norm(s - s[:1], axis=-1)


# --------------------------------------------------------------------------- HTML

def _asset(name: str) -> str:
    return resources.files("skelvis").joinpath("viewer_assets", name).read_text(encoding="utf-8")


def _script_safe(text: str) -> str:
    """Text that can sit inside a <script> element without closing it."""
    return text.replace("</", "<\\/")


def render_html(payload: Dict[str, Any]) -> str:
    """The self-contained page: template + inlined plotly.js + viewer JS + JSON payload."""
    from plotly.offline import get_plotlyjs

    page = _asset("skelvis.html")
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    parts = {
        "{{TITLE}}": _html_escape(f"{payload['title']}: {payload['header']['dataset']} / {payload['header']['model']}"),
        "{{CSS}}": _asset("skelvis.css"),
        "{{PLOTLY_JS}}": _script_safe(get_plotlyjs()),
        "{{VIEWER_JS}}": _script_safe(_asset("skelvis.js")),
        "{{PAYLOAD}}": _script_safe(data),
    }
    # substitute in one pass so that placeholder-like text inside the inserted parts is never touched
    pattern = re.compile("|".join(re.escape(k) for k in parts))
    return pattern.sub(lambda m: parts[m.group(0)], page)


def _html_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def write_viewer(path, data, metrics, predictions, saliency=None, maximize=None,
                 cfg: Optional[ViewerConfig] = None, model_name: str = "") -> Dict[str, Any]:
    """Build the page and write it atomically to ``path``; returns a summary (sizes, counts)."""
    payload = build_payload(data, metrics, predictions, saliency, maximize, cfg, model_name)
    html = render_html(payload)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(html, encoding="utf-8")
    data_bytes = len(json.dumps(payload, separators=(",", ":")))
    return {"path": str(path), "bytes": len(html.encode("utf-8")), "payload_bytes": data_bytes,
            "sequences": len(payload["sequences"]), "units": len(payload["units"]),
            "maxruns": len(payload["maxruns"]), "notes": payload["notes"]}
