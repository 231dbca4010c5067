"""UCI Auslan (high quality) reader: .tsd fixtures in a tctodd.tar.gz, broken signs dropped,
long sequences dropped, channel data (J = 22, C = 1), fuzzing."""
import io
import tarfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skelvis.datasets.auslan import read_tsd
from skelvis.datasets.prepare import prepare_dataset
from skelvis.datasets.sources import stage_local
from skelvis.errors import DataFormatError


def tsd_bytes(a):
    return ("\n".join("\t".join(f"{v:.6g}" for v in row) for row in a) + "\n").encode()


def make_tar(path, files):
    with tarfile.open(path, "w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


@pytest.mark.fast
def test_round_trip(tmp_path):
    a = np.random.default_rng(0).normal(size=(17, 22))
    (tmp_path / "alive-1.tsd").write_bytes(tsd_bytes(a))
    got = read_tsd(tmp_path / "alive-1.tsd")
    assert got.shape == (17, 22, 1)
    np.testing.assert_array_equal(got[..., 0], np.float32([[float(f"{v:.6g}") for v in r] for r in a]))


@pytest.mark.fast
def test_reader_from_archive(tmp_path):
    rng = np.random.default_rng(1)
    files, truth = {}, {}
    for day in range(1, 10):
        for sign in ("alive", "his_hers", "broken"):
            for k in (1, 2):
                a = rng.normal(size=(20 + 5 * k, 22))
                data = tsd_bytes(a)
                if sign == "broken" and day == 4 and k == 2:
                    data = data[:-30] + b"\tx\n"  # a damaged line: the whole sign is dropped
                files[f"tctodd{day}/{sign}-{k}.tsd"] = data
                truth[f"tctodd{day}/{sign}-{k}"] = a
    files["tctodd2/alive-3.tsd"] = tsd_bytes(rng.normal(size=(120, 22)))  # longer than 90 frames
    make_tar(tmp_path / "tctodd.tar.gz", files)
    raw = stage_local(tmp_path / "tctodd.tar.gz", tmp_path / "raw", "auslan")
    ds = prepare_dataset("auslan", {"reader": "auslan", "normalization": "none", "max_frames": 90}, str(raw))
    assert ds.classes == ["alive", "his_hers"] and ds.topology == "auslan_glove"
    assert ds.x.shape[1:] == (90, 22, 1) and len(ds.x) == 2 * 9 * 2
    assert ds.extra_attrs["dropped_signs"] == ["broken"]
    assert (ds.split[ds.subject >= 8] == 2).all() and (ds.split[ds.subject == 7] == 1).all()
    k = list(ds.sample_id).index("tctodd3/his_hers-2")
    np.testing.assert_allclose(ds.x[k, :30, :, 0], truth["tctodd3/his_hers-2"], rtol=1e-5)
    assert not ds.x[k, 30:].any()


@pytest.mark.fast
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=400), cut=st.integers(0, 5000), kind=st.sampled_from(["raw", "cut", "insert"]))
def test_fuzz(tmp_path, blob, cut, kind):
    good = tsd_bytes(np.ones((5, 22)))
    text = {"raw": blob, "cut": good[:cut % len(good)], "insert": good[:cut % len(good)] + blob + good[cut % len(good):]}[kind]
    p = tmp_path / "x-1.tsd"
    p.write_bytes(text)
    try:
        a = read_tsd(p)
    except DataFormatError as e:
        assert str(p) in str(e) and e.line is not None
        return
    assert a.ndim == 3 and a.shape[1:] == (22, 1)
