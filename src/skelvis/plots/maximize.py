"""Figures of notebook 03 (activation maximisation, Patil et al. Fig. 2 and Fig. 5): a frame
after one iteration without and with the anatomical constraints, one frame of two sequences over
the iterations, response and constraint violation per iteration, and an animated GIF; Fig. 5
under the ``paper`` and ``plausible`` constraint sets side by side (issue 19) and a summary of the
start repairs.

Every function takes entries as returned by :func:`skelvis.maximize.read_maximization`
(snapshots in the un-normalised body frame)."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.lines import Line2D

from .. import constraints as C
from ..case_study import find_class
from ..maximize import summarize_repair
from ..topology import Topology
from .common import draw_skeleton, show_file

__all__ = [
    "animation",
    "changed_frame",
    "constraints_figure",
    "curves_figure",
    "fig5_class",
    "iterations_figure",
    "most_different_frame",
    "no_comparison_figure",
    "pick_entries",
    "plausible_figure",
    "repair_summary",
]


def changed_frame(entry: dict, which: str = "unconstrained", iteration: int = -1) -> int:
    """The frame whose pose moved most (largest joint displacement) between the start and
    ``iteration`` of the ``which`` run."""
    s = entry[which]["snapshots"]
    return int(np.linalg.norm(s[iteration] - s[0], axis=-1).max(-1).argmax())


def _limits(poses: Sequence[np.ndarray], pad: float = 0.1):
    p = np.concatenate([q.reshape(-1, 3) for q in poses])
    lo, hi = p[:, :2].min(0), p[:, :2].max(0)
    span = (hi - lo).max() * (0.5 + pad)
    mid = (hi + lo) / 2
    return (mid[0] - span, mid[0] + span), (mid[1] - span, mid[1] + span)


def _panel(ax, poses, topo, colors, title, lims):
    for pose, col in zip(poses, colors):
        if col == "ghost":
            draw_skeleton(ax, pose, topo, bone_color="#bbbbbb", alpha=0.9, joint_size=10)
        else:
            draw_skeleton(ax, pose, topo)
    ax.set_xlim(*lims[0])
    ax.set_ylim(*lims[1])
    ax.set_title(title, fontsize=9)


def constraints_figure(entry: dict, topo: Topology, iterations: Sequence[int] = (1, -1),
                       frame: int | None = None, note: str = ""):
    """Paper Fig. 2: the same frame after an iteration without (a) and with (b) constraints, the
    start pose in grey behind; one row per iteration in ``iterations``."""
    unc, con = entry["unconstrained"], entry["constrained"]
    n_it = len(con["response"]) - 1
    frame = changed_frame(entry, "unconstrained", iterations[-1]) if frame is None else frame
    fig, axes = plt.subplots(len(iterations), 2, figsize=(6.4, 3.3 * len(iterations)), squeeze=False)
    for row, it in enumerate(iterations):
        it = it % (n_it + 1)
        start = con["snapshots"][0][frame]
        pu, pc = unc["snapshots"][it][frame], con["snapshots"][it][frame]
        lims = _limits([start, pu, pc])
        _panel(axes[row, 0], [start, pu], topo, ["ghost", None],
               f"(a) without constraints, iteration {it}\nmax bone error {unc['max_bone_error'][it]:.1%}, "
               f"angle violation {unc['max_angle_violation_deg'][it]:.1f}°", lims)
        _panel(axes[row, 1], [start, pc], topo, ["ghost", None],
               f"(b) with constraints, iteration {it}\nmax bone error {con['max_bone_error'][it]:.0e}, "
               f"angle violation {con['max_angle_violation_deg'][it]:.2f}°", lims)
    fig.suptitle(f"{entry['target']}: frame {frame} of {entry['sample_id']} (start pose in grey; front view)"
                 + (f"\n{note}" if note else ""), fontsize=10)
    fig.tight_layout()
    return fig


def iterations_figure(entries: list[dict], topo: Topology, iterations: Sequence[int] = (0, 1, -1),
                      which: str = "constrained", note: str = ""):
    """Paper Fig. 5: one frame of each sequence (rows): the original and after the given
    iterations (columns); the frame is the one that changed most by the last iteration."""
    fig, axes = plt.subplots(len(entries), len(iterations), figsize=(2.6 * len(iterations), 2.9 * len(entries)),
                             squeeze=False)
    for r, e in enumerate(entries):
        s = e[which]["snapshots"]
        n_it = len(s) - 1
        frame = changed_frame(e, which, -1)
        poses = [s[it % (n_it + 1)][frame] for it in iterations]
        lims = _limits(poses)
        for c, it in enumerate(iterations):
            it = it % (n_it + 1)
            label = "original" if it == 0 else f"after {it} iteration{'s' if it > 1 else ''}"
            _panel(axes[r, c], [s[0][frame], s[it][frame]] if it else [s[0][frame]], topo,
                   ["ghost", None] if it else [None], f"{label}\nresponse {e[which]['response'][it]:.2f}", lims)
        axes[r, 0].text(-0.05, 0.5, f"{e['sample_id']}\nframe {frame}", transform=axes[r, 0].transAxes,
                        rotation=90, ha="right", va="center", fontsize=8)
    fig.suptitle(f"{entries[0]['target']}: one frame per sequence over the iterations "
                 f"({which}; original in grey behind)" + (f"\n{note}" if note else ""), fontsize=10)
    fig.tight_layout()
    return fig


def curves_figure(entries: list[dict]):
    """Response gain, bone-length error and angle violation per iteration for every target,
    with (solid) and without (dashed) constraints."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    cmap = plt.get_cmap("tab20")
    for k, e in enumerate(entries):
        col = cmap(k % 20)
        lab = f"{e['target']} ({e['sample_id']})"
        for which, ls in (("constrained", "-"), ("unconstrained", "--")):
            d = e[which]
            it = np.arange(len(d["response"]))
            axes[0].plot(it, d["response"] - d["response"][0], ls, color=col, lw=1.4,
                         label=lab if which == "constrained" else None)
            axes[1].plot(it, np.maximum(d["max_bone_error"], 1e-16), ls, color=col, lw=1.2)
            axes[2].plot(it, d["max_angle_violation_deg"], ls, color=col, lw=1.2)
    axes[0].set_ylabel("response - response at start\n(class logit / unit mean activation)")
    axes[0].set_title("Response gain")
    axes[1].set_yscale("log")
    axes[1].axhline(1e-4, color="k", lw=0.8, ls=":")
    axes[1].set_ylabel("max relative bone-length error")
    axes[1].set_title("Bone lengths (dotted: tolerance 1e-4)")
    axes[2].set_ylabel("max angle-limit violation (degrees)")
    axes[2].set_title("Angle limits (Eq. 11-13)")
    for ax in axes:
        ax.set_xlabel("iteration")
    handles, labels = axes[0].get_legend_handles_labels()
    handles += [Line2D([], [], color="k", ls="-"), Line2D([], [], color="k", ls="--")]
    labels += ["with constraints", "without constraints"]
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def animation(entry: dict, topo: Topology, path, which: str = "constrained", fps: float = 10.0):
    """Animated GIF: the original (left) and the maximised video (right) side by side."""

    s = entry[which]["snapshots"]
    orig, final = s[0], s[-1]
    lims = _limits([orig, final])
    fig, axes = plt.subplots(1, 2, figsize=(6, 3.4))

    def draw(t):
        for ax, seq, title in ((axes[0], orig, "original"),
                               (axes[1], final, f"after {len(s) - 1} iterations ({which})")):
            ax.clear()
            draw_skeleton(ax, seq[t], topo)
            ax.set_xlim(*lims[0])
            ax.set_ylim(*lims[1])
            ax.set_title(title, fontsize=9)
        fig.suptitle(f"{entry['target']} ({entry['sample_id']}), frame {t}", fontsize=10)
        return []

    anim = FuncAnimation(fig, draw, frames=len(orig), blit=False)
    anim.save(str(path), writer=PillowWriter(fps=fps))
    plt.close(fig)
    show_file(path)
    return path


