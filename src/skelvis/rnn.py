"""The recurrent core: the LSTM and GRU equations, written once, with the gate nonlinearity a
property of the model.

Every analysis that needs more than the model's output (the local Jacobian of Patil et al.
Eq. 1, the local gradient of Eq. 6-7, LRP's gate values, the states of every layer) builds on the
functions here; :class:`skelvis.models.RecurrentClassifier` runs them whenever its gates are not
torch's own.

Gate nonlinearity sigma (``RecurrentClassifier.gate``, :data:`GATES`)::

    sigmoid              sigma(z) = 1 / (1 + exp(-z))        sigma' = sigma (1 - sigma)
                         (torch; Keras >= 2.3 default)
    hard_sigmoid_keras2  sigma(z) = clip(0.2 z + 0.5, 0, 1)  sigma' = 0.2 on (-2.5, 2.5), 0 outside
                         (Keras 1.x-2.x ``hard_sigmoid``; the LSTM default of Keras 2.0-2.2)
    hard_sigmoid_keras3  sigma(z) = relu6(z + 3) / 6         sigma' = 1/6 on (-3, 3), 0 outside
                         (Keras 3 ``hard_sigmoid``)

LSTM, torch gate order i, f, g, o (Keras: i, f, c, o, the same rows)::

    [z_i, z_f, z_g, z_o] = (W_ih x_t + b_ih) + (W_hh h_{t-1} + b_hh)          (4H,)
    i = sigma(z_i),  f = sigma(z_f),  g = tanh(z_g),  o = sigma(z_o)
    c_t = f c_{t-1} + i g,    h_t = o tanh(c_t)

GRU, torch gate order r, z, n::

    r = sigma(W_ir x + b_ir + W_hr h_{t-1} + b_hr),  z = sigma(W_iz x + b_iz + W_hz h_{t-1} + b_hz)
    n = tanh(W_in x + b_in + r (W_hn h_{t-1} + b_hn)),  h_t = (1 - z) n + z h_{t-1}

Stacked layers: layer l reads layer l-1's h_t (the bottom layer reads the pose x_t).  Initial
states are zero.  Shapes: N sequences, T frames, D inputs per frame (J*C for the bottom layer,
H above), H hidden units per layer, G gate blocks (4 for LSTM, 3 for GRU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

__all__ = [
    "GATES",
    "Gate",
    "LayerStates",
    "LayerWeights",
    "Step",
    "cell_kind",
    "cell_step",
    "frame_steps",
    "gate_function",
    "layer_states",
    "layer_weights",
    "sequence_states",
    "valid_frames",
]


# ------------------------------------------------------------------------------------------ gates
@dataclass(frozen=True)
class Gate:
    """A gate nonlinearity sigma and its derivative.

    ``gate(z)`` is sigma(z) (any shape); ``gate.derivative(y)`` is d sigma / dz written through
    the gate's output y = sigma(z): y (1 - y) for the sigmoid, the slope where 0 < y < 1 and 0
    where the hard sigmoids saturate (their derivative is piecewise constant and y tells the
    piece).  The closed forms use it with the gate values of a forward pass.
    """

    name: str
    function: Callable[[torch.Tensor], torch.Tensor] = field(repr=False, compare=False)
    derivative: Callable[[torch.Tensor], torch.Tensor] = field(repr=False, compare=False)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.function(z)


def _hard_slope(slope: float) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda y: ((y > 0) & (y < 1)).to(y.dtype) * slope


#: the gate nonlinearities a model may have, by name (module docstring)
GATES: dict[str, Gate] = {
    "sigmoid": Gate("sigmoid", torch.sigmoid, lambda y: y * (1 - y)),
    "hard_sigmoid_keras2": Gate(
        "hard_sigmoid_keras2", lambda z: torch.clamp(0.2 * z + 0.5, 0.0, 1.0), _hard_slope(0.2)
    ),
    "hard_sigmoid_keras3": Gate(
        "hard_sigmoid_keras3", lambda z: nn.functional.relu6(z + 3.0) / 6.0, _hard_slope(1.0 / 6.0)
    ),
}


def gate_function(gate: str | Gate) -> Gate:
    """The :class:`Gate` named ``gate`` (a :class:`Gate` is returned as is)."""
    if isinstance(gate, Gate):
        return gate
    try:
        return GATES[gate]
    except KeyError:
        raise ValueError(
            f"gate must be one of {list(GATES)} (the recurrent layers' gate nonlinearity), got {gate!r}"
        ) from None


# ---------------------------------------------------------------------------------------- weights
def cell_kind(rnn: nn.Module) -> str:
    """'lstm' or 'gru' for a torch ``nn.LSTM`` / ``nn.GRU`` (one direction, no projection)."""
    if isinstance(rnn, nn.LSTM):
        if getattr(rnn, "proj_size", 0):
            raise ValueError("LSTM with proj_size > 0 is not supported")
        kind = "lstm"
    elif isinstance(rnn, nn.GRU):
        kind = "gru"
    else:
        raise TypeError(
            f"the recurrent layer must be torch.nn.LSTM or torch.nn.GRU, got {type(rnn).__name__}"
        )
    if rnn.bidirectional:
        raise ValueError("bidirectional recurrent layers are not supported (h_t is read forward in time)")
    return kind


class LayerWeights(NamedTuple):
    """One layer's parameters as torch stores them: ``w_ih`` (G*H, D), ``w_hh`` (G*H, H),
    ``b_ih``, ``b_hh`` (G*H,); gate blocks stacked in torch's order (i, f, g, o | r, z, n)."""

    w_ih: torch.Tensor
    w_hh: torch.Tensor
    b_ih: torch.Tensor
    b_hh: torch.Tensor


