import numpy as np
import pytest

from skelvis.datasets.synthetic import SyntheticConfig, generate
from skelvis.normalize import body_frame, normalize, pad_sequences, resample
from skelvis.topology import KINECT_V2

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def raw():
    return generate(SyntheticConfig(subjects=3, repetitions=1, seed=2, max_yaw_deg=90))


def test_ntu_normalisation_frame(raw):
    x, scale, info = normalize(raw.x, raw.length, KINECT_V2, "ntu")
    first = x[:, 0]
    np.testing.assert_allclose(first[:, 1], 0, atol=1e-6)               # spine-mid at the origin
    shoulder = first[:, 4] - first[:, 8]                                 # right -> left shoulder
    np.testing.assert_allclose(shoulder[:, 1:], 0, atol=1e-5)           # on the X axis ...
    assert (shoulder[:, 0] > 0).all()                                    # ... pointing to +X
    spine = first[:, 20] - first[:, 0]
    np.testing.assert_allclose(np.linalg.norm(spine, axis=-1), 1, atol=1e-5)  # unit spine length
    assert (spine[:, 1] > 0.9).all()                                     # spine along +Y
    np.testing.assert_allclose(scale, np.linalg.norm(raw.x[:, 0, 20] - raw.x[:, 0, 0], axis=-1), rtol=1e-5)
    assert info["method"] == "ntu"


def test_normalisation_is_a_similarity_transform(raw):
    """Distances shrink by exactly the scale: the body shape is unchanged."""
    x, scale, _ = normalize(raw.x, raw.length, KINECT_V2, "ntu")
    i, t = 1, 5
    d_raw = np.linalg.norm(raw.x[i, t, 3] - raw.x[i, t, 19])
    d_new = np.linalg.norm(x[i, t, 3] - x[i, t, 19])
    assert d_new == pytest.approx(d_raw / scale[i], rel=1e-4)


def test_padding_stays_zero_and_center_mode(raw):
    x, _, _ = normalize(raw.x, raw.length, KINECT_V2, "center")
    for i, L in enumerate(raw.length):
        assert not x[i, L:].any()
    np.testing.assert_allclose(x[:, 0, 1], 0, atol=1e-6)


def test_body_frame_rotation_is_orthonormal(raw):
    _, R, _ = body_frame(raw.x, raw.length, KINECT_V2)
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(R), 1, atol=1e-9)


def test_resample_and_pad():
    seq = np.arange(10, dtype=np.float32).reshape(10, 1, 1)
    np.testing.assert_allclose(resample(seq, 19)[:, 0, 0], np.arange(19) / 2, atol=1e-6)
    x, length = pad_sequences([seq, seq[:4]], max_frames=5)
    assert x.shape == (2, 5, 1, 1) and length.tolist() == [5, 4]
    assert x[0, -1, 0, 0] == 9 and x[1, 4, 0, 0] == 0


@pytest.mark.fast
@pytest.mark.parametrize("method", ["ntu", "center", "none", "zscore"])
def test_normalize_in_blocks_equals_the_whole_array_transform(monkeypatch, method):
    """The block-wise transform (bounded temporaries, issue 16) equals the one-shot formula of
    its docstring for every method, block size and in place (out=x)."""
    import skelvis.normalize as nz
    raw = generate(SyntheticConfig(subjects=2, repetitions=1, seed=3, max_frames=40))
    x, length = raw.x.astype(np.float32), raw.length
    x[1, :3] = 0                              # untracked first frames: the body frame starts later
    train = np.arange(len(x)) % 2 == 0
    valid = (np.arange(x.shape[1])[None, :] < length[:, None])[..., None, None]
    if method == "zscore":
        frames = x.astype(np.float64)[valid[..., 0, 0] & train[:, None]]
        ref = (x - frames.mean(0)) / frames.std(0) * valid
    elif method == "none":
        ref = x * valid
    else:
        origin, R, scale = nz.body_frame(x, length, KINECT_V2)
        ref = x - origin[:, None, None, :]
        if method == "ntu":
            ref = np.einsum("ntjc,nkc->ntjk", ref, R) / scale[:, None, None, None]
        ref = ref * valid
    whole, _, info = nz.normalize(x, length, KINECT_V2, method, train_mask=train)
    monkeypatch.setattr(nz, "BLOCK", 3)
    blocks, _, _ = nz.normalize(x, length, KINECT_V2, method, train_mask=train)
    inplace = x.copy()
    same, _, _ = nz.normalize(inplace, length, KINECT_V2, method, train_mask=train, out=inplace)
    assert same is inplace and info["method"] == method
    for got in (whole, blocks, inplace):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(whole, blocks)
