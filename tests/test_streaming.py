"""Bounded-memory saliency and faithfulness (issue 16): chunked reads of data.h5, maps written chunk by
chunk, results independent of the chunk size and equal to the one-shot computation."""
import tracemalloc

import h5py
import numpy as np
import pytest
import torch

from skelvis import faithfulness as F
from skelvis import saliency as S
from skelvis.datasets.store import Dataset, iter_dataset, read_dataset, read_dataset_info, write_dataset
from skelvis.models import RecurrentClassifier
from skelvis.settings import SaliencyConfig


def resample_time(m: np.ndarray, length: int, bins: int = 32) -> np.ndarray:
    """Independent reference of saliency.resample_maps: np.interp per column over the first
    ``length`` frames onto ``bins`` points of normalised time."""
    L = int(length)
    src = np.linspace(0.0, 1.0, L) if L > 1 else np.zeros(1)
    flat = m[:L].reshape(L, -1)
    out = np.stack([np.interp(np.linspace(0.0, 1.0, bins), src, flat[:, k]) if L > 1 else np.full(bins, flat[0, k])
                    for k in range(flat.shape[1])], 1)
    return out.reshape((bins,) + m.shape[1:])

pytestmark = pytest.mark.fast


def _dataset(N=11, T=9, J=4, C=3, K=3, seed=0):
    rng = np.random.default_rng(seed)
    length = rng.integers(1, T + 1, N).astype(np.int32)
    length[0] = T
    x = rng.normal(size=(N, T, J, C)).astype(np.float32) * (np.arange(T)[None, :, None, None] < length[:, None, None, None])
    return Dataset(x=x, length=length, label=(np.arange(N) % K).astype(np.int32), subject=np.arange(N, dtype=np.int32),
                   split=(np.arange(N) % 3).astype(np.int8), sample_id=np.array([f"s{i}" for i in range(N)]),
                   classes=[f"c{k}" for k in range(K)], topology="none", name="t",
                   extra_attrs={"class_joints": {"c0": ["j1"], "c1": ["j0", "j2"]}})


def _model(J=4, C=3, H=6, K=3, seed=0):
    torch.manual_seed(seed)
    m = RecurrentClassifier(J * C, H, K, cell="lstm").eval()
    with torch.no_grad():
        for p in m.rnn.parameters():
            p.mul_(2.0)
    return m


@pytest.fixture
def data(tmp_path):
    ds = _dataset()
    write_dataset(ds, tmp_path / "data.h5")
    return ds, tmp_path / "data.h5"


def test_iter_dataset_equals_whole_read(data):
    ds, path = data
    info = read_dataset_info(path)
    assert info.shape == ds.x.shape and info.classes == ds.classes
    for chunk in (1, 3, 100):
        parts = list(iter_dataset(path, chunk))
        assert all(len(i) <= chunk for i, _ in parts)
        np.testing.assert_array_equal(np.concatenate([p.x for _, p in parts]), ds.x)
        np.testing.assert_array_equal(np.concatenate([i for i, _ in parts]), np.arange(len(ds.x)))
        np.testing.assert_array_equal(np.concatenate([p.sample_id for _, p in parts]), ds.sample_id)
    rows = np.array([1, 2, 5, 9])
    got = list(iter_dataset(path, 3, rows=rows))
    np.testing.assert_array_equal(np.concatenate([p.x for _, p in got]), ds.x[rows])
    np.testing.assert_array_equal(np.concatenate([p.label for _, p in got]), ds.label[rows])
    with pytest.raises(ValueError, match="increasing"):
        list(iter_dataset(path, 3, rows=[2, 1]))


def test_unit_map_rows_policies():
    split = np.array([0, 1, 2, 0, 1, 2, 0, 0])
    label = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    assert list(S.unit_map_rows(split, label, "all")) == list(range(8))
    assert list(S.unit_map_rows(split, label, "held_out")) == [1, 2, 4, 5]
    assert list(S.unit_map_rows(split, label, 1)) == [1, 4, 6]       # class 2 has no held-out: any split
    with pytest.raises(S.SaliencyInputError, match="keep_unit_maps"):
        S.unit_map_rows(split, label, "some")


def test_resample_maps_equals_interp():
    rng = np.random.default_rng(0)
    m = rng.random((4, 9, 3, 2))
    length = np.array([9, 5, 1, 2])
    got = S.resample_maps(m, length, 32)
    for i in range(4):
        np.testing.assert_allclose(got[i], resample_time(m[i], length[i], 32), atol=1e-12)