def layer_weights(rnn: nn.Module, layer: int, dtype: torch.dtype | None = None) -> LayerWeights:
    """The parameters of layer ``layer`` of ``rnn`` (``nn.LSTM`` / ``nn.GRU``), cast to ``dtype``.

    A layer built with ``bias=False`` gets zero biases (adding 0.0 is exact, so the equations need
    no second form).  The tensors stay attached to the parameters (gradients flow to them).
    """
    cell_kind(rnn)
    layer = range(rnn.num_layers)[layer]
    w_ih = getattr(rnn, f"weight_ih_l{layer}")
    w_hh = getattr(rnn, f"weight_hh_l{layer}")
    dtype = dtype or w_ih.dtype
    b_ih = getattr(rnn, f"bias_ih_l{layer}", None)
    b_hh = getattr(rnn, f"bias_hh_l{layer}", None)
    zero = w_ih.new_zeros(w_ih.shape[0], dtype=dtype)
    return LayerWeights(
        w_ih.to(dtype),
        w_hh.to(dtype),
        zero if b_ih is None else b_ih.to(dtype),
        zero if b_hh is None else b_hh.to(dtype),
    )


# ------------------------------------------------------------------------------------- one step
@dataclass
class Step:
    """One cell step (any leading shape ``...``): the new state and the gates that made it.

    ``h``, ``c`` (..., H) (``c`` None for a GRU).  ``gates`` for an LSTM: ``i, f, g, o`` (after
    their nonlinearity) and ``z_g`` (the candidate's pre-activation); for a GRU: ``r, z, n`` and
    ``hn`` = W_hn h_{t-1} + b_hn, ``a_n`` = the candidate's pre-activation.
    """

    h: torch.Tensor
    c: torch.Tensor | None
    gates: dict[str, torch.Tensor]


def _step(
    cell: str, gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None, gate: Gate
) -> Step:
    """The cell equations (module docstring) from the projections gi = W_ih x + b_ih and
    gh = W_hh h_{t-1} + b_hh, both (..., G*H)."""
    if cell == "lstm":
        z_i, z_f, z_g, z_o = (gi + gh).chunk(4, -1)
        i, f, g, o = gate(z_i), gate(z_f), torch.tanh(z_g), gate(z_o)
        c_new = f * c + i * g
        return Step(o * torch.tanh(c_new), c_new, {"i": i, "f": f, "g": g, "o": o, "z_g": z_g})
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = gh.chunk(3, -1)
    r, z = gate(i_r + h_r), gate(i_z + h_z)
    a_n = i_n + r * h_n
    n = torch.tanh(a_n)
    return Step((1 - z) * n + z * h, None, {"r": r, "z": z, "n": n, "hn": h_n, "a_n": a_n})


def cell_step(
    cell: str,
    w: LayerWeights,
    x: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor | None = None,
    gate: str | Gate = "sigmoid",
) -> Step:
    """One step of an LSTM (``cell`` 'lstm') or GRU ('gru') layer: x (..., D), h and c (..., H)
    (c ignored for a GRU) -> :class:`Step`.  Differentiable in every argument."""
    return _step(cell, x @ w.w_ih.T + w.b_ih, h @ w.w_hh.T + w.b_hh, h, c, gate_function(gate))


# ---------------------------------------------------------------------------- states over frames
def _shift(s: torch.Tensor) -> torch.Tensor:
    """s_{t-1} for every t, zero at t = 0: (N, T, H) -> (N, T, H)."""
    return torch.cat([torch.zeros_like(s[:, :1]), s[:, :-1]], 1)


