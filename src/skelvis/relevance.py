"""Unit-level layer-wise relevance propagation (LRP) through LSTM and GRU layers, with
Monte-Carlo dropout on the backward pass (Cho et al. 2020, unit-level analysis).

The relevance of one hidden unit's output ``h_t[u]`` (not a class output) is propagated back
through time and through every layer below it to the input joints, following Arras et al. 2017
("Explaining recurrent neural network predictions in sentiment analysis", their code
``LRP_for_LSTM``):

* **Linear maps, epsilon rule.** For ``z_j = sum_i a_i w_ji + b_j`` the message from output ``j``
  to input ``i`` is ``a_i w_ji / (z_j + eps * sign(z_j)) * R_j``.  The bias and the stabiliser
  keep their share ``(b_j + eps * sign(z_j)) / (z_j + eps * sign(z_j)) * R_j`` (Arras'
  ``bias_factor = 0``): this is the part of the unit's output that does *not* reach the input,
  reported as ``absorbed_bias`` and ``absorbed_eps``.
* **Element-wise activations** (tanh of the candidate) pass relevance on unchanged.
* **Gates, "signal-take-all".**  A product ``gate * signal`` gives all its relevance to the
  signal; the gate acts as a weight and receives none.

LSTM (torch gate order i, f, g, o; ``c_t = f c_{t-1} + i g``, ``h_t = o tanh(c_t)``)::

    R(c_t)     += R(h_t)                                    # output gate o is a weight
    R(c_{t-1})  = f c_{t-1} / (c_t + eps sign c_t) R(c_t)   # epsilon rule on the sum
    R(g_t)      = i g       / (c_t + eps sign c_t) R(c_t)   # input gate i is a weight
    R(x_t), R(h_{t-1}) <- epsilon rule on z_g = W_ig x_t + W_hg h_{t-1} + b_ig + b_hg

GRU (torch gate order r, z, n; ``h_t = (1 - z) n + z h_{t-1}``,
``n = tanh(W_in x + b_in + r (W_hn h_{t-1} + b_hn))``), the analogous treatment used here::

    R(n_t), R(h_{t-1}) <- epsilon rule on the sum (1 - z) n + z h_{t-1}   # z, 1-z are weights
    R(x_t), R(h_{t-1}) += epsilon rule on the candidate's pre-activation, where the reset gate
                          is a weight: inputs x_i (weights W_in[j, i]) and h_i (weights
                          r_j W_hn[j, i]); bias b_in_j + r_j b_hn_j absorbed

Stacked layers: the relevance that layer l sends to its inputs at each time step is injected into
layer l-1's hidden states at that time step and propagated on in the same way.

**Conservation.**  Without dropout, ``sum(R(x)) + absorbed_bias + absorbed_eps == h_t[u]``
exactly (up to float64 rounding); the initial states are zero so they receive nothing.

**Monte-Carlo dropout on the backward pass.**  Each of ``n_samples`` passes multiplies every
message of every linear map (the ``a_i w_ji / (z_j + eps sign z_j) R_j`` terms, i.e. the
redistribution across units, at every time step and layer) by an independent Bernoulli mask kept
with probability ``1 - p`` and scaled by ``1 / (1 - p)`` (inverted dropout), so each sample is an
unbiased estimate of the deterministic relevance; the element-wise gate splits are not dropped.
``p`` is rounded to a multiple of 1/256 (:func:`quantised_rate`; 0.1 -> 26/256 = 0.1016) because
the masks are drawn as random bytes; the samples run in float32.
The samples give a mean relevance map and its standard deviation (the uncertainty).

Shapes: targets are ``B`` triples (sequence, unit, time); inputs ``x`` (B, T, J, C) or
(B, T, D); relevance maps (B, T, D) for D = J * C (sum over C for per-joint maps).
Computation runs in float64 on the CPU (or the model's device).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import rnn as R

__all__ = [
    "ClassRelevance",
    "LayerTrace",
    "UnitRelevance",
    "class_relevance",
    "joint_relevance",
    "layer_traces",
    "lrp_linear",
    "quantised_rate",
    "unit_relevance",
]


@dataclass
class LayerTrace:
    """Forward quantities of one recurrent layer (float64), batch-first.

    ``inputs`` (B, T, D); ``h`` (B, T+1, H) with ``h[:, 0]`` the zero initial state; for LSTM
    ``c`` (B, T+1, H) and gates ``i, f, g, o`` (B, T, H) plus ``z`` (B, T, H) the candidate's
    pre-activation; for GRU gates ``r, zg, n`` (B, T, H) and ``z`` the candidate's pre-activation.
    Weights are the layer's torch parameters (float64).
    """

    cell: str
    inputs: torch.Tensor
    h: torch.Tensor
    gates: dict
    weights: dict


@torch.no_grad()
def layer_traces(model, x: torch.Tensor, upto_layer: int = -1,
                 dtype: torch.dtype = torch.float64) -> list[LayerTrace]:
    """The recurrent stack of ``model`` (a :class:`skelvis.models.RecurrentClassifier`) run in
    ``dtype`` by the core (:func:`skelvis.rnn.sequence_states`, keeping every frame's gates),
    with the model's gate nonlinearity: one :class:`LayerTrace` per layer, bottom first, up to ``upto_layer``.
    ``x`` (B, T, J, C) or (B, T, J*C).  The hidden states equal ``model.all_hidden_states``
    (eval mode, before the length mask).  Layers without biases get zero biases."""
    rnn = model.rnn
    if x.dim() == 4:
        x = x.flatten(2)
    cell = R.cell_kind(rnn)
    x = x.to(dtype)
    states = R.sequence_states(rnn, x, model.gate, upto_layer=upto_layer, keep_gates=True)
    traces = []
    for layer, st in enumerate(states):
        step = st.step
        w = {k: v.detach().to(x.device) for k, v in
             zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), R.layer_weights(rnn, layer, dtype))}
        zero = st.h.new_zeros(st.h.shape[0], 1, st.h.shape[-1])
        h = torch.cat([zero, step.h], 1)
        if cell == "lstm":
            g = step.gates
            gates = {"i": g["i"], "f": g["f"], "g": g["g"], "o": g["o"], "z": g["z_g"],
                     "c": torch.cat([zero, step.c], 1)}
        else:
            g = step.gates
            gates = {"r": g["r"], "zg": g["z"], "n": g["n"], "z": g["a_n"]}
        traces.append(LayerTrace(cell, st.inputs, h, gates, w))
    return traces


def _stab(z: torch.Tensor, eps: float) -> torch.Tensor:
    """z + eps * sign(z), with sign(0) = +1 (Arras et al.)."""
    return z + eps * torch.where(z >= 0, 1.0, -1.0).to(z.dtype)


def lrp_linear(a: torch.Tensor, w: torch.Tensor, bias: torch.Tensor, z: torch.Tensor, R: torch.Tensor,
               eps: float, keep: torch.Tensor | None = None,
               keep_scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Epsilon rule for ``z_j = sum_i a_i w_ji + bias_j`` (Arras et al. 2017, ``lrp_linear`` with
    ``bias_factor = 0``).

    ``a`` (B, D_in); ``w`` (H, D_in) or per-sample (B, H, D_in); ``bias``, ``z``, ``R`` (B, H) (bias
    broadcastable).  ``keep`` (B, H, D_in) bool: optional dropout mask on the messages; kept
    messages are multiplied by ``keep_scale``.
    Returns ``(R_in (B, D_in), absorbed_bias (B,), absorbed_eps (B,))``.
    """
    d = _stab(z, eps)
    s = R / d  # (B, H)
    if keep is None:
        if w.dim() == 2:
            R_in = a * (s @ w)
        else:
            R_in = a * torch.einsum("bj,bji->bi", s, w)
    else:
        wb = (w * keep_scale).unsqueeze(0) if w.dim() == 2 else w * keep_scale
        # sum_j s_j w_ji keep_ji a_i: the input factor a_i comes out of the sum
        R_in = a * torch.bmm(s.unsqueeze(1), torch.where(keep, wb, 0.0)).squeeze(1)
    bias = torch.broadcast_to(bias, z.shape)
    return R_in, (bias * s).sum(-1), ((d - z) * s).sum(-1)


def quantised_rate(p: float) -> float:
    """The dropout rate actually used: ``p`` rounded to a multiple of 1/256 (masks are drawn as
    random bytes, which is several times faster than floats)."""
    return round(float(p) * 256) / 256.0


def _keep_mask(shape, p: float, gen: np.random.Generator | None, device) -> torch.Tensor | None:
    """Bool mask, True (kept) with probability 1 - quantised_rate(p)."""
    thr = round(float(p) * 256)
    if thr <= 0 or gen is None:
        return None
    u = np.frombuffer(gen.bytes(int(np.prod(shape))), np.uint8).reshape(shape)
    return torch.from_numpy(u >= thr).to(device)


def _backward_layer(tr: LayerTrace, R_out: torch.Tensor, eps: float, p: float,
                    gen: np.random.Generator | None):
    """Relevance (B, T, H) injected at a layer's hidden outputs -> (B, T, D) at its inputs,
    plus the absorbed shares (B,) of biases and of the stabiliser."""
    B, T, H = R_out.shape
    D = tr.inputs.shape[-1]
    w = tr.weights
    R_in = R_out.new_zeros(B, T, D)
    ab_bias = R_out.new_zeros(B)
    ab_eps = R_out.new_zeros(B)
    Rh = R_out.new_zeros(B, H)
    g = tr.gates
    scale = 1.0 / (1.0 - quantised_rate(p)) if p > 0 else 1.0
    if tr.cell == "lstm":
        # candidate (g) rows of the stacked weights: order i, f, g, o
        Wx = w["weight_ih"][2 * H:3 * H]
        Wh = w["weight_hh"][2 * H:3 * H]
        W = torch.cat([Wx, Wh], dim=1)  # (H, D + H)
        b = (w["bias_ih"] + w["bias_hh"])[2 * H:3 * H]
        Rc = R_out.new_zeros(B, H)
        c = g["c"]
        for t in range(T - 1, -1, -1):
            Rh = Rh + R_out[:, t]
            Rc = Rc + Rh  # signal-take-all: o gate is a weight
            d = _stab(c[:, t + 1], eps)
            Rc_prev = g["f"][:, t] * c[:, t] / d * Rc
            Rg = g["i"][:, t] * g["g"][:, t] / d * Rc
            ab_eps = ab_eps + (Rc - Rc_prev - Rg).sum(-1)
            a = torch.cat([tr.inputs[:, t], tr.h[:, t]], dim=-1)
            keep = _keep_mask((B, H, D + H), p, gen, a.device)
            Ra, bb, be = lrp_linear(a, W, b, g["z"][:, t], Rg, eps, keep, scale)
            ab_bias, ab_eps = ab_bias + bb, ab_eps + be
            R_in[:, t] = Ra[:, :D]
            Rh, Rc = Ra[:, D:], Rc_prev
        ab_bias = ab_bias + Rc.sum(-1) + Rh.sum(-1)  # reaches the zero initial state: 0
    else:
        Wx = w["weight_ih"][2 * H:3 * H]
        Wh = w["weight_hh"][2 * H:3 * H]
        for t in range(T - 1, -1, -1):
            Rh = Rh + R_out[:, t]
            zt, n, hp = g["zg"][:, t], g["n"][:, t], tr.h[:, t]
            d = _stab(tr.h[:, t + 1], eps)
            Rn = (1 - zt) * n / d * Rh  # update gate is a weight
            Rh_direct = zt * hp / d * Rh
            ab_eps = ab_eps + (Rh - Rn - Rh_direct).sum(-1)
            r = g["r"][:, t]
            Weff = torch.cat([Wx.expand(B, H, D), r.unsqueeze(-1) * Wh], dim=2)  # reset gate is a weight
            beff = w["bias_ih"][2 * H:3 * H] + r * w["bias_hh"][2 * H:3 * H]
            a = torch.cat([tr.inputs[:, t], hp], dim=-1)
            keep = _keep_mask((B, H, D + H), p, gen, a.device)
            Ra, bb, be = lrp_linear(a, Weff, beff, g["z"][:, t], Rn, eps, keep, scale)
            ab_bias, ab_eps = ab_bias + bb, ab_eps + be
            R_in[:, t] = Ra[:, :D]
            Rh = Rh_direct + Ra[:, D:]
        ab_bias = ab_bias + Rh.sum(-1)
    return R_in, ab_bias, ab_eps


def _propagate(traces: list[LayerTrace], unit: torch.Tensor, t: torch.Tensor, eps: float, p: float,
               gen: np.random.Generator | None):
    top = traces[-1]
    B, T1, H = top.h.shape
    idx = torch.arange(B, device=top.h.device)
    out = top.h[idx, t + 1, unit]
    R = top.h.new_zeros(B, T1 - 1, H)
    R[idx, t, unit] = out
    ab_b = top.h.new_zeros(B)
    ab_e = top.h.new_zeros(B)
    for tr in reversed(traces):
        R, bb, be = _backward_layer(tr, R, eps, p, gen)
        ab_b, ab_e = ab_b + bb, ab_e + be
    return R, out, ab_b, ab_e


@dataclass
class UnitRelevance:
    """LRP relevance of ``B`` hidden-unit outputs on the input.

    ``relevance`` (B, T, D) (or (B, T, J) per joint): deterministic LRP; ``mean``, ``std`` (B, T, D): over the MC-dropout
    samples (None when ``n_samples == 0``); ``output`` (B,): the unit's value h_t[u] (the total
    relevance put in); ``std_frame`` (B, T) and ``std_joint`` (B, J or D): spread over the samples
    of each frame's total and of each joint's time total; ``absorbed_bias``, ``absorbed_eps`` (B,): shares kept by the biases and the
    stabiliser, so that ``relevance.sum((1, 2)) + absorbed_bias + absorbed_eps == output``.
    """

    relevance: np.ndarray
    output: np.ndarray
    absorbed_bias: np.ndarray
    absorbed_eps: np.ndarray
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    std_frame: np.ndarray | None = None
    std_joint: np.ndarray | None = None

    @property
    def conservation_error(self) -> np.ndarray:
        """|sum R(x) + absorbed - output| per target (float64 rounding only)."""
        return np.abs(self.relevance.sum((1, 2)) + self.absorbed_bias + self.absorbed_eps - self.output)

    @property
    def absorbed_share(self) -> np.ndarray:
        """(absorbed_bias + absorbed_eps) / output per target."""
        return (self.absorbed_bias + self.absorbed_eps) / np.where(self.output == 0, np.nan, self.output)


def unit_relevance(model, x, unit: Sequence[int], t: Sequence[int], layer: int = -1, eps: float = 1e-3,
                   n_samples: int = 0, dropout: float = 0.1, seed: int = 0,
                   channels: int = 1, batch_size: int = 8) -> UnitRelevance:
    """LRP of hidden unit ``unit[b]`` of ``layer`` at time ``t[b]`` for sequence ``x[b]``.

    ``x`` (B, T, J, C) or (B, T, D) array/tensor; frames after ``t[b]`` get zero relevance.
    ``n_samples`` > 0 adds MC-dropout samples with message dropout rate ``dropout`` (module
    docstring); samples are seeded by ``seed`` (same seed, same maps).  ``channels`` C > 1 sums
    each joint's C channels before the statistics, so that the maps are per joint (B, T, J) and
    ``std`` is the spread of the joint's total relevance.
    """
    device = model.classifier.weight.device if hasattr(model, "classifier") else torch.device("cpu")
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).to(device)
    if x.dim() == 4:
        x = x.flatten(2)
    unit_t = torch.as_tensor(np.asarray(unit), dtype=torch.long, device=device).reshape(-1)
    t_t = torch.as_tensor(np.asarray(t), dtype=torch.long, device=device).reshape(-1)
    B, T, D = x.shape
    if len(unit_t) != B or len(t_t) != B:
        raise ValueError(f"unit_relevance: x has {B} sequences but unit has {len(unit_t)} and t {len(t_t)} entries")
    H = model.rnn.hidden_size
    if B and (int(unit_t.min()) < 0 or int(unit_t.max()) >= H):
        raise ValueError(f"unit_relevance: unit index out of range [0, {H})")
    if B and (int(t_t.min()) < 0 or int(t_t.max()) >= T):
        raise ValueError(f"unit_relevance: time index out of range [0, {T})")
    if not 0 <= dropout < 1:
        raise ValueError(f"unit_relevance: dropout must be in [0, 1), got {dropout}")
    if channels < 1 or D % channels:
        raise ValueError(f"unit_relevance: input size {D} is not a multiple of channels={channels}")
    Dj = D // channels
    rel = np.zeros((B, T, Dj))
    mean = np.zeros((B, T, Dj)) if n_samples > 0 else None
    std = np.zeros((B, T, Dj)) if n_samples > 0 else None
    std_frame = np.zeros((B, T)) if n_samples > 0 else None
    std_joint = np.zeros((B, Dj)) if n_samples > 0 else None
    out, ab_b, ab_e = np.zeros(B), np.zeros(B), np.zeros(B)
    gen = np.random.default_rng(int(seed))
    for s in range(0, B, batch_size):
        sl = slice(s, min(B, s + batch_size))
        Tm = int(t_t[sl].max()) + 1
        traces = layer_traces(model, x[sl, :Tm], upto_layer=layer)
        R, o, bb, be = _propagate(traces, unit_t[sl], t_t[sl], eps, 0.0, None)
        rel[sl, :Tm] = joint_relevance(R.cpu().numpy(), channels)
        out[sl], ab_b[sl], ab_e[sl] = o.cpu().numpy(), bb.cpu().numpy(), be.cpu().numpy()
        if n_samples > 0:
            nb = sl.stop - sl.start
            f32 = torch.float32  # samples in float32: twice as fast, far below the MC spread
            rep = [LayerTrace(tr.cell, tr.inputs.to(f32).repeat_interleave(n_samples, 0),
                              tr.h.to(f32).repeat_interleave(n_samples, 0),
                              {k: v.to(f32).repeat_interleave(n_samples, 0) for k, v in tr.gates.items()},
                              {k: v.to(f32) for k, v in tr.weights.items()})
                   for tr in traces]
            Rs, _, _, _ = _propagate(rep, unit_t[sl].repeat_interleave(n_samples),
                                     t_t[sl].repeat_interleave(n_samples), eps, dropout, gen)
            Rs = joint_relevance(Rs.reshape(nb, n_samples, Tm, D).cpu().numpy().astype(np.float64), channels)
            mean[sl, :Tm] = Rs.mean(1)
            if n_samples > 1:
                std[sl, :Tm] = Rs.std(1, ddof=1)
                std_frame[sl, :Tm] = Rs.sum(-1).std(1, ddof=1)
                std_joint[sl] = Rs.sum(-2).std(1, ddof=1)
    return UnitRelevance(rel, out, ab_b, ab_e, mean, std, std_frame, std_joint)