@pytest.mark.parametrize("mode", ["local", "through_time"])
def test_streamed_file_equals_one_shot_for_any_chunk(data, tmp_path, mode):
    ds, path = data
    m = _model()
    units = [1, 4, 2]
    ref = S.saliency_maps(m, torch.from_numpy(ds.x), torch.from_numpy(ds.length), torch.from_numpy(ds.label),
                          units=units, mode=mode)
    files = {}
    for chunk in (1, 3, len(ds.x)):
        out = tmp_path / f"s{chunk}.h5"
        S.stream_saliency(m, path, out, SaliencyConfig(units=tuple(units), keep_unit_maps="held_out", mode=mode,
                                                       chunk_size=chunk, device="cpu"))
        files[chunk] = S.read_saliency(out)
    keep = np.flatnonzero(ds.split != 0)
    # reference per-class means from the one-shot maps (np.interp through the plots' resample_time)
    cmean = np.stack([np.mean([resample_time(ref.class_map[i], ds.length[i]) for i in np.flatnonzero(ds.label == c)], 0)
                      for c in range(3)])
    umean = np.stack([np.stack([np.mean([resample_time(ref.unit_maps[i, q], ds.length[i])
                                         for i in np.flatnonzero(ds.label == c)], 0) for c in range(3)])
                      for q in range(len(units))])
    for chunk, f in files.items():
        np.testing.assert_allclose(f["class_map"], ref.class_map, atol=1e-6, rtol=0)
        np.testing.assert_allclose(f["pred_map"], ref.pred_map, atol=1e-6, rtol=0)
        np.testing.assert_array_equal(f["predicted"], ref.predicted)
        np.testing.assert_array_equal(f["unit_map_index"], keep)
        np.testing.assert_allclose(f["unit_maps"], ref.unit_maps[keep], rtol=2e-3, atol=1e-6)   # float16
        np.testing.assert_allclose(f["class_map_mean"], cmean, atol=1e-6, rtol=1e-6)
        np.testing.assert_allclose(f["unit_map_mean"], umean, atol=1e-6, rtol=1e-6)
        np.testing.assert_array_equal(f["class_count"], np.bincount(ds.label, minlength=3))
        assert f["attrs"]["mode"] == mode and f["attrs"]["keep_unit_maps"] == "held_out"
        for k in ("class_map", "pred_map", "unit_maps", "class_map_mean", "unit_map_mean"):
            np.testing.assert_allclose(f[k], files[1][k], atol=1e-6, rtol=0)


def test_partial_read(data, tmp_path):
    _ds, path = data
    m = _model()
    S.stream_saliency(m, path, tmp_path / "s.h5", SaliencyConfig(units=(0, 3), keep_unit_maps="held_out",
                                                                  chunk_size=4, device="cpu"))
    whole = S.read_saliency(tmp_path / "s.h5")
    rows = [7, 1, 3, 2]                               # any order; 3 is train (split 0): no unit map kept
    part = S.read_saliency(tmp_path / "s.h5", rows=rows, keys=["class_map", "unit_maps", "units"])
    np.testing.assert_array_equal(part["class_map"], whole["class_map"][rows])
    assert "pred_map" not in part and list(part["units"]) == [0, 3]
    np.testing.assert_array_equal(part["unit_map_index"], [7, 1, 2])
    where = {r: i for i, r in enumerate(whole["unit_map_index"])}
    np.testing.assert_array_equal(part["unit_maps"], whole["unit_maps"][[where[7], where[1], where[2]]])
    # what notebook 02 holds: class maps read on access, any index form, and the file's per-class
    # means behind the class heatmaps equal the mean of the resampled per-sequence maps
    lazy = S.LazyMaps(tmp_path / "s.h5", "class_map")
    cm = whole["class_map"]
    assert lazy.shape == cm.shape and len(lazy) == len(cm)
    mask = np.arange(len(cm)) % 3 == 0
    for key in (5, slice(2, 9), mask, [7, 1, 3, 1], np.array([4, 0]), (7, slice(0, 3)), ([2, 0], 1)):
        np.testing.assert_array_equal(lazy[key], cm[key] if not isinstance(key, tuple) or np.isscalar(key[0])
                                      else cm[np.asarray(key[0])][(slice(None),) + key[1:]])
    assert lazy[[]].shape == (0,) + cm.shape[1:]
    ds = read_dataset(path)
    for c in range(len(ds.classes)):
        sel = np.flatnonzero(ds.label == c)
        ref = np.mean([resample_time(cm[i], ds.length[i]) for i in sel], 0)
        np.testing.assert_allclose(whole["class_map_mean"][c], ref, rtol=1e-5, atol=1e-7)
        assert whole["class_count"][c] == len(sel)


