"""SkeletonVis: the interactive, self-contained HTML page (Patil et al., §4 "SkeletonVis"), with
the linked views of the project's other analyses.

One HTML file per dataset and model that opens offline in any browser. Its JavaScript is the
viewer's own (``viewer_assets/skelvis.js``: canvas 2-D drawing of the skeleton player, the
joint x time heatmaps and the hidden-state map) and uPlot for the line charts, fetched from npm
at set-up (``tools/vendor_js.py``, pinned in ``viewer_assets/vendor.json``) and inlined. The data
travel as one gzip-compressed binary block (base64) that the page inflates with the browser's
own ``DecompressionStream``; nothing is loaded from the network. Size and first render are
measured by ``benchmarks/bench_viewer.py``.

What the page shows:

- a header (samples, classes, hidden units, sensor, accuracy per split) and the rule that chose
  the sequences it carries;
- the player (rotate by dragging, zoom by wheel), joints coloured by the map on a colour-blind-safe
  sequential colormap (cividis), with its joint x time heatmap (hover a cell: the joint is ringed
  in the player; click: jump to the frame);
- modes: sensitivity (a picker for every attribution method the run computed, with its benchmark
  numbers) and activation maximisation (the original and every variant the file holds side by
  side, with their response curves);
- compare: a second sequence beside the first, one frame slider, one colour scale;
- the hidden-state map (the autoencoder's 2-D codes): every carried sequence's path, the current
  one on top with its point at the current frame; a click on a path loads that sequence;
- a units panel: a hidden unit's activation over the sequence with its highly activated periods
  shaded (Cho et al.), and the unit's LRP relevance with its MC-dropout uncertainty band;
- the view's state in the URL fragment, a PNG button, keyboard (space plays, arrows step).

Data reduction (bounded whatever N): per class ``sequences_per_class`` sequences of the configured
splits (the most confidently correct, and the most confident mistake), the sequences the periods
stage explained, at most ``max_units`` hidden units besides those maximised or explained; positions
quantised to 14 bits (step max|x| / 8191, a fraction of a millimetre) and maps to uint8 (value =
q * step), maximisation iterations as 12-bit offsets from their start, neighbouring frames (or
iterations) stored as differences, int16 byte-shuffled, the whole block gzip-compressed.

Inputs are read by the readers beside their writers (formats in docs/design.md). Everything
besides data, metrics and predictions is optional: without it the page shows what exists and says
what is missing.
"""
from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps

from .activations import read_activations
from .attribution import METHODS
from .attribution.benchmark import build_methods, read_benchmark
from .autoencoder import read_paths, read_quality
from .datasets.store import SPLIT_NAMES, Dataset, read_dataset
from .errors import DataFormatError
from .evaluate import read_metrics, read_predictions
from .faithfulness import read_faithfulness
from .io import atomic_path
from .maximize import read_maximization_file, repair_line, summarize_repair
from .models import load_model, resolve_device
from .periods import read_periods
from .saliency import read_saliency
from .settings import AttributionConfig, SaliencyConfig, ViewerConfig
from .topology import get_topology

__all__ = [
    "BENCHMARK_METRICS",
    "FORMAT",
    "ViewerConfig",
    "benchmark_numbers",
    "build_payload",
    "carried_maps",
    "decode_array",
    "displacement",
    "encode_array",
    "page_blob",
    "render_html",
    "run_snapshots",
    "select_sequences",
    "write_viewer",
]

FORMAT = "skelvis-page-2"
_SPLIT_CODES = {v: k for k, v in SPLIT_NAMES.items()}
_ALIGN = 8


# --------------------------------------------------------------------------- binary block

