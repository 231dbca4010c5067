import pytest
import torch

from skelvis.datasets.synthetic import SyntheticConfig, generate
from skelvis.models import accuracy_by_split
from skelvis.normalize import normalize
from skelvis.topology import KINECT_V2
from skelvis.train import TrainConfig, train_classifier

SPEC = {"cell": "lstm", "hidden_size": 12, "num_layers": 1, "dropout": 0.0}


@pytest.fixture(scope="module")
def ds():
    d = generate(SyntheticConfig(classes=("throw", "kick", "bow"), subjects=8, repetitions=2, frames=20,
                                 max_frames=24, seed=0))
    d.x, d.scale, d.normalization = normalize(d.x, d.length, KINECT_V2, "ntu")
    return d


def _cfg(**kw):
    base = {"epochs": 4, "batch_size": 8, "lr": 0.01, "lr_decay_epochs": 2, "seed": 3}
    base.update(kw)
    return TrainConfig(**base)


def _weights(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


@pytest.mark.fast
def test_same_seed_same_weights_and_metrics(ds):
    a, ha = train_classifier(ds, SPEC, _cfg(), progress=False)
    b, hb = train_classifier(ds, SPEC, _cfg(), progress=False)
    for k, v in _weights(a).items():
        torch.testing.assert_close(v, _weights(b)[k], rtol=0, atol=0)
    assert [r["train_loss"] for r in ha] == [r["train_loss"] for r in hb]
    c, _ = train_classifier(ds, SPEC, _cfg(seed=4), progress=False)
    assert not torch.equal(_weights(a)["rnn.weight_ih_l0"], _weights(c)["rnn.weight_ih_l0"])


@pytest.mark.fast
def test_resume_after_kill_gives_the_uninterrupted_weights(ds, tmp_path):
    full, hfull = train_classifier(ds, SPEC, _cfg(), checkpoint=tmp_path / "a.pt", progress=False)
    ck = tmp_path / "b.pt"
    train_classifier(ds, SPEC, _cfg(), checkpoint=ck, stop_after_epoch=2, progress=False)  # "killed"
    assert ck.exists()
    resumed, hres = train_classifier(ds, SPEC, _cfg(), checkpoint=ck, progress=False)
    assert len(hres) == 4
    for k, v in _weights(full).items():
        torch.testing.assert_close(v, _weights(resumed)[k], rtol=0, atol=0)
    assert [r["train_loss"] for r in hfull] == [r["train_loss"] for r in hres]


@pytest.mark.fast
def test_checkpoint_from_other_settings_is_ignored(ds, tmp_path):
    ck = tmp_path / "c.pt"
    train_classifier(ds, SPEC, _cfg(epochs=2), checkpoint=ck, progress=False)
    fresh, _ = train_classifier(ds, SPEC, _cfg(lr=0.02, epochs=2), progress=False)
    via_ck, _ = train_classifier(ds, SPEC, _cfg(lr=0.02, epochs=2), checkpoint=ck, progress=False)
    torch.testing.assert_close(_weights(fresh)["classifier.weight"], _weights(via_ck)["classifier.weight"])


@pytest.mark.slow
def test_learns_the_synthetic_classes(ds):
    model, hist = train_classifier(ds, SPEC | {"hidden_size": 32}, _cfg(epochs=15, lr_decay_epochs=10), progress=False)
    acc = accuracy_by_split(model, ds)
    assert acc["validation"] >= 0.9, acc
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
