"""Does the classifier use the planted shortcut? Scored against the synthetic data's ground truth.

The synthetic generator (:mod:`skelvis.datasets.synthetic`) plants a cue that is not part of any
action in the training sequences of one class c (attrs ``shortcut``: the class, the cue's joints
G_cue and its frames [t0, t1); per sequence ``shortcut_cue``).  For a class sensitivity map
S_c (N, T, J) (Eq. 5 of Patil et al., for the true class c) and a sequence n of L_n frames:

* **cue mass**   m_cue(n) = sum_{t0 <= t < t1, j in G_cue} S_c[n, t, j] / sum_{t < L_n, j} S_c[n, t, j]
* **class mass** m_cls(n) = sum_{t, j in G_c} S_c[n, t, j] / sum_{t, j} S_c[n, t, j], G_c the class's
  own joints (``class_joints``);
* **chance**     |G_cue| (min(t1, L_n) - t0) / (J L_n), the cue mass of a uniform map.

:func:`shortcut_table` reports both masses, per group of the class's sequences (training with the
cue, training without it, held out), for the model trained with the cue and for a control model
trained on the same data without it (the workflow's ``train_control`` rule), next to the
**occlusion drop** (:func:`occlusion_drop`): how much probability of c each model loses when the
cue is taken out of the very same sequences (its cue-free twin), the ground truth of whether
the model uses the cue.  Gradient maps can miss a cue the model does use: a saturated detector
has a small gradient (on the default data the local sensitivity of the cue model is not larger
than the control's although removing the cue costs it most of its probability).
:func:`cue_behaviour` measures the same from the outputs: how often held-out sequences of other
classes that happen to carry the cue are called c.  :func:`maximization_cue_shift` asks the
activation maximisation (:mod:`skelvis.maximize`) what it does to the cue: starting from
held-out sequences of c without the cue, how far it lifts the cue's joints (along the body's up
axis, in spine lengths) during the cue's frames, against the other frames and the control model.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .datasets.store import Dataset, atomic_path
from .maximize import Target, activation_maximization
from .saliency import saliency_maps
from .topology import get_topology
from .train import predict, to_tensors

__all__ = [
    "class_mass",
    "cue_behaviour",
    "cue_mass",
    "maximization_cue_shift",
    "occlusion_drop",
    "read_shortcut",
    "shortcut_info",
    "shortcut_table",
    "true_class_maps",
    "write_shortcut",
]


def shortcut_info(ds: Dataset) -> dict | None:
    """The planted shortcut recorded in ``ds`` (class, joints, frames, ...) with the per-sequence
    flags under ``carries`` (N,) bool, or None when the data has none.  A ``shortcut`` attr
    without its ``shortcut_cue`` array (or the reverse) raises ``ValueError``."""
    attr = ds.extra_attrs.get("shortcut")
    flags = ds.extra_arrays.get("shortcut_cue")
    if attr is None and flags is None:
        return None
    if attr is None or flags is None:
        raise ValueError(f"dataset {ds.name!r}: the shortcut is half recorded (attr 'shortcut' "
                         f"{'present' if attr is not None else 'missing'}, array 'shortcut_cue' "
                         f"{'present' if flags is not None else 'missing'}); run the 'prepare' rule again")
    info = json.loads(attr) if isinstance(attr, (str, bytes)) else dict(attr)
    if info["class"] not in ds.classes:
        raise ValueError(f"dataset {ds.name!r}: shortcut class {info['class']!r} is not one of {ds.classes}")
    info["carries"] = np.asarray(flags).astype(bool)
    return info


def _region_mass(class_map: np.ndarray, length: np.ndarray, joints: Sequence[int],
                 frames=(0, None)) -> np.ndarray:
    """Share (N,) of each map's mass on ``joints`` during ``frames`` [start, stop)."""
    T = class_map.shape[1]
    t = np.arange(T)[None, :]
    stop = T if frames[1] is None else frames[1]
    valid = t < np.asarray(length)[:, None]
    in_frames = valid & (t >= frames[0]) & (t < stop)
    total = (class_map * valid[..., None]).sum((1, 2))
    part = (class_map[:, :, list(joints)] * in_frames[..., None]).sum((1, 2))
    return np.divide(part, total, out=np.zeros_like(part, dtype=np.float64), where=total > 0)


def cue_mass(class_map: np.ndarray, length: np.ndarray, joints: Sequence[int], frames) -> np.ndarray:
    """m_cue (N,): share of each map (N, T, J) on the cue's ``joints`` during ``frames`` [t0, t1)."""
    return _region_mass(class_map, length, joints, tuple(frames))


