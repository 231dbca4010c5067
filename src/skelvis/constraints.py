"""Anatomical constraints on skeleton poses and the projection onto them (Patil et al., §3.2, Eq. 8-14).

A :class:`ConstraintSet` holds, per topology (built from ``Topology.angle_joints``):

* **bone lengths** (Eq. 9-10): every bone keeps the length it has on average over the input
  sequence; written as the equality ``|x_a - x_b| / L - 1 = 0`` (relative, scale free);
* **three-joint angle limits** (Eq. 11): the angle at joint B between the bones to A and C lies
  in ``[lo, hi]`` degrees: spine mid (between spine base and spine shoulder) [160, 180], spine
  shoulder (between the shoulders) [110, 180], spine base (between the hips) [100, 180], each
  wrist (between elbow and hand) [90, 180] (the paper's limits, for Kinect v2).  The 20-joint
  layouts (Kinect v1, MSR Action3D) use hip centre / spine / shoulder centre for spine base / spine
  mid / spine shoulder, joints that sit elsewhere on the body, so they get limits derived from their
  own geometry (:func:`layout_angle_limits`);
* **a four-joint limit** (Eq. 12-13): the normal ``n = (r_hip - s_base) x (l_hip - s_base)`` of
  the plane through right hip, spine base and left hip makes an angle in [0, 90] degrees with
  ``s_mid - s_base`` (the trunk does not fold backwards through the hip plane);
* optional, beyond the paper: a **floor** (feet and ankles not below the lowest foot/ankle height
  of the input, along the body-frame y axis) and a bound on joint **acceleration** between frames,
  met exactly as a constraint across neighbouring frames (see :func:`project_sequence`);
* the ``plausible`` set (:data:`CONSTRAINT_SETS`, the paper's future work): the floor, **support**
  (in every frame the lowest foot/ankle is within ``support_tolerance * ell`` of the floor,
  ``ell`` the trunk length: ``g = floor + tol * ell - min_k y_k >= 0``) and **volume** (capsules
  around the limbs do not interpenetrate, :mod:`skelvis.volume`), plus the acceleration bound.

Inequalities are written ``g(x) >= 0``, angles in radians (``theta - lo >= 0``), floor, support
and volume rows in coordinate units,
smooth wherever the bones have non-zero length and the angle is not 0 or 180 degrees.
Jacobians are analytic.  All functions take an array namespace: numpy arrays or torch tensors with
any leading batch shape ``(..., J, 3)``.

:func:`project` solves Eq. 14 for a whole batch of frames at once: the pose closest (Euclidean,
over all joints) to ``x + d`` that satisfies C, by a batched active-set Gauss-Newton (SQP)
iteration: each step linearises the equalities and the active inequalities and applies the
minimum-norm correction ``delta = -r - J^T (J J^T)^{-1} (c - J r)`` (``r`` = current minus target),
solving one small (m x m) system per frame (Cholesky).  On the CPU (numpy arrays and CPU tensors)
every frame's whole iteration runs in compiled code (:mod:`skelvis.projection_kernel`, numba);
tensors on an accelerator take the same algorithm in torch, batched over frames (``backend`` of
:func:`project`).  An inequality is active
while it is violated or while its multiplier still pushes (KKT sign), so the result is the
projection, not just any feasible point.  Limits are targeted with a small inner margin
(``margin_deg``) so that converged poses meet them strictly; feasibility is reported as the
relative bone-length error and the angle violation in degrees.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import minimize

from . import projection_kernel as K
from . import volume as V
from .topology import Topology

__all__ = [
    "CONSTRAINT_SETS",
    "DEFAULT_ANGLE_LIMITS",
    "LAYOUT_GEOMETRY",
    "MIRRORED_LAYOUTS",
    "REST_ANGLES_DEG",
    "AngleLimit",
    "ConstraintSet",
    "PlaneLimit",
    "ProjectionResult",
    "acceleration",
    "angle_violation_deg",
    "bone_length_error",
    "bone_lengths",
    "constraint_blocks",
    "constraint_set",
    "describe_violations",
    "equality_residuals",
    "floor_height",
    "inequality_residuals",
    "interpenetration",
    "jacobians",
    "joint_angles",
    "layout_angle_limits",
    "mean_bone_lengths",
    "plane_angles",
    "project",
    "project_sequence",
    "project_slsqp",
    "row_joints",
    "support_violation",
    "trunk_length",
    "violation_tolerances",
]

#: (name, joint A, joint B (vertex), joint C, lo, hi) in degrees, on angle_joints names (Eq. 11).
DEFAULT_ANGLE_LIMITS: tuple[tuple[str, str, str, str, float, float], ...] = (
    ("spine_mid", "spine_base", "spine_mid", "spine_shoulder", 160.0, 180.0),
    ("spine_shoulder", "left_shoulder", "spine_shoulder", "right_shoulder", 110.0, 180.0),
    ("spine_base", "left_hip", "spine_base", "right_hip", 100.0, 180.0),
    ("left_wrist", "left_elbow", "left_wrist", "left_hand", 90.0, 180.0),
    ("right_wrist", "right_elbow", "right_wrist", "right_hand", 90.0, 180.0),
)


#: Median angle (degrees) of each limit of :data:`DEFAULT_ANGLE_LIMITS` over real recordings: the
#: layout's rest geometry.  ``kinect_v2``: the ten NTU RGB+D files of ``../shared/data`` (965 frames
#: of the main actor); ``kinect_v1``: all 567 MSR Action3D files (22,365 non-empty frames).  The
#: realdata test ``tests/test_constraints.py::test_rest_angles_are_the_real_medians`` recomputes them.
REST_ANGLES_DEG: dict[str, dict[str, float]] = {
    "kinect_v2": {"spine_mid": 178.1, "spine_shoulder": 148.2, "spine_base": 126.6,
                  "left_wrist": 157.9, "right_wrist": 158.1},
    "kinect_v1": {"spine_mid": 132.9, "spine_shoulder": 112.5, "spine_base": 111.4,
                  "left_wrist": 158.1, "right_wrist": 159.7},
}

#: Topology -> the sensor skeleton whose rest geometry it has (both 20-joint orders are Kinect v1).
LAYOUT_GEOMETRY: dict[str, str] = {"kinect_v2": "kinect_v2", "kinect_v1": "kinect_v1", "msr_action3d": "kinect_v1"}

#: Layouts whose files are mirror images of the Kinect camera frame: in MSR Action3D the body's
#: (left shoulder - right shoulder) x (spine up) points away from the camera (+z, median +0.31 m^2)
#: where in the NTU files it points toward it (-z, median -0.22 m^2), so every cross product, and
#: with it the hip-plane normal of Eq. 12, points the other way (plane angle median 171 deg there,
#: 13 deg on NTU).  Their hip plane is taken as (left hip, base, right hip), the same normal in
#: body terms.  Kinect SDK 1.x files in camera order (``kinect_v1``) are right-handed like v2's.
MIRRORED_LAYOUTS: frozenset[str] = frozenset({"msr_action3d"})


def layout_angle_limits(topology: Topology) -> dict[str, tuple[float, float]]:
    """Lower/upper limits {name: (lo, hi)} in degrees of Eq. 11 for ``topology``'s geometry.

    Kinect v2 keeps the paper's limits (:data:`DEFAULT_ANGLE_LIMITS`).  A 20-joint (Kinect v1)
    layout names different body points (hip centre below the hips, a spine joint well behind the
    line from hip centre to shoulder centre, a shoulder centre at the neck, above the shoulder
    line), so the same posture gives other angles: upright, the spine angle is 133 deg, not 178.
    Each limit keeps the paper's *allowance from rest*: ``lo = lo_v2 - (rest_v2 - rest_layout)``,
    with the rest angles of :data:`REST_ANGLES_DEG`, rounded down to a whole degree (the upper
    limit stays 180).  On MSR Action3D this gives spine 114, shoulder centre 74, hip centre 84,
    wrists 90 and 91 deg, met by 97%, 100%, 93%, 100% and 100% of the real frames (NTU meets the
    paper's: 91-100%).
    """
    layout = LAYOUT_GEOMETRY.get(topology.name, "kinect_v2")
    if layout == "kinect_v2":
        return {name: (lo, hi) for name, *_j, lo, hi in DEFAULT_ANGLE_LIMITS}
    rest_v2, rest = REST_ANGLES_DEG["kinect_v2"], REST_ANGLES_DEG[layout]
    return {name: (float(max(0.0, math.floor(lo - (rest_v2[name] - rest[name])))), hi)
            for name, *_j, lo, hi in DEFAULT_ANGLE_LIMITS}


@dataclass(frozen=True)
class AngleLimit:
    """The angle at joint ``b`` between bones b->a and b->c lies in [lo_deg, hi_deg] (Eq. 11)."""

    name: str
    a: int
    b: int
    c: int
    lo_deg: float
    hi_deg: float = 180.0


@dataclass(frozen=True)
class PlaneLimit:
    """The normal of plane (right, base, left), n = (right-base) x (left-base), makes an angle in
    [0, hi_deg] with base->toward (Eq. 12-13).  ``right``/``left`` are the order of the cross
    product: a mirrored layout (:data:`MIRRORED_LAYOUTS`) passes the left hip as ``right``."""

    name: str
    right: int
    base: int
    left: int
    toward: int
    hi_deg: float = 90.0


#: Named constraint sets: keyword arguments of :func:`constraint_set`.  ``paper``: Eq. 9-13 as the
#: paper has them (the default, Figs. 2 and 5); ``plausible``: also the floor, support and volume
#: constraints (the maximisation adds the exact acceleration bound across frames).
CONSTRAINT_SETS: dict[str, dict[str, bool]] = {
    "paper": {},
    "plausible": {"floor": True, "support": True, "volume": True},
}


@dataclass
class ConstraintSet:
    """The constraint set C of one topology. ``floor_joints`` is empty unless the floor is on,
    ``support_joints`` unless the support constraint is, ``capsules``/``capsule_pairs`` unless the
    volume constraint is.  ``trunk`` are the rows of ``bones`` whose summed length is ``ell``."""

    topology: Topology
    bones: np.ndarray                      # (nb, 2) int
    angles: list[AngleLimit] = field(default_factory=list)
    planes: list[PlaneLimit] = field(default_factory=list)
    floor_joints: tuple[int, ...] = ()
    up_axis: int = 1
    support_joints: tuple[int, ...] = ()
    support_tolerance: float = 0.2
    capsules: tuple[V.Capsule, ...] = ()
    capsule_pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), int))
    trunk: tuple[int, ...] = ()

    @property
    def num_inequalities(self) -> int:
        """Rows of :func:`inequality_residuals`: angle lower, angle upper (<180 only), plane, floor,
        support, volume (one per capsule pair)."""
        return len(self.inequality_kinds())

    def inequality_names(self) -> list[str]:
        names = []
        for al in self.angles:
            names.append(f"{al.name} >= {al.lo_deg:g} deg")
        for al in self.angles:
            if al.hi_deg < 180.0:
                names.append(f"{al.name} <= {al.hi_deg:g} deg")
        for pl in self.planes:
            names.append(f"{pl.name} <= {pl.hi_deg:g} deg")
        for j in self.floor_joints:
            names.append(f"floor {self.topology.joints[j]}")
        if self.support_joints:
            names.append(f"support (a foot within {self.support_tolerance:g} trunk lengths of the floor)")
        for i, j in self.capsule_pairs:
            names.append(f"volume {self.capsules[i].name} | {self.capsules[j].name}")
        return names

    def inequality_kinds(self) -> np.ndarray:
        """(ni,) str: 'angle' (three-joint and plane rows, radians), 'floor', 'support', 'volume'
        (coordinate units).  Cached (a read-only array)."""
        cache = self.__dict__.setdefault("_cache", {})
        if "_kinds" not in cache:
            kinds = self._inequality_kinds()
            kinds.flags.writeable = False
            cache["_kinds"] = kinds
        return cache["_kinds"]

    def _inequality_kinds(self) -> np.ndarray:
        n_ang = len(self.angles) + sum(al.hi_deg < 180.0 for al in self.angles) + len(self.planes)
        return np.array(["angle"] * n_ang + ["floor"] * len(self.floor_joints)
                        + ["support"] * bool(self.support_joints) + ["volume"] * len(self.capsule_pairs), dtype=object)

    def with_pairs(self, keep) -> ConstraintSet:
        """The same set with only the capsule pairs ``keep`` (indices into ``capsule_pairs``): the
        active set of the volume constraint.  Cached per subset."""
        keep = tuple(int(k) for k in keep)
        cache = self.__dict__.setdefault("_cache", {})
        key = ("pairs", keep)
        if key not in cache:
            sub = ConstraintSet(self.topology, self.bones, self.angles, self.planes, self.floor_joints,
                                self.up_axis, self.support_joints, self.support_tolerance, self.capsules,
                                self.capsule_pairs[list(keep)].reshape(-1, 2), self.trunk)
            cache[key] = sub
        return cache[key]

    @property
    def is_empty(self) -> bool:
        return len(self.bones) == 0


def constraint_set(topology: Topology, floor: bool = False,
                   angle_limits: dict[str, Sequence[float]] | None = None,
                   plane: bool = True, support: bool = False, volume: bool = False,
                   support_tolerance: float = 0.2) -> ConstraintSet:
    """The constraint set of ``topology``; channel data (no bones) gets an empty set.

    The angle limits are the layout's (:func:`layout_angle_limits`: the paper's for Kinect v2);
    angle_limits: optional overrides ``{name: [lo, hi]}`` for the names of
    :data:`DEFAULT_ANGLE_LIMITS`; floor: add the floor constraint on feet and ankles; support:
    at least one of them within ``support_tolerance`` trunk lengths of the floor in every frame;
    volume: the capsules of :mod:`skelvis.volume` may not interpenetrate.
    """
    if not topology.is_skeleton:
        return ConstraintSet(topology=topology, bones=np.zeros((0, 2), int))
    aj = topology.angle_joints
    overrides = dict(angle_limits or {})
    unknown = set(overrides) - {n for n, *_ in DEFAULT_ANGLE_LIMITS}
    if unknown:
        raise KeyError(f"unknown angle limit(s) {sorted(unknown)}; known: {[n for n, *_ in DEFAULT_ANGLE_LIMITS]}")
    angles = []
    layout = layout_angle_limits(topology)
    for name, a, b, c, _lo, _hi in DEFAULT_ANGLE_LIMITS:
        lo, hi = overrides.get(name, layout[name])
        if not 0.0 <= lo < hi <= 180.0:
            raise ValueError(f"angle limit {name}: need 0 <= lo < hi <= 180, got [{lo}, {hi}]")
        angles.append(AngleLimit(name, aj[a], aj[b], aj[c], float(lo), float(hi)))
    right, left = aj["right_hip"], aj["left_hip"]
    if topology.name in MIRRORED_LAYOUTS:
        right, left = left, right
    planes = [PlaneLimit("hip_plane", right, aj["spine_base"], left, aj["spine_mid"])] if plane else []
    floor_joints = tuple(aj[k] for k in ("left_foot", "right_foot", "left_ankle", "right_ankle")) if floor else ()
    if support_tolerance < 0:
        raise ValueError(f"support_tolerance must be >= 0, got {support_tolerance}")
    bones = np.asarray(topology.bones, int).reshape(-1, 2)
    b, m, t = V.trunk_joints(topology)
    trunk = tuple(int(np.flatnonzero((np.sort(bones, 1) == sorted(e)).all(1))[0]) for e in ((b, m), (m, t)))
    feet = tuple(aj[k] for k in ("left_foot", "right_foot", "left_ankle", "right_ankle"))
    caps = V.capsules(topology) if volume else ()
    return ConstraintSet(topology=topology, bones=bones, angles=angles, planes=planes, floor_joints=floor_joints,
                         support_joints=feet if support else (), support_tolerance=float(support_tolerance),
                         capsules=caps, capsule_pairs=V.capsule_pairs(topology, caps) if volume
                         else np.zeros((0, 2), int), trunk=trunk)


# ----------------------------------------------------------------------------------- geometry

def _xp(x):
    return torch if isinstance(x, torch.Tensor) else np


def _dot(u, v):
    return (u * v).sum(-1)


_RIDGE = K.RIDGE  # added to the diagonal of D D^T (the compiled path's too)
_EPS2 = K.EPS2  # squared-length floor: a degenerate bone or plane gives cos 0 (90 deg), not 0/0


def _norm(u):
    """|u| with a tiny floor, so that cosines and their gradients stay finite for a zero-length
    vector (a plane normal when hips and spine base are collinear)."""
    return (_dot(u, u) + _EPS2) ** 0.5


def _cross(u, v):
    xp = _xp(u)
    return xp.stack([u[..., 1] * v[..., 2] - u[..., 2] * v[..., 1],
                     u[..., 2] * v[..., 0] - u[..., 0] * v[..., 2],
                     u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]], -1)


def bone_lengths(x, bones) -> np.ndarray:
    """Bone lengths (..., nb) of poses x (..., J, 3)."""
    bones = np.asarray(bones).reshape(-1, 2)
    return _norm(x[..., bones[:, 1], :] - x[..., bones[:, 0], :])


def mean_bone_lengths(seq, length: int | None = None, bones=None) -> np.ndarray:
    """Mean bone lengths (nb,) over the first ``length`` frames of one sequence (T, J, 3) (Eq. 10)."""
    n = len(seq) if length is None else int(length)
    return bone_lengths(seq[:n], bones).mean(0)


def _cos_angle(x, al_a, al_b, al_c):
    u = x[..., al_a, :] - x[..., al_b, :]
    v = x[..., al_c, :] - x[..., al_b, :]
    return _dot(u, v) / (_norm(u) * _norm(v))


def joint_angles(x, cs: ConstraintSet):
    """Three-joint angles (..., na) in degrees, in the order of ``cs.angles``."""
    xp = _xp(x)
    if not cs.angles:
        return x[..., :0, 0]
    idx = np.array([(al.a, al.b, al.c) for al in cs.angles])
    c = _cos_angle(x, idx[:, 0], idx[:, 1], idx[:, 2])
    return xp.rad2deg(xp.arccos(xp.clip(c, -1.0, 1.0)))


def _plane_cos(x, pl_r, pl_s, pl_l, pl_m):
    s = x[..., pl_s, :]
    n = _cross(x[..., pl_r, :] - s, x[..., pl_l, :] - s)
    w = x[..., pl_m, :] - s
    return _dot(n, w) / (_norm(n) * _norm(w))


def plane_angles(x, cs: ConstraintSet):
    """Four-joint angles (..., np) in degrees between the hip-plane normal and the spine (Eq. 12)."""
    xp = _xp(x)
    if not cs.planes:
        return x[..., :0, 0]
    idx = np.array([(p.right, p.base, p.left, p.toward) for p in cs.planes])
    c = _plane_cos(x, idx[:, 0], idx[:, 1], idx[:, 2], idx[:, 3])
    return xp.rad2deg(xp.arccos(xp.clip(c, -1.0, 1.0)))


def floor_height(seq, cs: ConstraintSet, length: int | None = None) -> float:
    """Lowest foot/ankle height (up axis) over a sequence (T, J, 3): the floor of the floor constraint."""
    n = len(seq) if length is None else int(length)
    aj = cs.topology.angle_joints
    joints = [aj[k] for k in ("left_foot", "right_foot", "left_ankle", "right_ankle")]
    return float(seq[:n, joints, cs.up_axis].min())


def trunk_length(x, cs: ConstraintSet, target_length=None):
    """``ell`` (...,): the summed length of the trunk bones (spine base -> mid -> shoulder), from
    ``target_length`` (..., nb) when given, else from the poses x (..., J, 3)."""
    t = list(cs.trunk)
    if target_length is not None:
        return target_length[..., t].sum(-1)
    return bone_lengths(x, cs.bones[t]).sum(-1)


def _capsule_terms(x, cs: ConstraintSet, target_length, jac: bool):
    """Volume rows g = dist - (r_i + r_j) ell (..., P) and their blocks (..., P, 4, 3)."""
    xp = _xp(x)
    idx = np.array([(cs.capsules[i].a, cs.capsules[i].b, cs.capsules[j].a, cs.capsules[j].b)
                    for i, j in cs.capsule_pairs]).reshape(-1, 4)
    rad = np.array([cs.capsules[i].radius + cs.capsules[j].radius for i, j in cs.capsule_pairs])
    rad = rad if xp is np else torch.tensor(rad, dtype=x.dtype, device=x.device)
    ell = trunk_length(x, cs, target_length)
    out = V.segment_distance(x[..., idx[:, 0], :], x[..., idx[:, 1], :], x[..., idx[:, 2], :],
                             x[..., idx[:, 3], :], grad=jac)
    dist, grads = out if jac else (out, None)
    g = dist - rad * ell[..., None]
    return g, (xp.stack(list(grads), -2) if jac else None)


def _support_terms(x, cs: ConstraintSet, floor_y, target_length, jac: bool):
    """Support row g = floor + tol * ell - min_k y_k (..., 1) and its block (..., 1, 4, 3): the
    gradient sits on the lowest foot/ankle joint."""
    xp = _xp(x)
    if floor_y is None:
        raise ValueError("the constraint set has a support constraint: pass floor_y")
    fj = list(cs.support_joints)
    h = x[..., fj, cs.up_axis]                                     # (..., 4)
    low = h.min(-1) if xp is np else h.amin(-1)
    fy = floor_y
    g = fy + cs.support_tolerance * trunk_length(x, cs, target_length) - low
    if not jac:
        return g[..., None], None
    arg = h.argmin(-1)
    onehot = (np.arange(len(fj)) == arg[..., None]) if xp is np else (
        torch.arange(len(fj), device=x.device) == arg[..., None])
    e = np.eye(3)[cs.up_axis]
    e = e if xp is np else torch.tensor(e, dtype=x.dtype, device=x.device)
    blk = -(onehot[..., None] * e)                                 # (..., 4, 3)
    return g[..., None], blk[..., None, :, :] * 1.0


def support_violation(x, cs: ConstraintSet, floor_y, target_length=None):
    """How far the lowest foot/ankle is above ``floor + tol * ell`` (...,), 0 when supported."""
    g = _support_terms(x, cs, floor_y, target_length, False)[0][..., 0]
    return g.clip(max=0) * -1 if _xp(x) is torch else np.clip(-g, 0, None)


def interpenetration(x, cs: ConstraintSet, target_length=None):
    """Deepest interpenetration of two capsules (...,) in coordinate units (0 when none)."""
    if not len(cs.capsule_pairs):
        return x[..., 0, 0] * 0
    g = _capsule_terms(x, cs, target_length, False)[0]
    return (-g).clip(min=0).amax(-1) if _xp(x) is torch else np.clip(-g, 0, None).max(-1)


def bone_length_error(x, cs: ConstraintSet, target_length):
    """Relative bone-length error |len/L - 1| (..., nb)."""
    return abs(bone_lengths(x, cs.bones) / target_length - 1.0)


def angle_violation_deg(x, cs: ConstraintSet, floor_y=None):
    """Violation per inequality (..., ni), in degrees for angles and the plane (0 where met);
    the floor rows are in coordinate units (how far below the floor), so are the support row (how
    far the lowest foot floats above the tolerance) and the volume rows (interpenetration depth)."""
    xp = _xp(x)
    parts = []
    if cs.angles:
        ang = joint_angles(x, cs)
        lo = xp.asarray([al.lo_deg for al in cs.angles]) if xp is np else torch.tensor(
            [al.lo_deg for al in cs.angles], dtype=x.dtype, device=x.device)
        parts.append((lo - ang).clip(min=0) if xp is torch else np.clip(lo - ang, 0, None))
        hi_idx = [i for i, al in enumerate(cs.angles) if al.hi_deg < 180.0]
        if hi_idx:
            hi = np.array([cs.angles[i].hi_deg for i in hi_idx])
            d = ang[..., hi_idx] - (torch.tensor(hi, dtype=x.dtype, device=x.device) if xp is torch else hi)
            parts.append(d.clip(min=0) if xp is torch else np.clip(d, 0, None))
    if cs.planes:
        pa = plane_angles(x, cs)
        hi = np.array([p.hi_deg for p in cs.planes])
        d = pa - (torch.tensor(hi, dtype=x.dtype, device=x.device) if xp is torch else hi)
        parts.append(d.clip(min=0) if xp is torch else np.clip(d, 0, None))
    if cs.floor_joints:
        if floor_y is None:
            raise ValueError("the constraint set has a floor: pass floor_y")
        fy = floor_y[..., None] if hasattr(floor_y, "shape") and np.ndim(floor_y) else floor_y
        d = fy - x[..., list(cs.floor_joints), cs.up_axis]
        parts.append(d.clip(min=0) if xp is torch else np.clip(d, 0, None))
    if cs.support_joints:
        fy = floor_y if floor_y is not None else None
        d = -_support_terms(x, cs, fy, None, False)[0]
        parts.append(d.clip(min=0) if xp is torch else np.clip(d, 0, None))
    if len(cs.capsule_pairs):
        d = -_capsule_terms(x, cs, None, False)[0]
        parts.append(d.clip(min=0) if xp is torch else np.clip(d, 0, None))
    if not parts:
        return x[..., :0, 0]
    return xp.concatenate(parts, -1) if xp is np else torch.cat(parts, -1)


def violation_tolerances(cs: ConstraintSet, tol_deg: float = 0.1, tol_length: float = 1e-3) -> np.ndarray:
    """(ni,) how far each inequality may be broken before a frame counts as breaking it: ``tol_deg``
    degrees for angle and plane rows, ``tol_length`` coordinate units (1e-3 spine lengths, about
    half a millimetre, in normalised data) for the floor, support and volume rows."""
    return np.where(cs.inequality_kinds() == "angle", tol_deg, tol_length).astype(float)


def describe_violations(x: np.ndarray, cs: ConstraintSet, floor_y=None, tol_deg: float = 0.1,
                        tol_length: float = 1e-3) -> list[str]:
    """One line per frame of ``x`` (T, J, 3) that breaks an inequality by more than its tolerance
    (:func:`violation_tolerances`); angles in degrees, the other rows in coordinate units."""
    viol = np.asarray(angle_violation_deg(np.asarray(x, np.float64), cs, floor_y))
    tol = violation_tolerances(cs, tol_deg, tol_length)
    names = cs.inequality_names()
    lines = []
    for t in np.flatnonzero((viol > tol).any(-1)):
        bad = [f"{names[k]} by {viol[t, k]:.2f}" if cs.inequality_kinds()[k] == "angle"
               else f"{names[k]} by {viol[t, k]:.3g}" for k in np.flatnonzero(viol[t] > tol)]
        lines.append(f"frame {t}: " + ", ".join(bad))
    return lines


# ------------------------------------------------------------------- residuals and Jacobians
#
# Every constraint row k depends on at most four joints idx[k, 0..3]; its Jacobian is stored as
# four 3-vectors ("blocks", d c_k / d x_{idx[k, s]}).  The projection works on blocks only, so the
# cost per frame is O(rows) instead of O(rows x 3J); dense Jacobians are built from the same
# blocks (one implementation of the derivatives).

def row_joints(cs: ConstraintSet) -> tuple[np.ndarray, np.ndarray]:
    """Joint indices (m, 4) of every row (bones, then inequalities) and which slots are used."""
    key = "_row_joints"
    cache = cs.__dict__.setdefault("_cache", {})
    if key in cache:
        return cache[key]
    rows = [(int(a), int(b)) for a, b in cs.bones]
    rows += [(al.a, al.b, al.c) for al in cs.angles]
    rows += [(al.a, al.b, al.c) for al in cs.angles if al.hi_deg < 180.0]
    rows += [(p.right, p.base, p.left, p.toward) for p in cs.planes]
    rows += [(j,) for j in cs.floor_joints]
    if cs.support_joints:
        rows.append(tuple(cs.support_joints))
    rows += [(cs.capsules[i].a, cs.capsules[i].b, cs.capsules[j].a, cs.capsules[j].b) for i, j in cs.capsule_pairs]
    idx = np.zeros((len(rows), 4), int)
    used = np.zeros((len(rows), 4), bool)
    for k, r in enumerate(rows):
        idx[k, :len(r)] = r
        used[k, :len(r)] = True
    cache[key] = (idx, used)
    return idx, used


def _acos_terms(c):
    """arccos(c) in radians and d arccos / dc = -1 / sin (sin clamped away from 0)."""
    xp = _xp(c)
    c = xp.clip(c, -1.0, 1.0)
    s = xp.sqrt(xp.clip(1.0 - c * c, K.SIN2, None))
    return xp.arccos(c), -1.0 / s


def constraint_blocks(x, cs: ConstraintSet, target_length=None, floor_y=None, margin_deg: float = 0.0,
                      jac: bool = True, bones: bool = True):
    """All constraint residuals c (..., m) = [h, g] and their Jacobian blocks (..., m, 4, 3).

    h (bones): |x_b - x_a| / L - 1 (Eq. 9-10). g >= 0 (inequalities, in the order of
    :meth:`ConstraintSet.inequality_names`), angles in radians: theta - (lo + m), (hi - m) - theta,
    plane (hi - m) - phi (Eq. 12-13), floor height - floor_y, support floor_y + tol * ell - lowest
    foot height, volume dist - (r_i + r_j) ell (:mod:`skelvis.volume`; ``ell`` from
    ``target_length`` when given, else from x).  ``m`` is an inner margin (degrees) the projection
    aims for.  ``bones=False`` leaves out the bone rows.
    """
    xp = _xp(x)
    batch = x.shape[:-2]
    rows, blocks = [], []
    mrad = math.radians(margin_deg)

    def const(vals):
        vals = np.asarray(vals, float)
        return vals if xp is np else torch.tensor(vals, dtype=x.dtype, device=x.device)

    def stack(parts):  # list of (..., k, 3) -> (..., k, 4, 3) padded with zeros (numpy: see _np_assemble)
        if xp is np:
            return parts
        while len(parts) < 4:
            parts.append(parts[0] * 0)
        return xp.stack(parts, -2)

    if bones and len(cs.bones):
        b = cs.bones
        u = x[..., b[:, 1], :] - x[..., b[:, 0], :]
        nu = _norm(u)
        rows.append(nu / target_length - 1.0)
        if jac:
            du = u / (nu * target_length)[..., None]
            blocks.append(stack([-du, du]))
    if cs.angles:
        idx = np.array([(al.a, al.b, al.c) for al in cs.angles])
        u = x[..., idx[:, 0], :] - x[..., idx[:, 1], :]
        v = x[..., idx[:, 2], :] - x[..., idx[:, 1], :]
        nu, nv = _norm(u), _norm(v)
        c = _dot(u, v) / (nu * nv)
        theta, dth = _acos_terms(c)
        rows.append(theta - const([math.radians(al.lo_deg) + mrad for al in cs.angles]))
        if jac:
            dA = (v / (nu * nv)[..., None] - (c / nu ** 2)[..., None] * u) * dth[..., None]
            dC = (u / (nu * nv)[..., None] - (c / nv ** 2)[..., None] * v) * dth[..., None]
            blocks.append(stack([dA, -(dA + dC), dC]))
        hi_idx = [i for i, al in enumerate(cs.angles) if al.hi_deg < 180.0]
        if hi_idx:
            rows.append(const([math.radians(cs.angles[i].hi_deg) - mrad for i in hi_idx]) - theta[..., hi_idx])
            if jac:
                dA_, dC_ = dA[..., hi_idx, :], dC[..., hi_idx, :]
                blocks.append(stack([-dA_, dA_ + dC_, -dC_]))
    if cs.planes:
        idx = np.array([(p.right, p.base, p.left, p.toward) for p in cs.planes])
        s0 = x[..., idx[:, 1], :]
        r, l, w = x[..., idx[:, 0], :] - s0, x[..., idx[:, 2], :] - s0, x[..., idx[:, 3], :] - s0
        n = _cross(r, l)
        nn_, nw = _norm(n), _norm(w)
        f = _dot(n, w) / (nn_ * nw)
        phi, dphi = _acos_terms(f)
        rows.append(const([math.radians(p.hi_deg) - mrad for p in cs.planes]) - phi)
        if jac:
            sc = -dphi[..., None]                     # d(hi - phi)/df = 1 / sin(phi)
            dn = (w / (nn_ * nw)[..., None] - (f / nn_ ** 2)[..., None] * n) * sc
            dw = (n / (nn_ * nw)[..., None] - (f / nw ** 2)[..., None] * w) * sc
            dr, dl = _cross(l, dn), _cross(dn, r)
            blocks.append(stack([dr, -(dr + dl + dw), dl, dw]))
    if cs.floor_joints:
        if floor_y is None:
            raise ValueError("the constraint set has a floor: pass floor_y")
        fj = list(cs.floor_joints)
        fy = floor_y[..., None] if np.ndim(floor_y) else floor_y
        height = x[..., fj, cs.up_axis]
        rows.append(height - fy)
        if jac:
            e = const(np.eye(3)[cs.up_axis])
            one = x[..., fj, :] * 0 + e
            blocks.append(stack([one]))
    if cs.support_joints:
        g, blk = _support_terms(x, cs, floor_y, target_length, jac)
        rows.append(g)
        if jac:
            blocks.append(blk)
    if len(cs.capsule_pairs):
        g, blk = _capsule_terms(x, cs, target_length, jac)
        rows.append(g)
        if jac:
            blocks.append(blk)
    if not rows:
        c = x[..., :0, 0]
        return c, (x[..., :0, :1, :].reshape(batch + (0, 1, 3))[..., :0, :] if jac else None)
    if xp is np:
        return _np_assemble(rows, blocks if jac else None, batch)
    c = torch.cat(rows, -1)
    return (c, torch.cat(blocks, -3)) if jac else (c, None)


def _np_assemble(rows, blocks, batch):
    """numpy: the residuals (..., m) and blocks (..., m, 4, 3) of :func:`constraint_blocks`, each
    part written into one frame-last buffer ((m, ...) and (m, 4, 3, ...), returned as views with
    the frame axes first): no stacking and concatenation of frame-first copies.  ``blocks``: per
    entry of ``rows`` a list of slot parts (..., k, 3) or an array (..., k, s, 3)."""
    n = len(batch)
    fr = tuple(range(n))
    sizes = [r.shape[-1] for r in rows]
    m = sum(sizes)
    c = np.empty((m,) + batch)
    k0 = 0
    for r, k in zip(rows, sizes):
        c[k0:k0 + k] = r.transpose((n,) + fr)
        k0 += k
    c = c.transpose(tuple(range(1, n + 1)) + (0,))
    if blocks is None:
        return c, None
    D = np.zeros((m, 4, 3) + batch)
    k0 = 0
    for parts, k in zip(blocks, sizes):
        if not isinstance(parts, list):
            parts = [parts[..., s, :] for s in range(parts.shape[-2])]
        for s, part in enumerate(parts):
            D[k0:k0 + k, s] = part.transpose((n, n + 1) + fr)
        k0 += k
    return c, D.transpose(tuple(range(3, n + 3)) + (0, 1, 2))


def equality_residuals(x, cs: ConstraintSet, target_length):
    """|x_b - x_a| / L - 1 per bone (..., nb) (Eq. 9-10, relative)."""
    b = cs.bones
    return _norm(x[..., b[:, 1], :] - x[..., b[:, 0], :]) / target_length - 1.0


def inequality_residuals(x, cs: ConstraintSet, floor_y=None, margin_deg: float = 0.0):
    """g(x) >= 0 form of every inequality (..., ni) (see :func:`constraint_blocks`)."""
    return constraint_blocks(x, cs, None, floor_y, margin_deg, jac=False, bones=False)[0]


def jacobians(x, cs: ConstraintSet, target_length, floor_y=None, margin_deg: float = 0.0):
    """Residuals and dense analytic Jacobians: (h (..., nb), H (..., nb, 3J), g (..., ni), G (..., ni, 3J))."""
    xp = _xp(x)
    c, blk = constraint_blocks(x, cs, target_length, floor_y, margin_deg)
    idx, _used = row_joints(cs)
    m, J = len(idx), x.shape[-2]
    if xp is np:
        D = np.zeros(x.shape[:-2] + (m, J, 3), x.dtype)
    else:
        D = torch.zeros(x.shape[:-2] + (m, J, 3), dtype=x.dtype, device=x.device)
    ar = np.arange(m)
    for s in range(4):
        D[..., ar, idx[:, s], :] += blk[..., :, s, :]
    D = D.reshape(x.shape[:-2] + (m, J * 3))
    nb = len(cs.bones)
    return c[..., :nb], D[..., :nb, :], c[..., nb:], D[..., nb:, :]


# ------------------------------------------------------------------------------- projection

@dataclass
class ProjectionResult:
    """Projected poses and how far from feasible they ended (per frame)."""

    x: torch.Tensor                 # (B, J, 3)
    bone_error: torch.Tensor        # (B,) max relative bone-length error
    angle_violation: torch.Tensor   # (B,) max angle/plane violation in degrees (enabled limits)
    floor_violation: torch.Tensor   # (B,) how far below the floor (0 without floor)
    iterations: int
    converged: bool
    support_violation: torch.Tensor | None = None   # (B,) lowest foot above floor + tolerance
    interpenetration: torch.Tensor | None = None    # (B,) deepest capsule interpenetration


def _report(y, cs: ConstraintSet, Lt, fy, en, iterations: int, converged: bool, measured=None) -> ProjectionResult:
    """The :class:`ProjectionResult` of poses ``y`` (B, J, 3), numpy or torch: per frame the largest
    bone error and the worst violation of each kind of enabled inequality (``en`` (B, ni)); numpy
    results become float64 tensors.  ``measured``: (bone error (B,), violations (B, ni)) when the
    caller has them (the compiled path measures them in the same pass)."""
    B = y.shape[0]
    if isinstance(y, np.ndarray):
        def out(a):
            return torch.from_numpy(np.ascontiguousarray(a, np.float64))

        def amax(a):
            return a.max(-1)
        zero = np.zeros(B)
    else:
        def out(a):
            return a

        def amax(a):
            return a.amax(-1)
        zero = torch.zeros(B, dtype=y.dtype, device=y.device)
    if measured is not None:
        berr, viol = measured
    else:
        berr = amax(bone_length_error(y, cs, Lt)) if len(cs.bones) else zero
        viol = angle_violation_deg(y, cs, fy) * en
    kinds = cs.inequality_kinds()

    def worst(kind):
        cols = np.flatnonzero(kinds == kind)
        return out(amax(viol[..., cols]) if len(cols) else zero)

    return ProjectionResult(x=out(y), bone_error=out(berr), angle_violation=worst("angle"),
                            floor_violation=worst("floor"), iterations=iterations, converged=converged,
                            support_violation=worst("support"), interpenetration=worst("volume"))


def _dense_jacobian(blk, idx, J: int):
    """Dense Jacobian (B, m, 3J) from blocks (B, m, 4, 3) on joints ``idx`` (m, 4): one
    ``index_add_`` over the flattened (row, joint) axis (unused slots hold zero blocks)."""
    B, m = blk.shape[:2]
    flat = torch.as_tensor((np.arange(m)[:, None] * J + idx).reshape(-1), device=blk.device)
    D = torch.zeros(B, m * J, 3, dtype=blk.dtype, device=blk.device)
    D.index_add_(1, flat, blk.reshape(B, m * 4, 3))
    return D.reshape(B, m, 3 * J)


def _spd_solve(M, rhs):
    """Solve M X = rhs for a batch of symmetric positive definite M (..., m, m) by Cholesky
    (M = D D^T + a diagonal of at least 1e-12; half the cost of LU at these sizes); a batch whose
    factorisation fails (a numerically singular D D^T) falls back to LU."""
    Lc, info = torch.linalg.cholesky_ex(M)
    if bool((info != 0).any()):
        return torch.linalg.solve(M, rhs)
    return torch.cholesky_solve(rhs, Lc)


def _newton_system(y, zf, cs, Lt, fy, en, margin_deg, active_ineq, alpha, cb=None):
    """One linearised step, on Jacobian blocks: minimise |y + delta - alpha z - (1-alpha) y|
    subject to the linearised equalities and the rows of ``active_ineq``.  ``cb``: the residuals
    and blocks of :func:`constraint_blocks` at y, when the caller has them.
    Returns (delta (B, J, 3), lambda of the inequality rows (B, ni), zero on rows left out).

    Only the rows active in some frame of the batch enter the system (an inequality row inactive
    in every frame would only add an identity row to M): with the volume rows most of the m rows
    are inactive, and the cost of the m x m solve falls with the cube of the rows kept."""
    B, J, _ = y.shape
    nb = len(cs.bones)
    idx, _ = row_joints(cs)
    c, blk = constraint_blocks(y, cs, Lt, fy, margin_deg) if cb is None else cb
    a = torch.cat([torch.ones(B, nb, dtype=y.dtype, device=y.device), active_ineq.to(y.dtype)], -1)
    ni_full = a.shape[1] - nb
    rows = torch.nonzero(a.any(0)).flatten()
    if len(rows) < a.shape[1]:
        a, c, blk = a[:, rows], c[:, rows], blk[:, rows]
        idx = idx[rows.cpu().numpy()]
    blk = blk * a[..., None, None]
    c = c * a
    r = alpha * (y - zf.reshape(B, J, 3))
    # dense Jacobian (B, m, 3J) from the blocks: J J^T and J^T lambda are then two batched matrix
    # products (measured as fast as summing the products of blocks that share a joint)
    D = _dense_jacobian(blk, idx, J)
    Ar = (D @ r.reshape(B, 3 * J, 1))[..., 0]                                  # (B, m)
    M = D @ D.transpose(1, 2) + torch.diag_embed(1.0 - a + _RIDGE)
    lam = _spd_solve(M, (c - Ar)[..., None])[..., 0]
    delta = -r - (D.transpose(1, 2) @ lam[..., None]).reshape(B, J, 3)
    lam_i = lam.new_zeros(B, ni_full)
    lam_i[:, rows[rows >= nb] - nb] = lam[:, nb:]
    return delta, lam_i


_DONE = K.DONE  # residual below which a frame's restoration stops (1e-3 of a bone's feasibility tolerance)


def _restore(y, zf, cs, Lt, fy, en, margin_deg, max_iter, tol):
    """Feasibility restoration: minimum-norm Gauss-Newton steps on the violated constraints
    (quadratic convergence near C; every frame moves as little as the linearisation allows).
    A frame leaves the batch once its own step is below ``tol`` or its residuals are (bone rows
    within ``_DONE`` relative, no enabled inequality below ``-_DONE``: the next step would be of
    their size), so a few slow frames do not keep the whole batch iterating."""
    y = y.clone()
    nb = len(cs.bones)
    keep = torch.zeros_like(en)
    todo = torch.arange(len(y), device=y.device)
    for _ in range(max_iter):
        if len(todo) == 0:
            break
        ys, Ls, fs = y[todo], Lt[todo], None if fy is None else fy[todo]
        cb = constraint_blocks(ys, cs, Ls, fs, margin_deg)
        g = cb[0][:, nb:]
        done = ~((g < -_DONE) & en[todo]).any(1)
        if nb:
            done &= cb[0][:, :nb].abs().amax(1) <= _DONE
        if bool(done.any()):
            todo, ys, Ls = todo[~done], ys[~done], Ls[~done]
            fs = None if fs is None else fs[~done]
            cb, g = (cb[0][~done], cb[1][~done]), g[~done]
            if len(todo) == 0:
                break
        active = en[todo] & ((g < 0) | keep[todo])
        delta, lam = _newton_system(ys, zf[todo], cs, Ls, fs, en[todo], margin_deg, active, 0.0, cb)
        keep[todo] = active & (lam < 0)
        y[todo] = ys + delta
        if delta.numel() == 0:
            break
        todo = todo[delta.flatten(1).abs().amax(1) >= tol]
    return y


def _ineq_tol(cs: ConstraintSet, angle_tol_deg: float) -> np.ndarray:
    """(ni,) the feasibility tolerance of each inequality row (negative: how far below 0 is allowed)."""
    return np.where(cs.inequality_kinds() == "angle", -math.radians(angle_tol_deg), -1e-9)


def _feasible(y, cs, Lt, fy, en, bone_tol, angle_tol_deg):
    """(B,) bool for poses ``y`` (B, J, 3), numpy or torch: every bone within ``bone_tol``
    (relative) and every enabled inequality (``en`` (B, ni)) within its tolerance (angles
    ``angle_tol_deg``, the others 1e-9)."""
    is_np = isinstance(y, np.ndarray)
    ok = np.ones(len(y), bool) if is_np else torch.ones(len(y), dtype=torch.bool, device=y.device)
    if len(cs.bones):
        e = bone_length_error(y, cs, Lt)
        ok &= (e.max(-1) if is_np else e.amax(-1)) <= bone_tol
    if cs.num_inequalities:
        g = constraint_blocks(y, cs, Lt, fy, 0.0, jac=False, bones=False)[0]
        tol = _ineq_tol(cs, angle_tol_deg)
        if not is_np:
            tol = torch.as_tensor(tol, dtype=g.dtype, device=g.device)
        ok &= ~((g < tol) & en).any(-1)
    return ok


# ------------------------------------------------------------------ the compiled path (CPU)
#
# The same algorithm as _project_active / _restore / _newton_system, one frame at a time in
# compiled code (skelvis.projection_kernel): with a hundred frames every batched operation is
# small and its interpreter and dispatch overhead (microseconds a call, some 40 calls an
# iteration) was most of the time.  :func:`project` takes this path for CPU tensors and numpy
# arrays, the torch path for tensors on an accelerator; both give the same poses to rounding.


def _leaves_first(bones: np.ndarray) -> np.ndarray:
    """An elimination order of the bone rows without fill (two bones are adjacent when they share a
    joint; the rows of D D^T interact exactly then): repeatedly a row whose remaining neighbours
    are pairwise adjacent (simplicial; a skeleton's bone graph always has one, it is chordal), the
    one of least degree, else the row of least degree.  For a tree this eliminates leaves first,
    and the Cholesky factor of the bones' D D^T keeps its pattern
    (:func:`skelvis.projection_kernel._cholesky`)."""
    nb = len(bones)
    adj = [{k for k in range(nb) if k != i and set(bones[k]) & set(bones[i])} for i in range(nb)]
    left, order = set(range(nb)), []
    while left:
        def simplicial(k):
            nbrs = adj[k] & left
            return all(b in adj[a] for a in nbrs for b in nbrs if a != b)
        i = min(left, key=lambda k: (not simplicial(k), len(adj[k] & left), k))
        nbrs = adj[i] & left
        for k in nbrs:
            adj[k] |= nbrs - {k}
        left.remove(i)
        order.append(i)
    return np.asarray(order, np.int64)


def _bone_block(bones: np.ndarray, order: np.ndarray):
    """The bone block of D D^T with the bone rows at positions ``order``: (pairs (P, 6): every two
    bones sharing a joint as (position k > l, row, slot, row, slot); the pattern of its Cholesky
    factor below the diagonal by column, bptr (nb + 1,) and brows, by symbolic elimination (the
    entries of D D^T and their fill; none in leaves-first order))."""
    nb = len(bones)
    at = {int(r): k for k, r in enumerate(order)}
    pairs, below = [], [set() for _ in range(nb)]
    for r1 in range(nb):
        for r2 in range(nb):
            shared = set(bones[r1]) & set(bones[r2])
            if r1 != r2 and shared and at[r1] > at[r2]:
                j = shared.pop()
                pairs.append((at[r1], at[r2], r1, list(bones[r1]).index(j), r2, list(bones[r2]).index(j)))
                below[at[r2]].add(at[r1])
    for j in range(nb):  # eliminating column j connects the rows below it
        for i in below[j]:
            below[i] |= {q for q in below[j] if q > i}
    brows = [sorted(b) for b in below]
    bptr = np.cumsum([0] + [len(b) for b in brows]).astype(np.int64)
    return (np.asarray(pairs, np.int64).reshape(-1, 6), bptr,
            np.asarray([q for b in brows for q in b], np.int64))


def row_program(cs: ConstraintSet) -> K.RowProgram:
    """The rows of :func:`constraint_blocks` as the arrays of :mod:`skelvis.projection_kernel`
    (kind, joints, limits, the bones' elimination order, which rows touch each joint); cached."""
    cache = cs.__dict__.setdefault("_cache", {})
    if "_program" in cache:
        return cache["_program"]
    idx, used = row_joints(cs)
    kinds = [K.BONE] * len(cs.bones) + [K.ANGLE_LO] * len(cs.angles)
    const = [0.0] * len(cs.bones) + [math.radians(al.lo_deg) for al in cs.angles]
    hi = [al for al in cs.angles if al.hi_deg < 180.0]
    kinds += [K.ANGLE_HI] * len(hi) + [K.PLANE] * len(cs.planes) + [K.FLOOR] * len(cs.floor_joints)
    const += [math.radians(al.hi_deg) for al in hi] + [math.radians(p.hi_deg) for p in cs.planes]
    const += [0.0] * len(cs.floor_joints)
    if cs.support_joints:
        kinds.append(K.SUPPORT)
        const.append(cs.support_tolerance)
    kinds += [K.VOLUME] * len(cs.capsule_pairs)
    const += [cs.capsules[i].radius + cs.capsules[j].radius for i, j in cs.capsule_pairs]
    J = cs.topology.num_joints
    entries = sorted((int(idx[k, s]), k, s) for k, s in zip(*np.nonzero(used)))
    inc_ptr = np.searchsorted(np.array([e[0] for e in entries], np.int64), np.arange(J + 1)).astype(np.int64)
    kind_names = cs.inequality_kinds()
    trunk = np.asarray(cs.trunk if len(cs.trunk) == 2 else (0, 0), np.int64)
    order = _leaves_first(cs.bones)
    pairs, bptr, brows = _bone_block(cs.bones, order)
    prog = K.RowProgram(
        kind=np.asarray(kinds, np.int64), idx=idx.astype(np.int64), nslot=used.sum(1).astype(np.int64),
        const=np.asarray(const, float), trunk=trunk, up=int(cs.up_axis), nb=len(cs.bones),
        order=order, inc_ptr=inc_ptr,
        inc_row=np.array([e[1] for e in entries], np.int64), inc_slot=np.array([e[2] for e in entries], np.int64),
        near_tol=np.where(kind_names == "angle", math.radians(1e-3), 1e-6).astype(float),
        bone_pairs=pairs, bptr=bptr, brows=brows)
    cache["_program"] = prog
    return prog


def _np(v, dtype=np.float64):
    """A numpy array of ``v`` (a CPU tensor shares its memory)."""
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu()
        return v.numpy().astype(dtype, copy=False) if v.dtype != torch.bool else v.numpy()
    return np.asarray(v, dtype)


def _np_inputs(target, cs, target_length, floor_y, enabled, x_init):
    z = _np(target)
    B = z.shape[0]
    Lt = np.broadcast_to(_np(target_length), (B, len(cs.bones)))
    fy = None if floor_y is None else np.broadcast_to(_np(floor_y), (B,))
    ni = cs.num_inequalities
    en = (np.ones((B, ni), bool) if enabled is None
          else np.broadcast_to(_np(enabled, bool).astype(bool, copy=False), (B, ni)))
    x0 = None if x_init is None else _np(x_init)
    return z, Lt, fy, en, x0


def _np_project(target, cs, target_length, floor_y, enabled, x_init, max_iter, refine_iter, tol, margin_deg,
                bone_tol, angle_tol_deg, pair_slack) -> ProjectionResult:
    """:func:`project` on the CPU (float64)."""
    z, Lt, fy, en, x0 = _np_inputs(target, cs, target_length, floor_y, enabled, x_init)
    return _with_volume_pairs(z, cs, Lt, en, x0, pair_slack, lambda sub, en_sub, x0: _np_project_active(
        z, sub, Lt, fy, en_sub, x0, max_iter, refine_iter, tol, margin_deg, bone_tol, angle_tol_deg))


def _with_volume_pairs(z, cs: ConstraintSet, Lt, en, x0, pair_slack: float, project_active) -> ProjectionResult:
    """The active set of capsule pairs around ``project_active(sub, en_sub, x0)`` (the projection
    under the constraint set ``sub`` with those pairs only), for numpy or torch ``z`` (B, J, 3):
    only the pairs closer than ``(r_i + r_j + pair_slack) * ell`` in the target or the start of some
    frame enter; a pair left out that ends interpenetrating joins them and the projection is redone
    from its result (at most three times).  Without capsules, one projection."""
    if not len(cs.capsule_pairs):
        return project_active(cs, en, x0)
    kinds = cs.inequality_kinds()
    fixed = np.flatnonzero(kinds != "volume")
    vol = np.flatnonzero(kinds == "volume")
    ell = trunk_length(z, cs, Lt)[:, None]
    cand = np.zeros(len(vol), bool)
    x = z if x0 is None else x0
    for pose in {id(z): z, id(x): x}.values():
        g = _capsule_terms(pose, cs, Lt, False)[0]
        cand |= _np(((g < pair_slack * ell) & en[:, vol]).any(0), bool)
    res = None
    for _ in range(4):
        keep = np.flatnonzero(cand)
        res = project_active(cs.with_pairs(keep), en[:, np.concatenate([fixed, vol[keep]])], x0)
        x0 = res.x.numpy() if isinstance(z, np.ndarray) else res.x
        g = _capsule_terms(x0, cs, Lt, False)[0]
        new = _np(((g < 0) & en[:, vol]).any(0), bool) & ~cand
        if not new.any():
            break
        cand |= new
    return res


def _kernel_array(a, dtype=np.float64):
    """``a`` as a C-contiguous, writeable array of ``dtype``: numba compiles one specialisation per
    array type, and a read-only or strided input (a broadcast view, a frame of a larger array)
    would cost another compilation of the kernel (about 30 s)."""
    a = np.ascontiguousarray(a, dtype)
    return a if a.flags.writeable else a.copy()


def _np_project_active(z, cs, Lt, fy, en, x0, max_iter, refine_iter, tol, margin_deg, bone_tol,
                       angle_tol_deg) -> ProjectionResult:
    """:func:`_project_active` on the CPU, every frame in compiled code
    (:func:`skelvis.projection_kernel.project_frames`): z (B, J, 3), Lt (B, nb), fy (B,) or None,
    en (B, ni)."""
    B = z.shape[0]
    ni, nb = cs.num_inequalities, len(cs.bones)
    if (cs.floor_joints or cs.support_joints) and fy is None:
        raise ValueError("the constraint set has a floor or support constraint: pass floor_y")
    p = row_program(cs)
    out = np.empty(z.shape)
    iters = np.zeros(B, np.int64)
    feasible = np.ones(B, np.bool_)
    berr, viol = np.zeros(B), np.zeros((B, ni))
    if nb == 0 and ni == 0:
        out[:] = z if x0 is None else x0
    else:
        K.project_frames(_kernel_array(z), _kernel_array(z if x0 is None else x0), _kernel_array(Lt),
                         np.zeros(B) if fy is None else _kernel_array(fy), _kernel_array(en, np.bool_), p,
                         np.asarray(_ineq_tol(cs, angle_tol_deg), float),
                         math.radians(margin_deg), int(max_iter), int(refine_iter), float(tol), float(bone_tol),
                         out, iters, feasible, berr, viol)
    return _report(out, cs, Lt, fy, en, int(iters.max()) if B else 0, bool(feasible.all()), (berr, viol))


def _numpy_backend(x, backend: str | None) -> bool:
    """Whether :func:`project` takes the compiled CPU path for ``x`` (see there)."""
    if backend is None:
        return not (isinstance(x, torch.Tensor) and x.device.type != "cpu")
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend must be 'numpy', 'torch' or None, got {backend!r}")
    return backend == "numpy"


def project(target, cs: ConstraintSet, target_length, floor_y=None, enabled=None, x_init=None,
            max_iter: int = 30, refine_iter: int = 3, tol: float = 1e-9, margin_deg: float = 0.01,
            bone_tol: float = 1e-6, angle_tol_deg: float = 1e-3, pair_slack: float = 0.25,
            backend: str | None = None) -> ProjectionResult:
    """Closest poses to ``target`` (B, J, 3) satisfying C, all frames at once (Eq. 14); see
    :func:`_project_active`.  With the volume constraint, only the capsule pairs closer than
    ``(r_i + r_j + pair_slack) * ell`` in the target or the start of some frame enter the system (the
    active set); a pair left out that ends interpenetrating joins it and the projection is redone
    from its result (at most three times).

    backend: 'numpy' (the default for numpy arrays and CPU tensors: the compiled per-frame path of
    :mod:`skelvis.projection_kernel`) or 'torch' (the default for tensors on an accelerator); the
    same algorithm, the same poses to rounding.  The result holds float64 tensors either way."""
    if _numpy_backend(target, backend):
        return _np_project(target, cs, target_length, floor_y, enabled, x_init, max_iter, refine_iter, tol,
                           margin_deg, bone_tol, angle_tol_deg, pair_slack)
    z = torch.as_tensor(target).to(torch.float64)
    B = z.shape[0]
    Lt = torch.as_tensor(target_length, dtype=torch.float64, device=z.device).expand(B, -1)
    ni = cs.num_inequalities
    en = (torch.ones(B, ni, dtype=torch.bool, device=z.device) if enabled is None
          else torch.as_tensor(enabled, dtype=torch.bool, device=z.device).expand(B, ni))
    x0 = None if x_init is None else torch.as_tensor(x_init).to(z)
    return _with_volume_pairs(z, cs, Lt, en, x0, pair_slack, lambda sub, en_sub, x0: _project_active(
        z, sub, Lt, floor_y, en_sub, x0, max_iter, refine_iter, tol, margin_deg, bone_tol, angle_tol_deg))


def _project_active(target, cs: ConstraintSet, target_length, floor_y=None, enabled=None, x_init=None,
                    max_iter: int = 30, refine_iter: int = 3, tol: float = 1e-9, margin_deg: float = 0.01,
                    bone_tol: float = 1e-6, angle_tol_deg: float = 1e-3) -> ProjectionResult:
    """Closest poses to ``target`` (B, J, 3) satisfying C, all frames at once (Eq. 14).

    target_length: (B, nb) bone lengths per frame (usually the sequence mean repeated);
    floor_y: (B,) floor height when the set has a floor; enabled: (B, ni) bool, inequalities to
    enforce (all by default; the 'skip' policy disables limits a start frame already breaks).

    Two phases, both batched over frames: (1) feasibility restoration from ``x_init`` (default
    the target) by minimum-norm Gauss-Newton steps; (2) ``refine_iter`` SQP steps toward the
    target (the KKT step for the linearised equalities and active inequalities, an inequality
    released when its multiplier has the wrong sign), each followed by restoration and accepted
    per frame only if it stays feasible and brings the pose closer to the target (else halved).
    Works in float64 on the device of ``target``; returns float64 poses.
    """
    z = torch.as_tensor(target).to(torch.float64)
    B, _J, _ = z.shape
    dev = z.device
    Lt = torch.as_tensor(target_length, dtype=torch.float64, device=dev).expand(B, -1)
    fy = None if floor_y is None else torch.as_tensor(floor_y, dtype=torch.float64, device=dev).expand(B)
    ni, nb = cs.num_inequalities, len(cs.bones)
    en = (torch.ones(B, ni, dtype=torch.bool, device=dev) if enabled is None
          else torch.as_tensor(enabled, dtype=torch.bool, device=dev).expand(B, ni))
    zf = z.reshape(B, -1)
    y = z.clone() if x_init is None else torch.as_tensor(x_init).to(z).clone()
    it = 0
    if nb or ni:
        y = _restore(y, zf, cs, Lt, fy, en, margin_deg, max_iter, tol)
        step = torch.ones(B, dtype=z.dtype, device=dev)
        near_tol = torch.as_tensor(np.where(cs.inequality_kinds() == "angle", math.radians(1e-3), 1e-6),
                                   dtype=z.dtype, device=dev)
        for it in range(1, refine_iter + 1):
            cb = constraint_blocks(y, cs, Lt, fy, margin_deg)
            near = en & (cb[0][:, len(cs.bones):] < near_tol)
            delta, lam = _newton_system(y, zf, cs, Lt, fy, en, margin_deg, near, 1.0, cb)
            release = near & (lam > 0)
            if bool(release.any()):  # same system again without the rows whose multiplier has the wrong sign
                delta, _ = _newton_system(y, zf, cs, Lt, fy, en, margin_deg, near & ~release, 1.0, cb)
            if delta.abs().max().item() < 1e-9:
                break
            trial = _restore(y + step[:, None, None] * delta, zf, cs, Lt, fy, en, margin_deg, max_iter, tol)
            d_old = (y - z).flatten(1).norm(dim=-1)
            d_new = (trial - z).flatten(1).norm(dim=-1)
            better = (d_new < d_old) & _feasible(trial, cs, Lt, fy, en, bone_tol, angle_tol_deg)
            y = torch.where(better[:, None, None], trial, y)
            step = torch.where(better, (step * 2).clamp(max=1.0), step / 2)
    converged = bool(_feasible(y, cs, Lt, fy, en, bone_tol, angle_tol_deg).all()) if (nb or ni) else True
    return _report(y, cs, Lt, fy, en, it, converged)


def acceleration(seq):
    """Per-joint acceleration magnitude (T-2, J) of a sequence (T, J, 3) (second differences)."""
    return _norm(seq[2:] - 2 * seq[1:-1] + seq[:-2])


_ACC_W = (1.0, -2.0, 1.0)


def _frame_system(y, cs, Lt, fy, margin_deg, active):
    """Per-frame rows, dense: residuals c (T, m) and Jacobian (T, m, 3J), inactive inequality rows
    zeroed, and a (T, m) in {0, 1} (1 on bone rows and active inequalities)."""
    T, J, _ = y.shape
    nb = len(cs.bones)
    idx, _ = row_joints(cs)
    c, blk = constraint_blocks(y, cs, Lt, fy, margin_deg)
    a = torch.cat([torch.ones(T, nb, dtype=y.dtype, device=y.device), active.to(y.dtype)], -1)
    return c * a, _dense_jacobian(blk, idx, J) * a[..., None], a


def _acceleration_rows(y, bound, inner, keep):
    """Active acceleration rows: (t, j) with t the middle frame (1..T-2) where |a_tj| exceeds the
    bound or the row was kept (KKT), their residuals inner - |a| (K,) toward the inner bound and
    their unit directions (K, 3)."""
    acc = y[2:] - 2 * y[1:-1] + y[:-2]                                          # (T-2, J, 3)
    na = _norm(acc)
    act = (na > bound) | keep
    t, j = torch.nonzero(act, as_tuple=True)
    return t + 1, j, inner - na[t, j], acc[t, j] / na[t, j, None], act


def _sequence_step(y, cs, Lt, fy, margin_deg, active, t, j, ca, u):
    """Minimum-norm Gauss-Newton step for the per-frame rows and the acceleration rows together.

    The per-frame block M_ff = J_f J_f^T is block diagonal (one m x m block per frame); the K
    acceleration rows couple three frames each.  Solved by the Schur complement
    S = M_aa - M_af M_ff^{-1} M_fa (K x K), so the cost is T small solves plus one K x K solve.
    Returns (delta (T, J, 3), multipliers of the per-frame inequality rows (T, ni), of the
    acceleration rows (K,))."""
    T, J, _ = y.shape
    nb = len(cs.bones)
    cf, Jf, a = _frame_system(y, cs, Lt, fy, margin_deg, active)
    Mff = Jf @ Jf.transpose(1, 2) + torch.diag_embed(1.0 - a + _RIDGE)
    K = len(t)
    if K == 0:
        lam = torch.linalg.solve(Mff, cf[..., None])[..., 0]
        delta = -(Jf.transpose(1, 2) @ lam[..., None])[..., 0].reshape(T, J, 3)
        return delta, lam[:, nb:], lam.new_zeros(0)
    Ja = y.new_zeros(K, T, J, 3)
    ar = torch.arange(K, device=y.device)
    for d, w in zip((-1, 0, 1), _ACC_W):
        Ja[ar, t + d, j] = -w * u
    Ja = Ja.reshape(K, T, J * 3)
    Mfa = torch.einsum("tmd,ktd->tmk", Jf, Ja)                                 # (T, m, K)
    Maa = Ja.reshape(K, -1) @ Ja.reshape(K, -1).T
    X = torch.linalg.solve(Mff, torch.cat([Mfa, cf[..., None]], -1))           # (T, m, K + 1)
    Xa, xb = X[..., :K], X[..., K]
    S = Maa - torch.einsum("tmk,tml->kl", Mfa, Xa)
    lam_a = torch.linalg.solve(S + 1e-12 * torch.eye(K, dtype=y.dtype, device=y.device),
                               ca - torch.einsum("tmk,tm->k", Mfa, xb))
    lam_f = xb - torch.einsum("tmk,k->tm", Xa, lam_a)
    delta = -((Jf.transpose(1, 2) @ lam_f[..., None])[..., 0] + torch.einsum("ktd,k->td", Ja, lam_a))
    return delta.reshape(T, J, 3), lam_f[:, nb:], lam_a


def project_sequence(seq, cs: ConstraintSet, target_length, length: int | None = None,
                     floor_y=None, enabled=None, max_acceleration: float | None = None,
                     max_iter: int = 60, tol: float = 1e-9, **kw) -> ProjectionResult:
    """Project the valid frames of one sequence (T, J, 3); padding stays zero.

    Without ``max_acceleration``: :func:`project` on every frame at once (Eq. 14).  With it
    (beyond the paper; part of the ``plausible`` set), the bound ``|x_{t-1} - 2 x_t + x_{t+1}| <= A``
    on every joint and frame triple is a constraint of the same projection, across neighbouring
    frames: starting from the per-frame projection, minimum-norm Gauss-Newton steps on the
    per-frame rows and the active acceleration rows together (:func:`_sequence_step`, an active
    set with the KKT sign as in :func:`project`) until every constraint holds (bone error, angle
    limits, floor, support, volume and acceleration to ``tol``), no joint moving more than a quarter
    of the trunk length in one step (a trust region for far starts).  The bound is met exactly
    (targeted with a relative inner margin of 1e-6), not approximately.
    """
    seq = torch.as_tensor(seq).to(torch.float64)
    T = len(seq) if length is None else int(length)
    out = seq.clone()
    out[T:] = 0.0
    en = None if enabled is None else torch.as_tensor(enabled, dtype=torch.bool)[:T]
    fy = None if floor_y is None else torch.as_tensor(floor_y, dtype=torch.float64).expand(T)
    res = project(seq[:T], cs, target_length, floor_y=fy, enabled=en, **kw)
    if max_acceleration is not None and T >= 3:
        res = _bound_acceleration(res, cs, target_length, fy, en, float(max_acceleration), max_iter, tol,
                                  kw.get("margin_deg", 0.01))
    out[:T] = res.x.to(out.device)
    res.x = out
    for f in ("bone_error", "angle_violation", "floor_violation", "support_violation", "interpenetration"):
        setattr(res, f, getattr(res, f).to(out.device))
    return res


def _bound_acceleration(res, cs_full, target_length, fy, en_full, bound, max_iter, tol, margin_deg):
    """The acceleration bound across frames on top of a per-frame projection ``res`` (see
    :func:`project_sequence`).  Volume rows: the capsule pairs near contact anywhere in the sequence
    form the active set; a pair left out that ends interpenetrating joins it (at most 3 rounds).
    The checks and the active sets (many small operations) run in numpy on the CPU, whatever the
    device of ``res``; the coupled step (:func:`_sequence_step`: a few larger solves) in torch, on
    the same memory.  Returns CPU tensors."""
    y = np.array(_np(res.x))
    T, J, _ = y.shape
    Lt = np.array(np.broadcast_to(_np(target_length), (T, len(cs_full.bones))))  # writable copies (torch views)
    fy = None if fy is None else np.array(np.broadcast_to(_np(fy), (T,)))
    ni = cs_full.num_inequalities
    en_full = np.ones((T, ni), bool) if en_full is None else np.array(np.broadcast_to(_np(en_full, bool), (T, ni)))
    inner = bound * (1 - 1e-6)   # targeted, so that converged rows meet the bound strictly
    outer = bound * (1 + 1e-12)  # a row counts as broken above this (rounding of a bound met exactly)
    kinds_full = cs_full.inequality_kinds()
    vol = np.flatnonzero(kinds_full == "volume")
    near = np.zeros(len(vol), bool)
    if len(vol):
        g = _capsule_terms(y, cs_full, Lt, False)[0]
        near = ((g < 0.25 * trunk_length(y, cs_full, Lt)[:, None]) & en_full[:, vol]).any(0)
    Lt_t = torch.from_numpy(Lt)
    fy_t = None if fy is None else torch.from_numpy(fy)
    step_cap = 0.25 * float(trunk_length(y, cs_full, Lt).mean())
    for _round in range(3):
        cs, en = cs_full, en_full
        if len(vol):
            cs = cs_full.with_pairs(np.flatnonzero(near))
            en = en_full[:, np.concatenate([np.flatnonzero(kinds_full != "volume"), vol[near]])]
        keep_f = np.zeros(en.shape, bool)
        keep_a = np.zeros((T - 2, J), bool)
        for _ in range(max_iter):
            if (float(acceleration(y).max()) <= outer and not keep_a.any()
                    and _feasible(y, cs, Lt, fy, en, 1e-9, 1e-6).all()):
                break  # every bound holds: a feasible sequence is returned unchanged
            g = constraint_blocks(y, cs, Lt, fy, margin_deg, jac=False, bones=False)[0]
            active = en & ((g < 0) | keep_f)
            yt = torch.from_numpy(y)
            t, j, ca, u, _act = _acceleration_rows(yt, outer, inner, torch.from_numpy(keep_a))
            delta, lam_f, lam_a = _sequence_step(yt, cs, Lt_t, fy_t, margin_deg, torch.from_numpy(active), t, j, ca, u)
            keep_f = active & (lam_f.numpy() < 0)
            keep_a = np.zeros_like(keep_a)
            keep_a[t.numpy() - 1, j.numpy()] = lam_a.numpy() < 0
            delta = delta.numpy()
            # a trust region: no joint moves more than a quarter of the trunk in one step (a far
            # start can otherwise make the linearisation throw the sequence away; near the solution
            # the steps are far smaller and untouched)
            longest = float(np.sqrt((delta ** 2).sum(-1)).max())
            if longest > step_cap:
                delta = delta * (step_cap / longest)
            y = y + delta
            if float(np.abs(delta).max()) < tol:
                break
        if not len(vol):
            break
        g = _capsule_terms(y, cs_full, Lt, False)[0]
        new = ((g < 0) & en_full[:, vol]).any(0) & ~near
        if not new.any():
            break
        near |= new
    acc_ok = float(acceleration(y).max()) <= bound + 1e-9
    ok = bool(_feasible(y, cs_full, Lt, fy, en_full, 1e-6, 1e-3).all()) and acc_ok
    return _report(y, cs_full, Lt, fy, en_full, res.iterations, ok)


def project_slsqp(target: np.ndarray, cs: ConstraintSet, target_length: np.ndarray, floor_y=None,
                  x_init: np.ndarray | None = None, margin_deg: float = 0.01, ftol: float = 1e-12,
                  maxiter: int = 200) -> np.ndarray:
    """Reference solver of Eq. 14 for ONE frame: ``scipy.optimize.minimize(method="SLSQP")`` with
    the analytic constraint Jacobians of :func:`jacobians`.  target (J, 3) -> pose (J, 3).
    Slow (one frame at a time); used to cross-check :func:`project` and in the benchmark."""

    z = np.asarray(target, np.float64).reshape(-1)
    J = len(z) // 3
    L = np.asarray(target_length, np.float64)
    fy = None if floor_y is None else np.float64(floor_y)

    def parts(v):
        return jacobians(v.reshape(J, 3), cs, L, fy, margin_deg)

    cons = [{"type": "eq", "fun": lambda v: parts(v)[0], "jac": lambda v: parts(v)[1]}]
    if cs.num_inequalities:
        cons.append({"type": "ineq", "fun": lambda v: parts(v)[2], "jac": lambda v: parts(v)[3]})
    x0 = z if x_init is None else np.asarray(x_init, np.float64).reshape(-1)
    res = minimize(lambda v: 0.5 * np.sum((v - z) ** 2), x0, jac=lambda v: v - z, method="SLSQP",
                   constraints=cons, options={"ftol": ftol, "maxiter": maxiter})
    return res.x.reshape(J, 3)
