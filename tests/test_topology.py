import numpy as np
import pytest

from skelvis.topology import KINECT_V1, KINECT_V2, MSR_ACTION3D, NTU_CONNECTING_JOINT, get_topology

pytestmark = pytest.mark.fast


def test_kinect_v2_has_the_24_ntu_bones():
    assert KINECT_V2.num_joints == 25
    assert len(KINECT_V2.bones) == 24
    # every joint but the 1<->2 duplicate appears with its NTU parent
    pairs = {frozenset(b) for b in KINECT_V2.bones}
    for child, parent in enumerate(NTU_CONNECTING_JOINT):
        if child + 1 != parent:
            assert frozenset((child, parent - 1)) in pairs
    assert KINECT_V2.joints[KINECT_V2.root] == "spine_shoulder"


@pytest.mark.parametrize("topo", [KINECT_V2, KINECT_V1, MSR_ACTION3D])
def test_bone_tree_is_connected_and_acyclic(topo):
    parents = topo.parents()
    assert parents[topo.root] is None
    assert sum(p is None for p in parents) == 1, "every joint must reach the root"
    assert len(topo.bones) == topo.num_joints - 1
    groups = [j for g in topo.limb_groups.values() for j in g]
    assert sorted(groups) == sorted(set(groups)), "a joint is in two limb groups"


def test_unknown_topology_names_known_ones():
    with pytest.raises(KeyError, match="kinect_v2"):
        get_topology("kinect_v3")


@pytest.mark.realdata
def test_msr_layout_gives_stable_bone_lengths(shared_data):
    """The MSR joint order is right if bone lengths stay stable over frames (README's advice)."""
    raw = np.loadtxt(shared_data / "msr_action3d" / "a01_s01_e01_skeleton3D.txt")
    xyz = raw[:, :3].reshape(-1, 20, 3)
    lengths = np.stack([np.linalg.norm(xyz[:, a] - xyz[:, b], axis=-1) for a, b in MSR_ACTION3D.bones], 1)
    rel = lengths.std(0) / lengths.mean(0)
    assert np.median(rel) < 0.1
    # a wrong pairing (e.g. right shoulder - left hand) varies far more than the true bones
    wrong = np.linalg.norm(xyz[:, 0] - xyz[:, 12], axis=-1)
    assert wrong.std() / wrong.mean() > np.median(rel)
