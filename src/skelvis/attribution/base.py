"""The one interface every attribution method has (after captum's ``Attribution`` base class).

A method maps a sequence and a class to a joint x time importance map::

    method(model, x, length, target) -> (N, T, J) float32 numpy, >= 0, zero after each length

``x`` (N, T, J, C) (or (N, T, J*C)), ``length`` (N,) in [1, T], ``target`` (N,) class indices (an
int for all); ``model`` a :class:`skelvis.models.RecurrentClassifier` that reads the flattened
pose.  Inputs are checked as the saliency stage checks them
(:func:`skelvis.saliency.model_inputs`: one :class:`~skelvis.errors.SaliencyInputError` naming both
sizes), the model runs in eval mode (its mode is restored) on its own device and dtype, in chunks
of ``batch_size`` sequences.

A method computes :meth:`Attribution.attribute` on one chunk; it may return a per-coordinate
attribution a (n, T, J, C), which becomes the importance sum_c |a[t, j, c]| (the paper's Eq. 2 and
4: absolute values summed over x, y, z), or a per-joint map (n, T, J) that is already >= 0.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ..rnn import valid_frames
from ..saliency import model_inputs

__all__ = ["Attribution", "joint_importance"]


def joint_importance(a: torch.Tensor) -> torch.Tensor:
    """Per-joint importance (n, T, J) of a per-coordinate attribution (n, T, J, C): sum_c |a|
    (Patil et al. Eq. 2 and 4); a (n, T, J) map is returned as it is."""
    return a.abs().sum(-1) if a.dim() == 4 else a


class Attribution:
    """Base of the attribution methods: ``name`` (the registry key) and :meth:`attribute`."""

    name: ClassVar[str] = ""
    #: one line for tables and figures
    description: ClassVar[str] = ""

    def __init__(self, batch_size: int = 64):
        self.batch_size = max(1, int(batch_size))

    def attribute(self, model: nn.Module, x: torch.Tensor, length: torch.Tensor,
                  target: torch.Tensor) -> torch.Tensor:
        """One chunk on the model's device: x (n, T, J, C), length (n,), target (n,) ->
        (n, T, J, C) attribution or (n, T, J) importance."""
        raise NotImplementedError

    def begin(self) -> None:
        """Called once before the chunks of a call (a seeded method resets its generator here)."""

    def __call__(self, model: nn.Module, x, length, target) -> np.ndarray:
        x4, length, target = model_inputs(model, x, length, target)
        p = next(model.parameters())
        N, T, J, _ = x4.shape
        out = np.zeros((N, T, J), np.float32)
        was = model.training
        model.eval()
        self.begin()
        try:
            for s in range(0, N, self.batch_size):
                sl = slice(s, min(N, s + self.batch_size))
                lb = length[sl].to(p.device)
                a = self.attribute(model, x4[sl].to(p.device, p.dtype), lb, target[sl].to(p.device))
                m = joint_importance(a.detach()) * valid_frames(lb, T)[:, :, None].to(a.dtype)
                out[sl] = m.float().cpu().numpy()
        finally:
            model.train(was)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