def fig5_class(entries: list[dict], class_name: str = "throw") -> tuple[str, str]:
    """The class whose targets Figs. 2 and 5 show, and a note for the title: ``class_name`` when a
    class target matches it (:func:`skelvis.case_study.find_class`), else the first class with the
    most targets (the one the maximize stage gave a second sequence), said in the note."""
    names = list(dict.fromkeys(e["target"] for e in entries if e["target_kind"] == "class"))
    k = find_class(names, class_name)
    if k is not None:
        return names[k], ""
    if not names:
        return "", f"no class target to show ('{class_name}' is not in this dataset)"
    counts = [sum(e["target"] == n for e in entries) for n in names]
    best = names[int(np.argmax(counts))]
    return best, f"'{class_name}' is not in this dataset: {best} instead (the first class with the most sequences)"


def pick_entries(entries: list[dict], class_name: str = "throw", count: int = 2) -> list[dict]:
    """Up to ``count`` class targets of the class :func:`fig5_class` chooses."""
    name, _ = fig5_class(entries, class_name)
    return [e for e in entries if e["target_kind"] == "class" and e["target"] == name][:count]


def _measures(seq: np.ndarray, start: np.ndarray, cs: C.ConstraintSet) -> dict[str, np.ndarray]:
    """Per frame of ``seq`` (T, J, 3): height of the lowest foot/ankle above the floor (the lowest
    foot/ankle height of ``start``), deepest capsule interpenetration, and the peak joint
    acceleration of the frame triple centred on it (0 at both ends)."""
    L = C.mean_bone_lengths(start, None, cs.bones)
    aj = cs.topology.angle_joints
    feet = [aj[k] for k in ("left_foot", "right_foot", "left_ankle", "right_ankle")]
    floor = start[:, feet, cs.up_axis].min()
    acc = np.zeros(len(seq))
    if len(seq) >= 3:
        acc[1:-1] = np.asarray(C.acceleration(seq)).max(-1)
    return {"lowest_foot": seq[:, feet, cs.up_axis].min(-1) - floor,
            "interpenetration": np.asarray(C.interpenetration(seq, cs, L)), "acceleration": acc,
            "floor": np.full(len(seq), floor)}


