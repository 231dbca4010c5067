import json

import numpy as np
import pytest
import torch
from torch import nn

from skelvis import autoencoder as ae
from skelvis.projection import fit_pca, knn_agreement, projection_quality, trustworthiness

FAST = {"hidden_layers": (64, 32), "batch_size": 64, "lr": 3e-3, "max_epochs": 25, "patience": 5, "noise": 0.05}


def _plane(n=800, H=20, seed=0):
    """A linear 2-D manifold embedded in H dimensions (orthonormal basis), labels by quadrant."""
    g = np.random.default_rng(seed)
    u = g.uniform(-1, 1, (n, 2))
    basis, _ = np.linalg.qr(g.normal(size=(H, 2)))
    X = (u @ basis.T + 0.3).astype(np.float32)
    label = (u[:, 0] > 0).astype(int) * 2 + (u[:, 1] > 0).astype(int)
    return X, u, label


@pytest.mark.fast
def test_redundant_steps_rule():
    h = np.zeros((10, 3))
    h[0] = 0.5                     # first step: change from the zero initial state
    h[1:3] = 0.5                   # still run after the first step -> redundant
    h[3] = [0.6, 0.5, 0.5]
    h[4] = h[3]                    # interior plateau: kept by 'ends', dropped by 'all'
    h[5] = [0.7, 0.4, 0.5]
    h[6:] = h[5]                   # trailing still run -> redundant
    ends = ae.redundant_steps(h, 1e-3, "ends")
    np.testing.assert_array_equal(np.flatnonzero(ends), [1, 2, 6, 7, 8, 9])
    np.testing.assert_array_equal(np.flatnonzero(ae.redundant_steps(h, 1e-3, "all")), [1, 2, 4, 6, 7, 8, 9])


@pytest.mark.fast
@pytest.mark.parametrize("scope", ["ends", "all"])
def test_redundant_step_removal_keeps_every_changing_step(scope):
    g = np.random.default_rng(1)
    for _ in range(50):
        T = int(g.integers(1, 30))
        h = g.normal(size=(T, 4)) * (g.random((T, 1)) < 0.6)  # many repeated (zero) rows
        h = np.cumsum(h, 0) * (g.random() < 0.5) + h
        red = ae.redundant_steps(h, 1e-3, scope)
        change = ae.step_changes(h)
        assert not red[0]
        assert not np.any(red & (change >= 1e-3)), "a step whose state changes was dropped"


@pytest.mark.fast
def test_training_vectors_counts_and_cap():
    hidden = np.zeros((3, 6, 2), np.float32)
    hidden[:, :, 0] = np.arange(6)[None] + 1.0
    hidden[0, 3:] = hidden[0, 2]           # sequence 0 ends with 3 repeats of step 2
    length = np.array([6, 4, 6])
    _v, c = ae.training_vectors(hidden, length, np.array([True, True, False]), 1e-3, "ends")
    assert c == {"valid_steps": 10, "kept_steps": 7, "used_vectors": 7}
    v2, c2 = ae.training_vectors(hidden, length, None, 1e-3, "ends", max_vectors=5, seed=3)
    assert len(v2) == 5 and c2["kept_steps"] == 13
    v3, _ = ae.training_vectors(hidden, length, None, 1e-3, "ends", max_vectors=5, seed=3)
    np.testing.assert_array_equal(v2, v3)


@pytest.mark.fast
@pytest.mark.parametrize("k", [2, 3])
def test_bottleneck_has_k_linear_units(k):
    m = ae.DenoisingAutoencoder(30, k, (600, 150))
    layers = list(m.encoder)
    assert isinstance(layers[-1], nn.Linear) and layers[-1].out_features == k
    assert [l.out_features for l in layers if isinstance(l, nn.Linear)] == [600, 150, k]
    assert [l.out_features for l in m.decoder if isinstance(l, nn.Linear)] == [150, 600, 30]
    assert isinstance(list(m.decoder)[-1], nn.Linear)
    # the code is an affine function of the last ReLU layer: f(a) + f(b) - f(0) == f(a + b) on that layer
    head = layers[-1]
    a, b = torch.randn(5, 150), torch.randn(5, 150)
    torch.testing.assert_close(head(a) + head(b) - head(torch.zeros(5, 150)), head(a + b), atol=1e-5, rtol=0)
    z = m.encode(torch.randn(200, 30))
    assert z.shape == (200, k) and (z < 0).any() and (z > 0).any()


