"""Shared drawing helpers: skeletons in 2-D views, strips of frames, saving PNG + PDF."""
from __future__ import annotations

import base64
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from ..topology import Topology

__all__ = [
    "LIMB_COLORS",
    "draw_skeleton",
    "nothing_to_show",
    "save_figure",
    "show_file",
    "skeleton_strip",
    "split_counts_text",
    "view_projection",
]

LIMB_COLORS = {"torso": "#4d4d4d", "head": "#4d4d4d", "left_arm": "#1f77b4", "right_arm": "#d62728",
               "left_leg": "#2ca02c", "right_leg": "#ff7f0e", "left_hand": "#1f77b4",
               "right_hand": "#d62728", "other": "#7f7f7f"}


def view_projection(pose: np.ndarray, view: str = "front") -> np.ndarray:
    """2-D coordinates (J, 2) of a body-frame pose (J, 3): 'front' (x, y), 'side' (z, y) or
    'oblique' (the person turned 40 degrees to their right and seen from 10 degrees above, so
    that motion towards the camera - a kick, a bow - stays visible).

    Body frame after NTU normalisation: +x the person's left, +y up, +z forward. In the front view
    the person faces the reader, so the person's left appears on the right of the image.
    """
    if view == "oblique":
        a, e = np.deg2rad(40.0), np.deg2rad(10.0)
        x = pose[:, 0] * np.cos(a) + pose[:, 2] * np.sin(a)
        z = -pose[:, 0] * np.sin(a) + pose[:, 2] * np.cos(a)
        y = pose[:, 1] * np.cos(e) - z * np.sin(e)
        return np.stack([x, y], -1)
    if view == "front":
        return np.stack([pose[:, 0], pose[:, 1]], -1)
    if view == "side":
        return np.stack([pose[:, 2], pose[:, 1]], -1)
    raise ValueError(f"view must be 'front', 'side' or 'oblique', got {view!r}")


def draw_skeleton(ax, pose: np.ndarray, topology: Topology, joint_values: np.ndarray | None = None,
                  cmap: str = "Reds", vmin: float = 0.0, vmax: float | None = None,
                  view: str = "front", bone_color: str | None = None, joint_size: float = 30,
                  alpha: float = 1.0, offset=(0.0, 0.0)):
    """Draw one pose (J, 3) on ``ax``: bones as lines (coloured by limb), joints as dots.

    ``joint_values`` (J,) colours the joints on a sequential colormap (darker = larger), as in the
    paper's Fig. 4; returns the scatter artist (for a colour bar) or None.
    """
    p = view_projection(np.asarray(pose, float), view) + np.asarray(offset)
    limb = topology.limb_of_joint()
    for a, b in topology.bones:
        c = bone_color or LIMB_COLORS.get(limb[b], "#7f7f7f")
        ax.plot(p[[a, b], 0], p[[a, b], 1], "-", color=c, lw=2, alpha=alpha, solid_capstyle="round", zorder=1)
    if joint_values is None:
        ax.scatter(p[:, 0], p[:, 1], s=joint_size * 0.5, c="k", alpha=alpha, zorder=2)
        sc = None
    else:
        vmax = float(np.max(joint_values)) if vmax is None else vmax
        sc = ax.scatter(p[:, 0], p[:, 1], s=joint_size, c=joint_values, cmap=cmap, vmin=vmin,
                        vmax=vmax if vmax > vmin else vmin + 1e-12, edgecolors="k", linewidths=0.5,
                        alpha=alpha, zorder=3)
    ax.set_aspect("equal")
    ax.axis("off")
    return sc


def skeleton_strip(ax, seq: np.ndarray, topology: Topology, frames: Sequence[int],
                   spacing: float = 1.2, joint_values: np.ndarray | None = None, view: str = "front",
                   label_frames: bool = True, **kw):
    """Several frames of one sequence (T, J, 3) side by side on one axis."""
    sc = None
    xs = view_projection(seq[list(frames)].reshape(-1, 3), view)[:, 0]
    width = max(float(xs.max() - xs.min()), 0.5)
    step = width * spacing if width > 0 else 1.0
    for i, t in enumerate(frames):
        vals = None if joint_values is None else joint_values[t]
        sc = draw_skeleton(ax, seq[t], topology, vals, view=view, offset=(i * step, 0.0), **kw) or sc
        if label_frames:
            p = view_projection(seq[t], view)
            ax.text(i * step + p[:, 0].mean(), p[:, 1].min() - 0.15 * width, f"t={t}", ha="center",
                    va="top", fontsize=8)
    return sc


def split_counts_text(split: np.ndarray) -> str:
    """'train 25, validation 0, test 14' for a split code array (0/1/2)."""
    n = np.bincount(np.asarray(split, int), minlength=3)
    return f"train {n[0]}, validation {n[1]}, test {n[2]}"


def nothing_to_show(title: str, message: str, figsize=(8, 3), ax=None):
    """A figure (or ``ax``) that says in words why it has nothing to draw, e.g. a dataset without a
    validation split; returns the figure."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=12, transform=ax.transAxes)
    ax.set_title(title, fontsize=12)
    return fig if fig is not None else ax.figure


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (papermill runs one), where figures are shown inline."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and "ipykernel" in sys.modules and hasattr(shell, "kernel")


def show_file(path) -> None:
    """Display an image file (PNG, GIF) inline when running in a notebook; nothing elsewhere.

    A GIF also carries an HTML ``<img>`` of itself, which nbconvert's HTML export renders (it
    drops a bare image/gif output)."""
    if not _in_notebook():
        return
    from IPython.display import Image, display
    path = Path(path)
    if path.suffix.lower() == ".gif":
        b64 = base64.b64encode(path.read_bytes()).decode()
        display({"image/gif": b64, "text/html": f'<img src="data:image/gif;base64,{b64}" alt="{path.name}"/>',
                 "text/plain": path.name}, raw=True)
    else:
        display(Image(filename=str(path)))


def save_figure(fig, figures_dir, name: str, dpi: int = 130) -> Path:
    """Save ``fig`` as ``<figures_dir>/<name>.png`` and ``.pdf`` and, in a notebook, show the PNG
    inline (so an executed notebook carries every figure it wrote); returns the PNG path."""
    d = Path(figures_dir)
    d.mkdir(parents=True, exist_ok=True)
    png = d / f"{name}.png"
    fig.savefig(png, dpi=dpi, bbox_inches="tight")
    fig.savefig(d / f"{name}.pdf", bbox_inches="tight")
    plt.close(fig)
    show_file(png)
    return png