def most_different_frame(paper: np.ndarray, plausible: np.ndarray) -> tuple[int, float]:
    """The frame where the ``paper`` and ``plausible`` results differ most, and by how much.

    paper, plausible: the two final sequences (T, J, 3) of the same target and start.  The
    difference of frame t is the largest distance of one joint between them,
    ``max_j |x_paper[t, j] - x_plausible[t, j]|`` (Euclidean, in the sequences' units); returns
    (the frame with the largest difference, the earliest on ties; that distance).  Fig. 5's
    side by side shows this frame: the frame where the paper's result floats highest can be one
    where both sets give the same pose, so it says nothing about what the plausible set changes."""
    a, b = np.asarray(paper, np.float64), np.asarray(plausible, np.float64)
    if a.shape != b.shape or a.ndim != 3 or len(a) == 0:
        raise ValueError(f"two sequences (T, J, 3) of one shape expected, got {a.shape} and {b.shape}")
    diff = np.nan_to_num(np.linalg.norm(a - b, axis=-1), nan=-np.inf).max(-1)    # (T,)
    t = int(np.argmax(diff))
    return t, float(diff[t])


def most_different_target(runs: dict, prefer: str | None = None, min_distance: float = 0.02) -> tuple[int, str]:
    """Which target of a comparison file Fig. 5's paper-vs-plausible panel shows, and why.

    ``runs`` as returned by :func:`skelvis.maximize.read_comparison_runs`.  Per target, the
    largest joint distance between its final ``paper`` and ``plausible`` sequences
    (:func:`most_different_frame`).  The first target labelled ``prefer`` (the class Figs. 2 and 5
    show) when the two sets move one of its joints by at least ``min_distance`` (body-frame units,
    where the trunk is about 0.5); otherwise the target where they differ most,
    since a panel of two identical poses shows nothing of what the plausible set changes."""
    labels = list(runs["attrs"]["targets"])
    lengths = runs["attrs"]["length"]
    dist = []
    for k in range(len(labels)):
        T = int(lengths[k])
        a = runs["paper"]["snapshots"][k, -1, :T]
        b = runs["plausible"]["snapshots"][k, -1, :T]
        dist.append(most_different_frame(a, b)[1] if T else 0.0)
    if not labels:
        raise ValueError("the comparison file has no targets")
    best = int(np.argmax(dist))
    first = next((k for k, t in enumerate(labels) if t == prefer), None)
    if first is not None and dist[first] >= min_distance:
        return first, ""
    if first is None:
        return best, f"the target where the two sets differ most ({prefer!r} is not in the file)"
    return best, (f"the target where the two sets differ most: on {prefer!r} they differ by at most "
                  f"{dist[first]:.3f}")


