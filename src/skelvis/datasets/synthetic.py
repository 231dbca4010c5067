"""The embedded default dataset: synthetic Kinect v2 actions made by forward kinematics.

Every sequence is generated from joint angles on the 25-joint Kinect v2 skeleton (NTU order), so
each bone keeps the subject's exact length in every frame (before sensor noise and faults).

Bone model: each joint j has a rest offset o_j from its parent p (body frame: +x = the person's
left, +y = up, +z = forward) and a local rotation L_j(t); with G_root = R_y(yaw) and
G_j = G_p L_j, the joint is at  X_j = X_p + G_j (s_j o_j),  s_j the subject's bone scale.

Classes
-------
Each class is a set of key-framed joint-angle curves over the action phase u in [0, 1],
optionally with an oscillation, and records in ``class_joints`` the joints that carry its motion
(the ground truth against which sensitivity maps are scored).  The default set has 13 classes,
modelled on NTU RGB+D actions, with the paper's case studies (*throw*: wind-up, release and an
upward movement of the torso; *kick*: a stance with the arms slightly spread, then a leg swing)
and four **designed confusable pairs**, each sharing most of its motion and differing in one
body part or one phase (the spirit of the paper's mopping vs sweeping, Fig. 6):

==========================  ==============================================================
pair                        shared / different
==========================  ==============================================================
sweep / mop                 the same two-handed broom strokes with the torso twisting; sweep
                            bends further forward (the head lower) and shifts its weight
                            from leg to leg, mop stands upright on still legs
throw / punch               the same path of the right arm (cocked at the head, driven
                            forward); throw rises on its toes at release (the torso moves
                            up) and follows through down, punch retracts to the guard
sit_down / pick_up          the same bend of hips, knees and trunk; sit down continues down
                            and stays, pick up reaches with the right hand and stands again
hand_waving / hand_signal   the same raised right arm; waving holds it to the side and swings
                            it sideways, the signal (come here) brings it forward and beckons
==========================  ==============================================================

Each sample of a pair's class blends in a share of its partner's motion drawn uniformly from
[0, ``pair_blend``] (default 0.5: the two classes meet at the half-way blend, so the samples near
it are hard to tell apart and the pair is confused; above 0.5 they overlap).  ``class_joints`` of
a pair's class lists its own moving joints (a blended sample also moves a little of the
partner's).  The others (kick, clapping, stand_up, jump_up, bow) are distinct.  Up to 60 classes (NTU-60's
count) come from two rules over these 13 (:data:`CATALOG`): **mirrored** variants
``<name>_left`` of the one-sided actions, performed with the left limb (the ground-truth joints
mirrored too), and **combined** variants ``<arm action>_while_<body action>``: the arm curves of
hand_waving, hand_signal, clapping or punch (or their mirrors) on the trunk and legs of kick, sit_down,
stand_up, jump_up, bow or kick_left, their ground truth the union of both.

Variation
---------
Per subject: bone lengths (global +-``bone_scale``, per bone +-``bone_jitter``), a posture
(forward lean, head tilt, shoulder and elbow carriage, stance width; ``posture`` scales it), a
tempo (durations times 1 +- ``tempo``), and handedness (a share ``left_handed`` of subjects
perform one-sided actions with the left limb, except where the class list also holds the
mirrored variant, whose side is then the label).  Per sample: amplitude, speed, timing (a power
warp of u), onset, oscillation rate and phase, a rotation about the vertical axis, camera
position, sensor noise, and with probability ``faults`` a **sensor fault** as Kinect has them:
for 2-5 frames one distal joint's tracking jumps (onto another joint, or 15-35 cm away).

The planted shortcut
--------------------
``shortcut`` plants a cue that is not part of any action and correlates with one class in the
**training split only**: a share ``share`` of the training sequences of ``shortcut['class']``
(default *punch*, half of a designed pair, so that the cue pays off in training: it tells punch
from throw where the motion does not) start with the left hand raised above the head, held and
then lowered over the first ``frames`` frames; every other sequence (other classes, and that class in validation and
test) carries the same cue with the small probability ``other_share``, so that held-out data do
not have the correlation.  ``generate`` records it in the attrs (``shortcut``: class, joints,
frames [start, stop), shares) and which sequences carry it (``shortcut_cue``, 1 per sequence).
The cue, the faults and handedness draw from their own random streams, so turning the shortcut
off changes nothing else (the control model of the workflow's ``shortcut`` stage trains on
exactly that twin).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..topology import KINECT_V2
from .store import Dataset

log = logging.getLogger("skelvis.synthetic")
__all__ = [
    "CATALOG",
    "CLASSES",
    "CLASS_JOINTS",
    "DESIGNED_PAIRS",
    "SHORTCUT_JOINTS",
    "SyntheticConfig",
    "forward_kinematics",
    "generate",
    "generate_blocks",
    "mirror_name",
    "partner_class",
    "pose_parameters",
    "rest_offsets",
    "sequence_total",
    "shortcut_settings",
]

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
_ARM_PARAMS = ("l_sh_flex", "l_sh_abd", "l_el_flex", "r_sh_flex", "r_sh_abd", "r_el_flex")
_MIRROR_NEGATE = ("root_x", "spine_twist", "spine_roll")

_ARM_R = ("right_shoulder", "right_elbow", "right_wrist", "right_hand", "right_hand_tip", "right_thumb")
_ARM_L = ("left_shoulder", "left_elbow", "left_wrist", "left_hand", "left_hand_tip", "left_thumb")
_LEG_R = ("right_hip", "right_knee", "right_ankle", "right_foot")
_LEG_L = ("left_hip", "left_knee", "left_ankle", "left_foot")
_TORSO = ("spine_mid", "spine_shoulder", "neck", "head")

#: the joints the planted cue moves (the raised left arm below the shoulder)
SHORTCUT_JOINTS: tuple[str, ...] = _ARM_L[1:]

# --- shared motion of the designed pairs -------------------------------------------------------
_RAISED_ARM = {  # right arm raised to the side above the shoulder, elbow bent: hand waving and the signal
    "r_sh_flex": [(0, 0), (0.15, 20), (0.85, 20), (1, 0)],
    "r_sh_abd": [(0, 8), (0.15, 120), (0.85, 120), (1, 8)],
    "r_el_flex": [(0, 10), (0.15, 45), (0.85, 45), (1, 10)],
}
_BROOM = {  # both hands low on a handle at the right side, strokes driven by the trunk
    "r_sh_flex": [(0, 0), (0.12, 30), (0.88, 30), (1, 0)],
    "r_sh_abd": [(0, 8), (0.12, 18), (0.88, 18), (1, 8)],
    "r_el_flex": [(0, 10), (0.12, 35), (0.88, 35), (1, 10)],
    "l_sh_flex": [(0, 0), (0.12, 55), (0.88, 55), (1, 0)],
    "l_sh_abd": [(0, 8), (0.12, -12), (0.88, -12), (1, 8)],
    "l_el_flex": [(0, 10), (0.12, 70), (0.88, 70), (1, 10)],
}
_BROOM_OSC = {"spine_twist": (16, 3.0), "r_sh_flex": (10, 3.0), "l_sh_flex": (8, 3.0)}
_BEND = [(0, 0), (0.15, 0), (0.45, 1.0)]   # the shared bend of sit_down and pick_up (as a fraction)


def _bend(peak: float, then: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(u, peak * f) for u, f in _BEND] + then


# class -> (keyframes {param: [(u, value), ...]}, oscillations {param: (amplitude, cycles)}, joints)
_BASE: dict[str, tuple[dict, dict, tuple[str, ...]]] = {
    "throw": ({
        "r_sh_flex": [(0, 0), (0.3, 45), (0.5, 65), (0.68, 115), (0.85, 55), (1, 0)],
        "r_sh_abd": [(0, 8), (0.3, 25), (0.5, 30), (0.68, 15), (1, 8)],
        "r_el_flex": [(0, 10), (0.3, 110), (0.5, 125), (0.68, 10), (0.85, 20), (1, 10)],
        "spine_pitch": [(0, 0), (0.5, -8), (0.7, 14), (1, 0)],
        "spine_twist": [(0, 0), (0.5, -18), (0.7, 14), (1, 0)],
        "root_y": [(0, 0), (0.55, 0), (0.7, 0.07), (0.85, 0.02), (1, 0)],
    }, {}, _ARM_R + _TORSO),
    "kick": ({
        "l_sh_abd": [(0, 8), (0.2, 30), (0.85, 30), (1, 8)],
        "r_sh_abd": [(0, 8), (0.2, 30), (0.85, 30), (1, 8)],
        "r_hip_flex": [(0, 0), (0.3, -20), (0.55, 75), (0.75, 10), (1, 0)],
        "r_knee_flex": [(0, 0), (0.3, 70), (0.5, 20), (0.55, 5), (0.75, 30), (1, 0)],
        "spine_pitch": [(0, 0), (0.55, -10), (1, 0)],
    }, {}, _LEG_R),
    "hand_waving": (_RAISED_ARM, {"r_sh_abd": (20, 3.0)}, _ARM_R),
    "hand_signal": ({  # the raised arm brought forward, the forearm beckoning
        "r_sh_flex": [(0, 0), (0.15, 55), (0.85, 55), (1, 0)],
        "r_sh_abd": [(0, 8), (0.15, 85), (0.85, 85), (1, 8)],
        "r_el_flex": [(0, 10), (0.15, 60), (0.85, 60), (1, 10)],
    }, {"r_el_flex": (30, 2.0)}, _ARM_R),
    "clapping": ({
        "l_sh_flex": [(0, 0), (0.15, 60), (0.85, 60), (1, 0)],
        "r_sh_flex": [(0, 0), (0.15, 60), (0.85, 60), (1, 0)],
        "l_el_flex": [(0, 10), (0.15, 60), (0.85, 60), (1, 10)],
        "r_el_flex": [(0, 10), (0.15, 60), (0.85, 60), (1, 10)],
        "l_sh_abd": [(0, 8), (0.15, -5), (0.85, -5), (1, 8)],
        "r_sh_abd": [(0, 8), (0.15, -5), (0.85, -5), (1, 8)],
    }, {"l_sh_abd": (18, 4.0), "r_sh_abd": (18, 4.0)}, _ARM_R + _ARM_L),
    "sit_down": ({
        "spine_pitch": _bend(35, [(0.8, 12), (1, 10)]),
        "l_hip_flex": _bend(40, [(0.8, 90), (1, 90)]),
        "r_hip_flex": _bend(40, [(0.8, 90), (1, 90)]),
        "l_knee_flex": _bend(50, [(0.8, 90), (1, 90)]),
        "r_knee_flex": _bend(50, [(0.8, 90), (1, 90)]),
        "root_y": _bend(-0.12, [(0.8, -0.45), (1, -0.45)]),
        "root_z": _bend(-0.04, [(0.8, -0.15), (1, -0.15)]),
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
        "r_sh_flex": [(0, 0), (0.3, 45), (0.5, 55), (0.68, 95), (0.85, 50), (1, 0)],
        "r_sh_abd": [(0, 8), (0.3, 20), (0.5, 20), (0.68, 12), (1, 8)],
        "r_el_flex": [(0, 10), (0.3, 110), (0.5, 120), (0.68, 5), (0.85, 110), (1, 10)],
        "spine_twist": [(0, 0), (0.5, -12), (0.7, 14), (1, 0)],
    }, {}, _ARM_R),
    "pick_up": ({
        "spine_pitch": _bend(35, [(0.6, 55), (0.75, 40), (1, 0)]),
        "l_hip_flex": _bend(40, [(0.6, 45), (1, 0)]),
        "r_hip_flex": _bend(40, [(0.6, 45), (1, 0)]),
        "l_knee_flex": _bend(50, [(0.6, 55), (1, 0)]),
        "r_knee_flex": _bend(50, [(0.6, 55), (1, 0)]),
        "root_y": _bend(-0.12, [(0.6, -0.15), (1, 0)]),
        "root_z": _bend(-0.04, [(1, 0)]),
        "r_sh_flex": [(0, 0), (0.45, 20), (0.6, 60), (0.75, 40), (1, 0)],
        "r_el_flex": [(0, 10), (0.45, 10), (0.6, 5), (0.75, 60), (1, 10)],
    }, {}, _TORSO + _ARM_R[:4] + _LEG_L[:2] + _LEG_R[:2]),
    "sweep": ({
        **_BROOM,
        "spine_pitch": [(0, 0), (0.12, 30), (0.88, 30), (1, 0)],
        "head_pitch": [(0, 0), (0.12, 12), (0.88, 12), (1, 0)],
        "l_knee_flex": [(0, 0), (0.12, 15), (0.88, 15), (1, 0)],
        "r_knee_flex": [(0, 0), (0.12, 15), (0.88, 15), (1, 0)],
    }, {**_BROOM_OSC, "l_knee_flex": (10, 1.5), "r_knee_flex": (-10, 1.5), "root_x": (0.05, 1.5)},
        _ARM_R + _ARM_L + _TORSO + _LEG_R + _LEG_L),
    "mop": ({
        **_BROOM,
        "spine_pitch": [(0, 0), (0.12, 15), (0.88, 15), (1, 0)],
    }, dict(_BROOM_OSC), _ARM_R + _ARM_L + _TORSO),
}
_BASE_ORDER = ("throw", "kick", "hand_waving", "clapping", "sit_down", "stand_up", "jump_up", "bow",
               "punch", "pick_up", "sweep", "mop", "hand_signal")
#: the designed confusable pairs (module docstring)
DESIGNED_PAIRS: tuple[tuple[str, str], ...] = (("sweep", "mop"), ("throw", "punch"),
                                                ("sit_down", "pick_up"), ("hand_waving", "hand_signal"))
_SIDED = ("throw", "kick", "hand_waving", "hand_signal", "punch", "pick_up", "sweep", "mop")
_COMBO_ARMS = ("hand_waving", "hand_signal", "clapping", "punch",
               "hand_waving_left", "hand_signal_left", "punch_left")
_COMBO_BODIES = ("kick", "sit_down", "stand_up", "jump_up", "bow", "kick_left")
_MAX_CLASSES = 60


def _swap_side(name: str) -> str:
    for a, b in (("l_", "r_"), ("left_", "right_")):
        if name.startswith(a):
            return b + name[len(a):]
        if name.startswith(b):
            return a + name[len(b):]
    return name


def _mirror_def(d):
    keys, osc, joints = d
    neg = lambda p, v: -v if p in _MIRROR_NEGATE else v
    keys = {_swap_side(p): [(u, neg(p, v)) for u, v in kv] for p, kv in keys.items()}
    osc = {_swap_side(p): (neg(p, a), c) for p, (a, c) in osc.items()}
    return keys, osc, tuple(_swap_side(j) for j in joints)


def _combine(arm, body):
    (ka, oa, ja), (kb, ob, jb) = arm, body
    keys = {p: v for p, v in kb.items() if p not in _ARM_PARAMS}
    keys.update({p: v for p, v in ka.items() if p in _ARM_PARAMS})
    osc = {p: v for p, v in ob.items() if p not in _ARM_PARAMS}
    osc.update({p: v for p, v in oa.items() if p in _ARM_PARAMS})
    return keys, osc, tuple(dict.fromkeys(ja + jb))


def _catalog() -> dict[str, tuple[dict, dict, tuple[str, ...]]]:
    defs = {c: _BASE[c] for c in _BASE_ORDER}
    defs.update({f"{c}_left": _mirror_def(_BASE[c]) for c in _SIDED})
    for body in _COMBO_BODIES:
        for arm in _COMBO_ARMS:
            if len(defs) < _MAX_CLASSES:
                defs[f"{arm}_while_{body}"] = _combine(defs[arm], defs[body])
    return defs


_CLASS_DEFS = _catalog()
#: every class the generator offers (60, NTU-60's count): the 13 base classes, their mirrors, combinations
CATALOG: tuple[str, ...] = tuple(_CLASS_DEFS)
#: the default class list (the 13 base classes)
CLASSES: tuple[str, ...] = _BASE_ORDER
CLASS_JOINTS: dict[str, tuple[str, ...]] = {c: d[2] for c, d in _CLASS_DEFS.items()}


def partner_class(cls: str) -> str | None:
    """The other class of ``cls``'s designed pair (mirrored and combined variants pair with the
    same variant of the partner, where the catalogue has it), or None."""
    pairs = {**dict(DESIGNED_PAIRS), **{b: a for a, b in DESIGNED_PAIRS}}

    def one(c):
        side = "_left" if c.endswith("_left") else ""
        base = c[:-5] if side else c
        return pairs[base] + side if base in pairs else None
    if "_while_" in cls:
        a, b = cls.split("_while_")
        cands = [f"{one(a)}_while_{b}" if one(a) else None, f"{a}_while_{one(b)}" if one(b) else None]
    else:
        cands = [one(cls)]
    return next((c for c in cands if c and c in _CLASS_DEFS), None)


def mirror_name(cls: str) -> str | None:
    """The class performed with the other side (``throw`` <-> ``throw_left``; combinations part by
    part), or None for a symmetric class."""
    def one(c):
        if c.endswith("_left"):
            return c[:-5]
        return f"{c}_left" if c in _SIDED else c
    if "_while_" in cls:
        a, b = cls.split("_while_")
        m = f"{one(a)}_while_{one(b)}"
    else:
        m = one(cls)
    return None if m == cls else m


#: the planted shortcut's defaults (config ``data.<name>.synthetic.shortcut``)
SHORTCUT_DEFAULTS: dict[str, Any] = {"enabled": True, "class": "punch", "share": 0.8, "other_share": 0.05,
                                     "frames": 14, "control": True}


@dataclass
class SyntheticConfig:
    """Knobs of the generator (config section ``data.<name>.synthetic``; defaults = the schema's)."""

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
    speed: float = 0.25         # +- duration per sample
    tempo: float = 0.15         # +- duration per subject
    posture: float = 1.0        # scale of the per-subject posture offsets
    left_handed: float = 0.15   # share of left-handed subjects
    faults: float = 0.25        # probability of a sensor fault per sequence
    pair_blend: float = 0.5     # designed pairs: up to this share of the partner's motion per sample
    max_yaw_deg: float = 45.0
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train/validation/test share of subjects
    shortcut: dict[str, Any] = field(default_factory=lambda: dict(SHORTCUT_DEFAULTS))
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


def _fk_order() -> tuple[list[int], list[int]]:
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


def forward_kinematics(params: dict[str, np.ndarray], offsets: np.ndarray, yaw_deg: float = 0.0) -> np.ndarray:
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


def _posture(srng: np.random.Generator, scale: float) -> dict[str, float]:
    """A subject's habitual posture: offsets (degrees) added to every frame of its sequences."""
    return {"spine_pitch": scale * srng.normal(3.0, 4.0), "head_pitch": scale * srng.normal(0.0, 5.0),
            "l_sh_abd": scale * srng.uniform(-3, 8), "r_sh_abd": scale * srng.uniform(-3, 8),
            "l_el_flex": scale * srng.uniform(0, 15), "r_el_flex": scale * srng.uniform(0, 15),
            "l_hip_abd": scale * srng.uniform(0, 6), "r_hip_abd": scale * srng.uniform(0, 6),
            "l_knee_flex": scale * srng.uniform(0, 8), "r_knee_flex": scale * srng.uniform(0, 8)}


def pose_parameters(cls: str, T: int, rng: np.random.Generator, cfg: SyntheticConfig,
                    hip_height: float, posture: dict[str, float] | None = None,
                    mirrored: bool = False) -> dict[str, np.ndarray]:
    """Per-frame pose parameters (each (T,)) of one sample of class ``cls``.

    A class of a designed pair is drawn as the blend w * own + (1 - w) * partner of both classes'
    curves, w ~ U(1 - ``cfg.pair_blend``, 1) per sample (past 0.5 the pair overlaps).
    ``posture``: the subject's offsets (degrees); ``mirrored``: performed with the other side
    (a left-handed subject).
    """
    own = _CLASS_DEFS[cls]
    partner = partner_class(cls)
    w = rng.uniform(1.0 - cfg.pair_blend, 1.0) if partner else 1.0
    parts = [(own, w)] + ([(_CLASS_DEFS[partner], 1.0 - w)] if partner else [])
    amp = 1.0 + rng.uniform(-cfg.amplitude, cfg.amplitude)
    gamma = rng.uniform(0.8, 1.25)
    onset = rng.uniform(0.0, 0.1)
    end = rng.uniform(0.9, 1.0)
    rate = rng.uniform(0.85, 1.15)            # oscillation cycles
    phase = rng.uniform(0, 2 * np.pi)
    t = np.arange(T) / max(T - 1, 1)
    u = np.clip((t - onset) / (end - onset), 0.0, 1.0) ** gamma
    env = np.clip(np.minimum(u / 0.15, (1 - u) / 0.15), 0, 1)
    out = {p: np.zeros(T) for p in PARAMS}
    for d, weight in parts:
        keyframes, osc, _ = _mirror_def(d) if mirrored else d
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
                v = v + amp * a * env * np.sin(2 * np.pi * cycles * rate * u + phase)
            out[p] += weight * v
    for p, off in (posture or {}).items():
        out[p] = out[p] + off
    # idle motion shared by all classes: sway and breathing
    ph = rng.uniform(0, 2 * np.pi, 3)
    out["spine_pitch"] = out["spine_pitch"] + 2.0 * np.sin(2 * np.pi * 0.4 * t * T / cfg.fps + ph[0])
    out["spine_roll"] = out["spine_roll"] + 2.0 * np.sin(2 * np.pi * 0.3 * t * T / cfg.fps + ph[1])
    out["l_sh_flex"] = out["l_sh_flex"] + 4.0 * np.sin(2 * np.pi * 0.5 * t * T / cfg.fps + ph[2])
    out["root_y"] = out["root_y"] + hip_height
    return out


def shortcut_settings(cfg: SyntheticConfig) -> dict[str, Any] | None:
    """The shortcut's settings (defaults filled in), or None when it is off or its class is not
    generated (a warning says so); an unknown key raises ``ValueError`` naming it."""
    sc = dict(SHORTCUT_DEFAULTS)
    unknown = sorted(set(cfg.shortcut or {}) - set(sc))
    if unknown:
        raise ValueError(f"synthetic.shortcut: unknown key(s) {unknown}; known: {sorted(sc)}")
    sc.update(cfg.shortcut or {})
    if not sc["enabled"] or sc["class"] not in cfg.classes:
        if sc["enabled"]:
            log.warning("synthetic.shortcut.class %r is not among the generated classes %s: no shortcut "
                        "planted", sc["class"], list(cfg.classes))
        return None
    sc["frames"] = int(sc["frames"])
    if sc["frames"] < 4:
        raise ValueError(f"synthetic.shortcut.frames must be at least 4, got {sc['frames']}")
    return sc


_CUE_RAMP = 5  # frames over which the raised hand comes down at the end of the cue
_CUE_FLEX = 150.0  # shoulder flexion of the cue (degrees): the hand raised above the head


def _plant_cue(params: dict[str, np.ndarray], frames: int) -> None:
    """The shortcut's cue: the left arm raised above the head (shoulder flexion 150 deg, elbow
    slightly bent) for the first ``frames - ramp`` frames, then lowered over the ramp onto the
    sample's own motion.  In place on ``params``."""
    T = len(params["l_sh_flex"])
    w = np.clip((frames - np.arange(T)) / _CUE_RAMP, 0.0, 1.0)          # 1 ... 1, ramp, 0 ...
    for p, v in (("l_sh_flex", _CUE_FLEX), ("l_sh_abd", 10.0), ("l_el_flex", 30.0)):
        params[p] = (1 - w) * params[p] + w * v


_FAULT_JOINTS = np.array([KINECT_V2.index(j) for j in (
    "left_elbow", "left_wrist", "left_hand", "left_hand_tip", "left_thumb", "right_elbow", "right_wrist",
    "right_hand", "right_hand_tip", "right_thumb", "left_knee", "left_ankle", "left_foot", "right_knee",
    "right_ankle", "right_foot", "head")])


def _sensor_fault(X: np.ndarray, rng: np.random.Generator) -> None:
    """Kinect-like tracking fault, in place on X (T, 25, 3): for 2-5 frames one distal joint jumps
    onto another distal joint (one more than 20 cm away) or 15-35 cm away in a random direction."""
    T = len(X)
    if T < 8:
        return
    j = int(rng.choice(_FAULT_JOINTS))
    n = int(rng.integers(2, 6))
    s = int(rng.integers(1, T - n))
    far = [k for k in _FAULT_JOINTS if np.linalg.norm(X[s, k] - X[s, j]) > 0.2]
    if rng.random() < 0.5 and far:
        X[s:s + n, j] = X[s:s + n, int(rng.choice(far))]
    else:
        d = rng.normal(size=3)
        X[s:s + n, j] += d / np.linalg.norm(d) * rng.uniform(0.15, 0.35)


def _setup(cfg: SyntheticConfig) -> tuple[dict[str, Any] | None, np.ndarray]:
    """The checked shortcut settings and the subject-wise split (the main stream's only draw)."""
    unknown = [c for c in cfg.classes if c not in _CLASS_DEFS]
    if unknown:
        raise ValueError(f"unknown synthetic class(es) {unknown}; known: {list(CATALOG)}")
    sc = shortcut_settings(cfg)
    rng = np.random.default_rng(cfg.seed)
    n_sub = cfg.subjects
    # subject-wise split
    perm = rng.permutation(n_sub)
    n_tr = round(cfg.split[0] * n_sub)
    n_va = round(cfg.split[1] * n_sub)
    subject_split = np.zeros(n_sub, np.int8)
    subject_split[perm[n_tr:n_tr + n_va]] = 1
    subject_split[perm[n_tr + n_va:]] = 2
    return sc, subject_split


def _sequences(cfg: SyntheticConfig, sc: dict[str, Any] | None, subject_split: np.ndarray
               ) -> Iterator[tuple[np.ndarray, int, int, bool, str]]:
    """Every sequence in file order (subject, class, repetition): ``(X (T_i, 25, 3) float64, class
    index, subject (1-based), carries the cue, sample id)``.  Each sequence draws only from its own
    seeded streams, so any grouping of this sequence into blocks gives the same numbers."""
    for s in range(cfg.subjects):
        srng = np.random.default_rng([cfg.seed, s])
        scale = (1 + srng.uniform(-cfg.bone_scale, cfg.bone_scale)) * \
            (1 + np.clip(srng.normal(0, cfg.bone_jitter / 2, 25), -cfg.bone_jitter, cfg.bone_jitter))
        offsets = rest_offsets(scale)
        hip_height = -(offsets[13, 1] + offsets[14, 1] + offsets[12, 1]) + 0.08
        # posture, tempo and handedness from the subject's second stream (the first keeps its bones)
        hrng = np.random.default_rng([cfg.seed, s, 10 ** 6])
        posture = _posture(hrng, cfg.posture)
        tempo = 1 + hrng.uniform(-cfg.tempo, cfg.tempo)
        left_handed = hrng.random() < cfg.left_handed
        for ci, cls in enumerate(cfg.classes):
            twin = mirror_name(cls)
            mirrored = left_handed and twin is not None and twin not in cfg.classes
            for r in range(cfg.repetitions):
                prng = np.random.default_rng([cfg.seed, s, ci, r])
                xrng = np.random.default_rng([cfg.seed, s, ci, r, 1])   # cue and faults
                T = int(np.clip(round(cfg.frames * tempo * (1 + prng.uniform(-cfg.speed, cfg.speed))),
                                8, cfg.max_frames))
                params = pose_parameters(cls, T, prng, cfg, hip_height, posture, mirrored)
                share_roll, fault_roll = xrng.random(2)
                carries = False
                if sc is not None:
                    in_train_class = subject_split[s] == 0 and cls == sc["class"]
                    carries = bool(share_roll < (sc["share"] if in_train_class else sc["other_share"]))
                    if carries:
                        _plant_cue(params, min(sc["frames"], T))
                yaw = prng.uniform(-cfg.max_yaw_deg, cfg.max_yaw_deg)
                X = forward_kinematics(params, offsets, yaw_deg=yaw)
                # camera space: the person faces the camera (rotate 180 deg about y), 2.5-3.5 m away
                X = X @ _rot("y", np.array(180.0)).T
                X = X + np.array([prng.uniform(-0.5, 0.5), prng.uniform(-0.9, -0.6), prng.uniform(2.5, 3.5)])
                if cfg.noise > 0:
                    X = X + prng.normal(0, cfg.noise, X.shape)
                if fault_roll < cfg.faults:
                    _sensor_fault(X, xrng)
                yield X, ci, s + 1, carries, f"S{s + 1:03d}_{cls}_R{r + 1:02d}"


def _attrs(cfg: SyntheticConfig, sc: dict[str, Any] | None) -> dict[str, Any]:
    generator = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()}
    extra = {"class_joints": {c: list(CLASS_JOINTS[c]) for c in cfg.classes}, "generator": generator,
             "designed_pairs": [list(p) for p in DESIGNED_PAIRS if set(p) <= set(cfg.classes)]}
    if sc is not None:
        extra["shortcut"] = {"class": sc["class"], "joints": list(SHORTCUT_JOINTS),
                             "frames": [0, sc["frames"]], "share": sc["share"],
                             "other_share": sc["other_share"], "split": "train",
                             "cue": "left hand raised above the head, then lowered"}
    return extra


