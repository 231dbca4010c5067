"""Highly activated periods of hidden units, their clustering, and unit-level relevance
(Cho et al. 2020, "Interpretation of Deep Temporal Representations by Selective Visualization of
Internally Activated Nodes").

1. **Thresholds.**  Unit u's threshold is the ``quantile`` of its responses h_t[u] over all valid
   frames of the training split (:func:`unit_thresholds`).
2. **Periods.**  A highly activated period is a maximal run of frames where h_t[u] > threshold[u]
   (:func:`run_length_periods`: run-length encoding as in LSTMVis, vectorised over sequences,
   units and time; runs shorter than ``min_length`` frames are dropped).  The input
   sub-sequence under a period is ``x[n, start:stop]``.
3. **Clusters.**  A unit's sub-sequences are resampled to a common length (linear interpolation in
   time, :func:`resample_periods`) and clustered by k-means (scikit-learn).  Why not DTW: the
   periods of one unit differ mostly in duration (speed), which uniform resampling removes, while
   the poses within them are already aligned by body-frame normalisation; DTW would also allow
   non-uniform warping but costs O(P^2 L^2) per unit for P periods, has no centroid (it needs
   k-medoids or hierarchical clustering on the full distance matrix) and no scikit-learn
   implementation.  The k-means centroid is the cluster's *representative pattern*; its *medoid*
   (the member nearest the centroid) is a real sub-sequence for skeleton strips.
   Membership uncertainty per member: the fuzzy-c-means membership (fuzzifier m = 2) of the
   k-means distances, ``u_k = 1 / sum_l (d_k / d_l)^2``, and the distance ratio d_1 / d_2 of the
   nearest to the second-nearest centroid (0 = certain, 1 = on the boundary).
4. **Purity.**  A cluster's purity is the share of its members from its majority class; a unit's
   purity is the member-weighted mean over its clusters (sum_k max_c n_kc / n).  Two baselines:
   the majority-class share of all the unit's periods (one cluster), and the purity with the
   cluster labels shuffled (same sizes).
5. **Relevance** of the unit at the peak of each cluster's medoid period: :mod:`skelvis.relevance`.

:func:`analyse_periods` runs 1-5 and :func:`write_periods` stores the result as
``results/{dataset}/periods/{arch}.h5`` (layout in :func:`write_periods`).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import h5py
import numpy as np
import torch
from sklearn.cluster import KMeans
from tqdm.auto import tqdm

from .datasets.store import iter_dataset, read_dataset_info
from .io import atomic_path, decode_attrs, open_h5, require
from .relevance import unit_relevance
from .rnn import valid_frames
from .settings import PeriodsConfig

__all__ = [
    "ClusterResult",
    "PeriodAnalysis",
    "Periods",
    "PeriodsConfig",
    "activation_mask",
    "analyse_periods",
    "analyse_periods_file",
    "cluster_periods",
    "cluster_purity",
    "period_summary",
    "read_periods",
    "resample_periods",
    "run_length_periods",
    "sample_rows",
    "unit_clarity",
    "unit_thresholds",
    "write_periods",
]

log = logging.getLogger("skelvis.periods")


def _valid(length: np.ndarray, T: int) -> np.ndarray:
    return valid_frames(np.asarray(length), T)


def unit_thresholds(hidden: np.ndarray, length: np.ndarray, quantile: float,
                    mask: np.ndarray | None = None) -> np.ndarray:
    """Per-unit threshold (H,): the ``quantile`` of h_t[u] over the valid frames of the sequences
    selected by ``mask`` (N,) (all when None).  ``hidden`` (N, T, H)."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"periods.quantile must be in (0, 1), got {quantile}")
    hidden = np.asarray(hidden)
    valid = _valid(length, hidden.shape[1])
    if mask is not None:
        valid = valid & np.asarray(mask, bool)[:, None]
    if not valid.any():
        raise ValueError("unit_thresholds: no valid frames to take the quantile over (empty split?)")
    return np.quantile(hidden[valid], quantile, axis=0)


