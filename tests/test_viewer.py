"""SkeletonVis page: payload contents, encoding, bounded size, and a real headless Chromium driving
every interaction of the page (issue 20) and asserting what is drawn.

Fixtures write small fake stage outputs (saliency of two methods, faithfulness, maximisation,
activations, 2-D paths, periods) through the stages' own writers, so these tests do not depend on
those stages; one slow test opens the page the workflow built on the tiny run.
"""
from __future__ import annotations

import base64
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d

from skelvis import viewer
from skelvis.activations import write_activations
from skelvis.autoencoder import write_paths
from skelvis.datasets.store import read_dataset
from skelvis.errors import ConfigError, DataFormatError
from skelvis.evaluate import read_predictions
from skelvis.faithfulness import write_faithfulness
from skelvis.maximize import MaximizationResult, Target, read_maximization_file, write_maximization
from skelvis.periods import (
    PeriodAnalysis,
    activation_mask,
    run_length_periods,
    unit_thresholds,
    write_periods,
)
from skelvis.saliency import SaliencyMaps, read_saliency, write_saliency

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
SCREENSHOTS = ROOT / "results" / "viewer_screenshots"
ITERATIONS = 4
UNITS = np.array([3, 7, 1])
HIDDEN = 16


# --------------------------------------------------------------------------- fixtures

def make_inputs(folder: Path, n_per_class=4, classes=("throw", "kick", "hand_waving"), T=20, seed=0,
                repetitions=1, hidden_size=HIDDEN):
    """data.h5, metrics.json, predictions.h5 of a small synthetic set (no training needed)."""
    from skelvis.datasets import synthetic
    from skelvis.datasets.store import write_dataset
    from skelvis.evaluate import Evaluation, write_predictions

    cfg = synthetic.SyntheticConfig(classes=list(classes), subjects=n_per_class, repetitions=repetitions, frames=T,
                                    max_frames=T + 4, split=[0.5, 0.25, 0.25], seed=seed)
    ds = synthetic.generate(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    write_dataset(ds, folder / "data.h5")
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(ds.x), len(classes))).astype(np.float32)
    logits[np.arange(len(ds.x)), ds.label] += 2.0
    logits[1, :] = 0
    logits[1, (ds.label[1] + 1) % len(classes)] = 5.0  # one sure mistake
    ev = Evaluation(logits=logits, predicted=logits.argmax(1).astype(np.int32))
    write_predictions(ev, ds, folder / "predictions.h5", model="m.pt", data="data.h5")
    metrics = {"accuracy": {"train": 0.9, "validation": 0.75, "test": 0.5},
               "model": {"hidden_size": hidden_size, "num_layers": 1, "cell": "lstm", "num_classes": len(classes)}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return ds


def make_fake_saliency(data_path: Path, out: Path, seed=1, mode="local", units=UNITS, smooth=0):
    """A saliency file written by the saliency stage's writer: class_map/pred_map (N,T,J),
    unit_maps (N,K,T,J), units (K,); zero beyond each length. The maps are random but distinct per
    map and seed, so switching targets or methods must change the drawn colours."""
    ds = read_dataset(data_path)
    n, T, J = ds.x.shape[:3]
    rng = np.random.default_rng(seed)
    mask = (np.arange(T)[None, :] < ds.length[:, None])[..., None]

    def field(*shape):  # white noise, or (smooth > 0, as real maps) a moving average over frames
        a = rng.random(shape, dtype=np.float32)
        return uniform_filter1d(a, smooth, axis=-2) if smooth else a
    maps = SaliencyMaps(class_map=(field(n, T, J) * mask).astype(np.float32),
                        pred_map=(field(n, T, J) * 2 * mask).astype(np.float32),
                        unit_maps=(field(n, len(units), T, J) * mask[:, None]).astype(np.float32),
                        units=np.asarray(units), predicted=ds.label.copy(), mode=mode)
    write_saliency(out, maps, model="m.pt", data=str(data_path))
    return read_saliency(out)


def make_fake_faithfulness(out: Path, share: float, auc: float):
    write_faithfulness({"split": "test", "n": 6, "mass_share": {"per_class": {}, "mean_share": share, "mean_chance": 0.2},
                        "deletion": {"k": [0, 1], "salient": [1, 0.5], "random": [1, 0.8], "auc_salient": auc,
                                     "auc_random": 0.8}}, out, model="m.pt", data="data.h5")


def make_fake_maximize(data_path: Path, out: Path, seed=2, iterations=ITERATIONS):
    """A maximisation file written by the maximize stage's writer: one target per class and one
    hidden unit, each run the sequence drifting a bit more each iteration (the unconstrained run
    three times as far)."""
    ds = read_dataset(data_path)
    rng = np.random.default_rng(seed)
    targets = [(Target("class", i, name=c), int(np.flatnonzero(ds.label == i)[0])) for i, c in enumerate(ds.classes)]
    targets.append((Target("unit", 7, name="favourite unit"), 0))
    idx = [r for _, r in targets]
    drift = rng.normal(size=(len(idx),) + ds.x.shape[1:]) * 0.02
    zeros = np.zeros((len(idx), iterations + 1))
    # start repairs: the first target's start broke limits in frames 2, 5 and 7 and the repair moved
    # every frame a little (frame 5 most); the others broke none and were moved by the bone lengths only
    T = ds.x.shape[1]
    repair = rng.uniform(0.002, 0.008, size=(len(idx), T)) * (np.arange(T)[None] < ds.length[idx][:, None])
    repair[0, [2, 5, 7]] = [0.03, 0.09, 0.02]
    lines = [["frame 2: spine_mid >= 160 deg by 3.10, hip_plane <= 90 deg by 12.00", "frame 5: hip_plane <= 90 deg by 1.50",
              "frame 7: support (a foot within 0.2 trunk lengths of the floor) by 0.0308"]] + [[] for _ in idx[1:]]

    def run(factor):
        snaps = np.stack([ds.x[idx] + factor * i * drift for i in range(iterations + 1)], 1).astype(np.float32)
        return MaximizationResult(snapshots=snaps, response=np.tile(np.linspace(0, factor, iterations + 1), (len(idx), 1)),
                                  max_bone_error=zeros, max_angle_violation_deg=zeros, max_floor_violation=zeros,
                                  max_acceleration=zeros, start_violations=lines, repair_displacement=repair)
    write_maximization(out, ds, [t for t, _ in targets], idx, run(1.0), run(3.0), None, model="m.pt",
                       data=str(data_path))
    return targets


def make_fake_hidden(data_path: Path, folder: Path, seed=3, hidden_size=HIDDEN, rel_units=(3, 7)):
    """activations.h5 (smooth waves per unit, so every unit has highly activated periods), the 2-D
    paths file (a distinct curve per sequence, NaN after length) and a periods file whose
    thresholds and periods are the periods module's own functions of those activations, with two
    relevance targets (random signed maps, a known frame spread)."""
    ds = read_dataset(data_path)
    n, T, J = ds.x.shape[:3]
    rng = np.random.default_rng(seed)
    t = np.arange(T)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, hidden_size))
    valid = (np.arange(T)[None, :] < ds.length[:, None])
    hidden = (np.sin(0.5 * t + phase) * valid[..., None]).astype(np.float32)
    write_activations(folder / "activations.h5", ds, hidden, ds.label, layer=0, num_layers=1, cell="lstm")
    ang = np.linspace(0, 2 * np.pi, T)[None, :]
    r = 1 + np.arange(n)[:, None] * 0.3
    codes = np.stack([r * np.cos(ang + 0.2 * ds.label[:, None]), r * np.sin(ang)], -1).astype(np.float32)
    codes[~valid] = np.nan
    acts = {"length": ds.length, "label": ds.label, "split": ds.split, "predicted": ds.label,
            "sample_id": ds.sample_id, "classes": ds.classes}
    write_paths(folder / "paths_2d.h5", codes, acts, model="m.pt", data=str(data_path))
    threshold = unit_thresholds(hidden, ds.length, 0.8)
    per = run_length_periods(activation_mask(hidden, ds.length, threshold), min_length=1)
    R = len(rel_units)
    rel_units, rel_samples = np.asarray(rel_units), np.linspace(0, n - 1, R).round().astype(int)
    mean = rng.normal(size=(R, T, J)).astype(np.float32) * valid[rel_samples][..., None]
    relevance = {"unit": rel_units, "cluster": np.arange(R) % 2, "period": np.arange(R), "sample": rel_samples,
                 "t": 3 + np.arange(R) % 2, "start": 1 + np.arange(R) % 2, "stop": 5 + np.arange(R) % 2,
                 "hidden": np.zeros((R, T, hidden_size), np.float32), "relevance": mean, "mean": mean,
                 "std": np.abs(mean) * 0.1, "std_frame": np.full((R, T), 0.25, np.float32),
                 "std_joint": np.zeros((R, J), np.float32), "output": np.ones(R), "absorbed_bias": np.zeros(R),
                 "absorbed_eps": np.zeros(R), "conservation_error": np.zeros(R)}
    P = len(per)
    units = {k: np.zeros(hidden_size) for k in ("n_periods", "n_clusters", "purity", "purity_one_cluster",
                                           "purity_shuffled", "clarity")}
    clusters = {"unit": np.zeros(0, int)}
    an = PeriodAnalysis(threshold, per, np.zeros(P, int), np.ones(P), np.ones(P), units, clusters, relevance,
                        summary={}, config={})
    write_periods(an, folder / "periods.h5", model="m.pt", data=str(data_path))
    return {"hidden": hidden, "codes": codes, "threshold": threshold, "periods": per, "relevance": relevance}


