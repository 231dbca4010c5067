"""``gradient_x_input``: gradient times input (Shrikumar et al. 2016; captum ``InputXGradient``).

a[t, j, d] = x[t, j, d] * d logit_c(T_n) / d x[t, j, d]; importance sum_d |a| (:mod:`.base`).
The coordinates are in the normalised body frame (origin at the spine's middle joint of the first
frame), so the input factor weighs a joint by its distance from that origin.
x (n, T, J, C) -> (n, T, J, C).
"""
from __future__ import annotations

from typing import ClassVar

import torch
from captum.attr import InputXGradient

from ..saliency import grad_context
from .base import Attribution

__all__ = ["GradientXInput"]


class GradientXInput(Attribution):
    name: ClassVar[str] = "gradient_x_input"
    description: ClassVar[str] = "input x gradient of the class logit"

    def attribute(self, model, x, length, target) -> torch.Tensor:
        with torch.enable_grad(), grad_context(x.device):
            return InputXGradient(lambda inp, ln: model(inp.flatten(2), ln)).attribute(
                x.detach().requires_grad_(True), target=target, additional_forward_args=(length,))