def activation_mask(hidden: np.ndarray, length: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Boolean (N, T, H): h_t[u] > threshold[u] at valid frames."""
    hidden = np.asarray(hidden)
    return (hidden > np.asarray(threshold)[None, None, :]) & _valid(length, hidden.shape[1])[..., None]


@dataclass
class Periods:
    """A table of P periods: sequence ``sample``, ``unit``, frames ``start`` .. ``stop`` - 1."""

    sample: np.ndarray
    unit: np.ndarray
    start: np.ndarray
    stop: np.ndarray

    def __len__(self) -> int:
        return len(self.sample)

    @property
    def duration(self) -> np.ndarray:
        return self.stop - self.start

    def select(self, m) -> Periods:
        return Periods(self.sample[m], self.unit[m], self.start[m], self.stop[m])


def run_length_periods(active: np.ndarray, min_length: int = 1) -> Periods:
    """Run-length encoding of ``active`` (N, T, H) bool: every maximal run of True along T.

    Vectorised: pad each (sequence, unit) row with False at both ends; the first difference is +1
    where a run starts and -1 one past where it stops.  ``np.nonzero`` lists both in row-major
    order, so within a row the k-th start pairs with the k-th stop and rows follow each other in
    the same order in both lists.  Periods come out sorted by (sample, unit, start).
    """
    a = np.moveaxis(np.asarray(active, bool), 2, 1)  # (N, H, T)
    N, H, _T = a.shape
    pad = np.zeros((N, H, 1), np.int8)
    d = np.diff(np.concatenate([pad, a.astype(np.int8), pad], axis=-1), axis=-1)  # (N, H, T+1)
    sn, sh, st = np.nonzero(d == 1)
    _, _, et = np.nonzero(d == -1)
    keep = (et - st) >= int(min_length)
    as_int = lambda v: v[keep].astype(np.int32)
    return Periods(as_int(sn), as_int(sh), as_int(st), as_int(et))


def resample_periods(x: np.ndarray, periods: Periods, length: int) -> np.ndarray:
    """Input sub-sequences under the periods, resampled linearly in time to ``length`` frames:
    (P, length, J, C) from ``x`` (N, T, J, C).  A period's first and last frames are kept."""
    x = np.asarray(x)
    P = len(periods)
    if P == 0:
        return np.zeros((0, length) + x.shape[2:], x.dtype)
    s = periods.start.astype(np.float64)[:, None]
    span = (periods.stop - 1 - periods.start).astype(np.float64)[:, None]
    pos = s + span * np.linspace(0.0, 1.0, length)[None, :]  # (P, L)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, periods.stop[:, None] - 1)
    w = (pos - i0).reshape(P, length, *([1] * (x.ndim - 2))).astype(x.dtype)
    n = periods.sample[:, None]
    return x[n, i0] * (1 - w) + x[n, i1] * w


@dataclass
class ClusterResult:
    """k-means of one unit's P resampled sub-sequences into k clusters."""

    label: np.ndarray         # (P,) cluster of each member
    centroid: np.ndarray      # (k, L, J, C) representative patterns
    medoid: np.ndarray        # (k,) member index nearest each centroid
    membership: np.ndarray    # (P, k) fuzzy memberships (rows sum to 1)
    distance_ratio: np.ndarray  # (P,) d_nearest / d_second (0 certain .. 1 ambiguous)


def cluster_periods(seqs: np.ndarray, n_clusters: int, seed: int = 0, n_init: int = 4) -> ClusterResult:
    """k-means (scikit-learn, Euclidean on the flattened resampled sub-sequences) of ``seqs``
    (P, L, J, C); k = min(n_clusters, P).  Memberships and distance ratios as in the module
    docstring."""

    P = len(seqs)
    k = int(min(n_clusters, P))
    if k < 1:
        raise ValueError("cluster_periods: no periods to cluster")
    X = np.asarray(seqs, np.float64).reshape(P, -1)
    if k == 1:
        label = np.zeros(P, np.int32)
        cen = X.mean(0, keepdims=True)
    else:
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(X)
        label, cen = km.labels_.astype(np.int32), km.cluster_centers_
    d = np.sqrt(np.maximum(((X ** 2).sum(1)[:, None] - 2 * X @ cen.T + (cen ** 2).sum(1)[None, :]), 0.0))  # (P, k)
    medoid = np.array([np.flatnonzero(label == c)[np.argmin(d[label == c, c])] if np.any(label == c) else -1
                       for c in range(k)], np.int64)
    dd = np.maximum(d, 1e-12)
    inv = dd ** -2.0
    membership = inv / inv.sum(1, keepdims=True)
    if k > 1:
        srt = np.sort(dd, axis=1)
        ratio = srt[:, 0] / srt[:, 1]
    else:
        ratio = np.zeros(P)
    return ClusterResult(label, cen.reshape((k,) + seqs.shape[1:]).astype(np.float32), medoid,
                         membership.astype(np.float32), ratio.astype(np.float32))


def cluster_purity(cluster: np.ndarray, classes: np.ndarray, num_classes: int):
    """Purity of a clustering against class labels.

    Returns ``(unit_purity, cluster_purity (k,), majority_class (k,), counts (k, K))`` where
    unit purity = sum_k max_c n_kc / n (clusters with no members have purity nan)."""
    cluster = np.asarray(cluster)
    k = int(cluster.max()) + 1 if len(cluster) else 0
    counts = np.zeros((k, num_classes), np.int64)
    np.add.at(counts, (cluster, np.asarray(classes)), 1)
    size = counts.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pur = np.where(size > 0, counts.max(1) / size, np.nan)
    total = counts.max(1).sum() / max(1, size.sum())
    return float(total), pur, counts.argmax(1), counts


def unit_clarity(hidden: np.ndarray, active: np.ndarray, length: np.ndarray) -> np.ndarray:
    """How clearly each unit's periods stand out, (H,): (mean response inside its periods - mean
    outside) / standard deviation of its responses, over valid frames."""
    valid = _valid(length, hidden.shape[1])[..., None]
    inside = active & valid
    outside = ~active & valid
    n_in = inside.sum((0, 1))
    n_out = outside.sum((0, 1))
    m_in = np.where(inside, hidden, 0).sum((0, 1)) / np.maximum(n_in, 1)
    m_out = np.where(outside, hidden, 0).sum((0, 1)) / np.maximum(n_out, 1)
    vals = hidden[valid[..., 0]]
    sd = vals.std(0)
    return np.where((n_in > 0) & (sd > 0), (m_in - m_out) / np.maximum(sd, 1e-12), 0.0)


@dataclass
class PeriodAnalysis:
    """Everything :func:`analyse_periods` finds; stored by :func:`write_periods`."""

    threshold: np.ndarray
    periods: Periods
    cluster: np.ndarray           # (P,) cluster within its unit (-1: unit not clustered)
    membership: np.ndarray        # (P,) fuzzy membership of the assigned cluster
    distance_ratio: np.ndarray    # (P,)
    units: dict[str, np.ndarray]  # per unit (H,): n_periods, purity, purity_one_cluster, purity_shuffled, clarity, n_clusters
    clusters: dict[str, np.ndarray]  # per cluster (Q,): unit, cluster, size, purity, majority_class, medoid, centroid, class_counts
    relevance: dict[str, np.ndarray]  # per relevance target (R,)
    summary: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)


_SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}


def analyse_periods(model, ds, cfg: PeriodsConfig, hidden: np.ndarray | None = None,
                    progress: bool = False) -> PeriodAnalysis:
    """Thresholds on the training split, periods and clusters of every unit on ``cfg.splits``,
    purity, and MC-dropout LRP of the ``cfg.n_units`` clearest units at their clusters' medoids.

    ``model``: :class:`skelvis.models.RecurrentClassifier`; ``ds``: :class:`skelvis.datasets.store.Dataset`;
    ``hidden`` (N, T, H): layer ``cfg.layer``'s states if already computed.
    """
    N, T, J, C = ds.x.shape
    if hidden is None:
        with torch.no_grad():
            xt = torch.from_numpy(np.ascontiguousarray(ds.x)).flatten(2)
            lt = torch.from_numpy(ds.length.astype(np.int64))
            hidden = np.concatenate([model.hidden_states(xt[i:i + 256], lt[i:i + 256], layer=cfg.layer).numpy()
                                     for i in range(0, N, 256)])
    H = hidden.shape[-1]
    train = ds.split == 0
    if not train.any():
        raise ValueError(f"dataset {ds.name!r} has no training split to take the thresholds on")
    threshold = unit_thresholds(hidden, ds.length, cfg.quantile, train)
    bad = [s for s in cfg.splits if s not in _SPLIT_CODES]
    if bad:
        raise ValueError(f"periods.splits: unknown split(s) {bad}; use train, validation, test")
    use = np.isin(ds.split, [_SPLIT_CODES[s] for s in cfg.splits])
    active = activation_mask(hidden, ds.length, threshold) & use[:, None, None]
    per = run_length_periods(active, cfg.min_length)
    order = np.lexsort((per.start, per.sample, per.unit))  # by unit, then sample, then start
    per = per.select(order)
    P = len(per)
    log.info("%d periods of >= %d frames above the %.2f quantile in %d sequences, %d units",
             P, cfg.min_length, cfg.quantile, int(use.sum()), H)
    clarity = unit_clarity(hidden, active, ds.length)
    K = len(ds.classes)
    cls_of = ds.label[per.sample]
    cluster = np.full(P, -1, np.int32)
    membership = np.full(P, np.nan, np.float32)
    ratio = np.full(P, np.nan, np.float32)
    units = {k: np.zeros(H) for k in ("purity", "purity_one_cluster", "purity_shuffled")}
    units["n_periods"] = np.bincount(per.unit, minlength=H).astype(np.int64)
    units["n_clusters"] = np.zeros(H, np.int64)
    units["clarity"] = clarity
    for k in ("purity", "purity_one_cluster", "purity_shuffled"):
        units[k][:] = np.nan
    bounds = np.searchsorted(per.unit, np.arange(H + 1))
    cl_rows = []
    rng = np.random.default_rng(cfg.seed)
    for u in tqdm(range(H), desc="cluster units", disable=not progress, mininterval=2.0):
        a, b = bounds[u], bounds[u + 1]
        if b - a < cfg.min_periods:
            continue
        sub = per.select(slice(a, b))
        seqs = resample_periods(ds.x, sub, cfg.resample_length)
        res = cluster_periods(seqs, cfg.n_clusters, seed=cfg.seed)
        cluster[a:b] = res.label
        membership[a:b] = res.membership[np.arange(b - a), res.label]
        ratio[a:b] = res.distance_ratio
        kk = len(res.medoid)
        units["n_clusters"][u] = kk
        tot, pur, maj, counts = cluster_purity(res.label, cls_of[a:b], K)
        units["purity"][u] = tot
        units["purity_one_cluster"][u] = np.bincount(cls_of[a:b], minlength=K).max() / (b - a)
        units["purity_shuffled"][u] = cluster_purity(rng.permutation(res.label), cls_of[a:b], K)[0]
        for c in range(kk):
            cl_rows.append((u, c, int(counts[c].sum()), pur[c], maj[c], a + res.medoid[c], res.centroid[c], counts[c]))
    clusters = {
        "unit": np.array([r[0] for r in cl_rows], np.int32),
        "cluster": np.array([r[1] for r in cl_rows], np.int32),
        "size": np.array([r[2] for r in cl_rows], np.int64),
        "purity": np.array([r[3] for r in cl_rows], np.float64),
        "majority_class": np.array([r[4] for r in cl_rows], np.int32),
        "medoid": np.array([r[5] for r in cl_rows], np.int64),
        "centroid": (np.stack([r[6] for r in cl_rows]) if cl_rows
                     else np.zeros((0, cfg.resample_length, J, C), np.float32)),
        "class_counts": (np.stack([r[7] for r in cl_rows]) if cl_rows else np.zeros((0, K), np.int64)),
    }
    # relevance: the clearest clustered units, at the peak of each cluster's medoid period
    eligible = np.flatnonzero(units["n_clusters"] > 0)
    chosen = eligible[np.argsort(-clarity[eligible], kind="stable")][:cfg.n_units]
    rank = np.full(H, len(chosen), np.int64)
    rank[chosen] = np.arange(len(chosen))
    rows = np.flatnonzero(np.isin(clusters["unit"], chosen))
    rows = rows[np.lexsort((clusters["cluster"][rows], rank[clusters["unit"][rows]]))]
    pidx = clusters["medoid"][rows]
    r_sample = per.sample[pidx]
    r_unit = per.unit[pidx]
    peak = np.array([per.start[p] + int(np.argmax(hidden[per.sample[p], per.start[p]:per.stop[p], per.unit[p]]))
                     for p in pidx], np.int64)
    rel = None
    if len(pidx):
        log.info("LRP of %d (unit, cluster) targets, %d MC-dropout samples at rate %.2f",
                 len(pidx), cfg.mc_samples, cfg.mc_dropout)
        rel = unit_relevance(model, ds.x[r_sample], r_unit, peak, layer=cfg.layer, eps=cfg.epsilon,
                             n_samples=cfg.mc_samples, dropout=cfg.mc_dropout, seed=cfg.seed, channels=C)
    R = len(pidx)
    relevance = {
        "unit": r_unit.astype(np.int32), "cluster": clusters["cluster"][rows], "period": pidx.astype(np.int64),
        "sample": r_sample.astype(np.int64), "t": peak,
        "start": per.start[pidx], "stop": per.stop[pidx],
        "hidden": (hidden[r_sample] if R else np.zeros((0, T, H))).astype(np.float32),
        "relevance": rel.relevance.astype(np.float32) if R else np.zeros((0, T, J), np.float32),
        "mean": rel.mean.astype(np.float32) if R and rel.mean is not None else np.zeros((R, T, J), np.float32),
        "std": rel.std.astype(np.float32) if R and rel.std is not None else np.zeros((R, T, J), np.float32),
        "std_frame": rel.std_frame.astype(np.float32) if R and rel.std is not None else np.zeros((R, T), np.float32),
        "std_joint": rel.std_joint.astype(np.float32) if R and rel.std is not None else np.zeros((R, J), np.float32),
        "output": rel.output if R else np.zeros(0),
        "absorbed_bias": rel.absorbed_bias if R else np.zeros(0),
        "absorbed_eps": rel.absorbed_eps if R else np.zeros(0),
        "conservation_error": rel.conservation_error if R else np.zeros(0),
    }
    an = PeriodAnalysis(threshold, per, cluster, membership, ratio, units, clusters, relevance, {},
                        config=dict(asdict(cfg), splits=list(cfg.splits)))
    an.summary = period_summary(an)
    return an