class _Blob:
    """Arrays packed one after another (each at an offset aligned to 8 bytes) into one buffer;
    :meth:`add` returns the array's descriptor ``{"o": offset, "dtype", "shape", "step"}`` with
    value = q * step (``dtype`` "i2": symmetric int16, step = max|a| / (2**(bits-1) - 1); "u1":
    uint8 of a non-negative array, step = max a / 255; "f4": float32, step 1).

    Arrays are stored so that gzip finds their redundancy: ``"delta": axis`` when q is stored as its
    differences along that axis (frames, or iterations; the reader takes the cumulative sum, modulo
    256 for uint8), and int16 byte-shuffled (every low byte, then every high byte)."""

    def __init__(self, encoding: str = "quantized"):
        if encoding not in ("quantized", "float32"):
            raise ValueError(f"encoding must be 'quantized' or 'float32', got {encoding!r}")
        self.encoding = encoding
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, a, kind: str, bits: int = 16, axis: int | None = 0) -> dict[str, Any]:
        """Pack ``a``; ``axis``: the axis along which neighbours are alike (frames, iterations),
        stored as differences (None: as is)."""
        q, dtype, step = _quantize(a, kind, self.encoding, bits)
        desc: dict[str, Any] = {"o": self.size, "dtype": dtype, "shape": list(q.shape), "step": step}
        if axis is not None and dtype != "f4" and q.ndim and q.shape[axis] > 1:
            d = np.diff(q.astype(np.int32), axis=axis, prepend=0)
            if dtype == "u1":  # modulo 256: the reader's cumulative sum wraps back
                q, desc["delta"] = (d % 256).astype("u1"), axis
            elif np.abs(d).max() <= 32767:
                q, desc["delta"] = d.astype("<i2"), axis
        if dtype == "i2":
            raw = np.ascontiguousarray(q, "<i2").reshape(-1).view(np.uint8).reshape(-1, 2).T.tobytes()  # low, then high bytes
        else:
            raw = np.ascontiguousarray(q).tobytes()
        pad = (-len(raw)) % _ALIGN
        self.parts.append(raw + b"\0" * pad)
        self.size += len(raw) + pad
        return desc

    def bytes(self) -> bytes:
        return b"".join(self.parts)


