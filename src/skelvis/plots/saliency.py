"""Figures of notebook 02 (joint sensitivity, Patil et al. §3.1): skeletons with joints coloured by
sensitivity (their Fig. 4 and 6), joint x time heatmaps per class and per hidden unit, and the
faithfulness scores (ground-truth mass share, deletion curves)."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..datasets.store import SPLIT_NAMES, Dataset
from ..saliency import resample_maps
from ..topology import get_topology
from .common import draw_skeleton, skeleton_strip

__all__ = [
    "class_heatmaps_figure",
    "confused_pair",
    "confused_pair_figure",
    "faithfulness_figure",
    "faithfulness_table",
    "pair_confusions",
    "pick_sample",
    "skeleton_maps_figure",
    "unit_maps_figure",
]

CMAP = "Reds"
MAP_LABEL = "sensitivity $S'_c[t,j]$ (Eq. 5)"


def pick_sample(label: np.ndarray, predicted: np.ndarray, split: np.ndarray, c: int) -> int | None:
    """A sequence of class ``c``: the first correctly classified held-out one, else any of class c."""
    for cond in ((label == c) & (predicted == c) & (split != 0), (label == c) & (predicted == c), label == c):
        idx = np.flatnonzero(cond)
        if len(idx):
            return int(idx[0])
    return None


def pair_confusions(label: np.ndarray, predicted: np.ndarray, split: np.ndarray, a: int, b: int) -> str:
    """'test 5 of 24, validation 3 of 24, train 30 of 112': per split, how many sequences of
    classes a and b were given the other one of the two, of all sequences of a and b."""
    parts = []
    for code in (2, 1, 0):
        sel = (split == code) & np.isin(label, (a, b))
        if sel.any():
            wrong = int((((label == a) & (predicted == b)) | ((label == b) & (predicted == a)))[sel].sum())
            parts.append(f"{SPLIT_NAMES[code]} {wrong} of {int(sel.sum())}")
    return ", ".join(parts)


def skeleton_maps_figure(ds: Dataset, maps: np.ndarray, panels: Sequence[tuple[int, int, str]],
                         title: str = "", view: str = "oblique", label: str = MAP_LABEL):
    """One skeleton per panel ``(sample index, frame, caption)``, joints coloured by ``maps[i, t]``
    (N, T, J) on a sequential colormap (darker = more sensitive), one shared colour bar (the paper's
    Fig. 4)."""
    topo = get_topology(ds.topology)
    vmax = max(float(maps[i, t].max()) for i, t, _ in panels) or 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels) + 1.0, 4.2), squeeze=False)
    sc = None
    for ax, (i, t, cap) in zip(axes[0], panels):
        sc = draw_skeleton(ax, ds.x[i, t], topo, maps[i, t], cmap=CMAP, vmin=0.0, vmax=vmax, view=view,
                           joint_size=70) or sc
        ax.set_title(cap, fontsize=10)
    cb = fig.colorbar(sc, ax=list(axes[0]), fraction=0.035, pad=0.02)
    cb.set_label(label)
    if title:
        fig.suptitle(title, fontsize=11, y=0.98 + 0.07 * title.count("\n"))  # clear of the panel titles
    return fig


def confused_pair(cm: np.ndarray, probability: np.ndarray | None = None,
                  label: np.ndarray | None = None) -> tuple[int, int, int]:
    """The two classes most often confused (either direction) in the confusion matrix ``cm`` (K, K);
    ties (e.g. no confusion at all) are broken by the mean probability each class's sequences give
    the other class, when ``probability`` (N, K) and ``label`` (N,) are given.  (a, b, count)."""
    cm = np.asarray(cm)
    K = cm.shape[0]
    sym = (cm + cm.T).astype(float)
    np.fill_diagonal(sym, -1)
    tie = np.zeros_like(sym)
    if probability is not None and label is not None:
        for a in range(K):
            sel = label == a
            if sel.any():
                tie[a] = probability[sel].mean(0)
        tie = tie + tie.T
        np.fill_diagonal(tie, 0)
        tie = tie / (tie.max() + 1e-12) * 0.5          # < 1: counts decide first
    score = sym + tie
    a, b = np.unravel_index(int(np.argmax(score)), score.shape)
    a, b = int(min(a, b)), int(max(a, b))
    return a, b, int(cm[a, b] + cm[b, a])


def confused_pair_figure(ds: Dataset, maps: np.ndarray, a: int, b: int, idx_a: int, idx_b: int,
                         count: int = 0, frames: int = 5, view: str = "oblique", note: str = "",
                         predicted: np.ndarray | None = None):
    """Two easily confused classes side by side (the paper's Fig. 6): one sequence of each, a strip
    of ``frames`` frames with joints coloured by its class map, and the share of sensitivity per
    joint summed over time and over all sequences of each class.  ``note`` (e.g. why this pair, the
    confusions per split) goes under the title; with ``predicted`` (N,) each strip says what its sequence was called."""
    topo = get_topology(ds.topology)
    fig = plt.figure(figsize=(13, 6.4))
    gs = fig.add_gridspec(2, 2, width_ratios=[3.2, 1.3], wspace=0.25)
    rows = [(a, idx_a), (b, idx_b)]
    vmax = max(float(maps[i].max()) for _, i in rows) or 1.0
    sc = None
    for r, (c, i) in enumerate(rows):
        ax = fig.add_subplot(gs[r, 0])
        T = int(ds.length[i])
        fr = np.linspace(0, T - 1, frames).round().astype(int)
        sc = skeleton_strip(ax, ds.x[i], topo, fr, joint_values=maps[i], view=view, cmap=CMAP, vmin=0.0,
                            vmax=vmax, joint_size=45) or sc
        called = "" if predicted is None else f", classified as {ds.classes[int(predicted[i])]}"
        ax.set_title(f"{ds.classes[c]}  ({ds.sample_id[i]}, {T} frames{called})", fontsize=10, loc="left")
    cb = fig.colorbar(sc, ax=[fig.axes[0], fig.axes[1]], fraction=0.03, pad=0.01, location="left")
    cb.set_label(MAP_LABEL)
    axb = fig.add_subplot(gs[:, 1])
    J = maps.shape[2]
    y = np.arange(J)
    for k, (c, _) in enumerate(rows):
        sel = ds.label == c
        prof = maps[sel].sum(1)                                   # (n, J)
        prof = (prof / np.maximum(prof.sum(1, keepdims=True), 1e-12)).mean(0) if sel.any() else np.zeros(J)
        axb.barh(y + (k - 0.5) * 0.4, prof, height=0.4, label=ds.classes[c], color=("#d62728", "#1f77b4")[k])
    axb.set_yticks(y, list(topo.joints), fontsize=7)
    axb.invert_yaxis()
    axb.set_xlabel("share of sensitivity mass per joint\n(summed over time, mean over sequences)", fontsize=8)
    axb.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Easily confused classes: {ds.classes[a]} vs {ds.classes[b]} "
                 f"({count} confusion{'' if count == 1 else 's'} in the confusion matrix)"
                 + (f"\n{note}" if note else ""), fontsize=11)
    return fig


def class_heatmaps_figure(means: np.ndarray, counts: np.ndarray, classes: Sequence[str],
                          joint_names: Sequence[str], ncols: int = 5):
    """Joint x normalised-time heatmap of the class map per class: ``means`` (K, bins, J), the mean
    over each class's sequences of its map resampled to normalised time (saliency.h5
    ``class_map_mean``, over every sequence; :func:`skelvis.saliency.resample_maps`), ``counts``
    (K,) the sequences behind each mean; each class scaled to its own maximum."""
    K = len(classes)
    ncols = min(ncols, K)
    nrows = int(np.ceil(K / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols + 1.2, 4.4 * nrows), squeeze=False,
                             sharey=True)
    im = None
    for c in range(K):
        ax = axes[c // ncols, c % ncols]
        if not counts[c]:
            ax.set_title(f"{classes[c]} (no sequences)", fontsize=9)
            continue
        H = np.asarray(means[c], np.float64).T                                      # (J, bins)
        H = H / (H.max() or 1.0)
        im = ax.imshow(H, aspect="auto", cmap=CMAP, vmin=0, vmax=1, extent=(0, 1, len(joint_names) - 0.5, -0.5),
                       interpolation="nearest")
        ax.set_title(f"{classes[c]} (n={int(counts[c])})", fontsize=9)
        ax.set_xlabel("normalised time", fontsize=8)
        ax.set_yticks(range(len(joint_names)), list(joint_names), fontsize=6)
    for k in range(K, nrows * ncols):
        axes[k // ncols, k % ncols].axis("off")
    fig.subplots_adjust(hspace=0.3)
    if im is not None:
        cb = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.02, pad=0.01)
        cb.set_label("mean class sensitivity (each class scaled to its maximum)")
    fig.suptitle("Class sensitivity maps $S'_c[t,j]$ (Eq. 5) per class: joints x normalised time", fontsize=11)
    return fig


def unit_maps_figure(unit_maps: np.ndarray, units: Sequence[int], label: np.ndarray, length: np.ndarray,
                     classes: Sequence[str], joint_names: Sequence[str], weights: np.ndarray,
                     n_units: int = 6, bins: int = 32, mask=None):
    """Joint x normalised-time heatmaps of hidden-unit sensitivity S'[t, j, u] (Eq. 4), each averaged
    over the sequences of the class whose classifier weight |W_c^u| is largest for that unit."""
    k = min(n_units, len(units))
    ncols = min(k, 3)
    nrows = max(1, int(np.ceil(k / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols + 1.2, 4.4 * nrows), squeeze=False, sharey=True)
    im = None
    for q in range(k):
        ax = axes[q // ncols, q % ncols]
        u = int(units[q])
        c = int(np.argmax(np.abs(weights[:, u])))
        sel = np.flatnonzero((label == c) if mask is None else (label == c) & mask)
        if not len(sel):
            continue
        H = resample_maps(np.asarray(unit_maps[sel, q], np.float64), length[sel], bins).mean(0).T
        im = ax.imshow(H, aspect="auto", cmap="Purples", vmin=0, extent=(0, 1, len(joint_names) - 0.5, -0.5),
                       interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02).ax.tick_params(labelsize=6)
        ax.set_title(f"unit {u}: on {classes[c]}\n$W_c^u$ = {weights[c, u]:+.2f} (n={len(sel)})", fontsize=9)
        ax.set_xlabel("normalised time", fontsize=8)
        ax.set_yticks(range(len(joint_names)), list(joint_names), fontsize=6)
    fig.subplots_adjust(hspace=0.35)
    for q in range(k, nrows * ncols):
        axes[q // ncols, q % ncols].axis("off")
    fig.suptitle("Hidden-unit sensitivity $S'[t,j,u]$ (Eq. 4), mean over the sequences of the class "
                 "with the largest $|W_c^u|$", fontsize=11)
    return fig


def faithfulness_table(faith: dict) -> pd.DataFrame:
    """Per class: share of sensitivity mass on the ground-truth joints, chance level, ratio."""
    ms = faith.get("mass_share") or {}
    rows = [(c, v["n"], len(v["joints"]), v["share"], v["chance"], v["share"] / v["chance"])
            for c, v in (ms.get("per_class") or {}).items()]
    df = pd.DataFrame(rows, columns=["class", "sequences", "ground-truth joints", "mass share", "chance",
                                     "share / chance"])
    if len(df):
        df.loc[len(df)] = ["mean", int(df["sequences"].sum()), np.nan, ms["mean_share"], ms["mean_chance"],
                           ms["mean_share"] / ms["mean_chance"]]
    return df


def faithfulness_figure(faith: dict, title: str = ""):
    """Left: mass share on each class's ground-truth joints against chance (if ground truth exists).
    Right: deletion curves, true-class probability as the most salient vs random joints are frozen."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.3, 1]})
    tab = faithfulness_table(faith)
    if len(tab):
        t = tab[tab["class"] != "mean"]
        x = np.arange(len(t))
        a1.bar(x - 0.2, t["mass share"], 0.4, label="saliency mass on ground-truth joints", color="#d62728")
        a1.bar(x + 0.2, t["chance"], 0.4, label="chance (uniform map)", color="#bbbbbb")
        a1.set_xticks(x, t["class"], rotation=40, ha="right", fontsize=8)
        a1.set_ylim(0, 1)
        a1.set_ylabel("share of sensitivity mass")
        a1.legend(fontsize=8, loc="upper right")
        a1.set_title(f"Mass on ground-truth joints: {faith['mass_share']['mean_share']:.2f} "
                     f"(chance {faith['mass_share']['mean_chance']:.2f})", fontsize=10)
    else:
        a1.axis("off")
        a1.text(0.5, 0.5, "no ground-truth joints for this dataset\n(mass share needs class_joints)",
                ha="center", va="center", fontsize=10)
    d = faith["deletion"]
    k = np.asarray(d["k"])
    a2.plot(k, d["salient"], "-o", ms=3, color="#d62728", label=f"most salient first (AUC {d['auc_salient']:.2f})")
    r, s = np.asarray(d["random"]), np.asarray(d["random_std"])
    a2.plot(k, r, "-", color="#555555", label=f"random joints (AUC {d['auc_random']:.2f})")
    a2.fill_between(k, r - s, r + s, color="#999999", alpha=0.3)
    a2.set_xlabel("joints frozen at their first-frame position")
    a2.set_ylabel("probability of the true class (mean)")
    a2.set_ylim(0, 1.02)
    a2.legend(fontsize=8)
    a2.set_title(f"Deletion curve ({faith.get('n', '?')} {str(faith.get('split', '')).replace('_', '-')} sequences)", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11, y=0.98 + 0.07 * title.count("\n"))  # clear of the panel titles
    fig.tight_layout()
    return fig
