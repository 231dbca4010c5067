"""``occlusion``: the class logit lost when one joint is frozen for a window of frames (Zeiler and
Fergus 2014, occlusion, with the bone-preserving freeze of :mod:`.perturbation` as the occluder).

For joint j and window w = [kW, (k+1)W) of W = ``window`` frames,
drop[j, w] = logit_c(x) - logit_c(x with j frozen to its parent on w's valid frames), and the
map spreads it over the window: importance[t, j] = |drop[j, w]| / (valid frames of w) for t in w,
so a window's mass is its |drop|.  All J x ceil(T / W) perturbations are forward passes batched by
captum's ``FeatureAblation`` (one feature per joint and window, the baseline
:func:`.perturbation.single_joint_freeze`).  x (n, T, J, C) -> (n, T, J).
"""
from __future__ import annotations

from typing import ClassVar

import torch
from captum.attr import FeatureAblation

from ..rnn import valid_frames
from .base import Attribution
from .perturbation import single_joint_freeze

__all__ = ["Occlusion", "occlusion_features", "window_drop"]


def occlusion_features(T: int, J: int, C: int, window: int, device=None) -> torch.Tensor:
    """Feature index (1, T, J, C) of every coordinate: window (t // W) x J + joint."""
    t = torch.arange(T, device=device) // max(1, int(window))
    f = t[:, None] * J + torch.arange(J, device=device)[None, :]
    return f[None, :, :, None].expand(1, T, J, C).contiguous()


def window_drop(model, x: torch.Tensor, length: torch.Tensor, target, mask: torch.Tensor,
                base: torch.Tensor, window: int, max_batch: int) -> torch.Tensor:
    """|logit drop| (n, T, J) of occluding each feature of ``mask`` (1, T, J, C) by ``base``
    (n, T, J, C), spread evenly over the valid frames of its window of ``window`` frames (one
    forward pass per feature, batched by captum's ``FeatureAblation``); shared by the per-joint
    and the per-limb occlusion."""
    n, T = x.shape[:2]
    fa = FeatureAblation(lambda inp, ln: model(inp.flatten(2), ln))
    with torch.no_grad():
        a = fa.attribute(x, baselines=base, target=target, additional_forward_args=(length,),
                         feature_mask=mask, perturbations_per_eval=max(1, max_batch // max(1, n)))
    drop = a[..., 0]                                                 # (n, T, J), the region's drop
    valid = valid_frames(length, T).to(x.dtype)                      # (n, T)
    w = torch.arange(T, device=x.device) // max(1, int(window))
    frames = torch.zeros(n, int(w.max()) + 1, device=x.device, dtype=x.dtype)
    frames.index_add_(1, w, valid)                                   # valid frames per window
    return drop.abs() / frames[:, w, None].clamp_min(1)


class Occlusion(Attribution):
    name: ClassVar[str] = "occlusion"
    description: ClassVar[str] = "logit lost when a joint is frozen to its parent for a window"

    def __init__(self, parents, window: int = 8, batch_size: int = 32, max_batch: int = 4096):
        super().__init__(batch_size)
        self.parents, self.window, self.max_batch = list(parents), max(1, int(window)), int(max_batch)

    def attribute(self, model, x, length, target) -> torch.Tensor:
        _, T, J, C = x.shape
        if len(self.parents) != J:
            raise ValueError(f"occlusion: the topology has {len(self.parents)} joints, the data {J}")
        mask = occlusion_features(T, J, C, self.window, x.device)
        base = single_joint_freeze(x, length, self.parents)
        return window_drop(model, x, length, target, mask, base, self.window, self.max_batch)
