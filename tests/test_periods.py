"""Highly activated periods (skelvis.periods): planted windows, thresholds, resampling,
clustering, purity, the stage end to end on a tiny model, and the workflow rule."""

import numpy as np
import pytest
import torch

from skelvis.datasets.store import Dataset
from skelvis.models import build_model
from skelvis.periods import (
    Periods,
    PeriodsConfig,
    activation_mask,
    analyse_periods,
    cluster_periods,
    cluster_purity,
    read_periods,
    resample_periods,
    run_length_periods,
    unit_thresholds,
    write_periods,
)


@pytest.mark.fast
def test_planted_windows_are_found_exactly():
    rng = np.random.default_rng(0)
    N, T, H = 5, 40, 6
    length = np.array([40, 35, 30, 40, 20])
    hidden = rng.uniform(-1, 0.4, size=(N, T, H))  # everything below the 0.5 threshold
    planted = {(0, 1, 3, 9), (0, 1, 12, 13), (0, 4, 0, 40), (2, 0, 25, 30), (3, 5, 10, 20), (4, 2, 18, 20)}
    for n, u, s, e in planted:
        hidden[n, s:e, u] = rng.uniform(0.6, 1.0, e - s)
    hidden[1, 35:, 3] = 0.9  # padding after length must not count
    hidden[4, 20:, 2] = 0.9  # run cut by the length
    act = activation_mask(hidden, length, np.full(H, 0.5))
    per = run_length_periods(act)
    found = set(zip(per.sample.tolist(), per.unit.tolist(), per.start.tolist(), per.stop.tolist()))
    assert found == planted
    # min_length drops the runs shorter than it, and only those
    per3 = run_length_periods(act, min_length=3)
    assert set(zip(per3.sample, per3.unit, per3.start, per3.stop)) == {p for p in planted if p[3] - p[2] >= 3}


@pytest.mark.fast
def test_run_length_matches_naive_loop():
    act = np.random.default_rng(1).random((7, 23, 5)) > 0.6
    per = run_length_periods(act)
    naive = []
    for n in range(7):
        for u in range(5):
            t = 0
            while t < 23:
                if act[n, t, u]:
                    s = t
                    while t < 23 and act[n, t, u]:
                        t += 1
                    naive.append((n, u, s, t))
                else:
                    t += 1
    assert list(zip(per.sample, per.unit, per.start, per.stop)) == naive


@pytest.mark.fast
def test_thresholds_use_valid_training_frames_only():
    rng = np.random.default_rng(2)
    hidden = rng.normal(size=(6, 10, 3))
    length = np.array([10, 4, 7, 10, 2, 5])
    hidden[1, 4:] = 1e6  # padding
    hidden[5] = 1e6      # a sequence outside the mask
    mask = np.array([1, 1, 1, 1, 1, 0], bool)
    thr = unit_thresholds(hidden, length, 0.75, mask)
    valid = (np.arange(10)[None] < length[:, None]) & mask[:, None]
    np.testing.assert_allclose(thr, np.quantile(hidden[valid], 0.75, axis=0))
    with pytest.raises(ValueError, match="quantile"):
        unit_thresholds(hidden, length, 1.0)


@pytest.mark.fast
def test_resample_is_exact_on_linear_motion_and_keeps_endpoints():
    T = 30
    x = np.zeros((2, T, 2, 3), np.float32)
    x[..., 0] = np.arange(T)[None, :, None] * 0.5 + np.array([0.0, 10.0])[:, None, None]
    per = Periods(np.array([0, 1, 0]), np.array([0, 0, 1]), np.array([3, 10, 7]), np.array([11, 13, 8]))
    out = resample_periods(x, per, 9)
    assert out.shape == (3, 9, 2, 3)
    for k in range(3):
        s, e, n = per.start[k], per.stop[k], per.sample[k]
        expect = (np.linspace(s, e - 1, 9) * 0.5 + 10.0 * n)
        np.testing.assert_allclose(out[k, :, 0, 0], expect, rtol=1e-6)
        np.testing.assert_allclose(out[k, 0], x[n, s])
        np.testing.assert_allclose(out[k, -1], x[n, e - 1])


