"""GRU and stacked layers through every stage (issue 9, part 5).

For each variant (1-layer LSTM as the paper, 1-layer GRU, 2-layer LSTM, 2-layer GRU) a tiny model
is trained on a tiny synthetic dataset, then each stage's public API is run on it and a property
that would break for a wrong treatment of the variant is asserted: the closed-form local Jacobian
against autograd (saliency), a rising response under the anatomical constraints (maximize),
hidden states of the chosen layer (activations), paths through code space (autoencoder), LRP
conservation through the stack (periods), and the SkeletonVis page built from the files.
"""
import json

import numpy as np
import pytest
import torch

from skelvis.datasets.prepare import prepare_dataset
from skelvis.models import accuracy_by_split, load_model, save_model
from skelvis.train import TrainConfig, train_classifier

pytestmark = pytest.mark.fast

VARIANTS = {"lstm": ("lstm", 1), "gru": ("gru", 1), "lstm2": ("lstm", 2), "gru2": ("gru", 2)}


@pytest.fixture(scope="module")
def tiny_ds():
    cfg = {"source": "synthetic", "reader": "synthetic", "normalization": "ntu", "max_frames": 20,
           "synthetic": {"classes": ["throw", "kick", "hand_waving"], "subjects": 6, "repetitions": 1,
                         "frames": 16, "split": [0.5, 0.25, 0.25]}}
    return prepare_dataset("tiny", cfg, seed=0)


@pytest.fixture(scope="module")
def models(tiny_ds):
    out = {}
    for name, (cell, layers) in VARIANTS.items():
        spec = {"cell": cell, "hidden_size": 8, "num_layers": layers, "dropout": 0.1 if layers > 1 else 0.0}
        model, hist = train_classifier(tiny_ds, spec, TrainConfig(epochs=2, batch_size=4, lr=0.01, seed=0),
                                       progress=False)
        out[name] = (model, hist)
    return out


@pytest.mark.parametrize("name", list(VARIANTS))
def test_train_and_reload(models, tiny_ds, tmp_path, name):
    model, hist = models[name]
    cell, layers = VARIANTS[name]
    assert model.cell == cell and model.num_layers == layers
    assert isinstance(model.rnn, torch.nn.GRU if cell == "gru" else torch.nn.LSTM)
    assert len(hist) == 2 and np.isfinite(hist[-1]["train_loss"])
    save_model(model, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt")
    assert back.spec() == model.spec()
    x = torch.from_numpy(tiny_ds.x[:3]).flatten(2)
    ln = torch.from_numpy(tiny_ds.length[:3].astype(np.int64))
    with torch.no_grad():
        torch.testing.assert_close(back(x, ln), model(x, ln))
        # hidden_states(layer) agrees with all_hidden_states for every layer
        hs = model.all_hidden_states(x, ln)
        for k in range(layers):
            torch.testing.assert_close(model.hidden_states(x, ln, layer=k), hs[k])
    assert set(accuracy_by_split(model, tiny_ds)) == {"train", "validation", "test"}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_saliency(models, tiny_ds, name):
    from skelvis import saliency

    model, _ = models[name]
    x = torch.from_numpy(tiny_ds.x[:2])
    ln = torch.from_numpy(tiny_ds.length[:2].astype(np.int64))
    jac = saliency.local_jacobian(model, x, ln)
    ref = saliency.local_jacobian_autograd(model, x, ln)
    torch.testing.assert_close(jac.double(), ref.double(), atol=1e-5, rtol=1e-4)
    S = saliency.sensitivity(model, x, ln, units=[0, 3])
    assert S.shape == (2, x.shape[1], 2, x.shape[2]) and bool((S >= 0).all())
    cs = saliency.class_sensitivity(model, x, ln, torch.from_numpy(tiny_ds.label[:2].astype(np.int64)))
    assert cs.shape == (2, x.shape[1], x.shape[2])
    maps = saliency.saliency_maps(model, x, ln, torch.from_numpy(tiny_ds.label[:2].astype(np.int64)), units=[1])
    assert maps.unit_maps.shape == (2, 1, x.shape[1], x.shape[2])


@pytest.mark.parametrize("name", list(VARIANTS))
def test_maximize(models, tiny_ds, name):
    from skelvis import constraints as C
    from skelvis.maximize import Target, activation_maximization
    from skelvis.topology import get_topology

    model, _ = models[name]
    cs = C.constraint_set(get_topology(tiny_ds.topology))
    i = int(np.flatnonzero(tiny_ds.label == 0)[0])
    for target in (Target("class", 0), Target("unit", 2, layer=0), Target("unit", 2, layer=-1)):
        res = activation_maximization(model, tiny_ds.x[[i]], tiny_ds.length[[i]], target, cs, constrained=True,
                                      iterations=3, step=0.05)
        assert res.snapshots.shape[:2] == (1, 4)
        assert res.response[0, -1] > res.response[0, 0], f"{name}: {target} response did not rise"
        assert res.max_bone_error[0, -1] < 1e-3


@pytest.mark.parametrize("name", list(VARIANTS))
def test_activations_and_autoencoder(models, tiny_ds, name):
    from skelvis.activations import compute_activations
    from skelvis.autoencoder import AutoencoderConfig, extract_paths, train_autoencoder, training_vectors
    from skelvis.settings import ActivationsConfig

    model, _ = models[name]
    for layer in range(-model.num_layers, model.num_layers):
        acts = compute_activations(model, tiny_ds, ActivationsConfig(layer=layer, batch_size=5))
        with torch.no_grad():
            ref = model.hidden_states(torch.from_numpy(tiny_ds.x).flatten(2),
                                      torch.from_numpy(tiny_ds.length.astype(np.int64)), layer=layer).numpy()
        np.testing.assert_allclose(acts["hidden"], ref, atol=1e-6)
    with pytest.raises(ValueError, match="out of range"):
        compute_activations(model, tiny_ds, ActivationsConfig(layer=model.num_layers))
    acts = compute_activations(model, tiny_ds, ActivationsConfig(layer=0))
    vec, _ = training_vectors(acts["hidden"], tiny_ds.length)
    ae, _hist, _ = train_autoencoder(vec, AutoencoderConfig(hidden_layers=(8,), max_epochs=2, batch_size=32), 2,
                                    progress=False)
    paths = extract_paths(ae, acts["hidden"], tiny_ds.length)
    valid = np.arange(paths.shape[1])[None] < tiny_ds.length[:, None]
    assert paths.shape == acts["hidden"].shape[:2] + (2,)
    assert np.all(np.isfinite(paths[valid])) and np.all(np.isnan(paths[~valid]))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_periods_and_relevance(models, tiny_ds, name):
    from skelvis.periods import PeriodsConfig, analyse_periods
    from skelvis.relevance import unit_relevance

    model, _ = models[name]
    for layer in (0, -1):
        an = analyse_periods(model, tiny_ds, PeriodsConfig(layer=layer, quantile=0.8, min_length=2, resample_length=4,
                                                           n_clusters=2, min_periods=3, n_units=1, mc_samples=3))
        assert len(an.periods) > 0 and an.units["n_clusters"].max() > 0
        assert an.summary["relevance_conservation_error_max"] < 1e-8
    r = unit_relevance(model, tiny_ds.x[:2], [0, 5], [5, 9], channels=3)
    assert r.relevance.shape == (2, tiny_ds.x.shape[1], tiny_ds.x.shape[2])
    assert r.conservation_error.max() < 1e-10
    with torch.no_grad():
        h = model.hidden_states(torch.from_numpy(tiny_ds.x[:2]).flatten(2),
                                torch.from_numpy(tiny_ds.length[:2].astype(np.int64)))
    np.testing.assert_allclose(r.output, h[[0, 1], [5, 9], [0, 5]].numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["gru", "lstm2"])
def test_viewer_page(models, tiny_ds, tmp_path, name):
    from skelvis import saliency
    from skelvis.datasets.store import write_dataset
    from skelvis.evaluate import evaluate_model, write_predictions
    from skelvis.viewer import build_payload

    model, _ = models[name]
    data = tmp_path / "data.h5"
    write_dataset(tiny_ds, data)
    pred = tmp_path / "pred.h5"
    write_predictions(evaluate_model(model, tiny_ds), tiny_ds, pred)
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"accuracy": accuracy_by_split(model, tiny_ds), "model": model.spec()}))
    sal = tmp_path / "sal.h5"
    maps = saliency.saliency_maps(model, torch.from_numpy(tiny_ds.x), torch.from_numpy(tiny_ds.length),
                                  torch.from_numpy(tiny_ds.label.astype(np.int64)), units=[0, 1])
    saliency.write_saliency(sal, maps)
    payload = build_payload(str(data), str(metrics), str(pred), saliency=str(sal), model_name=name)
    assert len(payload["sequences"]) > 0
    assert len(payload["units"]) == 2


