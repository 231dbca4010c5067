"""Joint sensitivity of hidden units and class labels (Patil et al., §3.1, Eq. 1-5).

Two modes, named as in the config key ``saliency.mode``:

``local`` (the paper's)
    Eq. 1  g[t, j, d, u] = dh_t^u / dx_{t,j,d}, the derivative of top-layer hidden unit u at
           time t with respect to the pose at the *same* time t, every layer's previous state
           (h_{t-1}, c_{t-1}) held fixed ("not the previous hidden state input").
    Eq. 2  S = |g|
    Eq. 3  S' = (sigma_x[j, d] / sigma_h[u]) * S, sigma the standard deviation (ddof 0) over the
           valid frames of the sequence.
    Eq. 4  S'[t, j, u] = sum_d S'[t, j, d, u]
    Eq. 5  S'_c[t, j] = sum_u S'[t, j, u] * |W_c^u|, W the classifier weights.

    Zero deviations: sigma_x = 0 (a joint that never moves) gives S' = 0 exactly (it is a
    factor, never a divisor).  sigma_h is floored at ``std_floor`` times the sequence's mean unit
    deviation, so a unit that (almost) never moves is not divided by ~0; when every unit is
    constant (e.g. a one-frame sequence) sigma_h = 1 is used, i.e. no unit scaling.  No inf or NaN.

``through_time`` (the usual saliency)
    |d logit_c(T_n) / d x_{t,j,d}| summed over d, for every t, T_n the last valid frame; for a
    hidden unit, |d h^u_{T_n} / d x_{t,j,d}| summed over d.  No sigma scaling (equals
    ``captum.attr.Saliency(abs=True)`` summed over xyz).

The local Jacobian is computed in closed form from the gate activations of one forward pass
(:func:`skelvis.rnn.sequence_states`), for all t and u at once, in chunks of sequences (memory per
chunk: chunk x T x H x J*C floats).  sigma' is the derivative of the model's gate nonlinearity
(:mod:`skelvis.rnn`): i (1 - i) for torch's sigmoid, 0.2 (Keras 2 hard sigmoid) or 1/6 (Keras 3)
where the gate is not saturated and 0 where it is:

* LSTM (torch gate order i, f, g, o; c_t = f c_{t-1} + i g, h_t = o tanh c_t)::

      dh/dx = diag(o (1 - tanh^2 c)) [diag(g sigma'(i)) W_ii + diag(c_{t-1} sigma'(f)) W_if
                                       + diag(i (1 - g^2)) W_ig] + diag(tanh(c) sigma'(o)) W_io
* GRU (torch order r, z, n; n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1-z) n + z h)::

      dh'/dx = diag((1-z)(1-n^2)) [W_in + diag((W_hn h + b_hn) sigma'(r)) W_ir]
               + diag((h - n) sigma'(z)) W_iz
* Stacked layers: the product J_L ... J_2 J_1 of each layer's same-step Jacobian with respect to
  its input (the layer below's h_t), all previous states fixed.

Public API (shapes; N sequences, T frames, J joints, C channels, H hidden units)::

    local_jacobian(model, x, length)               -> (N, T, H, J*C)   Eq. 1, zero after length
    sensitivity(model, x, length, units, mode)     -> (N, T, U, J)     Eq. 1-4 (U = len(units) or H)
    class_sensitivity(model, x, length, classes)   -> (N, T, J)        Eq. 5 (or through_time)
    saliency_maps(model, x, length, label, units)  -> SaliencyMaps     what the rule writes
    top_units(model, per_class)                    -> (K,) unit indices, by |W_c^u|
    local_jacobian_autograd(model, x, length)      -> (N, T, H, J*C)   reference: per-(t, u) loop
"""
from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import h5py
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import rnn as R
from .datasets.store import Dataset, iter_dataset, read_dataset_info
from .errors import DataFormatError, SaliencyInputError
from .io import atomic_path, decode_attrs, open_h5, require
from .models import resolve_device
from .settings import SaliencyConfig

__all__ = [
    "KEEP_WORDS",
    "MODES",
    "LazyMaps",
    "SaliencyInputError",
    "SaliencyMaps",
    "class_sensitivity",
    "gather_saliency",
    "iter_local_jacobian",
    "local_jacobian",
    "local_jacobian_autograd",
    "model_inputs",
    "read_saliency",
    "resample_maps",
    "run_saliency",
    "saliency_maps",
    "sensitivity",
    "sequence_std",
    "stream_saliency",
    "top_units",
    "unit_map_rows",
    "write_saliency",
]

log = logging.getLogger("skelvis.saliency")

MODES = ("local", "through_time")
#: elements (chunk x T x H x J*C) of one Jacobian chunk when no chunk size is given (~64 MB)
_CHUNK_ELEMENTS = 16_000_000


# ----------------------------------------------------------------------------------------- checks
def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def _grad_context(device: torch.device):
    """cuDNN's RNN backward needs train mode; the native kernels give the same gradients in eval."""
    if device.type == "cuda":
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


