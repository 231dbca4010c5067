"""``integrated_gradients``: Sundararajan et al. 2017, Eq. 3, by captum's ``IntegratedGradients``.

IG[t, j, d] = (x - x')[t, j, d] * int_0^1 d logit_c(x' + a (x - x')) / d x[t, j, d] da, the integral
by ``n_steps``-point Gauss-Legendre quadrature (captum's default); importance sum_d |IG| (:mod:`.base`).

Two baselines x':

* ``first_frame``: the sequence's first frame held still on every valid frame (every joint frozen,
  :func:`.perturbation.freeze_to_parent`): the path adds the motion, so IG says which joints' motion
  the class needs.  Its completeness gap sum IG = logit_c(x) - logit_c(x') is measured against
  the same model doing nothing.
* ``zeros``: every coordinate at the body-frame origin (captum's default, off the skeleton manifold).

x (n, T, J, C) -> (n, T, J, C).
"""
from __future__ import annotations

from typing import ClassVar

import torch
from captum.attr import IntegratedGradients as CaptumIG

from ..saliency import grad_context
from .base import Attribution

__all__ = ["BASELINES", "IntegratedGradients", "IntegratedGradientsZeros", "ig_baseline"]

BASELINES = ("first_frame", "zeros")


def ig_baseline(x: torch.Tensor, length: torch.Tensor, baseline: str) -> torch.Tensor:
    """x' (n, T, J, C) for ``baseline`` in :data:`BASELINES` (padding stays zero)."""
    if baseline == "zeros":
        return torch.zeros_like(x)
    if baseline == "first_frame":
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < length[:, None]
        return torch.where(valid[:, :, None, None], x[:, :1].expand_as(x), torch.zeros_like(x))
    raise ValueError(f"integrated gradients baseline must be one of {list(BASELINES)}, got {baseline!r}")


class IntegratedGradients(Attribution):
    name: ClassVar[str] = "integrated_gradients"
    description: ClassVar[str] = "integrated gradients from the first frame held still"
    baseline: ClassVar[str] = "first_frame"

    def __init__(self, n_steps: int = 32, batch_size: int = 16):
        super().__init__(batch_size)
        self.n_steps = int(n_steps)

    def attribute(self, model, x, length, target) -> torch.Tensor:
        base = ig_baseline(x, length, self.baseline)
        ig = CaptumIG(lambda inp, ln: model(inp.flatten(2), ln))
        with torch.enable_grad(), grad_context(x.device):
            return ig.attribute(x.detach().requires_grad_(True), baselines=base, target=target, additional_forward_args=(length,),
                                n_steps=self.n_steps, internal_batch_size=self.batch_size * self.n_steps)


class IntegratedGradientsZeros(IntegratedGradients):
    name: ClassVar[str] = "integrated_gradients_zeros"
    description: ClassVar[str] = "integrated gradients from the all-zero input"
    baseline: ClassVar[str] = "zeros"
