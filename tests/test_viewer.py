"""SkeletonVis page: payload contents, encoding, and a real headless Chromium driving the page.

Fixtures write small fake saliency/maximisation files in the contract format (issues 4 and 5), so
these tests do not depend on those stages; one slow test builds the page from the real tiny run.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from skelvis import viewer
from skelvis.datasets.store import read_dataset
from skelvis.errors import ConfigError, DataFormatError
from skelvis.evaluate import read_predictions
from skelvis.maximize import MaximizationResult, Target, write_maximization
from skelvis.saliency import SaliencyMaps, read_saliency, write_saliency

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
SCREENSHOTS = ROOT / "results" / "viewer_screenshots"
ITERATIONS = 4
UNITS = np.array([3, 7, 1])


# --------------------------------------------------------------------------- fixtures

def make_inputs(folder: Path, n_per_class=4, classes=("throw", "kick", "hand_waving"), T=20, seed=0):
    """data.h5, metrics.json, predictions.h5 of a small synthetic set (no training needed)."""
    from skelvis.datasets import synthetic
    from skelvis.datasets.store import write_dataset
    from skelvis.evaluate import Evaluation, write_predictions

    cfg = synthetic.SyntheticConfig(classes=list(classes), subjects=n_per_class, repetitions=1, frames=T,
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
               "model": {"hidden_size": 16, "num_layers": 1, "cell": "lstm", "num_classes": len(classes)}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return ds


def make_fake_saliency(data_path: Path, out: Path, seed=1):
    """A saliency file written by the saliency stage's writer: class_map/pred_map (N,T,J),
    unit_maps (N,K,T,J), units (K,); zero beyond each length. The maps are random but distinct per
    map, so switching targets must change the drawn colours. Returns the maps as read back."""
    ds = read_dataset(data_path)
    n, T, J = ds.x.shape[:3]
    rng = np.random.default_rng(seed)
    mask = (np.arange(T)[None, :] < ds.length[:, None])[..., None]
    maps = SaliencyMaps(class_map=(rng.random((n, T, J)) * mask).astype(np.float32),
                        pred_map=(rng.random((n, T, J)) * 2 * mask).astype(np.float32),
                        unit_maps=(rng.random((n, len(UNITS), T, J)) * mask[:, None]).astype(np.float32),
                        units=UNITS, predicted=ds.label.copy(), mode="local")
    write_saliency(out, maps, model="m.pt", data=str(data_path))
    return read_saliency(out)


def make_fake_maximize(data_path: Path, out: Path, seed=2):
    """A maximisation file written by the maximize stage's writer: one target per class and one
    hidden unit, each run the sequence drifting a bit more each iteration (the unconstrained run
    three times as far)."""
    ds = read_dataset(data_path)
    rng = np.random.default_rng(seed)
    targets = [(Target("class", i, name=c), int(np.flatnonzero(ds.label == i)[0])) for i, c in enumerate(ds.classes)]
    targets.append((Target("unit", 7, name="favourite unit"), 0))
    idx = [r for _, r in targets]
    drift = rng.normal(size=(len(idx),) + ds.x.shape[1:]) * 0.02
    zeros = np.zeros((len(idx), ITERATIONS + 1))

    def run(factor):
        snaps = np.stack([ds.x[idx] + factor * i * drift for i in range(ITERATIONS + 1)], 1).astype(np.float32)
        return MaximizationResult(snapshots=snaps, response=np.tile(np.linspace(0, factor, ITERATIONS + 1), (len(idx), 1)),
                                  max_bone_error=zeros, max_angle_violation_deg=zeros, max_floor_violation=zeros,
                                  max_acceleration=zeros, start_violations=[[] for _ in idx])
    write_maximization(out, ds, [t for t, _ in targets], idx, run(1.0), run(3.0), None, model="m.pt",
                       data=str(data_path))
    return targets


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("viewer_inputs")
    ds = make_inputs(folder)
    sal = make_fake_saliency(folder / "data.h5", folder / "saliency.h5")
    targets = make_fake_maximize(folder / "data.h5", folder / "maximize.h5")
    return {"folder": folder, "ds": ds, "sal": sal, "targets": targets,
            "args": {"data": folder / "data.h5", "metrics": folder / "metrics.json",
                         "predictions": folder / "predictions.h5", "saliency": folder / "saliency.h5",
                         "maximize": folder / "maximize.h5"}}


# --------------------------------------------------------------------------- unit tests

@pytest.mark.fast
@pytest.mark.parametrize("kind", ["pos", "map"])
def test_encode_roundtrip_error_within_half_step(kind):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(7, 5, 3)) * 3
    if kind == "map":
        a = np.abs(a)
    enc = viewer.encode_array(a, kind)
    back = viewer.decode_array(enc)
    assert back.shape == a.shape
    assert np.abs(back - a).max() <= enc["step"] / 2 + 1e-12
    assert np.argmax(back) == np.argmax(a) or np.isclose(back.max(), a.max(), atol=enc["step"])
    z = viewer.decode_array(viewer.encode_array(np.zeros((2, 2)), kind))  # all-zero: no division by 0
    assert np.all(z == 0)


@pytest.mark.fast
def test_rounded_encoding_roundtrip():
    a = np.abs(np.random.default_rng(1).normal(size=(4, 6)))
    enc = viewer.encode_array(a, "map", encoding="rounded", decimals=3)
    assert enc["dtype"] == "json" and len(enc["values"]) == a.size
    assert np.abs(viewer.decode_array(enc) - a).max() <= 0.5e-3 + 1e-12
    with pytest.raises(ValueError, match="encoding"):
        viewer.encode_array(a, "map", encoding="zip")


@pytest.mark.fast
def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="sequences_per_class"):
        viewer.ViewerConfig(sequences_per_class=0)
    with pytest.raises(ConfigError, match="splits"):
        viewer.ViewerConfig(splits=["holdout"])


@pytest.mark.fast
def test_select_sequences_per_class_and_includes_a_mistake(inputs):
    ds = inputs["ds"]
    pred = read_predictions(inputs["args"]["predictions"])
    rows = viewer.select_sequences(ds, pred["predicted"], pred["probability"], viewer.ViewerConfig(sequences_per_class=2))
    labels = ds.label[rows]
    for c in range(ds.num_classes):
        assert (labels == c).sum() == min(2, (ds.label == c).sum())
    # the planted mistake (sample 1) is kept when its class has room for two
    c1 = ds.label[1]
    if ds.split[1] in (1, 2) or not np.isin(ds.split[ds.label == c1], (1, 2)).any():
        assert 1 in rows
    assert len(set(rows.tolist())) == len(rows)
    again = viewer.select_sequences(ds, pred["predicted"], pred["probability"], viewer.ViewerConfig(sequences_per_class=2))
    assert np.array_equal(rows, again)


@pytest.mark.fast
def test_payload_carries_the_maps_and_runs(inputs):
    payload = viewer.build_payload(**inputs["args"], cfg=viewer.ViewerConfig(sequences_per_class=2, max_units=2))
    ds, sal = inputs["ds"], inputs["sal"]
    h = payload["header"]
    assert h["samples"] == len(ds.x) and h["num_classes"] == 3 and h["hidden_units"] == 16
    assert h["sensor"] == "Kinect v2" and h["accuracy"]["validation"] == 0.75
    assert payload["units"][:2] == [3, 7] and 1 not in payload["units"]  # max_units=2 (unit 7 also maximised)
    for s in payload["sequences"]:
        r, L = s["index"], s["length"]
        assert L == ds.length[r]
        pos = viewer.decode_array(s["pos"])
        np.testing.assert_allclose(pos, ds.x[r, :L], atol=s["pos"]["step"])
        cm = viewer.decode_array(s["class_map"])
        np.testing.assert_allclose(cm, sal["class_map"][r, :L], atol=s["class_map"]["step"] / 2 + 1e-7)
        um = viewer.decode_array(s["unit_maps"])
        assert um.shape == (2, L, ds.x.shape[2])
        np.testing.assert_allclose(um, sal["unit_maps"][r, :2, :L], atol=s["unit_maps"]["step"] / 2 + 1e-7)
    runs = payload["maxruns"]
    assert [r["label"] for r in runs] == [t.label for t, _ in inputs["targets"]]
    assert runs[-1]["target"] == {"kind": "unit", "index": 7}
    con = viewer.decode_array(runs[0]["constrained"]["snapshots"])
    unc = viewer.decode_array(runs[0]["unconstrained"]["snapshots"])
    assert con.shape[0] == ITERATIONS + 1
    # the fake unconstrained run drifts three times as far: its displacement must be larger
    dc, du = viewer.displacement(con), viewer.displacement(unc)
    assert np.allclose(dc[0], 0) and du[-1].mean() > 2 * dc[-1].mean()
    assert np.abs(unc[-1] - con[-1]).max() > 0


@pytest.mark.fast
def test_page_is_self_contained_and_bounded(inputs, tmp_path):
    out = tmp_path / "skelvis.html"
    summary = viewer.write_viewer(out, **inputs["args"])
    html = out.read_text()
    assert summary["bytes"] == len(html.encode())
    assert "plotly" in html.lower() and html.count("<script") == 3
    # plotly.js is inlined verbatim; around it (template, viewer JS, data) no external references
    from plotly.offline import get_plotlyjs
    plotly_js = get_plotlyjs().replace("</", "<\\/")
    assert plotly_js in html
    rest = html.replace(plotly_js, "")
    for marker in ("http:", "https:", "//cdn", "<link ", "src="):
        assert marker not in rest, marker
    assert "default-src 'none'" in rest  # CSP: the browser itself refuses any fetch
    assert "</script" not in html.split('id="skelvis-data">', 1)[1].split("</script>", 1)[0]
    # page grows with sequences_per_class, not with the dataset
    less = viewer.write_viewer(tmp_path / "less.html", **inputs["args"], cfg=viewer.ViewerConfig(sequences_per_class=1))
    assert less["sequences"] == 3 and summary["sequences"] == 6
    assert less["payload_bytes"] < summary["payload_bytes"]


@pytest.mark.fast
def test_without_optional_stages_the_page_says_so(inputs, tmp_path):
    a = dict(inputs["args"], saliency=None, maximize=None)
    payload = viewer.build_payload(**a)
    assert payload["maxruns"] == [] and "class_map" not in payload["sequences"][0]
    assert any("saliency" in n for n in payload["notes"]) and any("maximize" in n for n in payload["notes"])


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
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def open_page(pw, html: Path, user_data: Path):
    """Launch chromium (fresh profile), open ``html``; returns (context, page, log) where log has
    console errors, page errors and every request the page made."""
    ctx = pw.chromium.launch_persistent_context(str(user_data), executable_path=CHROMIUM, headless=True,
                                                args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1300})
    log = {"errors": [], "requests": []}
    page = ctx.new_page()
    page.on("console", lambda m: log["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log["errors"].append(str(e)))

    def route(r):
        log["requests"].append(r.request.url)
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            r.abort()
    ctx.route("**/*", route)
    t0 = time.perf_counter()
    page.goto(html.as_uri())
    page.wait_for_function("window.skelvis && window.skelvis.ready && document.querySelector('#player .main-svg')")
    log["first_render_s"] = time.perf_counter() - t0
    return ctx, page, log


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (run tools/system_deps.sh as root)")


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright for Python is not installed (pip install -e .[test])")
    return sync_playwright


@pytest.mark.browser
@pytest.mark.slow
@needs_chromium
def test_browser_drives_the_page(inputs, tmp_path):
    out = tmp_path / "skelvis.html"
    viewer.write_viewer(out, **inputs["args"], model_name="lstm")
    payload = viewer.build_payload(**inputs["args"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with _playwright()() as pw:
        ctx, page, log = open_page(pw, out, tmp_path / "profile")
        try:
            d0 = page.evaluate("skelvis.drawn()")
            seq0 = payload["sequences"][d0["seq"]]
            # what is drawn equals the map of the true class at frame 0, most sensitive joint included
            expect = viewer.decode_array(seq0["class_map"])[0]
            np.testing.assert_allclose(d0["colors"], expect, atol=1e-9)
            assert d0["argmax"] == int(np.argmax(expect))
            assert "samples" in page.inner_text("#header") and "Kinect v2" in page.inner_text("#header")
            page.screenshot(path=str(SCREENSHOTS / "01_sensitivity_class.png"))

            # pick another class: the sequence list is filtered to it, the colours change
            page.select_option("#target", "class:1")
            d1 = page.evaluate("skelvis.drawn()")
            seq1 = payload["sequences"][d1["seq"]]
            assert seq1["label"] == 1
            options = page.eval_on_selector_all("#sequence option", "os => os.map(o => o.textContent)")
            assert options and all("true: kick" in o for o in options)
            exp1 = viewer.decode_array(seq1["class_map"])[0]
            np.testing.assert_allclose(d1["colors"], exp1, atol=1e-9)
            assert d1["argmax"] == int(np.argmax(exp1)) and d1["colors"] != d0["colors"]

            # pick a sequence: the second one of that class
            vals = page.eval_on_selector_all("#sequence option", "os => os.map(o => o.value)")
            page.select_option("#sequence", vals[-1])
            d2 = page.evaluate("skelvis.drawn()")
            assert d2["seq"] == int(vals[-1])

            # move the frame slider: colours follow the map's row
            page.eval_on_selector("#frame", "el => { el.value = 5; el.dispatchEvent(new Event('input')); }")
            d3 = page.evaluate("skelvis.drawn()")
            seq3 = payload["sequences"][d3["seq"]]
            m3 = viewer.decode_array(seq3["class_map"] if seq3["label"] == 1 else seq3["pred_map"])
            np.testing.assert_allclose(d3["colors"], m3[5], atol=1e-9)
            assert d3["frameLabel"].startswith("frame 5")

            # a hidden unit: its own map
            page.select_option("#target", "unit:7")
            d4 = page.evaluate("skelvis.drawn()")
            s4 = payload["sequences"][d4["seq"]]
            np.testing.assert_allclose(d4["colors"], viewer.decode_array(s4["unit_maps"])[1, d4["frame"]], atol=1e-9)
            page.screenshot(path=str(SCREENSHOTS / "02_saliency_unit.png"))

            # switch mode: activation maximisation of class 0, then move the iteration slider
            page.select_option("#target", "class:0")
            page.check("#mode-maximisation")
            d5 = page.evaluate("skelvis.drawn()")
            assert d5["mode"] == "maximisation"
            assert d5["iterationLabel"] == f"iteration {ITERATIONS} / {ITERATIONS}"
            # it opens on the frame the last iteration moved most
            run5 = payload["maxruns"][d5["seq"]]
            disp5 = viewer.displacement(viewer.decode_array(run5["constrained"]["snapshots"]))[ITERATIONS]
            assert d5["frame"] == int(np.argmax(disp5.sum(1)))
            page.screenshot(path=str(SCREENSHOTS / "03_maximisation_last.png"))
            page.eval_on_selector("#iteration", "el => { el.value = 1; el.dispatchEvent(new Event('input')); }")
            d6 = page.evaluate("skelvis.drawn()")
            assert d6["iterationLabel"] == f"iteration 1 / {ITERATIONS}"
            run = payload["maxruns"][d6["seq"]]
            assert run["target"] == {"kind": "class", "index": 0}
            disp = viewer.displacement(viewer.decode_array(run["constrained"]["snapshots"]))
            np.testing.assert_allclose(d6["colors"], disp[1, d6["frame"]], atol=1e-9)
            assert max(d6["colors"]) < max(d5["colors"])  # less displaced after 1 iteration than after I
            page.eval_on_selector("#iteration", "el => { el.value = 0; el.dispatchEvent(new Event('input')); }")
            assert max(page.evaluate("skelvis.drawn()")["colors"]) == 0
            page.check("#run-unconstrained")
            page.eval_on_selector("#iteration", f"el => {{ el.value = {ITERATIONS}; el.dispatchEvent(new Event('input')); }}")
            d7 = page.evaluate("skelvis.drawn()")
            du = viewer.displacement(viewer.decode_array(run["unconstrained"]["snapshots"]))
            np.testing.assert_allclose(d7["colors"], du[ITERATIONS, d7["frame"]], atol=1e-9)
            page.screenshot(path=str(SCREENSHOTS / "04_maximisation_unconstrained.png"))
            assert page.is_visible("#response .main-svg")

            # play: frames advance
            page.check("#mode-sensitivity")
            f_before = page.evaluate("skelvis.state.frame")
            page.click("#play")
            page.wait_for_function(f"skelvis.state.frame !== {f_before}", timeout=5000)
            page.click("#play")
        finally:
            ctx.close()
    assert log["errors"] == [], log["errors"]
    assert all(u.startswith("file://") for u in log["requests"]), log["requests"]
    assert log["requests"] == [out.as_uri()]


@pytest.mark.browser
@pytest.mark.slow
@needs_chromium
def test_browser_page_without_optional_stages(inputs, tmp_path):
    out = tmp_path / "bare.html"
    viewer.write_viewer(out, **dict(inputs["args"], saliency=None, maximize=None))
    with _playwright()() as pw:
        ctx, page, log = open_page(pw, out, tmp_path / "profile")
        try:
            assert page.is_disabled("#mode-maximisation") and page.is_disabled("#mode-sensitivity")
            assert "No sensitivity maps" in page.inner_text("#notes")
        finally:
            ctx.close()
    assert log["errors"] == [] and log["requests"] == [out.as_uri()]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.workflow
@needs_chromium
def test_tiny_run_page(tiny_run, tmp_path):
    """The page the workflow built on the tiny run: its header says what the run's files say, it
    renders without errors or requests, and its maps are those of the saliency stage (when it ran)."""
    res = tiny_run / "results" / "tiny"
    page_path = res / "skelvis_lstm.html"
    assert page_path.exists(), "rule viewer did not run in the default target"
    metrics = json.loads((res / "model" / "lstm" / "metrics.json").read_text())
    ds = read_dataset(res / "data.h5")
    with _playwright()() as pw:
        ctx, page, log = open_page(pw, page_path, tmp_path / "profile")
        try:
            payload = page.evaluate("skelvis.payload")
            drawn = page.evaluate("skelvis.drawn()")
            header = page.inner_text("#header")
            page.screenshot(path=str(SCREENSHOTS / "tiny_run.png"))
        finally:
            ctx.close()
    assert log["errors"] == [] and log["requests"] == [page_path.as_uri()]
    h = payload["header"]
    assert h["samples"] == len(ds.x) and h["classes"] == ds.classes
    assert h["hidden_units"] == metrics["model"]["hidden_size"]
    assert h["accuracy"] == pytest.approx(metrics["accuracy"])
    assert f"{100 * metrics['accuracy']['test']:.1f} %" in header
    seq = payload["sequences"][drawn["seq"]]
    np.testing.assert_allclose(viewer.decode_array(seq["pos"]), ds.x[seq["index"], :seq["length"]],
                               atol=seq["pos"]["step"])
    sal_path = res / "saliency" / "lstm.h5"
    if sal_path.exists():
        truth = read_saliency(sal_path)["class_map"][seq["index"], :seq["length"]]
        np.testing.assert_allclose(viewer.decode_array(seq["class_map"]), truth, atol=seq["class_map"]["step"] / 2 + 1e-7)
        assert drawn["argmax"] == int(np.argmax(viewer.decode_array(seq["class_map"])[drawn["frame"]]))
    max_path = res / "maximize" / "lstm.h5"
    assert bool(payload["maxruns"]) == max_path.exists()
