"""MSR Action3D real-world skeletons (Li, Zhang, Liu, CVPRW 2010).

One file per sequence, ``aAA_sSS_eEE_skeleton3D.txt``: plain text, four numbers per line
``x y z confidence`` (metres), 20 lines per frame (joint order of ``topology.MSR_ACTION3D``), no
header. Protocol: odd subjects train, even subjects test. The known all-zero file
(``a13_s09_e02``) is read fine and then reported and excluded by ``prepare_dataset``.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError
from ..normalize import pad_sequences
from .registry import register_reader
from .sources import DigestOfFiles, raw_files
from .store import Dataset

__all__ = ["MSR_ACTIONS", "parse_name", "parse_numeric_lines", "read_msr_file"]

log = logging.getLogger("skelvis.msr_action3d")

J = 20
MSR_ACTIONS = ("high arm wave", "horizontal arm wave", "hammer", "hand catch", "forward punch",
               "high throw", "draw x", "draw tick", "draw circle", "hand clap", "two hand wave",
               "side-boxing", "bend", "forward kick", "side kick", "jogging", "tennis swing",
               "tennis serve", "golf swing", "pick up & throw")
_NAME = re.compile(r"a(\d+)_s(\d+)_e(\d+)_skeleton3D\.txt$")


def parse_numeric_lines(path, data: bytes, ncols: int, sep: bytes | None = None,
                        fix: str = "") -> np.ndarray:
    """Every non-blank line of ``data`` as ``ncols`` floats -> float64 (lines, ncols).

    The first line with a wrong field count or a non-number raises :class:`DataFormatError`
    naming the file and the 1-based line.
    """
    lines = data.splitlines()
    keep = [k for k, ln in enumerate(lines) if ln.strip()]
    tokens = data.split(sep) if sep is None else [t for ln in lines if ln.strip() for t in ln.split(sep)]
    if len(tokens) == ncols * len(keep):
        try:
            return np.array(tokens, dtype=np.float64).reshape(len(keep), ncols)
        except ValueError:
            pass
    for k in keep:  # slow path: find and name the bad line
        fields = lines[k].split(sep)
        if len(fields) != ncols:
            raise DataFormatError(path, f"line has {len(fields)} fields, expected {ncols}", line=k + 1, fix=fix)
        try:
            [float(v) for v in fields]
        except ValueError:
            raise DataFormatError(path, f"non-numeric value in {lines[k][:60]!r}", line=k + 1, fix=fix) from None
    raise DataFormatError(path, "unreadable numbers", fix=fix)  # pragma: no cover


def read_msr_file(path, data: bytes | None = None) -> np.ndarray:
    """One MSR Action3D file -> float32 (frames, 20, 3) in the file's coordinates (confidence dropped)."""
    if data is None:
        data = Path(path).read_bytes()
    fix = "the file is damaged or not an MSR Action3D skeleton3D.txt; take it again from the original archive"
    arr = parse_numeric_lines(path, data, 4, fix=fix)
    if len(arr) == 0:
        raise DataFormatError(path, "no joint lines", line=1, fix=fix)
    if len(arr) % J:
        raise DataFormatError(path, f"{len(arr)} joint lines is not a multiple of {J} (20 per frame)",
                              line=len(data.splitlines()), fix=fix)
    with np.errstate(over="ignore", invalid="ignore"):
        return arr[:, :3].astype(np.float32).reshape(-1, J, 3)


def parse_name(name: str) -> tuple[int, int, int]:
    """``a01_s02_e03_skeleton3D.txt`` -> (action, subject, repetition)."""
    m = _NAME.search(name)
    if not m:
        raise ValueError(f"{name}: not an MSR Action3D file name (aAA_sSS_eEE_skeleton3D.txt)")
    return tuple(int(v) for v in m.groups())  # type: ignore[return-value]


@register_reader("msr_action3d")
def _read_msr(name: str, cfg: dict[str, Any], raw: str | None, seed: int) -> Dataset:
    """Reader ``msr_action3d``: every ``*_skeleton3D.txt`` under ``raw``; options ``cfg['msr_action3d']``:
    ``train_subjects`` (default odd 1,3,5,7,9), ``validation_subjects`` (default none), the rest test."""
    opts = dict(cfg.get("msr_action3d") or {})
    train_subjects = set(opts.get("train_subjects") or [1, 3, 5, 7, 9])
    val_subjects = set(opts.get("validation_subjects") or [])
    files = raw_files(name, raw, "msr_action3d", "_skeleton3D.txt", shown="*_skeleton3D.txt",
                      fix="point data.<name>.path at the folder of MSR Action3D skeleton3D.txt files")
    digest = DigestOfFiles()
    seqs, rows, ids = [], [], []
    for p in files:
        try:
            a, s, _e = parse_name(p.name)
        except ValueError:
            log.warning("skipped %s: name is not aAA_sSS_eEE_skeleton3D.txt", p)
            continue
        data = p.read_bytes()
        digest.update(p.name, data)
        seqs.append(read_msr_file(p, data))
        rows.append((a, s))
        ids.append(p.name[:-len("_skeleton3D.txt")])
    actions = sorted({a for a, _ in rows})
    lut = {a: k for k, a in enumerate(actions)}
    classes = [MSR_ACTIONS[a - 1] if 1 <= a <= 20 else f"a{a:02d}" for a in actions]
    x, length = pad_sequences(seqs, int(cfg["max_frames"]))
    subj = np.array([s for _, s in rows], np.int32)
    split = np.where(np.isin(subj, list(val_subjects)), 1, np.where(np.isin(subj, list(train_subjects)), 0, 2)).astype(np.int8)
    log.info("msr_action3d: %d files, %d classes, frames per file %d-%d", len(seqs), len(classes),
             min(len(s) for s in seqs), max(len(s) for s in seqs))
    return Dataset(x=x, length=length, label=np.array([lut[a] for a, _ in rows], np.int32), subject=subj,
                   split=split, sample_id=np.array(ids), classes=classes, topology="msr_action3d",
                   name=name, fps=15.0, source_sha256=digest.hexdigest())
