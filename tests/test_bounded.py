"""Bounded memory in the rules after saliency (issue 16): evaluate and activations stream data.h5,
the autoencoder reads activations.h5 in chunks, periods analyse a seeded subset read from disk,
notebook 04 reads only what it draws.  Each equals its in-memory form, whatever the chunk size,
and its peak numpy allocation (tracemalloc) does not grow with N."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import peak_memory
from test_periods import _tiny_dataset
from test_streaming import _dataset, _model

from skelvis import activations as A
from skelvis import autoencoder as AE
from skelvis import evaluate as E
from skelvis import periods as P
from skelvis.datasets.store import write_dataset
from skelvis.models import build_model
from skelvis.settings import ActivationsConfig, PeriodsConfig

pytestmark = pytest.mark.fast


def test_evaluate_and_activations_stream_equal_in_memory(tmp_path):
    ds = _dataset(N=11)
    write_dataset(ds, tmp_path / "d.h5")
    m = _model()
    ref = E.evaluate_model(m, ds)
    ref_acts = A.compute_activations(m, ds, ActivationsConfig(device="cpu"))
    for chunk in (1, 3, 11):
        ev, meta = E.stream_evaluation(m, tmp_path / "d.h5", chunk=chunk)
        np.testing.assert_allclose(ev.logits, ref.logits, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(ev.predicted, ref.predicted)
        np.testing.assert_array_equal(meta.sample_id, ds.sample_id)
        A.stream_activations(m, tmp_path / "d.h5", tmp_path / f"a{chunk}.h5",
                             ActivationsConfig(batch_size=chunk, device="cpu"))
        got = A.read_activations(tmp_path / f"a{chunk}.h5")
        np.testing.assert_allclose(got["hidden"], ref_acts["hidden"], rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(got["predicted"], ref_acts["predicted"])
        np.testing.assert_array_equal(got["sample_id"], ds.sample_id)
        blocks = list(A.iter_activations(tmp_path / f"a{chunk}.h5", chunk=4))
        np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), got["hidden"])


def test_evaluate_and_activations_memory_is_bounded(tmp_path):
    """Peak numpy allocation at N = 40 and N = 400 (batch 16) within 1.3x, below the hidden states' size."""
    m = _model(J=25, H=32, K=4)
    peaks = {}
    for N in (40, 400):
        ds = _dataset(N=N, T=30, J=25, K=4, seed=N)
        write_dataset(ds, tmp_path / f"d{N}.h5")
        peaks[N] = peak_memory(lambda N=N: A.stream_activations(m, tmp_path / f"d{N}.h5", tmp_path / f"a{N}.h5",
                                                       ActivationsConfig(batch_size=16, device="cpu")))
        peaks[("ev", N)] = peak_memory(lambda N=N: E.stream_evaluation(m, tmp_path / f"d{N}.h5", chunk=16))
    assert peaks[400] < 1.3 * peaks[40] and peaks[400] < 400 * 30 * 32 * 4, peaks     # hidden: 1.5 MB
    assert peaks[("ev", 400)] < 1.3 * peaks[("ev", 40)] and peaks[("ev", 400)] < 400 * 30 * 25 * 3 * 4, peaks


