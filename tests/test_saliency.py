"""Joint sensitivity (Patil et al. Eq. 1-5): closed form against autograd, through-time mode against
captum, Eq. 3-5 against a numpy re-derivation, a planted-signal model, faithfulness measures, the rule."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from skelvis import faithfulness as F
from skelvis import rnn as R
from skelvis import saliency as S
from skelvis.datasets.store import read_dataset
from skelvis.models import RecurrentClassifier
from skelvis.settings import SaliencyConfig


def _model(cell, layers, J=4, C=3, H=6, K=3, seed=0, dtype=torch.float64, gate="sigmoid"):
    torch.manual_seed(seed)
    m = RecurrentClassifier(J * C, H, K, cell=cell, num_layers=layers, gate=gate).to(dtype).eval()
    with torch.no_grad():  # larger weights: gates away from their linear regime
        for p in m.rnn.parameters():
            p.mul_(2.0)
    return m


def _data(N=3, T=7, J=4, C=3, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, T, J, C, generator=g, dtype=dtype)
    length = torch.tensor([T, T - 2, 1][:N] + [T] * max(0, N - 3))
    x = x * (torch.arange(T)[None, :, None, None] < length[:, None, None, None])   # zero padding
    return x, length


CASES = [("lstm", 1), ("lstm", 2), ("gru", 1), ("gru", 2)]


@pytest.mark.fast
@pytest.mark.parametrize("cell,layers", CASES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_closed_form_equals_autograd_loop(cell, layers, dtype):
    m = _model(cell, layers, dtype=dtype)
    x, length = _data(dtype=dtype)
    ref = S.local_jacobian_autograd(m, x, length)
    cf = S.local_jacobian(m, x, length)
    assert cf.shape == (3, 7, 6, 12)
    assert torch.allclose(cf.double(), ref.double(), atol=1e-5, rtol=0)
    assert ref.abs().max() > 1e-2                            # a non-trivial Jacobian was compared
    # zero after each length; chunking does not change the result
    assert cf[1, 5:].abs().max() == 0 and cf[2, 1:].abs().max() == 0
    assert torch.allclose(S.local_jacobian(m, x, length, chunk_size=1), cf, atol=1e-6, rtol=0)


@pytest.mark.fast
@pytest.mark.parametrize("cell,layers", CASES)
@pytest.mark.parametrize("gate", list(R.GATES))
def test_closed_form_uses_the_gate_derivative(cell, layers, gate):
    """Eq. 1 in closed form equals torch.autograd.functional.jacobian of one step of the stacked
    cells with every layer's previous state held, for torch's sigmoid and both hard sigmoids
    (whose derivative is 0.2 or 1/6 inside their linear range and 0 where they saturate)."""
    m = _model(cell, layers, gate=gate)
    x, length = _data()
    cf = S.local_jacobian(m, x, length)
    xf = x.flatten(2)
    states = R.sequence_states(m.rnn, xf, gate)
    weights = [R.layer_weights(m.rnn, k) for k in range(layers)]

    def one_step(n, t):
        def f(xt):
            inp = xt
            for w, st in zip(weights, states):
                h_prev, c_prev = st.previous()
                c = None if c_prev is None else c_prev[n, t]
                inp = R.cell_step(cell, w, inp, h_prev[n, t], c, gate).h
            return inp
        return f

    for n in range(3):
        for t in range(int(length[n])):
            ref = torch.autograd.functional.jacobian(one_step(n, t), xf[n, t])         # (H, D)
            torch.testing.assert_close(cf[n, t], ref, atol=1e-5, rtol=0)
    assert cf.abs().max() > 1e-2
    if gate != "sigmoid":            # both branches of the hard sigmoid's derivative were compared
        g = R.frame_steps(m.rnn, xf, states, gate)[0].gates
        vals = torch.cat([g[k].flatten() for k in (("i", "f", "o") if cell == "lstm" else ("r", "z"))])
        assert ((vals == 0) | (vals == 1)).any() and ((vals > 0) & (vals < 1)).any()


@pytest.mark.fast
def test_closed_form_is_not_through_time():
    """The local derivative holds h_{t-1} fixed: it differs from the full derivative of h_t w.r.t. x_t
    only through ... nothing at the same step, but differs from d h_t / d x_{t-1} (which it ignores)."""
    m = _model("lstm", 1)
    x, length = _data(N=1, T=4)
    local = S.local_jacobian(m, x, length)[0]                 # (T, H, D)
    xg = x.clone().requires_grad_(True)
    h = m.hidden_states(xg, length)[0]                         # (T, H)
    full = torch.stack([torch.autograd.grad(h[2, u], xg, retain_graph=True)[0][0].flatten(1)
                        for u in range(h.shape[1])])            # (H, T, D)
    assert torch.allclose(local[2], full[:, 2], atol=1e-10)    # same-step part identical
    assert full[:, 1].abs().max() > 1e-3                        # the earlier frame matters through time


def _numpy_sensitivity(m, x, length, floor=0.01):
    """Eq. 1-4 re-derived with numpy from the autograd Jacobian: (N, T, H, J)."""
    g = S.local_jacobian_autograd(m, x, length).numpy()       # (N, T, H, D)
    N, T, J, C = x.shape
    h = m.hidden_states(x, length).detach().numpy()
    out = np.zeros((N, T, g.shape[2], J))
    for n in range(N):
        L = int(length[n])
        sx = x[n, :L].numpy().std(0).reshape(-1)             # (D,)
        sh = h[n, :L].std(0)
        sh = np.maximum(sh, floor * sh.mean())
        sh = np.where(sh > 0, sh, 1.0)
        Sp = np.abs(g[n]) * sx[None, None, :] / sh[None, :, None]
        out[n] = Sp.reshape(T, -1, J, C).sum(-1)
    return out


@pytest.mark.fast
@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("gru", 2)])
def test_eq3_to_eq5_against_numpy(cell, layers):
    m = _model(cell, layers)
    x, length = _data()
    ref = _numpy_sensitivity(m, x, length)                     # (N, T, H, J)
    got = S.sensitivity(m, x, length).numpy()
    assert got.shape == ref.shape
    assert np.allclose(got, ref, atol=1e-9)
    units = [4, 0, 4]
    assert np.allclose(S.sensitivity(m, x, length, units=units).numpy(), ref[:, :, units], atol=1e-9)
    absW = m.classifier.weight.detach().abs().numpy()
    cls = np.array([2, 0, 1])
    ref_c = np.einsum("ntuj,nu->ntj", ref, absW[cls])          # Eq. 5
    assert np.allclose(S.class_sensitivity(m, x, length, cls).numpy(), ref_c, atol=1e-9)
    maps = S.saliency_maps(m, x, length, cls, units=units)
    assert np.allclose(maps.class_map, ref_c, atol=1e-6)
    assert np.allclose(maps.unit_maps, ref[:, :, units].transpose(0, 2, 1, 3), atol=1e-6)
    pred = m(x.flatten(2), length).argmax(1).numpy()
    assert np.array_equal(maps.predicted, pred)
    assert np.allclose(maps.pred_map, np.einsum("ntuj,nu->ntj", ref, absW[pred]), atol=1e-6)


@pytest.mark.fast
def test_zero_deviation_guard():
    m = _model("lstm", 1)
    x, length = _data(N=3)
    x[0, :, 1] = x[0, 0, 1]                                    # joint 1 never moves in sequence 0
    s = S.sensitivity(m, x, length)
    assert torch.isfinite(s).all()
    assert s[0, :, :, 1].abs().max() == 0                      # sigma_x = 0 -> S' = 0
    assert s[0, :, :, 0].abs().max() > 0
    # a one-frame sequence: every sigma is 0 -> S' = 0, never inf/NaN
    assert s[2].abs().max() == 0
    # a unit that never moves: sigma_h floored, finite and bounded by the unfloored maps' scale
    sh = S.sequence_std(m.hidden_states(x, length)[:1], length[:1])
    assert torch.isfinite(1.0 / S._hidden_std(torch.zeros(1, 7, 6, dtype=x.dtype), length[:1], 0.01)).all()
    assert sh.shape == (1, 6)


@pytest.mark.fast
@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("gru", 2)])
def test_through_time_equals_captum(cell, layers):
    captum = pytest.importorskip("captum.attr")
    m = _model(cell, layers, dtype=torch.float32)
    x, length = _data(N=4, dtype=torch.float32)
    label = torch.tensor([0, 2, 1, 1])
    ours = S.class_sensitivity(m, x, length, label, mode="through_time")
    sal = captum.Saliency(lambda inp: m(inp, length))
    ref = sal.attribute(x.clone().requires_grad_(True), target=label, abs=True).sum(-1)
    assert torch.allclose(ours, ref, atol=1e-7)
    assert ref.abs().max() > 0
    # unit mode: gradient of the last valid frame's h^u
    xg = x.clone().requires_grad_(True)
    hT = m.last_hidden(xg, length)
    g = torch.autograd.grad(hT[:, 3].sum(), xg)[0].abs().sum(-1)
    assert torch.allclose(S.sensitivity(m, x, length, units=[3], mode="through_time")[:, :, 0], g, atol=1e-7)


@pytest.mark.fast
def test_bad_input_names_both_sizes():
    m = _model("lstm", 1)
    x, length = _data()
    with pytest.raises(S.SaliencyInputError, match=r"H = 6 .*0\.\.5"):
        S.sensitivity(m, x, length, units=[6])
    with pytest.raises(S.SaliencyInputError, match=r"class index 3 .* 3 classes"):
        S.class_sensitivity(m, x, length, 3)
    with pytest.raises(S.SaliencyInputError, match=r"expects 12 inputs .* 5 x 3 = 15"):
        S.local_jacobian(m, torch.zeros(2, 7, 5, 3), length[:2])
    with pytest.raises(S.SaliencyInputError, match="mode must be one of"):
        S.sensitivity(m, x, length, mode="global")


@pytest.mark.fast
def test_top_units_by_classifier_weight():
    m = _model("lstm", 1, H=6, K=3)
    W = m.classifier.weight.detach().abs().numpy()
    u = S.top_units(m, 2)
    assert len(u) == len(set(u.tolist())) == 6
    for c in range(3):                                          # each class's strongest unit is in
        assert int(np.argmax(W[c])) in u
    assert int(np.argmax(W[0])) == u[0]


@pytest.mark.fast
def test_determinism_and_rng_untouched():
    m = _model("gru", 2, dtype=torch.float32)
    x, length = _data(dtype=torch.float32)
    torch.manual_seed(5)
    a = S.saliency_maps(m, x, length, [0, 1, 2])
    r1 = torch.rand(1)
    torch.manual_seed(5)
    b = S.saliency_maps(m, x, length, [0, 1, 2])
    assert torch.equal(r1, torch.rand(1))                       # the global RNG is not consumed
    assert np.array_equal(a.class_map, b.class_map) and np.array_equal(a.unit_maps, b.unit_maps)


@pytest.mark.fast
def test_write_read_roundtrip(tmp_path):
    m = _model("lstm", 1, dtype=torch.float32)
    x, length = _data(dtype=torch.float32)
    maps = S.saliency_maps(m, x, length, [0, 1, 2], units=[1, 2])
    S.write_saliency(tmp_path / "s.h5", maps, model="m.pt", data="d.h5")
    back = S.read_saliency(tmp_path / "s.h5")
    assert np.array_equal(back["class_map"], maps.class_map)
    assert back["unit_maps"].dtype == np.float32
    assert np.allclose(back["unit_maps"], maps.unit_maps, rtol=2e-3, atol=1e-7)
    assert back["attrs"]["mode"] == "local" and back["attrs"]["model"] == "m.pt"
    assert list(back["units"]) == [1, 2]




@pytest.mark.fast
@pytest.mark.parametrize("mode", ["local", "through_time"])
def test_planted_joint_ranked_first(planted, mode):
    m, x, length, y = planted
    cm = S.class_sensitivity(m, x, length, y, mode=mode).numpy()      # (N, T, J)
    per_joint = cm.sum((0, 1))
    assert int(np.argmax(per_joint)) == 2
    if mode == "local":
        assert (cm.sum(1).argmax(1) == 2).mean() > 0.8                # per sequence, too


@pytest.mark.fast
def test_faithfulness_measures(planted):
    m, x, length, y = planted
    cm = S.class_sensitivity(m, x, length, y).numpy()
    names = [f"j{k}" for k in range(5)]
    ms = F.mass_share(cm, y.numpy(), ["up", "down"], {"up": ["j2"], "down": ["j2"]}, names)
    ref = cm[:, :, 2].sum(1) / cm.sum((1, 2))
    assert np.isclose(ms["per_class"]["up"]["share"], ref[y.numpy() == 0].mean())
    assert ms["per_class"]["up"]["chance"] == pytest.approx(0.2)
    assert ms["mean_share"] > 1.2 * ms["mean_chance"]
    # freezing: frozen joints equal frame 0 on valid frames, the others untouched
    frozen = torch.zeros(len(x), 5, dtype=torch.bool)
    frozen[:, 2] = True
    xf = F.freeze_joints(x, length, frozen)
    assert torch.equal(xf[:, :, 2], x[:, :1, 2].expand_as(xf[:, :, 2])) and torch.equal(xf[:, :, 0], x[:, :, 0])
    d = F.deletion_curve(m, x, length, y, cm, random_orders=3)
    assert len(d["salient"]) == 6
    assert d["salient"][0] == pytest.approx(d["random"][0])           # nothing frozen: same model output
    assert d["salient"][-1] == pytest.approx(d["random"][-1], abs=1e-6)  # everything frozen
    assert d["salient"][1] < 0.7 < d["salient"][0]                     # freezing joint 2 kills the evidence
    assert d["auc_salient"] < d["auc_random"]


@pytest.mark.fast
def test_faithfulness_skips_without_ground_truth():
    from skelvis.datasets.store import Dataset
    m = _model("lstm", 1, J=4, dtype=torch.float32)
    x, length = _data(N=3, dtype=torch.float32)
    ds = Dataset(x=x.numpy(), length=length.numpy().astype(np.int32), label=np.array([0, 1, 2], np.int32),
                 subject=np.zeros(3, np.int32), split=np.array([1, 2, 2], np.int8),
                 sample_id=np.array(["a", "b", "c"]), classes=["a", "b", "c"], topology="kinect_v2", name="t")
    maps = S.saliency_maps(m, x, length, ds.label)
    res = F.evaluate_faithfulness(m, ds, maps.class_map, [f"j{k}" for k in range(4)],
                                 SaliencyConfig(deletion_random_orders=1))
    assert res["mass_share"] is None and "class_joints" in res["mass_share_skipped"]
    assert res["n"] == 3 and len(res["deletion"]["k"]) == 5


@pytest.mark.fast
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    m = _model("lstm", 2, dtype=torch.float32)
    x, length = _data(dtype=torch.float32)
    cpu = S.saliency_maps(m, x, length, [0, 1, 2])
    mc = m.to("cuda")
    gpu = S.saliency_maps(mc, x, length, [0, 1, 2])
    assert np.allclose(cpu.class_map, gpu.class_map, atol=1e-5)
    tt_cpu = S.class_sensitivity(m.cpu(), x, length, [0, 1, 2], mode="through_time")
    tt_gpu = S.class_sensitivity(m.to("cuda"), x.cuda(), length, [0, 1, 2], mode="through_time")
    assert torch.allclose(tt_cpu, tt_gpu.cpu(), atol=1e-5)


@pytest.mark.fast
def test_notebook_parameters_match_rule():
    """Every -p the rule passes is a parameter of the notebook (papermill would add unknown ones silently)."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    rule = (root / "workflow/rules/saliency.smk").read_text()
    passed = set(re.findall(r"-p (\w+) ", rule))
    nb = json.loads((root / "notebooks/02_saliency.ipynb").read_text())
    params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1
    names = set(re.findall(r"^(\w+) =", "".join(params[0]["source"]), re.MULTILINE))
    assert passed and passed <= names


