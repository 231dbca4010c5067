"""Faithfulness correlation (Bhatt, Weller and Moura 2020, "Evaluating and aggregating
feature-based model explanations", Eq. 2; Quantus' ``FaithfulnessCorrelation``).

For a sequence x with map S (T, J) and target class c, draw ``subsets`` random sets A_s of
``size`` joints; freeze each set with :func:`.perturbation.freeze_to_parent` (all frames) and take

    mu_F = corr_s( sum_{t, j in A_s} S[t, j],  f_c(x) - f_c(x with A_s frozen) )

the Pearson correlation over the subsets, f_c the class logit (Quantus' default: no softmax).  A
map whose mass predicts what freezing costs the model scores near 1.  The subsets are drawn from a
seeded generator per sequence, so every method is scored on the same subsets.  NaN where either
side is constant (a flat map).  Shapes: x (N, T, J, C), maps (N, T, J) -> (N,).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .perturbation import class_output, freeze_to_parent

__all__ = ["faithfulness_correlation", "joint_subsets", "subset_drops"]


def joint_subsets(N: int, J: int, subsets: int, size: int, seed: int = 0) -> np.ndarray:
    """(N, subsets, J) bool: ``subsets`` random sets of ``size`` joints per sequence (seeded)."""
    rng = np.random.default_rng([seed, 2020])
    size = min(max(1, int(size)), J)
    out = np.zeros((N, subsets, J), bool)
    for n in range(N):
        for s in range(subsets):
            out[n, s, rng.choice(J, size, replace=False)] = True
    return out


@torch.no_grad()
def subset_drops(model: nn.Module, x, length, target, sets: np.ndarray, parents: Sequence[int | None],
                 batch_size: int = 2048) -> np.ndarray:
    """(N, S): f_c(x) - f_c(x with the joints of ``sets`` (N, S, J) frozen), f_c the class logit."""
    p = next(model.parameters())
    x = torch.as_tensor(x).to(p.device, p.dtype)
    length = torch.as_tensor(length).long().to(p.device)
    target = torch.as_tensor(target).long().to(p.device)
    N, S, J = sets.shape
    was = model.training
    model.eval()
    try:
        full = class_output(model, x, length, target, probability=False).double().cpu().numpy()
        out = np.zeros((N, S))
        step = max(1, batch_size // S)
        for s in range(0, N, step):
            sl = slice(s, min(N, s + step))
            n = sl.stop - sl.start
            frozen = torch.from_numpy(sets[sl].reshape(n * S, J)).to(p.device)
            ls = length[sl].repeat_interleave(S)
            xf = freeze_to_parent(x[sl].repeat_interleave(S, 0), ls, frozen, parents)
            f = class_output(model, xf, ls, target[sl].repeat_interleave(S), probability=False)
            out[sl] = full[sl, None] - f.double().cpu().numpy().reshape(n, S)
    finally:
        model.train(was)
    return out


def faithfulness_correlation(maps: np.ndarray, sets: np.ndarray, drops: np.ndarray) -> np.ndarray:
    """(N,) Pearson correlation over the subsets between each subset's map mass (maps (N, T, J)
    summed over time and the joints of ``sets`` (N, S, J)) and its ``drops`` (N, S)."""
    mass = np.einsum("nj,nsj->ns", np.asarray(maps, np.float64).sum(1), sets.astype(np.float64))
    a = mass - mass.mean(1, keepdims=True)
    b = drops - drops.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(1) / den
    return np.where(den > 1e-12 * np.maximum(1.0, np.abs(mass).max(1) * np.abs(drops).max(1)), r, np.nan)
