"""The embedded default dataset: synthetic Kinect v2 actions made by forward kinematics.

Every sequence is generated from joint angles on the 25-joint Kinect v2 skeleton (NTU order), so
each bone keeps the subject's exact length in every frame (before the optional sensor noise).

Bone model: each joint j has a rest offset o_j from its parent p (body frame: +x = the person's
left, +y = up, +z = forward) and a local rotation L_j(t); with G_root = R_y(yaw) and
G_j = G_p L_j, the joint is at  X_j = X_p + G_j (s_j o_j),  s_j the subject's bone scale.

Classes are modelled on NTU RGB+D actions, with the paper's case studies (*throw*: wind-up,
release, and an upward movement of the torso; *kick*: a stance with arms slightly spread, then a
leg swing).  Each class is a set of key-framed joint-angle curves over the action phase
u in [0, 1], optionally with an oscillation; per sample we vary amplitude, speed (frames),
timing (a power warp of u), onset, a rotation about the vertical axis, camera position and
sensor noise; per subject the bone lengths (global +-10% and per bone +-3%).
``class_joints`` records the joints that carry each class's motion (ground truth for saliency).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..topology import KINECT_V2
from .store import Dataset

__all__ = ["CLASSES", "CLASS_JOINTS", "SyntheticConfig", "generate", "forward_kinematics",
           "rest_offsets", "pose_parameters"]

# rest offsets (metres) of each joint from its parent, Kinect v2 order (0-based), body frame.
_REST = {
    0: (0.0, 0.0, 0.0),        # spine_base (root)
    1: (0.0, 0.26, 0.0),       # spine_mid      <- spine_base
    20: (0.0, 0.24, 0.0),      # spine_shoulder <- spine_mid
    2: (0.0, 0.08, 0.0),       # neck           <- spine_shoulder
    3: (0.0, 0.13, 0.02),      # head           <- neck
    4: (0.17, -0.03, 0.0),     # left_shoulder  <- spine_shoulder
    5: (0.0, -0.28, 0.0),      # left_elbow
    6: (0.0, -0.25, 0.0),      # left_wrist
    7: (0.0, -0.07, 0.0),      # left_hand
    21: (0.0, -0.07, 0.0),     # left_hand_tip  <- left_hand
    22: (0.0, -0.02, 0.04),    # left_thumb     <- left_hand
    8: (-0.17, -0.03, 0.0),    # right_shoulder
    9: (0.0, -0.28, 0.0),
    10: (0.0, -0.25, 0.0),
    11: (0.0, -0.07, 0.0),
    23: (0.0, -0.07, 0.0),
    24: (0.0, -0.02, 0.04),
    12: (0.09, -0.06, 0.0),    # left_hip       <- spine_base
    13: (0.0, -0.42, 0.0),     # left_knee
    14: (0.0, -0.40, 0.0),     # left_ankle
    15: (0.0, -0.05, 0.11),    # left_foot
    16: (-0.09, -0.06, 0.0),
    17: (0.0, -0.42, 0.0),
    18: (0.0, -0.40, 0.0),
    19: (0.0, -0.05, 0.11),
}

#: joint-angle parameters (degrees; root_x/y/z in metres) driving the skeleton
PARAMS = ("root_x", "root_y", "root_z", "spine_pitch", "spine_twist", "spine_roll", "head_pitch",
          "l_sh_flex", "l_sh_abd", "l_el_flex", "r_sh_flex", "r_sh_abd", "r_el_flex",
          "l_hip_flex", "l_hip_abd", "l_knee_flex", "r_hip_flex", "r_hip_abd", "r_knee_flex")
_NEUTRAL = {"l_sh_abd": 8.0, "r_sh_abd": 8.0, "l_el_flex": 10.0, "r_el_flex": 10.0}

_ARM_R = ("right_shoulder", "right_elbow", "right_wrist", "right_hand", "right_hand_tip", "right_thumb")
_ARM_L = ("left_shoulder", "left_elbow", "left_wrist", "left_hand", "left_hand_tip", "left_thumb")
_LEG_R = ("right_hip", "right_knee", "right_ankle", "right_foot")
_LEG_L = ("left_hip", "left_knee", "left_ankle", "left_foot")
_TORSO = ("spine_mid", "spine_shoulder", "neck", "head")

# class -> (keyframes {param: [(u, value), ...]}, oscillations {param: (amplitude, cycles)}, joints)
_CLASS_DEFS: Dict[str, Tuple[Dict, Dict, Tuple[str, ...]]] = {
    "throw": ({
        "r_sh_flex": [(0, 0), (0.35, -45), (0.55, -30), (0.7, 150), (0.85, 90), (1, 20)],
        "r_sh_abd": [(0, 8), (0.35, 35), (0.7, 20), (1, 8)],
        "r_el_flex": [(0, 10), (0.35, 100), (0.55, 110), (0.7, 15), (1, 10)],
        "spine_pitch": [(0, 0), (0.35, -12), (0.7, 20), (1, 5)],
        "spine_twist": [(0, 0), (0.35, -25), (0.7, 20), (1, 0)],
        "root_y": [(0, 0), (0.55, 0), (0.7, 0.07), (0.85, 0.02), (1, 0)],
    }, {}, _ARM_R + _TORSO),
    "kick": ({
        "l_sh_abd": [(0, 8), (0.2, 30), (0.85, 30), (1, 8)],
        "r_sh_abd": [(0, 8), (0.2, 30), (0.85, 30), (1, 8)],
        "r_hip_flex": [(0, 0), (0.3, -20), (0.55, 75), (0.75, 10), (1, 0)],
        "r_knee_flex": [(0, 0), (0.3, 70), (0.5, 20), (0.55, 5), (0.75, 30), (1, 0)],
        "spine_pitch": [(0, 0), (0.55, -10), (1, 0)],
    }, {}, _LEG_R),
    "hand_waving": ({
        "r_sh_abd": [(0, 8), (0.15, 140), (0.85, 140), (1, 8)],
        "r_el_flex": [(0, 10), (0.15, 40), (0.85, 40), (1, 10)],
    }, {"r_el_flex": (30, 3.0)}, _ARM_R),
    "clapping": ({
        "l_sh_flex": [(0, 0), (0.15, 60), (0.85, 60), (1, 0)],
        "r_sh_flex": [(0, 0), (0.15, 60), (0.85, 60), (1, 0)],
        "l_el_flex": [(0, 10), (0.15, 60), (0.85, 60), (1, 10)],
        "r_el_flex": [(0, 10), (0.15, 60), (0.85, 60), (1, 10)],
        "l_sh_abd": [(0, 8), (0.15, -5), (0.85, -5), (1, 8)],
        "r_sh_abd": [(0, 8), (0.15, -5), (0.85, -5), (1, 8)],
    }, {"l_sh_abd": (18, 4.0), "r_sh_abd": (18, 4.0)}, _ARM_R + _ARM_L),
    "sit_down": ({
        "root_y": [(0, 0), (0.2, 0), (0.8, -0.45), (1, -0.45)],
        "root_z": [(0, 0), (0.8, -0.15), (1, -0.15)],
        "l_hip_flex": [(0, 0), (0.2, 0), (0.8, 90), (1, 90)],
        "r_hip_flex": [(0, 0), (0.2, 0), (0.8, 90), (1, 90)],
        "l_knee_flex": [(0, 0), (0.2, 0), (0.8, 90), (1, 90)],
        "r_knee_flex": [(0, 0), (0.2, 0), (0.8, 90), (1, 90)],
        "spine_pitch": [(0, 0), (0.2, 0), (0.5, 30), (1, 8)],
    }, {}, _LEG_R + _LEG_L + ("spine_base", "spine_mid")),
    "stand_up": ({
        "root_y": [(0, -0.45), (0.2, -0.45), (0.8, 0), (1, 0)],
        "root_z": [(0, -0.15), (0.2, -0.15), (1, 0)],
        "l_hip_flex": [(0, 90), (0.2, 90), (0.8, 0), (1, 0)],
        "r_hip_flex": [(0, 90), (0.2, 90), (0.8, 0), (1, 0)],
        "l_knee_flex": [(0, 90), (0.2, 90), (0.8, 0), (1, 0)],
        "r_knee_flex": [(0, 90), (0.2, 90), (0.8, 0), (1, 0)],
        "spine_pitch": [(0, 8), (0.3, 30), (0.8, 0), (1, 0)],
    }, {}, _LEG_R + _LEG_L + ("spine_base", "spine_mid")),
    "jump_up": ({
        "root_y": [(0, 0), (0.25, -0.15), (0.45, 0.25), (0.6, 0.25), (0.75, -0.1), (1, 0)],
        "l_knee_flex": [(0, 0), (0.25, 60), (0.45, 0), (0.6, 10), (0.75, 45), (1, 0)],
        "r_knee_flex": [(0, 0), (0.25, 60), (0.45, 0), (0.6, 10), (0.75, 45), (1, 0)],
        "l_hip_flex": [(0, 0), (0.25, 35), (0.45, 0), (0.75, 25), (1, 0)],
        "r_hip_flex": [(0, 0), (0.25, 35), (0.45, 0), (0.75, 25), (1, 0)],
        "l_sh_flex": [(0, 0), (0.25, -40), (0.45, 120), (0.75, -20), (1, 0)],
        "r_sh_flex": [(0, 0), (0.25, -40), (0.45, 120), (0.75, -20), (1, 0)],
    }, {}, _LEG_R + _LEG_L + _ARM_R[:4] + _ARM_L[:4] + ("spine_base",)),
    "bow": ({
        "spine_pitch": [(0, 0), (0.3, 50), (0.7, 50), (1, 0)],
        "head_pitch": [(0, 0), (0.3, 20), (0.7, 20), (1, 0)],
    }, {}, _TORSO),
    "punch": ({
        "r_sh_flex": [(0, 0), (0.2, 50), (0.45, 90), (0.7, 50), (1, 0)],
        "r_el_flex": [(0, 10), (0.2, 120), (0.45, 5), (0.7, 120), (1, 10)],
        "l_sh_flex": [(0, 0), (0.2, 45), (0.8, 45), (1, 0)],
        "l_el_flex": [(0, 10), (0.2, 120), (0.8, 120), (1, 10)],
        "spine_twist": [(0, 0), (0.2, 10), (0.45, -15), (0.7, 0), (1, 0)],
    }, {}, _ARM_R),
    "pick_up": ({
        "spine_pitch": [(0, 0), (0.45, 70), (0.6, 70), (1, 0)],
        "l_knee_flex": [(0, 0), (0.45, 40), (0.6, 40), (1, 0)],
        "r_knee_flex": [(0, 0), (0.45, 40), (0.6, 40), (1, 0)],
        "l_hip_flex": [(0, 0), (0.45, 20), (0.6, 20), (1, 0)],
        "r_hip_flex": [(0, 0), (0.45, 20), (0.6, 20), (1, 0)],
        "r_sh_flex": [(0, 0), (0.45, 60), (0.6, 60), (1, 0)],
        "r_el_flex": [(0, 10), (0.45, 5), (0.6, 60), (1, 10)],
    }, {}, _TORSO + _ARM_R[:4] + _LEG_L[:2] + _LEG_R[:2]),
}

CLASSES: Tuple[str, ...] = tuple(_CLASS_DEFS)
CLASS_JOINTS: Dict[str, Tuple[str, ...]] = {c: d[2] for c, d in _CLASS_DEFS.items()}


@dataclass
class SyntheticConfig:
    """Knobs of the generator (config section ``data.<name>.synthetic``)."""

    classes: Sequence[str] = CLASSES
    subjects: int = 40
    repetitions: int = 2
    frames: int = 48            # mean action length in frames at ``fps``
    max_frames: int = 64        # padded length T
    fps: float = 30.0
    noise: float = 0.008        # sensor noise, metres (std)
    bone_scale: float = 0.10    # +- subject size
    bone_jitter: float = 0.03   # +- per bone
    amplitude: float = 0.2      # +- motion amplitude
    speed: float = 0.25         # +- duration
    max_yaw_deg: float = 45.0
    split: Tuple[float, float, float] = (0.7, 0.15, 0.15)  # train/validation/test share of subjects
    seed: int = 0


def _rot(axis: str, deg: np.ndarray) -> np.ndarray:
    """Rotation matrices (T, 3, 3) about a body axis by angles in degrees."""
    a = np.deg2rad(np.asarray(deg, np.float64))
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    if axis == "x":
        m = [[o, z, z], [z, c, -s], [z, s, c]]
    elif axis == "y":
        m = [[c, z, s], [z, o, z], [-s, z, c]]
    else:
        m = [[c, -s, z], [s, c, z], [z, z, o]]
    return np.moveaxis(np.array(m), (0, 1), (-2, -1))


def rest_offsets(scale: np.ndarray | None = None) -> np.ndarray:
    """Rest offsets (25, 3) of each joint from its parent, optionally times per-joint bone scale."""
    o = np.array([_REST[j] for j in range(KINECT_V2.num_joints)], np.float64)
    return o if scale is None else o * scale[:, None]


_PARENTS = KINECT_V2.parents()
_FK_ROOT = 0  # forward kinematics starts at spine_base (the bone tree is the same for any root)


def _fk_order() -> Tuple[List[int], List[int]]:
    parent = [None] * 25
    adj = {j: [] for j in range(25)}
    for a, b in KINECT_V2.bones:
        adj[a].append(b)
        adj[b].append(a)
    order, seen = [_FK_ROOT], {_FK_ROOT}
    i = 0
    while i < len(order):
        p = order[i]
        for c in adj[p]:
            if c not in seen:
                seen.add(c)
                parent[c] = p
                order.append(c)
        i += 1
    return order, parent


_ORDER, _FK_PARENT = _fk_order()


def forward_kinematics(params: Dict[str, np.ndarray], offsets: np.ndarray, yaw_deg: float = 0.0) -> np.ndarray:
    """Joint positions (T, 25, 3) from pose parameters (each (T,)) and scaled rest offsets (25, 3).

    Body frame: +x left, +y up, +z forward; the root (spine base) is at root_x/y/z.
    """
    T = len(params["root_y"])
    L = {j: None for j in range(25)}
    half_pitch = params["spine_pitch"] / 2
    half_twist = params["spine_twist"] / 2
    L[1] = _rot("x", half_pitch) @ _rot("y", half_twist) @ _rot("z", params["spine_roll"] / 2)
    L[20] = _rot("x", half_pitch) @ _rot("y", half_twist) @ _rot("z", params["spine_roll"] / 2)
    L[3] = _rot("x", params["head_pitch"])
    L[5] = _rot("z", params["l_sh_abd"]) @ _rot("x", -params["l_sh_flex"])
    L[9] = _rot("z", -params["r_sh_abd"]) @ _rot("x", -params["r_sh_flex"])
    L[6] = _rot("x", -params["l_el_flex"])
    L[10] = _rot("x", -params["r_el_flex"])
    L[13] = _rot("z", params["l_hip_abd"]) @ _rot("x", -params["l_hip_flex"])
    L[17] = _rot("z", -params["r_hip_abd"]) @ _rot("x", -params["r_hip_flex"])
    L[14] = _rot("x", params["l_knee_flex"])
    L[18] = _rot("x", params["r_knee_flex"])
    G = {}
    X = np.zeros((T, 25, 3))
    G[_FK_ROOT] = np.broadcast_to(_rot("y", np.full(T, yaw_deg)), (T, 3, 3))
    X[:, _FK_ROOT] = np.stack([params["root_x"], params["root_y"], params["root_z"]], -1)
    for j in _ORDER[1:]:
        p = _FK_PARENT[j]
        G[j] = G[p] if L[j] is None else G[p] @ L[j]
        X[:, j] = X[:, p] + G[j] @ offsets[j]
    return X


def pose_parameters(cls: str, T: int, rng: np.random.Generator, cfg: SyntheticConfig,
                    hip_height: float) -> Dict[str, np.ndarray]:
    """Per-frame pose parameters (each (T,)) of one sample of class ``cls``."""
    keyframes, osc, _ = _CLASS_DEFS[cls]
    amp = 1.0 + rng.uniform(-cfg.amplitude, cfg.amplitude)
    gamma = rng.uniform(0.8, 1.25)
    onset = rng.uniform(0.0, 0.1)
    end = rng.uniform(0.9, 1.0)
    t = np.arange(T) / max(T - 1, 1)
    u = np.clip((t - onset) / (end - onset), 0.0, 1.0) ** gamma
    out = {}
    for p in PARAMS:
        base = _NEUTRAL.get(p, 0.0)
        if p in keyframes:
            ku, kv = zip(*keyframes[p])
            v = np.interp(u, ku, kv)
            v = base + amp * (v - base) if not p.startswith("root") else amp * v
        else:
            v = np.full(T, base)
        if p in osc:
            a, cycles = osc[p]
            env = np.clip(np.minimum(u / 0.15, (1 - u) / 0.15), 0, 1)
            v = v + amp * a * env * np.sin(2 * np.pi * cycles * u + rng.uniform(0, 0.5))
        out[p] = v
    # idle motion shared by all classes: sway and breathing
    ph = rng.uniform(0, 2 * np.pi, 3)
    out["spine_pitch"] = out["spine_pitch"] + 2.0 * np.sin(2 * np.pi * 0.4 * t * T / cfg.fps + ph[0])
    out["spine_roll"] = out["spine_roll"] + 2.0 * np.sin(2 * np.pi * 0.3 * t * T / cfg.fps + ph[1])
    out["l_sh_flex"] = out["l_sh_flex"] + 4.0 * np.sin(2 * np.pi * 0.5 * t * T / cfg.fps + ph[2])
    out["root_y"] = out["root_y"] + hip_height
    return out


def generate(cfg: SyntheticConfig | None = None) -> Dataset:
    """Generate the dataset (deterministic under ``cfg.seed``); coordinates in camera space.

    Returns a :class:`Dataset` with raw (un-normalised) x (N, T, 25, 3), subject-wise splits and
    ``class_joints`` in ``extra_attrs``.
    """
    cfg = cfg or SyntheticConfig()
    unknown = [c for c in cfg.classes if c not in _CLASS_DEFS]
    if unknown:
        raise ValueError(f"unknown synthetic class(es) {unknown}; known: {list(CLASSES)}")
    rng = np.random.default_rng(cfg.seed)
    n_sub = cfg.subjects
    # subject-wise split
    perm = rng.permutation(n_sub)
    n_tr = int(round(cfg.split[0] * n_sub))
    n_va = int(round(cfg.split[1] * n_sub))
    subject_split = np.zeros(n_sub, np.int8)
    subject_split[perm[n_tr:n_tr + n_va]] = 1
    subject_split[perm[n_tr + n_va:]] = 2
    seqs, labels, subjects, ids = [], [], [], []
    for s in range(n_sub):
        srng = np.random.default_rng([cfg.seed, s])
        scale = (1 + srng.uniform(-cfg.bone_scale, cfg.bone_scale)) * \
            (1 + np.clip(srng.normal(0, cfg.bone_jitter / 2, 25), -cfg.bone_jitter, cfg.bone_jitter))
        offsets = rest_offsets(scale)
        hip_height = -(offsets[13, 1] + offsets[14, 1] + offsets[12, 1]) + 0.08
        for ci, cls in enumerate(cfg.classes):
            for r in range(cfg.repetitions):
                prng = np.random.default_rng([cfg.seed, s, ci, r])
                T = int(np.clip(round(cfg.frames * (1 + prng.uniform(-cfg.speed, cfg.speed))), 8, cfg.max_frames))
                params = pose_parameters(cls, T, prng, cfg, hip_height)
                yaw = prng.uniform(-cfg.max_yaw_deg, cfg.max_yaw_deg)
                X = forward_kinematics(params, offsets, yaw_deg=yaw)
                # camera space: the person faces the camera (rotate 180 deg about y), 2.5-3.5 m away
                X = X @ _rot("y", np.array(180.0)).T
                X = X + np.array([prng.uniform(-0.5, 0.5), prng.uniform(-0.9, -0.6), prng.uniform(2.5, 3.5)])
                if cfg.noise > 0:
                    X = X + prng.normal(0, cfg.noise, X.shape)
                seqs.append(X.astype(np.float32))
                labels.append(ci)
                subjects.append(s + 1)
                ids.append(f"S{s + 1:03d}_{cls}_R{r + 1:02d}")
    T = cfg.max_frames
    x = np.zeros((len(seqs), T, 25, 3), np.float32)
    length = np.zeros(len(seqs), np.int32)
    for i, q in enumerate(seqs):
        x[i, :len(q)] = q
        length[i] = len(q)
    subject = np.array(subjects, np.int32)
    return Dataset(x=x, length=length, label=np.array(labels, np.int32), subject=subject,
                   split=subject_split[subject - 1], sample_id=np.array(ids), classes=list(cfg.classes),
                   topology="kinect_v2", name="synthetic", fps=cfg.fps,
                   extra_attrs={"class_joints": {c: list(CLASS_JOINTS[c]) for c in cfg.classes},
                                "generator": {k: (list(v) if isinstance(v, tuple) else v)
                                              for k, v in cfg.__dict__.items()}})
