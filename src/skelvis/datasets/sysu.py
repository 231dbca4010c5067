"""SYSU 3D Human-Object Interaction (Hu et al., CVPR 2015): ``sklWorld.mat`` per video.

Each video's ``sklWorld.mat`` holds the Kinect v1 skeleton in world coordinates, 20 joints x 3 x T
(Kinect SDK 1.x joint order, ``topology.KINECT_V1``). 12 actions, 40 performers; the paper's
split: performers 1-20 train, 21-40 test. The performer and action numbers come from the path
below the raw folder (``subject_regex`` / ``action_regex`` options; the defaults match folder
names such as ``sub01/act03`` or ``P01/A03``).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.io

from ..errors import DataFormatError
from ..normalize import pad_sequences
from .registry import register_reader
from .sources import DigestOfFiles, raw_files
from .store import Dataset

__all__ = ["SYSU_ACTIONS", "read_sysu_mat", "to_frames"]

log = logging.getLogger("skelvis.sysu")

J = 20
SYSU_ACTIONS = ("drinking", "pouring", "calling phone", "playing phone", "wearing backpack",
                "packing backpack", "sitting chair", "moving chair", "taking out wallet",
                "taking from wallet", "mopping", "sweeping")
_FIX = "expected a MATLAB file with a 20 x 3 x T joint array (SYSU-3D sklWorld.mat)"


def to_frames(a: np.ndarray, path="") -> np.ndarray:
    """A joint array in any of the layouts (20, 3, T), (T, 20, 3), (T, 3, 20), (3, 20, T) -> (T, 20, 3)."""
    a = np.asarray(a)
    if a.ndim == 2 and a.shape[1] == J * 3:  # (T, 60), joints major
        return a.reshape(-1, J, 3)
    if a.ndim != 3:
        raise DataFormatError(path, f"joint array has shape {a.shape}, not 3-D", fix=_FIX)
    for perm, want in (((2, 0, 1), (J, 3)), ((0, 1, 2), None), ((0, 2, 1), None), ((2, 1, 0), None)):
        if perm == (2, 0, 1) and a.shape[:2] == (J, 3):
            return a.transpose(2, 0, 1)
        if perm == (0, 1, 2) and a.shape[1:] == (J, 3):
            return a
        if perm == (0, 2, 1) and a.shape[1:] == (3, J):
            return a.transpose(0, 2, 1)
        if perm == (2, 1, 0) and a.shape[:2] == (3, J):
            return a.transpose(2, 1, 0)
    raise DataFormatError(path, f"joint array has shape {a.shape}; none of its axes pairs is 20 joints x 3", fix=_FIX)


def _numeric_arrays(path) -> dict[str, np.ndarray]:
    try:
        if h5py.is_hdf5(str(path)):
            raise NotImplementedError
        m = scipy.io.loadmat(str(path))
        return {k: v for k, v in m.items() if not k.startswith("__") and isinstance(v, np.ndarray)
                and v.dtype.kind in "fiu"}
    except NotImplementedError:  # MATLAB v7.3 = HDF5; h5py reads axes in reverse order
        out = {}
        with h5py.File(path, "r") as f:
            for k, v in f.items():
                if isinstance(v, h5py.Dataset) and v.dtype.kind in "fiu":
                    out[k] = v[...].transpose()
        return out
    except Exception as e:  # noqa: BLE001 - scipy raises many types on damaged files
        raise DataFormatError(path, f"not a readable MATLAB file ({type(e).__name__}: {e})", fix=_FIX) from None


def read_sysu_mat(path, variable: str = "") -> np.ndarray:
    """One ``sklWorld.mat`` -> float32 (T, 20, 3)."""
    arrays = _numeric_arrays(path)
    if variable:
        if variable not in arrays:
            raise DataFormatError(path, f"no numeric variable {variable!r} (found {sorted(arrays)})",
                                  fix="set data.<name>.sysu.variable to one of them")
        cands = {variable: arrays[variable]}
    else:
        cands = {k: v for k, v in arrays.items() if v.ndim in (2, 3) and (J in v.shape and 3 in v.shape or
                                                                           (v.ndim == 2 and v.shape[1] == 60))}
    if len(cands) != 1:
        raise DataFormatError(path, f"{len(cands)} candidate joint arrays ({sorted(cands)})",
                              fix="set data.<name>.sysu.variable to the joint array's name")
    (name, a), = cands.items()
    out = to_frames(a, path)
    if len(out) == 0:
        raise DataFormatError(path, f"variable {name!r} has no frames", fix=_FIX)
    with np.errstate(over="ignore", invalid="ignore"):
        return out.astype(np.float32)


def _number(regex: str, text: str, what: str, path) -> int:
    m = re.search(regex, text)
    if not m:
        raise DataFormatError(path, f"cannot find the {what} number in the path (regex {regex!r})",
                              fix=f"set data.<name>.sysu.{what}_regex to match your folder names")
    return int(m.group(1))


@register_reader("sysu")
def _read_sysu(name: str, cfg: dict[str, Any], raw: str | None, seed: int) -> Dataset:
    opts = dict(cfg.get("sysu") or {})
    train_subjects = set(opts.get("train_subjects") or range(1, 21))
    val_subjects = set(opts.get("validation_subjects") or [])
    sub_re = opts.get("subject_regex") or r"(?i)(?:sub(?:ject)?|p)[_-]?0*(\d+)"
    act_re = opts.get("action_regex") or r"(?i)(?:act(?:ion)?|a)[_-]?0*(\d+)"
    files = raw_files(name, raw, "sysu", "sklWorld.mat", fix="point data.<name>.path at the SYSU-3D folder")
    digest = DigestOfFiles()
    seqs, subj, act, ids = [], [], [], []
    for p in files:
        rel = str(p.relative_to(raw)) if str(p).startswith(str(raw)) else str(p)
        s = _number(sub_re, rel, "subject", p)
        a = _number(act_re, rel, "action", p)
        digest.update(rel, p.read_bytes())
        seqs.append(read_sysu_mat(p, opts.get("variable", "")))
        subj.append(s)
        act.append(a)
        ids.append(str(Path(rel).parent))
    actions = sorted(set(act))
    lut = {a: k for k, a in enumerate(actions)}
    classes = [SYSU_ACTIONS[a - 1] if 1 <= a <= 12 else f"action {a}" for a in actions]
    x, length = pad_sequences(seqs, int(cfg["max_frames"]))
    s_arr = np.array(subj, np.int32)
    split = np.where(np.isin(s_arr, list(val_subjects)), 1, np.where(np.isin(s_arr, list(train_subjects)), 0, 2)).astype(np.int8)
    log.info("sysu: %d videos, %d actions, %d performers", len(seqs), len(actions), len(set(subj)))
    return Dataset(x=x, length=length, label=np.array([lut[a] for a in act], np.int32), subject=s_arr,
                   split=split, sample_id=np.array(ids), classes=classes, topology="kinect_v1", name=name,
                   fps=30.0, source_sha256=digest.hexdigest())
