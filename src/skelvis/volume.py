"""Volume constraints (the future work of Patil et al. after Eq. 14): body parts as capsules.

"Volume constraints to prevent body parts from passing inside each other": every limb segment is
a capsule, the set of points within radius r of a segment between two joints.  Two capsules do
not interpenetrate when the distance between their segments is at least the sum of their radii:

    g_ij(x) = dist(seg_i, seg_j) - (r_i + r_j) * ell >= 0,

with ``ell`` the subject's trunk length (spine base -> spine mid -> spine shoulder, summed over
those bones: the bone lengths of Eq. 10), so the radii scale with the body.  The radii
(:data:`CAPSULE_RADIUS`, shares of ``ell``) are thinner than flesh, because Kinect joints sit
inside the body and real recordings of hands on the belly or knees together must stay feasible;
they are the body's *core* volumes.

Capsules: torso (two spine segments), head (spine shoulder -> head), upper arm, forearm, hand,
thigh, shin, foot on each side.  Pairs: every two capsules whose nearest end joints are at least
two bones apart in the skeleton (adjacent segments, and segments joined by one bone such as the
thigh and the lower spine at the hip, touch by construction and are left out).

:func:`segment_distance` gives the distance between segments p1-q1 and p2-q2 (closest points by
the clamped parameters of Ericson, *Real-Time Collision Detection*, §5.1.9) and its analytic
gradient: with closest points ``c1 = p1 + s (q1 - p1)``, ``c2 = p2 + t (q2 - p2)`` and unit
``n = (c1 - c2) / |c1 - c2|``, by the envelope theorem (the parameters minimise the distance over
the fixed square [0, 1]^2) d/dp1 = (1 - s) n, d/dq1 = s n, d/dp2 = -(1 - t) n, d/dq2 = -t n.
All functions take numpy arrays or torch tensors with any leading batch shape.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from .topology import Topology

__all__ = ["CAPSULE_RADIUS", "Capsule", "capsule_pairs", "capsules", "segment_distance", "trunk_joints"]

#: Capsule radius per limb group, as a share of the trunk length ``ell`` (about 0.5 m in adults:
#: torso and head 5 cm, upper arm and thigh 2 cm, shin and foot 1.5 cm, forearm 1.25 cm, hand
#: 0.5 cm around the joints' line).  Chosen from the real recordings of ``../shared/data``: each
#: pair's sum of radii lies below the 2nd percentile of its segment distance over the frames of
#: MSR Action3D and the NTU files, except thigh-thigh on MSR (Kinect v1 knees) and hand-hand,
#: forearm-hand and shin-shin on NTU (clapping, crossed legs).  Frames free of interpenetration:
#: MSR Action3D 96%, the NTU files 85.5%; the rest are reported and repaired like any start.
CAPSULE_RADIUS: dict[str, float] = {"torso": 0.10, "head": 0.10, "upper_arm": 0.04, "forearm": 0.025,
                                    "hand": 0.01, "thigh": 0.04, "shin": 0.03, "foot": 0.03}

_SEGMENTS = (  # (group, joint a, joint b) on angle_joints names, or topology joint names
    ("torso", "spine_base", "spine_mid"), ("torso", "spine_mid", "spine_shoulder"),
    ("head", "spine_shoulder", "head"),
    ("upper_arm", "left_shoulder", "left_elbow"), ("forearm", "left_elbow", "left_wrist"),
    ("hand", "left_wrist", "left_hand"),
    ("upper_arm", "right_shoulder", "right_elbow"), ("forearm", "right_elbow", "right_wrist"),
    ("hand", "right_wrist", "right_hand"),
    ("thigh", "left_hip", "left_knee"), ("shin", "left_knee", "left_ankle"), ("foot", "left_ankle", "left_foot"),
    ("thigh", "right_hip", "right_knee"), ("shin", "right_knee", "right_ankle"),
    ("foot", "right_ankle", "right_foot"),
)


@dataclass(frozen=True)
class Capsule:
    """The points within ``radius * ell`` of the segment from joint ``a`` to joint ``b``."""

    name: str
    group: str
    a: int
    b: int
    radius: float


def _joint(topology: Topology, name: str) -> int:
    return topology.angle_joints[name] if name in topology.angle_joints else topology.index(name)


def trunk_joints(topology: Topology) -> tuple[int, int, int]:
    """(spine base, spine mid, spine shoulder): the path whose length is ``ell``."""
    aj = topology.angle_joints
    return aj["spine_base"], aj["spine_mid"], aj["spine_shoulder"]


def capsules(topology: Topology) -> tuple[Capsule, ...]:
    """The capsules of a skeleton topology (Kinect v2 and both 20-joint layouts)."""
    out = []
    for group, a, b in _SEGMENTS:
        name = f"{a}-{b}" if group in ("torso", "head") else f"{a.split('_')[0]}_{group}"
        out.append(Capsule(name, group, _joint(topology, a), _joint(topology, b), CAPSULE_RADIUS[group]))
    return tuple(out)


def _hops(topology: Topology) -> np.ndarray:
    """(J, J) number of bones between two joints (breadth-first search on the bones)."""
    J = topology.num_joints
    adj: dict[int, list[int]] = {j: [] for j in range(J)}
    for a, b in topology.bones:
        adj[a].append(b)
        adj[b].append(a)
    out = np.full((J, J), J, int)
    for s in range(J):
        out[s, s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for v in adj[u]:
                if out[s, v] > out[s, u] + 1:
                    out[s, v] = out[s, u] + 1
                    queue.append(v)
    return out


def capsule_pairs(topology: Topology, caps: tuple[Capsule, ...]) -> np.ndarray:
    """(P, 2) indices into ``caps`` of the pairs that may not interpenetrate: nearest end joints
    at least two bones apart."""
    hops = _hops(topology)
    pairs = [(i, j) for i in range(len(caps)) for j in range(i + 1, len(caps))
             if min(hops[u, v] for u in (caps[i].a, caps[i].b) for v in (caps[j].a, caps[j].b)) >= 2]
    return np.asarray(pairs, int).reshape(-1, 2)


def _xp(x):
    return torch if isinstance(x, torch.Tensor) else np


def segment_distance(p1, q1, p2, q2, grad: bool = False):
    """Distance (...,) between segments p1-q1 and p2-q2 (each (..., 3)); with ``grad`` also its
    gradients (4 of shape (..., 3)) with respect to p1, q1, p2, q2 (see the module docstring).
    Segments of zero length are points; a zero distance gets the gradient 0 (no direction)."""
    xp = _xp(p1)
    where = torch.where if xp is torch else np.where
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a = (d1 * d1).sum(-1)
    e = (d2 * d2).sum(-1)
    f = (d2 * r).sum(-1)
    c = (d1 * r).sum(-1)
    b = (d1 * d2).sum(-1)
    tiny = 1e-18
    denom = a * e - b * b
    a_ = where(a > tiny, a, a * 0 + 1)
    e_ = where(e > tiny, e, e * 0 + 1)
    # s on the infinite lines (0 when parallel), clamped; then t for that s; re-clamp s when t clamps
    s = where(denom > tiny * (a * e + tiny), ((b * f - c * e) / where(denom > 0, denom, denom * 0 + 1)).clip(0, 1),
              a * 0)
    t = (b * s + f) / e_
    s = where(t < 0, (-c / a_).clip(0, 1), where(t > 1, ((b - c) / a_).clip(0, 1), s))
    t = t.clip(0, 1)
    s = where(a > tiny, s, a * 0)
    t = where(e > tiny, t, e * 0)
    w = (p1 + s[..., None] * d1) - (p2 + t[..., None] * d2)
    dist = ((w * w).sum(-1)) ** 0.5
    if not grad:
        return dist
    n = w / where(dist > 0, dist, dist * 0 + 1)[..., None]
    s_, t_ = s[..., None], t[..., None]
    return dist, ((1 - s_) * n, s_ * n, -(1 - t_) * n, -t_ * n)