def _quantize(a, kind: str, encoding: str = "quantized", bits: int = 16):
    a = np.nan_to_num(np.asarray(a, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if kind == "map":
        a = np.maximum(a, 0.0)
    elif kind not in ("pos", "signed"):
        raise ValueError(f"kind must be 'pos', 'signed' or 'map', got {kind!r}")
    if encoding == "float32":
        return a.astype("<f4"), "f4", 1.0
    if kind == "map":
        m = float(a.max()) if a.size else 0.0
        step = m / 255.0 if m > 0 else 1.0
        return np.clip(np.round(a / step), 0, 255).astype("u1"), "u1", step
    top = 2 ** (int(bits) - 1) - 1
    m = float(np.abs(a).max()) if a.size else 0.0
    step = m / top if m > 0 else 1.0
    return np.clip(np.round(a / step), -top, top).astype("<i2"), "i2", step


def encode_array(a: np.ndarray, kind: str, encoding: str = "quantized") -> dict[str, Any]:
    """One array packed alone (descriptor plus ``b64`` of its bytes): what :class:`_Blob` stores
    for it. The error of ``quantized`` is at most step / 2."""
    blob = _Blob(encoding)
    desc = blob.add(a, kind)
    desc["b64"] = base64.b64encode(blob.bytes()).decode("ascii")
    return desc


_DTYPES = {"i2": "<i2", "u1": "u1", "f4": "<f4"}


def decode_array(desc: dict[str, Any], blob: bytes | None = None) -> np.ndarray:
    """Inverse of :class:`_Blob.add` / :func:`encode_array` (what the page's JavaScript computes),
    float64: the array at ``desc["o"]`` of the inflated ``blob`` (:func:`page_blob`), or of the
    descriptor's own ``b64``."""
    if blob is None:
        blob = base64.b64decode(desc["b64"])
    n = int(np.prod(desc["shape"], dtype=np.int64))
    o = int(desc.get("o", 0))
    if desc["dtype"] == "i2":
        b = np.frombuffer(blob, np.uint8, count=2 * n, offset=o).reshape(2, n)
        q = (b[0].astype(np.int32) | (b[1].astype(np.int32) << 8)).astype(np.uint16).view(np.int16).astype(np.int64)
    else:
        q = np.frombuffer(blob, dtype=np.dtype(_DTYPES[desc["dtype"]]), count=n, offset=o).astype(np.float64)
    q = q.reshape(desc["shape"])
    if desc.get("delta") is not None and desc.get("delta") is not False:
        q = np.cumsum(q.astype(np.int64), axis=int(desc["delta"]))
        if desc["dtype"] == "u1":
            q = q % 256
    return q.astype(np.float64) * desc["step"]


def page_blob(payload: dict[str, Any]) -> bytes:
    """The inflated binary block of a payload built by :func:`build_payload`."""
    return gzip.decompress(base64.b64decode(payload["blob"]))


def run_snapshots(run: dict[str, Any], blob: bytes) -> np.ndarray:
    """A maximisation run's snapshots (I+1, L, J, 3) from the page's start + offsets encoding."""
    start = decode_array(run["start"], blob)
    offsets = decode_array(run["offsets"], blob)
    return np.concatenate([start[None], start[None] + offsets], 0)


def displacement(snapshots: np.ndarray) -> np.ndarray:
    """|x_i - x_0| per joint, (I+1, L, J), from snapshots (I+1, L, J, 3): what the page colours a
    maximised skeleton by (computed in the page from the decoded snapshots, as here)."""
    s = np.asarray(snapshots, np.float64)
    return np.linalg.norm(s - s[:1], axis=-1)


# --------------------------------------------------------------------------- choice of sequences

def select_sequences(ds: Dataset, predicted: np.ndarray, probability: np.ndarray,
                     cfg: ViewerConfig) -> tuple[np.ndarray, list[str]]:
    """Indices of the sequences the page carries and why each: per class, ``sequences_per_class``
    samples of the configured splits (all splits if those hold none of the class) - the most
    confidently correct ones ("confident"), plus the most confidently misclassified one
    ("misclassified") when there is one and room for two. Deterministic; sorted by class, then by
    choice order; the count is bounded by classes x ``sequences_per_class`` whatever N."""
    codes = [_SPLIT_CODES[s] for s in cfg.splits]
    in_split = np.isin(ds.split, codes)
    chosen: list[int] = []
    why: list[str] = []
    k = cfg.sequences_per_class
    for c in range(ds.num_classes):
        pool = np.flatnonzero((ds.label == c) & in_split)
        if pool.size == 0:
            pool = np.flatnonzero(ds.label == c)
        if pool.size == 0:
            continue
        correct = pool[predicted[pool] == c]
        wrong = pool[predicted[pool] != c]
        correct = correct[np.argsort(-probability[correct, c], kind="stable")]
        wrong = wrong[np.argsort(-probability[wrong, predicted[wrong]], kind="stable")]
        n_wrong = 1 if (k >= 2 and wrong.size) else 0
        pick = [(int(i), "confident") for i in correct[: k - n_wrong]]
        pick += [(int(i), "misclassified") for i in wrong[:n_wrong]]
        if len(pick) < k:  # too few correct ones: the remaining mistakes, most confident first
            have = {i for i, _ in pick}
            pick += [(int(i), "misclassified") for i in wrong if int(i) not in have][: k - len(pick)]
        for i, w in pick[:k]:
            chosen.append(i)
            why.append(w)
    return np.asarray(chosen, dtype=np.int64), why


def _as_mapping(x, default_name: str) -> dict[str, Any]:
    if x is None:
        return {}
    if isinstance(x, Mapping):
        return {str(k): v for k, v in x.items() if v}
    return {default_name: x}


def _plain(v):
    """A numpy scalar (as h5py returns attrs) as the Python value JSON takes."""
    return v.item() if isinstance(v, np.generic) else v


def _colormap(name: str) -> str:
    """256 colours of a matplotlib colormap as one hex string (6 characters each)."""
    lut = (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(int)
    return "".join(f"{r:02x}{g:02x}{b:02x}" for r, g, b in lut)


def _benchmark(doc: dict[str, Any]) -> dict[str, Any]:
    """The numbers shown beside a method: faithfulness's ground-truth mass share and deletion AUCs."""
    out: dict[str, Any] = {}
    ms = doc.get("mass_share")
    if isinstance(ms, dict) and isinstance(ms.get("mean_share"), (int, float)):
        out["mass on the class's joints"] = round(float(ms["mean_share"]), 3)
        if isinstance(ms.get("mean_chance"), (int, float)):
            out["chance"] = round(float(ms["mean_chance"]), 3)
    dl = doc.get("deletion") or {}
    for k, name in (("auc_salient", "deletion AUC, salient order"), ("auc_random", "deletion AUC, random order")):
        if isinstance(dl.get(k), (int, float)):
            out[name] = round(float(dl[k]), 4)
    if "n" in doc:
        out["sequences"] = int(doc["n"])
    return out


#: the attribution benchmark's metrics shown beside a method (skelvis.attribution.benchmark's
#: table, ``{arch}_benchmark.csv``) and their labels on the page
BENCHMARK_METRICS = {
    "deletion_auc": "deletion AUC (lower better)",
    "insertion_auc": "insertion AUC (higher better)",
    "class_joint_mass": "class-joint mass (higher better)",
    "randomisation_recurrent_spearman": "randomisation rho (lower better)",
    "seed_spearman": "seed rho (higher better)",
}


def benchmark_numbers(table, method: str) -> dict[str, str]:
    """The numbers shown beside ``method`` in the picker, from the attribution benchmark's table
    (:func:`skelvis.attribution.benchmark.read_benchmark`): for each metric of
    :data:`BENCHMARK_METRICS` the benchmark has, "mean [95% interval]" (its percentile bootstrap),
    plus the number of sequences; {} for a method the benchmark did not score."""
    rows = table[table["method"] == method]
    out: dict[str, str] = {}
    n = None
    for metric, label in BENCHMARK_METRICS.items():
        r = rows[rows["metric"] == metric]
        if r.empty or not np.isfinite(float(r["value"].iloc[0])):
            continue
        v, lo, hi = (float(r[k].iloc[0]) for k in ("value", "ci_low", "ci_high"))
        out[label] = f"{v:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) and np.isfinite(hi) else "")
        n = n if n is not None else int(r["n"].iloc[0])
    if out and n is not None:
        out["sequences"] = str(n)
    return out


def carried_maps(model, x: np.ndarray, length: np.ndarray, label: np.ndarray, predicted: np.ndarray,
                 methods: Mapping[str, Any], seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The maps of the attribution ``methods`` (name -> :class:`skelvis.attribution.Attribution`,
    as :func:`skelvis.attribution.benchmark.build_methods` builds them) for the page's carried
    sequences ``x`` (n, T, J, C) with ``length`` (n,): name -> (map of the true class, map of the
    predicted class), each (n, T, J). The methods are called, not re-implemented (one source of
    truth); the predicted class's map is computed for the misclassified sequences only (it is the
    true class's elsewhere). Each method starts from ``seed`` (torch's generator forked), as the
    benchmark's calls do."""
    x = np.asarray(x, np.float32)
    length = np.asarray(length, np.int64)
    label = np.asarray(label, np.int64)
    predicted = np.asarray(predicted, np.int64)
    wrong = np.flatnonzero(predicted != label)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, method in methods.items():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            cls = method(model, torch.from_numpy(x), torch.from_numpy(length), torch.from_numpy(label))
            pred = cls.copy()
            if wrong.size:
                pred[wrong] = method(model, torch.from_numpy(x[wrong]), torch.from_numpy(length[wrong]),
                                     torch.from_numpy(predicted[wrong]))
        out[name] = (cls, pred)
    return out


def _repair(e: dict[str, Any], L: int, mode: str, blob: _Blob) -> dict[str, Any] | None:
    """The page's summary of how a maximisation start was repaired (the constrained run's, which
    the unconstrained run shares; :func:`skelvis.maximize.summarize_repair`): its line
    (:func:`skelvis.maximize.repair_line`), the numbers in it, and per frame how far the repair
    moved it and whether it broke a limit (``displacement``, ``broken_mask``: uint8 in the blob);
    None without constraints."""
    run = e.get("constrained") or next((e[v] for v in e if isinstance(e[v], dict) and "start_violations" in e[v]),
                                       None)
    if run is None or (not run.get("start_violations") and "repair_displacement" not in run):
        return None
    s = summarize_repair(run, L, float(e.get("scale", 1.0)), mode)
    out = {"line": repair_line(s), "mode": s["mode"], "frames": s["frames"], "moved": s["moved"],
           "max_move": None if s["max_move"] is None else round(s["max_move"], 6), "max_move_frame": s["max_move_frame"],
           "tol": round(s["tol"], 6), "broken": [[k, v] for k, v in s["broken"].items()],
           "broken_frames": len(s["broken_frames"]), "displacement": None}
    mask = np.zeros(L)
    mask[[t for t in s["broken_frames"] if 0 <= t < L]] = 1.0
    out["broken_mask"] = blob.add(mask, "map", axis=None)       # uint8: a byte per frame before gzip
    if s["displacement"] is not None:
        out["displacement"] = blob.add(s["displacement"], "map", axis=None)
    return out


def _method_label(name: str) -> str:
    """What a method's map measures, for the page's colour bar and title: the attribution
    module's own description (:data:`skelvis.attribution.METHODS`), else the name."""
    cls = METHODS.get(name)
    return cls.description if cls is not None and cls.description else name


# --------------------------------------------------------------------------- payload

def build_payload(data, metrics, predictions, saliency=None, maximize=None,
                  cfg: ViewerConfig | None = None, model_name: str = "", *, faithfulness=None,
                  paths=None, quality=None, activations=None, periods=None, model=None, benchmark=None,
                  attribution: AttributionConfig | None = None,
                  saliency_cfg: SaliencyConfig | None = None) -> dict[str, Any]:
    """Everything the page needs, as a JSON-able dict with one binary block (``blob``: base64 of
    gzip; arrays are descriptors into it, see :func:`decode_array` and :func:`page_blob`).

    ``saliency`` and ``faithfulness``: a path, or a mapping method -> path for several attribution
    methods (the page's method picker lists what is given); ``paths`` the autoencoder's 2-D paths
    file (with its ``quality`` JSON); ``activations`` and ``periods`` for the units panel.

    ``model`` (the trained model file) and ``benchmark`` (the attribution benchmark's
    ``{arch}_benchmark.csv``): with the model, the maps of the methods ``cfg.methods`` are computed
    for the carried sequences (:func:`carried_maps`, with the ``attribution`` stage's settings and,
    for ``local``, the saliency stage's normalisation ``saliency_cfg``), except a method a saliency
    file already gives; with the benchmark, every method's numbers come from its table
    (:func:`benchmark_numbers`) instead of the faithfulness file's."""
    cfg = cfg or ViewerConfig()
    blob = _Blob(cfg.encoding)
    ds = read_dataset(data, lazy=True)  # the poses of the carried sequences only
    metrics_d = read_metrics(metrics)
    pred = read_predictions(predictions)
    if len(pred["predicted"]) != len(ds.x):
        raise DataFormatError(predictions, f"{len(pred['predicted'])} predictions for {len(ds.x)} samples in {data}",
                              fix="run the 'evaluate' rule again")
    topo = get_topology(ds.topology)
    if not topo.is_skeleton:
        raise DataFormatError(data, f"topology {topo.name!r} is not a 3-D skeleton",
                              fix="SkeletonVis draws skeletons only; disable the viewer stage for channel data")
    spec = metrics_d.get("model", {})
    counts = {name: int((ds.split == code).sum()) for code, name in SPLIT_NAMES.items()}
    header = {
        "dataset": ds.name, "model": model_name, "topology": topo.name, "sensor": topo.sensor or topo.name,
        "samples": len(ds.x), "samples_by_split": counts, "classes": list(ds.classes),
        "num_classes": ds.num_classes, "joints": topo.num_joints,
        "hidden_units": spec.get("hidden_size"), "layers": spec.get("num_layers"), "cell": spec.get("cell"),
        "accuracy": {k: (None if v is None else float(v)) for k, v in metrics_d.get("accuracy", {}).items()},
        "fps": ds.fps,
    }
    sal_paths = _as_mapping(saliency, "")
    faith_paths = _as_mapping(faithfulness, "")
    sources = {"data": str(data), "metrics": str(metrics), "predictions": str(predictions),
               "maximize": str(maximize) if maximize else None, "paths": str(paths) if paths else None,
               "activations": str(activations) if activations else None,
               "periods": str(periods) if periods else None}
    payload: dict[str, Any] = {
        "format": FORMAT, "title": cfg.title, "header": header, "joints": list(topo.joints),
        "bones": [list(b) for b in topo.bones], "sequences": [], "methods": [], "units": [],
        "maxruns": [], "variants": [], "map": None, "hidden": None, "notes": [], "sources": sources,
        "colormaps": {"sequential": _colormap("cividis"), "diverging": _colormap("PuOr_r")},
    }
    rows, why = select_sequences(ds, pred["predicted"], pred["probability"], cfg)
    per = read_periods(periods) if periods else None
    max_file = read_maximization_file(maximize) if maximize else {"attrs": {}, "entries": []}
    max_entries = max_file["entries"]
    repair_mode = (max_file["attrs"].get("params") or {}).get("infeasible_start", "repair")
    # the sequences the periods stage explained and the maximisation starts come along (bounded
    # by the stages' own targets), so the map and the units panel link to them too
    ids = {str(s): i for i, s in enumerate(ds.sample_id)}
    extra: dict[int, str] = {}
    if per is not None:
        for s in np.asarray(per.relevance.get("sample", [])):
            extra.setdefault(int(s), "explained (periods stage)")
    for e in max_entries:
        if str(e["sample_id"]) in ids:
            extra.setdefault(ids[str(e["sample_id"])], "maximisation start")
    have = set(rows.tolist())
    extra = {r: w for r, w in extra.items() if r not in have}
    if extra:
        rows = np.concatenate([rows, np.asarray(list(extra), np.int64)])
        why = why + list(extra.values())
    n_explained = sum(w.startswith("explained") for w in extra.values())
    n_starts = len(extra) - n_explained
    seq_of = {int(r): i for i, r in enumerate(rows)}
    lengths = [int(ds.length[r]) for r in rows]
    payload["selection"] = {
        "per_class": cfg.sequences_per_class, "splits": list(cfg.splits), "carried": len(rows),
        "of": len(ds.x), "explained": n_explained, "maximisation_starts": n_starts,
        "rule": (f"{len(rows)} of {len(ds.x)} sequences: per class up to {cfg.sequences_per_class} from the "
                 f"{' and '.join(cfg.splits)} split(s), the most confidently correct and the most confident "
                 f"mistake" + (f", plus the {n_explained} sequence(s) the periods stage explained" if n_explained else "")
                 + (f", plus {n_starts} other maximisation start(s)" if n_starts else "")
                 + "; the page holds this subset only, so its size does not grow with the dataset"),
    }
    for i, r in enumerate(rows):
        L = lengths[i]
        payload["sequences"].append({
            "index": int(r), "id": str(ds.sample_id[r]), "label": int(ds.label[r]),
            "pred": int(pred["predicted"][r]), "split": SPLIT_NAMES[int(ds.split[r])], "why": why[i],
            "prob": round(float(pred["probability"][r, pred["predicted"][r]]), 4),
            "prob_true": round(float(pred["probability"][r, ds.label[r]]), 4), "length": L,
            "pos": blob.add(ds.x[r, :L], "pos", bits=14)})

    # attribution methods: one saliency file each (the file's mode names it), then the maps the
    # page computes with skelvis.attribution for its carried sequences
    table = read_benchmark(benchmark) if benchmark else None
    if benchmark:
        sources["benchmark"] = str(benchmark)
    units: list[int] = []
    for given, path in sal_paths.items():
        sal = read_saliency(path, data=ds, rows=rows)
        name = given or str(sal["attrs"].get("mode", "")) or "saliency"
        k = min(cfg.max_units, len(sal["units"]))
        m_units = [int(u) for u in sal["units"][:k]]
        kept = {int(r): q for q, r in enumerate(sal["unit_map_index"])}
        maps = []
        for i, r in enumerate(rows):
            L = lengths[i]
            entry = {"class_map": blob.add(sal["class_map"][i, :L], "map"),
                     "pred_map": blob.add(sal["pred_map"][i, :L], "map")}
            if k and int(r) in kept:
                entry["unit_maps"] = blob.add(sal["unit_maps"][kept[int(r)], :k, :L], "map", axis=1)
            maps.append(entry)
        if k and len(kept) < len(rows):
            payload["notes"].append(f"Method {name}: hidden-unit maps are shown for the sequences "
                                    "saliency.keep_unit_maps kept only.")
        bench_path = faith_paths.get(given) or (faith_paths.get("") if len(sal_paths) == 1 else None)
        if table is not None:
            bench, bench_path = benchmark_numbers(table, name), benchmark
        else:
            bench = _benchmark(read_faithfulness(bench_path)) if bench_path else {}
        payload["methods"].append({"name": name, "label": _method_label(name), "source": str(path),
                                   "units": m_units, "maps": maps,
                                   "normalize": _plain(sal["attrs"].get("normalize")), "benchmark": bench,
                                   "benchmark_source": str(bench_path) if bench_path else None})
        units += [u for u in m_units if u not in units]
    if model:
        _add_computed_methods(payload, blob, model, ds, rows, lengths, pred["predicted"], cfg, table, benchmark,
                              attribution or AttributionConfig(), saliency_cfg or SaliencyConfig(), topo)
    if not payload["methods"]:
        payload["notes"].append("No sensitivity maps (the saliency stage did not run): sensitivity mode is off.")

    # activation maximisation: every run variant the file holds, side by side
    if maximize:
        variants: list[str] = []
        for e in max_entries:
            r = ids.get(e["sample_id"])
            names = [v for v in e if isinstance(e[v], dict) and "snapshots" in e[v]]
            variants += [v for v in names if v not in variants]
            first = e[names[0]]["snapshots"]
            L = min(int(ds.length[r]) if r is not None else first.shape[1], first.shape[1])
            entry = {"target": {"kind": e["target_kind"], "index": int(e["target_index"])}, "label": e["target"],
                     "sample_id": e["sample_id"], "length": L, "seq": seq_of.get(r) if r is not None else None,
                     "true": int(ds.label[r]) if r is not None else None, "runs": {}}
            for v in names:
                run = e[v]
                snaps = np.asarray(run["snapshots"], np.float64)[:, :L]
                # offsets from the start at 12 bits (step max|offset| / 2047: well under a millimetre)
                out = {"start": blob.add(snaps[0], "pos", bits=14),
                       "offsets": blob.add(snaps[1:] - snaps[:1], "signed", bits=12)}
                for key in ("response", "max_bone_error", "max_angle_violation_deg"):
                    if key in run:
                        out[key] = [float(x) for x in np.round(np.asarray(run[key], np.float64), 6)]
                entry["runs"][v] = out
            entry["repair"] = _repair(e, L, repair_mode, blob)
            payload["maxruns"].append(entry)
            t = entry["target"]
            if t["kind"] == "unit" and t["index"] not in units:
                units.append(t["index"])
        payload["variants"] = variants
    else:
        payload["notes"].append("No activation maximisation (the maximize stage did not run): that mode is off.")

    # the hidden-state map: 2-D codes of every carried sequence
    if paths:
        pa = read_paths(paths)
        if len(pa["path"]) != len(ds.x) or int(pa["attrs"].get("k", pa["path"].shape[-1])) != 2:
            raise DataFormatError(paths, f"path has shape {pa['path'].shape}, expected ({len(ds.x)}, T, 2)",
                                  fix="pass the 2-D paths file of this data; run the 'autoencoder' rule again")
        payload["map"] = {"paths": [blob.add(pa["path"][r, :lengths[i]], "signed") for i, r in enumerate(rows)],
                          "quality": (read_quality(quality).get("quality") if quality else None)}
    else:
        payload["notes"].append("No hidden-state map (the autoencoder stage did not run).")

    # the units panel: activations, highly activated periods, relevance
    if activations:
        if per is not None:
            rel_units = [int(u) for u in np.asarray(per.relevance.get("unit", []))]
            units += [u for u in dict.fromkeys(rel_units) if u not in units]
        act = read_activations(activations, rows=rows, units=units)
        if len(act["length"]) != len(ds.x):
            raise DataFormatError(activations, f"{len(act['length'])} sequences for {len(ds.x)} in {data}",
                                  fix="run the 'activations' rule again")
        hidden: dict[str, Any] = {
            "units": units, "layer": _plain(act["attrs"].get("layer")),
            "activation": [blob.add(act["hidden"][i, :lengths[i]], "signed") for i in range(len(rows))],
            "threshold": None, "periods": [], "relevance": []}
        if per is not None:
            sp = per.config.get("splits")
            hidden["periods_splits"] = [str(x) for x in sp] if isinstance(sp, (list, tuple)) else None
            th = np.asarray(per.threshold, np.float64)
            hidden["threshold"] = [round(float(th[u]), 6) if u < len(th) else None for u in units]
            p = per.periods
            col = {u: j for j, u in enumerate(units)}
            for s, u, a, b in zip(p.sample, p.unit, p.start, p.stop):
                if int(s) in seq_of and int(u) in col:
                    hidden["periods"].append([seq_of[int(s)], col[int(u)], int(a), int(b)])
            rel = per.relevance
            R = len(np.asarray(rel.get("unit", [])))
            for q in range(R):
                s, u = int(rel["sample"][q]), int(rel["unit"][q])
                if s not in seq_of or u not in col:
                    continue
                L = lengths[seq_of[s]]
                mean = np.asarray(rel["mean"][q] if "mean" in rel else rel["relevance"][q])[:L]
                std_frame = np.asarray(rel.get("std_frame", np.zeros((R, L)))[q])[:L]
                hidden["relevance"].append({
                    "unit": u, "cluster": int(rel["cluster"][q]), "seq": seq_of[s], "t": int(rel["t"][q]),
                    "start": int(rel["start"][q]), "stop": int(rel["stop"][q]),
                    "mean": blob.add(mean, "signed"),
                    "frame_total": [round(float(v), 6) for v in mean.sum(-1)],
                    "frame_std": [round(float(v), 6) for v in std_frame]})
        else:
            payload["notes"].append("No periods (the periods stage did not run): the units panel shows activations only.")
        payload["hidden"] = hidden
    else:
        payload["notes"].append("No activations (the activations stage did not run): the units panel is off.")
    payload["units"] = units
    raw = blob.bytes()
    payload["blob_bytes"] = len(raw)
    payload["blob"] = base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")
    return payload


def _add_computed_methods(payload, blob: _Blob, model_path, ds: Dataset, rows: np.ndarray, lengths: list[int],
                          predicted: np.ndarray, cfg: ViewerConfig, table, benchmark, attribution: AttributionConfig,
                          saliency_cfg: SaliencyConfig, topo) -> None:
    """The methods of ``cfg.methods`` no saliency file gave, computed for the carried sequences
    (:func:`carried_maps`) and appended to the picker with their benchmark numbers."""
    have = {m["name"] for m in payload["methods"]}
    todo = [m for m in cfg.methods if m not in have]
    if not todo or not len(rows):
        return
    methods = build_methods(replace(attribution, methods=tuple(todo)), topo.parents(),
                            saliency_normalize=saliency_cfg.normalize, saliency_std_floor=saliency_cfg.std_floor,
                            groups=topo.limb_groups)
    model = load_model(model_path).to(resolve_device(attribution.device))
    T = max(lengths)
    x = np.asarray(ds.x[rows, :T], np.float32)
    maps = carried_maps(model, x, np.asarray(lengths), ds.label[rows], predicted[rows], methods, attribution.seed)
    unscored = []
    for name, (cls, prd) in maps.items():
        entries = []
        for i, r in enumerate(rows):
            L = lengths[i]
            c = blob.add(cls[i, :L], "map")
            entries.append({"class_map": c, "pred_map": c if predicted[r] == ds.label[r] else blob.add(prd[i, :L], "map")})
        bench = benchmark_numbers(table, name) if table is not None else {}
        if table is not None and not bench:
            unscored.append(name)
        payload["methods"].append({"name": name, "label": _method_label(name),
                                   "source": f"computed by the viewer (skelvis.attribution.{name})",
                                   "units": [], "maps": entries, "normalize": None, "benchmark": bench,
                                   "benchmark_source": str(benchmark) if bench else None})
    if unscored:
        payload["notes"].append(f"Method(s) {', '.join(unscored)}: not in the attribution benchmark's table "
                                "(attribution.methods), so no numbers beside them.")


# --------------------------------------------------------------------------- HTML

def _asset(name: str) -> str:
    try:
        return resources.files("skelvis").joinpath("viewer_assets", name).read_text(encoding="utf-8")
    except FileNotFoundError:
        if name.startswith("vendor/"):
            raise FileNotFoundError(f"skelvis viewer: {name} is missing; run `make vendor` (tools/vendor_js.py "
                                    "fetches the page's JavaScript from npm)") from None
        raise


def _script_safe(text: str) -> str:
    """Text that can sit inside a <script> element without closing it."""
    return text.replace("</", "<\\/")


def render_html(payload: dict[str, Any]) -> str:
    """The self-contained page: template + inlined uPlot + viewer JS + JSON payload."""
    page = _asset("skelvis.html")
    blob = payload["blob"]
    meta = {k: v for k, v in payload.items() if k != "blob"}
    data = json.dumps(meta, separators=(",", ":"), allow_nan=False)
    parts = {
        "{{TITLE}}": _html_escape(f"{payload['title']}: {payload['header']['dataset']} / {payload['header']['model']}"),
        "{{CSS}}": _asset("vendor/uPlot.min.css") + "\n" + _asset("skelvis.css"),
        "{{UPLOT_JS}}": _script_safe(_asset("vendor/uPlot.iife.min.js")),
        "{{VIEWER_JS}}": _script_safe(_asset("skelvis.js")),
        "{{PAYLOAD}}": _script_safe(data),
        "{{BLOB}}": blob,
    }
    # substitute in one pass so that placeholder-like text inside the inserted parts is never touched
    pattern = re.compile("|".join(re.escape(k) for k in parts))
    return pattern.sub(lambda m: parts[m.group(0)], page)


def _html_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def write_viewer(path, data, metrics, predictions, saliency=None, maximize=None,
                 cfg: ViewerConfig | None = None, model_name: str = "", **optional) -> dict[str, Any]:
    """Build the page and write it atomically to ``path``; returns a summary (sizes, counts).
    ``optional``: the keyword inputs of :func:`build_payload` (faithfulness, paths, quality,
    activations, periods, model, benchmark, attribution, saliency_cfg)."""
    payload = build_payload(data, metrics, predictions, saliency, maximize, cfg, model_name, **optional)
    html = render_html(payload)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(html, encoding="utf-8")
    return {"path": str(path), "bytes": len(html.encode("utf-8")), "payload_bytes": len(payload["blob"]),
            "blob_bytes": payload["blob_bytes"], "sequences": len(payload["sequences"]),
            "units": len(payload["units"]), "methods": [m["name"] for m in payload["methods"]],
            "maxruns": len(payload["maxruns"]), "variants": payload["variants"], "notes": payload["notes"]}
