"""Skeleton topologies and channel sets.

A :class:`Topology` names the joints (or channels) of a sensor, its bones, its limb groups and
the joints used by body-frame normalisation and by the anatomical constraints of Patil et al.
(§3.2, Eq. 8-13).  All indices are 0-based; the NTU authors' 1-based ``connecting_joint`` table is
kept verbatim for reference and converted.

Topologies
----------
``kinect_v2``      25 joints in NTU RGB+D order (Shahroudy et al. 2016), 24 bones, root joint 21
                   (1-based; "spine shoulder").
``kinect_v1``      20 joints in the Microsoft Kinect SDK 1.x order (hip centre first), as used by
                   SYSU-3D and UTKinect.
``msr_action3d``   20 joints in the order of the MSR Action3D ``*_skeleton3D.txt`` files.
``auslan_glove``   22 channels (11 per hand) of the UCI Auslan high-quality data; no bones.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "AUSLAN_GLOVE",
    "KINECT_V1",
    "KINECT_V2",
    "KINECT_V2_NAME",
    "MSR_ACTION3D",
    "NTU_CONNECTING_JOINT",
    "TOPOLOGIES",
    "Topology",
    "get_topology",
    "kinect_v2_index",
]

#: The NTU RGB+D authors' parent table, 1-based (joint i is connected to joint connecting_joint[i-1]).
NTU_CONNECTING_JOINT: tuple[int, ...] = (2, 1, 21, 3, 21, 5, 6, 7, 21, 9, 10, 11, 1, 13, 14, 15, 1,
                                         17, 18, 19, 2, 8, 8, 12, 12)


@dataclass(frozen=True)
class Topology:
    """A sensor layout.

    Attributes
    ----------
    name: identifier used in config files and HDF5 attrs.
    joints: joint (or channel) names, index = position along the J axis of ``x``.
    bones: (parent, child) 0-based pairs; empty for channel data.
    root: 0-based index of the root joint of the bone tree.
    limb_groups: name -> joint indices (torso, head, left_arm, right_arm, left_leg, right_leg).
    channels: C, 3 for skeletons (x, y, z), 1 for channel data.
    frame_joints: joints used by body-frame normalisation: ``origin``, ``left_shoulder``,
        ``right_shoulder``, ``spine_base``, ``spine_top`` (see :mod:`skelvis.normalize`).
    angle_joints: named joints the anatomical constraints refer to (see :mod:`skelvis.constraints`).
    sensor: human-readable sensor name for headers ("Kinect v2").
    """

    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    root: int
    limb_groups: dict[str, tuple[int, ...]]
    channels: int = 3
    frame_joints: dict[str, int] = field(default_factory=dict)
    angle_joints: dict[str, int] = field(default_factory=dict)
    sensor: str = ""

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def is_skeleton(self) -> bool:
        return self.channels == 3 and len(self.bones) > 0

    def index(self, name: str) -> int:
        """0-based index of a joint by name; raises ``KeyError`` naming the valid joints."""
        try:
            return self.joints.index(name)
        except ValueError:
            raise KeyError(f"topology {self.name!r} has no joint {name!r}; joints: {list(self.joints)}") from None

    def parents(self) -> list[int | None]:
        """Parent of every joint in the bone tree rooted at :attr:`root` (None for the root)."""
        parent: list[int | None] = [None] * self.num_joints
        adj: dict[int, list[int]] = {j: [] for j in range(self.num_joints)}
        for a, b in self.bones:
            adj[a].append(b)
            adj[b].append(a)
        seen = {self.root}
        stack = [self.root]
        while stack:
            p = stack.pop()
            for c in adj[p]:
                if c not in seen:
                    seen.add(c)
                    parent[c] = p
                    stack.append(c)
        return parent

    def limb_of_joint(self) -> list[str]:
        """Limb-group name for every joint ('other' if in none)."""
        out = ["other"] * self.num_joints
        for g, idx in self.limb_groups.items():
            for j in idx:
                out[j] = g
        return out


def _bones_from_parent_table(table: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Unique undirected (parent, child) pairs from a 1-based parent table, 0-based."""
    seen = set()
    bones = []
    for child1, parent1 in enumerate(table, start=1):
        key = frozenset((child1, parent1))
        if child1 == parent1 or key in seen:
            continue
        seen.add(key)
        bones.append((parent1 - 1, child1 - 1))
    return tuple(bones)


_V2_NAMES = (
    "spine_base", "spine_mid", "neck", "head",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot",
    "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb",
)

KINECT_V2 = Topology(
    name="kinect_v2",
    joints=_V2_NAMES,
    bones=_bones_from_parent_table(NTU_CONNECTING_JOINT),
    root=20,
    limb_groups={
        "torso": (0, 1, 20),
        "head": (2, 3),
        "left_arm": (4, 5, 6, 7, 21, 22),
        "right_arm": (8, 9, 10, 11, 23, 24),
        "left_leg": (12, 13, 14, 15),
        "right_leg": (16, 17, 18, 19),
    },
    frame_joints={"origin": 1, "left_shoulder": 4, "right_shoulder": 8,
                  "spine_base": 0, "spine_top": 20},
    angle_joints={"spine_base": 0, "spine_mid": 1, "spine_shoulder": 20,
                  "left_shoulder": 4, "right_shoulder": 8, "left_hip": 12, "right_hip": 16,
                  "left_elbow": 5, "left_wrist": 6, "left_hand": 7,
                  "right_elbow": 9, "right_wrist": 10, "right_hand": 11,
                  "left_foot": 15, "right_foot": 19, "left_ankle": 14, "right_ankle": 18},
    sensor="Kinect v2",
)

