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

Inputs are read by the readers beside their writers (formats in docs/design.md): ``data.h5``
(:func:`~skelvis.datasets.store.read_dataset`), ``metrics.json`` and ``predictions.h5``
(:mod:`skelvis.evaluate`), ``saliency/{arch}.h5`` (:func:`~skelvis.saliency.read_saliency`) and
``maximize/{arch}.h5`` (:func:`~skelvis.maximize.read_maximization`). Saliency and maximisation
are optional: without them the page shows what exists and says what is missing.
"""
from __future__ import annotations

import base64
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from plotly.offline import get_plotlyjs

from .datasets.store import SPLIT_NAMES, Dataset, DatasetInfo, iter_dataset, read_dataset_info
from .errors import DataFormatError
from .evaluate import read_metrics, read_predictions
from .io import atomic_path
from .maximize import read_maximization
from .saliency import read_saliency
from .settings import ViewerConfig
from .topology import get_topology

__all__ = [
    "ViewerConfig",
    "build_payload",
    "decode_array",
    "displacement",
    "encode_array",
    "render_html",
    "select_sequences",
    "write_viewer",
]

_SPLIT_CODES = {v: k for k, v in SPLIT_NAMES.items()}


def encode_array(a: np.ndarray, kind: str, encoding: str = "quantized", decimals: int = 3) -> dict[str, Any]:
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


def decode_array(enc: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_array` (what the page's JavaScript computes), float64."""
    if enc["dtype"] == "json":
        return np.asarray(enc["values"], np.float64).reshape(enc["shape"])
    dt = {"i2": "<i2", "u1": "u1"}[enc["dtype"]]
    q = np.frombuffer(base64.b64decode(enc["b64"]), dtype=dt)
    return (q.astype(np.float64) * enc["step"]).reshape(enc["shape"])


# --------------------------------------------------------------------------- inputs

def select_sequences(ds: Dataset | DatasetInfo, predicted: np.ndarray, probability: np.ndarray,
                     cfg: ViewerConfig) -> np.ndarray:
    """Indices of the sequences the page carries: per class, ``sequences_per_class`` samples of the
    configured splits (all splits if those hold none of the class) - the most confidently correct
    ones, plus the most confidently misclassified one when there is one and room for two.
    Deterministic; sorted by class, then by choice order."""
    codes = [_SPLIT_CODES[s] for s in cfg.splits]
    in_split = np.isin(ds.split, codes)
    chosen: list[int] = []
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


# --------------------------------------------------------------------------- payload

def _valid_frames(seq: np.ndarray) -> int:
    """Frames up to the last one that is not all zeros (padding is zero)."""
    nz = np.flatnonzero(np.abs(seq.reshape(seq.shape[0], -1)).max(1) > 0)
    return int(nz[-1]) + 1 if nz.size else seq.shape[0]


def _run_payload(run: dict[str, np.ndarray], length: int, enc) -> dict[str, Any]:
    snaps = np.asarray(run["snapshots"], np.float64)[:, :length]
    out = {"snapshots": enc(snaps, "pos")}  # the page computes displacements (see displacement())
    for k in ("response", "max_bone_error", "max_angle_violation_deg"):
        if k in run:
            out[k] = [float(v) for v in np.round(np.asarray(run[k], np.float64), 6)]
    return out


