"""``through_time``: the plain gradient (saliency, Simonyan et al. 2014) through time.

|d logit_c(T_n) / d x_{t,j,d}| summed over d, for every frame t, T_n the last valid frame: the
saliency stage's ``through_time`` mode (:func:`skelvis.saliency.class_sensitivity`, equal to
``captum.attr.Saliency(abs=True)`` summed over xyz).  x (n, T, J, C) -> (n, T, J).
"""
from __future__ import annotations

from typing import ClassVar

import torch

from ..saliency import class_sensitivity
from .base import Attribution

__all__ = ["ThroughTime"]


class ThroughTime(Attribution):
    name: ClassVar[str] = "through_time"
    description: ClassVar[str] = "|gradient| of the last frame's class logit through time"

    def attribute(self, model, x, length, target) -> torch.Tensor:
        return class_sensitivity(model, x, length, target, mode="through_time").to(x.dtype)