def _as_4d(model: nn.Module, x, channels: int | None = None) -> torch.Tensor:
    """x as a float tensor (N, T, J, C) checked against the model's input size."""
    x = torch.as_tensor(x)
    if not x.is_floating_point():
        x = x.float()
    D = int(model.rnn.input_size)
    if x.dim() == 3:
        C = channels or (3 if x.shape[-1] % 3 == 0 else 1)
        if x.shape[-1] % C:
            raise SaliencyInputError(f"input has {x.shape[-1]} values per frame, not a multiple of C = {C}")
        x = x.reshape(x.shape[0], x.shape[1], x.shape[-1] // C, C)
    if x.dim() != 4:
        raise SaliencyInputError(f"input must be (N, T, J, C) or (N, T, J*C), got shape {tuple(x.shape)}")
    J, C = x.shape[2], x.shape[3]
    if J * C != D:
        raise SaliencyInputError(
            f"the model expects {D} inputs per frame but the data has J x C = {J} x {C} = {J * C}: "
            f"model and data do not match (train the model on this dataset or pick the right one)")
    return x


def _as_length(length, N: int, T: int) -> torch.Tensor:
    length = torch.as_tensor(length).long().reshape(-1)
    if length.shape[0] != N:
        raise SaliencyInputError(f"length has {length.shape[0]} entries but x has {N} sequences")
    if N and (int(length.min()) < 1 or int(length.max()) > T):
        raise SaliencyInputError(f"length must lie in [1, {T}] (T = {T} frames), got "
                                 f"[{int(length.min())}, {int(length.max())}]")
    return length


def _check_units(model: nn.Module, units) -> torch.Tensor | None:
    if units is None:
        return None
    H = int(model.rnn.hidden_size)
    u = torch.as_tensor(np.asarray(units, dtype=np.int64).reshape(-1))
    bad = u[(u < 0) | (u >= H)]
    if len(bad):
        raise SaliencyInputError(f"hidden unit index {int(bad[0])} out of range: the model has H = {H} "
                                 f"hidden units (valid 0..{H - 1})")
    return u


def _check_classes(model: nn.Module, classes, N: int) -> torch.Tensor:
    K = int(model.classifier.out_features)
    c = torch.as_tensor(np.asarray(classes, dtype=np.int64).reshape(-1))
    if c.numel() == 1:
        c = c.expand(N).clone()
    if c.shape[0] != N:
        raise SaliencyInputError(f"classes has {c.shape[0]} entries but x has {N} sequences")
    bad = c[(c < 0) | (c >= K)]
    if len(bad):
        raise SaliencyInputError(f"class index {int(bad[0])} out of range: the model has {K} classes "
                                 f"(valid 0..{K - 1})")
    return c


def model_inputs(model: nn.Module, x, length, classes) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The checks every map of this module makes, for methods built on it (:mod:`skelvis.attribution`):
    ``x`` as (N, T, J, C) float, ``length`` (N,) long in [1, T], ``classes`` (N,) long in [0, K)
    (an int is used for every sequence); a shape or index that does not fit the model raises one
    :class:`SaliencyInputError` naming both sizes."""
    x4 = _as_4d(model, x)
    N, T = x4.shape[:2]
    return x4, _as_length(length, N, T), _check_classes(model, classes, N)


def grad_context(device: torch.device):
    """Where a gradient through the recurrent layer is taken on ``device``: cuDNN's RNN backward
    needs train mode, so on CUDA the native kernels run it in eval mode (same gradients)."""
    return _grad_context(device)


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise SaliencyInputError(f"mode must be one of {list(MODES)} ('local' = Patil et al. Eq. 1-5, "
                                 f"'through_time' = gradient of the last frame's output), got {mode!r}")
    return mode


def _mask(length: torch.Tensor, T: int, device) -> torch.Tensor:
    """(N, T) bool, True on valid frames (:func:`skelvis.rnn.valid_frames`)."""
    return R.valid_frames(length.to(device), T)


def _chunk_size(chunk_size: int | None, T: int, H: int, D: int) -> int:
    if chunk_size:
        return max(1, int(chunk_size))
    return max(1, _CHUNK_ELEMENTS // max(1, T * H * D))


# ------------------------------------------------------------------------------ closed-form Eq. 1
def _lstm_layer_coef(step: R.Step, c_prev: torch.Tensor, gate: R.Gate, W_ih: torch.Tensor):
    """Gate coefficients of one LSTM layer's same-step Jacobian from its step at every frame.

    Returns (coef (N, T, 4, H), W (4, H, D_in)) with dh_t/dx_t = sum_k diag(coef[:, :, k]) W[k].
    """
    i, f, g, o = (step.gates[k] for k in "ifgo")
    tc = torch.tanh(step.c)
    dc = o * (1 - tc * tc)
    coef = torch.stack([dc * g * gate.derivative(i),          # W_ii
                        dc * c_prev * gate.derivative(f),     # W_if
                        dc * i * (1 - g * g),                 # W_ig
                        tc * gate.derivative(o)], dim=2)      # W_io
    return coef, W_ih.view(4, i.shape[-1], -1)


def _gru_layer_coef(step: R.Step, h_prev: torch.Tensor, gate: R.Gate, W_ih: torch.Tensor):
    """Gate coefficients of one GRU layer's same-step Jacobian: (coef (N, T, 3, H), W (3, H, D_in))."""
    r, z, n, h_n = (step.gates[k] for k in ("r", "z", "n", "hn"))
    a_n = (1 - z) * (1 - n * n)
    coef = torch.stack([a_n * h_n * gate.derivative(r),      # W_ir
                        (h_prev - n) * gate.derivative(z),    # W_iz
                        a_n], dim=2)                          # W_in
    return coef, W_ih.view(3, r.shape[-1], -1)


def _coefficients(model: nn.Module, x: torch.Tensor):
    """Per-layer (coef, W) of the same-step Jacobians and the top layer's h (n, T, H), unmasked."""
    rnn = model.rnn
    try:
        cell = R.cell_kind(rnn)
    except (TypeError, ValueError) as e:
        raise SaliencyInputError(f"closed-form Jacobian: {e}") from None
    gate = R.gate_function(model.gate)
    states = R.sequence_states(rnn, x, gate, keep_gates=True)
    layer_coef = _lstm_layer_coef if cell == "lstm" else _gru_layer_coef
    coefs = []
    for layer, st in enumerate(states):
        h_prev, c_prev = st.previous()
        W_ih = R.layer_weights(rnn, layer, x.dtype).w_ih
        coefs.append(layer_coef(st.step, c_prev if cell == "lstm" else h_prev, gate, W_ih))
    return coefs, states[-1].h


def _stacked_jacobian(coefs, valid: torch.Tensor) -> torch.Tensor:
    """(J_L ... J_2) sum_k diag(a_k) W_1[k], (n, T, H, D), zero where ``valid`` (n, T) is 0."""
    coef1, W1 = coefs[0]                                   # (n, T, G, H1), (G, H1, D)
    G, H1, D = W1.shape
    if len(coefs) == 1:
        jac = torch.einsum("ntkh,khd->nthd", coef1, W1)
    else:
        M = None
        for coef, W in reversed(coefs[1:]):
            J_l = torch.einsum("ntkh,khd->nthd", coef, W)
            M = J_l if M is None else torch.matmul(M, J_l)
        n, T, H = M.shape[:3]
        MA = M[:, :, :, None, :] * coef1[:, :, None, :, :]                  # (n, T, H, G, H1)
        jac = torch.matmul(MA.reshape(n, T, H, G * H1), W1.reshape(G * H1, D))
    return jac * valid[:, :, None, None]


@torch.no_grad()
def _local_jacobian_chunk(model: nn.Module, x: torch.Tensor, length: torch.Tensor):
    """Closed-form Eq. 1 for one chunk on the model's device: x (n, T, D) -> ((n, T, H, D), h)."""
    coefs, h = _coefficients(model, x)
    valid = _mask(length, x.shape[1], x.device).to(x.dtype)
    return _stacked_jacobian(coefs, valid), h


class _UnitRows:
    """Row u of the same-step Jacobian for every (n, t): ``rows(u)`` -> (n, T, D), zero after length.

    One layer: a (n*T, G) @ (G, D) product per unit into a reused, cache-sized buffer, so the full
    (n, T, H, D) Jacobian is never held.  Stacked layers: slices of the full chunk Jacobian.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, length: torch.Tensor):
        n, T, D = x.shape
        coefs, self.h = _coefficients(model, x)
        valid = _mask(length, T, x.device).to(x.dtype)
        self.n, self.T, self.D, self.H = n, T, D, self.h.shape[-1]
        if len(coefs) == 1:
            coef, W = coefs[0]
            G = W.shape[0]
            self.a = (coef * valid[:, :, None, None]).permute(3, 0, 1, 2).reshape(self.H, n * T, G).contiguous()
            self.W = W.permute(1, 0, 2).contiguous()                        # (H, G, D)
            self.buf = torch.empty(n * T, D, device=x.device, dtype=x.dtype)
            self.jac = None
        else:
            self.jac = _stacked_jacobian(coefs, valid)

    def __call__(self, u: int) -> torch.Tensor:
        if self.jac is not None:
            return self.jac[:, :, u]
        torch.mm(self.a[u], self.W[u], out=self.buf)
        return self.buf.view(self.n, self.T, self.D)


def _jacobian_into(model: nn.Module, x: torch.Tensor, length: torch.Tensor, out: torch.Tensor | None = None
                   ) -> torch.Tensor:
    """Closed-form Eq. 1 of one chunk x (n, T, D) as a (n, T, H, D) tensor stored unit-major.

    One layer: row u of every (n, t) is one (n*T, G) @ (G, D) product, all H of them in one
    ``torch.bmm`` written straight into ``out`` (H, n, T, D) (a fresh buffer if None), so the
    Jacobian is written once, with no transposed copy and no masking pass (the coefficients are
    masked); returned as the (n, T, H, D) view ``out.permute(1, 2, 0, 3)``.  Stacked layers: the
    chunk's :func:`_stacked_jacobian` copied into ``out``.
    """
    n, T, D = x.shape
    coefs, _ = _coefficients(model, x)
    valid = _mask(length, T, x.device).to(x.dtype)
    H = int(model.rnn.hidden_size)
    if out is None:
        out = torch.empty(H, n, T, D, device=x.device, dtype=x.dtype)
    if len(coefs) == 1:
        coef, W = coefs[0]                                               # (n, T, G, H), (G, H, D)
        # both operands contiguous, unit-major: with a strided operand bmm copies it unit by unit
        a = (coef * valid[:, :, None, None]).permute(3, 0, 1, 2).reshape(H, n * T, -1).contiguous()
        flat = out.view(H, n * T, D) if out.is_contiguous() else None
        if flat is not None:
            torch.bmm(a, W.permute(1, 0, 2).contiguous(), out=flat)
        else:                                                            # a chunk of a larger buffer
            for u in range(H):
                torch.mm(a[u], W[:, u], out=out[u].view(n * T, D))
    else:
        out.copy_(_stacked_jacobian(coefs, valid).permute(2, 0, 1, 3))
    return out.permute(1, 2, 0, 3)


def iter_local_jacobian(model: nn.Module, x, length, chunk_size: int | None = None
                        ) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield ``(slice of sequences, Jacobian (n, T, H, J*C))`` chunk by chunk, on the model's device
    (a unit-major view: ``.contiguous()`` for the (n, T, H, J*C) memory order)."""
    x4 = _as_4d(model, x)
    N, T = x4.shape[:2]
    length = _as_length(length, N, T)
    dev = _device(model)
    D, H = x4.shape[2] * x4.shape[3], int(model.rnn.hidden_size)
    step = _chunk_size(chunk_size, T, H, D)
    with torch.no_grad():
        for s in range(0, N, step):
            sl = slice(s, min(N, s + step))
            xb = x4[sl].to(dev, _dtype(model)).flatten(2)
            yield sl, _jacobian_into(model, xb, length[sl].to(dev))


def local_jacobian(model: nn.Module, x, length, chunk_size: int | None = None) -> torch.Tensor:
    """Eq. 1 of Patil et al. in closed form: g[n, t, u, k] = dh_t^u / dx_{t,k}, (N, T, H, J*C).

    ``x`` (N, T, J, C) or (N, T, J*C); ``length`` (N,).  Top-layer h, all previous states fixed
    (stacked layers: through the same time step).  Zero after each sequence's length.  Computed
    in chunks of ``chunk_size`` sequences on the model's device, each written once into one
    unit-major (H, N, T, J*C) buffer; returned as its (N, T, H, J*C) view on the device of ``x``.
    The whole result has N*T*H*J*C floats: for large N use :func:`iter_local_jacobian`.
    """
    x4 = _as_4d(model, x)
    N, T = x4.shape[:2]
    length = _as_length(length, N, T)
    dev = _device(model)
    D, H = x4.shape[2] * x4.shape[3], int(model.rnn.hidden_size)
    out = torch.empty(H, N, T, D, device=dev, dtype=_dtype(model))
    step = _chunk_size(chunk_size, T, H, D)
    with torch.no_grad():
        for s in range(0, N, step):
            sl = slice(s, min(N, s + step))
            xb = x4[sl].to(dev, _dtype(model)).flatten(2)
            _jacobian_into(model, xb, length[sl].to(dev), out[:, sl])
    return out.permute(1, 2, 0, 3).to(x4.device)


# -------------------------------------------------------------------------------- Eq. 2-4 helpers
def sequence_std(v: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """Standard deviation (ddof 0) over the valid frames: v (N, T, ...) -> (N, ...)."""
    m = _mask(length, v.shape[1], v.device).to(v.dtype).reshape(v.shape[0], v.shape[1], *([1] * (v.dim() - 2)))
    v = v - v[:, :1]                       # shift-invariant; a constant value gives exactly 0
    n = m.sum(1)
    mean = (v * m).sum(1) / n
    var = (((v - mean[:, None]) * m) ** 2).sum(1) / n
    return var.clamp_min(0).sqrt()


def _hidden_std(h: torch.Tensor, length: torch.Tensor, std_floor: float) -> torch.Tensor:
    """sigma_h (n, H) floored at std_floor x the sequence's mean unit deviation (1 if all are 0)."""
    s = sequence_std(h, length)
    floor = std_floor * s.mean(1, keepdim=True)
    s = torch.maximum(s, floor)
    return torch.where(s > 0, s, torch.ones_like(s))


@torch.no_grad()
def _local_sensitivity_chunk(model, xb, lb, normalize: bool, std_floor: float,
                             weights: torch.Tensor | None = None, units: Sequence[int] | None = None):
    """Eq. 1-5 for one chunk xb (n, T, J, C) on the model's device.

    Returns (weighted (n, Q, T, J) = sum_u S'[u] weights[n, u, q] or None,
             per-unit S' (n, U, T, J) for ``units`` or None).
    Per unit u: S'[u] = (1/sigma_h[u]) sum_d sigma_x[j, d] |g[t, j, d, u]| (Eq. 2-4), computed as
    (sigma_x * |row u|) @ R, R (J*C, J) the 0/1 matrix that sums each joint's channels.
    """
    n, T, J, C = xb.shape
    rows = _UnitRows(model, xb.flatten(2), lb)
    H, D = rows.H, J * C
    R = torch.zeros(D, J, device=xb.device, dtype=xb.dtype)
    R[torch.arange(D), torch.arange(D) // C] = 1                          # sum over d (Eq. 4)
    if normalize:
        sx = sequence_std(xb, lb).reshape(n, 1, D)                        # sigma_x (Eq. 3)
        inv = 1.0 / _hidden_std(rows.h, lb, std_floor)                    # 1/sigma_h (n, H)
    else:
        sx = None
        inv = torch.ones(n, H, device=xb.device, dtype=xb.dtype)
    acc = None if weights is None else torch.zeros(n, weights.shape[-1], T, J, device=xb.device, dtype=xb.dtype)
    wanted: dict = {}
    for k, u in enumerate(units or []):
        wanted.setdefault(int(u), []).append(k)
    per_unit = None if units is None else torch.zeros(n, len(units), T, J, device=xb.device, dtype=xb.dtype)
    for u in range(H):
        if acc is None and u not in wanted:
            continue
        g = rows(u)                                                       # (n, T, D)  Eq. 1
        g = g.abs_() if rows.jac is None else g.abs()                      # Eq. 2
        if sx is not None:
            g.mul_(sx)
        S_u = torch.mm(g.reshape(n * T, D), R).view(n, T, J)             # Eq. 4
        S_u.mul_(inv[:, u, None, None])
        if acc is not None:
            acc.add_(S_u[:, None] * weights[:, u, :, None, None])         # Eq. 5
        for k in wanted.get(u, ()):
            per_unit[:, k] = S_u
    return acc, per_unit


# --------------------------------------------------------------------------- through-time saliency
def _through_time_grad(model: nn.Module, xb: torch.Tensor, lb: torch.Tensor, target: str,
                       index: torch.Tensor) -> torch.Tensor:
    """|d out[n, index[n]] / d x| summed over C: xb (n, T, J, C) -> (n, T, J).

    target 'class': out = logits at the last valid frame; 'unit': out = top-layer h there.
    """
    was = model.training
    model.eval()
    try:
        with torch.enable_grad(), _grad_context(xb.device):
            xg = xb.detach().clone().requires_grad_(True)
            if target == "class":
                out = model(xg.flatten(2), lb)
            else:
                out = model.last_hidden(xg.flatten(2), lb)
            sel = out.gather(1, index.to(out.device).view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(sel, xg)
    finally:
        model.train(was)
    return grad.abs().sum(-1)


# --------------------------------------------------------------------------------- public helpers
def sensitivity(model: nn.Module, x, length, units=None, mode: str = SaliencyConfig.mode,
                normalize: bool = SaliencyConfig.normalize, std_floor: float = SaliencyConfig.std_floor,
                chunk_size: int | None = None) -> torch.Tensor:
    """Joint sensitivity of hidden units, S'[n, t, u, j], shape (N, T, U, J).

    ``local``: Eq. 1-4 of Patil et al. (same-step derivative, |.|, sigma_x/sigma_h scaling when
    ``normalize``, summed over xyz).  ``through_time``: |dh^u_{T_n}/dx_t| summed over xyz for every
    frame t (no scaling).  ``units``: indices (U,) of top-layer units, default all H.
    ``x`` (N, T, J, C); zero after each length.  Returned on the device of ``x`` (float32).
    """
    _check_mode(mode)
    x4 = _as_4d(model, x)
    N, T, J, C = x4.shape
    length = _as_length(length, N, T)
    u = _check_units(model, units)
    dev = _device(model)
    H = int(model.rnn.hidden_size)
    U = H if u is None else len(u)
    out = torch.zeros(N, T, U, J, dtype=_dtype(model), device=x4.device)
    step = _chunk_size(chunk_size, T, H, J * C)
    ud = None if u is None else u.to(dev)
    for s in range(0, N, step):
        sl = slice(s, min(N, s + step))
        xb, lb = x4[sl].to(dev, _dtype(model)), length[sl].to(dev)
        if mode == "local":
            idx = list(range(H)) if ud is None else ud.tolist()
            _, S = _local_sensitivity_chunk(model, xb, lb, normalize, std_floor, units=idx)
            S = S.permute(0, 2, 1, 3)                                         # (n, T, U, J)
        else:
            idx = torch.arange(H, device=dev) if ud is None else ud
            S = torch.stack([_through_time_grad(model, xb, lb, "unit", k.expand(len(xb)))
                             for k in idx], dim=2)
        out[sl] = S.to(out.device)
    return out


def class_sensitivity(model: nn.Module, x, length, classes, mode: str = SaliencyConfig.mode,
                      normalize: bool = SaliencyConfig.normalize, std_floor: float = SaliencyConfig.std_floor,
                      chunk_size: int | None = None) -> torch.Tensor:
    """Class sensitivity map S'_c[n, t, j], shape (N, T, J), for class ``classes`` (int or (N,)).

    ``local``: Eq. 5 of Patil et al., sum_u S'[t, j, u] |W_c^u| (S' from :func:`sensitivity`).
    ``through_time``: |d logit_c(T_n) / d x_t| summed over xyz.  Zero after each length.
    """
    _check_mode(mode)
    x4 = _as_4d(model, x)
    N, T, _J, _C = x4.shape
    length = _as_length(length, N, T)
    cls = _check_classes(model, classes, N)
    maps = saliency_maps(model, x4, length, cls, units=[], mode=mode, normalize=normalize,
                         std_floor=std_floor, chunk_size=chunk_size, predicted=False)
    return torch.from_numpy(maps.class_map).to(x4.device)


def top_units(model: nn.Module, per_class: int = SaliencyConfig.units_per_class) -> np.ndarray:
    """For each class the ``per_class`` units with the largest |W_c^u|, deduplicated, (K,) int.

    Ordered class by class (then by decreasing |W_c^u|); a unit already chosen is skipped, so each
    class still contributes ``per_class`` distinct units when H allows.
    """
    W = model.classifier.weight.detach().abs().cpu().numpy()
    H = W.shape[1]
    if per_class < 0 or per_class > H:
        raise SaliencyInputError(f"units_per_class = {per_class} out of range: the model has H = {H} hidden units")
    chosen: list[int] = []
    for c in range(W.shape[0]):
        order = np.argsort(-W[c], kind="stable")
        picked = 0
        for u in order:
            if picked == per_class:
                break
            if int(u) not in chosen:
                chosen.append(int(u))
                picked += 1
    return np.asarray(chosen, dtype=np.int64)


@dataclass
class SaliencyMaps:
    """What the ``saliency`` rule writes (numpy, float32; zero after each length).

    class_map (N, T, J) for the given (true) class; pred_map (N, T, J) for the predicted class;
    unit_maps (N, K, T, J) for ``units`` (K,); predicted (N,) class indices.
    """

    class_map: np.ndarray
    pred_map: np.ndarray
    unit_maps: np.ndarray
    units: np.ndarray
    predicted: np.ndarray
    mode: str = SaliencyConfig.mode


@torch.no_grad()
def _logits(model, xb, lb):
    return model(xb.flatten(2), lb)


def _maps_chunk(model: nn.Module, xb: torch.Tensor, lb: torch.Tensor, yb: torch.Tensor, ud: torch.Tensor,
                absW: torch.Tensor, mode: str, normalize: bool, std_floor: float, predicted: bool):
    """Every map of one chunk xb (n, T, J, C) on the model's device, as numpy, zero after length:
    (class_map (n, T, J), pred_map (n, T, J), unit_maps (n, K, T, J), predicted (n,))."""
    n, T, J, _ = xb.shape
    K = len(ud)
    pb = _logits(model, xb, lb).argmax(1)
    if mode == "local":
        wts = [absW[yb]] + ([absW[pb]] if predicted else [])
        acc, S = _local_sensitivity_chunk(model, xb, lb, normalize, std_floor,
                                          weights=torch.stack(wts, -1), units=ud.tolist())
        cm = acc[:, 0].cpu().numpy()
        pm = acc[:, 1].cpu().numpy() if predicted else np.zeros_like(cm)
        um = S.cpu().numpy() if K else np.zeros((n, 0, T, J), np.float32)
    else:
        cm = _through_time_grad(model, xb, lb, "class", yb).cpu().numpy()
        pm = np.zeros_like(cm)
        if predicted:
            pm = cm.copy() if bool((pb == yb).all()) else \
                _through_time_grad(model, xb, lb, "class", pb).cpu().numpy()
        um = np.zeros((n, K, T, J), np.float32)
        for k in range(K):
            um[:, k] = _through_time_grad(model, xb, lb, "unit", ud[k].expand(n)).cpu().numpy()
    valid = R.valid_frames(lb.cpu().numpy(), T)
    cm, pm, um = (a.astype(np.float32, copy=False) for a in (cm, pm, um))
    cm *= valid[:, :, None]
    pm *= valid[:, :, None]
    um *= valid[:, None, :, None]
    return cm, pm, um, pb.cpu().numpy().astype(np.int64)


def _maps_step(chunk_size: int | None, mode: str, T: int, H: int, D: int) -> int:
    step = _chunk_size(chunk_size, T, H, D)
    return max(step, 64) if mode == "through_time" and not chunk_size else step


def saliency_maps(model: nn.Module, x, length, label, units=None, mode: str = SaliencyConfig.mode,
                  normalize: bool = SaliencyConfig.normalize, std_floor: float = SaliencyConfig.std_floor,
                  chunk_size: int | None = None,
                  predicted: bool = True, progress: bool = False) -> SaliencyMaps:
    """Class maps for ``label`` and the predicted class, and unit maps, in one pass per chunk.

    ``x`` (N, T, J, C), ``length`` (N,), ``label`` (N,) class indices, ``units`` (K,) top-layer
    unit indices (None: :func:`top_units` with 2 per class).  Local mode builds each chunk's
    Jacobian once and derives every map from it.  Holds every map of every sequence: for large N
    use :func:`stream_saliency`, which writes them chunk by chunk.
    """
    _check_mode(mode)
    x4 = _as_4d(model, x)
    N, T, J, C = x4.shape
    length = _as_length(length, N, T)
    lab = _check_classes(model, label, N)
    u = _check_units(model, top_units(model, 2) if units is None else units)
    dev = _device(model)
    H = int(model.rnn.hidden_size)
    K = len(u)
    absW = model.classifier.weight.detach().abs().to(dev)  # (classes, H)
    class_map = np.zeros((N, T, J), np.float32)
    pred_map = np.zeros((N, T, J), np.float32)
    unit_maps = np.zeros((N, K, T, J), np.float32)
    pred_all = np.zeros(N, np.int64)
    step = _maps_step(chunk_size, mode, T, H, J * C)
    ud = u.to(dev)
    it = range(0, N, step)
    if progress:
        it = tqdm(it, desc=f"saliency ({mode})", mininterval=2.0)
    was = model.training
    model.eval()
    try:
        for s in it:
            sl = slice(s, min(N, s + step))
            xb, lb, yb = x4[sl].to(dev, _dtype(model)), length[sl].to(dev), lab[sl].to(dev)
            class_map[sl], pred_map[sl], unit_maps[sl], pred_all[sl] = _maps_chunk(
                model, xb, lb, yb, ud, absW, mode, normalize, std_floor, predicted)
    finally:
        model.train(was)
    return SaliencyMaps(class_map=class_map, pred_map=pred_map, unit_maps=unit_maps,
                        units=u.numpy().astype(np.int64), predicted=pred_all, mode=mode)


# ------------------------------------------------------------------------ reference (slow) check
def local_jacobian_autograd(model: nn.Module, x, length) -> torch.Tensor:
    """Eq. 1 by brute force, the reference for tests and the benchmark: (N, T, H, J*C).

    The network is unrolled with the core's cell step (:func:`skelvis.rnn.cell_step`, the model's
    gate nonlinearity); at every frame t the previous states of every layer are detached, x_t is
    a leaf, and one ``torch.autograd.grad`` call per hidden unit u gives row u.  N*T*H autograd
    calls: slow.
    """
    x4 = _as_4d(model, x)
    N, T, J, C = x4.shape
    length = _as_length(length, N, T)
    rnn, dev = model.rnn, _device(model)
    H, L = int(rnn.hidden_size), int(rnn.num_layers)
    cell = R.cell_kind(rnn)
    weights = [R.layer_weights(rnn, layer) for layer in range(L)]
    dtype = weights[0].w_ih.dtype
    out = torch.zeros(N, T, H, J * C, dtype=dtype)
    xf = x4.flatten(2).to(dev, dtype)
    with torch.enable_grad():
        for n in range(N):
            state = [(torch.zeros(1, H, device=dev, dtype=dtype),) * 2 for _ in range(L)]
            for t in range(int(length[n])):
                xt = xf[n, t:t + 1].detach().clone().requires_grad_(True)
                inp, new_state = xt, []
                for w, (h_prev, c_prev) in zip(weights, state):
                    step = R.cell_step(cell, w, inp, h_prev.detach(), c_prev.detach(), model.gate)
                    new_state.append((step.h, step.c if step.c is not None else c_prev))
                    inp = step.h
                for u in range(H):
                    (g,) = torch.autograd.grad(inp[0, u], xt, retain_graph=u < H - 1)
                    out[n, t, u] = g[0].cpu()
                state = new_state
    return out


def run_saliency(model: nn.Module, ds: Dataset, cfg: SaliencyConfig = SaliencyConfig(),
                 progress: bool = False) -> SaliencyMaps:
    """What the ``saliency`` rule computes for a Dataset, on ``cfg.device``: :func:`saliency_maps`
    for the true and predicted classes and the units ``cfg.units`` (or :func:`top_units` with
    ``cfg.units_per_class``), with the stage's mode, normalisation and chunking."""
    model = model.to(resolve_device(cfg.device))
    units = list(cfg.units) or top_units(model, cfg.units_per_class)
    return saliency_maps(model, torch.from_numpy(ds.x), torch.from_numpy(ds.length), torch.from_numpy(ds.label),
                         units=units, mode=cfg.mode, normalize=cfg.normalize, std_floor=cfg.std_floor,
                         chunk_size=cfg.chunk_size or None, progress=progress)


# ------------------------------------------------------------------------------------------ files
#: ``saliency.keep_unit_maps`` words (an integer n = n sequences per class)
KEEP_WORDS = ("all", "held_out")
#: points of normalised time of the per-class mean maps written beside the per-sequence maps
MEAN_BINS = 32


def unit_map_rows(split: np.ndarray, label: np.ndarray, keep) -> np.ndarray:
    """Sequences whose per-sequence unit maps are written, increasing indices (M,).

    ``keep``: 'all'; 'held_out' (validation and test, split != 0); or an integer n: per class the
    first n held-out sequences (the first n of any split for a class with none held out)."""
    split, label = np.asarray(split), np.asarray(label)
    if keep == "all":
        return np.arange(len(split), dtype=np.int64)
    if keep == "held_out":
        return np.flatnonzero(split != 0).astype(np.int64)
    if isinstance(keep, (int, np.integer)) and not isinstance(keep, bool) and keep >= 0:
        rows = []
        for c in np.unique(label):
            pool = np.flatnonzero((label == c) & (split != 0))
            rows.extend((pool if len(pool) else np.flatnonzero(label == c))[:int(keep)])
        return np.sort(np.asarray(rows, dtype=np.int64))
    raise SaliencyInputError(f"saliency.keep_unit_maps must be one of {list(KEEP_WORDS)} or a count of "
                             f"sequences per class (integer >= 0), got {keep!r}")


def resample_maps(m: np.ndarray, length: np.ndarray, bins: int = MEAN_BINS) -> np.ndarray:
    """Maps m (n, T, ...) over each sequence's first length[i] frames, linearly resampled to
    ``bins`` points of normalised time (0 = first frame, 1 = last valid frame): (n, bins, ...).
    Linear interpolation between the two neighbouring frames, as ``np.interp``."""
    n = m.shape[0]
    L = np.asarray(length, np.int64).reshape(n, 1)
    pos = np.linspace(0.0, 1.0, bins)[None, :] * (L - 1)                   # (n, bins) frame position
    lo = np.minimum(np.floor(pos).astype(np.int64), np.maximum(L - 2, 0))
    w = pos - lo
    hi = np.minimum(lo + 1, L - 1)
    shape = (n, bins) + (1,) * (m.ndim - 2)
    a = np.take_along_axis(m, lo.reshape(shape), axis=1)
    b = np.take_along_axis(m, hi.reshape(shape), axis=1)
    return a + w.reshape(shape) * (b - a)


class _SaliencyFile:
    """Pre-sized, chunked datasets of a saliency.h5 filled chunk by chunk, with running per-class sums.

    Datasets: class_map, pred_map (N, T, J) float32; unit_maps (M, K, T, J) float16 for the
    sequences ``unit_map_index`` (M,); units (K,); predicted (N,) int32; class_map_mean
    (classes, bins, J) and unit_map_mean (K, classes, bins, J), float32, the mean over each
    class's sequences of the maps resampled to ``bins`` points of normalised time; class_count
    (classes,).  Sums are float64 and the order of addition is that of the sequences, so the
    result does not depend on the chunk size beyond float64 rounding.
    """

    KW: ClassVar[dict] = {"compression": "gzip", "compression_opts": 4, "shuffle": True}

    def __init__(self, f: h5py.File, N: int, T: int, J: int, units, keep_rows: np.ndarray,
                 num_classes: int, bins: int = MEAN_BINS, offset: int = 0, sums: bool = False):
        self.f, self.N, self.keep = f, N, np.asarray(keep_rows, np.int64)
        self.offset, self.sums = int(offset), sums
        K = len(units)
        rows = max(1, min(N, 64))
        for name in ("class_map", "pred_map"):
            f.create_dataset(name, shape=(N, T, J), dtype=np.float32, chunks=(rows, T, J) if N else None,
                             **(self.KW if N else {}))
        M = len(self.keep)
        big = M and K
        f.create_dataset("unit_maps", shape=(M, K, T, J), dtype=np.float16,
                         chunks=(1, K, T, J) if big else None, **(self.KW if big else {}))
        f["unit_map_index"] = self.keep
        f["units"] = np.asarray(units, np.int64)
        self.predicted = f.create_dataset("predicted", shape=(N,), dtype=np.int32)
        self.bins = bins
        self.count = np.zeros(num_classes, np.int64)
        self.class_sum = np.zeros((num_classes, bins, J))
        self.unit_sum = np.zeros((K, num_classes, bins, J))

    def add(self, idx: np.ndarray, label: np.ndarray, length: np.ndarray, class_map, pred_map,
            unit_maps, predicted) -> None:
        """Write the maps of sequences ``idx`` (increasing, (n,)) and add them to the class sums."""
        idx = np.asarray(idx, np.int64)
        if not len(idx):
            return
        sl = slice(int(idx[0]) - self.offset, int(idx[-1]) + 1 - self.offset)
        assert sl.stop - sl.start == len(idx), "chunks of consecutive sequences"
        self.f["class_map"][sl] = class_map
        self.f["pred_map"][sl] = pred_map
        self.predicted[sl] = predicted
        pos = np.searchsorted(self.keep, idx)
        kept = (pos < len(self.keep)) & (self.keep[np.minimum(pos, len(self.keep) - 1)] == idx) \
            if len(self.keep) else np.zeros(len(idx), bool)
        if kept.any() and unit_maps.shape[1]:
            p = pos[kept]
            um = np.clip(unit_maps[kept], 0, np.finfo(np.float16).max).astype(np.float16)  # ~3 digits
            self.f["unit_maps"][int(p[0]):int(p[-1]) + 1] = um                          # consecutive in keep
        rc = resample_maps(class_map.astype(np.float64), length, self.bins)           # (n, bins, J)
        ru = resample_maps(unit_maps.transpose(0, 2, 1, 3).astype(np.float64), length, self.bins)
        for i, c in enumerate(np.asarray(label, np.int64)):                           # sequence order
            self.count[c] += 1
            self.class_sum[c] += rc[i]
            self.unit_sum[:, c] += ru[i].transpose(1, 0, 2)

    def add_rows(self, start: int, class_map, pred_map, predicted) -> None:
        """Copy already computed per-sequence maps of rows ``start``.. (file rows; a gather)."""
        sl = slice(int(start), int(start) + len(class_map))
        self.f["class_map"][sl] = class_map
        self.f["pred_map"][sl] = pred_map
        self.predicted[sl] = predicted

    def add_sums(self, count, class_sum, unit_sum) -> None:
        """Add a shard's per-class count and float64 sums (a gather)."""
        self.count += np.asarray(count, np.int64)
        self.class_sum += class_sum
        self.unit_sum += unit_sum

    def finish(self, mode: str, attrs: dict) -> None:
        n = np.maximum(self.count, 1)
        if self.sums:                      # a shard: the gather adds the sums, then divides
            self.f["class_map_sum"] = self.class_sum
            self.f["unit_map_sum"] = self.unit_sum
            self.f.attrs["first_row"] = self.offset
        self.f["class_count"] = self.count
        self.f["class_map_mean"] = (self.class_sum / n[:, None, None]).astype(np.float32)
        self.f["unit_map_mean"] = (self.unit_sum / n[None, :, None, None]).astype(np.float32)
        self.f.attrs["mode"] = mode
        self.f.attrs["mean_bins"] = self.bins
        for k, v in attrs.items():
            self.f.attrs[k] = v if isinstance(v, (str, int, float, bool)) else json.dumps(v)


def _h5_for_writing(tmp) -> h5py.File:
    return h5py.File(tmp, "w", rdcc_nbytes=32 * 2**20)  # whole gzip chunks stay cached while filled


def write_saliency(path, maps: SaliencyMaps, model: str = "", data: str = "", label=None, length=None,
                   num_classes: int | None = None, keep_unit_maps="all", split=None, **attrs) -> None:
    """saliency.h5 from maps held in memory (layout: :class:`_SaliencyFile`; :func:`stream_saliency`
    writes the same file chunk by chunk).  ``label``/``length`` (N,) give the per-class means (else
    every sequence counts as class 0 with its full length); ``keep_unit_maps`` with ``split`` chooses
    the sequences whose unit maps are written.  Written atomically, gzip-compressed."""
    N, T, J = maps.class_map.shape
    label = np.zeros(N, np.int64) if label is None else np.asarray(label, np.int64)
    length = np.full(N, T) if length is None else np.asarray(length)
    num_classes = int(num_classes or (label.max() + 1 if N else 1))
    keep = unit_map_rows(np.ones(N) if split is None else split, label, keep_unit_maps)
    with atomic_path(path) as tmp, _h5_for_writing(tmp) as f:
        w = _SaliencyFile(f, N, T, J, maps.units, keep, num_classes)
        w.add(np.arange(N), label, length, maps.class_map, maps.pred_map, maps.unit_maps, maps.predicted)
        w.finish(maps.mode, dict(model=str(model), data=str(data), keep_unit_maps=str(keep_unit_maps), **attrs))


def stream_saliency(model: nn.Module, data, path, cfg: SaliencyConfig = SaliencyConfig(), progress: bool = False,
                    model_path: str = "", info=None, rows: slice | None = None, **attrs) -> dict:
    """The saliency rule: data.h5 -> saliency.h5 through bounded memory, on ``cfg.device``.

    Reads ``data`` (a contract file) in chunks of sequences, computes every map of a chunk with
    :func:`saliency_maps`' per-chunk code (units ``cfg.units`` or :func:`top_units` with
    ``cfg.units_per_class``; the stage's mode, normalisation and chunking) and writes it into the
    pre-sized datasets of ``path`` (layout: :class:`_SaliencyFile`): memory holds one chunk (about
    64 MB of Jacobian, or ``cfg.chunk_size`` sequences) and a few bytes per sequence, whatever N.
    Per-sequence unit maps are kept for ``cfg.keep_unit_maps`` (:func:`unit_map_rows`); the
    per-class means cover every sequence.  Returns {'N', 'K', 'units', 'kept', 'chunk'}.

    ``rows``: a contiguous slice of the sequences (one shard of config ``shards``): the file holds
    those rows only, the unit maps of the kept sequences among them (chosen over the whole data),
    and the float64 per-class sums (``class_map_sum``, ``unit_map_sum``) that
    :func:`gather_saliency` adds up.
    """
    mode = _check_mode(cfg.mode)
    model = model.to(resolve_device(cfg.device))
    info = info or read_dataset_info(data)
    N, T, J, C = info.shape
    u = _check_units(model, list(cfg.units) or top_units(model, cfg.units_per_class))
    dev = _device(model)
    H = int(model.rnn.hidden_size)
    K = int(model.classifier.out_features)
    if info.num_classes != K:
        raise SaliencyInputError(f"{data} has {info.num_classes} classes but the model has {K} outputs: "
                                 f"model and data do not match")
    absW = model.classifier.weight.detach().abs().to(dev)
    keep = unit_map_rows(info.split, info.label, cfg.keep_unit_maps)
    shard = rows is not None
    rows = slice(0, N) if rows is None else rows
    first, n_rows = int(rows.start), int(rows.stop - rows.start)
    keep = keep[(keep >= rows.start) & (keep < rows.stop)]
    step = _maps_step(cfg.chunk_size or None, mode, T, H, J * C)
    ud = u.to(dev)
    was = model.training
    model.eval()
    bar = None
    if progress:
        bar = tqdm(total=N, desc=f"saliency ({mode})", mininterval=2.0)
    try:
        with atomic_path(path) as tmp, _h5_for_writing(tmp) as f:
            w = _SaliencyFile(f, n_rows, T, J, u.numpy(), keep, info.num_classes, offset=first, sums=shard)
            for idx, ds in iter_dataset(data, step, rows=np.arange(first, first + n_rows), info=info):
                xb = _as_4d(model, torch.from_numpy(ds.x)).to(dev, _dtype(model))
                lb = _as_length(torch.from_numpy(ds.length), len(idx), T).to(dev)
                yb = torch.from_numpy(ds.label).long().to(dev)
                maps = _maps_chunk(model, xb, lb, yb, ud, absW, mode, cfg.normalize, cfg.std_floor, True)
                w.add(idx, ds.label, ds.length, *maps)
                if bar is not None:
                    bar.update(len(idx))
            w.finish(mode, dict(model=str(model_path), data=str(data), keep_unit_maps=str(cfg.keep_unit_maps),
                                normalize=bool(cfg.normalize), std_floor=float(cfg.std_floor), **attrs))
    finally:
        model.train(was)
        if bar is not None:
            bar.close()
    return {"N": n_rows, "K": len(u), "units": [int(v) for v in u], "kept": len(keep), "chunk": step}


def gather_saliency(parts, path, rows: int = 256) -> dict:
    """saliency.h5 from the files of its shards ``parts`` (:func:`stream_saliency` with ``rows``,
    in row order): per-sequence maps and kept unit maps copied ``rows`` sequences at a time into the
    one-shard layout, the per-class sums and counts added and divided once.  Equal to the one-shard
    file: integers exactly, maps bit for bit, means to float64 rounding.  Returns {'N', 'kept'}."""
    heads = []
    for p in parts:
        with open_h5(p, rule="saliency", what="saliency shard") as f:
            require(f, ("class_map", "unit_maps", "unit_map_index", "units", "class_map_sum", "unit_map_sum",
                        "class_count"), p, "saliency")
            heads.append((f["class_map"].shape, f["unit_map_index"][...], decode_attrs(f.attrs)))
    _, T, J = heads[0][0]
    N = sum(h[0][0] for h in heads)
    keep = np.concatenate([h[1] for h in heads])
    attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in heads[0][2].items()
             if k not in ("first_row", "mode", "mean_bins")}
    with atomic_path(path) as tmp, _h5_for_writing(tmp) as out:
        with h5py.File(parts[0], "r") as f:
            units, num_classes, bins = f["units"][...], f["class_count"].shape[0], int(f.attrs["mean_bins"])
        w = _SaliencyFile(out, N, T, J, units, keep, num_classes, bins)
        at = kept = 0
        for p in parts:
            with h5py.File(p, "r") as f:
                n = f["class_map"].shape[0]
                for s in range(0, n, rows):
                    w.add_rows(at + s, f["class_map"][s:s + rows], f["pred_map"][s:s + rows],
                               f["predicted"][s:s + rows])
                m = f["unit_maps"].shape[0]
                for s in range(0, m, rows):
                    block = f["unit_maps"][s:s + rows]
                    out["unit_maps"][kept + s:kept + s + len(block)] = block
                w.add_sums(f["class_count"][...], f["class_map_sum"][...], f["unit_map_sum"][...])
                at, kept = at + n, kept + m
        w.finish(heads[0][2]["mode"], attrs)
    return {"N": N, "kept": len(keep)}


def read_saliency(path, data=None, unit_rows=None, rows=None, keys=None) -> dict:
    """A saliency.h5 as numpy arrays (``unit_maps`` as float32), plus its attrs under 'attrs'.

    ``data``: the Dataset (or DatasetInfo) the maps belong to; a file whose (N, T, J) differs
    raises one :class:`DataFormatError`.  ``rows``: sequence indices to read (default all):
    class_map, pred_map and predicted come back for those rows in the given order.
    ``unit_rows`` (default ``rows``): the sequences whose unit maps to read, in this order, e.g.
    the few a page shows; only those the file kept (``saliency.keep_unit_maps``) come back, and
    ``unit_map_index`` names them (a file without ``unit_map_index``, the older layout, kept all).
    ``keys``: the datasets to read (default all).
    """
    rule = "saliency"
    with open_h5(path, rule=rule, what="saliency file") as f:
        require(f, ("class_map", "pred_map", "unit_maps", "units", "predicted"), path, rule)
        cm, um = f["class_map"], f["unit_maps"]
        N = cm.shape[0]
        shape = None if data is None else (tuple(data.shape[:3]) if hasattr(data, "shape") else data.x.shape[:3])
        if shape is not None and cm.shape != shape:
            raise DataFormatError(path, f"class_map has shape {cm.shape}, the data {shape} (N, T, J)",
                                  fix="the saliency file belongs to another data.h5; run the 'saliency' rule again")
        index = f["unit_map_index"][...] if "unit_map_index" in f else np.arange(um.shape[0])
        K = f["units"].shape[0]
        if um.shape[1:2] != (K,) or um.shape[2:] != cm.shape[1:] or um.shape[0] != len(index) \
                or ("unit_map_index" not in f and um.shape[0] not in (0, N)):
            raise DataFormatError(path, f"unit_maps has shape {um.shape}, expected ({len(index)}, {K}, "
                                        f"{cm.shape[1]}, {cm.shape[2]})", fix="run the 'saliency' rule again")
        want = list(f.keys()) if keys is None else [k for k in keys if k in f]
        per_sequence = ("class_map", "pred_map", "predicted")
        out: dict = {}
        for k in want:
            if k in per_sequence and rows is not None:
                r = np.asarray(rows, np.int64).reshape(-1)
                if len(r) and (r.min() < 0 or r.max() >= N):
                    raise SaliencyInputError(f"{path}: rows must lie in [0, {N}), got [{r.min()}, {r.max()}]")
                uniq, inv = np.unique(r, return_inverse=True)       # h5py reads increasing indices
                out[k] = f[k][uniq][inv] if len(uniq) else f[k][0:0]
            elif k not in ("unit_maps", "unit_map_index"):
                out[k] = f[k][...]
        ur = rows if unit_rows is None else unit_rows
        if "unit_maps" in want and ur is None:
            out["unit_maps"] = um[...].astype(np.float32)
            out["unit_map_index"] = index
        elif "unit_maps" in want:
            ur = np.asarray(ur, np.int64).reshape(-1)
            pos = np.searchsorted(index, ur)
            hit = (pos < len(index)) & (index[np.minimum(pos, max(len(index) - 1, 0))] == ur) \
                if len(index) else np.zeros(len(ur), bool)
            p = np.unique(pos[hit])
            got = um[p] if len(p) else np.zeros((0,) + um.shape[1:], um.dtype)
            out["unit_maps"] = got[np.searchsorted(p, pos[hit])].astype(np.float32)
            out["unit_map_index"] = ur[hit]
        out["attrs"] = decode_attrs(f.attrs)
    return out


class LazyMaps:
    """A per-sequence map of a saliency file (``class_map`` or ``pred_map``, (N, T, J)) read on
    access: ``shape``, ``len()`` and indexing by an int, a slice, a boolean mask or indices in any
    order (optionally followed by frame / joint indices) read only the sequences asked for.  What a
    notebook that draws a few sequences holds instead of the whole (N, T, J) array."""

    def __init__(self, path, key: str = "class_map"):
        self.path, self.key = path, key
        with open_h5(path, rule="saliency", what="saliency file") as f:
            require(f, (key,), path, "saliency")
            self.shape = tuple(f[key].shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        with open_h5(self.path, rule="saliency", what="saliency file") as f:
            d = f[self.key]
            if isinstance(rows, (int, np.integer)):
                out = d[int(rows)]
                return out[rest] if rest else out
            idx = np.arange(self.shape[0])[rows]
            uniq, inverse = np.unique(idx, return_inverse=True)
            out = d[uniq][inverse] if len(uniq) else np.zeros((0,) + self.shape[1:], d.dtype)
        return out[(slice(None),) + rest] if rest else out
