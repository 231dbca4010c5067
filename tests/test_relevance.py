"""Unit-level LRP (skelvis.relevance): hand-derived cases, a reference implementation written
after Arras et al.'s LRP_for_LSTM code, conservation, and the MC-dropout statistics."""
import math

import numpy as np
import pytest
import torch

from skelvis.models import build_model
from skelvis.relevance import layer_traces, lrp_linear, quantised_rate, unit_relevance

pytestmark = pytest.mark.fast


def _model(cell="lstm", layers=1, D=4, H=3, seed=0):
    torch.manual_seed(seed)
    return build_model({"input_size": D, "hidden_size": H, "num_classes": 2, "cell": cell, "num_layers": layers}).eval()


def _set_scalar_lstm(m, wx, wh, b):
    """1 input, 1 unit: gates i, f, g, o with weights wx[k], wh[k], bias b[k] (bias_hh zero)."""
    with torch.no_grad():
        m.rnn.weight_ih_l0.copy_(torch.tensor(wx, dtype=torch.float32).reshape(4, 1))
        m.rnn.weight_hh_l0.copy_(torch.tensor(wh, dtype=torch.float32).reshape(4, 1))
        m.rnn.bias_ih_l0.copy_(torch.tensor(b, dtype=torch.float32))
        m.rnn.bias_hh_l0.zero_()


def _sig(v):
    return 1 / (1 + math.exp(-v))


@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("gru", 1), ("lstm", 2), ("gru", 2)])
def test_traces_match_torch(cell, layers):
    m = _model(cell, layers, D=5, H=4)
    x = torch.randn(3, 6, 5)
    tr = layer_traces(m, x)
    with torch.no_grad():
        ref = m.all_hidden_states(x, torch.full((3,), 6))
    for t, h in zip(tr, ref):
        torch.testing.assert_close(t.h[:, 1:].float(), h, atol=1e-6, rtol=1e-5)


