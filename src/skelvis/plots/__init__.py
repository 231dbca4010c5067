"""Every figure of skelvis, callable from notebooks and tests (one module per stage).

``common`` holds what all stages share: drawing a skeleton (optionally with per-joint colours on a
sequential colormap), skeleton strips, and saving a figure as PNG and PDF.
"""
from .common import draw_skeleton, save_figure, skeleton_strip, view_projection
from .data import confusion_figure, skeleton_strips_figure, summary_figure, summary_table, training_figure

__all__ = [
           "confusion_figure",
           "draw_skeleton",
           "save_figure",
           "skeleton_strip",
           "skeleton_strips_figure",
           "summary_figure",
           "summary_table",
           "training_figure",
           "view_projection",
]