@pytest.mark.fast
def test_display_transform_closed_form():
    z = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(ae.display_transform(z), [-np.log(4), -np.log(1.5), 0, np.log(1.5), np.log(4)])


@pytest.fixture(scope="module")
def plane_fit():
    torch.manual_seed(0)
    X, u, label = _plane()
    cfg = ae.AutoencoderConfig(seed=0, **FAST)
    model, hist, summary = ae.train_autoencoder(X, cfg, 2, progress=False)
    return X, u, label, model, hist, summary


@pytest.mark.fast
def test_reconstruction_far_below_mean_vector(plane_fit):
    _X, _u, _label, _model, hist, s = plane_fit
    assert s["validation_mse"] < 0.1 * s["mean_vector_mse"], s
    assert s["validation_vectors"] == 160 and s["train_vectors"] == 640  # the held-out fifth
    assert min(r["validation_mse"] for r in hist) == pytest.approx(s["validation_mse"], rel=1e-5)


@pytest.mark.fast
def test_quality_metrics_on_a_linear_plane(plane_fit):
    X, u, label, model, _, _ = plane_fit
    pca = fit_pca(X, 2)
    for name, f in (("pca", pca.transform), ("autoencoder", lambda x: ae.encode(model, x))):
        Y = f(X)
        assert trustworthiness(X, Y, 10) > 0.95, name
        assert knn_agreement(Y, label, 10) > 0.9, name
    # PCA recovers the plane exactly: trustworthiness and agreement equal those of the true coordinates
    assert trustworthiness(X, pca.transform(X), 10) == pytest.approx(trustworthiness(X, u, 10), abs=1e-9)
    q = projection_quality(X, X[:300], label[:300], {"pca": pca.transform}, n_neighbors=10, max_points=500)
    assert set(q) == {"pca", "hidden"} and q["pca"]["trustworthiness_steps"] > 0.99


@pytest.mark.fast
def test_knn_agreement_and_trustworthiness_hand_cases():
    g = np.random.default_rng(0)
    Y = np.concatenate([g.normal(0, 0.1, (30, 2)), g.normal(10, 0.1, (30, 2))])
    lab = np.repeat([0, 1], 30)
    assert knn_agreement(Y, lab, 5) == 1.0
    # labels independent of position: agreement near the chance level of 29/59 for balanced classes
    assert abs(knn_agreement(Y, g.permutation(lab), 5) - 0.5) < 0.2
    X = g.normal(size=(100, 6))
    assert trustworthiness(X, X, 5) == pytest.approx(1.0)
    assert trustworthiness(X, g.normal(size=(100, 2)), 5) < 0.7


@pytest.mark.fast
def test_seeded_and_resumable(tmp_path):
    X, _, _ = _plane(300, 12, seed=2)
    cfg = ae.AutoencoderConfig(seed=5, **dict(FAST, max_epochs=4, patience=10))
    full, hfull, _ = ae.train_autoencoder(X, cfg, 2, checkpoint=tmp_path / "a.pt", progress=False)
    again, _, _ = ae.train_autoencoder(X, cfg, 2, progress=False)
    ck = tmp_path / "b.pt"
    ae.train_autoencoder(X, cfg, 2, checkpoint=ck, stop_after_epoch=2, progress=False)   # "killed"
    resumed, hres, _ = ae.train_autoencoder(X, cfg, 2, checkpoint=ck, progress=False)
    assert len(hres) == 4 and [r["train_loss"] for r in hres] == [r["train_loss"] for r in hfull]
    for k, v in full.state_dict().items():
        torch.testing.assert_close(v, again.state_dict()[k], rtol=0, atol=0)
        torch.testing.assert_close(v, resumed.state_dict()[k], rtol=0, atol=0)
    other, _, _ = ae.train_autoencoder(X, ae.AutoencoderConfig(seed=6, **dict(FAST, max_epochs=4)), 2, progress=False)
    assert not torch.equal(other.encoder[0].weight, full.encoder[0].weight)
    ae.save_autoencoder(full, tmp_path / "m.pt")
    back = ae.load_autoencoder(tmp_path / "m.pt")
    np.testing.assert_array_equal(ae.encode(back, X), ae.encode(full, X))


@pytest.mark.fast
def test_early_stopping_stops():
    X, _, _ = _plane(200, 8)
    cfg = ae.AutoencoderConfig(seed=0, **dict(FAST, max_epochs=200, patience=2, lr=0.05))
    _, hist, s = ae.train_autoencoder(X, cfg, 2, progress=False)
    assert len(hist) < 200
    assert s["epochs_run"] - s["best_epoch"] == 2


