"""Removing joints without leaving the skeleton manifold: the bone-preserving freeze.

A joint j is *frozen* on a sequence's valid frames by holding its offset from its parent p(j) at
its first-frame value::

    x'[t, j] = x'[t, p(j)] + (x[0, j] - x[0, p(j)])        (the root: x'[t, r] = x[0, r])

applied parents first, so a chain of frozen joints moves rigidly with its first unfrozen ancestor
and every bone between a frozen joint and its parent keeps its first-frame length (only a bone from
a frozen joint to an unfrozen child can change length, because the child keeps its own
trajectory).  Freezing every joint holds the whole first pose still (the issue's baseline for
integrated gradients and the end point of the deletion curve); a joint that never moved relative
to its parent is unchanged.  Zeroing a joint instead would put it at the body-frame origin, a pose
no sensor records.  Channel data (no bones) freezes each channel at its first-frame value.
Padding after each length stays zero.

Shapes: x (N, T, J, C), length (N,), frozen (N, J) bool; parents a list of J parent indices (None
for the root), :meth:`skelvis.topology.Topology.parents`.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..rnn import valid_frames

__all__ = ["class_output", "freeze_to_parent", "parent_order", "single_joint_freeze"]


def parent_order(parents: Sequence[int | None]) -> list[int]:
    """Joint indices with every parent before its children (roots first); raises ``ValueError``
    on a cycle or a parent index out of range."""
    J = len(parents)
    children: dict[int | None, list[int]] = {}
    for j, p in enumerate(parents):
        if p is not None and not 0 <= p < J:
            raise ValueError(f"parent of joint {j} is {p}, not a joint index in [0, {J})")
        children.setdefault(p, []).append(j)
    order, stack = [], list(reversed(children.get(None, [])))
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children.get(j, [])))
    if len(order) != J:
        raise ValueError("the parent table has a cycle or joints unreachable from a root")
    return order


def freeze_to_parent(x: torch.Tensor, length: torch.Tensor, frozen: torch.Tensor,
                     parents: Sequence[int | None]) -> torch.Tensor:
    """Copy of ``x`` (N, T, J, C) with the joints ``frozen`` (N, J) held at their first-frame
    offset from their (possibly frozen) parent on every valid frame (module docstring)."""
    T = x.shape[1]
    valid = valid_frames(length.to(x.device), T)[:, :, None]                       # (N, T, 1)
    out = x.clone()
    x0 = x[:, :1]                                                                 # (N, 1, J, C)
    for j in parent_order(parents):
        p = parents[j]
        held = x0[:, :, j] if p is None else out[:, :, p] + (x0[:, :, j] - x0[:, :, p])
        m = valid & frozen[:, None, j:j + 1].to(x.device)                         # (N, T, 1)
        out[:, :, j] = torch.where(m, held.expand_as(out[:, :, j]), out[:, :, j])
    return out


def single_joint_freeze(x: torch.Tensor, length: torch.Tensor, parents: Sequence[int | None]) -> torch.Tensor:
    """(N, T, J, C): joint j's values when j alone is frozen, for every j at once
    (x[t, p(j)] + x[0, j] - x[0, p(j)]; the root at x[0, r]); padding stays zero.  The occlusion
    baseline: replacing one joint's values of ``x`` by these gives :func:`freeze_to_parent` of
    that joint alone."""
    J = x.shape[2]
    par = torch.tensor([j if p is None else p for j, p in enumerate(parents)], device=x.device)
    root = torch.tensor([p is None for p in parents], device=x.device)
    x0 = x[:, :1]
    moving = x[:, :, par] + (x0 - x0[:, :, par])                                  # (N, T, J, C)
    held = torch.where(root[None, None, :, None], x0.expand_as(x), moving)
    valid = valid_frames(length.to(x.device), x.shape[1])[:, :, None, None]
    assert held.shape[2] == J
    return torch.where(valid, held, torch.zeros_like(x))


@torch.no_grad()
def class_output(model: nn.Module, x: torch.Tensor, length: torch.Tensor, target: torch.Tensor,
                 probability: bool = True, batch_size: int = 1024) -> torch.Tensor:
    """The target class's softmax probability (or logit) for x (N, T, J, C): (N,), in batches."""
    out = []
    for s in range(0, len(x), batch_size):
        logits = model(x[s:s + batch_size].flatten(2), length[s:s + batch_size]).float()
        v = torch.softmax(logits, 1) if probability else logits
        out.append(v.gather(1, target[s:s + batch_size, None])[:, 0])
    return torch.cat(out) if out else torch.zeros(0)
