"""Figures of notebook 07 (which attribution a user can trust, :mod:`skelvis.attribution`): the
benchmark table, the deletion and insertion curves per method, the model-randomisation maps side
by side, one *throw* and one *kick* frame per method drawn as the paper's Fig. 4, and which
method's map separates a model that uses the planted shortcut from a control that does not."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..datasets.store import Dataset
from ..topology import get_topology
from .common import draw_skeleton

__all__ = ["curves_figure", "randomisation_figure", "shortcut_figure", "table_figure", "throw_kick_figure",
           "wide_table"]

CMAP = "Reds"


def wide_table(table: pd.DataFrame, with_interval: bool = True) -> pd.DataFrame:
    """Methods x metrics: 'mean [low, high]' strings (or the means), methods in the table's order."""
    t = table.copy()
    if with_interval:
        t["cell"] = [f"{v:.3g}" if not np.isfinite(lo) else f"{v:.3g} [{lo:.3g}, {hi:.3g}]"
                     for v, lo, hi in zip(t.value, t.ci_low, t.ci_high)]
    else:
        t["cell"] = t.value
    order = list(dict.fromkeys(t.method))
    cols = list(dict.fromkeys(t.metric))
    return t.pivot(index="method", columns="metric", values="cell").reindex(index=order, columns=cols)


def table_figure(table: pd.DataFrame, title: str = ""):
    """The table as a heatmap: each metric's column coloured by its rank among the methods (darker =
    better by the metric's own direction), cells 'mean' with the 95% interval below."""
    order = list(dict.fromkeys(table.method))
    cols = list(dict.fromkeys(table.metric))
    val = table.pivot(index="method", columns="metric", values="value").reindex(index=order, columns=cols)
    better = table.drop_duplicates("metric").set_index("metric").better.reindex(cols)
    score = val.copy()
    for c in cols:
        if better[c] not in ("higher", "lower"):
            score[c] = np.nan                   # a reference value, not a quality: left uncoloured
            continue
        s = val[c] if better[c] == "higher" else -val[c]
        score[c] = s.rank(pct=True)
    fig, ax = plt.subplots(figsize=(1.35 * len(cols) + 2.5, 0.5 * len(order) + 1.8))
    ax.imshow(score.to_numpy(float), cmap="Greens", vmin=0, vmax=1.3, aspect="auto")
    lo = table.pivot(index="method", columns="metric", values="ci_low").reindex(index=order, columns=cols)
    hi = table.pivot(index="method", columns="metric", values="ci_high").reindex(index=order, columns=cols)
    for i in range(len(order)):
        for j in range(len(cols)):
            v = val.iat[i, j]
            if not np.isfinite(v):
                continue
            txt = f"{v:.3g}"
            if np.isfinite(lo.iat[i, j]) and lo.iat[i, j] != hi.iat[i, j]:
                txt += f"\n[{lo.iat[i, j]:.2g}, {hi.iat[i, j]:.2g}]"
            ax.text(j, i, txt, ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(cols)), [f"{c.replace('_', ' ')}\n" + (f"({better[c]} better)" if better[c] in
                                      ("higher", "lower") else "(reference)") for c in cols],
                  rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(order)), order, fontsize=9)
    ax.set_title(title or "attribution methods: mean over sequences [bootstrap 95% interval]", fontsize=10)
    fig.tight_layout()
    return fig


def curves_figure(bench: dict, title: str = ""):
    """Mean deletion and insertion curves (target-class probability against joints frozen, resp.
    restored) of every method, with the random-order curve dashed."""
    methods, dele, ins = bench["methods"], bench["deletion"], bench["insertion"]
    k = np.arange(dele.shape[1])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colors = plt.cm.tab10(np.linspace(0, 1, 10))
    for ax, curves, rnd, name in ((axes[0], dele, bench["deletion_random"], "deletion"),
                                  (axes[1], ins, bench["insertion_random"], "insertion")):
        for i, m in enumerate(methods):
            ax.plot(k, curves[i], "-", color=colors[i % 10], lw=1.6,
                    label=f"{m} (AUC {curves[i].mean():.2f})")
        ax.plot(k, rnd, "k--", lw=1.6, label=f"random order (AUC {rnd.mean():.2f})")
        ax.set_xlabel("joints frozen to their parent (most important first)" if name == "deletion"
                      else "joints restored (most important first)")
        ax.set_title(f"{name}: {'lower' if name == 'deletion' else 'higher'} area = more faithful", fontsize=10)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("mean probability of the true class")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96 if title else 1))
    return fig


def randomisation_figure(bench: dict, position: int, length: int, joint_names: Sequence[str], title: str = ""):
    """For the scored sequence at ``position`` (of ``bench['rows']``): one row per method, its
    joint x time map for the trained model and after each randomisation stage, each map scaled to
    its own maximum (the test compares ranks)."""
    methods, cascade = bench["methods"], bench["cascade"]
    cols = ["trained model"] + [f"{s} re-drawn" + (" (and above)" if k else "") for k, s in enumerate(cascade)]
    fig, axes = plt.subplots(len(methods), len(cols), figsize=(3.2 * len(cols), 1.15 * len(methods) + 1.0),
                             squeeze=False, sharex=True, sharey=True)
    L = int(length)
    for i, m in enumerate(methods):
        panels = [bench["maps"][i, position]] + [bench["randomised"][s, i, position] for s in range(len(cascade))]
        for j, p in enumerate(panels):
            ax = axes[i, j]
            p = p[:L].T
            ax.imshow(p / (p.max() or 1.0), aspect="auto", cmap=CMAP, vmin=0, vmax=1, interpolation="nearest")
            ax.set_yticks([])
            if i == 0:
                ax.set_title(cols[j], fontsize=9)
            if j == 0:
                ax.set_ylabel(m, fontsize=8, rotation=0, ha="right", va="center")
    for ax in axes[-1]:
        ax.set_xlabel("frame")
    fig.suptitle(title or f"model-parameter randomisation: maps (joints x frames, {len(joint_names)} joints) "
                 "of one sequence", fontsize=10)
    fig.tight_layout()
    return fig