# Kinect SDK 1.x order (SYSU-3D, UTKinect): 0 hip centre, 1 spine, 2 shoulder centre, 3 head,
# 4-7 left shoulder/elbow/wrist/hand, 8-11 right, 12-15 left hip/knee/ankle/foot, 16-19 right.
_V1_NAMES = (
    "hip_center", "spine", "shoulder_center", "head",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot",
)
KINECT_V1 = Topology(
    name="kinect_v1",
    joints=_V1_NAMES,
    bones=((0, 1), (1, 2), (2, 3), (2, 4), (4, 5), (5, 6), (6, 7), (2, 8), (8, 9), (9, 10),
           (10, 11), (0, 12), (12, 13), (13, 14), (14, 15), (0, 16), (16, 17), (17, 18), (18, 19)),
    root=2,
    limb_groups={
        "torso": (0, 1, 2), "head": (3,),
        "left_arm": (4, 5, 6, 7), "right_arm": (8, 9, 10, 11),
        "left_leg": (12, 13, 14, 15), "right_leg": (16, 17, 18, 19),
    },
    frame_joints={"origin": 1, "left_shoulder": 4, "right_shoulder": 8,
                  "spine_base": 0, "spine_top": 2},
    angle_joints={"spine_base": 0, "spine_mid": 1, "spine_shoulder": 2,
                  "left_shoulder": 4, "right_shoulder": 8, "left_hip": 12, "right_hip": 16,
                  "left_elbow": 5, "left_wrist": 6, "left_hand": 7,
                  "right_elbow": 9, "right_wrist": 10, "right_hand": 11,
                  "left_foot": 15, "right_foot": 19, "left_ankle": 14, "right_ankle": 18},
    sensor="Kinect v1",
)

# MSR Action3D file order (see ../shared/data/README.md).
_MSR_NAMES = (
    "right_shoulder", "left_shoulder", "shoulder_center", "spine",
    "right_hip", "left_hip", "hip_center", "right_elbow", "left_elbow",
    "right_wrist", "left_wrist", "right_hand", "left_hand",
    "right_knee", "left_knee", "right_ankle", "left_ankle", "right_foot", "left_foot", "head",
)
MSR_ACTION3D = Topology(
    name="msr_action3d",
    joints=_MSR_NAMES,
    bones=((2, 19), (2, 0), (2, 1), (2, 3), (3, 6), (6, 4), (6, 5), (0, 7), (7, 9), (9, 11),
           (1, 8), (8, 10), (10, 12), (4, 13), (13, 15), (15, 17), (5, 14), (14, 16), (16, 18)),
    root=2,
    limb_groups={
        "torso": (2, 3, 6), "head": (19,),
        "left_arm": (1, 8, 10, 12), "right_arm": (0, 7, 9, 11),
        "left_leg": (5, 14, 16, 18), "right_leg": (4, 13, 15, 17),
    },
    frame_joints={"origin": 3, "left_shoulder": 1, "right_shoulder": 0,
                  "spine_base": 6, "spine_top": 2},
    angle_joints={"spine_base": 6, "spine_mid": 3, "spine_shoulder": 2,
                  "left_shoulder": 1, "right_shoulder": 0, "left_hip": 5, "right_hip": 4,
                  "left_elbow": 8, "left_wrist": 10, "left_hand": 12,
                  "right_elbow": 7, "right_wrist": 9, "right_hand": 11,
                  "left_foot": 18, "right_foot": 17, "left_ankle": 16, "right_ankle": 15},
    sensor="Kinect v1 (MSR Action3D order)",
)

# UCI Auslan high quality: 11 channels per hand (x, y, z, roll, pitch, yaw, thumb, fore, middle,
# ring, little bend), left hand first.
_AUSLAN_PER_HAND = ("x", "y", "z", "roll", "pitch", "yaw", "thumb", "fore", "middle", "ring", "little")
AUSLAN_GLOVE = Topology(
    name="auslan_glove",
    joints=tuple(f"{h}_{c}" for h in ("left", "right") for c in _AUSLAN_PER_HAND),
    bones=(),
    root=0,
    limb_groups={"left_hand": tuple(range(11)), "right_hand": tuple(range(11, 22))},
    channels=1,
    sensor="Nintendo/5DT data gloves + Polhemus trackers",
)

#: Joints of the 20-joint Kinect v1 layouts whose Kinect v2 (NTU) name differs; every other joint
#: of ``kinect_v1`` and ``msr_action3d`` has the same name in ``kinect_v2``.
KINECT_V2_NAME = {"hip_center": "spine_base", "spine": "spine_mid", "shoulder_center": "spine_shoulder"}


def kinect_v2_index(topology: Topology) -> list[int]:
    """For every joint of a skeleton topology, the index of the same body point in Kinect v2 order
    (e.g. to draw a reference pose, or to convert Kinect v2 recordings to a 20-joint layout with
    ``x[:, kinect_v2_index(KINECT_V1)]``)."""
    return [KINECT_V2.index(KINECT_V2_NAME.get(n, n)) for n in topology.joints]


TOPOLOGIES: dict[str, Topology] = {t.name: t for t in (KINECT_V2, KINECT_V1, MSR_ACTION3D, AUSLAN_GLOVE)}


def get_topology(name: str) -> Topology:
    """Look up a topology by name; the error lists the known names."""
    try:
        return TOPOLOGIES[name]
    except KeyError:
        raise KeyError(f"unknown topology {name!r}; known: {sorted(TOPOLOGIES)}") from None
