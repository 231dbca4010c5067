"""Figures of notebook 01: the SkeletonVis header summary, class skeleton strips, training
curves and the confusion matrix."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..datasets.store import Dataset
from ..datasets.synthetic import rest_offsets
from ..topology import KINECT_V2, Topology, get_topology, kinect_v2_index
from .common import LIMB_COLORS, draw_skeleton, skeleton_strip

__all__ = [
    "confusion_figure",
    "reference_pose",
    "skeleton_strips_figure",
    "summary_figure",
    "summary_table",
    "topology_figure",
    "training_figure",
]


def summary_table(ds: Dataset, spec: dict, metrics: dict) -> pd.DataFrame:
    """What the SkeletonVis header shows: samples, classes, joints, sensor, hidden units, accuracy."""
    topo = get_topology(ds.topology)
    counts = np.bincount(ds.split, minlength=3)
    acc = metrics.get("accuracy", {})
    rows = [
        ("dataset", ds.name),
        ("samples (train / validation / test)", f"{len(ds.x)} ({counts[0]} / {counts[1]} / {counts[2]})"),
        ("classes", str(len(ds.classes))),
        ("joints x channels", f"{ds.x.shape[2]} x {ds.x.shape[3]}"),
        ("sensor / topology", f"{topo.sensor} ({topo.name})"),
        ("frames (padded T)", f"{ds.x.shape[1]} at {ds.fps:g} fps"),
        ("model", f"{spec['cell'].upper()}, {spec['num_layers']} layer(s)"),
        ("hidden units", str(spec["hidden_size"])),
    ]
    for split in ("train", "validation", "test"):
        if split in acc:
            rows.append((f"accuracy ({split})", f"{acc[split]:.3f}"))
    return pd.DataFrame(rows, columns=["item", "value"])


def summary_figure(table: pd.DataFrame, title: str = "Data and model summary"):
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(table) + 0.6))
    ax.axis("off")
    tab = ax.table(cellText=table.values, colLabels=list(table.columns), loc="upper center", cellLoc="left",
                   colWidths=[0.55, 0.45])
    tab.auto_set_font_size(False)
    tab.set_fontsize(10)
    tab.scale(1, 1.3)
    ax.set_title(title, fontsize=12, pad=4)
    return fig


def skeleton_strips_figure(ds: Dataset, frames_per_strip: int = 6, sample_index: dict[int, int] | None = None,
                           view: str = "oblique"):
    """One row per class: ``frames_per_strip`` evenly spaced frames of one sequence."""
    topo = get_topology(ds.topology)
    k = len(ds.classes)
    fig, axes = plt.subplots(k, 1, figsize=(1.6 * frames_per_strip, 1.9 * k), squeeze=False)
    for c in range(k):
        ax = axes[c, 0]
        idx = (sample_index or {}).get(c)
        if idx is None:
            cand = np.flatnonzero(ds.label == c)
            idx = int(cand[0]) if len(cand) else None
        if idx is None:
            ax.axis("off")
            continue
        T = int(ds.length[idx])
        frames = np.linspace(0, T - 1, frames_per_strip).round().astype(int)
        skeleton_strip(ax, ds.x[idx], topo, frames, view=view)
        ax.set_title(f"{ds.classes[c]}  ({ds.sample_id[idx]}, {T} frames)", fontsize=9, loc="left")
    fig.suptitle(f"{ds.name}: one sequence per class, {view} view of the normalised body frame\n"
                 f"(left arm blue, right arm red, left leg green, right leg orange)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    return fig


def training_figure(history: pd.DataFrame, best_epoch: int | None = None, selection: str = ""):
    """Loss and accuracy per epoch; the kept model's epoch (``best_epoch``) as a dotted line, and
    how it was selected (``selection``, metrics.json) under the title."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    a1.plot(history["epoch"], history["train_loss"], label="train")
    if "validation_loss" in history:
        a1.plot(history["epoch"], history["validation_loss"], label="validation")
    a1.set_xlabel("epoch"), a1.set_ylabel("cross-entropy loss"), a1.set_yscale("log"), a1.legend()
    a1.set_title("Loss")
    a2.plot(history["epoch"], history["train_accuracy"], label="train")
    if "validation_accuracy" in history:
        a2.plot(history["epoch"], history["validation_accuracy"], label="validation")
    a2.set_xlabel("epoch"), a2.set_ylabel("accuracy"), a2.set_ylim(0, 1.02), a2.legend()
    a2.set_title("Accuracy")
    if best_epoch is not None:
        for ax in (a1, a2):
            ax.axvline(best_epoch, color="0.4", ls=":", lw=1, label=f"kept: epoch {best_epoch}")
        a2.legend()
    if selection:
        fig.suptitle(f"model selection: {selection}", fontsize=10)
    fig.tight_layout()
    return fig


