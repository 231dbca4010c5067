"""Your own data: a folder of samples, a ``labels.csv`` and a small ``dataset.yaml``
(docs/own-data.md is the user's page for this format; ``skelvis-check DATA_DIR`` runs these checks).

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
Any subset of the splits may be empty except train.

:func:`check_folder` reads the whole folder and collects *every* problem (file, line, what is
wrong, the fix) instead of stopping at the first; the reader raises them together as one
:class:`~skelvis.errors.DatasetProblems`.
"""
from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import DataFormatError, DatasetProblems
from ..normalize import pad_sequences
from ..topology import TOPOLOGIES
from .registry import register_reader
from .screening import screen_sequences, screening_summary
from .sources import DigestOfFiles
from .store import Dataset

__all__ = ["FolderCheck", "check_folder", "main", "read_labels", "read_sample", "write_generic"]

log = logging.getLogger("skelvis.generic")

_SPLITS = {"train": 0, "validation": 1, "val": 1, "test": 2, "0": 0, "1": 1, "2": 2}
_LABELS_FIX = "labels.csv needs a header row sample,label,subject[,split] and one row per sample"


def read_sample(path, joints: int, channels: int) -> np.ndarray:
    """One sample file (.npy or .csv) -> float32 (T, J, C)."""
    path = Path(path)
    fix = f"each sample must hold (T, {joints}, {channels}) numbers, T >= 1"
    if path.stat().st_size == 0:
        raise DataFormatError(path, "empty file (0 bytes)", fix=fix)
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
            raise DataFormatError(path, f"array shape {a.shape}, expected (T, {joints}, {channels})", fix=fix)
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


def read_labels(path, problems: list | None = None) -> list:
    """``labels.csv`` -> list of dicts (sample, label, subject int, split int or None, line).

    Without ``problems`` the first bad row raises :class:`DataFormatError`; with a list, every bad
    row is appended to it as a :class:`DataFormatError` and left out of the result.
    """
    path = Path(path)
    n_before = len(problems) if problems is not None else 0

    def bad(err):
        if problems is None:
            raise err
        problems.append(err)

    if not path.exists():
        bad(DataFormatError(path, "file not found", fix=_LABELS_FIX))
        return []
    try:
        text = path.read_text()
    except UnicodeDecodeError as e:
        bad(DataFormatError(path, f"not a UTF-8 text file ({e.reason} at byte {e.start})", fix=_LABELS_FIX))
        return []
    reader = csv.DictReader(io.StringIO(text))
    cols = set(reader.fieldnames or [])
    if not {"sample", "label", "subject"} <= cols:
        bad(DataFormatError(path, f"header has columns {sorted(cols)}, missing "
                            f"{sorted({'sample', 'label', 'subject'} - cols)}", line=1, fix=_LABELS_FIX))
        return []
    out, seen = [], {}
    for k, r in enumerate(reader, start=2):
        sample, label = (r.get("sample") or "").strip(), (r.get("label") or "").strip()
        if not sample or not label:
            bad(DataFormatError(path, "empty sample or label", line=k, fix=_LABELS_FIX))
            continue
        try:
            subject = int(str(r["subject"]).strip())
        except (TypeError, ValueError):
            bad(DataFormatError(path, f"subject {r['subject']!r} is not an integer", line=k,
                                fix="give every sample its performer's number"))
            continue
        split = None
        if r.get("split") not in (None, ""):
            s = str(r["split"]).strip().lower()
            if s not in _SPLITS:
                bad(DataFormatError(path, f"split {r['split']!r} is not train, validation or test", line=k,
                                    fix="use train, validation or test (or 0, 1, 2)"))
                continue
            split = _SPLITS[s]
        if sample in seen:
            bad(DataFormatError(path, f"sample {sample!r} is listed twice (first on line {seen[sample]})", line=k,
                                fix="keep one row per sample"))
            continue
        seen[sample] = k
        out.append({"sample": sample, "label": label, "subject": subject, "split": split, "line": k})
    if not out and (problems is None or len(problems) == n_before):
        bad(DataFormatError(path, "no rows", fix=_LABELS_FIX))
    return out