def write_all(folder: Path, n_per_class=4, T=20, classes=("throw", "kick", "hand_waving"), units=UNITS,
              iterations=ITERATIONS, hidden_size=HIDDEN, rel_units=(3, 7), repetitions=1, smooth=0):
    """Every input of the page, through the stages' writers (two attribution methods); the
    benchmark calls it with the default run's and the scale configuration's shapes."""
    ds = make_inputs(folder, n_per_class=n_per_class, T=T, classes=classes, repetitions=repetitions,
                     hidden_size=hidden_size)
    sal = make_fake_saliency(folder / "data.h5", folder / "saliency.h5", units=units, smooth=smooth)
    sal2 = make_fake_saliency(folder / "data.h5", folder / "saliency_tt.h5", seed=11, mode="through_time", units=units,
                              smooth=smooth)
    make_fake_faithfulness(folder / "faith.json", 0.61, 0.31)
    make_fake_faithfulness(folder / "faith_tt.json", 0.42, 0.52)
    targets = make_fake_maximize(folder / "data.h5", folder / "maximize.h5", iterations=iterations)
    hid = make_fake_hidden(folder / "data.h5", folder, hidden_size=hidden_size, rel_units=rel_units)
    args = {"data": folder / "data.h5", "metrics": folder / "metrics.json", "predictions": folder / "predictions.h5",
            "saliency": {"local": folder / "saliency.h5", "through_time": folder / "saliency_tt.h5"},
            "faithfulness": {"local": folder / "faith.json", "through_time": folder / "faith_tt.json"},
            "maximize": folder / "maximize.h5", "paths": folder / "paths_2d.h5",
            "activations": folder / "activations.h5", "periods": folder / "periods.h5"}
    return {"folder": folder, "ds": ds, "sal": sal, "sal2": sal2, "targets": targets, "hid": hid, "args": args}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_all(tmp_path_factory.mktemp("viewer_inputs"))


def blob_of(payload):
    return viewer.page_blob(payload)


# --------------------------------------------------------------------------- unit tests

@pytest.mark.fast
@pytest.mark.parametrize("kind", ["pos", "map", "signed"])
def test_encode_roundtrip_error_within_half_step(kind):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(7, 5, 3)) * 3
    if kind == "map":
        a = np.abs(a)
    enc = viewer.encode_array(a, kind)
    back = viewer.decode_array(enc)
    assert back.shape == a.shape
    assert np.abs(back - a).max() <= enc["step"] / 2 + 1e-12
    z = viewer.decode_array(viewer.encode_array(np.zeros((2, 2)), kind))  # all-zero: no division by 0
    assert np.all(z == 0)


@pytest.mark.fast
def test_vendored_javascript_is_the_pinned_release():
    """The inlined uPlot is what tools/vendor_js.py fetched for the version and npm integrity that
    viewer_assets/vendor.json pins (make setup runs it)."""
    assets = ROOT / "src" / "skelvis" / "viewer_assets"
    spec = json.loads((assets / "vendor.json").read_text())["packages"]["uplot"]
    assert (assets / "vendor" / "uplot.stamp").read_text().split() == [f"uplot@{spec['version']}", spec["integrity"]]
    js = (assets / "vendor" / "uPlot.iife.min.js").read_text()
    assert f"(v{spec['version']})" in js.splitlines()[0] and "var uPlot" in js


