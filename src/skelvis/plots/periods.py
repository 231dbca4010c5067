"""Figures of notebook 05 (inside the hidden units, Cho et al. 2020) and notebook 06 (the model
variants side by side).

Inputs are what :func:`skelvis.periods.read_periods` returns (a :class:`PeriodAnalysis`) and the
dataset (:class:`skelvis.datasets.store.Dataset`).
"""
from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm

from ..rnn import valid_frames
from ..topology import get_topology
from .common import skeleton_strip

__all__ = [
    "class_joint_map",
    "clusters_figure",
    "ground_truth_share",
    "periods_figure",
    "purity_figure",
    "purity_table",
    "rank_agreement",
    "relevance_figure",
    "relevance_units",
    "table_figure",
    "variants_sensitivity_figure",
    "variants_sequence_figure",
    "variants_table",
]


def relevance_units(an) -> np.ndarray:
    """The units with relevance maps, in the order chosen (clearest periods first)."""
    u = np.asarray(an.relevance["unit"])
    _, first = np.unique(u, return_index=True)
    return u[np.sort(first)]


def _shade_periods(ax, an, sample: int, unit: int, color="tab:orange", alpha=0.25, label=None):
    m = (an.periods.sample == sample) & (an.periods.unit == unit)
    for k, (s, e) in enumerate(zip(an.periods.start[m], an.periods.stop[m])):
        ax.axvspan(s - 0.5, e - 0.5, color=color, alpha=alpha, lw=0, label=label if k == 0 else None)


def periods_figure(an, ds, target: int | None = None):
    """The periods over one sequence (the sequence of relevance target ``target``; by default the
    target sequence on which most of the analysed units have a period).

    Top: every unit's response (units x frames, diverging colours) with its highly activated
    periods drawn as black bars.  Below: the traces of the analysed units on that sequence, their
    thresholds (dashed) and periods (shaded).
    """
    r = an.relevance
    if len(r["unit"]) == 0:
        raise ValueError("periods_figure: the periods file has no relevance targets (periods.n_units: 0?)")
    units = relevance_units(an)
    if target is None:
        hits = [len(np.unique(an.periods.unit[(an.periods.sample == s) & np.isin(an.periods.unit, units)]))
                for s in r["sample"]]
        target = int(np.argmax(hits))
    n = int(r["sample"][target])
    hid = np.asarray(r["hidden"][target])  # (T, H)
    T_valid = int(ds.length[n])
    hid = hid[:T_valid]
    H = hid.shape[1]
    m = an.periods.sample == n
    # order units by their first period's start on this sequence (units with none last)
    first = np.full(H, T_valid + 1.0)
    np.minimum.at(first, an.periods.unit[m], an.periods.start[m].astype(float))
    order = np.lexsort((np.arange(H), first))
    pos = np.empty(H, int)
    pos[order] = np.arange(H)
    fig = plt.figure(figsize=(10, 4.2 + 1.3 * len(units)))
    gs = fig.add_gridspec(1 + len(units), 2, height_ratios=[3.2] + [1] * len(units), width_ratios=[40, 1],
                          hspace=0.45, wspace=0.03)
    ax = fig.add_subplot(gs[0, 0])
    lim = float(np.abs(hid).max()) or 1.0
    im = ax.imshow(hid[:, order].T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                   origin="lower")
    ax.hlines(pos[an.periods.unit[m]], an.periods.start[m] - 0.5, an.periods.stop[m] - 0.5, color="gold", lw=1.6)
    ax.set_ylabel("hidden unit (earliest period at the bottom)")
    ax.set_yticks(pos[units])
    ax.set_yticklabels([f"unit {u}" for u in units], fontsize=7, color="tab:green")
    ax.set_xlabel("frame")
    cls = ds.classes[int(ds.label[n])]
    ax.set_title(f"{ds.name}: sequence {ds.sample_id[n]} ({cls}); yellow bars = highly activated periods\n"
                 f"(response > the unit's {an.config.get('quantile', 0.9):g} quantile on the training set, "
                 f">= {an.config.get('min_length', 1)} frames); green = the units traced below", fontsize=9)
    cax = fig.add_subplot(gs[0, 1])
    fig.colorbar(im, cax=cax, label="response h_t")
    for i, u in enumerate(units):
        a = fig.add_subplot(gs[1 + i, 0])
        a.plot(np.arange(T_valid), hid[:, u], color="k", lw=1.2, label="response")
        a.axhline(an.threshold[u], color="tab:red", ls="--", lw=1, label="threshold")
        _shade_periods(a, an, n, int(u), label="period")
        a.set_xlim(-0.5, T_valid - 0.5)
        a.set_ylabel(f"unit {u}", fontsize=9)
        if not np.any(m & (an.periods.unit == u)):
            a.text(0.99, 0.9, "no period in this sequence", transform=a.transAxes, ha="right", va="top", fontsize=7)
        if i == 0:
            a.legend(fontsize=7, loc="upper left", ncol=3, frameon=False)
        if i < len(units) - 1:
            a.set_xticklabels([])
        else:
            a.set_xlabel("frame")
    return fig


