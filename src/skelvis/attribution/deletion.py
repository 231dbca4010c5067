"""Deletion and insertion curves with the bone-preserving freeze (Petsiuk et al. 2018, RISE,
"deletion" and "insertion" metrics; the joints are removed by :func:`.perturbation.freeze_to_parent`
rather than zeroed).

For a sequence with joint order pi (most important first; by a map, pi = argsort of its mass over
time, decreasing), and p(x) the target class's softmax probability:

* deletion  D[k] = p(freeze(x, {pi_1..pi_k})),         k = 0..J   (D[0] = p(x), D[J] = p(still pose))
* insertion I[k] = p(freeze(x, all but {pi_1..pi_k})), k = 0..J   (I[0] = p(still pose), I[J] = p(x))

and their normalised areas AUC = mean_k D[k] (resp. I[k]).  A faithful order makes the deletion
AUC low and the insertion AUC high; the baseline is the same curves for random orders.  All J+1
steps of a batch of sequences run as one batch of forward passes.
Shapes: x (N, T, J, C), order (N, J), curves (N, J+1).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .perturbation import class_output, freeze_to_parent

__all__ = ["map_order", "perturbation_curves", "random_orders"]


def map_order(maps: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, J) joints by decreasing mass over time of ``maps`` (N, T, J); ties broken at random
    (seeded), so that a flat map is not scored as the joint table's order."""
    m = np.asarray(maps, np.float64).sum(1)
    tie = np.random.default_rng(seed).random(m.shape)
    return np.lexsort((tie, -m), axis=1)


def random_orders(N: int, J: int, count: int, seed: int = 0) -> np.ndarray:
    """(count, N, J) independent uniformly random joint orders."""
    rng = np.random.default_rng([seed, 18])
    return np.stack([np.stack([rng.permutation(J) for _ in range(N)]) if N else np.zeros((0, J), np.int64)
                     for _ in range(count)])


@torch.no_grad()
def perturbation_curves(model: nn.Module, x, length, target, order: np.ndarray, parents: Sequence[int | None],
                        insertion: bool = False, batch_size: int = 2048) -> np.ndarray:
    """Deletion (or insertion) curve (N, J+1) of the target probability along ``order`` (N, J)."""
    p = next(model.parameters())
    x = torch.as_tensor(x).to(p.device, p.dtype)
    length = torch.as_tensor(length).long().to(p.device)
    target = torch.as_tensor(target).long().to(p.device)
    N, _, J, _ = x.shape
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(J)[None].repeat(N, 0), axis=1)      # rank of joint j
    rank = torch.from_numpy(rank).to(p.device)
    k = torch.arange(J + 1, device=p.device)
    out = np.zeros((N, J + 1))
    step = max(1, batch_size // (J + 1))
    was = model.training
    model.eval()
    try:
        for s in range(0, N, step):
            sl = slice(s, min(N, s + step))
            n = sl.stop - sl.start
            first_k = rank[sl, None, :] < k[None, :, None]                         # (n, J+1, J)
            frozen = ~first_k if insertion else first_k
            xs = x[sl].repeat_interleave(J + 1, 0)
            ls = length[sl].repeat_interleave(J + 1)
            xf = freeze_to_parent(xs, ls, frozen.reshape(n * (J + 1), J), parents)
            pr = class_output(model, xf, ls, target[sl].repeat_interleave(J + 1))
            out[sl] = pr.double().cpu().numpy().reshape(n, J + 1)
    finally:
        model.train(was)
    return out
