"""The recurrent core (skelvis.rnn): its equations against torch's own LSTM/GRU, the gate
nonlinearities against their definitions, and the model's gate attribute."""

import numpy as np
import pytest
import torch
from torch import nn

from skelvis import rnn as R
from skelvis.models import RecurrentClassifier, load_model, save_model

pytestmark = pytest.mark.fast

GATE_NAMES = ["sigmoid", "hard_sigmoid_keras2", "hard_sigmoid_keras3"]


def _x(N=4, T=9, D=6, dtype=torch.float32, seed=1):
    return torch.randn(N, T, D, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU], ids=["lstm", "gru"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_core_step_loop_matches_torch(cls, bias, dtype):
    """The core's frame-by-frame equations (not torch's kernel) give torch's h of every layer,
    its final h and c, and the same-step states of frame_steps, within 1e-6."""
    torch.manual_seed(0)
    rnn = cls(6, 5, num_layers=3, bias=bias, batch_first=True).to(dtype)
    with torch.no_grad():
        for p in rnn.parameters():
            p.mul_(2.0)  # gates well away from their linear range
    x = _x(dtype=dtype)
    out, final = rnn(x)
    h_n, c_n = final if cls is nn.LSTM else (final, None)
    for torch_kernels in (False, True):
        states = R.sequence_states(rnn, x, torch_kernels=torch_kernels, keep_gates=True)
        assert len(states) == 3
        torch.testing.assert_close(states[-1].h, out, atol=1e-6, rtol=0)
        for layer, st in enumerate(states):
            torch.testing.assert_close(st.h[:, -1], h_n[layer], atol=1e-6, rtol=0)
            if c_n is not None:
                torch.testing.assert_close(st.c[:, -1], c_n[layer], atol=1e-6, rtol=0)
        # one step per frame from the previous states gives the same states and the kept gates
        steps = R.frame_steps(rnn, x, states)
        for st, step in zip(states, steps):
            torch.testing.assert_close(step.h, st.h, atol=1e-6, rtol=0)
            assert set(step.gates) == set(st.step.gates)
            for k, v in step.gates.items():
                torch.testing.assert_close(st.step.gates[k], v, atol=1e-6, rtol=0)
    # each intermediate layer is torch's too (torch's own 2-layer module on the same weights)
    two = cls(6, 5, num_layers=2, bias=bias, batch_first=True).to(dtype)
    two.load_state_dict({k: v for k, v in rnn.state_dict().items() if k.endswith(("l0", "l1"))})
    torch.testing.assert_close(
        R.sequence_states(rnn, x, torch_kernels=False)[1].h, two(x)[0], atol=1e-6, rtol=0
    )


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cell_step_matches_torch_cells(cell):
    """One step from a non-zero state equals nn.LSTMCell / nn.GRUCell (the gate equations)."""
    torch.manual_seed(2)
    tc = (nn.LSTMCell if cell == "lstm" else nn.GRUCell)(6, 5).double()
    rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(6, 5).double()
    rnn.load_state_dict({f"{k}_l0": v for k, v in tc.state_dict().items()})
    x, h, c = (
        _x(3, 1, 6, torch.float64)[:, 0],
        _x(3, 1, 5, torch.float64, 3)[:, 0],
        _x(3, 1, 5, torch.float64, 4)[:, 0],
    )
    step = R.cell_step(cell, R.layer_weights(rnn, 0), x, h, c)
    if cell == "lstm":
        h_ref, c_ref = tc(x, (h, c))
        torch.testing.assert_close(step.c, c_ref, atol=1e-12, rtol=0)
    else:
        h_ref = tc(x, h)
    torch.testing.assert_close(step.h, h_ref, atol=1e-12, rtol=0)


def test_bias_less_layer_gets_zero_biases():
    rnn = nn.GRU(4, 3, bias=False)
    w = R.layer_weights(rnn, 0, torch.float64)
    assert w.b_ih.shape == (9,) and w.b_hh.shape == (9,) and not w.b_ih.any() and not w.b_hh.any()
    assert w.w_ih.dtype == torch.float64


def test_gate_definitions():
    z = torch.tensor([-4.0, -3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0, 4.0], dtype=torch.float64)
    k2 = R.gate_function("hard_sigmoid_keras2")(z)
    k3 = R.gate_function("hard_sigmoid_keras3")(z)
    np.testing.assert_allclose(k2.numpy(), np.clip(0.2 * z.numpy() + 0.5, 0, 1), atol=0)
    np.testing.assert_allclose(k3.numpy(), np.minimum(np.maximum(z.numpy() + 3, 0), 6) / 6, atol=1e-15)
    np.testing.assert_allclose(
        R.gate_function("sigmoid")(z).numpy(), 1 / (1 + np.exp(-z.numpy())), atol=1e-15
    )
    assert k2[4] == 0.5 and k2[5] == pytest.approx(0.7) and k3[5] == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="hard_sigmoid_keras2"):
        R.gate_function("hard_sigmoid")


