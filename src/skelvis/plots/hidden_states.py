"""Figures of notebook 04: hidden-state paths in the autoencoder's code space (the figures of
Tempczyk and Bartołd, "Visualizing LSTM networks, part I"), the projection-quality comparison
with PCA and the GIF of a sequence being classified.

``P`` below is the dict of :func:`skelvis.autoencoder.read_paths`: ``path`` (N, T, k) NaN after
``length``, ``label``, ``split``, ``predicted``, ``classes``.  Coordinates are drawn after the
blog's display transform sign(z) log(1 + |z|).
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.patheffects as pe
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation

from ..autoencoder import display_transform
from .common import nothing_to_show, show_file, split_counts_text

__all__ = [
    "animate_classification",
    "body_part_figure",
    "last_step_figure",
    "misclassified_figure",
    "pairs_figure",
    "paths_3d_figure",
    "paths_figure",
    "quality_figure",
]

_HALO = [pe.withStroke(linewidth=3, foreground="white")]
_SPLITS = {"train": 0, "validation": 1, "test": 2}


def _xy(P) -> np.ndarray:
    return display_transform(P["path"])


def _ends(Z: np.ndarray, length: np.ndarray) -> np.ndarray:
    return Z[np.arange(len(Z)), np.asarray(length) - 1]


def _limits(ax, Z: np.ndarray, pad: float = 0.05):
    flat = Z.reshape(-1, Z.shape[-1])
    flat = flat[np.isfinite(flat).all(1)]
    lo, hi = flat.min(0), flat.max(0)
    d = np.maximum(hi - lo, 1e-6) * pad
    ax.set_xlim(lo[0] - d[0], hi[0] + d[0])
    ax.set_ylim(lo[1] - d[1], hi[1] + d[1])


def _draw_paths(ax, Z, length, idx, vmax, s=5, alpha=0.6, line_alpha=0.15, cmap="viridis"):
    """Thin grey lines along each path and its steps as dots coloured by time step."""
    sc = None
    for i in idx:
        z = Z[i, :int(length[i])]
        ax.plot(z[:, 0], z[:, 1], "-", color="0.5", lw=0.4, alpha=line_alpha, zorder=1)
    if len(idx):
        pts = np.concatenate([Z[i, :int(length[i]), :2] for i in idx])
        t = np.concatenate([np.arange(int(length[i])) for i in idx])
        order = np.argsort(t, kind="stable")  # late steps on top, as the end points matter most
        sc = ax.scatter(pts[order, 0], pts[order, 1], c=t[order], cmap=cmap, vmin=0, vmax=vmax, s=s,
                        alpha=alpha, linewidths=0, zorder=2)
    return sc


def _class_labels(ax, ends, label, classes, idx, fontsize=10, color="k", offset=0):
    """Each class's name at the median of its sequences' last-step codes (``offset`` points above)."""
    for c in sorted(set(label[idx].tolist())):
        m = [i for i in idx if label[i] == c]
        x, y = np.median(ends[m, 0]), np.median(ends[m, 1])
        ax.annotate(classes[c], (x, y), xytext=(0, offset), textcoords="offset points", fontsize=fontsize,
                    color=color, ha="center", va="bottom" if offset else "center", path_effects=_HALO, zorder=5)


def _axes_labels(ax, k_axis=("code 1", "code 2")):
    ax.set_xlabel(f"{k_axis[0]}  (sign·log(1+|z|))")
    ax.set_ylabel(f"{k_axis[1]}  (sign·log(1+|z|))")


def paths_figure(P, split: str | None = "train", title: str = "LSTM activations", figsize=(11, 9),
                 fontsize: int = 11, point_size: float = 5):
    """Blog Fig. 3: every sequence's path, steps coloured by time step, class names at the last steps."""
    Z, length = _xy(P), P["length"]
    idx = np.flatnonzero(P["split"] == _SPLITS[split]) if split else np.arange(len(Z))
    fig, ax = plt.subplots(figsize=figsize)
    sc = _draw_paths(ax, Z, length, idx, vmax=int(length.max()) - 1, s=point_size)
    _class_labels(ax, _ends(Z, length), P["label"], P["classes"], idx, fontsize=fontsize)
    _limits(ax, Z[idx])
    fig.colorbar(sc, ax=ax, label="time step t", fraction=0.046)
    _axes_labels(ax)
    ax.set_title(f"{title}: {len(idx)} {split or 'all'} sequences in the 2-D code space")
    fig.tight_layout()
    return fig