@pytest.mark.fast
def test_clustering_recovers_planted_patterns():
    rng = np.random.default_rng(3)
    L, J, C = 8, 4, 3
    protos = rng.normal(size=(3, L, J, C))
    truth = np.repeat(np.arange(3), [20, 15, 10])
    seqs = protos[truth] + 0.05 * rng.normal(size=(45, L, J, C))
    res = cluster_periods(seqs, 3, seed=0)
    # the same partition up to relabelling
    pairs = {(a, b) for a, b in zip(truth, res.label)}
    assert len(pairs) == 3 and len({b for _, b in pairs}) == 3
    np.testing.assert_allclose(res.membership.sum(1), 1, rtol=1e-5)
    assert np.all((res.distance_ratio >= 0) & (res.distance_ratio <= 1))
    assert res.distance_ratio.max() < 0.5  # well separated: every member is certain
    assert np.all(res.membership[np.arange(45), res.label] == res.membership.max(1))
    X = seqs.reshape(45, -1)
    for c, m in enumerate(res.medoid):
        assert res.label[m] == c
        members = np.flatnonzero(res.label == c)
        d = np.linalg.norm(X[members] - res.centroid[c].reshape(-1), axis=1)
        assert members[np.argmin(d)] == m
    # an ambiguous member halfway between two prototypes has ratio near 1, membership near 1/2
    mid = 0.5 * (protos[0] + protos[1])[None]
    res2 = cluster_periods(np.concatenate([seqs, mid]), 3, seed=0)
    assert res2.distance_ratio[-1] > 0.8
    assert res2.membership[-1].max() < 0.6


@pytest.mark.fast
def test_purity_closed_form():
    cluster = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    cls = np.array([1, 1, 0, 2, 2, 0, 1, 2, 0])
    total, pur, maj, counts = cluster_purity(cluster, cls, 3)
    np.testing.assert_allclose(pur, [2 / 3, 1.0, 0.5])
    assert total == pytest.approx((2 + 2 + 2) / 9)
    assert list(maj[:2]) == [1, 2]
    assert counts.sum() == 9


