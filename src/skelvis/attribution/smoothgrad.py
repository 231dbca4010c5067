"""``smoothgrad``: SmoothGrad (Smilkov et al. 2017) on the through-time gradient, by captum's
``NoiseTunnel`` around ``Saliency(abs=True)``.

SG[t, j, d] = 1/S sum_s |d logit_c(x + e_s) / d x[t, j, d]|, e_s ~ N(0, noise^2) i.i.d. on every
coordinate, S = ``samples``; importance sum_d SG (:mod:`.base`).  ``noise`` is in the normalised
body frame's units (spine lengths; the stage's ``smoothgrad_noise``, 0.1 by default, Smilkov et al.'s
10-20% of the input's range: at the sensor's own noise, ~0.016, the map is the plain gradient's).
With ``noise`` = 0 it is the ``through_time`` map.  Noise is drawn from torch's global generator
(seeded by the caller).  x (n, T, J, C) -> (n, T, J, C).
"""
from __future__ import annotations

from typing import ClassVar

import torch
from captum.attr import NoiseTunnel, Saliency

from ..saliency import grad_context
from .base import Attribution

__all__ = ["SmoothGrad"]


class SmoothGrad(Attribution):
    name: ClassVar[str] = "smoothgrad"
    description: ClassVar[str] = "SmoothGrad of the through-time |gradient|"

    def __init__(self, noise: float = 0.1, samples: int = 16, batch_size: int = 16):
        super().__init__(batch_size)
        self.noise, self.samples = float(noise), int(samples)

    def attribute(self, model, x, length, target) -> torch.Tensor:
        nt = NoiseTunnel(Saliency(lambda inp, ln: model(inp.flatten(2), ln)))
        with torch.enable_grad(), grad_context(x.device):
            return nt.attribute(x.detach().requires_grad_(True), nt_type="smoothgrad", nt_samples=self.samples,
                                nt_samples_batch_size=self.samples, stdevs=self.noise, target=target,
                                additional_forward_args=(length,), abs=True)