def write_generic(folder, samples: dict[str, np.ndarray], labels: list, topology: str, fps: float = 30.0,
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


def _find_root(raw: Path, meta_name: str, labels_name: str) -> Path:
    """The folder holding dataset.yaml (or, failing that, labels.csv): ``raw`` or below it."""
    for name in (meta_name, labels_name):
        if (raw / name).exists():
            return raw
        for d, _, files in os.walk(raw, followlinks=True):
            if name in files:
                return Path(d)
    return raw


@dataclass
class FolderCheck:
    """What :func:`check_folder` found: the dataset (None when a problem prevents reading it),
    every ``problems`` (each a :class:`DataFormatError`: file, line, what, fix) and ``notes``
    about the folder that do not stop preparation (ignored files, subsampled sequences)."""

    root: Path
    dataset: Dataset | None = None
    problems: list[DataFormatError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def raise_problems(self) -> None:
        if self.problems:
            raise DatasetProblems(self.root, self.problems)


def _read_meta(meta_path: Path, problems: list) -> dict[str, Any]:
    fix_topo = f"name the sensor layout, e.g. 'topology: kinect_v2' (one of {sorted(TOPOLOGIES)})"
    if not meta_path.exists():
        problems.append(DataFormatError(meta_path, "file not found", fix=f"create it; {fix_topo}"))
        return {}
    try:
        meta = yaml.safe_load(meta_path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        problems.append(DataFormatError(meta_path, f"not valid YAML ({' '.join(str(e).split())})",
                                        fix="write key: value lines, e.g. 'topology: kinect_v2'"))
        return {}
    if not isinstance(meta, dict):
        problems.append(DataFormatError(meta_path, f"holds a {type(meta).__name__}, not key: value pairs", fix=fix_topo))
        return {}
    out = dict(meta)
    if meta.get("topology") not in TOPOLOGIES:
        problems.append(DataFormatError(meta_path, f"topology {meta.get('topology')!r} is unknown", fix=fix_topo))
        out["topology"] = None
    fps = meta.get("fps", 30.0)
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        problems.append(DataFormatError(meta_path, f"fps {fps!r} is not a positive number",
                                        fix="give the frame rate, e.g. 'fps: 30'"))
        out["fps"] = 30.0
    classes = meta.get("classes")
    if classes is not None and (not isinstance(classes, list) or len(set(map(str, classes))) != len(classes)):
        problems.append(DataFormatError(meta_path, f"classes {classes!r} is not a list of distinct names",
                                        fix="write 'classes: [wave, kick, ...]' or leave it out (sorted labels)"))
        out["classes"] = None
    unknown = sorted(set(meta) - {"topology", "fps", "classes"})
    if unknown:
        problems.append(DataFormatError(meta_path, f"unknown key(s) {unknown}",
                                        fix="dataset.yaml knows topology, fps and classes"))
    return out


def check_folder(folder, name: str = "", opts: dict[str, Any] | None = None,
                 max_frames: int | None = 64) -> FolderCheck:
    """Read a generic-format folder and collect every problem with it (nothing raised).

    ``opts`` is the config's ``data.<name>.generic`` section (meta, labels, validation_subjects,
    test_subjects); ``max_frames`` the padded length T (longer sequences are subsampled
    uniformly; None keeps the longest). Paths in problems are ``folder``-relative as given.
    """
    opts = dict(opts or {})
    meta_name, labels_name = opts.get("meta", "dataset.yaml"), opts.get("labels", "labels.csv")
    root = _find_root(Path(folder), meta_name, labels_name)
    chk = FolderCheck(root=root)
    problems = chk.problems
    if not root.is_dir():
        problems.append(DataFormatError(root, "folder not found", fix="give the folder holding dataset.yaml, labels.csv and the samples"))
        return chk
    meta_path, labels_path = root / meta_name, root / labels_name
    meta = _read_meta(meta_path, problems)
    labels = read_labels(labels_path, problems)
    topo = TOPOLOGIES.get(meta.get("topology")) if meta.get("topology") else None
    C = int(getattr(topo, "channels", 3) or 3) if topo else None

    val, test = set(opts.get("validation_subjects") or []), set(opts.get("test_subjects") or [])
    split_of = [r["split"] if r["split"] is not None else (1 if r["subject"] in val else 2 if r["subject"] in test else 0)
                for r in labels]
    for r, s in zip(labels, split_of):
        r["split"] = s
    digest = DigestOfFiles()
    seqs, rows = [], []
    listed = set()
    for r in labels:
        cands = [root / f"{r['sample']}.npy", root / f"{r['sample']}.csv"]
        found = [c for c in cands if c.exists()]
        listed.update(c.name for c in cands)
        if not found:
            problems.append(DataFormatError(labels_path, f"sample {r['sample']!r} has no file", line=r["line"],
                                            fix=f"put {r['sample']}.npy or {r['sample']}.csv next to {labels_name}, "
                                                f"or remove the row"))
            continue
        if len(found) > 1:
            chk.notes.append(f"{found[0]}: both {found[0].name} and {found[1].name} exist; the .npy is read")
        p = found[0]
        if topo is None:
            continue  # shapes cannot be checked without a topology (already reported)
        try:
            seq = read_sample(p, topo.num_joints, C)
        except DataFormatError as e:
            problems.append(e)
            continue
        digest.update(p.name, p.read_bytes())
        seqs.append(seq)
        rows.append(r)
    ignored = sorted(p.name for p in root.iterdir()
                     if p.suffix in (".npy", ".csv") and p.name != labels_name and p.name not in listed)
    if ignored:
        shown = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
        chk.notes.append(f"{root}: {len(ignored)} sample file(s) not listed in {labels_name} were ignored: {shown}")

    label_names = sorted({r["label"] for r in labels})
    classes = [str(c) for c in meta.get("classes") or label_names]
    unknown = [lab for lab in label_names if lab not in set(classes)]
    for lab in unknown:
        lines = [r["line"] for r in labels if r["label"] == lab]
        problems.append(DataFormatError(labels_path, f"label {lab!r} is not in the classes of {meta_name}",
                                        line=lines[0], fix=f"add it to classes (rows {lines[:5]}{' ...' if len(lines) > 5 else ''})"))
    if labels:
        if 0 not in split_of:
            problems.append(DataFormatError(labels_path, "no sample is in the train split",
                                            fix="mark training samples 'train' in the split column (or, without that "
                                                "column, leave some subjects out of generic.validation_subjects/test_subjects)"))
        else:
            train_labels = {r["label"] for r, s in zip(labels, split_of) if s == 0}
            missing = [c for c in classes if c not in train_labels]
            if missing:
                chk.notes.append(f"{labels_path}: class(es) {missing} have no training sample; the model "
                                 f"cannot learn them")
    problems.sort(key=lambda e: (str(e.path), e.line or 0))
    if problems or not seqs:
        return chk
    if max_frames is not None:
        longer = [len(s) for s in seqs if len(s) > max_frames]
        if longer:
            chk.notes.append(f"{len(longer)} sequence(s) longer than max_frames = {max_frames} were subsampled "
                             f"uniformly to {max_frames} frames (longest: {max(longer)})")
    x, length = pad_sequences(seqs, None if max_frames is None else int(max_frames))
    lut = {c: k for k, c in enumerate(classes)}
    chk.dataset = Dataset(x=x, length=length, label=np.array([lut[r["label"]] for r in rows], np.int32),
                          subject=np.array([r["subject"] for r in rows], np.int32),
                          split=np.array([r["split"] for r in rows], np.int8),
                          sample_id=np.array([r["sample"] for r in rows]), classes=classes,
                          topology=topo.name, name=name or root.name, fps=float(meta.get("fps", 30.0)),
                          source_sha256=digest.hexdigest(), extra_attrs={"notes": list(chk.notes)})
    return chk


@register_reader("generic")
def _read_generic(name: str, cfg: dict[str, Any], raw: str | None, seed: int) -> Dataset:
    if raw is None:
        raise DataFormatError(f"data.{name}", "the generic reader needs raw data", fix="set data.<name>.source: local and path")
    chk = check_folder(raw, name, cfg.get("generic") or {}, int(cfg.get("max_frames", 64)))
    for note in chk.notes:
        log.warning("%s", note)
    chk.raise_problems()
    return chk.dataset


def main(argv=None) -> int:
    """``skelvis-check DATA_DIR``: the checks ``prepare`` makes on a generic folder, without the
    workflow. Prints every problem, then what preparation would drop or keep with a caveat;
    exit status 1 when there is a problem, else 0."""
    ap = argparse.ArgumentParser(prog="skelvis-check", description=main.__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("data_dir", help="folder with dataset.yaml, labels.csv and one .npy/.csv per sample")
    ap.add_argument("--max-frames", type=int, default=64, help="padded length T, as data.<name>.max_frames (default 64)")
    ap.add_argument("--validation-subjects", type=int, nargs="*", default=[], help="as generic.validation_subjects")
    ap.add_argument("--test-subjects", type=int, nargs="*", default=[], help="as generic.test_subjects")
    ap.add_argument("--meta", default="dataset.yaml", help="as generic.meta")
    ap.add_argument("--labels", default="labels.csv", help="as generic.labels")
    a = ap.parse_args(argv)
    logging.getLogger("skelvis").setLevel(logging.ERROR)   # the report below says it all
    opts = {"meta": a.meta, "labels": a.labels, "validation_subjects": a.validation_subjects,
            "test_subjects": a.test_subjects}
    chk = check_folder(a.data_dir, "", opts, a.max_frames)
    if chk.problems:
        print(DatasetProblems(chk.root, chk.problems))
        for note in chk.notes:
            print(f"note: {note}")
        return 1
    ds = screen_sequences(chk.dataset)
    print(f"{chk.root}: no problems.")
    print(screening_summary(ds))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
