"""Your own data: a folder of samples, a ``labels.csv`` and a small ``dataset.yaml``.

Layout::

    my_data/
      dataset.yaml        topology: kinect_v2        # one of skelvis.topology.TOPOLOGIES
                          fps: 30                    # optional (default 30)
                          classes: [wave, kick]      # optional: class order (default: sorted labels)
      labels.csv          sample,label,subject[,split]     (header row required)
                          walk_001,wave,3,train            split: train|validation|test or 0|1|2
      walk_001.npy        float array (T, J, C)   -- or --
      walk_001.csv        T rows of J*C numbers (joint-major: j0.x j0.y j0.z j1.x ...), comma
                          separated, an optional header row

J and C must match the topology (C = 3 for skeletons, 1 for channel sets). Without a split
column, ``generic.validation_subjects`` / ``generic.test_subjects`` decide; the rest train.
"""
from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import yaml

from ..errors import DataFormatError
from ..normalize import pad_sequences
from ..topology import TOPOLOGIES
from .registry import register_reader
from .sources import DigestOfFiles
from .store import Dataset

__all__ = ["read_sample", "read_labels", "write_generic"]

log = logging.getLogger("skelvis.generic")

_SPLITS = {"train": 0, "validation": 1, "val": 1, "test": 2, "0": 0, "1": 1, "2": 2}


def read_sample(path, joints: int, channels: int) -> np.ndarray:
    """One sample file (.npy or .csv) -> float32 (T, J, C)."""
    path = Path(path)
    fix = f"each sample must hold (T, {joints}, {channels}) numbers"
    if path.suffix == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except Exception as e:  # noqa: BLE001
            raise DataFormatError(path, f"not a readable .npy file ({type(e).__name__}: {e})", fix=fix) from None
        if a.dtype.kind not in "fiu":
            raise DataFormatError(path, f"dtype {a.dtype} is not numeric", fix=fix)
        if a.ndim == 2 and a.shape[1] == joints * channels:
            a = a.reshape(len(a), joints, channels)
        if a.ndim != 3 or a.shape[1:] != (joints, channels) or len(a) == 0:
            raise DataFormatError(path, f"array shape {a.shape}", fix=fix)
        with np.errstate(over="ignore", invalid="ignore"):
            return a.astype(np.float32)
    text = path.read_bytes()
    lines = text.splitlines()
    rows = []
    for k, ln in enumerate(lines):
        if not ln.strip():
            continue
        fields = ln.split(b",")
        try:
            vals = [float(v) for v in fields]
        except ValueError:
            if k == 0 and not rows:
                continue  # header row
            raise DataFormatError(path, f"non-numeric value in {ln[:60]!r}", line=k + 1, fix=fix) from None
        if len(vals) != joints * channels:
            raise DataFormatError(path, f"{len(vals)} values, expected J*C = {joints * channels}", line=k + 1, fix=fix)
        rows.append(vals)
    if not rows:
        raise DataFormatError(path, "no frames", line=1, fix=fix)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.array(rows, np.float64).astype(np.float32).reshape(len(rows), joints, channels)


def read_labels(path) -> list:
    """``labels.csv`` -> list of dicts (sample, label, subject int, split int or None)."""
    path = Path(path)
    fix = "labels.csv needs a header row sample,label,subject[,split]"
    if not path.exists():
        raise DataFormatError(path, "file not found", fix=fix)
    reader = csv.DictReader(io.StringIO(path.read_text()))
    cols = set(reader.fieldnames or [])
    if not {"sample", "label", "subject"} <= cols:
        raise DataFormatError(path, f"columns {sorted(cols)}", line=1, fix=fix)
    out = []
    for k, r in enumerate(reader, start=2):
        try:
            subject = int(r["subject"])
        except (TypeError, ValueError):
            raise DataFormatError(path, f"subject {r['subject']!r} is not an integer", line=k, fix=fix) from None
        split = None
        if r.get("split") not in (None, ""):
            s = str(r["split"]).strip().lower()
            if s not in _SPLITS:
                raise DataFormatError(path, f"split {r['split']!r}", line=k, fix="use train, validation or test")
            split = _SPLITS[s]
        if not r["sample"] or r["label"] in (None, ""):
            raise DataFormatError(path, "empty sample or label", line=k, fix=fix)
        out.append({"sample": r["sample"].strip(), "label": r["label"].strip(), "subject": subject, "split": split})
    if not out:
        raise DataFormatError(path, "no rows", fix=fix)
    return out