def sample_rows(n_sequences: int, max_sequences: int = PeriodsConfig.max_sequences,
                seed: int = PeriodsConfig.seed) -> np.ndarray:
    """The sequences the periods stage analyses: all when ``max_sequences`` is 0 or at least
    ``n_sequences``, else a seeded random subset of that size (increasing indices)."""
    if not max_sequences or n_sequences <= max_sequences:
        return np.arange(n_sequences, dtype=np.int64)
    return np.sort(np.random.default_rng([seed, 19]).choice(n_sequences, int(max_sequences), replace=False))


def analyse_periods_file(model, data, cfg: PeriodsConfig, progress: bool = False) -> PeriodAnalysis:
    """The periods rule through bounded memory: :func:`analyse_periods` of the :func:`sample_rows`
    subset of the contract file ``data`` (``cfg.max_sequences``, read chunk by chunk), its
    ``sample`` indices (periods, relevance) mapped back to rows of ``data``.  Memory holds the
    subset's poses and hidden states, whatever the size of the data."""
    info = read_dataset_info(data)
    rows = sample_rows(info.shape[0], cfg.max_sequences, cfg.seed)
    parts = [d.x for _, d in iter_dataset(data, 1024, rows=rows, info=info)]
    ds = info.rows(np.concatenate(parts) if parts else np.zeros((0, *info.shape[1:]), np.float32), rows)
    log.info("%d of %d sequences (periods.max_sequences = %d)", len(rows), info.shape[0], cfg.max_sequences)
    an = analyse_periods(model, ds, cfg, progress=progress)
    an.periods = an.periods.select(slice(None))
    an.periods.sample = rows[an.periods.sample].astype(np.int32)
    an.relevance["sample"] = rows[an.relevance["sample"]].astype(np.int64)
    an.summary["sequences_analysed"] = len(rows)
    return an