def last_step_figure(P, split: str | None = None, title: str = "LSTM activations at the last step"):
    """Blog Fig. 4: only the last-step code of every sequence, coloured by class."""
    Z, length, label, classes = _xy(P), P["length"], P["label"], P["classes"]
    idx = np.flatnonzero(P["split"] == _SPLITS[split]) if split else np.arange(len(Z))
    ends = _ends(Z, length)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(9, 7.5))
    for c in range(len(classes)):
        m = idx[label[idx] == c]
        ax.scatter(ends[m, 0], ends[m, 1], s=14, color=cmap(c % cmap.N), alpha=0.8, label=classes[c], linewidths=0)
    _class_labels(ax, ends, label, classes, idx, offset=9)
    _axes_labels(ax)
    ax.legend(fontsize=8, markerscale=1.5, loc="best", ncol=2, framealpha=0.8)
    ax.set_title(f"{title}: {len(idx)} {split + ' ' if split else ''}sequences, coloured by true class")
    fig.tight_layout()
    return fig


def paths_3d_figure(P3, split: str | None = "train", title: str = "LSTM activations, 3-D code space",
                    max_paths: int = 400, seed: int = 0):
    """Blog Fig. 5: paths in the 3-D code space (a seeded subset of at most ``max_paths``)."""
    Z, length, label, classes = display_transform(P3["path"]), P3["length"], P3["label"], P3["classes"]
    idx = np.flatnonzero(P3["split"] == _SPLITS[split]) if split else np.arange(len(Z))
    if len(idx) > max_paths:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_paths, replace=False))
    fig = plt.figure(figsize=(10, 8.5))
    ax = fig.add_subplot(projection="3d")
    for i in idx:
        z = Z[i, :int(length[i])]
        ax.plot(z[:, 0], z[:, 1], z[:, 2], "-", color="0.5", lw=0.3, alpha=0.2)
    pts = np.concatenate([Z[i, :int(length[i])] for i in idx])
    t = np.concatenate([np.arange(int(length[i])) for i in idx])
    sc = ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], c=t, cmap="viridis", s=3, alpha=0.5, linewidths=0)
    ends = _ends(Z, length)
    for c in sorted(set(label[idx].tolist())):
        m = idx[label[idx] == c]
        x, y, z = np.median(ends[m], 0)
        ax.text(x, y, z, classes[c], fontsize=10, path_effects=_HALO, zorder=5)
    ax.set_xlabel("code 1"), ax.set_ylabel("code 2"), ax.set_zlabel("code 3")
    fig.colorbar(sc, ax=ax, label="time step t", fraction=0.03, pad=0.08)
    ax.set_title(f"{title}: {len(idx)} {split or 'all'} sequences (sign·log(1+|z|))")
    ax.view_init(elev=22, azim=-55)
    fig.tight_layout()
    return fig


def body_part_figure(P, group_names: Sequence[str], class_group: np.ndarray, split: str | None = "train",
                     title: str = "LSTM activations by moving body parts"):
    """Blog Fig. 6: paths coloured by the body-part category of their class, class names at the ends."""
    Z, length, label, classes = _xy(P), P["length"], P["label"], P["classes"]
    idx = np.flatnonzero(P["split"] == _SPLITS[split]) if split else np.arange(len(Z))
    colors = ["#d01c8b", "#1bb3b3", "#4d9221", "#e08214", "#542788", "#7f7f7f"]
    fig, ax = plt.subplots(figsize=(10, 9))
    for i in idx:
        z = Z[i, :int(length[i])]
        ax.plot(z[:, 0], z[:, 1], "-", color=colors[class_group[label[i]] % len(colors)], lw=0.9, alpha=0.25)
    _class_labels(ax, _ends(Z, length), label, classes, idx)
    handles = [plt.Line2D([], [], color=colors[g % len(colors)], lw=3,
                          label=f"{name} ({', '.join(classes[c] for c in np.flatnonzero(class_group == g))})")
               for g, name in enumerate(group_names)]
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=1, frameon=False)
    _axes_labels(ax)
    ax.set_title(f"{title}: {len(idx)} {split or 'all'} sequences")
    fig.tight_layout()
    return fig