def write_generic(folder, samples: Dict[str, np.ndarray], labels: list, topology: str, fps: float = 30.0,
                  fmt: str = "npy") -> Path:
    """Write a dataset in the generic layout (used by tests and as an example for users)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.yaml").write_text(yaml.safe_dump({"topology": topology, "fps": fps}))
    with open(folder / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        keys = ["sample", "label", "subject"] + (["split"] if labels and "split" in labels[0] else [])
        w.writerow(keys)
        for r in labels:
            w.writerow([r[k] for k in keys])
    for name, a in samples.items():
        if fmt == "npy":
            np.save(folder / f"{name}.npy", np.asarray(a, np.float32))
        else:
            np.savetxt(folder / f"{name}.csv", np.asarray(a).reshape(len(a), -1), delimiter=",", fmt="%.9g")
    return folder


def _find_root(raw: Path, meta_name: str) -> Path:
    if (raw / meta_name).exists():
        return raw
    for d, _, files in os.walk(raw, followlinks=True):
        if meta_name in files:
            return Path(d)
    raise DataFormatError(raw / meta_name, "file not found",
                          fix="add a dataset.yaml naming the topology (see skelvis.datasets.generic)")


@register_reader("generic")
def _read_generic(name: str, cfg: Dict[str, Any], raw: Optional[str], seed: int) -> Dataset:
    opts = dict(cfg.get("generic") or {})
    if raw is None:
        raise DataFormatError(f"data.{name}", "the generic reader needs raw data", fix="set data.<name>.source: local and path")
    root = _find_root(Path(raw), opts.get("meta", "dataset.yaml"))
    meta_path = root / opts.get("meta", "dataset.yaml")
    try:
        meta = yaml.safe_load(meta_path.read_text()) or {}
    except yaml.YAMLError as e:
        raise DataFormatError(meta_path, f"not valid YAML ({e})") from None
    topo_name = meta.get("topology")
    if topo_name not in TOPOLOGIES:
        raise DataFormatError(meta_path, f"topology {topo_name!r} is unknown", fix=f"use one of {sorted(TOPOLOGIES)}")
    topo = TOPOLOGIES[topo_name]
    C = int(getattr(topo, "channels", 3) or 3)
    labels = read_labels(root / opts.get("labels", "labels.csv"))
    digest = DigestOfFiles()
    seqs = []
    for r in labels:
        cands = [root / f"{r['sample']}.npy", root / f"{r['sample']}.csv"]
        p = next((c for c in cands if c.exists()), None)
        if p is None:
            raise DataFormatError(root / opts.get("labels", "labels.csv"), f"sample {r['sample']!r} has no .npy or .csv file",
                                  fix=f"put {r['sample']}.npy or {r['sample']}.csv next to labels.csv")
        digest.update(p.name, p.read_bytes())
        seqs.append(read_sample(p, topo.num_joints, C))
    classes = [str(c) for c in meta.get("classes") or sorted({r["label"] for r in labels})]
    lut = {c: k for k, c in enumerate(classes)}
    unknown = sorted({r["label"] for r in labels} - set(lut))
    if unknown:
        raise DataFormatError(meta_path, f"labels {unknown} are not in classes", fix="add them to classes")
    subj = np.array([r["subject"] for r in labels], np.int32)
    val, test = set(opts.get("validation_subjects") or []), set(opts.get("test_subjects") or [])
    split = np.array([r["split"] if r["split"] is not None else (1 if s in val else 2 if s in test else 0)
                      for r, s in zip(labels, subj)], np.int8)
    x, length = pad_sequences(seqs, int(cfg["max_frames"]))
    return Dataset(x=x, length=length, label=np.array([lut[r["label"]] for r in labels], np.int32), subject=subj,
                   split=split, sample_id=np.array([r["sample"] for r in labels]), classes=classes,
                   topology=topo_name, name=name, fps=float(meta.get("fps", 30.0)), source_sha256=digest.hexdigest())