@pytest.mark.fast
def test_float32_encoding_is_exact_to_float32():
    a = np.random.default_rng(1).normal(size=(4, 6))
    enc = viewer.encode_array(a, "pos", encoding="float32")
    assert enc["dtype"] == "f4"
    np.testing.assert_array_equal(viewer.decode_array(enc), a.astype(np.float32))
    with pytest.raises(ValueError, match="encoding"):
        viewer.encode_array(a, "map", encoding="zip")


@pytest.mark.fast
def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="sequences_per_class"):
        viewer.ViewerConfig(sequences_per_class=0)
    with pytest.raises(ConfigError, match="splits"):
        viewer.ViewerConfig(splits=["holdout"])
    with pytest.raises(ConfigError, match="encoding"):
        viewer.ViewerConfig(encoding="rounded")


@pytest.mark.fast
def test_select_sequences_per_class_and_includes_a_mistake(inputs):
    ds = inputs["ds"]
    pred = read_predictions(inputs["args"]["predictions"])
    cfg = viewer.ViewerConfig(sequences_per_class=2)
    rows, why = viewer.select_sequences(ds, pred["predicted"], pred["probability"], cfg)
    labels = ds.label[rows]
    for c in range(ds.num_classes):
        assert (labels == c).sum() == min(2, (ds.label == c).sum())
    for r, w in zip(rows, why):
        assert (pred["predicted"][r] != ds.label[r]) == (w == "misclassified")
    # the planted mistake (sample 1) is kept when its class has room for two
    c1 = ds.label[1]
    if ds.split[1] in (1, 2) or not np.isin(ds.split[ds.label == c1], (1, 2)).any():
        assert 1 in rows
    assert len(set(rows.tolist())) == len(rows)
    again, _ = viewer.select_sequences(ds, pred["predicted"], pred["probability"], cfg)
    assert np.array_equal(rows, again)


@pytest.mark.fast
def test_payload_carries_every_view(inputs):
    payload = viewer.build_payload(**inputs["args"], cfg=viewer.ViewerConfig(sequences_per_class=2, max_units=2))
    blob = blob_of(payload)
    ds, sal, sal2, hid = inputs["ds"], inputs["sal"], inputs["sal2"], inputs["hid"]
    h = payload["header"]
    assert h["samples"] == len(ds.x) and h["num_classes"] == 3 and h["hidden_units"] == HIDDEN
    assert h["sensor"] == "Kinect v2" and h["accuracy"]["validation"] == 0.75
    # methods: both files, in order, each with its own maps and benchmark numbers
    assert [m["name"] for m in payload["methods"]] == ["local", "through_time"]
    assert payload["methods"][0]["benchmark"]["mass on the class's joints"] == 0.61
    assert payload["methods"][1]["benchmark"]["deletion AUC, salient order"] == 0.52
    # the periods stage's explained sequences (0 and N-1) come along, said why
    rows = [s["index"] for s in payload["sequences"]]
    assert len(ds.x) - 1 in rows and 0 in rows
    extra = {s["index"]: s["why"] for s in payload["sequences"] if s["why"] not in ("confident", "misclassified")}
    starts = {int(ds.sample_id.tolist().index(t.sample_id)) if hasattr(t, "sample_id") else r for t, r in inputs["targets"]}
    assert set(extra) <= {0, len(ds.x) - 1} | starts and starts <= set(rows)
    assert all(w in ("explained (periods stage)", "maximisation start") for w in extra.values())
    assert payload["selection"]["carried"] == len(rows) and str(len(ds.x)) in payload["selection"]["rule"]
    for i, s in enumerate(payload["sequences"]):
        r, L = s["index"], s["length"]
        assert L == ds.length[r]
        np.testing.assert_allclose(viewer.decode_array(s["pos"], blob), ds.x[r, :L], atol=s["pos"]["step"])
        for m, ref in zip(payload["methods"], (sal, sal2)):
            cm = m["maps"][i]["class_map"]
            np.testing.assert_allclose(viewer.decode_array(cm, blob), ref["class_map"][r, :L], atol=cm["step"] / 2 + 1e-7)
            um = viewer.decode_array(m["maps"][i]["unit_maps"], blob)
            np.testing.assert_allclose(um, ref["unit_maps"][r, :2, :L], atol=m["maps"][i]["unit_maps"]["step"] / 2 + 1e-7)
        # the map's path and the unit activations of this sequence
        p = viewer.decode_array(payload["map"]["paths"][i], blob)
        np.testing.assert_allclose(p, hid["codes"][r, :L], atol=payload["map"]["paths"][i]["step"])
        a = viewer.decode_array(payload["hidden"]["activation"][i], blob)
        units = payload["hidden"]["units"]
        np.testing.assert_allclose(a, hid["hidden"][r, :L][:, units], atol=payload["hidden"]["activation"][i]["step"])
    assert payload["units"][:2] == [3, 7] and 1 not in payload["units"]  # max_units=2 (7 maximised, 3 and 7 explained)
    # periods of carried sequences only, in page coordinates
    per = hid["periods"]
    want = {(rows.index(int(s)), payload["hidden"]["units"].index(int(u)), int(a), int(b))
            for s, u, a, b in zip(per.sample, per.unit, per.start, per.stop)
            if int(s) in rows and int(u) in payload["hidden"]["units"]}
    assert want and {tuple(p) for p in payload["hidden"]["periods"]} == want
    rel = payload["hidden"]["relevance"]
    assert [r["unit"] for r in rel] == [3, 7] and rel[0]["frame_std"][0] == 0.25
    np.testing.assert_allclose(rel[1]["frame_total"], hid["relevance"]["mean"][1, :ds.length[-1]].sum(-1), atol=1e-5)
    # maximisation: every variant, start + offsets reproduce the snapshots
    runs = payload["maxruns"]
    assert payload["variants"] == ["constrained", "unconstrained"]
    assert [r["label"] for r in runs] == [t.label for t, _ in inputs["targets"]]
    assert runs[-1]["target"] == {"kind": "unit", "index": 7}
    con = viewer.run_snapshots(runs[0]["runs"]["constrained"], blob)
    unc = viewer.run_snapshots(runs[0]["runs"]["unconstrained"], blob)
    assert con.shape[0] == ITERATIONS + 1
    dc, du = viewer.displacement(con), viewer.displacement(unc)
    assert np.allclose(dc[0], 0) and du[-1].mean() > 2 * dc[-1].mean()