def throw_kick_figure(ds: Dataset, bench: dict, panels: Sequence[tuple[int, int, str]], title: str = ""):
    """One row per method, one skeleton per panel ``(position in bench['rows'], frame, caption)``,
    joints coloured by the method's map at that frame (darker = more important), each method on its
    own colour scale (the paper's Fig. 4 for every method)."""
    topo = get_topology(ds.topology)
    methods = bench["methods"]
    fig, axes = plt.subplots(len(methods), len(panels), figsize=(2.6 * len(panels) + 1.4, 2.5 * len(methods)),
                             squeeze=False)
    for i, m in enumerate(methods):
        maps = bench["maps"][i]
        vmax = max(float(maps[p, t].max()) for p, t, _ in panels) or 1.0
        for j, (p, t, cap) in enumerate(panels):
            row = int(bench["rows"][p])
            draw_skeleton(axes[i, j], ds.x[row, t], topo, maps[p, t], cmap=CMAP, vmin=0.0, vmax=vmax,
                          view="oblique", joint_size=55)
            if i == 0:
                axes[i, j].set_title(cap, fontsize=9)
        axes[i, 0].text(-0.08, 0.5, m, transform=axes[i, 0].transAxes, rotation=90, ha="right", va="center",
                        fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11, y=0.995)
    fig.tight_layout(rect=(0, 0, 1, 1 - (0.25 + 0.25 * title.count("\n")) / fig.get_size_inches()[1]
                           if title else 1))
    return fig


def shortcut_figure(table: pd.DataFrame, title: str = ""):
    """Per method, the mean shortcut mass (share of the map on the planted cue's joints and frames)
    of the model trained with the cue and of the control model trained without it, on the same
    cue-carrying training sequences, with bootstrap 95% intervals, the ratio written above and
    a uniform map's mass dotted; beside it the ground truth, the probability each model loses
    when the cue is taken out (``cue_removed``).  Without control rows (no planted shortcut, or
    no control model) the figure says so in words."""
    t = table.set_index(["method", "metric"])
    methods = [m for m in dict.fromkeys(table.method) if (m, "shortcut_mass_control") in t.index]
    if not methods:
        fig, ax = plt.subplots(figsize=(6, 1.6))
        ax.axis("off")
        ax.text(0.5, 0.5, "no planted shortcut with a control model in this data:\n"
                "no cue mass to compare between a model that uses the cue and one that does not",
                ha="center", va="center", fontsize=10)
        if title:
            ax.set_title(title, fontsize=10)
        return fig
    truth = [k for k in ("cue_probability_drop", "cue_probability_drop_control") if ("cue_removed", k) in t.index]
    fig, axes = plt.subplots(1, 2 if truth else 1, figsize=(11 if truth else 8.5, 4.2), squeeze=False,
                             gridspec_kw={"width_ratios": [5, 1] if truth else [1]})
    ax = axes[0, 0]
    x = np.arange(len(methods))
    for k, (metric, label, color) in enumerate((("shortcut_mass", "model trained with the cue", "tab:red"),
                                               ("shortcut_mass_control", "control (trained without it)",
                                                "tab:blue"))):
        v = np.array([t.loc[(m, metric), "value"] for m in methods])
        lo = np.array([t.loc[(m, metric), "ci_low"] for m in methods])
        hi = np.array([t.loc[(m, metric), "ci_high"] for m in methods])
        err = np.nan_to_num(np.vstack([v - lo, hi - v]).clip(0))
        ax.bar(x + (k - 0.5) * 0.38, v, 0.38, yerr=err, color=color, alpha=0.8, label=label, capsize=2)
    chance = t.loc[(methods[0], "shortcut_mass"), "chance"]
    if np.isfinite(chance):
        ax.axhline(chance, color="k", ls=":", lw=1, label=f"uniform map ({chance:.2f})")
    top = 1.35 * ax.get_ylim()[1]
    ax.set_ylim(0, top)
    for i, m in enumerate(methods):
        r = t.loc[(m, "shortcut_mass_ratio"), "value"] if (m, "shortcut_mass_ratio") in t.index else np.nan
        ax.text(i, top * 0.97, f"x{r:.2f}", ha="center", va="top", fontsize=8)
    ax.set_xticks(x, methods, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("mass on the cue's joints and frames")
    ax.set_title("which map separates the two models? (ratio cue / control above)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, 0.91), ncol=3)
    if truth:
        ax2 = axes[0, 1]
        v = [t.loc[("cue_removed", k), "value"] for k in truth]
        lo = [t.loc[("cue_removed", k), "ci_low"] for k in truth]
        hi = [t.loc[("cue_removed", k), "ci_high"] for k in truth]
        err = np.nan_to_num(np.vstack([np.subtract(v, lo), np.subtract(hi, v)]).clip(0))
        ax2.bar(range(len(truth)), v, 0.6, yerr=err, capsize=2,
                color=["tab:red", "tab:blue"][:len(truth)], alpha=0.8)
        ax2.axhline(0, color="k", lw=0.8)
        ax2.set_xticks(range(len(truth)), ["with cue", "control"][:len(truth)], fontsize=8)
        ax2.set_title("ground truth:\nprobability lost\nwithout the cue", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.95 if title else 1))
    return fig