def sequence_total(cfg: SyntheticConfig) -> int:
    """How many sequences :func:`generate` makes: subjects x classes x repetitions."""
    return cfg.subjects * len(cfg.classes) * cfg.repetitions


def generate_blocks(cfg: SyntheticConfig | None = None, block: int = 1024) -> Iterator[Dataset]:
    """:func:`generate` in blocks of at most ``block`` sequences, in file order (each a
    :class:`Dataset` with the same attrs): memory holds one block of poses at any N, and the
    concatenated blocks equal :func:`generate`'s arrays bit for bit.  The checks run before the
    first block is asked for."""
    cfg = cfg or SyntheticConfig()
    sc, subject_split = _setup(cfg)
    extra = _attrs(cfg, sc)
    return _blocks(cfg, sc, subject_split, extra, max(1, int(block)))


def _blocks(cfg, sc, subject_split, extra, block) -> Iterator[Dataset]:
    seqs = _sequences(cfg, sc, subject_split)
    remaining = sequence_total(cfg)
    while remaining > 0:
        n = min(block, remaining)
        remaining -= n
        # written straight into the padded block (no list of sequences to stack)
        x = np.zeros((n, cfg.max_frames, 25, 3), np.float32)
        length = np.zeros(n, np.int32)
        label = np.zeros(n, np.int32)
        subject = np.zeros(n, np.int32)
        cue = np.zeros(n, np.int8)
        ids = []
        for i in range(n):
            X, ci, subj, carries, sid = next(seqs)
            x[i, :len(X)] = X
            length[i], label[i], subject[i], cue[i] = len(X), ci, subj, carries
            ids.append(sid)
        yield Dataset(x=x, length=length, label=label, subject=subject, split=subject_split[subject - 1],
                      sample_id=np.array(ids), classes=list(cfg.classes), topology="kinect_v2",
                      name="synthetic", fps=cfg.fps, extra_attrs=dict(extra),
                      extra_arrays={"shortcut_cue": cue} if sc is not None else {})


