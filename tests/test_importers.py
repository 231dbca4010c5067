"""import_model: each format proved numerically against the original model.

* state dict / TorchScript: the reference is the user's own torch module;
* Keras HDF5: the reference evaluates the stored weights with the Keras LSTM equations in numpy
  (i, f, c, o gates in one (input, 4H) kernel; h = o * tanh(c)), written here independently of
  skelvis.importers, followed by Dense + softmax.
"""
import json

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from skelvis.importers import ModelImportError, import_model, prepare_imported
from skelvis.models import RecurrentClassifier, load_model, save_model


class UserLSTM(nn.Module):
    """A user's model with its own names: encoder LSTM (time-major) + head."""

    def __init__(self, cell="lstm", layers=2):
        super().__init__()
        self.encoder = (nn.LSTM if cell == "lstm" else nn.GRU)(12, 10, num_layers=layers)
        self.norm_unused = nn.Identity()
        self.head = nn.Linear(10, 4)

    def forward(self, x):  # x (N, T, F), uses the last frame
        out, _ = self.encoder(x.transpose(0, 1))
        return self.head(out[-1])


def _x(n=5, t=9, f=12, seed=0):
    return torch.randn(n, t, f, generator=torch.Generator().manual_seed(seed))


@pytest.mark.fast
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_state_dict(tmp_path, cell):
    torch.manual_seed(0)
    user = UserLSTM(cell).eval()
    torch.save(user.state_dict(), tmp_path / "m.pt")
    (tmp_path / "spec.yaml").write_text("classes: [a, b, c, d]\ntopology: kinect_v2\n")
    model = import_model(tmp_path / "m.pt", tmp_path / "spec.yaml")
    assert isinstance(model, RecurrentClassifier) and model.cell == cell and model.num_layers == 2
    x = _x()
    length = torch.tensor([9, 3, 5, 1, 9])
    got = model(x, length)
    ref = torch.stack([user(x[i:i + 1, :int(L)])[0] for i, L in enumerate(length)])
    assert torch.allclose(got, ref, atol=1e-5)
    h = model.hidden_states(x, length)
    assert h.shape == (5, 9, 10) and not h[1, 3:].any()
    assert model.meta["classes"] == ["a", "b", "c", "d"]
    # round trip through the skelvis model file keeps the numbers
    save_model(model, tmp_path / "s.pt")
    assert torch.allclose(load_model(tmp_path / "s.pt")(x, length), got, atol=0)


@pytest.mark.fast
def test_torchscript(tmp_path):
    torch.manual_seed(1)
    user = UserLSTM("lstm", layers=1).eval()
    torch.jit.save(torch.jit.script(user), tmp_path / "m.ts")
    model = import_model(tmp_path / "m.ts")
    x = _x(seed=2)
    assert torch.allclose(model(x, torch.full((5,), 9)), user(x), atol=1e-5)
    assert model.meta["import_format"] == "torchscript"


class NotRecurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(12, 4)

    def forward(self, x):
        return self.lin(x.mean(1))


@pytest.mark.fast
def test_torchscript_without_rnn_refused(tmp_path):
    torch.jit.save(torch.jit.script(NotRecurrent()), tmp_path / "m.ts")
    with pytest.raises(ModelImportError, match="recurrent"):
        import_model(tmp_path / "m.ts")


#: Keras' recurrent activations, as Keras defines them (numpy, independent of skelvis.rnn)
KERAS_ACTIVATIONS = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "hard_sigmoid": lambda z: np.clip(0.2 * z + 0.5, 0.0, 1.0),                 # Keras 1.x / 2.x backend
    "hard_sigmoid_keras3": lambda z: np.minimum(np.maximum(z + 3.0, 0.0), 6.0) / 6.0,  # Keras 3: relu6(x+3)/6
}


