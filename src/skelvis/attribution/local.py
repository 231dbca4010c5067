"""``local``: the paper's joint sensitivity of a class (Patil et al. Eq. 1-5).

S'_c[t, j] = sum_u |W_c^u| (sigma_x / sigma_h) sum_d |dh_t^u / dx_{t,j,d}|, the same-step Jacobian
with every previous state held (Eq. 1), scaled per sequence (Eq. 3) and weighted by the classifier
(Eq. 5); computed in closed form by :func:`skelvis.saliency.class_sensitivity`, the saliency
stage's code.  x (n, T, J, C) -> (n, T, J).
"""
from __future__ import annotations

from typing import ClassVar

import torch

from ..saliency import class_sensitivity
from ..settings import SaliencyConfig
from .base import Attribution

__all__ = ["Local"]


class Local(Attribution):
    name: ClassVar[str] = "local"
    description: ClassVar[str] = "Patil et al. Eq. 1-5 (same-step Jacobian, sigma-scaled, |W_c|-weighted)"

    def __init__(self, normalize: bool = SaliencyConfig.normalize, std_floor: float = SaliencyConfig.std_floor,
                 batch_size: int = 64):
        super().__init__(batch_size)
        self.normalize, self.std_floor = bool(normalize), float(std_floor)

    def attribute(self, model, x, length, target) -> torch.Tensor:
        return class_sensitivity(model, x, length, target, mode="local", normalize=self.normalize,
                                 std_floor=self.std_floor).to(x.dtype)