@pytest.mark.fast
def test_paths_nan_after_length_and_last_codes(plane_fit, tmp_path):
    X, *_ , model, _, _ = plane_fit
    hidden = X[:60].reshape(6, 10, -1)
    length = np.array([10, 3, 7, 1, 10, 5])
    P = ae.extract_paths(model, hidden, length)
    assert P.shape == (6, 10, 2)
    valid = np.arange(10)[None] < length[:, None]
    assert np.isnan(P[~valid]).all() and np.isfinite(P[valid]).all()
    np.testing.assert_allclose(ae.last_codes(P, length), ae.encode(model, hidden[np.arange(6), length - 1]), atol=1e-6)
    acts = {"length": length, "label": np.arange(6) % 2, "split": np.zeros(6, np.int8),
            "predicted": np.arange(6) % 2, "sample_id": [f"s{i}" for i in range(6)], "classes": ["a", "b"]}
    ae.write_paths(tmp_path / "p.h5", P, acts, model="m", data="d")
    back = ae.read_paths(tmp_path / "p.h5")
    np.testing.assert_array_equal(back["path"], P)
    assert back["attrs"]["k"] == 2 and back["classes"] == ["a", "b"]


@pytest.mark.fast
def test_body_part_partition_on_synthetic_actions():
    from skelvis.datasets.synthetic import SyntheticConfig, generate
    from skelvis.normalize import normalize
    from skelvis.topology import KINECT_V2
    classes = ("kick", "hand_waving", "clapping")
    # without the planted cue (a raised left hand at the start of training kicks), which is no part of the action
    d = generate(SyntheticConfig(classes=classes, subjects=3, repetitions=1, seed=0, shortcut={"enabled": False}))
    d.x, _, _ = normalize(d.x, d.length, KINECT_V2, "ntu")
    names, per_class = ae.body_part_partition(d.x, d.length, d.label, 3, KINECT_V2.limb_groups, 0.5)
    got = {c: names[g] for c, g in zip(classes, per_class)}
    assert got["kick"] == "one leg" and got["hand_waving"] == "one arm" and got["clapping"] == "both arms"


@pytest.mark.fast
def test_proximity_pairs():
    codes = np.array([[0, 0], [0.1, 0], [5, 5], [5.5, 5], [20, 0]], float)
    label = np.array([0, 1, 2, 3, 4])
    pairs = ae.proximity_pairs(codes, label, 5, top=2)
    assert [(a, b) for a, b, _ in pairs] == [(0, 1), (2, 3)]
    assert [(a, b) for a, b, _ in ae.proximity_pairs(codes, label, 5, top=1, exclude=[(1, 0)])] == [(2, 3)]


@pytest.mark.slow
def test_workflow_hidden_state_outputs(tiny_run):
    from PIL import Image

    from skelvis.activations import read_activations
    r = tiny_run / "results" / "tiny"
    acts = read_activations(r / "activations" / "lstm.h5")
    assert acts["hidden"].shape[-1] == 16 and acts["attrs"]["model"].endswith("lstm.pt")
    for k in (2, 3):
        P = ae.read_paths(r / "autoencoder" / f"lstm_{k}d_paths.h5")
        model = ae.load_autoencoder(r / "autoencoder" / f"lstm_{k}d.pt")
        assert model.k == k and P["path"].shape[-1] == k
        last = acts["hidden"][np.arange(len(acts["length"])), acts["length"] - 1]
        np.testing.assert_allclose(ae.last_codes(P["path"], P["length"]), ae.encode(model, last), atol=1e-5)
        q = json.loads((r / "autoencoder" / f"lstm_{k}d_projection_quality.json").read_text())
        for method in ("autoencoder", "pca"):
            assert 0 <= q["quality"][method]["trustworthiness_steps"] <= 1
        assert q["autoencoder"]["validation_mse"] < q["autoencoder"]["mean_vector_mse"]
    figs = r / "figures" / "lstm"
    for name in ("paths", "paths_large", "last_step", "paths_3d", "body_parts", "pairs", "quality",
                 "misclassified_train", "misclassified_validation", "misclassified_test"):
        assert (figs / f"04_{name}.png").stat().st_size > 5000 and (figs / f"04_{name}.pdf").exists()
    gif = Image.open(figs / "04_animation.gif")
    assert gif.n_frames > 5
    assert (tiny_run / "results" / "tiny" / "reports" / "04_hidden_states_lstm.ipynb").exists()