def keras_reference(x, lstms, dk, db, recurrent_activation="sigmoid"):
    """Keras LSTM layers (activation tanh, gates i, f, c, o in one kernel; c = f c + i tanh(z_c),
    h = o tanh(c)), stacked, then Dense softmax on the last frame; float64 numpy, x (T, I)."""
    sig = KERAS_ACTIVATIONS[recurrent_activation]
    seq = np.asarray(x, np.float64)
    for kernel, rkernel, bias in lstms:
        H = rkernel.shape[0]
        h, c, out = np.zeros(H), np.zeros(H), []
        for t in range(len(seq)):
            z = seq[t] @ kernel + h @ rkernel + bias
            i, f, zc, o = z[:H], z[H:2 * H], z[2 * H:3 * H], z[3 * H:]
            c = sig(f) * c + sig(i) * np.tanh(zc)
            h = sig(o) * np.tanh(c)
            out.append(h)
        seq = np.stack(out)
    logits = seq[-1] @ dk + db
    e = np.exp(logits - logits.max())
    return e / e.sum()


def write_keras_h5(path, kernel, rkernel, bias, dk, db, recurrent_activation="sigmoid", keras_version="2.15.0"):
    """The layout tf.keras 2.x writes with model.save('m.h5') (one LSTM, cell sub-group)."""
    cfg = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "LSTM", "config": {"name": "lstm", "units": rkernel.shape[0], "activation": "tanh",
                                          "recurrent_activation": recurrent_activation}},
        {"class_name": "Dense", "config": {"name": "dense", "units": dk.shape[1], "activation": "softmax"}}]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(cfg)
        f.attrs["keras_version"] = keras_version
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"lstm", b"dense"]
        g["lstm/lstm/lstm_cell/kernel:0"] = kernel
        g["lstm/lstm/lstm_cell/recurrent_kernel:0"] = rkernel
        g["lstm/lstm/lstm_cell/bias:0"] = bias
        g["dense/dense/kernel:0"] = dk
        g["dense/dense/bias:0"] = db