def period_summary(an: PeriodAnalysis, pure: float = 0.8) -> dict[str, Any]:
    """The numbers to report: purity (and its baselines), share of clusters dominated by one class
    (purity >= ``pure``), membership uncertainty, conservation and relevance uncertainty."""
    u, c, r = an.units, an.clusters, an.relevance
    clustered = u["n_clusters"] > 0
    nanmean = lambda v: float(np.nanmean(v)) if np.size(v) and np.any(np.isfinite(v)) else float("nan")
    out = {
        "n_periods": len(an.periods),
        "n_units": len(an.threshold),
        "n_units_clustered": int(clustered.sum()),
        "mean_period_frames": float(an.periods.duration.mean()) if len(an.periods) else float("nan"),
        "unit_purity_mean": nanmean(u["purity"][clustered]),
        "unit_purity_one_cluster_mean": nanmean(u["purity_one_cluster"][clustered]),
        "unit_purity_shuffled_mean": nanmean(u["purity_shuffled"][clustered]),
        f"clusters_purity_ge_{pure:g}": float(np.mean(c["purity"] >= pure)) if len(c["purity"]) else float("nan"),
        f"units_purity_ge_{pure:g}": float(np.mean(u["purity"][clustered] >= pure)) if clustered.any() else float("nan"),
        "membership_mean": nanmean(an.membership),
        "distance_ratio_mean": nanmean(an.distance_ratio),
        "n_relevance_targets": len(r["unit"]),
    }
    if len(r["unit"]):
        o = r["output"]
        absorbed = r["absorbed_bias"] + r["absorbed_eps"]
        mag = np.abs(r["mean"]).sum((1, 2))
        out.update({
            "relevance_output_mean": float(np.mean(o)),
            "relevance_absorbed_bias_share_mean": float(np.mean(r["absorbed_bias"] / o)),
            "relevance_absorbed_eps_share_mean": float(np.mean(r["absorbed_eps"] / o)),
            "relevance_input_share_mean": float(np.mean(1 - absorbed / o)),
            "relevance_conservation_error_max": float(np.max(r["conservation_error"])),
            "relevance_std_mean": float(np.mean(r["std"])),
            "relevance_abs_mean": float(np.mean(np.abs(r["mean"]))),
            "relevance_relative_uncertainty": float(np.mean(r["std"].sum((1, 2)) / np.maximum(mag, 1e-12))),
        })
    return out