def confusion_figure(cm: pd.DataFrame, title: str = "Confusion matrix"):
    """Row-normalised confusion matrix with counts in the cells."""
    counts = cm.values
    rate = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    k = len(cm)
    fig, ax = plt.subplots(figsize=(0.55 * k + 2.5, 0.55 * k + 1.8))
    im = ax.imshow(rate, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), cm.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), cm.index, fontsize=8)
    ax.set_xlabel("predicted class"), ax.set_ylabel("true class")
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if rate[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of true class")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def reference_pose(topology: Topology) -> np.ndarray:
    """A standing pose (J, 3) in the body frame (+x the person's left, +y up) for drawing a
    topology: the synthetic generator's rest offsets (Kinect v2) with the arms raised 40 degrees
    sideways so that every joint stays apart; 20-joint layouts take their joints' Kinect v2 points."""
    off = rest_offsets()
    arms = {j for g in ("left_arm", "right_arm") for j in KINECT_V2.limb_groups[g]} - {4, 8}
    a = np.deg2rad(40.0)
    for side, (hand, tip, thumb) in ((1.0, (7, 21, 22)), (-1.0, (11, 23, 24))):   # fingers apart
        off[tip] = (0.0, -0.10, 0.0)
        off[thumb] = (-side * 0.06, -0.03, 0.0)
    for j in arms:                      # rotate the hanging arm outwards about the forward axis
        side = 1.0 if j in KINECT_V2.limb_groups["left_arm"] else -1.0
        x, y, z = off[j]
        off[j] = (x * np.cos(a) - side * y * np.sin(a), side * x * np.sin(a) + y * np.cos(a), z)
    parent = _tree_from(0)               # the offsets' tree: rooted at spine_base
    pose = np.zeros((KINECT_V2.num_joints, 3))
    order = [0]
    for q in order:                     # breadth first: every parent placed before its children
        order.extend(c for c in range(KINECT_V2.num_joints) if parent[c] == q)
    for c in order[1:]:
        pose[c] = pose[parent[c]] + off[c]
    return pose[kinect_v2_index(topology)] if topology.name != KINECT_V2.name else pose


def _tree_from(root: int) -> list:
    """Parent of every Kinect v2 joint in the bone tree rooted at ``root`` (None for the root)."""
    parent = [None] * KINECT_V2.num_joints
    seen, stack = {root}, [root]
    while stack:
        q = stack.pop()
        for a, b in KINECT_V2.bones:
            for u, v in ((a, b), (b, a)):
                if u == q and v not in seen:
                    seen.add(v)
                    parent[v] = u
                    stack.append(v)
    return parent


def topology_figure(topology: Topology):
    """The joint order of a topology: a front view of :func:`reference_pose` with every joint's
    index (the position along J in the data) and name; channel sets as a numbered list."""
    J = topology.num_joints
    if not topology.is_skeleton:
        groups = list(topology.limb_groups.items())
        fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 0.28 * J / len(groups) + 1.2))
        for ax, (g, idx) in zip(np.atleast_1d(axes), groups):
            ax.axis("off")
            ax.set_title(g.replace("_", " "), fontsize=10, color=LIMB_COLORS.get(g, "k"))
            for r, j in enumerate(idx):
                ax.text(0.0, 1 - (r + 0.5) / len(idx), f"{j:2d}  {topology.joints[j]}", fontsize=9,
                        family="monospace", va="center", transform=ax.transAxes)
        fig.suptitle(f"{topology.name}: {J} channels, C = {topology.channels} ({topology.sensor})", fontsize=11)
        fig.tight_layout()
        return fig
    pose = reference_pose(topology)
    fig, ax = plt.subplots(figsize=(7.2, 7.6))
    draw_skeleton(ax, pose, topology, view="front", joint_size=60)
    p = pose[:, :2]
    span = float(p[:, 1].max() - p[:, 1].min())
    gap = span / 26                                    # label rows at least this far apart
    x_col = {True: p[:, 0].max() + 0.12, False: p[:, 0].min() - 0.12}
    # image right: the person's left side; the centre line goes with the side holding fewer joints
    right = p[:, 0] > 0.02
    centre = np.abs(p[:, 0]) <= 0.02
    right = right | (centre & ((p[:, 0] > 0.02).sum() <= (p[:, 0] < -0.02).sum()))
    for side in (True, False):
        idx = [j for j in np.argsort(-p[:, 1], kind="stable") if right[j] == side]
        y_prev = np.inf
        for j in idx:                                  # top to bottom, pushed down to keep the gap
            y = min(p[j, 1], y_prev - gap)
            y_prev = y
            ax.annotate(f"{j} {topology.joints[j]}", p[j], xytext=(x_col[side], y), textcoords="data",
                        ha="left" if side else "right", va="center", fontsize=8,
                        arrowprops={"arrowstyle": "-", "color": "0.75", "lw": 0.5, "shrinkA": 0, "shrinkB": 3})
    ax.set_xlim(x_col[False] - 0.42, x_col[True] + 0.42)
    ax.set_ylim(p[:, 1].min() - 2 * gap, p[:, 1].max() + gap)
    ax.set_title(f"{topology.name}: joint order ({J} joints, {topology.sensor})\n"
                 "index = position along J in (T, J, 3); front view, the person's left on the right",
                 fontsize=10)
    return fig
