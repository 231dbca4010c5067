"""``random``: a map drawn uniformly from [0, 1) on every valid (t, j), whatever the model and the
input (the floor every faithfulness metric must beat).  Seeded: the same call gives the same map,
so it is also perfectly stable and fails the model-randomisation test by construction.
x (n, T, J, C) -> (n, T, J).
"""
from __future__ import annotations

from typing import ClassVar

import torch

from .base import Attribution

__all__ = ["RandomMap"]


class RandomMap(Attribution):
    name: ClassVar[str] = "random"
    description: ClassVar[str] = "uniform random map (the floor)"

    def __init__(self, seed: int = 0, batch_size: int = 64):
        super().__init__(batch_size)
        self.seed = int(seed)
        self._gen = torch.Generator()

    def begin(self) -> None:
        self._gen.manual_seed(self.seed)

    def attribute(self, model, x, length, target) -> torch.Tensor:
        n, T, J, _ = x.shape
        return torch.rand(n, T, J, generator=self._gen, dtype=torch.float64).to(x.device, x.dtype)