def joint_relevance(r: np.ndarray, channels: int) -> np.ndarray:
    """Per-joint relevance: (..., T, J*C) -> (..., T, J), summing a joint's channels."""
    r = np.asarray(r)
    return r.reshape(*r.shape[:-1], r.shape[-1] // channels, channels).sum(-1)


@dataclass
class ClassRelevance:
    """LRP relevance of ``B`` class logits on the input.

    ``relevance`` (B, T, D): deterministic LRP of logit ``target[b]`` at the last valid frame;
    ``output`` (B,): the logit z_c (the total relevance put in); ``absorbed_bias``,
    ``absorbed_eps`` (B,): the shares kept by the biases (the classifier's and the layers') and the
    stabilisers, so that ``relevance.sum((1, 2)) + absorbed_bias + absorbed_eps == output``.
    """

    relevance: np.ndarray
    output: np.ndarray
    absorbed_bias: np.ndarray
    absorbed_eps: np.ndarray

    @property
    def conservation_error(self) -> np.ndarray:
        """|sum R(x) + absorbed - output| per target (float64 rounding only)."""
        return np.abs(self.relevance.sum((1, 2)) + self.absorbed_bias + self.absorbed_eps - self.output)


def class_relevance(model, x, length, target, eps: float = 1e-3, batch_size: int = 64) -> ClassRelevance:
    """LRP of class logit ``target[b]`` of sequence ``x[b]`` (Arras et al. 2017), the unit-level
    propagation of this module started from the classifier.

    The classifier ``z_c = sum_u W_cu h_u + b_c`` (h the top layer's state at the last valid frame
    t_b = length[b] - 1) passes the logit on by the epsilon rule: R(h_u) = h_u W_cu / (z_c + eps
    sign z_c) * z_c, with b_c and the stabiliser absorbing the rest; R(h) is injected at t_b and
    propagated through every layer as :func:`unit_relevance` does (no MC dropout).  Because the
    propagation is linear in what is injected, this equals sum_u W_cu z_c / (z_c + eps sign z_c)
    times the unit relevance of h_{t_b}[u] (the test's independent check).

    ``x`` (B, T, J, C) or (B, T, D); ``length`` (B,) in [1, T]; ``target`` (B,) class indices.
    Returns :class:`ClassRelevance` with ``relevance`` (B, T, D), zero after each length.
    """
    device = model.classifier.weight.device
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).to(device)
    if x.dim() == 4:
        x = x.flatten(2)
    B, T, D = x.shape
    length_t = torch.as_tensor(np.asarray(length), dtype=torch.long, device=device).reshape(-1)
    target_t = torch.as_tensor(np.asarray(target), dtype=torch.long, device=device).reshape(-1)
    if len(length_t) != B or len(target_t) != B:
        raise ValueError(f"class_relevance: x has {B} sequences but length has {len(length_t)} and target "
                         f"{len(target_t)} entries")
    K = model.classifier.out_features
    if B and (int(target_t.min()) < 0 or int(target_t.max()) >= K):
        raise ValueError(f"class_relevance: class index out of range [0, {K})")
    if B and (int(length_t.min()) < 1 or int(length_t.max()) > T):
        raise ValueError(f"class_relevance: length out of range [1, {T}]")
    W = model.classifier.weight.detach().to(torch.float64)
    bias = model.classifier.bias
    b = bias.detach().to(torch.float64) if bias is not None else W.new_zeros(K)
    rel = np.zeros((B, T, D))
    out, ab_b, ab_e = np.zeros(B), np.zeros(B), np.zeros(B)
    for s in range(0, B, batch_size):
        sl = slice(s, min(B, s + batch_size))
        t = length_t[sl] - 1
        Tm = int(t.max()) + 1
        traces = layer_traces(model, x[sl, :Tm])
        top = traces[-1]
        idx = torch.arange(len(t), device=device)
        h = top.h[idx, t + 1]                                            # (b, H)
        w = W[target_t[sl]]                                              # (b, H)
        z = (h * w).sum(-1) + b[target_t[sl]]
        R_h, bb, be = lrp_linear(h, w.unsqueeze(1), b[target_t[sl]].unsqueeze(1), z.unsqueeze(1),
                                 z.unsqueeze(1), eps)
        R = top.h.new_zeros(len(t), Tm, top.h.shape[-1])
        R[idx, t] = R_h
        for tr in reversed(traces):
            R, lb, le = _backward_layer(tr, R, eps, 0.0, None)
            bb, be = bb + lb, be + le
        rel[sl, :Tm] = R.cpu().numpy()
        out[sl], ab_b[sl], ab_e[sl] = z.cpu().numpy(), bb.cpu().numpy(), be.cpu().numpy()
    return ClassRelevance(rel, out, ab_b, ab_e)
