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


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def keras_reference(x, kernel, rkernel, bias, dk, db):
    """Keras LSTM (tanh / sigmoid, gates i, f, c, o) then Dense softmax, float64 numpy."""
    H = rkernel.shape[0]
    h, c = np.zeros(H), np.zeros(H)
    for t in range(len(x)):
        z = x[t] @ kernel + h @ rkernel + bias
        i, f, g, o = _sigmoid(z[:H]), _sigmoid(z[H:2 * H]), np.tanh(z[2 * H:3 * H]), _sigmoid(z[3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
    logits = h @ dk + db
    e = np.exp(logits - logits.max())
    return e / e.sum()


def write_keras_h5(path, kernel, rkernel, bias, dk, db, recurrent_activation="sigmoid"):
    """The layout Keras 2 writes with model.save('m.h5')."""
    cfg = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "LSTM", "config": {"name": "lstm", "units": rkernel.shape[0], "activation": "tanh",
                                          "recurrent_activation": recurrent_activation}},
        {"class_name": "Dense", "config": {"name": "dense", "units": dk.shape[1], "activation": "softmax"}}]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(cfg)
        f.attrs["keras_version"] = "2.15.0"
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"lstm", b"dense"]
        g["lstm/lstm/lstm_cell/kernel:0"] = kernel
        g["lstm/lstm/lstm_cell/recurrent_kernel:0"] = rkernel
        g["lstm/lstm/lstm_cell/bias:0"] = bias
        g["dense/dense/kernel:0"] = dk
        g["dense/dense/bias:0"] = db


@pytest.mark.fast
def test_keras_h5(tmp_path):
    rng = np.random.default_rng(3)
    I, H, K = 12, 7, 5
    w = dict(kernel=rng.normal(0, 0.4, (I, 4 * H)).astype(np.float32),
             rkernel=rng.normal(0, 0.4, (H, 4 * H)).astype(np.float32),
             bias=rng.normal(0, 0.3, 4 * H).astype(np.float32),
             dk=rng.normal(0, 0.5, (H, K)).astype(np.float32), db=rng.normal(0, 0.1, K).astype(np.float32))
    write_keras_h5(tmp_path / "m.h5", **w)
    model = import_model(tmp_path / "m.h5")
    x = rng.normal(size=(4, 11, I)).astype(np.float32)
    length = np.array([11, 4, 7, 1])
    probs = torch.softmax(model(torch.from_numpy(x), torch.from_numpy(length)), 1).detach().numpy()
    ref = np.stack([keras_reference(x[i, :L].astype(np.float64), *(w[k].astype(np.float64) for k in
                                                                    ("kernel", "rkernel", "bias", "dk", "db")))
                    for i, L in enumerate(length)])
    np.testing.assert_allclose(probs, ref, atol=1e-5)
    # hard_sigmoid (old Keras default) cannot map onto torch's LSTM: refused, not approximated
    write_keras_h5(tmp_path / "old.h5", **w, recurrent_activation="hard_sigmoid")
    with pytest.raises(ModelImportError, match="hard_sigmoid"):
        import_model(tmp_path / "old.h5")


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