def _keras21_lstm_config(name, units, return_sequences, recurrent_activation, batch_input_shape=None):
    c = {"name": name, "trainable": True, "return_sequences": return_sequences, "return_state": False,
         "go_backwards": False, "stateful": False, "unroll": False, "units": units, "activation": "tanh",
         "recurrent_activation": recurrent_activation, "use_bias": True,
         "kernel_initializer": {"class_name": "VarianceScaling",
                                "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
         "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}},
         "bias_initializer": {"class_name": "Zeros", "config": {}}, "unit_forget_bias": True,
         "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
         "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
         "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 1}
    if batch_input_shape:
        c = {"name": name, "trainable": True, "batch_input_shape": batch_input_shape, "dtype": "float32",
             **{k: v for k, v in c.items() if k not in ("name", "trainable")}}
    return {"class_name": "LSTM", "config": c}


def write_keras21_h5(path, lstms, dk, db, frames, recurrent_activation="hard_sigmoid"):
    """A Sequential Masking -> LSTM ... -> Dense(softmax) model in the exact layout Keras 2.1.6 (TensorFlow
    backend) writes with model.save('m.h5'): root attrs keras_version, backend, model_config (a
    Sequential's config is the list of its layers in Keras <= 2.1) and training_config;
    model_weights/<layer>/<layer>/<weight>:0 datasets listed by each layer group's weight_names
    attr (empty for Masking), layer_names on model_weights; optimizer_weights beside it."""
    I = lstms[0][0].shape[0]
    names = ["masking_1"] + [f"lstm_{k + 1}" for k in range(len(lstms))] + ["dense_1"]
    layers = [{"class_name": "Masking", "config": {"name": "masking_1", "trainable": True,
                                                   "batch_input_shape": [None, frames, I], "dtype": "float32",
                                                   "mask_value": 0.0}}]
    for k, (_, rk, _) in enumerate(lstms):
        layers.append(_keras21_lstm_config(names[k + 1], rk.shape[0], k < len(lstms) - 1, recurrent_activation))
    layers.append({"class_name": "Dense", "config": {
        "name": "dense_1", "trainable": True, "units": dk.shape[1], "activation": "softmax", "use_bias": True,
        "kernel_initializer": {"class_name": "VarianceScaling",
                               "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}})
    training = {"optimizer_config": {"class_name": "Adam", "config": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                                                                      "decay": 0.0, "epsilon": 1e-07, "amsgrad": False}},
                "loss": "categorical_crossentropy", "metrics": ["accuracy"], "sample_weight_mode": None,
                "loss_weights": None}
    weights = {names[k + 1]: [("kernel:0", kk), ("recurrent_kernel:0", rk), ("bias:0", b)]
               for k, (kk, rk, b) in enumerate(lstms)}
    weights["masking_1"] = []
    weights["dense_1"] = [("kernel:0", dk), ("bias:0", db)]
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.1.6"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": layers}).encode("utf8")
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [n.encode("utf8") for n in names]
        mw.attrs["backend"] = b"tensorflow"
        mw.attrs["keras_version"] = b"2.1.6"
        for name in names:
            g = mw.create_group(name)
            wnames = [f"{name}/{w}".encode() for w, _ in weights[name]]
            g.attrs["weight_names"] = wnames
            for wn, (_, val) in zip(wnames, weights[name]):
                d = g.create_dataset(wn, val.shape, dtype=val.dtype)
                d[:] = val
        f.attrs["training_config"] = json.dumps(training).encode("utf8")
        ow = f.create_group("optimizer_weights")
        onames = [b"training/Adam/Variable:0", b"training/Adam/Variable_1:0"]
        ow.attrs["weight_names"] = onames
        ow.create_dataset(onames[0], data=np.zeros_like(lstms[0][0]))
        ow.create_dataset(onames[1], data=np.zeros_like(dk))


def _keras_weights(rng, I, H, K, layers=1, scale=0.4):
    lstms = []
    for k in range(layers):
        lstms.append((rng.normal(0, scale, (I if k == 0 else H, 4 * H)).astype(np.float32),
                      rng.normal(0, scale, (H, 4 * H)).astype(np.float32),
                      rng.normal(0, 0.3, 4 * H).astype(np.float32)))
    return lstms, rng.normal(0, 0.5, (H, K)).astype(np.float32), rng.normal(0, 0.1, K).astype(np.float32)


def _imported_probs(model, x, length):
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(x), torch.from_numpy(length)), 1).numpy()


@pytest.mark.fast
def test_keras_h5(tmp_path):
    rng = np.random.default_rng(3)
    I, H, K = 12, 7, 5
    (lstm,), dk, db = _keras_weights(rng, I, H, K)
    w = {"kernel": lstm[0], "rkernel": lstm[1], "bias": lstm[2], "dk": dk, "db": db}
    write_keras_h5(tmp_path / "m.h5", **w)
    model = import_model(tmp_path / "m.h5")
    assert model.gate == "sigmoid"
    x = rng.normal(size=(4, 11, I)).astype(np.float32)
    length = np.array([11, 4, 7, 1])
    ref = np.stack([keras_reference(x[i, :L], [lstm], dk, db) for i, L in enumerate(length)])
    np.testing.assert_allclose(_imported_probs(model, x, length), ref, atol=1e-5)
    # an activation no gate of ours is: refused with the layer and the activation named
    write_keras_h5(tmp_path / "relu.h5", **w, recurrent_activation="relu")
    with pytest.raises(ModelImportError, match="lstm uses recurrent_activation 'relu'"):
        import_model(tmp_path / "relu.h5")


@pytest.mark.fast
def test_keras21_hard_sigmoid_model(tmp_path):
    """A stacked LSTM saved by Keras 2.1 (hard_sigmoid gates, list-style Sequential config, a
    Masking layer, optimizer weights) imports with the Keras-2 hard sigmoid; its class
    probabilities equal the Keras equations in numpy within 1e-5."""
    rng = np.random.default_rng(4)
    I, H, K, T = 12, 7, 5, 11
    lstms, dk, db = _keras_weights(rng, I, H, K, layers=2, scale=0.6)
    write_keras21_h5(tmp_path / "k21.h5", lstms, dk, db, T)
    model = import_model(tmp_path / "k21.h5")
    assert model.gate == "hard_sigmoid_keras2" and model.num_layers == 2 and model.meta["import_format"] == "keras"
    x = rng.normal(size=(5, T, I)).astype(np.float32)
    length = np.array([11, 4, 7, 1, 9])
    x[np.arange(T)[None, :] >= length[:, None]] = 0.0                    # Keras' masked padding
    ref = np.stack([keras_reference(x[i, :L], lstms, dk, db, "hard_sigmoid") for i, L in enumerate(length)])
    got = _imported_probs(model, x, length)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    # the test can tell the gates apart: gates saturate, and torch's sigmoid would differ
    z = x[0] @ lstms[0][0] + lstms[0][2]
    assert (np.abs(z) > 2.5).any() and (np.abs(z) < 2.5).any()
    ref_sig = np.stack([keras_reference(x[i, :L], lstms, dk, db, "sigmoid") for i, L in enumerate(length)])
    assert np.abs(ref_sig - ref).max() > 1e-3                              # 100x the tolerance
    # the gate survives the skelvis model file
    save_model(model, tmp_path / "s.pt")
    back = load_model(tmp_path / "s.pt")
    assert back.gate == "hard_sigmoid_keras2"
    np.testing.assert_allclose(_imported_probs(back, x, length), got, atol=0)


@pytest.mark.fast
def test_keras3_hard_sigmoid_is_relu6(tmp_path):
    rng = np.random.default_rng(5)
    I, H, K = 12, 6, 4
    (lstm,), dk, db = _keras_weights(rng, I, H, K, scale=0.8)
    write_keras_h5(tmp_path / "k3.h5", *lstm, dk, db, recurrent_activation="hard_sigmoid", keras_version="3.3.3")
    model = import_model(tmp_path / "k3.h5")
    assert model.gate == "hard_sigmoid_keras3"
    x = rng.normal(size=(3, 9, I)).astype(np.float32)
    length = np.array([9, 5, 2])
    ref = np.stack([keras_reference(x[i, :L], [lstm], dk, db, "hard_sigmoid_keras3") for i, L in enumerate(length)])
    np.testing.assert_allclose(_imported_probs(model, x, length), ref, atol=1e-5)
    ref2 = np.stack([keras_reference(x[i, :L], [lstm], dk, db, "hard_sigmoid") for i, L in enumerate(length)])
    assert np.abs(ref2 - ref).max() > 1e-3                                  # Keras 2 and 3 differ


@pytest.mark.fast
def test_prepare_imported_checks_data(tmp_path):
    from skelvis.datasets.store import Dataset
    torch.manual_seed(0)
    user = UserLSTM("lstm", 1).eval()
    torch.save(user.state_dict(), tmp_path / "m.pt")
    x = np.random.default_rng(0).normal(size=(6, 5, 4, 3)).astype(np.float32)
    ds = Dataset(x=x, length=np.full(6, 5, np.int32), label=np.arange(6) % 4, subject=np.arange(6),
                 split=np.array([0, 0, 0, 1, 2, 2], np.int8), sample_id=np.array(list("abcdef")),
                 classes=list("wxyz"), topology="kinect_v2", name="d")
    model, acc, hist = prepare_imported(tmp_path / "m.pt", None, ds)
    assert model.meta["classes"] == list("wxyz") and set(acc) == {"train", "validation", "test"}
    pred = user(torch.from_numpy(x.reshape(6, 5, 12))).argmax(1).numpy()
    assert acc["train"] == pytest.approx(float((pred[:3] == ds.label[:3]).mean()))
    assert hist[0]["epoch"] == 0 and "train_loss" in hist[0]
    ds.x = x[..., :2]
    with pytest.raises(ModelImportError, match="J\\*C"):
        prepare_imported(tmp_path / "m.pt", None, ds)


@pytest.mark.fast
def test_pickled_module_refused(tmp_path):
    torch.save(UserLSTM(), tmp_path / "whole.pt")  # a pickled nn.Module, not a state dict
    with pytest.raises(ModelImportError, match="weights_only"):
        import_model(tmp_path / "whole.pt")


@pytest.mark.slow
@pytest.mark.workflow
def test_imported_model_skips_train(tmp_path):
    """models.<arch>.import: rule import_model replaces train; evaluate runs on the imported weights."""
    import yaml
    from conftest import copy_workflow, run_snakemake

    from skelvis.datasets.store import read_dataset

    wd = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "tests/configs/tiny.yaml").read_text())
    run_snakemake(wd, "results/tiny/data.h5", "--configfile", "tests/configs/tiny.yaml")
    ds = read_dataset(wd / "results/tiny/data.h5")
    torch.manual_seed(0)
    user = nn.Module()
    user.lstm = nn.LSTM(75, 8, batch_first=True)
    user.fc = nn.Linear(8, len(ds.classes))
    torch.save(user.state_dict(), wd / "mine.pt")
    cfg["archs"] = ["mine"]
    cfg["models"]["mine"] = {"import": "mine.pt", "spec": {"hidden_size": 8}}
    (wd / "config/imported.yaml").write_text(yaml.safe_dump(cfg))
    p = run_snakemake(wd, "results/tiny/model/mine/confusion.csv", "--configfile", "config/imported.yaml")
    assert "import_model" in p.stdout + p.stderr
    assert not (wd / "logs/tiny/train/mine.log").exists()
    model = load_model(wd / "results/tiny/model/mine.pt")
    x = torch.from_numpy(ds.x).flatten(2)
    length = torch.from_numpy(ds.length.astype(np.int64))
    out, _ = user.lstm(x)
    ref = user.fc(out[torch.arange(len(x)), length - 1])
    assert torch.allclose(model(x, length), ref, atol=1e-5)
    metrics = json.loads((wd / "results/tiny/model/mine/metrics.json").read_text())
    assert metrics["imported_from"] == "mine.pt" and metrics["epochs"] == 0