def pairs_figure(P, pairs: Sequence[tuple[int, int, str]], split: str | None = None, ncols: int = 2):
    """Blog Figs. 7-10: the paths of two classes at a time, each sequence's class name at its end.

    ``pairs``: (class a, class b, why chosen) tuples; all panels share the axes of the whole map.
    """
    Z, length, label, classes = _xy(P), P["length"], P["label"], P["classes"]
    base = np.flatnonzero(P["split"] == _SPLITS[split]) if split else np.arange(len(Z))
    n = max(1, len(pairs))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 5.4 * nrows), squeeze=False)
    vmax = int(length.max()) - 1
    sc = None
    ends = _ends(Z, length)
    for ax, (a, b, why) in zip(axes.flat, pairs):
        idx = base[np.isin(label[base], (a, b))]
        sc = _draw_paths(ax, Z, length, idx, vmax=vmax, s=7, alpha=0.7, line_alpha=0.3) or sc
        _limits(ax, Z[base])
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo - 0.08 * (hi - lo), hi + 0.08 * (hi - lo))  # room for a name above or below
        marks = []
        for c, color in ((a, "#1f3d99"), (b, "#8c1c13")):
            m = idx[label[idx] == c]
            if len(m):  # one name per class at the median end, with the spread of the ends as a ring
                ax.scatter(ends[m, 0], ends[m, 1], s=22, facecolors="none", edgecolors=color, lw=0.8, zorder=4)
                marks.append((np.median(ends[m, 0]), np.median(ends[m, 1]), f"{classes[c]} ({len(m)})", color))
        # the upper name above its ends, the lower one below (the two never overlap); on the side of
        # the axes' centre, so that a name near the edge stays inside the panel
        x_mid = np.mean(ax.get_xlim())
        for k, (x, y, text, color) in enumerate(sorted(marks, key=lambda t: -t[1])):
            up = k == 0
            ax.annotate(text, (x, y), xytext=(0, 9 if up else -9), textcoords="offset points", fontsize=10,
                        color=color, path_effects=_HALO, zorder=5, ha="right" if x > x_mid else "left",
                        va="bottom" if up else "top")
        ax.set_title(f"{classes[a]} vs {classes[b]}  ({why})", fontsize=10)
        _axes_labels(ax)
    for ax in list(axes.flat)[len(pairs):]:
        ax.axis("off")
    if not pairs:
        axes.flat[0].text(0.5, 0.5, "no class pairs to show", ha="center", transform=axes.flat[0].transAxes)
    if sc is not None:
        fig.colorbar(sc, ax=axes.ravel().tolist(), label="time step t", fraction=0.025)
    fig.suptitle(f"Confusable class pairs: paths of {split or 'all'} sequences", fontsize=12)
    return fig


def misclassified_figure(P, split: str = "train"):
    """Blog Figs. 11-13: the misclassified sequences of one split (paths coloured by time step),
    each labelled at its end with the true class in blue and the predicted class in red; the
    correctly classified sequences of the classes involved are drawn faintly, their class names in black."""
    Z, length, label, pred, classes = _xy(P), P["length"], P["label"], P["predicted"], P["classes"]
    in_split = np.flatnonzero(P["split"] == _SPLITS[split])
    if not len(in_split):
        return nothing_to_show(f"Misclassified {split} sequences",
                               f"this dataset has no {split} split\n({split_counts_text(P['split'])} sequences)")
    wrong = in_split[label[in_split] != pred[in_split]]
    fig, ax = plt.subplots(figsize=(10, 8.5))
    involved = sorted(set(label[wrong].tolist()) | set(pred[wrong].tolist()))
    ctx = in_split[np.isin(label[in_split], involved) & (label[in_split] == pred[in_split])]
    ends = _ends(Z, length)
    for i in ctx:
        z = Z[i, :int(length[i])]
        ax.plot(z[:, 0], z[:, 1], "-", color="0.6", lw=0.6, alpha=0.3, zorder=1)
    if len(ctx):
        _class_labels(ax, ends, label, classes, ctx, fontsize=10)
    sc = _draw_paths(ax, Z, length, wrong, vmax=int(length.max()) - 1, s=12, alpha=0.9, line_alpha=0.6)
    _limits(ax, Z[np.concatenate([ctx, wrong])] if len(wrong) else Z[in_split], pad=0.12)
    x_mid = float(np.mean(ax.get_xlim()))
    groups: dict[tuple[int, int], list[int]] = {}
    for i in wrong:
        groups.setdefault((int(label[i]), int(pred[i])), []).append(int(i))
    for (t, p), members in groups.items():  # one blue/red label per (true, predicted) pair
        x, y = np.median(ends[members, 0]), np.median(ends[members, 1])
        n = f" ({len(members)} sequences)" if len(members) > 1 else ""
        side, dx = ("right", -6) if x > x_mid else ("left", 6)  # keep the names inside the axes
        ax.annotate(classes[t], (x, y), xytext=(dx, 5), textcoords="offset points", color="blue", ha=side,
                    fontsize=12, path_effects=_HALO, zorder=6)
        ax.annotate(classes[p] + n, (x, y), xytext=(dx, -13), textcoords="offset points", color="red", ha=side,
                    fontsize=12, path_effects=_HALO, zorder=6)
    if sc is not None:
        fig.colorbar(sc, ax=ax, label="time step t (misclassified sequences)", fraction=0.046)
    if not len(wrong):
        ax.text(0.5, 0.5, f"no misclassified {split} sequences", ha="center", va="center",
                transform=ax.transAxes, fontsize=13)
    _axes_labels(ax)
    ax.set_title(f"Misclassified {split} sequences: {len(wrong)} of {len(in_split)}\n"
                 f"true class in blue, predicted class in red; grey: correctly classified sequences of these classes")
    fig.tight_layout()
    return fig