@pytest.mark.slow
def test_rule_outputs_on_tiny_run(tiny_run):
    out = tiny_run / "results" / "tiny"
    ds = read_dataset(out / "data.h5")
    f = S.read_saliency(out / "saliency" / "lstm.h5", data=ds)
    N, T, J = ds.x.shape[:3]
    length = ds.length
    assert f["class_map"].shape == (N, T, J) and f["class_map"].dtype == np.float32
    assert f["pred_map"].shape == (N, T, J)
    K = len(f["units"])
    assert K >= 1 and f["unit_maps"].shape == (N, K, T, J)
    assert f["attrs"]["mode"] == "local"
    assert f["attrs"]["model"].endswith("model/lstm.pt") and f["attrs"]["data"].endswith("data.h5")
    cm = f["class_map"]
    pad = np.arange(T)[None, :] >= length[:, None]
    assert np.all(cm[pad] == 0) and np.all(f["unit_maps"].transpose(0, 2, 1, 3)[pad] == 0)
    assert np.isfinite(cm).all() and cm.max() > 0
    faith = json.loads((out / "saliency" / "lstm_faithfulness.json").read_text())
    assert faith["mass_share"]["per_class"] and faith["deletion"]["k"][-1] == J
    figs = out / "figures" / "lstm"
    for name in ("throw_kick", "confused_pair", "class_heatmaps", "unit_maps", "faithfulness"):
        assert (figs / f"02_{name}.png").stat().st_size > 5000
