"""Scores of a map against the synthetic data's ground truth, per sequence.

For an importance map S (N, T, J) (>= 0) of sequence n with class c, its joints' mass over time
m[n, j] = sum_{t < L_n} S[n, t, j]:

* **class-joint mass** (the saliency stage's ``mass_share``, per sequence):
  sum_{j in G_c} m[n, j] / sum_j m[n, j], G_c the class's joints (``class_joints`` of data.h5);
  a uniform map scores |G_c| / J (:func:`class_joint_chance`).
* **pointing game** (Zhang et al. 2018, "Top-down neural attention by excitation backprop"): 1 if
  argmax_j m[n, j] is in G_c, else 0; a uniform random pick scores |G_c| / J.
* **shortcut mass**: the share on the planted cue's joints during its frames
  (:func:`skelvis.shortcut.cue_mass`), on sequences that carry the cue.
* **shortcut separation** (issues 15 and 18: does the map tell a model that uses the cue from one
  that does not?): on the same cue-carrying training sequences, the shortcut mass of the model
  trained with the cue over that of the control model trained on the cue-free twin data,
  mean_n m_cue(S^cue_n) / mean_n m_cue(S^control_n) (:func:`.bootstrap.ratio_interval`); a map that
  does not depend on the model scores exactly 1.  The ground truth it is read against is the
  probability each model loses when the cue is taken out of those sequences
  (:func:`skelvis.shortcut.occlusion_drop`, the twin's sequences).

Sequences whose class has no ground truth, or whose map is all zero, get NaN (left out of the
means).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..shortcut import cue_mass

__all__ = ["class_joint_chance", "class_joint_mass", "ground_truth_sets", "pointing_game", "shortcut_mass"]


def ground_truth_sets(label: np.ndarray, classes: Sequence[str], class_joints: Mapping[str, Sequence[str]],
                      joint_names: Sequence[str]) -> np.ndarray:
    """(N, J) bool: joint j carries sequence n's class (all False where the class has none);
    an unknown joint name raises ``ValueError`` naming it."""
    index = {n: i for i, n in enumerate(joint_names)}
    table = np.zeros((len(classes), len(joint_names)), bool)
    for c, name in enumerate(classes):
        joints = class_joints.get(name) or []
        unknown = [j for j in joints if j not in index]
        if unknown:
            raise ValueError(f"class_joints[{name!r}] names unknown joint(s) {unknown}; joints: {list(joint_names)}")
        table[c, [index[j] for j in joints]] = True
    return table[np.asarray(label, np.int64)]


def _per_joint(maps: np.ndarray) -> np.ndarray:
    return np.asarray(maps, np.float64).sum(1)                                  # (N, J)


def class_joint_mass(maps: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N,) share of each map's mass on its class's joints ``truth`` (N, J); NaN without ground
    truth or mass."""
    m = _per_joint(maps)
    total = m.sum(1)
    ok = truth.any(1) & (total > 0)
    out = np.full(len(m), np.nan)
    out[ok] = (m * truth).sum(1)[ok] / total[ok]
    return out


def class_joint_chance(truth: np.ndarray) -> np.ndarray:
    """(N,) the class-joint mass and pointing-game score of a uniform map: |G_c| / J (NaN without)."""
    k = truth.sum(1).astype(np.float64)
    return np.where(k > 0, k / truth.shape[1], np.nan)


def pointing_game(maps: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N,) 1.0 when the joint with the most mass is one of the class's joints, else 0.0; NaN
    without ground truth or mass."""
    m = _per_joint(maps)
    ok = truth.any(1) & (m.sum(1) > 0)
    top = m.argmax(1)
    out = np.full(len(m), np.nan)
    out[ok] = truth[np.arange(len(m)), top][ok].astype(np.float64)
    return out


def shortcut_mass(maps: np.ndarray, length: np.ndarray, joints: Sequence[int], frames) -> np.ndarray:
    """(N,) share of each map on the cue's ``joints`` during ``frames`` [t0, t1)
    (:func:`skelvis.shortcut.cue_mass`)."""
    return cue_mass(np.asarray(maps, np.float64), np.asarray(length), list(joints), tuple(frames))
