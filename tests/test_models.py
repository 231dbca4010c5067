import pytest
import torch

from skelvis.models import RecurrentClassifier, load_model, save_model

pytestmark = pytest.mark.fast


@pytest.fixture(params=[("lstm", 1), ("gru", 1), ("lstm", 2)], ids=["lstm", "gru", "lstm2"])
def model(request):
    torch.manual_seed(0)
    cell, layers = request.param
    return RecurrentClassifier(12, 8, 3, cell=cell, num_layers=layers).eval()


def _batch(n=4, T=9, d=12):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, T, d, generator=g)
    length = torch.tensor([9, 5, 1, 7])[:n]
    return x, length


def test_logits_come_from_the_last_valid_frame(model):
    x, length = _batch()
    h = model.hidden_states(x, length)
    assert h.shape == (4, 9, 8)
    expected = model.classifier(h[torch.arange(4), length - 1])
    torch.testing.assert_close(model(x, length), expected)
    # frames after length do not change the output
    x2 = x.clone()
    x2[1, 5:] = 100.0
    torch.testing.assert_close(model(x2, length), model(x, length))
    assert (h[1, 5:] == 0).all()


def test_layer_states_match_torch(model):
    x, length = _batch()
    states = model.all_hidden_states(x, length)
    assert len(states) == model.num_layers
    full = torch.ones_like(length) * 9
    torch.testing.assert_close(model.all_hidden_states(x, full)[-1], model.rnn(x)[0])
    torch.testing.assert_close(model.hidden_states(x, length, layer=0), states[0])


def test_save_load_round_trip_uses_weights_only(model, tmp_path):
    x, length = _batch()
    model.meta["classes"] = ["a", "b", "c"]
    save_model(model, tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)  # must not need pickle
    assert payload["format"] == "skelvis-model-1"
    back = load_model(tmp_path / "m.pt")
    torch.testing.assert_close(back(x, length), model(x, length))
    assert back.meta["classes"] == ["a", "b", "c"]


def test_input_size_mismatch_names_both_sizes(model):
    with pytest.raises(ValueError, match=r"\(N, T, 12\).*\(2, 3, 75\)"):
        model(torch.zeros(2, 3, 75), torch.tensor([3, 3]))


def test_bad_model_file(tmp_path):
    (tmp_path / "m.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="m.pt: not a loadable skelvis model"):
        load_model(tmp_path / "m.pt")


def test_layer_states_leave_the_global_rng_alone():
    torch.manual_seed(0)
    m = RecurrentClassifier(12, 8, 3, num_layers=2).eval()
    x, length = _batch()
    state = torch.get_rng_state()
    m.all_hidden_states(x, length)
    assert torch.equal(state, torch.get_rng_state())
