import numpy as np
import pytest

from skelvis.datasets.synthetic import CLASS_JOINTS, CLASSES, SyntheticConfig, generate
from skelvis.topology import KINECT_V2

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def small():
    return generate(SyntheticConfig(subjects=6, repetitions=1, noise=0.0, faults=0.0, seed=3))


def test_forward_kinematics_keeps_every_bone_length_exact(small):
    for i in range(len(small.x)):
        x = small.x[i, :small.length[i]].astype(np.float64)
        lengths = np.stack([np.linalg.norm(x[:, a] - x[:, b], axis=-1) for a, b in KINECT_V2.bones], 1)
        # float32 camera coordinates (~3 m): about 1e-6 m absolute rounding on every bone
        np.testing.assert_allclose(lengths, lengths[:1].repeat(len(lengths), 0), rtol=1e-5, atol=2e-6)


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
    ds = generate(SyntheticConfig(subjects=4, repetitions=1, noise=0.0, faults=0.0, max_yaw_deg=0.0, seed=1))
    for c, name in enumerate(ds.classes):
        idx = np.flatnonzero(ds.label == c)
        motion = np.zeros(25)
        for i in idx:
            x = ds.x[i, :ds.length[i]]
            x = x - x[:, :1]  # relative to spine base: remove whole-body translation
            motion += np.linalg.norm(np.diff(x, axis=0), axis=-1).sum(0)
        gt = [KINECT_V2.index(j) for j in CLASS_JOINTS[name]]
        rest = [j for j in range(25) if j not in gt and j != 0]
        if not rest:  # a whole-body class (sweep): nothing to compare with
            continue
        assert motion[gt].max() > motion[rest].mean(), name


# ---------------------------------------------------------------- classes, pairs, variation (issue 15)
from skelvis.datasets import synthetic as syn
from skelvis.datasets.prepare import prepare_dataset
from skelvis.datasets.store import read_dataset, write_dataset


def test_catalog_offers_60_classes_each_with_ground_truth_joints():
    assert len(syn.CATALOG) == 60 and len(set(syn.CATALOG)) == 60
    assert set(syn.CLASSES) <= set(syn.CATALOG)
    for c in syn.CATALOG:
        assert syn.CLASS_JOINTS[c] and all(j in KINECT_V2.joints for j in syn.CLASS_JOINTS[c]), c
    # a mirrored variant moves the mirrored joints, and mirroring twice is the identity
    assert set(syn.CLASS_JOINTS["throw_left"]) == {j.replace("right_", "left_") for j in syn.CLASS_JOINTS["throw"]}
    assert syn.mirror_name("throw") == "throw_left" and syn.mirror_name("throw_left") == "throw"
    assert syn.mirror_name("clapping") is None
    # 49 classes (the NTU scale configuration) generate, each with its own ground truth attr
    ds = generate(SyntheticConfig(classes=syn.CATALOG[:49], subjects=3, repetitions=1, frames=16, max_frames=20))
    assert len(ds.classes) == 49 and set(np.bincount(ds.label)) == {3}
    assert set(ds.extra_attrs["class_joints"]) == set(syn.CATALOG[:49])


def test_mirrored_class_is_the_mirror_image_of_its_base():
    """throw_left by subject s is throw by s reflected through the body's sagittal plane."""
    kw = {"subjects": 2, "repetitions": 1, "noise": 0.0, "faults": 0.0, "max_yaw_deg": 0.0, "left_handed": 0.0, "posture": 0.0,
              "shortcut": {"enabled": False}}
    a = prepare_dataset("a", {"reader": "synthetic", "synthetic": dict(kw, classes=["throw", "kick"])}, seed=4)
    b = prepare_dataset("b", {"reader": "synthetic", "synthetic": dict(kw, classes=["throw_left", "kick"])}, seed=4)
    # the left arm's wrist in throw_left rises like the right wrist in throw (same random draws; only
    # the idle sway of the left shoulder, +-4 deg, is not mirrored); a hanging wrist would be ~1 away
    rw, lw = KINECT_V2.index("right_wrist"), KINECT_V2.index("left_wrist")
    i = 0
    L = a.length[i]
    np.testing.assert_allclose(a.x[i, :L, rw, 1], b.x[i, :L, lw, 1], atol=0.1)
    np.testing.assert_allclose(a.x[i, :L, rw, 0], -b.x[i, :L, lw, 0], atol=0.1)
    assert np.ptp(b.x[i, :L, lw, 1]) > 0.8


def _class_templates(ds, bins=16):
    """Mean normalised trajectory of each class, resampled to ``bins`` frames: (K, bins * J * 3)."""
    out = []
    for c in range(len(ds.classes)):
        seqs = []
        for i in np.flatnonzero(ds.label == c):
            t = np.linspace(0, ds.length[i] - 1, bins).round().astype(int)
            seqs.append(ds.x[i, t].ravel())
        out.append(np.mean(seqs, 0))
    return np.array(out)