def expected_repair(maximize_path):
    """Per target of the maximisation file, what the page's repair line must say, straight from
    the file: frames, frames moved more than 1% of the spine length (the sample's scale), the
    largest move and its frame, the frames that broke a limit."""
    out = []
    for e in read_maximization_file(maximize_path)["entries"]:
        run, T = e["constrained"], int(e["length"])
        d = np.asarray(run["repair_displacement"], np.float64)[:T]
        broken = [int(line.split(":")[0].split()[1]) for line in run["start_violations"]]
        out.append({"T": T, "disp": d, "moved": int((d > 0.01 * float(e["scale"])).sum()), "max": float(d.max()),
                    "argmax": int(d.argmax()), "broken": broken, "tol": 0.01 * float(e["scale"])})
    return out


@pytest.mark.fast
def test_payload_carries_the_start_repairs(inputs, page_file):
    """Each maximisation target carries its start repair: the line with the file's numbers, the
    per-frame displacement and the frames that broke a limit (a byte per frame in the blob)."""
    _out, payload, blob = page_file
    want = expected_repair(inputs["args"]["maximize"])
    assert len(payload["maxruns"]) == len(want)
    for run, w in zip(payload["maxruns"], want):
        rep = run["repair"]
        assert (rep["frames"], rep["moved"], rep["max_move_frame"]) == (w["T"], w["moved"], w["argmax"])
        assert rep["max_move"] == pytest.approx(w["max"], abs=1e-6) and rep["tol"] == pytest.approx(w["tol"], abs=1e-6)
        np.testing.assert_allclose(viewer.decode_array(rep["displacement"], blob), w["disp"], atol=w["max"] / 510 + 1e-9)
        assert np.flatnonzero(viewer.decode_array(rep["broken_mask"], blob) > 0.5).tolist() == w["broken"]
        assert rep["line"].startswith(f"start repaired: {w['moved']} of {w['T']} frames moved more than ")
    first = payload["maxruns"][0]["repair"]
    assert first["broken"] == [["hip_plane <= 90 deg", 2], ["spine_mid >= 160 deg", 1],
                               ["support (a foot within 0.2 trunk lengths of the floor)", 1]]
    assert "3 of" in first["line"] and "broke a limit: hip_plane <= 90 deg (2), spine_mid >= 160 deg (1)" in first["line"]
    assert payload["maxruns"][1]["repair"]["line"].endswith("; no frame broke a limit")


@pytest.mark.fast
def test_page_is_self_contained(inputs, tmp_path):
    out = tmp_path / "skelvis.html"
    summary = viewer.write_viewer(out, **inputs["args"])
    html = out.read_text()
    assert summary["bytes"] == len(html.encode())
    assert html.count("<script") == 4 and "uPlot" in html
    # uPlot is inlined verbatim (its banner names its home page); around it no external references
    from importlib import resources
    uplot = resources.files("skelvis").joinpath("viewer_assets", "vendor", "uPlot.iife.min.js").read_text()
    assert uplot.replace("</", "<\\/") in html
    rest = html.replace(uplot.replace("</", "<\\/"), "")
    for marker in ("http:", "https:", "//cdn", "<link ", "src="):
        assert marker not in rest, marker
    assert "default-src 'none'" in html  # CSP: the browser itself refuses any fetch
    assert "</script" not in html.split('id="skelvis-data">', 1)[1].split("</script>", 1)[0]
    assert summary["methods"] == ["local", "through_time"]


@pytest.mark.fast
def test_page_size_is_bounded_as_the_dataset_grows(inputs, tmp_path):
    """The same page for 60 and 600 sequences: the carried subset stays within its bound and the
    file within 15 % (the maximisation starts may or may not be among the chosen sequences), while
    the inputs grow tenfold."""
    pages = {}
    for n in (20, 200):
        got = write_all(tmp_path / str(n), n_per_class=n, T=20)
        pages[n] = viewer.write_viewer(tmp_path / f"{n}.html", **got["args"])
        pages[n]["N"] = len(got["ds"].x)
    small, large = pages[20], pages[200]
    assert large["N"] == 10 * small["N"]
    # per class 3, plus at most the 2 explained and the 4 maximisation starts, whatever N
    assert small["sequences"] <= 3 * 3 + 2 + 4 and large["sequences"] <= 3 * 3 + 2 + 4
    assert large["bytes"] < 1.15 * small["bytes"], (small["bytes"], large["bytes"])
    fewer = viewer.write_viewer(tmp_path / "fewer.html", **inputs["args"], cfg=viewer.ViewerConfig(sequences_per_class=1))
    default = viewer.write_viewer(tmp_path / "default.html", **inputs["args"])
    assert fewer["sequences"] < default["sequences"] and fewer["bytes"] < default["bytes"]


@pytest.mark.fast
def test_without_optional_stages_the_page_says_so(inputs, tmp_path):
    a = {k: inputs["args"][k] for k in ("data", "metrics", "predictions")}
    payload = viewer.build_payload(**a)
    assert payload["maxruns"] == [] and payload["methods"] == [] and payload["map"] is None and payload["hidden"] is None
    notes = " ".join(payload["notes"])
    for stage in ("saliency", "maximize", "autoencoder", "activations"):
        assert stage in notes, stage


@pytest.mark.fast
def test_saliency_of_other_data_fails_clearly(inputs, tmp_path):
    bad = tmp_path / "bad.h5"
    z = np.zeros((2, 3, 4), np.float32)
    write_saliency(bad, SaliencyMaps(z, z, np.zeros((2, 0, 3, 4), np.float32), np.zeros(0, np.int64),
                                     np.zeros(2, np.int32)))
    with pytest.raises(DataFormatError, match=r"bad\.h5.*class_map has shape \(2, 3, 4\)"):
        viewer.build_payload(**dict(inputs["args"], saliency=bad))


# --------------------------------------------------------------------------- browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
READY = "window.skelvis && window.skelvis.ready"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (run tools/system_deps.sh as root)")


