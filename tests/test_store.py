import h5py
import numpy as np
import pytest

from skelvis.datasets.store import Dataset, read_dataset, write_dataset
from skelvis.errors import DataFormatError

pytestmark = pytest.mark.fast


def _ds(n=5):
    rng = np.random.default_rng(0)
    return Dataset(x=rng.normal(size=(n, 7, 25, 3)).astype(np.float32), length=np.full(n, 7, np.int32),
                   label=np.arange(n, dtype=np.int32) % 2, subject=np.arange(n, dtype=np.int32),
                   split=np.array([0, 0, 1, 2, 2][:n], np.int8), sample_id=np.array([f"s{i}" for i in range(n)]),
                   classes=["a", "b"], topology="kinect_v2", name="t", normalization={"method": "ntu"},
                   extra_attrs={"class_joints": {"a": ["head"]}})


def test_round_trip(tmp_path):
    ds = _ds()
    write_dataset(ds, tmp_path / "d.h5")
    back = read_dataset(tmp_path / "d.h5")
    np.testing.assert_array_equal(back.x, ds.x)
    for k in ("length", "label", "subject", "split", "sample_id"):
        np.testing.assert_array_equal(getattr(back, k), getattr(ds, k))
    assert back.classes == ["a", "b"] and back.topology == "kinect_v2" and back.normalization == {"method": "ntu"}
    with h5py.File(tmp_path / "d.h5") as f:
        assert f["x"].dtype == np.float32 and f["split"].dtype == np.int8 and f["length"].dtype == np.int32
        assert {"dataset", "topology", "classes", "fps", "normalization", "source_sha256", "skelvis_version"} <= set(f.attrs)


def test_truncated_file_fails_clearly(tmp_path):
    write_dataset(_ds(), tmp_path / "d.h5")
    data = (tmp_path / "d.h5").read_bytes()
    (tmp_path / "bad.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"bad\.h5.*run the 'prepare' rule again"):
        read_dataset(tmp_path / "bad.h5")


def test_missing_dataset_and_bad_labels_fail(tmp_path):
    write_dataset(_ds(), tmp_path / "d.h5")
    with h5py.File(tmp_path / "d.h5", "a") as f:
        del f["label"]
    with pytest.raises(DataFormatError, match="missing dataset"):
        read_dataset(tmp_path / "d.h5")
    ds = _ds()
    ds.label[0] = 7
    write_dataset(ds, tmp_path / "e.h5")
    with pytest.raises(DataFormatError, match="label"):
        read_dataset(tmp_path / "e.h5")


def test_failed_write_leaves_no_file(tmp_path):
    ds = _ds()
    ds.extra_attrs["bad"] = object()  # not JSON-serialisable: fails mid-write
    with pytest.raises(TypeError):
        write_dataset(ds, tmp_path / "d.h5")
    assert list(tmp_path.iterdir()) == []