def _py(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


def write_periods(an: PeriodAnalysis, path, model: str = "", data: str = "") -> None:
    """Write atomically to ``path`` (HDF5):

    * ``threshold`` (H,); groups ``periods`` (P,: sample, unit, start, stop, cluster, membership,
      distance_ratio), ``units`` (H,: n_periods, n_clusters, purity, purity_one_cluster,
      purity_shuffled, clarity), ``clusters`` (Q,: unit, cluster, size, purity, majority_class,
      medoid (row in ``periods``), centroid (Q, L, J, C), class_counts (Q, K)), ``relevance``
      (R,: unit, cluster, period, sample, t, start, stop, hidden (R, T, H) the layer's states on
      the target's sequence, relevance/mean/std (R, T, J), std_frame (R, T), std_joint (R, J),
      output, absorbed_bias, absorbed_eps, conservation_error);
    * attrs ``model``, ``data``, ``config`` (JSON), ``summary`` (JSON).
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f["threshold"] = np.asarray(an.threshold, np.float32)
        g = f.create_group("periods")
        for k in ("sample", "unit", "start", "stop"):
            g[k] = getattr(an.periods, k)
        g["cluster"] = an.cluster
        g["membership"] = an.membership
        g["distance_ratio"] = an.distance_ratio
        for name, d in (("units", an.units), ("clusters", an.clusters), ("relevance", an.relevance)):
            g = f.create_group(name)
            for k, v in d.items():
                v = np.asarray(v)
                if v.ndim >= 2 and v.size > 1000:
                    g.create_dataset(k, data=v, compression="gzip", compression_opts=4)
                else:
                    g[k] = v
        f.attrs["model"] = str(model)
        f.attrs["data"] = str(data)
        f.attrs["config"] = json.dumps({k: _py(v) for k, v in an.config.items()})
        f.attrs["summary"] = json.dumps({k: _py(v) for k, v in an.summary.items()})


def read_periods(path) -> PeriodAnalysis:
    """Read a file written by :func:`write_periods`."""
    with open_h5(path, rule="periods", what="periods file") as f:
        require(f, ("threshold", "periods", "units", "clusters", "relevance"), path, "periods", kind="member(s)")
        require(f["periods"], ("sample", "unit", "start", "stop", "cluster", "membership", "distance_ratio"),
                path, "periods")
        require(f.attrs, ("summary", "config", "model", "data"), path, "periods", kind="attribute(s)")
        p = f["periods"]
        per = Periods(*(p[k][...] for k in ("sample", "unit", "start", "stop")))
        groups = {n: {k: f[n][k][...] for k in f[n]} for n in ("units", "clusters", "relevance")}
        an = PeriodAnalysis(f["threshold"][...], per, p["cluster"][...], p["membership"][...],
                            p["distance_ratio"][...], groups["units"], groups["clusters"], groups["relevance"],
                            json.loads(f.attrs["summary"]), json.loads(f.attrs["config"]))
        attrs = decode_attrs(f.attrs)
        an.config["model"] = str(attrs["model"])
        an.config["data"] = str(attrs["data"])
    return an