def plausible_figure(runs: dict, topo: Topology, target: int = 0, note: str = ""):
    """Fig. 5 under the ``paper`` (left) and ``plausible`` (right) constraint sets, after the last
    iteration, at the frame where the two results differ most (:func:`most_different_frame`; the
    title says which and by how much): each panel states the lowest foot's height above the floor
    at that frame, the deepest interpenetration of two body capsules and the peak joint
    acceleration of the whole sequence.  ``runs`` as returned by
    :func:`skelvis.maximize.read_comparison_runs`; the floor is drawn as a line."""
    cs = C.constraint_set(topo, **C.CONSTRAINT_SETS["plausible"])
    T = int(runs["attrs"]["length"][target])
    start = runs["unconstrained"]["snapshots"][target, 0, :T].astype(np.float64)
    seqs = {k: runs[k]["snapshots"][target, -1, :T].astype(np.float64) for k in ("paper", "plausible")}
    meas = {k: _measures(v, start, cs) for k, v in seqs.items()}
    frame, dist = most_different_frame(seqs["paper"], seqs["plausible"])
    lims = _limits([seqs["paper"][frame], seqs["plausible"][frame], start[frame]])
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 4.0))
    for ax, k in zip(axes, ("paper", "plausible")):
        m = meas[k]
        _panel(ax, [start[frame], seqs[k][frame]], topo, ["ghost", None],
               f"'{k}' set, frame {frame}\nlowest foot {m['lowest_foot'][frame]:.3f} above the floor\n"
               f"interpenetration {m['interpenetration'].max():.3f}, peak acceleration {m['acceleration'].max():.3f}",
               lims)
        ax.axhline(m["floor"][0], color="#8c6d31", lw=1.2, ls="--")
    label = runs["attrs"]["targets"][target]
    fig.suptitle(f"{label}: {runs['attrs']['sample_id'][target]} after {len(runs['paper']['response'][target]) - 1} "
                 f"iterations (start in grey, floor dashed; body-frame units)\n"
                 f"frame {frame}: where the two results differ most (a joint {dist:.3f} apart)"
                 + (f"\n{note}" if note else ""),
                 fontsize=9)
    fig.tight_layout()
    return fig


def no_comparison_figure(why: str):
    """The place of :func:`plausible_figure` when there is no comparison to show."""
    fig, ax = plt.subplots(figsize=(5, 1.6))
    ax.axis("off")
    ax.text(0.5, 0.5, f"no paper-vs-plausible comparison:\n{why}", ha="center", va="center", fontsize=10)
    return fig


def repair_summary(entries: list[dict], mode: str = "repair"):
    """One row per target: start frames, the frames that broke a limit, how often each limit was
    broken, and how far the repair moved the start (frames moved more than 1% of the spine
    length, the largest joint displacement and its frame; :func:`skelvis.maximize.summarize_repair`
    of the constrained run).  ``mode``: the run's ``infeasible_start`` setting."""
    rows = []
    for e in entries:
        s = summarize_repair(e["constrained"], int(e.get("length", 0)), float(e.get("scale", 1.0)), mode)
        rows.append({"target": e["target"], "sample": e["sample_id"], "frames": s["frames"],
                     "frames breaking a limit": len(s["broken_frames"]),
                     "limits broken (frames)": "; ".join(f"{k}: {v}" for k, v in s["broken"].items()) or "none",
                     "frames moved": s["moved"], "moved up to": s["max_move"], "at frame": s["max_move_frame"]})
    return pd.DataFrame(rows)
