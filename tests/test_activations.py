import numpy as np
import pytest
import torch

from skelvis.activations import compute_activations, read_activations, resolve_layer, write_activations
from skelvis.datasets.synthetic import SyntheticConfig, generate
from skelvis.models import build_model
from skelvis.settings import ActivationsConfig


@pytest.fixture(scope="module")
def ds():
    return generate(SyntheticConfig(classes=("throw", "kick", "bow"), subjects=3, repetitions=1, frames=14,
                                    max_frames=18, seed=0))


def _model(ds, cell, layers):
    torch.manual_seed(0)
    return build_model({"input_size": int(np.prod(ds.x.shape[2:])), "hidden_size": 7, "num_classes": 3,
                        "cell": cell, "num_layers": layers}).eval()


@pytest.mark.fast
@pytest.mark.parametrize("cell,layers,layer", [("lstm", 1, -1), ("gru", 2, 0), ("lstm", 2, -1), ("lstm", 3, 1)])
def test_hidden_states_are_the_models_and_zero_after_length(ds, cell, layers, layer):
    m = _model(ds, cell, layers)
    out = compute_activations(m, ds, ActivationsConfig(layer=layer, batch_size=4))  # batches must not change anything
    x = torch.from_numpy(ds.x).flatten(2)
    length = torch.from_numpy(ds.length.astype(np.int64))
    with torch.no_grad():
        ref = m.all_hidden_states(x, length)[layer].numpy()  # independent path: every layer run alone
        pred = m(x, length).argmax(1).numpy()
    np.testing.assert_allclose(out["hidden"], ref, atol=1e-5)
    assert out["layer"] == resolve_layer(layer, layers)
    np.testing.assert_array_equal(out["predicted"], pred)
    T = ds.x.shape[1]
    after = np.arange(T)[None, :] >= ds.length[:, None]
    assert after.any() and np.all(out["hidden"][after] == 0)
    assert np.all(np.abs(out["hidden"][~after]).max(-1) > 0)


@pytest.mark.fast
def test_roundtrip_and_attrs(ds, tmp_path):
    m = _model(ds, "gru", 2)
    out = compute_activations(m, ds, ActivationsConfig(layer=-1))
    p = tmp_path / "a.h5"
    write_activations(p, ds, out["hidden"], out["predicted"], out["layer"], model="m.pt", data="d.h5",
                      num_layers=2, cell="gru")
    back = read_activations(p)
    assert back["hidden"].dtype == np.float32 and back["hidden"].shape == ds.x.shape[:2] + (7,)
    np.testing.assert_array_equal(back["hidden"], out["hidden"])
    for k in ("length", "label", "split"):
        np.testing.assert_array_equal(back[k], getattr(ds, k))
    assert list(back["sample_id"]) == list(ds.sample_id)
    assert back["attrs"]["model"] == "m.pt" and back["attrs"]["data"] == "d.h5" and back["attrs"]["layer"] == 1
    assert back["classes"] == list(ds.classes)
    assert "hidden" not in read_activations(p, hidden=False)


@pytest.mark.fast
def test_layer_out_of_range_names_the_key():
    with pytest.raises(ValueError, match="activations.layer"):
        resolve_layer(2, 2)
    with pytest.raises(ValueError, match="activations.layer"):
        resolve_layer(-3, 2)
    assert resolve_layer(-2, 2) == 0