def wait_until(page, expr: str, timeout: float = 10.0, interval: float = 0.01):
    """Poll ``expr`` through page.evaluate until truthy. (Playwright's wait_for_function re-evaluates
    its predicate with eval, which the page's Content-Security-Policy rightly refuses.)"""
    t0 = time.perf_counter()
    while not page.evaluate(f"(() => {{ try {{ return !!({expr}); }} catch (e) {{ return false; }} }})()"):
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"{expr} still false after {timeout} s")
        time.sleep(interval)


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright for Python is not installed (pip install -e .[test])")
    return sync_playwright


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium not installed")
    with _playwright()() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Opened:
    """A page opened in a fresh context: console errors, page errors and every request logged."""

    def __init__(self, browser, html: Path, fragment: str = ""):
        self.ctx = browser.new_context(viewport={"width": 1400, "height": 1300}, accept_downloads=True)
        self.errors, self.requests = [], []
        self.page = self.ctx.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def route(r):
            self.requests.append(r.request.url)
            r.continue_() if r.request.url.startswith("file://") else r.abort()
        self.ctx.route("**/*", route)
        t0 = time.perf_counter()
        self.page.goto(html.as_uri() + fragment)
        wait_until(self.page, READY)
        self.first_render_s = time.perf_counter() - t0
        self.html = html

    def drawn(self):
        return self.page.evaluate("skelvis.drawn()")

    def close(self):
        self.ctx.close()
        assert self.errors == [], self.errors
        assert all(u.startswith(self.html.as_uri()) for u in self.requests), self.requests


