"""Generic folder reader: .npy and .csv samples, labels.csv, dataset.yaml; NaN / all-zero
sequences are reported and excluded, never trained on."""
import numpy as np
import pytest

from skelvis.datasets.generic import read_labels, read_sample, write_generic
from skelvis.datasets.prepare import prepare_dataset
from skelvis.errors import DataFormatError


def _samples(rng, n=8):
    out = {}
    for i in range(n):
        x = rng.normal(0, 0.05, (6 + i % 3, 25, 3)).astype(np.float32)
        x[:, 20, 1] += 0.5
        x[:, 4, 0] += 0.2
        out[f"s{i:02d}"] = x
    return out


@pytest.mark.fast
@pytest.mark.parametrize("fmt", ["npy", "csv"])
def test_round_trip_and_exclusion(tmp_path, fmt):
    rng = np.random.default_rng(0)
    samples = _samples(rng)
    samples["s06"][2, 3, 1] = np.nan      # NaN joint: reported and excluded
    samples["s07"][:] = 0.0               # all-zero joints: reported and excluded
    labels = [{"sample": k, "label": ["wave", "kick"][i % 2], "subject": i, "split": ["train", "validation", "test"][i % 3]}
              for i, k in enumerate(samples)]
    write_generic(tmp_path, samples, labels, "kinect_v2", fps=25, fmt=fmt)
    ds = prepare_dataset("mine", {"reader": "generic", "normalization": "none", "max_frames": 10}, str(tmp_path))
    assert list(ds.sample_id) == [f"s{i:02d}" for i in range(6)]
    reasons = {e["sample_id"]: e["reason"] for e in ds.extra_attrs["excluded"]}
    assert reasons == {"s06": "non-finite values", "s07": "all-zero joints"}
    assert ds.classes == ["kick", "wave"] and ds.fps == 25 and ds.split.tolist() == [0, 1, 2, 0, 1, 2]
    for i in range(6):
        np.testing.assert_allclose(ds.x[i, :ds.length[i]], samples[f"s{i:02d}"], rtol=1e-6, atol=1e-8)


@pytest.mark.fast
def test_errors_name_file_and_line(tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n" + "1," * 74 + "1\n" + "1,2,3\n")
    with pytest.raises(DataFormatError, match=r"a.csv:3: 3 values"):
        read_sample(tmp_path / "a.csv", 25, 3)
    (tmp_path / "labels.csv").write_text("sample,label,subject\nx,wave,notanint\n")
    with pytest.raises(DataFormatError, match=r"labels.csv:2: subject"):
        read_labels(tmp_path / "labels.csv")
    np.save(tmp_path / "b.npy", np.zeros((3, 20, 3)))
    with pytest.raises(DataFormatError, match="shape"):
        read_sample(tmp_path / "b.npy", 25, 3)
