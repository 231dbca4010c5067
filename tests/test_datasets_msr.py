"""MSR Action3D reader: round trip of a written fixture, the real files, fuzzing."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skelvis.datasets.msr_action3d import read_msr_file
from skelvis.datasets.prepare import prepare_dataset
from skelvis.errors import DataFormatError


def write_msr(path, xyz, conf=1.0):
    lines = [f"{x:.6f} {y:.6f} {z:.6f} {conf:.6f}" for f in xyz for (x, y, z) in f]
    path.write_text("\n".join(lines) + "\n")


def fixture_folder(tmp_path, n_frames=(5, 7)):
    rng = np.random.default_rng(0)
    truth = {}
    for a in (1, 2):
        for s in (1, 2, 3, 4):
            xyz = rng.normal(size=(n_frames[s % 2], 20, 3)).astype(np.float32)
            xyz[:, 2, 1] += 1.0  # shoulder centre above spine: a non-degenerate body frame
            name = f"a{a:02d}_s{s:02d}_e01"
            write_msr(tmp_path / f"{name}_skeleton3D.txt", xyz)
            truth[name] = xyz
    write_msr(tmp_path / "a02_s03_e02_skeleton3D.txt", np.zeros((4, 20, 3)))
    return truth


@pytest.mark.fast
def test_round_trip(tmp_path):
    truth = fixture_folder(tmp_path)
    for name, xyz in truth.items():
        got = read_msr_file(tmp_path / f"{name}_skeleton3D.txt")
        np.testing.assert_array_equal(got, np.float32(np.round(xyz.astype(np.float64), 6)))


@pytest.mark.fast
def test_reader_splits_and_excludes_all_zero(tmp_path):
    truth = fixture_folder(tmp_path)
    cfg = {"reader": "msr_action3d", "normalization": "none", "max_frames": 10}
    ds = prepare_dataset("m", cfg, str(tmp_path))
    assert len(ds.x) == len(truth)  # the all-zero file is excluded
    assert ds.extra_attrs["excluded"] == [{"sample_id": "a02_s03_e02", "reason": "all-zero joints"}]
    assert set(ds.split[ds.subject % 2 == 1]) == {0} and set(ds.split[ds.subject % 2 == 0]) == {2}
    k = list(ds.sample_id).index("a01_s02_e01")
    np.testing.assert_allclose(ds.x[k, :ds.length[k]], truth["a01_s02_e01"], atol=1e-6)
    assert ds.classes == ["high arm wave", "horizontal arm wave"]


@pytest.mark.fast
@pytest.mark.realdata
def test_real_files(shared_data):
    folder = shared_data / "msr_action3d"
    files = sorted(folder.glob("*_skeleton3D.txt"))
    assert len(files) == 567
    p = folder / "a01_s01_e01_skeleton3D.txt"
    x = read_msr_file(p)
    first = [float(v) for v in p.read_text().split("\n")[0].split()]
    np.testing.assert_array_equal(x[0, 0], np.float32(first[:3]))
    last = [float(v) for v in p.read_text().strip().split("\n")[-1].split()]
    np.testing.assert_array_equal(x[-1, 19], np.float32(last[:3]))
    assert len(x) * 20 == len(p.read_text().strip().split("\n"))
    assert not read_msr_file(folder / "a13_s09_e02_skeleton3D.txt").any()


@pytest.mark.fast
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), mutation=st.sampled_from(["raw", "truncate", "garbage", "nan", "huge", "count"]))
def test_fuzz(tmp_path, data, mutation):
    base = "\n".join("0.1 0.2 0.3 1" for _ in range(40)) + "\n"
    if mutation == "raw":
        text = data
    elif mutation == "truncate":
        text = base.encode()[: len(data) % len(base)]
    elif mutation == "garbage":
        text = base.encode()[:50] + data[:20] + b"\n" + base.encode()[50:]
    elif mutation == "nan":
        text = base.replace("0.2", "nan", 1).encode()
    elif mutation == "huge":
        text = base.replace("0.2", "1e999", 1).encode()
    else:
        text = "\n".join("0.1 0.2 0.3 1" for _ in range(39)).encode()
    p = tmp_path / "a01_s01_e01_skeleton3D.txt"
    p.write_bytes(text)
    try:
        x = read_msr_file(p)
    except DataFormatError as e:
        assert str(p) in str(e)
        return
    assert x.ndim == 3 and x.shape[1:] == (20, 3)
    if mutation in ("nan", "huge"):
        assert not np.isfinite(x).all()