def test_lstm_hand_derived_two_steps():
    """1 input, 1 unit, T = 2: the relevance of h_2 by hand, following the rules step by step."""
    m = _model("lstm", D=1, H=1)
    wx, wh, b = [0.5, 0.3, 1.2, -0.4], [0.2, -0.1, 0.7, 0.6], [0.1, 0.5, -0.3, 0.2]
    _set_scalar_lstm(m, wx, wh, b)
    x1, x2, eps = 0.8, -1.1, 1e-3
    s = lambda v: 1.0 if v >= 0 else -1.0
    # forward (float64 by hand)
    zs, gates, c, h = [], [], [0.0], [0.0]
    for xv in (x1, x2):
        pre = [wx[k] * xv + wh[k] * h[-1] + b[k] for k in range(4)]
        i, f, g, o = _sig(pre[0]), _sig(pre[1]), math.tanh(pre[2]), _sig(pre[3])
        c.append(f * c[-1] + i * g)
        h.append(o * math.tanh(c[-1]))
        zs.append(pre[2])
        gates.append((i, f, g, o))
    # backward from h_2
    R_c2 = h[2]                                     # o gate is a weight
    (i1, _f1, g1, _), (i2, f2, g2, _) = gates
    R_c1 = f2 * c[1] / (c[2] + eps * s(c[2])) * R_c2
    R_g2 = i2 * g2 / (c[2] + eps * s(c[2])) * R_c2
    d2 = zs[1] + eps * s(zs[1])
    R_x2 = wx[2] * x2 / d2 * R_g2
    R_h1 = wh[2] * h[1] / d2 * R_g2
    R_c1 += R_h1                                    # h_1's relevance goes to c_1
    R_g1 = i1 * g1 / (c[1] + eps * s(c[1])) * R_c1  # c_0 = 0
    R_x1 = wx[2] * x1 / (zs[0] + eps * s(zs[0])) * R_g1
    r = unit_relevance(m, np.array([[[x1], [x2]]], np.float32), [0], [1], eps=eps)
    np.testing.assert_allclose(r.relevance[0, :, 0], [R_x1, R_x2], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(r.output[0], h[2], rtol=1e-5)
    assert r.conservation_error.max() < 1e-12


def test_lstm_one_step_without_bias_gives_all_to_input():
    """T = 1, zero biases, eps -> 0: the only input receives exactly h_1 (closed form)."""
    m = _model("lstm", D=1, H=1)
    _set_scalar_lstm(m, [0.9, -0.2, 1.5, 0.4], [0, 0, 0, 0], [0, 0, 0, 0])
    r = unit_relevance(m, np.array([[[0.7]]], np.float32), [0], [0], eps=1e-12)
    np.testing.assert_allclose(r.relevance[0, 0, 0], r.output[0], rtol=1e-9)
    assert abs(r.absorbed_bias[0]) < 1e-15


def test_gru_hand_derived_one_step():
    """GRU, 1 input, 1 unit, T = 1 (h_0 = 0): h_1 = (1 - z) n; the update gate is a weight, the
    reset gate multiplies only the bias b_hn here."""
    m = _model("gru", D=1, H=1)
    wx, b_ih, b_hh = [0.4, -0.6, 1.3], [0.2, 0.1, -0.4], [0.05, 0.3, 0.25]
    with torch.no_grad():
        m.rnn.weight_ih_l0.copy_(torch.tensor(wx).reshape(3, 1))
        m.rnn.weight_hh_l0.copy_(torch.tensor([0.3, 0.2, -0.5]).reshape(3, 1))
        m.rnn.bias_ih_l0.copy_(torch.tensor(b_ih))
        m.rnn.bias_hh_l0.copy_(torch.tensor(b_hh))
    x, eps = 1.7, 1e-3
    r_ = _sig(wx[0] * x + b_ih[0] + b_hh[0])
    z = _sig(wx[1] * x + b_ih[1] + b_hh[1])
    a = wx[2] * x + b_ih[2] + r_ * b_hh[2]
    n = math.tanh(a)
    h1 = (1 - z) * n
    sg = lambda v: 1.0 if v >= 0 else -1.0
    R_n = (1 - z) * n / (h1 + eps * sg(h1)) * h1
    R_x = wx[2] * x / (a + eps * sg(a)) * R_n
    bias = (b_ih[2] + r_ * b_hh[2]) / (a + eps * sg(a)) * R_n
    rr = unit_relevance(m, np.array([[[x]]], np.float32), [0], [0], eps=eps)
    np.testing.assert_allclose(rr.relevance[0, 0, 0], R_x, rtol=1e-5)
    np.testing.assert_allclose(rr.absorbed_bias[0], bias, rtol=1e-5)
    assert rr.conservation_error.max() < 1e-12


def _arras_lrp_linear(hin, w, b, hout, Rout, bias_nb_units, eps, bias_factor=0.0):
    """Verbatim port of Arras et al.'s lrp_linear (numpy, w of shape (D, M))."""
    sign_out = np.where(hout[np.newaxis, :] >= 0, 1., -1.)
    numer = (w * hin[:, np.newaxis]) + (bias_factor * (b[np.newaxis, :] * 1. + eps * sign_out * 1.) / bias_nb_units)
    denom = hout[np.newaxis, :] + (eps * sign_out * 1.)
    message = (numer / denom) * Rout[np.newaxis, :]
    return message.sum(axis=1)


def _arras_lstm_reference(m, x, unit, T_end, eps):
    """Arras' LRP_for_LSTM backward loop (one direction, relevance of h at T_end for ``unit``),
    written with numpy from the torch weights; torch gate order i, f, g, o."""
    W_ih = m.rnn.weight_ih_l0.detach().double().numpy()
    W_hh = m.rnn.weight_hh_l0.detach().double().numpy()
    b = (m.rnn.bias_ih_l0 + m.rnn.bias_hh_l0).detach().double().numpy()
    H = W_hh.shape[1]
    T, D = x.shape
    h, c = np.zeros((T + 1, H)), np.zeros((T + 1, H))
    gates_pre, gates = np.zeros((T, 4 * H)), np.zeros((T, 4 * H))
    for t in range(T):
        gates_pre[t] = W_ih @ x[t] + W_hh @ h[t] + b
        gates[t] = 1 / (1 + np.exp(-gates_pre[t]))
        gates[t, 2 * H:3 * H] = np.tanh(gates_pre[t, 2 * H:3 * H])
        i, f, g, o = np.split(gates[t], 4)
        c[t + 1] = f * c[t] + i * g
        h[t + 1] = o * np.tanh(c[t + 1])
    Rx, Rh, Rc, Rg = np.zeros((T, D)), np.zeros((T + 1, H)), np.zeros((T + 1, H)), np.zeros((T, H))
    Rh[T_end + 1, unit] = h[T_end + 1, unit]
    idx_g = slice(2 * H, 3 * H)
    for t in reversed(range(T_end + 1)):
        Rc[t + 1] += Rh[t + 1]
        i, f = gates[t, :H], gates[t, H:2 * H]
        Rc[t] = _arras_lrp_linear(f * c[t], np.identity(H), np.zeros(H), c[t + 1], Rc[t + 1], 2 * H, eps)
        Rg[t] = _arras_lrp_linear(i * gates[t, idx_g], np.identity(H), np.zeros(H), c[t + 1], Rc[t + 1], 2 * H, eps)
        Rx[t] = _arras_lrp_linear(x[t], W_ih[idx_g].T, b[idx_g], gates_pre[t, idx_g], Rg[t], D + H, eps)
        Rh[t] = _arras_lrp_linear(h[t], W_hh[idx_g].T, b[idx_g], gates_pre[t, idx_g], Rg[t], D + H, eps)
    return Rx


def test_matches_arras_reference_implementation():
    m = _model("lstm", D=5, H=6, seed=3)
    x = np.random.default_rng(0).normal(size=(2, 7, 5)).astype(np.float32)
    unit, t = [4, 1], [6, 3]
    r = unit_relevance(m, x, unit, t, eps=1e-3)
    for b in range(2):
        ref = _arras_lstm_reference(m, x[b].astype(np.float64), unit[b], t[b], 1e-3)
        np.testing.assert_allclose(r.relevance[b], ref, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("gru", 1), ("lstm", 2), ("gru", 2)])
