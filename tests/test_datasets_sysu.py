"""SYSU-3D reader: sklWorld.mat fixtures (MATLAB v5 and v7.3 layouts), split 1-20 / 21-40."""
import numpy as np
import pytest
import scipy.io

from skelvis.datasets.prepare import prepare_dataset
from skelvis.datasets.sysu import read_sysu_mat, to_frames
from skelvis.errors import DataFormatError


def _skeleton(rng, T):
    x = rng.normal(0, 0.05, (T, 20, 3)).astype(np.float32)
    x[:, 2, 1] += 0.5   # shoulder centre above hip centre
    x[:, 4, 0] -= 0.2   # left shoulder
    x[:, 8, 0] += 0.2   # right shoulder
    return x


@pytest.mark.fast
def test_round_trip_v5(tmp_path):
    rng = np.random.default_rng(0)
    x = _skeleton(rng, 13)
    scipy.io.savemat(tmp_path / "sklWorld.mat", {"S_world": x.transpose(1, 2, 0)})  # 20 x 3 x T
    np.testing.assert_array_equal(read_sysu_mat(tmp_path / "sklWorld.mat"), x)


@pytest.mark.fast
def test_round_trip_v73_hdf5(tmp_path):
    import h5py
    rng = np.random.default_rng(1)
    x = _skeleton(rng, 7)
    with h5py.File(tmp_path / "sklWorld.mat", "w") as f:  # MATLAB v7.3 stores axes reversed
        f["S"] = x.transpose(1, 2, 0).transpose()
    np.testing.assert_array_equal(read_sysu_mat(tmp_path / "sklWorld.mat"), x)


@pytest.mark.fast
def test_layouts_and_errors(tmp_path):
    x = np.arange(5 * 20 * 3, dtype=np.float32).reshape(5, 20, 3)
    for a in (x.transpose(1, 2, 0), x, x.transpose(0, 2, 1), x.transpose(2, 1, 0)):
        np.testing.assert_array_equal(to_frames(a), x)
    with pytest.raises(DataFormatError):
        to_frames(np.zeros((4, 5, 6)), "f.mat")
    (tmp_path / "bad.mat").write_bytes(b"garbage" * 10)
    with pytest.raises(DataFormatError, match="bad.mat"):
        read_sysu_mat(tmp_path / "bad.mat")


@pytest.mark.fast
def test_reader(tmp_path):
    rng = np.random.default_rng(2)
    for s in (1, 20, 21, 40):
        for a in (1, 12):
            d = tmp_path / f"sub{s:02d}" / f"act{a:02d}"
            d.mkdir(parents=True)
            scipy.io.savemat(d / "sklWorld.mat", {"S": _skeleton(rng, 6 + s % 3).transpose(1, 2, 0)})
    ds = prepare_dataset("sysu", {"reader": "sysu", "normalization": "ntu", "max_frames": 10}, str(tmp_path))
    assert len(ds.x) == 8 and ds.classes == ["drinking", "sweeping"] and ds.topology == "kinect_v1"
    assert (ds.split[ds.subject <= 20] == 0).all() and (ds.split[ds.subject > 20] == 2).all()
    assert sorted(set(ds.length.tolist())) == sorted({6 + s % 3 for s in (1, 20, 21, 40)})