@dataclass
class LayerStates:
    """One layer over a sequence: its input ``inputs`` (N, T, D), and ``h``, ``c`` (N, T, H) at
    every frame (``c`` None for a GRU), from the zero initial state; not masked by length.
    ``step`` (when asked for with ``keep_gates``): the layer's :class:`Step` at every frame,
    gates (N, T, H) each, as the forward pass computed them."""

    inputs: torch.Tensor
    h: torch.Tensor
    c: torch.Tensor | None
    step: Step | None = None

    def previous(self):
        """(h_{t-1}, c_{t-1}) for every frame t, (N, T, H) each (zero at t = 0; c None for a GRU)."""
        return _shift(self.h), None if self.c is None else _shift(self.c)


def _torch_layer(cell: str, w: LayerWeights, x: torch.Tensor) -> torch.Tensor:
    """h (N, T, H) of one layer by torch's own kernel (sigmoid gates only).  The module is made
    on the meta device (no random initialisation: the global RNG is untouched) and run with
    ``w`` through ``torch.func.functional_call``."""
    module = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](
        x.shape[-1], w.w_hh.shape[1], batch_first=True, device="meta"
    )
    params = {"weight_ih_l0": w.w_ih, "weight_hh_l0": w.w_hh, "bias_ih_l0": w.b_ih, "bias_hh_l0": w.b_hh}
    return torch.func.functional_call(module, params, (x,))[0]


def _cell_recurrence(f: torch.Tensor, ig: torch.Tensor) -> torch.Tensor:
    """c_t = f_t c_{t-1} + (i g)_t from c_0 = 0, for f, ig (N, T, H) -> c (N, T, H); the loop runs
    over time-major contiguous copies."""
    f_t, ig_t = f.transpose(0, 1).contiguous(), ig.transpose(0, 1).contiguous()
    if not len(ig_t):
        return torch.zeros_like(ig)
    cs, prev = [], torch.zeros_like(ig_t[0])
    for t in range(len(ig_t)):
        prev = torch.addcmul(ig_t[t], f_t[t], prev)
        cs.append(prev)
    return torch.stack(cs, 1)


def _lstm_kernel_states(w: LayerWeights, x: torch.Tensor, gate: Gate, keep_gates: bool) -> LayerStates:
    """One LSTM layer (sigmoid gates) by torch's kernel: h (N, T, H) from ``nn.LSTM``, then every
    frame's gate pre-activations at once, z = W_ih x_t + W_hh h_{t-1} + b (two ``addmm`` into one
    (N*T, 4H) buffer), sigma over all four blocks in one call (the g block is then tanh'd), and c
    from the linear recurrence c_t = f_t c_{t-1} + i_t g_t.  Same values as the frame loop to
    float rounding (tests/test_rnn.py)."""
    N, T, D = x.shape
    H = w.w_hh.shape[1]
    h = _torch_layer("lstm", w, x)
    h_prev = _shift(h)
    z = torch.addmm(w.b_ih + w.b_hh, x.reshape(N * T, D), w.w_ih.T)
    z.addmm_(h_prev.reshape(N * T, H), w.w_hh.T)
    z = z.view(N, T, 4 * H)
    s = gate(z)
    i, f, o = s[..., :H], s[..., H : 2 * H], s[..., 3 * H :]
    z_g = z[..., 2 * H : 3 * H]
    g = torch.tanh(z_g)
    c = _cell_recurrence(f, i * g)
    gates = {"i": i, "f": f, "g": g, "o": o, "z_g": z_g}
    return LayerStates(x, h, c, Step(h, c, gates) if keep_gates else None)