def test_conservation_and_causality(cell, layers):
    m = _model(cell, layers, D=6, H=5, seed=1)
    x = np.random.default_rng(1).normal(size=(4, 9, 6)).astype(np.float32)
    r = unit_relevance(m, x, [0, 1, 2, 3], [8, 4, 0, 6])
    # sum R(x) + absorbed == h_t[u]
    assert r.conservation_error.max() < 1e-10
    np.testing.assert_allclose(r.relevance.sum((1, 2)) + r.absorbed_bias + r.absorbed_eps, r.output, atol=1e-10)
    # the output value is the model's hidden state
    with torch.no_grad():
        h = m.hidden_states(torch.from_numpy(x), torch.full((4,), 9))
    np.testing.assert_allclose(r.output, h[np.arange(4), [8, 4, 0, 6], [0, 1, 2, 3]].numpy(), rtol=1e-5)
    # frames after t receive nothing
    assert np.all(r.relevance[1, 5:] == 0) and np.all(r.relevance[2, 1:] == 0)


@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("gru", 2)])
def test_zero_bias_small_eps_conserves_exactly(cell, layers):
    m = _model(cell, layers, D=3, H=4, seed=2)
    with torch.no_grad():
        for n, p in m.rnn.named_parameters():
            if n.startswith("bias"):
                p.zero_()
    x = np.random.default_rng(2).normal(size=(3, 5, 3)).astype(np.float32)
    r = unit_relevance(m, x, [0, 1, 3], [4, 2, 3], eps=1e-9)
    assert np.all(r.absorbed_bias == 0)
    np.testing.assert_allclose(r.relevance.sum((1, 2)), r.output, rtol=1e-5, atol=1e-7)


