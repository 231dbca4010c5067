"""``limb_occlusion``: the class logit lost when a whole limb is held still for a window of frames
(Zeiler and Fergus 2014, occlusion, with a region of joints as the occluded patch).

Per-joint :mod:`.occlusion` cannot see evidence that several joints carry together: freezing one
joint of a raised arm leaves the arm raised (the other joints still carry it), and freezing the
window that starts the sequence at its *first-frame* offset cannot remove anything the first frame
shows (the planted cue of the synthetic data starts the sequence).  This method occludes a limb
group G (the topology's ``limb_groups``: torso, head, left/right arm, left/right leg) on a window
w = [a, b) of W = ``window`` frames by holding every joint of G at its offset from its parent in a
*reference frame outside the window*: the first frame, r_w = 0, as the bone-preserving freeze of
:mod:`.perturbation`, except for the first window, which holds the pose just after it, r_w = b
(r_w = 0 when that window covers the whole sequence)::

    x'[t, j] = x'[t, p(j)] + (x[r_w, j] - x[r_w, p(j)])    for j in G, t in w, parents first

(x'[t, p(j)] = x[t, p(j)] where p(j) is outside G; a root in G is held at x[r_w, root]), so bones
keep their lengths, the limb moves rigidly with the body it hangs from, and no frame leaves the
recorded poses.  drop[G, w] = logit_c(x) - logit_c(x'), and the map spreads it evenly over the
limb's joints and the window's valid frames: importance[t, j] = |drop[G, w]| / (|G| valid(w)) for
j in G, t in w, so a region's mass is its |drop|.  Joints in no group form one group each.  All
groups x windows are batched forward passes (captum's ``FeatureAblation``, one feature per group
and window).  x (n, T, J, C) -> (n, T, J).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch

from ..rnn import valid_frames
from .base import Attribution
from .occlusion import window_drop
from .perturbation import parent_order

__all__ = ["LimbOcclusion", "joint_groups", "limb_freeze", "reference_frames"]


def joint_groups(J: int, groups: Mapping[str, Sequence[int]] | None) -> list[int]:
    """Group index of each of the J joints: the order of ``groups`` (a joint listed twice keeps its
    first group), then one group per joint in none."""
    out = [-1] * J
    for g, idx in enumerate((groups or {}).values()):
        for j in idx:
            if out[j] < 0:
                out[j] = g
    k = len(groups or {})
    for j in range(J):
        if out[j] < 0:
            out[j], k = k, k + 1
    return out


def reference_frames(length: torch.Tensor, T: int, window: int) -> torch.Tensor:
    """(n, T) the reference frame r_w of each frame's window (module docstring): the first frame,
    for the first window the first frame after it (0 if that is past the length)."""
    t = torch.arange(T, device=length.device)
    first = (t < window)[None, :].expand(len(length), T)
    after = torch.full_like(first, window, dtype=torch.long)
    after = torch.where(after < length[:, None], after, torch.zeros_like(after))
    return torch.where(first, after, torch.zeros_like(after))


def limb_freeze(x: torch.Tensor, length: torch.Tensor, parents: Sequence[int | None], group: Sequence[int],
                window: int) -> torch.Tensor:
    """(n, T, J, C): every joint's values when its own group alone is held still on each window
    (for all groups and windows at once; groups are disjoint, so a joint's values depend on its
    group only).  Padding after each length stays zero."""
    n, T, J, C = x.shape
    ref = reference_frames(length.to(x.device), T, window)                        # (n, T)
    xr = torch.gather(x, 1, ref[:, :, None, None].expand(n, T, J, C))             # x[r_w(t)]
    out = x.clone()
    for j in parent_order(parents):
        p = parents[j]
        if p is None:
            out[:, :, j] = xr[:, :, j]
        else:
            base = out[:, :, p] if group[p] == group[j] else x[:, :, p]
            out[:, :, j] = base + xr[:, :, j] - xr[:, :, p]
    valid = valid_frames(length.to(x.device), T)[:, :, None, None]
    return torch.where(valid, out, torch.zeros_like(x))


class LimbOcclusion(Attribution):
    name: ClassVar[str] = "limb_occlusion"
    description: ClassVar[str] = "logit lost when a limb is held at a pose outside the window, per window"

    def __init__(self, parents, groups: Mapping[str, Sequence[int]] | None = None, window: int = 8,
                 batch_size: int = 32, max_batch: int = 4096):
        super().__init__(batch_size)
        self.parents, self.window, self.max_batch = list(parents), max(1, int(window)), int(max_batch)
        self.groups = {k: tuple(int(j) for j in v) for k, v in (groups or {}).items()}

    def attribute(self, model, x, length, target) -> torch.Tensor:
        _, T, J, C = x.shape
        if len(self.parents) != J:
            raise ValueError(f"limb_occlusion: the topology has {len(self.parents)} joints, the data {J}")
        group = joint_groups(J, self.groups)
        G = max(group) + 1
        gi = torch.tensor(group, device=x.device)
        w = torch.arange(T, device=x.device) // self.window
        mask = (w[:, None] * G + gi[None, :])[None, :, :, None].expand(1, T, J, C).contiguous()
        base = limb_freeze(x, length, self.parents, group, self.window)
        size = torch.bincount(gi, minlength=G).to(x.dtype)[gi]           # joints in each joint's group
        return window_drop(model, x, length, target, mask, base, self.window, self.max_batch) / size