def _period_strip(ax, ds, topo, sample: int, start: int, stop: int, frames: int):
    fr = np.unique(np.linspace(start, stop - 1, frames).round().astype(int))
    if topo.channels == 3 and len(topo.bones):
        skeleton_strip(ax, ds.x[sample], topo, fr, view="oblique", joint_size=12)
    else:
        seg = ds.x[sample, start:stop, :, 0]
        ax.imshow(seg.T, aspect="auto", cmap="viridis", interpolation="nearest",
                  extent=(start - 0.5, stop - 0.5, seg.shape[1] - 0.5, -0.5))
        ax.set_xlabel("frame", fontsize=7)
        ax.set_ylabel("channel", fontsize=7)


def clusters_figure(an, ds, frames: int = 4):
    """Cluster representatives: for each analysed unit (rows), each cluster's medoid period (the
    member nearest the k-means centroid) as a skeleton strip, with size, majority class, purity."""
    topo = get_topology(ds.topology)
    units = relevance_units(an)
    c = an.clusters
    k = int(max(1, np.max(c["cluster"]) + 1)) if len(c["cluster"]) else 1
    fig, axes = plt.subplots(len(units), k, figsize=(3.3 * k, 2.3 * len(units)), squeeze=False)
    for i, u in enumerate(units):
        rows = np.flatnonzero(c["unit"] == u)
        for j in range(k):
            ax = axes[i, j]
            hit = rows[c["cluster"][rows] == j]
            if not len(hit):
                ax.axis("off")
                continue
            q = int(hit[0])
            p = int(c["medoid"][q])
            s, e, n = int(an.periods.start[p]), int(an.periods.stop[p]), int(an.periods.sample[p])
            _period_strip(ax, ds, topo, n, s, e, frames)
            mem = an.membership[an.periods.unit == u]
            cl = an.cluster[an.periods.unit == u]
            mean_mem = float(np.nanmean(mem[cl == j])) if np.any(cl == j) else float("nan")
            ax.set_title(f"unit {u}, cluster {j}: n={int(c['size'][q])}\n"
                         f"{ds.classes[int(c['majority_class'][q])]} {c['purity'][q]:.0%}, "
                         f"membership {mean_mem:.2f}", fontsize=8)
    fig.suptitle(f"{ds.name}: cluster representatives (medoid period of each cluster, frames evenly spaced "
                 f"over the period; oblique view)\nk-means on periods resampled to "
                 f"{an.config.get('resample_length', '?')} frames; purity = share of the majority class",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def relevance_figure(an, ds, cluster: int = 0, top_joints: int = 8):
    """LRP relevance of each analysed unit at the peak of cluster ``cluster``'s medoid period:
    mean over the MC-dropout samples (joints x frames), its standard deviation, the per-frame
    total with a +-1 std band, and the joints with the largest total relevance (+-1 std)."""
    topo = get_topology(ds.topology)
    r = an.relevance
    units = relevance_units(an)
    rows = []
    for u in units:
        hit = np.flatnonzero((r["unit"] == u) & (r["cluster"] == cluster))
        if not len(hit):
            hit = np.flatnonzero(r["unit"] == u)
        rows.append(int(hit[0]))
    fig, axes = plt.subplots(len(rows), 4, figsize=(15, 2.9 * len(rows)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 3, 2.4, 1.8]})
    ns = an.config.get("mc_samples", 0)
    for i, q in enumerate(rows):
        u, t, n = int(r["unit"][q]), int(r["t"][q]), int(r["sample"][q])
        mean, std = np.asarray(r["mean"][q])[:t + 1], np.asarray(r["std"][q])[:t + 1]
        if ns == 0:
            mean = np.asarray(r["relevance"][q])[:t + 1]
        lim = float(np.abs(mean).max()) or 1.0
        a0, a1, a2, a3 = axes[i]
        im = a0.imshow(mean.T, aspect="auto", cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -lim, lim),
                       interpolation="nearest")
        fig.colorbar(im, ax=a0, fraction=0.05, pad=0.02, label="relevance")
        im = a1.imshow(std.T, aspect="auto", cmap="viridis", vmin=0, interpolation="nearest")
        fig.colorbar(im, ax=a1, fraction=0.05, pad=0.02, label="std")
        for a in (a0, a1):
            a.set_yticks(range(len(topo.joints)))
            a.set_yticklabels(topo.joints, fontsize=5)
            a.axvspan(int(r["start"][q]) - 0.5, min(int(r["stop"][q]), t + 1) - 0.5, fill=False, ec="k", lw=1)
            a.set_xlabel("frame", fontsize=8)
        a0.set_title(f"unit {u} at t={t} (h={r['output'][q]:.2f}), {ds.classes[int(ds.label[n])]} "
                     f"{ds.sample_id[n]}: mean relevance", fontsize=8)
        a1.set_title(f"uncertainty: std over {ns} MC-dropout samples", fontsize=8)
        tot = mean.sum(1)
        sd = np.asarray(r["std_frame"][q])[:t + 1]
        a2.plot(np.arange(t + 1), tot, color="k", lw=1.2, label="mean")
        a2.fill_between(np.arange(t + 1), tot - sd, tot + sd, color="tab:blue", alpha=0.3, label="+-1 std")
        a2.axhline(0, color="grey", lw=0.5)
        a2.axvspan(int(r["start"][q]) - 0.5, min(int(r["stop"][q]), t + 1) - 0.5, color="tab:orange", alpha=0.15,
                   label="period")
        a2.set_xlabel("frame", fontsize=8)
        a2.set_title("relevance per frame (sum over joints)", fontsize=8)
        a2.legend(fontsize=6, frameon=False)
        jt = mean.sum(0)
        sj = np.asarray(r["std_joint"][q])
        top = np.argsort(-np.abs(jt))[:top_joints][::-1]
        a3.barh(np.arange(len(top)), jt[top], xerr=sj[top], color=np.where(jt[top] >= 0, "tab:red", "tab:blue"),
                ecolor="k", capsize=2)
        a3.set_yticks(np.arange(len(top)))
        a3.set_yticklabels([topo.joints[j] for j in top], fontsize=7)
        a3.axvline(0, color="grey", lw=0.5)
        a3.set_title("relevance per joint (+-1 std)", fontsize=8)
        share = 1 - (r["absorbed_bias"][q] + r["absorbed_eps"][q]) / r["output"][q]
        a3.set_xlabel(f"input total = {share:.2f} x h", fontsize=7)
    fig.suptitle(f"{ds.name}: LRP relevance of single hidden units on the input joints (epsilon rule, "
                 f"signal-take-all gates; MC dropout rate {an.config.get('mc_dropout', 0):g} on the relevance "
                 f"messages; box/shade = the period)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def purity_table(an) -> dict[str, float]:
    """The summary numbers of the periods file (purity, uncertainty, conservation)."""
    return dict(an.summary)


def purity_figure(an, title: str = ""):
    """Left: each clustered unit's cluster purity against two baselines (one cluster = the
    majority-class share of the unit's periods; shuffled = cluster labels permuted).  Right: the
    members' membership uncertainty (distance ratio to the nearest / second-nearest centroid)."""
    u = an.units
    ok = u["n_clusters"] > 0
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 3.6))
    bins = np.linspace(0, 1, 21)
    a0.hist(u["purity"][ok], bins=bins, color="tab:blue", alpha=0.7,
            label=f"k-means clusters (mean {np.nanmean(u['purity'][ok]):.2f})")
    a0.hist(u["purity_shuffled"][ok], bins=bins, histtype="step", color="k", lw=1.5,
            label=f"shuffled labels (mean {np.nanmean(u['purity_shuffled'][ok]):.2f})")
    a0.hist(u["purity_one_cluster"][ok], bins=bins, histtype="step", color="tab:red", lw=1.5, ls="--",
            label=f"one cluster (mean {np.nanmean(u['purity_one_cluster'][ok]):.2f})")
    a0.set_xlabel("unit purity (share of periods in their cluster's majority class)")
    a0.set_ylabel("hidden units")
    a0.legend(fontsize=7, frameon=False, loc="upper left")
    a0.set_title(f"{int(ok.sum())} units, {len(an.periods)} periods", fontsize=9)
    dr = an.distance_ratio[np.isfinite(an.distance_ratio)]
    a1.hist(dr, bins=bins, color="tab:purple", alpha=0.7)
    a1.set_xlabel("distance ratio d(nearest) / d(second) (0 certain, 1 ambiguous)")
    a1.set_ylabel("periods")
    a1.set_title(f"membership uncertainty (mean ratio {np.mean(dr):.2f})" if len(dr) else "no clustered periods",
                 fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def class_joint_map(class_map: np.ndarray, length: np.ndarray, label: np.ndarray, num_classes: int,
                    mask: np.ndarray | None = None) -> np.ndarray:
    """(K, J): for each class, the mean over its sequences (in ``mask``) of the per-frame mean of
    the class sensitivity map ``class_map`` (N, T, J) over the valid frames; each sequence's map
    is first scaled to sum 1, so that every sequence counts equally."""
    class_map = np.asarray(class_map, np.float64)
    T = class_map.shape[1]
    valid = valid_frames(np.asarray(length), T)[..., None]
    per_seq = (class_map * valid).sum(1)
    per_seq = per_seq / np.maximum(per_seq.sum(1, keepdims=True), 1e-30)
    sel = np.ones(len(label), bool) if mask is None else np.asarray(mask, bool)
    out = np.zeros((num_classes, class_map.shape[2]))
    for c in range(num_classes):
        m = sel & (np.asarray(label) == c)
        if m.any():
            out[c] = per_seq[m].mean(0)
    return out


def ground_truth_share(cj: np.ndarray, classes: Sequence[str], joints: Sequence[str],
                       class_joints: dict[str, Sequence[str]]) -> float:
    """Mean over classes with known motion joints of the share of the class map ``cj`` (K, J)
    that falls on those joints (synthetic data's ``class_joints``)."""
    shares = []
    for c, name in enumerate(classes):
        js = [joints.index(j) for j in class_joints.get(name, []) if j in joints]
        tot = cj[c].sum()
        if js and tot > 0:
            shares.append(cj[c, js].sum() / tot)
    return float(np.mean(shares)) if shares else float("nan")


def rank_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (flattened; ties broken by order)."""
    ra = np.argsort(np.argsort(np.ravel(a), kind="stable"), kind="stable").astype(float)
    rb = np.argsort(np.argsort(np.ravel(b), kind="stable"), kind="stable").astype(float)
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def _maps_side_by_side(maps: dict[str, np.ndarray], joints: Sequence[str], size, value_label: str,
                       title: str, x_axis):
    """One panel per arch of a (X, J) map, each scaled to its own maximum, joints down the y axis
    (shared), one colour bar; ``x_axis(ax)`` labels the x axis."""
    archs = list(maps)
    fig, axes = plt.subplots(1, len(archs), figsize=(size[0] * len(archs) + 1, size[1] * len(joints) + size[2]),
                             squeeze=False, sharey=True)
    im = None
    for i, a in enumerate(archs):
        m = np.asarray(maps[a], float)
        m = m / (np.max(np.abs(m)) or 1.0)
        ax = axes[0, i]
        im = ax.imshow(m.T, aspect="auto", cmap="Reds", vmin=0, vmax=1, interpolation="nearest")
        x_axis(ax)
        ax.set_title(a, fontsize=10)
        if i == 0:
            ax.set_yticks(range(len(joints)))
            ax.set_yticklabels(joints, fontsize=6)
    fig.colorbar(im, ax=axes[0].tolist(), fraction=0.03, pad=0.01, label=f"{value_label} (/ max per model)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def variants_sequence_figure(maps: dict[str, np.ndarray], joints: Sequence[str], title: str = ""):
    """One sequence's class sensitivity (T, J) for several models side by side (joints x frames,
    each map scaled to its own maximum)."""
    return _maps_side_by_side(maps, joints, (3.8, 0.2, 1.6), "sensitivity", title,
                              lambda ax: ax.set_xlabel("frame"))


def table_figure(df, title: str = ""):
    """A pandas table drawn as a figure (numbers to 3 decimals)."""

    cells = [[f"{v:.3f}" if isinstance(v, (float, np.floating)) else str(v) for v in row] for row in df.values]
    heads = [textwrap.fill(str(c), 13) for c in df.columns]
    lines = max(h.count("\n") + 1 for h in heads)
    fig, ax = plt.subplots(figsize=(1.15 * len(df.columns) + 0.5, 0.35 * (len(df) + lines) + 0.8))
    ax.axis("off")
    tab = ax.table(cellText=cells, colLabels=heads, loc="upper center", cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(8)
    tab.scale(1, 1.4)
    for (row, _), cell in tab.get_celld().items():
        if row == 0:
            cell.set_height(cell.get_height() * lines)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def variants_table(summaries: dict[str, dict], metrics: dict[str, dict]):
    """One row per arch: model, accuracy, periods purity and relevance uncertainty."""

    rows = []
    for arch, s in summaries.items():
        m = metrics.get(arch, {})
        spec = m.get("model", {})
        rows.append({"arch": arch, "cell": spec.get("cell", "?"), "layers": spec.get("num_layers", "?"),
                     "hidden": spec.get("hidden_size", "?"),
                     "test accuracy": m.get("accuracy", {}).get("test", float("nan")),
                     "unit purity": s.get("unit_purity_mean", float("nan")),
                     "purity (shuffled)": s.get("unit_purity_shuffled_mean", float("nan")),
                     "relevance rel. uncertainty": s.get("relevance_relative_uncertainty", float("nan"))})
    return pd.DataFrame(rows)


def variants_sensitivity_figure(maps: dict[str, np.ndarray], joints: Sequence[str], classes: Sequence[str],
                                title: str = "", value_label: str = "sensitivity"):
    """Class x joint sensitivity maps of several models side by side (one panel per arch, shared
    colour scale after normalising each map to its maximum)."""
    def class_axis(ax):
        ax.set_xticks(range(len(classes)))
        ax.set_xticklabels(classes, rotation=60, ha="right", fontsize=7)

    return _maps_side_by_side(maps, joints, (4.2, 0.22, 1.8), value_label, title, class_axis)