def test_each_designed_pair_shares_most_of_its_motion():
    """For each class of a designed pair its nearest class (mean normalised trajectory) is its partner."""
    cfg = {"reader": "synthetic", "synthetic": {"subjects": 6, "repetitions": 1, "faults": 0.0,
                                                "shortcut": {"enabled": False}}}
    ds = prepare_dataset("s", cfg, seed=0)
    tpl = _class_templates(ds)
    d = np.linalg.norm(tpl[:, None] - tpl[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    for a, b in syn.DESIGNED_PAIRS:
        ia, ib = ds.classes.index(a), ds.classes.index(b)
        assert ds.classes[int(np.argmin(d[ia]))] == b, (a, ds.classes[int(np.argmin(d[ia]))])
        assert ds.classes[int(np.argmin(d[ib]))] == a, (b, ds.classes[int(np.argmin(d[ib]))])
    assert sorted(map(tuple, ds.extra_attrs["designed_pairs"])) == sorted(syn.DESIGNED_PAIRS)


def test_sensor_faults_make_a_joint_jump_for_a_few_frames():
    kw = {"classes": ["bow", "clapping"], "subjects": 4, "repetitions": 2, "noise": 0.0, "seed": 2,
              "shortcut": {"enabled": False}}
    clean = generate(SyntheticConfig(faults=0.0, **kw))
    faulty = generate(SyntheticConfig(faults=1.0, **kw))
    jumped = np.linalg.norm(faulty.x - clean.x, axis=-1) > 0.1             # (N, T, J)
    per_seq = jumped.any(-1).sum(1)                                          # frames with a jump
    assert (per_seq >= 2).all() and (per_seq <= 5).all()
    assert (jumped.sum(-1) <= 1).all()                                       # one joint at a time


def test_subject_variation_posture_tempo_handedness():
    ds = generate(SyntheticConfig(classes=["hand_waving", "bow"], subjects=40, repetitions=1, seed=0,
                                  left_handed=0.5, shortcut={"enabled": False}))
    wave = ds.label == 0
    # handedness: the waving hand is the right one for some subjects and the left for others
    rh, lh, head = KINECT_V2.index("right_hand"), KINECT_V2.index("left_hand"), KINECT_V2.index("head")
    raised_right = (ds.x[wave, 20, rh, 1] > ds.x[wave, 20, lh, 1])
    assert 0.2 < raised_right.mean() < 0.8
    # tempo: durations vary between subjects beyond the per-sample speed
    assert np.std(ds.length) / np.mean(ds.length) > 0.1
    del head


# ---------------------------------------------------------------- the planted shortcut (issue 15)
def test_shortcut_is_recorded_and_correlates_in_training_only():
    ds = generate(SyntheticConfig(subjects=40, repetitions=2, seed=0))
    sc = ds.extra_attrs["shortcut"]
    assert sc["class"] == "punch" and sc["frames"] == [0, 14]
    assert set(sc["joints"]) == set(syn.SHORTCUT_JOINTS)
    cue = ds.extra_arrays["shortcut_cue"].astype(bool)
    kick = ds.label == ds.classes.index("punch")
    train = ds.split == 0
    assert 0.65 < cue[kick & train].mean() < 0.95
    assert cue[~kick & train].mean() < 0.1 and cue[~train].mean() < 0.1
    # the flag is true exactly where the left hand is above the head in the first frames
    lh, head = KINECT_V2.index("left_hand"), KINECT_V2.index("head")
    raised = (ds.x[:, 2, lh, 1] > ds.x[:, 2, head, 1])
    np.testing.assert_array_equal(raised, cue)


def test_switching_the_shortcut_off_changes_only_the_cue():
    kw = {"subjects": 6, "repetitions": 1, "seed": 7}
    on = generate(SyntheticConfig(**kw))
    off = generate(SyntheticConfig(**kw, shortcut={"enabled": False}))
    cue = on.extra_arrays["shortcut_cue"].astype(bool)
    assert cue.any() and "shortcut" not in off.extra_attrs and not off.extra_arrays
    np.testing.assert_array_equal(on.x[~cue], off.x[~cue])
    diff = np.abs(on.x[cue] - off.x[cue]).max(-1) > 1e-6                     # (n, T, J)
    moved = np.flatnonzero(diff.any((0, 1)))
    cue_joints = [KINECT_V2.index(j) for j in syn.SHORTCUT_JOINTS]
    assert set(moved) <= set(cue_joints)
    assert not diff[:, 14:].any()                                           # only in the cue's frames


def test_shortcut_class_not_generated_plants_nothing():
    ds = generate(SyntheticConfig(classes=["bow", "clapping"], subjects=3, repetitions=1))
    assert "shortcut" not in ds.extra_attrs and not ds.extra_arrays
    with pytest.raises(ValueError, match="shortcut: unknown key"):
        generate(SyntheticConfig(classes=["kick", "bow"], subjects=3, repetitions=1, shortcut={"clas": "kick"}))


def test_same_seed_gives_the_same_dataset_bytes(tmp_path):
    cfg = {"reader": "synthetic", "normalization": "ntu", "max_frames": 32,
           "synthetic": {"subjects": 4, "repetitions": 1, "frames": 24}}
    paths = []
    for k, seed in enumerate((3, 3, 4)):
        paths.append(tmp_path / f"d{k}.h5")
        write_dataset(prepare_dataset("d", cfg, seed=seed), paths[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    back = read_dataset(paths[0])
    assert back.extra_arrays["shortcut_cue"].dtype == np.int8 and back.extra_arrays["shortcut_cue"].any()