def layer_states(
    cell: str,
    w: LayerWeights,
    x: torch.Tensor,
    gate: str | Gate = "sigmoid",
    torch_kernels: bool | None = None,
    keep_gates: bool = False,
) -> LayerStates:
    """Run one layer over x (N, T, D) from the zero state: :class:`LayerStates`.

    ``torch_kernels`` (default: when the gates are torch's sigmoid, for a GRU only without
    ``keep_gates``) takes h from torch's ``nn.LSTM``/``nn.GRU`` kernel and c from the linear
    recurrence c_t = f_t c_{t-1} + i_t g_t (the gates given x_t and h_{t-1}, all frames at once);
    otherwise :func:`cell_step`'s equations run frame by frame (the input projections of all frames
    computed at once).  ``keep_gates`` also returns every frame's gates (``LayerStates.step``).
    Measured for 16 x 64 frames, 100 units, one thread, with gates: LSTM kernel path 4.6 ms,
    frame loop 5.3 ms (the kernel's own pass is 1.3 ms; the gates' two matrix products for all
    frames another 1.8 ms).
    """
    gate = gate_function(gate)
    N, T, _ = x.shape
    H = w.w_hh.shape[1]
    if torch_kernels is None:  # (torch's kernels refuse an empty sequence: the loop returns it)
        torch_kernels = gate.name == "sigmoid" and (cell == "lstm" or not keep_gates) and T > 0
    if torch_kernels and gate.name != "sigmoid":
        raise ValueError(f"torch's LSTM/GRU kernels have sigmoid gates, not {gate.name}")
    if torch_kernels and cell == "lstm":
        return _lstm_kernel_states(w, x, gate, keep_gates)
    gi = x @ w.w_ih.T + w.b_ih  # (N, T, G*H)
    if torch_kernels:  # a GRU: h from the kernel, then the gates of every frame at once
        h = _torch_layer(cell, w, x)
        if not keep_gates:
            return LayerStates(x, h, None)
        h_prev = _shift(h)
        s = _step(cell, gi, h_prev @ w.w_hh.T + w.b_hh, h_prev, None, gate)
        return LayerStates(x, h, None, Step(h, None, s.gates))
    h, c = x.new_zeros(N, H), (x.new_zeros(N, H) if cell == "lstm" else None)
    steps = []
    for t in range(T):
        s = _step(cell, gi[:, t], h @ w.w_hh.T + w.b_hh, h, c, gate)
        h, c = s.h, s.c
        steps.append(s if keep_gates else Step(s.h, s.c, {}))
    if not steps:
        empty = x.new_zeros(N, 0, H)
        return LayerStates(x, empty, empty if cell == "lstm" else None, None)
    hseq = torch.stack([s.h for s in steps], 1)
    cseq = torch.stack([s.c for s in steps], 1) if cell == "lstm" else None
    gates = {k: torch.stack([s.gates[k] for s in steps], 1) for k in steps[0].gates}
    return LayerStates(x, hseq, cseq, Step(hseq, cseq, gates) if keep_gates else None)


def sequence_states(
    rnn: nn.Module,
    x: torch.Tensor,
    gate: str | Gate = "sigmoid",
    upto_layer: int = -1,
    dropout: float = 0.0,
    torch_kernels: bool | None = None,
    keep_gates: bool = False,
) -> list[LayerStates]:
    """The states of every layer of ``rnn`` (bottom first, up to ``upto_layer``) over x (N, T, D).

    Computed in x's dtype (the weights are cast to it).  ``dropout`` > 0 drops each layer's output
    before the next layer reads it, as torch does in training mode.  ``torch_kernels`` and
    ``keep_gates``: see :func:`layer_states`.  Not masked by length (frames after a sequence's
    length are computed on its padding; mask with :func:`valid_frames`).
    """
    cell = cell_kind(rnn)
    top = range(rnn.num_layers)[upto_layer]
    out, inp = [], x
    for layer in range(top + 1):
        st = layer_states(cell, layer_weights(rnn, layer, x.dtype), inp, gate, torch_kernels, keep_gates)
        out.append(st)
        inp = st.h
        if dropout > 0 and layer < top:
            inp = nn.functional.dropout(inp, dropout, training=True)
    return out


def frame_steps(
    rnn: nn.Module,
    x: torch.Tensor,
    states: list[LayerStates],
    gate: str | Gate = "sigmoid",
    upto_layer: int = -1,
) -> list[Step]:
    """Every layer's step at every frame with the previous states held: h_t of each layer as a
    function of x_t alone (Patil et al. Eq. 1: "not the previous hidden state input").

    ``x`` (N, T, D); ``states`` from :func:`sequence_states` on the same x.  Layer l steps from
    (h_{t-1}, c_{t-1}) of ``states[l]`` on the output of layer l-1's step (the bottom layer on
    x), so autograd through the result gives the same-step derivatives dh_t/dx_t, and the gates
    equal those of the forward pass.  Returns one :class:`Step` of shape (N, T, ...) per layer.
    """
    cell = cell_kind(rnn)
    top = range(rnn.num_layers)[upto_layer]
    steps, inp = [], x
    for layer in range(top + 1):
        h_prev, c_prev = states[layer].previous()
        s = cell_step(cell, layer_weights(rnn, layer, x.dtype), inp, h_prev, c_prev, gate)
        steps.append(s)
        inp = s.h
    return steps


# ------------------------------------------------------------------------------------------ mask
def valid_frames(length, T: int):
    """(N, T) bool, True where frame t < length[n]: the valid frames of padded sequences.

    ``length`` (N,): a torch tensor (the mask is a tensor on its device) or array-like (numpy).
    """
    if torch.is_tensor(length):
        return torch.arange(T, device=length.device)[None, :] < length[:, None]
    return np.arange(T)[None, :] < np.asarray(length)[:, None]