def _tiny_dataset(N=24, T=16, J=3, C=3, K=3, seed=0):
    rng = np.random.default_rng(seed)
    label = np.arange(N) % K
    t = np.linspace(0, 1, T)
    x = np.zeros((N, T, J, C), np.float32)
    for n in range(N):  # each class a bump on its own joint at its own time
        x[n, :, label[n] % J, 0] = np.exp(-((t - 0.3 - 0.2 * label[n]) / 0.1) ** 2)
    x += 0.05 * rng.normal(size=x.shape).astype(np.float32)
    length = np.full(N, T, np.int32)
    length[::5] = T - 3
    split = np.where(np.arange(N) < N // 2, 0, np.where(np.arange(N) < 3 * N // 4, 1, 2)).astype(np.int8)
    return Dataset(x=x, length=length, label=label.astype(np.int32), subject=np.zeros(N, np.int32),
                   split=split, sample_id=np.array([f"s{i}" for i in range(N)]), classes=["a", "b", "c"],
                   topology="kinect_v2", name="tiny")


@pytest.mark.fast
@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("gru", 1), ("lstm", 2)])
def test_analyse_periods_end_to_end(tmp_path, cell, layers):
    torch.manual_seed(0)
    ds = _tiny_dataset()
    m = build_model({"input_size": 9, "hidden_size": 6, "num_classes": 3, "cell": cell, "num_layers": layers}).eval()
    cfg = PeriodsConfig(quantile=0.8, min_length=2, resample_length=6, n_clusters=2, min_periods=3, n_units=2,
                        mc_samples=4, mc_dropout=0.1)
    an = analyse_periods(m, ds, cfg)
    with torch.no_grad():
        hid = m.hidden_states(torch.from_numpy(ds.x).flatten(2), torch.from_numpy(ds.length.astype(np.int64))).numpy()
    per = an.periods
    assert len(per) > 0
    # every period frame is above its unit's threshold, the frames around it are not
    for n, u, s, e in zip(per.sample, per.unit, per.start, per.stop):
        assert e <= ds.length[n] and e - s >= 2
        assert np.all(hid[n, s:e, u] > an.threshold[u])
        if s > 0:
            assert hid[n, s - 1, u] <= an.threshold[u]
        if e < ds.length[n]:
            assert hid[n, e, u] <= an.threshold[u]
    np.testing.assert_allclose(an.threshold, unit_thresholds(hid, ds.length, 0.8, ds.split == 0), rtol=1e-6)
    # per-unit purity agrees with the period table
    for u in np.flatnonzero(an.units["n_clusters"] > 0):
        sel = per.unit == u
        tot, *_ = cluster_purity(an.cluster[sel], ds.label[per.sample[sel]], 3)
        assert an.units["purity"][u] == pytest.approx(tot)
        assert an.units["purity"][u] >= an.units["purity_one_cluster"][u] - 1e-12  # k clusters >= 1 cluster
    r = an.relevance
    assert len(r["unit"]) > 0 and len(np.unique(r["unit"])) <= 2
    assert np.max(r["conservation_error"]) < 1e-8
    # the relevance target is the peak of its medoid period
    for q in range(len(r["unit"])):
        p = r["period"][q]
        assert per.start[p] <= r["t"][q] < per.stop[p]
        assert hid[r["sample"][q], r["t"][q], r["unit"][q]] == pytest.approx(
            hid[per.sample[p], per.start[p]:per.stop[p], per.unit[p]].max())
    # write / read round trip with the input paths in the attrs
    path = tmp_path / "p.h5"
    write_periods(an, path, model="m.pt", data="d.h5")
    back = read_periods(path)
    np.testing.assert_array_equal(back.periods.start, per.start)
    np.testing.assert_array_equal(back.cluster, an.cluster)
    np.testing.assert_allclose(back.relevance["mean"], r["mean"], rtol=1e-6)
    assert back.config["model"] == "m.pt" and back.summary["n_periods"] == len(per)
    assert back.config["data"] == "d.h5" and back.config["quantile"] == cfg.quantile
    # deterministic
    an2 = analyse_periods(m, ds, cfg)
    np.testing.assert_array_equal(an2.cluster, an.cluster)
    np.testing.assert_array_equal(an2.relevance["std"], r["std"])


@pytest.mark.fast
def test_periods_figures(tmp_path):
    import matplotlib.pyplot as plt

    from skelvis.plots import periods as pp
    torch.manual_seed(0)
    ds = _tiny_dataset(J=25)
    m = build_model({"input_size": 75, "hidden_size": 6, "num_classes": 3}).eval()
    an = analyse_periods(m, ds, PeriodsConfig(quantile=0.8, min_length=2, resample_length=6, n_clusters=2,
                                              min_periods=3, n_units=2, mc_samples=3))
    units = pp.relevance_units(an)
    for fig in (pp.periods_figure(an, ds), pp.clusters_figure(an, ds),
                pp.relevance_figure(an, ds), pp.purity_figure(an)):
        assert fig.axes
        plt.close(fig)
    fig = pp.periods_figure(an, ds)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(labels) == sorted(f"unit {u}" for u in units)
    plt.close(fig)


@pytest.mark.fast
def test_bad_split_name_fails_clearly():
    ds = _tiny_dataset()
    m = build_model({"input_size": 9, "hidden_size": 4, "num_classes": 3}).eval()
    with pytest.raises(ValueError, match="periods.splits"):
        analyse_periods(m, ds, PeriodsConfig(splits=("training",)))


@pytest.mark.slow
def test_periods_rule_on_tiny_run(tiny_run):
    path = tiny_run / "results/tiny/periods/lstm.h5"
    an = read_periods(path)
    assert an.config["model"] == "results/tiny/model/lstm.pt"
    assert an.config["data"] == "results/tiny/data.h5"
    assert an.summary["relevance_conservation_error_max"] < 1e-8
    for name in ("periods", "clusters", "relevance", "purity"):
        assert (tiny_run / f"results/tiny/figures/lstm/05_{name}.png").stat().st_size > 1000
    assert (tiny_run / "results/tiny/reports/05_periods_lstm.ipynb").exists()