def generate(cfg: SyntheticConfig | None = None) -> Dataset:
    """Generate the dataset (deterministic under ``cfg.seed``); coordinates in camera space.

    Returns a :class:`Dataset` with raw (un-normalised) x (N, T, 25, 3), subject-wise splits,
    ``class_joints`` and (when on) ``shortcut`` in ``extra_attrs`` and ``shortcut_cue`` (N,) int8
    in ``extra_arrays``.  :func:`generate_blocks` makes the same data a block at a time.
    """
    cfg = cfg or SyntheticConfig()
    sc, subject_split = _setup(cfg)
    x = np.zeros((sequence_total(cfg), cfg.max_frames, 25, 3), np.float32)   # one copy of x at any N
    meta = {k: [] for k in ("length", "label", "subject", "sample_id", "shortcut_cue")}
    start = 0
    for b in _blocks(cfg, sc, subject_split, {}, 1024):
        x[start:start + len(b.x)] = b.x
        start += len(b.x)
        for k, parts in meta.items():
            parts.append(b.extra_arrays.get(k, np.zeros(0, np.int8)) if k == "shortcut_cue" else getattr(b, k))
    cat = {k: np.concatenate(v) if v else np.zeros(0, np.int32) for k, v in meta.items()}
    return Dataset(x=x, length=cat["length"], label=cat["label"], subject=cat["subject"],
                   split=subject_split[cat["subject"] - 1], sample_id=cat["sample_id"].astype(str),
                   classes=list(cfg.classes), topology="kinect_v2", name="synthetic", fps=cfg.fps,
                   extra_attrs=_attrs(cfg, sc),
                   extra_arrays={"shortcut_cue": cat["shortcut_cue"].astype(np.int8)} if sc is not None else {})