def class_mass(class_map: np.ndarray, length: np.ndarray, joints: Sequence[int]) -> np.ndarray:
    """m_cls (N,): share of each map (N, T, J) on the class's own ``joints``, all valid frames."""
    return _region_mass(class_map, length, joints)


def true_class_maps(model: nn.Module, ds: Dataset, idx: np.ndarray, saliency: dict) -> np.ndarray:
    """Class sensitivity maps (n, T, J) of the true class for the samples ``idx``, with the
    saliency stage's settings (``mode``, ``normalize``, ``std_floor``, ``chunk_size``)."""
    maps = saliency_maps(model, torch.from_numpy(ds.x[idx]), torch.from_numpy(ds.length[idx]),
                         torch.from_numpy(ds.label[idx]), units=[], mode=saliency.get("mode", "local"),
                         normalize=bool(saliency.get("normalize", True)),
                         std_floor=float(saliency.get("std_floor", 0.01)),
                         chunk_size=int(saliency.get("chunk_size", 0)) or None, predicted=False)
    return maps.class_map


def _groups(ds: Dataset, info: dict) -> dict[str, np.ndarray]:
    c = ds.classes.index(info["class"])
    own = ds.label == c
    return {"train, with cue": own & (ds.split == 0) & info["carries"],
            "train, without cue": own & (ds.split == 0) & ~info["carries"],
            "held out": own & (ds.split != 0)}


def occlusion_drop(model: nn.Module, ds: Dataset, twin: Dataset) -> np.ndarray:
    """Per sequence (N,): the true class's probability on ``ds`` minus that on ``twin``, the same
    data generated without the cue (it differs only in the cue's joints and frames of the
    carrying sequences): the occlusion attribution of the cue region (0 where there is no cue)."""
    if ds.x.shape != twin.x.shape or not np.array_equal(ds.label, twin.label):
        raise ValueError("the cue-free twin must hold the same sequences as the data (same shape and labels)")
    dev = next(model.parameters()).device
    out = []
    for d in (ds, twin):
        x, length, y = to_tensors(d, device=dev)
        p = torch.softmax(predict(model, x, length).float(), 1)
        out.append(p.gather(1, y[:, None])[:, 0].cpu().numpy())
    return out[0] - out[1]


