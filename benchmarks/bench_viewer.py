"""SkeletonVis page: file size and time to first render in headless Chromium (median of several
loads) for the default run and for the scale configuration (config/ntu_scale.yaml's shapes).
Goals (issue 20): under 4 MB and under 1.5 s for both.

default: the default run's results/synthetic/ (data.h5, model/lstm/{metrics.json,predictions.h5},
saliency/lstm.h5 and lstm_faithfulness.json, maximize/lstm.h5, activations/lstm.h5,
autoencoder/lstm_2d_paths.h5, periods/lstm.h5) when they are all there (pass another folder with
--results), else stand-ins of the default run's shapes (written by the stages' own writers, see
tests/test_viewer.py::write_all; the result says which). scale: stand-ins of ntu_scale's shapes
(10 classes, 75 frames, 150 hidden units, 12 maximisation iterations) with --scale-n sequences;
saliency of 2 methods, maps smoothed over --smooth frames (real maps are smooth in time; 0 gives
white noise, the incompressible worst case), with 8 units (ntu_scale computes 98, the page carries viewer.max_units = 8 of them, so the
page is the same and the stand-in fits in memory). The page carries a bounded subset, so its size
must not follow N (tests/test_viewer.py checks that at 60 and 600 sequences).

First render: wall seconds from navigation to the page's ready flag (data inflated, every view
drawn), one fresh browser context per load, and the page's own marks (script start, data parsed,
first draw; ms since navigation start). Also the load average while measuring.

With the attribution stage's model and table in --results (model/lstm.pt,
attribution/lstm_benchmark.csv) the page computes the maps of viewer.methods (build_s includes
that); --without-attribution measures the same results without them.

    python benchmarks/bench_viewer.py [--results results/synthetic] [--loads 7] [--scale-n 2000]
        [--without-attribution] [--default-only] [--no-float32]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from _util import write_result

from skelvis import viewer

RESULT_FILES = {"data": "data.h5", "metrics": "model/lstm/metrics.json", "predictions": "model/lstm/predictions.h5",
                "saliency": "saliency/lstm.h5", "faithfulness": "saliency/lstm_faithfulness.json",
                "maximize": "maximize/lstm.h5", "activations": "activations/lstm.h5",
                "paths": "autoencoder/lstm_2d_paths.h5", "quality": "autoencoder/lstm_2d_projection_quality.json",
                "periods": "periods/lstm.h5"}
#: with the attribution stage: the model (the page computes the maps of viewer.methods) and the
#: attribution benchmark's table (the numbers beside each method)
ATTRIBUTION_FILES = {"model": "model/lstm.pt", "benchmark": "attribution/lstm_benchmark.csv"}


def default_inputs(res: Path, tmp: Path, attribution: bool = True):
    files = {k: res / v for k, v in RESULT_FILES.items()}
    if all(p.exists() for p in files.values()):
        extra = {k: res / v for k, v in ATTRIBUTION_FILES.items()}
        if attribution and all(p.exists() for p in extra.values()):
            return {**files, **extra}, "results, with the attribution stage's model and benchmark"
        return files, "results" + (" (without the attribution stage)" if not attribution else "")
    from test_viewer import write_all

    from skelvis.datasets import synthetic
    got = write_all(tmp / "default", n_per_class=40, T=60, classes=tuple(synthetic.CLASSES), units=list(range(20)),
                    iterations=12, hidden_size=100, rel_units=(3, 7, 11, 19), repetitions=2)
    return got["args"], "stand-ins (default-run shapes)"


def scale_inputs(n: int, tmp: Path, smooth: int = 9):
    from test_viewer import write_all
    classes = ("throw", "kick", "hand_waving", "clapping", "sit_down", "stand_up", "jump_up", "bow", "punch", "pick_up")
    got = write_all(tmp / "scale", n_per_class=max(1, n // (len(classes) * 2)), T=75, classes=classes,
                    units=list(range(8)), iterations=12, hidden_size=150, rel_units=(3, 7, 11, 19), repetitions=2,
                    smooth=smooth)
    return got["args"], (f"stand-ins (ntu_scale shapes, {len(got['ds'].x)} sequences, 2 methods, maps "
                         + (f"smoothed over {smooth} frames)" if smooth else "white noise: the incompressible worst case)"))


def first_render_times(page: Path, loads: int) -> list:
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return []
    if not chromium:
        return []
    from test_viewer import CHROMIUM_ARGS, READY, wait_until
    out = []
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        for _ in range(loads):
            ctx = b.new_context(viewport={"width": 1400, "height": 1300})
            ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
            p = ctx.new_page()
            t0 = time.perf_counter()
            p.goto(page.as_uri())
            wait_until(p, READY, timeout=60, interval=0.005)
            wall = time.perf_counter() - t0
            t = p.evaluate("skelvis.timing")
            out.append({"wall_s": round(wall, 3), **{k.replace("_ms", "_s"): round(v / 1000, 3) for k, v in t.items()}})
            ctx.close()
        b.close()
    return out


def measure(name: str, inputs: dict, what: str, tmp: Path, loads: int, float32: bool = True) -> dict:
    page = tmp / f"skelvis_{name}.html"
    t0 = time.perf_counter()
    s = viewer.write_viewer(page, cfg=viewer.ViewerConfig(), model_name="lstm", **inputs)
    build = time.perf_counter() - t0
    f32 = viewer.write_viewer(tmp / f"skelvis_{name}_f32.html", cfg=viewer.ViewerConfig(encoding="float32"),
                              model_name="lstm", **inputs) if float32 else None
    load0 = os.getloadavg()[0]
    times = first_render_times(page, loads)
    med = statistics.median(t["wall_s"] for t in times) if times else None
    return {"inputs": what, "page_mb": round(s["bytes"] / 1e6, 3), "page_mb_float32": round(f32["bytes"] / 1e6, 3) if f32 else None,
            "data_block_mb": round(s["payload_bytes"] / 1e6, 3), "data_inflated_mb": round(s["blob_bytes"] / 1e6, 3),
            "build_s": round(build, 2), "first_render_s_median": med,
            "first_draw_mark_s_median": statistics.median(t["first_draw_s"] for t in times) if times else None,
            "loads": times, "load_average_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "sequences": s["sequences"], "units": s["units"], "methods": s["methods"], "maxruns": s["maxruns"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=HERE.parent / "results" / "synthetic")
    ap.add_argument("--loads", type=int, default=7)
    ap.add_argument("--scale-n", type=int, default=2000)
    ap.add_argument("--smooth", type=int, default=9,
                    help="stand-in maps: moving average over this many frames, as real sensitivity maps vary "
                         "smoothly (the default run's unit maps gzip to 40 %%); 0: white noise, the worst case")
    ap.add_argument("--without-attribution", action="store_true",
                    help="the default run's page without the attribution stage's maps (the page before issue 20's picker)")
    ap.add_argument("--default-only", action="store_true", help="skip the scale configuration")
    ap.add_argument("--no-float32", action="store_true", help="skip the float32 page (its size only)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = {}
        inp, what = default_inputs(a.results, tmp, attribution=not a.without_attribution)
        rows["default"] = measure("default", inp, what, tmp, a.loads, float32=not a.no_float32)
        if not a.default_only:
            inp, what = scale_inputs(a.scale_n, tmp, a.smooth)
            rows["scale"] = measure("scale", inp, what, tmp, a.loads, float32=not a.no_float32)
    summary = {f"{k}_{m}": r[m] for k, r in rows.items() for m in ("page_mb", "first_render_s_median")}
    summary["goal"] = "page < 4 MB and first render < 1.5 s for both"
    summary["met"] = all(r["page_mb"] < 4 and (r["first_render_s_median"] or 0) < 1.5 for r in rows.values())
    write_result("viewer", summary, details=rows)


if __name__ == "__main__":
    main()
