"""The model-parameter randomisation test (Adebayo et al. 2018, "Sanity checks for saliency maps",
cascading randomisation from the top).

Stage ``classifier``: the fully connected layer re-drawn from its initial distribution; stage
``recurrent``: the recurrent layers re-drawn as well (torch's ``reset_parameters``, seeded, without
touching the global generator).  A method whose map depends on what the model learned changes:
the Spearman rank correlation rho between the trained model's map and the randomised model's map
(per sequence, over its valid (t, j) entries) is low.  A method that ignores the model (the input's
magnitude, a fixed random map) keeps rho = 1 and fails.  Shapes: maps (N, T, J) -> rho (N,).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

__all__ = ["CASCADE", "randomised_model", "rank_correlation"]

#: the cascade, top first: what each stage re-draws (cumulative)
CASCADE = ("classifier", "recurrent")


def randomised_model(model: nn.Module, stage: str, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with the layers of the cascade down to ``stage`` re-initialised."""
    if stage not in CASCADE:
        raise ValueError(f"randomisation stage must be one of {list(CASCADE)}, got {stage!r}")
    m = copy.deepcopy(model)
    dev = next(model.parameters()).device
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        m.classifier.reset_parameters()
        if stage == "recurrent":
            m.rnn.reset_parameters()
    return m.eval()


def rank_correlation(a: np.ndarray, b: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(N,) Spearman's rho between maps a and b (N, T, J) over each sequence's valid frames;
    NaN where either map is constant there."""
    out = np.full(len(a), np.nan)
    for n, L in enumerate(np.asarray(length, np.int64)):
        u, v = np.asarray(a[n, :L], np.float64).ravel(), np.asarray(b[n, :L], np.float64).ravel()
        if np.ptp(u) > 0 and np.ptp(v) > 0:
            out[n] = spearmanr(u, v).statistic
    return out