def quality_figure(quality: dict[int, dict]):
    """Trustworthiness and kNN class agreement of the autoencoder and of PCA, per k.

    ``quality``: k -> the ``quality`` dict of ``..._projection_quality.json``."""
    metrics = [("trustworthiness_steps", "trustworthiness\n(all time steps)"),
               ("trustworthiness_last", "trustworthiness\n(last steps)"),
               ("knn_agreement_last", "kNN class agreement\n(last steps)")]
    ks = sorted(quality)
    fig, axes = plt.subplots(1, len(metrics), figsize=(12, 3.8), sharey=True)
    width = 0.38
    for ax, (key, name) in zip(axes, metrics):
        for j, (method, color) in enumerate((("autoencoder", "#1b9e77"), ("pca", "#7570b3"))):
            vals = [quality[k][method][key] for k in ks]
            bars = ax.bar(np.arange(len(ks)) + (j - 0.5) * width, vals, width, color=color, label=method.upper()
                          if method == "pca" else "autoencoder")
            for b, v in zip(bars, vals):
                ax.text(b.get_x() + b.get_width() / 2, v + 0.005, f"{v:.3f}", ha="center", fontsize=8)
        if key == "knn_agreement_last":
            ref = quality[ks[0]]["hidden"]["knn_agreement_last"]
            ax.axhline(ref, color="k", ls="--", lw=1, label=f"hidden space ({ref:.3f})")
        ax.set_xticks(np.arange(len(ks)), [f"{k}-D" for k in ks])
        ax.set_title(name, fontsize=10)
        ax.set_ylim(0.5, 1.04)
    axes[0].set_ylabel("score (1 = best; about 0.5 for a random map)")
    axes[-1].legend(fontsize=8, loc="lower right")
    fig.suptitle("Projection quality: denoising autoencoder vs PCA on the same training vectors", fontsize=11)
    fig.tight_layout()
    return fig


def animate_classification(P, i: int, probability: np.ndarray, path, fps: int = 8, split: str | None = "train",
                           dpi: int = 80) -> int:
    """Blog Fig. 14: GIF of sequence ``i``'s code developing step by step over the faint map of the
    training paths, with the class the model would predict from the state so far and its
    probability. ``probability`` (T_i, K): softmax of the classifier applied to h_t. Returns the
    number of frames written (Pillow writer)."""
    Z, length, label, classes = _xy(P), P["length"], P["label"], P["classes"]
    idx = np.flatnonzero(P["split"] == _SPLITS[split]) if split else np.arange(len(Z))
    L = int(length[i])
    fig, ax = plt.subplots(figsize=(7, 6))
    for j in idx:
        z = Z[j, :int(length[j])]
        ax.plot(z[:, 0], z[:, 1], "-", color="0.75", lw=0.4, alpha=0.25, zorder=1)
    _class_labels(ax, _ends(Z, length), label, classes, idx, fontsize=9, color="0.3")
    _limits(ax, np.concatenate([Z[idx], Z[i:i + 1]]))
    _axes_labels(ax)
    z = Z[i, :L]
    cmap = plt.get_cmap("viridis")
    line, = ax.plot([], [], "-", color="k", lw=1.2, zorder=3)
    dots = ax.scatter([], [], s=18, zorder=4)
    head, = ax.plot([], [], "o", ms=10, mfc="none", mec="red", mew=2, zorder=5)
    title = ax.set_title("")

    def update(t):
        line.set_data(z[:t + 1, 0], z[:t + 1, 1])
        dots.set_offsets(z[:t + 1])
        dots.set_color(cmap(np.arange(t + 1) / max(L - 1, 1)))
        head.set_data([z[t, 0]], [z[t, 1]])
        c = int(np.argmax(probability[t]))
        title.set_text(f"sequence of class '{classes[label[i]]}', step {t + 1}/{L}\n"
                       f"prediction so far: {classes[c]} (p = {probability[t, c]:.2f})")
        title.set_color("green" if c == label[i] else "red")
        return line, dots, head, title

    anim = animation.FuncAnimation(fig, update, frames=L, blit=False)
    anim.save(str(path), writer=animation.PillowWriter(fps=fps), dpi=dpi)
    plt.close(fig)
    show_file(path)
    return L