def test_variant_comparison_helpers():
    from skelvis.plots import periods as hu

    # class x joint map: each sequence scaled to sum 1 over its valid frames, then averaged per class
    cm = np.zeros((3, 4, 2))
    cm[0, :2, 0] = 1.0          # class 0: all on joint 0 (frames after length 2 ignored below)
    cm[0, 2:, 1] = 100.0
    cm[1, :, 1] = 3.0           # class 0: all on joint 1
    cm[2, :, :] = 1.0           # class 1: half and half
    out = hu.class_joint_map(cm, np.array([2, 4, 4]), np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.5, 0.5]])
    out = hu.class_joint_map(cm, np.array([2, 4, 4]), np.array([0, 0, 1]), 2, mask=np.array([1, 0, 1], bool))
    np.testing.assert_allclose(out, [[1.0, 0.0], [0.5, 0.5]])
    assert hu.ground_truth_share(np.array([[3.0, 1.0]]), ["a"], ["j0", "j1"], {"a": ["j0"]}) == 0.75
    scipy_stats = pytest.importorskip("scipy.stats")
    a, b = np.random.default_rng(0).normal(size=(2, 30))
    assert hu.rank_agreement(a, b) == pytest.approx(scipy_stats.spearmanr(a, b)[0])
    assert hu.rank_agreement(a, 2 * a + 1) == pytest.approx(1.0)


@pytest.mark.slow
def test_variants_config_dag(workflow_copy):
    """config/variants.yaml validates and plans every stage for each of lstm, gru, lstm2 plus the
    comparison notebook; the default config does not plan the comparison."""
    from conftest import run_snakemake

    p = run_snakemake(workflow_copy, "-n", "--configfile", "config/variants.yaml")
    out = p.stdout
    for arch in ("lstm", "gru", "lstm2"):
        for path in (f"results/synthetic/saliency/{arch}.h5", f"results/synthetic/periods/{arch}.h5",
                     f"results/synthetic/maximize/{arch}.h5", f"results/synthetic/activations/{arch}.h5"):
            assert path in out, path
    assert "results/synthetic/reports/06_variants.ipynb" in out
    p = run_snakemake(workflow_copy, "-n")
    assert "06_variants" not in p.stdout