@pytest.fixture(scope="module")
def page_file(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("page") / "skelvis.html"
    viewer.write_viewer(out, **inputs["args"], model_name="lstm")
    payload = viewer.build_payload(**inputs["args"], model_name="lstm")
    return out, payload, blob_of(payload)


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def set_range(page, sel, value):
    page.eval_on_selector(sel, f"el => {{ el.value = {value}; el.dispatchEvent(new Event('input')); }}")


def method_map(payload, blob, method, seq, key="class_map"):
    return viewer.decode_array(payload["methods"][method]["maps"][seq][key], blob)


@pytest.mark.browser
@needs_chromium
def test_browser_sensitivity_methods_compare_keyboard_png(browser, page_file):
    out, payload, blob = page_file
    o = Opened(browser, out)
    page = o.page
    try:
        d0 = o.drawn()
        # what is drawn equals the method's map of the true class at frame 0
        expect = method_map(payload, blob, 0, d0["seq"])[0]
        np.testing.assert_allclose(d0["colors"], expect, atol=1e-9)
        assert d0["argmax"] == int(np.argmax(expect)) and d0["method"] == "local"
        assert "Kinect v2" in page.inner_text("#header") and "most confident" in page.inner_text("#selection")
        assert "0.61" in page.inner_text("#benchmark") and "0.52" in page.inner_text("#benchmark")
        shot(page, "01_sensitivity.png")

        # switch method: the other file's map is drawn
        page.select_option("#method", "1")
        d1 = o.drawn()
        assert d1["method"] == "through_time" and d1["seq"] == d0["seq"]
        np.testing.assert_allclose(d1["colors"], method_map(payload, blob, 1, d0["seq"])[0], atol=1e-9)
        assert d1["colors"] != d0["colors"]
        assert "current" in page.get_attribute("#benchmark tr[data-method='1']", "class")

        # a hidden unit: its own map
        page.select_option("#target", "unit:7")
        d2 = o.drawn()
        k = payload["methods"][1]["units"].index(7)
        np.testing.assert_allclose(d2["colors"], method_map(payload, blob, 1, d2["seq"], "unit_maps")[k, 0], atol=1e-9)

        # compare: a sequence of another class beside it, one frame, one colour scale
        page.select_option("#target", "class:0")
        other = next(i for i, s in enumerate(payload["sequences"]) if s["label"] == 1)
        page.select_option("#compare", str(other))
        set_range(page, "#frame", 5)
        d3 = o.drawn()
        assert len(d3["panels"]) == 2 and d3["cmp"] == other
        a, b = d3["panels"]
        assert a["frame"] == b["frame"] == 5
        assert a["vmax"] == b["vmax"] > 0
        ma, mb = method_map(payload, blob, 1, a["seq"]), method_map(payload, blob, 1, other)
        assert a["vmax"] == pytest.approx(max(ma.max(), mb.max()))
        np.testing.assert_allclose(b["colors"], mb[5], atol=1e-9)
        shot(page, "02_compare.png")

        # keyboard: arrows step both players, space plays
        page.click("body", position={"x": 5, "y": 5})
        page.keyboard.press("ArrowRight")
        d4 = o.drawn()
        assert d4["frame"] == 6 and [p["frame"] for p in d4["panels"]] == [min(6, p["L"] - 1) for p in d4["panels"]]
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        assert o.drawn()["frame"] == 4
        page.keyboard.press("Space")
        wait_until(page, "skelvis.state.frame !== 4", timeout=5)
        assert page.evaluate("skelvis.state.playing")
        page.keyboard.press("Space")
        assert not page.evaluate("skelvis.state.playing")

        # hovering a heatmap cell rings that joint in the player
        hm = page.query_selector_all("canvas.heatmap")[0]
        box = hm.bounding_box()
        geom = page.evaluate("(() => { const c = document.querySelector('canvas.heatmap'); return c._geom; })()")
        j = 4
        y = box["y"] + 8 + (j + 0.5) * geom["H"] / geom["J"]
        page.mouse.move(box["x"] + 110 + 3, y)
        assert o.drawn()["hover"] == j
        page.mouse.move(5, 5)

        # the URL fragment follows the state
        h = page.evaluate("location.hash")
        assert f"seq={payload['sequences'][d4['seq']]['id']}" in h and "method=through_time" in h and f"cmp={payload['sequences'][other]['id']}" in h

        # PNG: the button downloads an image of the current view
        with page.expect_download() as dl:
            page.click("#save-png")
        png = Path(dl.value.path()).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
        w = int.from_bytes(png[16:20], "big")
        assert w >= 2 * 400
    finally:
        o.close()


@pytest.mark.browser
@needs_chromium
def test_browser_map_and_units_panel(browser, page_file, inputs):
    out, payload, blob = page_file
    o = Opened(browser, out)
    page = o.page
    try:
        d = o.drawn()
        seq = d["seq"]
        # the current sequence's point sits on its path at the current frame, and is drawn there
        set_range(page, "#frame", 7)
        d = o.drawn()
        path = viewer.decode_array(payload["map"]["paths"][seq], blob)
        np.testing.assert_allclose(d["map"]["point"], path[7], atol=1e-12)
        set_range(page, "#frame", 2)
        np.testing.assert_allclose(o.drawn()["map"]["point"], path[2], atol=1e-12)
        x, y = page.evaluate(f"skelvis.mapScreen({seq}, 2)")
        px = page.evaluate(f"Array.from(document.getElementById('map').getContext('2d').getImageData({round(x)}, {round(y)}, 1, 1).data)")
        assert px[:3] == [0, 0, 0]  # the point's black fill
        shot(page, "03_map_units.png")

        # a click on another path loads that sequence
        target = next(i for i, s in enumerate(payload["sequences"]) if s["label"] != payload["sequences"][seq]["label"])
        L = payload["sequences"][target]["length"]
        cand = [page.evaluate(f"skelvis.mapScreen({target}, {f})") for f in range(L)]
        others = [np.array([page.evaluate(f"skelvis.mapScreen({i}, {f})") for f in range(s["length"])])
                  for i, s in enumerate(payload["sequences"]) if i != target]
        # the target's frame whose point is farthest from every other path
        far = max(range(L), key=lambda f: min(np.min(np.hypot(*(p - np.array(cand[f])).T)) for p in others))
        page.query_selector("#map").scroll_into_view_if_needed()
        box = page.query_selector("#map").bounding_box()
        page.mouse.click(box["x"] + cand[far][0], box["y"] + cand[far][1])
        d2 = o.drawn()
        assert d2["seq"] == target and d2["map"]["seq"] == target

        # units panel: the unit's activation over the sequence, its periods shaded
        units = payload["hidden"]["units"]
        for k in range(len(units)):
            page.select_option("#unit", str(k))
            du = o.drawn()["unit"]
            assert du["unit"] == units[k] and du["seq"] == target
            want = sorted([p[2], p[3]] for p in payload["hidden"]["periods"] if p[0] == target and p[1] == k)
            assert sorted(du["periods"]) == want
            hid = inputs["hid"]
            r = payload["sequences"][target]["index"]
            mask = hid["hidden"][r, :L, units[k]] > hid["threshold"][units[k]]
            assert sum(b - a for a, b in want) == int(mask.sum())
            if want:
                break
        assert want, "no unit with periods on this sequence"

        # relevance of unit 7: mean per frame with its band; choosing it loads its sequence
        page.select_option("#unit", str(units.index(7)))
        rel = o.drawn()["relevance"]
        entry = payload["hidden"]["relevance"][rel["entry"]]
        assert rel["unit"] == 7
        np.testing.assert_allclose(np.array(rel["hi"]) - np.array(rel["lo"]), 0.5, atol=1e-6)
        page.select_option("#relevance-entry", str(rel["entry"]))
        d3 = o.drawn()
        assert d3["seq"] == entry["seq"] and d3["frame"] == entry["t"]
        shot(page, "04_relevance.png")
    finally:
        o.close()


@pytest.mark.browser
@needs_chromium
def test_browser_maximisation_variants(browser, page_file):
    out, payload, blob = page_file
    o = Opened(browser, out)
    page = o.page
    try:
        page.check("#mode-maximisation")
        d = o.drawn()
        assert d["mode"] == "maximisation"
        assert [p["label"] for p in d["panels"]] == ["original"] + payload["variants"]
        assert d["response"] == payload["variants"]
        assert d["iterationLabel"] == f"iteration {ITERATIONS} / {ITERATIONS}"
        run = payload["maxruns"][d["seq"]]
        snaps = {v: viewer.run_snapshots(run["runs"][v], blob) for v in payload["variants"]}
        disp = {v: viewer.displacement(s) for v, s in snaps.items()}
        # one colour scale for every variant; each panel coloured by its own displacement
        vmax = max(x.max() for x in disp.values())
        assert all(p["vmax"] == pytest.approx(vmax) for p in d["panels"])
        f = d["frame"]
        assert f == int(np.argmax(disp[payload["variants"][-1]][ITERATIONS].sum(1)))
        for p, v in zip(d["panels"][1:], payload["variants"]):
            np.testing.assert_allclose(p["colors"], disp[v][ITERATIONS, f], atol=1e-9)
        shot(page, "05_maximisation.png")
        set_range(page, "#iteration", 1)
        d1 = o.drawn()
        assert d1["iteration"] == 1
        np.testing.assert_allclose(d1["panels"][1]["colors"], disp["constrained"][1, f], atol=1e-9)
        assert max(d1["panels"][1]["colors"]) < max(d["panels"][1]["colors"])
    finally:
        o.close()


@pytest.mark.browser
@needs_chromium
def test_browser_maximisation_shows_the_start_repair(browser, page_file, inputs):
    """The maximisation panel shows how the start was repaired: the line with the data file's
    numbers, a tick on every frame that broke a limit, a how-to-read line; a click on the strip
    jumps to that frame; another start shows its own line; no console error."""
    out, payload, _blob = page_file
    want = expected_repair(inputs["args"]["maximize"])
    o = Opened(browser, out)
    page = o.page
    try:
        assert not o.drawn()["repairShown"]                     # sensitivity mode: no repair panel
        page.check("#mode-maximisation")
        d = o.drawn()
        k = d["seq"]
        w = want[k]
        assert d["repairShown"] and page.is_visible("#repair-line") and page.is_visible("#repair-strip")
        line = page.text_content("#repair-line")
        assert line == d["repair"]["line"] == payload["maxruns"][k]["repair"]["line"]
        assert line.startswith(f"start repaired: {w['moved']} of {w['T']} frames moved more than {w['tol']:.3g}, "
                               f"up to {w['max']:.3g} (frame {w['argmax']})")
        assert d["repair"]["marks"] == w["broken"]
        assert (f"{len(w['broken'])} of {w['T']} frames broke a limit" in line) if w["broken"] else \
            line.endswith("no frame broke a limit")
        assert page.text_content("#howto-repair").startswith("How to read:")
        # a click on the strip at frame t jumps there
        box = page.locator("#repair-strip").bounding_box()
        t = w["argmax"]
        page.mouse.click(box["x"] + (t + 0.5) * box["width"] / w["T"], box["y"] + box["height"] / 2)
        assert o.drawn()["frame"] == t and o.drawn()["repair"]["frame"] == t
        shot(page, "06_maximisation_repair.png")
        # the first target (frames 2, 5, 7 broke limits) on its own
        t0 = payload["maxruns"][0]["target"]
        page.select_option("#target", f"{t0['kind']}:{t0['index']}")
        page.select_option("#sequence", "0")
        d0 = o.drawn()
        assert d0["seq"] == 0 and d0["repair"]["marks"] == want[0]["broken"] == [2, 5, 7]
        line0 = page.text_content("#repair-line")
        assert f"3 of {want[0]['T']} frames broke a limit: hip_plane <= 90 deg (2)" in line0
        assert line0.startswith(f"start repaired: {want[0]['moved']} of {want[0]['T']} frames moved")
        page.check("#mode-sensitivity")
        assert not o.drawn()["repairShown"]
    finally:
        o.close()


@pytest.mark.browser
@needs_chromium
def test_browser_url_fragment_restores_the_view(browser, page_file):
    out, payload, blob = page_file
    seqs = payload["sequences"]
    i, j = len(seqs) - 2, 1
    frag = (f"#ds={payload['header']['dataset']}&model=lstm&mode=sensitivity&method=through_time&target=unit:3"
            f"&seq={seqs[i]['id']}&cmp={seqs[j]['id']}&frame=3&cam=1.2,0.5,1.5&unit=7")
    o = Opened(browser, out, frag)
    try:
        d = o.drawn()
        assert (d["method"], d["target"], d["seq"], d["cmp"], d["frame"]) == ("through_time", "unit:3", i, j, 3)
        assert d["camera"] == {"az": 1.2, "el": 0.5, "zoom": 1.5}
        assert d["unit"]["unit"] == 7 and d["status"] == ""
        k = payload["methods"][1]["units"].index(3)
        np.testing.assert_allclose(d["colors"], method_map(payload, blob, 1, i, "unit_maps")[k, 3], atol=1e-9)
        again = o.page.evaluate("location.hash")
        shot(o.page, "06_from_link.png")
    finally:
        o.close()
    # the fragment the page writes reopens the same view (a copied link)
    o2 = Opened(browser, out, again)
    try:
        d2 = o2.drawn()
        for key in ("method", "target", "seq", "cmp", "frame", "camera", "colors"):
            assert d2[key] == d[key], key
    finally:
        o2.close()
    # maximisation state in the fragment
    r = len(payload["maxruns"]) - 1
    run = payload["maxruns"][r]
    t = run["target"]
    o3 = Opened(browser, out, f"#mode=maximisation&target={t['kind']}:{t['index']}&seq={run['sample_id']}&it=2&frame=4")
    try:
        d3 = o3.drawn()
        assert (d3["mode"], d3["seq"], d3["iteration"], d3["frame"]) == ("maximisation", r, 2, 4)
    finally:
        o3.close()
    # a damaged or foreign link: the page opens on its defaults and says what it could not restore
    o4 = Opened(browser, out, "#ds=other&target=x'%5D&frame=abc&seq=nope&method=magic")
    try:
        d4 = o4.drawn()
        assert (d4["frame"], d4["target"]) == (0, "class:0")
        for said in ("dataset other", "sequence nope", "method magic"):
            assert said in d4["status"], said
    finally:
        o4.close()


@pytest.mark.browser
@needs_chromium
def test_browser_page_without_optional_stages(browser, inputs, tmp_path):
    out = tmp_path / "bare.html"
    viewer.write_viewer(out, **{k: inputs["args"][k] for k in ("data", "metrics", "predictions")})
    o = Opened(browser, out)
    try:
        assert o.page.is_disabled("#mode-maximisation") and o.page.is_disabled("#mode-sensitivity")
        assert "No sensitivity maps" in o.page.inner_text("#notes")
        assert not o.page.is_visible("#map") and not o.page.is_visible("#units-panel")
        assert len(o.drawn()["colors"]) == inputs["ds"].x.shape[2]
    finally:
        o.close()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.workflow
@needs_chromium
def test_tiny_run_page(tiny_run, browser, tmp_path):
    """The page the workflow built on the tiny run: its header says what the run's files say, it
    renders without errors or requests, and its maps, map and units are the stages' own."""
    res = tiny_run / "results" / "tiny"
    page_path = res / "skelvis_lstm.html"
    assert page_path.exists(), "rule viewer did not run in the default target"
    metrics = json.loads((res / "model" / "lstm" / "metrics.json").read_text())
    ds = read_dataset(res / "data.h5")
    o = Opened(browser, page_path)
    try:
        payload = o.page.evaluate("(() => { const p = Object.assign({}, skelvis.payload); return JSON.parse(JSON.stringify(p, (k, v) => k === '_v' ? undefined : v)); })()")
        drawn = o.drawn()
        header = o.page.inner_text("#header")
        shot(o.page, "tiny_run.png")
    finally:
        o.close()
    blob_b64 = page_path.read_text().split('id="skelvis-blob">', 1)[1].split("</script>", 1)[0].strip()
    import gzip
    blob = gzip.decompress(base64.b64decode(blob_b64))
    h = payload["header"]
    assert h["samples"] == len(ds.x) and h["classes"] == ds.classes
    assert h["hidden_units"] == metrics["model"]["hidden_size"]
    assert h["accuracy"] == pytest.approx(metrics["accuracy"])
    assert f"{100 * metrics['accuracy']['test']:.1f} %" in header
    seq = payload["sequences"][drawn["seq"]]
    np.testing.assert_allclose(viewer.decode_array(seq["pos"], blob), ds.x[seq["index"], :seq["length"]],
                               atol=seq["pos"]["step"])
    sal_path = res / "saliency" / "lstm.h5"
    if sal_path.exists():
        truth = read_saliency(sal_path)["class_map"][seq["index"], :seq["length"]]
        cm = payload["methods"][0]["maps"][drawn["seq"]]["class_map"]
        np.testing.assert_allclose(viewer.decode_array(cm, blob), truth, atol=cm["step"] / 2 + 1e-7)
        assert payload["methods"][0]["benchmark"], "faithfulness numbers beside the method"
    assert bool(payload["maxruns"]) == (res / "maximize" / "lstm.h5").exists()
    assert (payload["map"] is not None) == (res / "autoencoder" / "lstm_2d_paths.h5").exists()
    assert (payload["hidden"] is not None) == (res / "activations" / "lstm.h5").exists()


# --------------------------------------------------------------------------- attribution methods (issue 20, item 4)

COMPUTED = ("integrated_gradients", "limb_occlusion", "through_time")


def make_fake_benchmark(out: Path, methods=("local",) + COMPUTED):
    """An attribution benchmark table (the attribution stage's writer's columns) with distinct,
    recognisable numbers per method: deletion AUC 0.1 + 0.01 k for the k-th method."""
    import pandas as pd

    from skelvis.attribution.benchmark import BETTER, COLUMNS
    rows = []
    for k, m in enumerate(methods):
        for q, metric in enumerate(("deletion_auc", "insertion_auc", "class_joint_mass",
                                    "randomisation_recurrent_spearman", "seed_spearman", "max_sensitivity")):
            v = 0.1 + 0.01 * k + 0.1 * q
            rows.append({"method": m, "metric": metric, "value": v, "ci_low": v - 0.005, "ci_high": v + 0.005,
                         "n": 32, "better": BETTER[metric], "chance": np.nan})
    pd.DataFrame(rows, columns=COLUMNS).to_csv(out, index=False)


@pytest.fixture(scope="module")
def attr_page(inputs, tmp_path_factory):
    """The page with the local saliency file and, from a small (untrained) model, the maps of
    the methods of :data:`COMPUTED`, with their numbers from a benchmark table."""
    import torch

    from skelvis.models import RecurrentClassifier, save_model
    folder = tmp_path_factory.mktemp("attr_page")
    ds = inputs["ds"]
    torch.manual_seed(0)
    save_model(RecurrentClassifier(ds.x.shape[2] * ds.x.shape[3], 8, ds.num_classes, cell="lstm"), folder / "m.pt")
    make_fake_benchmark(folder / "bench.csv")
    a = inputs["args"]
    args = {**a, "saliency": {"local": a["saliency"]["local"]}, "faithfulness": {"local": a["faithfulness"]["local"]},
            "model": folder / "m.pt", "benchmark": folder / "bench.csv"}
    payload = viewer.build_payload(**args, model_name="lstm")
    out = folder / "skelvis.html"
    out.write_text(viewer.render_html(payload), encoding="utf-8")
    return out, payload, blob_of(payload), folder / "m.pt"


@pytest.mark.fast
def test_carried_maps_are_the_attribution_modules_output(attr_page, inputs):
    """The maps the page carries for each computed method equal the method of skelvis.attribution
    called on the carried sequences (true class, and the predicted class of a mistake), within
    the page's quantisation (half a step); each sits beside its own benchmark row."""
    from skelvis.attribution import METHODS
    from skelvis.models import load_model
    from skelvis.settings import AttributionConfig
    from skelvis.topology import get_topology
    _, payload, blob, model_path = attr_page
    ds = inputs["ds"]
    names = [m["name"] for m in payload["methods"]]
    assert names == ["local", *COMPUTED]  # viewer.methods' order; local from the saliency file
    assert payload["methods"][0]["units"], "local keeps the saliency file's unit maps"
    model = load_model(model_path)
    rows = np.array([s["index"] for s in payload["sequences"]])
    lengths = ds.length[rows]
    pred = np.array([s["pred"] for s in payload["sequences"]])
    assert (pred != ds.label[rows]).any(), "the fixture carries a mistake"
    cfg, topo = AttributionConfig(), get_topology(ds.topology)
    kw = {"integrated_gradients": {"n_steps": cfg.integrated_gradients_steps},
          "limb_occlusion": {"parents": topo.parents(), "groups": topo.limb_groups, "window": cfg.occlusion_window}}
    for k, name in enumerate(COMPUTED, start=1):
        method = METHODS[name](**kw.get(name, {}))
        for key, target in (("class_map", ds.label[rows]), ("pred_map", pred)):
            ref = method(model, ds.x[rows], lengths, target)
            for i, L in enumerate(lengths):
                desc = payload["methods"][k]["maps"][i][key]
                got = viewer.decode_array(desc, blob)
                assert got.shape == (L, ds.x.shape[2])
                np.testing.assert_allclose(got, ref[i, :L], atol=desc["step"] / 2 + 1e-6 * ref[i].max())
        assert ref.max() > 0
        b = payload["methods"][k]["benchmark"]
        d = 0.1 + 0.01 * k
        assert b["deletion AUC (lower better)"] == f"{d:.3f} [{d - 0.005:.3f}, {d + 0.005:.3f}]"
        assert b["seed rho (higher better)"] == f"{d + 0.4:.3f} [{d + 0.395:.3f}, {d + 0.405:.3f}]"
        assert b["sequences"] == "32" and payload["methods"][k]["units"] == []
    # local: the benchmark table's numbers replace the faithfulness file's
    assert payload["methods"][0]["benchmark"]["deletion AUC (lower better)"].startswith("0.100 ")


@pytest.mark.fast
def test_without_a_model_the_picker_shows_the_saliency_file_only(inputs):
    a = inputs["args"]
    payload = viewer.build_payload(**{**a, "saliency": {"local": a["saliency"]["local"]},
                                      "faithfulness": {"local": a["faithfulness"]["local"]}}, model_name="lstm")
    assert [m["name"] for m in payload["methods"]] == ["local"]
    assert payload["methods"][0]["benchmark"]["mass on the class's joints"] == 0.61


@pytest.mark.browser
@needs_chromium
def test_browser_switching_methods_redraws_map_and_numbers(browser, attr_page):
    """Each computed method in the picker: its own map is drawn (true class, current frame), its
    benchmark row is the one marked current, and the row shows its own numbers."""
    out, payload, blob, _ = attr_page
    o = Opened(browser, out)
    page = o.page
    try:
        seen = []
        # the last frame (an untrained model's gradient maps fade towards the first frames)
        set_range(page, "#frame", payload["sequences"][o.drawn()["seq"]]["length"] - 1)
        for k, m in enumerate(payload["methods"]):
            page.select_option("#method", str(k))
            d = o.drawn()
            assert max(d["colors"]) > 0
            assert d["method"] == m["name"]
            np.testing.assert_allclose(d["colors"], method_map(payload, blob, k, d["seq"])[d["frame"]], atol=1e-9)
            row = page.inner_text(f"#benchmark tr[data-method='{k}']")
            assert "current" in page.get_attribute(f"#benchmark tr[data-method='{k}']", "class")
            assert m["name"] in row and m["benchmark"]["deletion AUC (lower better)"] in row
            seen.append(tuple(d["colors"]))
            shot(page, f"20_method_{m['name']}.png")
        assert len(set(seen)) == len(seen), "every method draws a different map"
    finally:
        o.close()
