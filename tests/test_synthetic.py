import numpy as np
import pytest

from skelvis.datasets.synthetic import CLASS_JOINTS, CLASSES, SyntheticConfig, generate
from skelvis.topology import KINECT_V2

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def small():
    return generate(SyntheticConfig(subjects=6, repetitions=1, noise=0.0, seed=3))


def test_forward_kinematics_keeps_every_bone_length_exact(small):
    for i in range(len(small.x)):
        x = small.x[i, :small.length[i]].astype(np.float64)
        lengths = np.stack([np.linalg.norm(x[:, a] - x[:, b], axis=-1) for a, b in KINECT_V2.bones], 1)
        np.testing.assert_allclose(lengths, lengths[:1].repeat(len(lengths), 0), rtol=1e-5)


def test_subjects_have_their_own_bone_lengths(small):
    def upper_arm(i):
        return np.linalg.norm(small.x[i, 0, 8] - small.x[i, 0, 9])
    per_subject = {}
    for i, s in enumerate(small.subject):
        per_subject.setdefault(int(s), upper_arm(i))
    vals = np.array(list(per_subject.values()))
    assert vals.std() / vals.mean() > 0.02


def test_deterministic_under_seed_and_different_across_seeds():
    a = generate(SyntheticConfig(subjects=3, repetitions=1, seed=5))
    b = generate(SyntheticConfig(subjects=3, repetitions=1, seed=5))
    c = generate(SyntheticConfig(subjects=3, repetitions=1, seed=6))
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.allclose(a.x, c.x)


def test_splits_are_subject_wise_and_classes_balanced(small):
    for s in np.unique(small.subject):
        assert len(np.unique(small.split[small.subject == s])) == 1
    assert set(np.bincount(small.label)) == {6}
    assert len(CLASSES) >= 10 and {"throw", "kick"} <= set(CLASSES)


def test_ground_truth_joints_move_more_than_the_rest():
    """The joints a class records as carrying its motion really carry it (saliency ground truth)."""
    ds = generate(SyntheticConfig(subjects=4, repetitions=1, noise=0.0, max_yaw_deg=0.0, seed=1))
    for c, name in enumerate(ds.classes):
        idx = np.flatnonzero(ds.label == c)
        motion = np.zeros(25)
        for i in idx:
            x = ds.x[i, :ds.length[i]]
            x = x - x[:, :1]  # relative to spine base: remove whole-body translation
            motion += np.linalg.norm(np.diff(x, axis=0), axis=-1).sum(0)
        gt = [KINECT_V2.index(j) for j in CLASS_JOINTS[name]]
        rest = [j for j in range(25) if j not in gt and j != 0]
        assert motion[gt].max() > motion[rest].mean(), name
