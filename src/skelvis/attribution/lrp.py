"""``lrp``: class-level layer-wise relevance propagation through the recurrent layers (Arras et al.
2017; epsilon rule, signal-take-all gates), :func:`skelvis.relevance.class_relevance`: the unit-level
LRP of the periods stage started from the class logit at the last valid frame.

R[t, j, d] with sum R + absorbed = logit_c; importance sum_d |R| (:mod:`.base`).  Runs in float64.
x (n, T, J, C) -> (n, T, J, C).
"""
from __future__ import annotations

from typing import ClassVar

import torch

from ..relevance import class_relevance
from ..settings import PeriodsConfig
from .base import Attribution

__all__ = ["ClassLRP"]


class ClassLRP(Attribution):
    name: ClassVar[str] = "lrp"
    description: ClassVar[str] = "class-level LRP (epsilon rule) through the LSTM/GRU"

    def __init__(self, eps: float = PeriodsConfig.epsilon, batch_size: int = 64):
        super().__init__(batch_size)
        self.eps = float(eps)

    def attribute(self, model, x, length, target) -> torch.Tensor:
        r = class_relevance(model, x, length, target, eps=self.eps, batch_size=self.batch_size)
        n, T, J, C = x.shape
        return torch.from_numpy(r.relevance).reshape(n, T, J, C).to(x.device, x.dtype)
