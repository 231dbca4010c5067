"""Max-sensitivity (Yeh et al. 2019, "On the (in)fidelity and sensitivity of explanations", Eq. 6;
Quantus' ``MaxSensitivity`` with Frobenius norms, relative to the map's norm).

    SENS_max(x) = max_{m = 1..M} || S(x + e_m) - S(x) ||_F / || S(x) ||_F

over M noisy copies, e_m ~ N(0, sigma_n^2) on every coordinate of the valid frames, sigma_n the
sensor's noise in the sequence's normalised frame.  Lower is more stable.  The noise is drawn
from a seeded generator, the same for every method.  Shapes: maps (N, T, J), noise (N,) -> (N,).
"""
from __future__ import annotations

import numpy as np
import torch

from ..rnn import valid_frames

__all__ = ["max_sensitivity", "noisy_copies"]


def noisy_copies(x: np.ndarray, length: np.ndarray, noise: np.ndarray, samples: int, seed: int = 0) -> np.ndarray:
    """(samples, N, T, J, C): x plus Gaussian noise of std ``noise[n]`` on the valid frames."""
    x = np.asarray(x)
    rng = np.random.default_rng([seed, 2019])
    valid = valid_frames(np.asarray(length), x.shape[1])[:, :, None, None]
    e = rng.standard_normal((samples, *x.shape)) * np.asarray(noise, np.float64)[None, :, None, None, None]
    return (x[None] + e * valid[None]).astype(x.dtype)


def max_sensitivity(method, model, x: np.ndarray, length: np.ndarray, target: np.ndarray, maps: np.ndarray,
                    noise: np.ndarray, samples: int, seed: int = 0) -> np.ndarray:
    """(N,) SENS_max of ``method`` (an :class:`.base.Attribution`) around x, whose map is ``maps``."""
    ref = np.asarray(maps, np.float64)
    norm = np.sqrt((ref ** 2).sum((1, 2)))
    worst = np.zeros(len(ref))
    for xn in noisy_copies(x, length, noise, samples, seed):
        m = method(model, torch.from_numpy(xn), torch.from_numpy(np.asarray(length)), torch.from_numpy(target))
        worst = np.maximum(worst, np.sqrt(((m - ref) ** 2).sum((1, 2))))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, worst / norm, np.nan)