@pytest.mark.slow
@pytest.mark.workflow
def test_keras21_hard_sigmoid_model_runs_every_stage(tmp_path):
    """A Keras 2.1 hard-sigmoid LSTM imported through models.<arch>.import: the whole DAG runs on
    it (every declared output exists), the imported weights give the Keras numbers, and the
    saliency and maximisation results are finite."""
    import yaml
    from conftest import copy_workflow, run_snakemake

    from skelvis.datasets.store import read_dataset
    from skelvis.maximize import read_maximization
    from skelvis.saliency import read_saliency

    wd = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "tests/configs/tiny.yaml").read_text())
    run_snakemake(wd, "results/tiny/data.h5", "--configfile", "tests/configs/tiny.yaml")
    ds = read_dataset(wd / "results/tiny/data.h5")
    N, T, J, C = ds.x.shape
    lstms, dk, db = _keras_weights(np.random.default_rng(7), J * C, 8, len(ds.classes), scale=0.5)
    write_keras21_h5(wd / "keras21.h5", lstms, dk, db, T)
    cfg["archs"] = ["keras21"]
    cfg["models"]["keras21"] = {"import": "keras21.h5"}
    (wd / "config/keras21.yaml").write_text(yaml.safe_dump(cfg))
    run_snakemake(wd, "--configfile", "config/keras21.yaml")
    p = run_snakemake(wd, "--configfile", "config/keras21.yaml", "--summary", "--quiet")
    rows = [line.split("\t") for line in p.stdout.splitlines()[1:] if "\t" in line]
    assert rows and not [r[0] for r in rows if not (wd / r[0]).exists()]
    assert any("saliency/keras21.h5" in r[0] for r in rows) and any("periods/keras21.h5" in r[0] for r in rows)
    model = load_model(wd / "results/tiny/model/keras21.pt")
    assert model.gate == "hard_sigmoid_keras2"
    x = ds.x.reshape(N, T, J * C)[:4]
    ref = np.stack([keras_reference(x[i, :L], lstms, dk, db, "hard_sigmoid") for i, L in enumerate(ds.length[:4])])
    np.testing.assert_allclose(_imported_probs(model, x, ds.length[:4].astype(np.int64)), ref, atol=1e-5)
    sal = read_saliency(wd / "results/tiny/saliency/keras21.h5")
    for k in ("class_map", "pred_map", "unit_maps"):
        assert np.isfinite(sal[k]).all(), k
    assert sal["class_map"].max() > 0
    groups = read_maximization(wd / "results/tiny/maximize/keras21.h5")
    assert groups
    for g in groups:
        for run in ("constrained", "unconstrained"):
            assert np.isfinite(g[run]["snapshots"]).all() and np.isfinite(g[run]["response"]).all()