def test_streamed_saliency_memory_is_bounded(tmp_path):
    """Peak numpy allocation (tracemalloc) of the streamed rule is flat in N at a fixed chunk size;
    holding the maps of every sequence (the one-shot saliency_maps) grows with N."""
    m = _model(J=25, H=12, K=4)
    peaks = {}
    for N in (48, 480):
        ds = _dataset(N=N, T=20, J=25, K=4, seed=N)
        write_dataset(ds, tmp_path / f"d{N}.h5")
        tracemalloc.start()
        S.stream_saliency(m, tmp_path / f"d{N}.h5", tmp_path / f"s{N}.h5",
                          SaliencyConfig(units=tuple(range(10)), chunk_size=16, device="cpu"))
        peaks[N] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        with h5py.File(tmp_path / f"s{N}.h5") as f:
            assert f["unit_maps"].shape == (N, 10, 20, 25)
    assert peaks[480] < 1.2 * peaks[48], peaks
    ds = read_dataset(tmp_path / "d480.h5")
    tracemalloc.start()
    S.saliency_maps(m, torch.from_numpy(ds.x), torch.from_numpy(ds.length), torch.from_numpy(ds.label),
                    units=list(range(10)), chunk_size=16)
    one_shot = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert one_shot > 480 * 10 * 20 * 25 * 4 > peaks[480], (one_shot, peaks)  # the unit maps alone: 9.6 MB


def test_faithfulness_from_files_equals_in_memory_for_any_chunk(data, tmp_path):
    ds, path = data
    m = _model()
    S.stream_saliency(m, path, tmp_path / "s.h5", SaliencyConfig(units=(0,), chunk_size=5, device="cpu"))
    cm = S.read_saliency(tmp_path / "s.h5")["class_map"]
    joints = ["j0", "j1", "j2", "j3"]
    cfg = SaliencyConfig(faithfulness_split="all", deletion_random_orders=2, seed=3)
    ref = F.evaluate_faithfulness(m, ds, cm, joints, cfg)
    for chunk in (1, 3, len(ds.x)):
        got = F.score_files(m, path, tmp_path / "s.h5", joints, cfg, chunk=chunk)
        assert got["n"] == ref["n"] == len(ds.x) and got["deletion"]["n"] == len(ds.x)
        for c, v in ref["mass_share"]["per_class"].items():
            assert got["mass_share"]["per_class"][c]["share"] == pytest.approx(v["share"], abs=1e-6)
            assert got["mass_share"]["per_class"][c]["n"] == v["n"]
        for k in ("salient", "random", "random_std"):
            np.testing.assert_allclose(got["deletion"][k], ref["deletion"][k], atol=1e-6)


def test_deletion_scores_a_bounded_seeded_subset(data, tmp_path):
    ds, path = data
    m = _model()
    S.stream_saliency(m, path, tmp_path / "s.h5", SaliencyConfig(units=(0,), device="cpu"))
    cm = S.read_saliency(tmp_path / "s.h5")["class_map"]
    rows = np.flatnonzero(ds.split != 0)
    sub = F.deletion_rows(rows, 4, seed=1)
    assert len(sub) == 4 and set(sub) <= set(rows) and np.all(np.diff(sub) > 0)
    assert np.array_equal(sub, F.deletion_rows(rows, 4, seed=1)) and np.array_equal(F.deletion_rows(rows, 99), rows)
    got = F.score_files(m, path, tmp_path / "s.h5", ["j0", "j1", "j2", "j3"],
                        SaliencyConfig(deletion_max_sequences=4, seed=1), chunk=2)
    assert got["n"] == len(rows) and got["deletion"]["n"] == 4
    ref = F.deletion_curve(m, ds.x[sub], ds.length[sub], ds.label[sub], cm[sub], random_orders=3, seed=1)
    np.testing.assert_allclose(got["deletion"]["salient"], ref["salient"], atol=1e-6)
    bad = _dataset(N=5)
    write_dataset(bad, tmp_path / "other.h5")
    with pytest.raises(ValueError, match=r"s\.h5: class_map has shape .*other\.h5 has"):
        F.score_files(m, tmp_path / "other.h5", tmp_path / "s.h5", ["j0", "j1", "j2", "j3"])


def test_deletion_curve_does_not_depend_on_the_batch():
    """Streamed over batches of sequences; equal to the per-(order, k) mean over all sequences."""
    ds = _dataset(N=11)
    m = _model()
    cm = np.random.default_rng(0).random(ds.x.shape[:3]).astype(np.float32)
    curves = [F.deletion_curve(m, ds.x, ds.length, ds.label, cm, random_orders=2, seed=4, batch_size=b)
              for b in (1, 3, 11)]
    for c in curves[1:]:
        for k in ("salient", "random", "random_std"):
            np.testing.assert_allclose(c[k], curves[0][k], atol=1e-6)
    # reference: freezing the two most salient joints of every sequence at once
    x, length, y = torch.from_numpy(ds.x), torch.from_numpy(ds.length).long(), torch.from_numpy(ds.label).long()
    top2 = np.argsort(-cm.sum(1), axis=1, kind="stable")[:, :2]
    frozen = torch.zeros(11, 4, dtype=torch.bool)
    frozen[torch.arange(11)[:, None], torch.from_numpy(top2)] = True
    with torch.no_grad():
        p = torch.softmax(m(F.freeze_joints(x, length, frozen).flatten(2), length), 1)[torch.arange(11), y]
    assert curves[0]["salient"][2] == pytest.approx(float(p.mean()), abs=1e-6)