def shortcut_table(ds: Dataset, maps: dict[str, np.ndarray], joint_names: Sequence[str],
                   class_joints: dict[str, Sequence[str]],
                   drops: dict[str, np.ndarray] | None = None,
                   twin_maps: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per model (key of ``maps``: name -> true-class maps (N, T, J) of every sequence, or
    of the shortcut class's sequences with zeros elsewhere) and group of the shortcut class's
    sequences: n, mean cue mass, mean class mass, chance cue mass, cue / chance, with
    ``drops`` (name -> :func:`occlusion_drop` (N,)) the mean probability the class loses when
    the cue is taken out, and with ``twin_maps`` (name -> the same model's maps of the cue-free
    twin, same layout) ``cue_mass_cue_removed``: the cue mass of the very same sequences with the
    cue taken out (equal to ``cue_mass`` where a sequence carries no cue, or the cue was never
    planted)."""
    info = shortcut_info(ds)
    if info is None:
        raise ValueError(f"dataset {ds.name!r} has no planted shortcut (attr 'shortcut')")
    index = {n: i for i, n in enumerate(joint_names)}
    cue_j = [index[j] for j in info["joints"]]
    cls_j = [index[j] for j in class_joints[info["class"]]]
    J = len(joint_names)
    rows = []
    for model_name, m in maps.items():
        for group, sel in _groups(ds, info).items():
            n = int(sel.sum())
            if n == 0:
                continue
            L = ds.length[sel]
            cue = cue_mass(m[sel], L, cue_j, info["frames"])
            own = class_mass(m[sel], L, cls_j)
            span = np.clip(np.minimum(info["frames"][1], L) - info["frames"][0], 0, None)
            chance = len(cue_j) * span / (J * L)
            rows.append({"model": model_name, "class": info["class"], "sequences": group, "n": n,
                         "cue_mass": float(cue.mean()), "class_joint_mass": float(own.mean()),
                         "cue_chance": float(chance.mean()),
                         "cue_over_chance": float(cue.mean() / chance.mean()),
                         **({"cue_mass_cue_removed": float(cue_mass(twin_maps[model_name][sel], L, cue_j,
                                                                     info["frames"]).mean())}
                            if twin_maps else {}),
                         **({"occlusion_drop": float(drops[model_name][sel].mean())} if drops else {})})
    return pd.DataFrame(rows)


def cue_behaviour(ds: Dataset, predicted: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per model (name -> predicted class (N,)) on the held-out splits: how often other classes'
    sequences are called the shortcut class with and without the cue, and the shortcut class's
    recall with and without it (NaN where a group is empty)."""
    info = shortcut_info(ds)
    c = ds.classes.index(info["class"])
    held = ds.split != 0
    carries = info["carries"]
    rows = []
    for name, p in predicted.items():
        def rate(sel, p=p):
            return float((p[sel] == c).mean()) if sel.any() else float("nan")
        other = held & (ds.label != c)
        own = held & (ds.label == c)
        rows.append({"model": name,
                     "other_with_cue_called_class": rate(other & carries), "n_other_with_cue": int((other & carries).sum()),
                     "other_without_cue_called_class": rate(other & ~carries),
                     "class_recall_with_cue": rate(own & carries), "class_recall_without_cue": rate(own & ~carries)})
    return pd.DataFrame(rows)


def maximization_cue_shift(model: nn.Module, ds: Dataset, idx: np.ndarray, cs, params: dict,
                           up_axis: int = 1) -> dict:
    """Constrained activation maximisation of the shortcut class from the sequences ``idx`` (with
    ``params`` of the maximize stage: iterations, step_size, gradient, normalize_step); returns the
    mean displacement along ``up_axis`` (spine lengths, normalised body frame) of the cue's joints
    during the cue's frames and during the other valid frames, the mean rise of the other joints
    during the cue's frames, and the class response before and after."""
    info = shortcut_info(ds)
    c = ds.classes.index(info["class"])
    jidx = np.array([i for i, n in enumerate(_joint_names(ds)) if n in info["joints"]])
    res = activation_maximization(model, ds.x[idx], ds.length[idx], Target("class", c, name=info["class"]), cs,
                                  constrained=True, iterations=int(params.get("iterations", 12)),
                                  step=float(params.get("step_size", 0.05)),
                                  gradient=params.get("gradient", "through_time"),
                                  normalize_step=bool(params.get("normalize_step", True)))
    start, end = res.snapshots[:, 0], res.snapshots[:, -1]                  # (n, T, J, C)
    rise = end[..., up_axis] - start[..., up_axis]                            # (n, T, J)
    T = rise.shape[1]
    t = np.arange(T)[None, :]
    valid = t < ds.length[idx][:, None]
    cue_t = valid & (t >= info["frames"][0]) & (t < info["frames"][1])
    rest_t = valid & ~cue_t
    others = np.setdiff1d(np.arange(rise.shape[2]), jidx)

    def mean(a, m):
        return float(a[m].mean()) if m.any() else float("nan")
    return {"sequences": len(idx), "iterations": int(res.snapshots.shape[1] - 1),
            "cue_joints_rise_in_cue_frames": mean(rise[:, :, jidx].mean(-1), cue_t),
            "cue_joints_rise_in_other_frames": mean(rise[:, :, jidx].mean(-1), rest_t),
            "other_joints_rise_in_cue_frames": mean(rise[:, :, others].mean(-1), cue_t),
            "response_start": float(res.response[:, 0].mean()), "response_end": float(res.response[:, -1].mean())}


def _joint_names(ds: Dataset):
    return get_topology(ds.topology).joints


def _no_nan(obj):
    """``obj`` with every NaN float (an empty group) replaced by None, so the JSON stays standard."""
    if isinstance(obj, dict):
        return {k: _no_nan(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_no_nan(v) for v in obj]
    return None if isinstance(obj, float) and np.isnan(obj) else obj


def write_shortcut(path_json, path_csv, table: pd.DataFrame, behaviour: pd.DataFrame,
                   maximization: dict, info: dict, **attrs) -> None:
    """The table as CSV and everything (table, behaviour, maximisation, the shortcut) as JSON."""
    doc = dict(attrs)
    doc["shortcut"] = {k: v for k, v in info.items() if k != "carries"}
    doc["shortcut"]["carriers"] = int(np.sum(info["carries"]))
    doc["table"] = table.to_dict(orient="records")
    doc["behaviour"] = behaviour.to_dict(orient="records")
    doc["maximization"] = maximization
    with atomic_path(path_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    with atomic_path(path_json) as tmp:
        tmp.write_text(json.dumps(_no_nan(doc), indent=2, allow_nan=False))


def read_shortcut(path) -> dict:
    """The shortcut stage's JSON with ``table`` and ``behaviour`` as DataFrames and
    ``maximization`` as a DataFrame (one column per model; empty when it was skipped)."""
    doc = json.loads(Path(path).read_text())
    doc["table"] = pd.DataFrame(doc["table"])
    doc["behaviour"] = pd.DataFrame(doc["behaviour"])
    doc["maximization"] = pd.DataFrame({k: v for k, v in doc["maximization"].items() if isinstance(v, dict)})
    return doc