def test_lrp_linear_matches_arras():
    rng = np.random.default_rng(5)
    a, w, b = rng.normal(size=6), rng.normal(size=(4, 6)), rng.normal(size=4)
    z = w @ a + b
    R = rng.normal(size=4)
    Rin, bb, be = lrp_linear(torch.from_numpy(a)[None], torch.from_numpy(w), torch.from_numpy(b)[None],
                             torch.from_numpy(z)[None], torch.from_numpy(R)[None], 0.01)
    np.testing.assert_allclose(Rin[0].numpy(), _arras_lrp_linear(a, w.T, b, z, R, 7, 0.01), rtol=1e-12)
    np.testing.assert_allclose(Rin.sum() + bb + be, R.sum(), rtol=1e-12)


@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("gru", 1), ("lstm", 2)])
def test_mc_dropout_statistics(cell, layers):
    m = _model(cell, layers, D=6, H=5, seed=4)
    x = np.random.default_rng(4).normal(size=(2, 6, 6)).astype(np.float32)
    # rate 0: every sample equals the deterministic map
    r0 = unit_relevance(m, x, [1, 2], [5, 3], n_samples=4, dropout=0.0)
    np.testing.assert_allclose(r0.mean, r0.relevance, atol=1e-5)
    assert np.all(r0.std < 1e-5)
    # inverted dropout is unbiased: the MC mean is within 5 standard errors of the deterministic map
    n = 400
    r = unit_relevance(m, x, [1, 2], [5, 3], n_samples=n, dropout=0.2, seed=7)
    se = r.std / math.sqrt(n)
    assert np.all(np.abs(r.mean - r.relevance) <= 5 * se + 1e-6)
    assert r.std.max() > 0
    # seeded: the same seed gives the same maps, another seed other maps
    a = unit_relevance(m, x, [1, 2], [5, 3], n_samples=5, dropout=0.2, seed=1)
    b = unit_relevance(m, x, [1, 2], [5, 3], n_samples=5, dropout=0.2, seed=1)
    c = unit_relevance(m, x, [1, 2], [5, 3], n_samples=5, dropout=0.2, seed=2)
    np.testing.assert_array_equal(a.std, b.std)
    assert not np.allclose(a.std, c.std)
    # more dropout, more spread
    hi = unit_relevance(m, x, [1, 2], [5, 3], n_samples=200, dropout=0.5, seed=3)
    assert hi.std.mean() > r.std.mean()


def test_per_joint_maps_and_batching():
    m = _model("lstm", D=6, H=4)
    x = np.random.default_rng(0).normal(size=(5, 4, 2, 3)).astype(np.float32)  # J=2, C=3
    full = unit_relevance(m, x, [0, 1, 2, 3, 0], [3, 3, 2, 1, 0], batch_size=2)
    joint = unit_relevance(m, x, [0, 1, 2, 3, 0], [3, 3, 2, 1, 0], channels=3, batch_size=5)
    assert joint.relevance.shape == (5, 4, 2)
    np.testing.assert_allclose(joint.relevance, full.relevance.reshape(5, 4, 2, 3).sum(-1), atol=1e-12)


def test_bad_arguments_fail_clearly():
    m = _model("lstm", D=3, H=2)
    x = np.zeros((1, 4, 3), np.float32)
    with pytest.raises(ValueError, match="unit index out of range"):
        unit_relevance(m, x, [2], [0])
    with pytest.raises(ValueError, match="time index out of range"):
        unit_relevance(m, x, [0], [4])
    with pytest.raises(ValueError, match="dropout"):
        unit_relevance(m, x, [0], [1], n_samples=2, dropout=1.0)
    assert quantised_rate(0.1) == 26 / 256