def build_payload(data, metrics, predictions, saliency=None, maximize=None,
                  cfg: ViewerConfig | None = None, model_name: str = "") -> dict[str, Any]:
    """Everything the page needs, as a JSON-able dict (see the module docstring)."""
    cfg = cfg or ViewerConfig()

    def enc(a, kind):
        return encode_array(a, kind, cfg.encoding, cfg.decimals)
    ds = read_dataset_info(data)          # everything but the poses; those of the shown sequences below
    N = ds.shape[0]
    metrics_d = read_metrics(metrics)
    pred = read_predictions(predictions, keys=("predicted", "probability"))
    if len(pred["predicted"]) != N:
        raise DataFormatError(predictions, f"{len(pred['predicted'])} predictions for {N} samples in {data}",
                              fix="run the 'evaluate' rule again")
    topo = get_topology(ds.topology)
    spec = metrics_d.get("model", {})
    counts = {name: int((ds.split == code).sum()) for code, name in SPLIT_NAMES.items()}
    header = {
        "dataset": ds.name, "model": model_name, "topology": topo.name, "sensor": topo.sensor or topo.name,
        "samples": N, "samples_by_split": counts, "classes": list(ds.classes),
        "num_classes": ds.num_classes, "joints": topo.num_joints,
        "hidden_units": spec.get("hidden_size"), "layers": spec.get("num_layers"), "cell": spec.get("cell"),
        "accuracy": {k: (None if v is None else float(v)) for k, v in metrics_d.get("accuracy", {}).items()},
        "fps": ds.fps,
    }
    payload: dict[str, Any] = {
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
    uniq = np.unique(np.asarray(rows, np.int64))
    parts = [d.x for _, d in iter_dataset(data, 256, rows=uniq, info=ds)]
    poses = np.concatenate(parts) if parts else np.zeros((0, *ds.shape[1:]), np.float32)
    pose_of = {int(r): q for q, r in enumerate(uniq)}
    # only the shown sequences' maps are read; unit maps exist for those saliency.keep_unit_maps kept
    sal = read_saliency(saliency, data=ds, rows=rows) if saliency else None
    if sal is None:
        payload["notes"].append("No sensitivity maps (the saliency stage did not run): sensitivity mode is off.")
    else:
        k = min(cfg.max_units, len(sal["units"]))
        payload["units"] = [int(u) for u in sal["units"][:k]]
        kept = {int(r): q for q, r in enumerate(sal["unit_map_index"])}
        empty = np.zeros((0,) + tuple(ds.shape[1:3]), np.float32)
        unit_maps = [sal["unit_maps"][kept[int(r)], :k] if int(r) in kept else empty for r in rows]
        if k and len(kept) < len(rows):
            payload["notes"].append("Hidden-unit maps are shown for the sequences saliency.keep_unit_maps kept "
                                    f"({sal['attrs'].get('keep_unit_maps', 'all')}) only.")
        payload["saliency_mode"] = sal["attrs"].get("mode", "")
    for i, r in enumerate(rows):
        L = int(ds.length[r])
        seq = {"index": int(r), "id": str(ds.sample_id[r]), "label": int(ds.label[r]),
               "pred": int(pred["predicted"][r]), "split": SPLIT_NAMES[int(ds.split[r])],
               "prob": round(float(pred["probability"][r, pred["predicted"][r]]), 4), "length": L,
               "pos": enc(poses[pose_of[int(r)], :L], "pos")}
        if sal is not None:
            seq["class_map"] = enc(sal["class_map"][i, :L], "map")
            seq["pred_map"] = enc(sal["pred_map"][i, :L], "map")
            seq["unit_maps"] = enc(unit_maps[i][:, :L], "map")
        payload["sequences"].append(seq)
    if maximize:
        ids = {str(s): i for i, s in enumerate(ds.sample_id)}
        for e in read_maximization(maximize):
            r = ids.get(e["sample_id"])
            snaps = e["constrained"]["snapshots"]
            L = int(ds.length[r]) if r is not None else _valid_frames(snaps[0])
            L = min(L, snaps.shape[1])
            entry = {"target": {"kind": e["target_kind"], "index": int(e["target_index"])}, "label": e["target"],
                     "sample_id": e["sample_id"], "length": L,
                     "true": int(ds.label[r]) if r is not None else None,
                     "constrained": _run_payload(e["constrained"], L, enc),
                     "unconstrained": _run_payload(e["unconstrained"], L, enc)}
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


def render_html(payload: dict[str, Any]) -> str:
    """The self-contained page: template + inlined plotly.js + viewer JS + JSON payload."""

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
                 cfg: ViewerConfig | None = None, model_name: str = "") -> dict[str, Any]:
    """Build the page and write it atomically to ``path``; returns a summary (sizes, counts)."""
    payload = build_payload(data, metrics, predictions, saliency, maximize, cfg, model_name)
    html = render_html(payload)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(html, encoding="utf-8")
    data_bytes = len(json.dumps(payload, separators=(",", ":")))
    return {"path": str(path), "bytes": len(html.encode("utf-8")), "payload_bytes": data_bytes,
            "sequences": len(payload["sequences"]), "units": len(payload["units"]),
            "maxruns": len(payload["maxruns"]), "notes": payload["notes"]}