@pytest.mark.parametrize("name", GATE_NAMES)
def test_gate_derivative_matches_autograd(name):
    """gate.derivative(sigma(z)) is d sigma / dz: 0.2 / 1/6 inside the linear range, 0 outside."""
    gate = R.gate_function(name)
    z = torch.linspace(-6, 6, 1201, dtype=torch.float64) + 1e-3  # off the kinks at +-2.5, +-3
    z.requires_grad_(True)
    y = gate(z)
    (dz,) = torch.autograd.grad(y.sum(), z)
    torch.testing.assert_close(gate.derivative(y.detach()), dz, atol=1e-12, rtol=0)
    if name != "sigmoid":
        slope, edge = (0.2, 2.5) if name.endswith("2") else (1 / 6, 3.0)
        inside = z.detach().abs() < edge
        assert torch.all(dz[inside] == slope) and torch.all(dz[~inside] == 0) and (~inside).any()


def test_valid_frames_numpy_and_torch():
    length = [3, 1, 5]
    m = R.valid_frames(np.array(length), 5)
    assert m.dtype == bool and m.shape == (3, 5)
    assert m.sum(1).tolist() == length and m[0, :3].all() and not m[0, 3:].any()
    mt = R.valid_frames(torch.tensor(length), 5)
    assert mt.dtype == torch.bool and np.array_equal(mt.numpy(), m)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("gate", GATE_NAMES[1:])
def test_model_with_hard_gates_runs_the_core(cell, gate, tmp_path):
    """A model whose gates are not torch's runs the core's step loop (not nn.LSTM), keeps its
    gate through save/load, and its state dict has the torch layout."""
    torch.manual_seed(0)
    m = RecurrentClassifier(6, 5, 3, cell=cell, num_layers=2, gate=gate).double().eval()
    ref = RecurrentClassifier(6, 5, 3, cell=cell, num_layers=2).double().eval()
    assert set(m.state_dict()) == set(ref.state_dict())
    ref.load_state_dict(m.state_dict())
    x, length = _x(dtype=torch.float64), torch.tensor([9, 4, 1, 7])
    # the hard gates' own equations: a loop over cell_step on the model's weights
    H = 5
    inp = x
    for layer in range(2):
        w = R.layer_weights(m.rnn, layer)
        h, c, hs = x.new_zeros(4, H), x.new_zeros(4, H), []
        for t in range(9):
            s = R.cell_step(cell, w, inp[:, t], h, c, gate)
            h, c = s.h, (s.c if s.c is not None else c)
            hs.append(h)
        inp = torch.stack(hs, 1)
    mask = R.valid_frames(length, 9)[..., None]
    torch.testing.assert_close(m.hidden_states(x, length), inp * mask, atol=1e-12, rtol=0)
    logits = m(x, length)
    assert (logits - ref(x, length)).abs().max() > 1e-3  # the gates matter
    save_model(m, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt")
    assert back.gate == gate
    torch.testing.assert_close(back.double()(x, length), logits, atol=1e-12, rtol=0)
    # training through the core: gradients reach the recurrent weights
    m.train()
    m(x, length).sum().backward()
    assert m.rnn.weight_hh_l0.grad.abs().sum() > 0


def test_model_files_without_gate_load_as_sigmoid(tmp_path):
    m = RecurrentClassifier(6, 5, 3)
    save_model(m, tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    del payload["spec"]["gate"]  # a file written before gates existed
    torch.save(payload, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt").gate == "sigmoid"
    with pytest.raises(ValueError, match="gate must be one of"):
        RecurrentClassifier(6, 5, 3, gate="relu")


@pytest.mark.fast
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("keep_gates", [False, True])
def test_an_empty_sequence_gives_empty_states(cell, keep_gates):
    """torch's kernels refuse a sequence of no frames; the default path returns its empty states."""
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](5, 4, batch_first=True)
    st = R.layer_states(cell, R.layer_weights(rnn, 0, torch.float32), torch.zeros(2, 0, 5), keep_gates=keep_gates)
    assert st.h.shape == (2, 0, 4)
    assert (st.c is None) == (cell == "gru")