def test_autoencoder_streams_equal_in_memory(tmp_path):
    rng = np.random.default_rng(0)
    N, T, H = 9, 12, 5
    hidden = rng.normal(size=(N, T, H)).astype(np.float32)
    hidden[:, 8:] = hidden[:, 7:8]                 # still ends: redundant steps to drop
    length = rng.integers(3, T + 1, N)
    mask = np.arange(N) % 3 != 1
    for max_vectors in (0, 7):
        ref, ref_counts = AE.training_vectors(hidden, length, mask, 1e-3, "ends", max_vectors, seed=4)
        for chunk in (1, 4, N):
            def chunks(chunk=chunk):
                return ((np.arange(s, min(N, s + chunk)), hidden[s:s + chunk]) for s in range(0, N, chunk))
            got, counts = AE.training_vectors_streamed(chunks, length, mask, 1e-3, "ends", max_vectors, seed=4)
            np.testing.assert_array_equal(got, ref)
            assert counts == ref_counts
    model = AE.DenoisingAutoencoder(H, 2, hidden_layers=(8,))
    codes, last = AE.paths_streamed(model, lambda: ((np.arange(s, min(N, s + 4)), hidden[s:s + 4])
                                                    for s in range(0, N, 4)), length)
    np.testing.assert_allclose(codes, AE.extract_paths(model, hidden, length), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(last, hidden[np.arange(N), length - 1])


def test_notebook_reads_only_what_it_draws(tmp_path):
    ds = _dataset(N=13, J=25)
    write_dataset(ds, tmp_path / "d.h5")
    groups = {"left_arm": [4, 5, 6], "right_arm": [8, 9, 10], "torso": [0, 1]}
    ref = AE.limb_variability(ds.x, ds.length, groups)
    got = AE.limb_variability_file(tmp_path / "d.h5", groups, chunk=4)
    for g in groups:
        np.testing.assert_allclose(got[g], ref[g], rtol=1e-12)
    assert np.array_equal(AE.shown_rows(13, 0), np.arange(13)) and np.array_equal(AE.shown_rows(13, 20), np.arange(13))
    rows = AE.shown_rows(1000, 50, seed=1, include=[999])
    assert len(rows) in (50, 51) and 999 in rows and np.all(np.diff(rows) > 0)
    codes = np.random.default_rng(0).normal(size=(13, ds.x.shape[1], 2)).astype(np.float32)
    acts = {"length": ds.length, "label": ds.label, "split": ds.split, "predicted": ds.label,
            "sample_id": ds.sample_id, "classes": ds.classes}
    AE.write_paths(tmp_path / "p.h5", codes, acts)
    part = AE.read_paths(tmp_path / "p.h5", rows=[2, 5, 11])
    np.testing.assert_array_equal(part["path"], codes[[2, 5, 11]])
    np.testing.assert_array_equal(part["sample_id"], ds.sample_id[[2, 5, 11]])


def test_periods_on_a_subset_read_from_disk(tmp_path):
    torch.manual_seed(0)
    m = build_model({"input_size": 9, "hidden_size": 6, "num_classes": 3, "cell": "lstm"}).eval()
    cfg = PeriodsConfig(quantile=0.8, min_length=2, resample_length=6, n_clusters=2, min_periods=3, n_units=2,
                        mc_samples=2, mc_dropout=0.1, max_sequences=0)
    ds = _tiny_dataset(N=48)
    write_dataset(ds, tmp_path / "d.h5")
    whole = P.analyse_periods(m, ds, cfg)
    same = P.analyse_periods_file(m, tmp_path / "d.h5", cfg)          # no cap: every sequence, same result
    for k in ("sample", "unit", "start", "stop"):
        np.testing.assert_array_equal(getattr(same.periods, k), getattr(whole.periods, k))
    np.testing.assert_array_equal(same.cluster, whole.cluster)
    # a subset of 20: its periods name rows of data.h5, where the hidden state is above threshold
    sub = P.analyse_periods_file(m, tmp_path / "d.h5", PeriodsConfig(**{**cfg.__dict__, "max_sequences": 20}))
    rows = P.sample_rows(48, 20, cfg.seed)
    assert len(rows) == 20 and set(sub.periods.sample) <= set(rows) and sub.summary["sequences_analysed"] == 20
    with torch.no_grad():
        hid = m.hidden_states(torch.from_numpy(ds.x).flatten(2), torch.from_numpy(ds.length.astype(np.int64))).numpy()
    for n, u, s, e in zip(sub.periods.sample, sub.periods.unit, sub.periods.start, sub.periods.stop):
        assert np.all(hid[n, s:e, u] > sub.threshold[u])
    assert set(sub.relevance["sample"]) <= set(rows)
    # memory: the subset's size, not the data's (N = 48 vs 480 with max_sequences 24)
    big = _tiny_dataset(N=480)
    write_dataset(big, tmp_path / "big.h5")
    capped = PeriodsConfig(**{**cfg.__dict__, "max_sequences": 24})
    peaks = [peak_memory(lambda p=p: P.analyse_periods_file(m, tmp_path / p, capped)) for p in ("d.h5", "big.h5")]
    assert peaks[1] < 1.5 * peaks[0], peaks
