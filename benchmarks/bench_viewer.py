"""SkeletonVis page for the default run: size and time to first render in headless Chromium,
quantised base64 arrays (the default) against JSON numbers rounded to 3 decimals, side by side.

Inputs: the default run's results/synthetic/ (data.h5, model/lstm/metrics.json, predictions.h5,
saliency/lstm.h5, maximize/lstm.h5) when present - pass another folder as the first argument.
Files that are missing are replaced by stand-ins of the default run's shapes (800 sequences,
10 classes, 64 frames; 20 saliency units; 13 maximisation targets x 12 iterations), and the
result says which were stand-ins. Needs chromium and playwright (skips the timing otherwise).

    python benchmarks/bench_viewer.py [results/synthetic]
"""
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from _util import write_result

from skelvis import viewer
from skelvis.datasets.store import read_dataset
from skelvis.maximize import MaximizationResult, Target, write_maximization
from skelvis.saliency import SaliencyMaps, write_saliency


def stand_ins(res: Path, tmp: Path) -> dict:
    """Paths of the inputs; missing ones are generated in ``tmp`` with default-run shapes."""
    from test_viewer import make_inputs

    used = {}
    data, metrics = res / "data.h5", res / "model" / "lstm" / "metrics.json"
    pred = res / "model" / "lstm" / "predictions.h5"
    if not (data.exists() and metrics.exists() and pred.exists()):
        from skelvis.datasets import synthetic
        make_inputs(tmp, n_per_class=40, classes=tuple(synthetic.CLASSES), T=60)
        data, metrics, pred = tmp / "data.h5", tmp / "metrics.json", tmp / "predictions.h5"
        used["data/metrics/predictions"] = "stand-in"
    ds = read_dataset(data)
    n, T, J = ds.x.shape[:3]
    rng = np.random.default_rng(0)
    sal = res / "saliency" / "lstm.h5"
    if not sal.exists():
        sal = tmp / "saliency.h5"
        mask = (np.arange(T)[None, :] < ds.length[:, None])[..., None]
        write_saliency(sal, SaliencyMaps(class_map=(rng.random((n, T, J)) * mask).astype(np.float32),
                                         pred_map=(rng.random((n, T, J)) * mask).astype(np.float32),
                                         unit_maps=(rng.random((n, 20, T, J)) * mask[:, None]).astype(np.float32),
                                         units=np.arange(20), predicted=ds.label.copy()))
        used["saliency"] = "stand-in (20 units)"
    mx = res / "maximize" / "lstm.h5"
    if not mx.exists():
        mx = tmp / "maximize.h5"
        targets = [Target("class", c, name=name) for c, name in enumerate(ds.classes)]
        targets += [Target("unit", u) for u in (1, 2, 3)]
        idx = [int(np.flatnonzero(ds.label == i % ds.num_classes)[0]) for i in range(len(targets))]
        drift = rng.normal(size=(len(idx),) + ds.x.shape[1:]) * 0.01
        zeros = np.zeros((len(idx), 13))

        def run(k):
            snaps = np.stack([ds.x[idx] + k * it * drift for it in range(13)], 1).astype(np.float32)
            return MaximizationResult(snaps, np.tile(np.arange(13.0), (len(idx), 1)), zeros, zeros, zeros, zeros,
                                      [[] for _ in idx])
        write_maximization(mx, ds, targets, idx, run(1), run(3), None)
        used["maximize"] = "stand-in (13 targets x 12 iterations)"
    return {"data": data, "metrics": metrics, "predictions": pred, "saliency": sal, "maximize": mx, "used": used}


def first_render_times(page: Path, repeat: int = 3) -> list:
    """Per load (fresh browser profile each time): wall seconds from navigation to the first drawn
    skeleton, and the page's own marks (seconds since navigation start): plotly.js parsed
    (script_start), data parsed, first draw done."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return []
    if not chromium:
        return []
    from test_viewer import CHROMIUM_ARGS
    out = []
    with sync_playwright() as pw:
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as prof:
                ctx = pw.chromium.launch_persistent_context(prof, executable_path=chromium, headless=True,
                                                            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1300})
                ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
                p = ctx.new_page()
                t0 = time.perf_counter()
                p.goto(page.as_uri())
                p.wait_for_function("window.skelvis && window.skelvis.ready && document.querySelector('#player .main-svg')")
                wall = time.perf_counter() - t0
                t = p.evaluate("skelvis.timing")
                out.append({"wall_s": wall, **{k.replace("_ms", "_s"): v / 1000 for k, v in t.items()}})
                ctx.close()
    return out


def main(res: Path):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inp = stand_ins(res, tmp)
        rows = {}
        for enc in ("quantized", "rounded"):
            cfg = viewer.ViewerConfig(encoding=enc)
            page = tmp / f"skelvis_{enc}.html"
            t0 = time.perf_counter()
            summary = viewer.write_viewer(page, inp["data"], inp["metrics"], inp["predictions"],
                                          inp["saliency"], inp["maximize"], cfg=cfg, model_name="lstm")
            build = time.perf_counter() - t0
            times = first_render_times(page)
            rows[enc] = {"page_mb": summary["bytes"] / 1e6, "data_mb": summary["payload_bytes"] / 1e6,
                         "build_s": build,
                         "first_render_s": statistics.median(t["wall_s"] for t in times) if times else None,
                         "first_draw_mark_s": statistics.median(t["first_draw_s"] for t in times) if times else None,
                         "first_render_all_s": times, "sequences": summary["sequences"],
                         "units": summary["units"], "maxruns": summary["maxruns"]}
    q, r = rows["quantized"], rows["rounded"]
    summary = {"page_mb_quantized": round(q["page_mb"], 2), "page_mb_rounded": round(r["page_mb"], 2),
               "data_mb_quantized": round(q["data_mb"], 3), "data_mb_rounded": round(r["data_mb"], 3),
               "first_render_s_quantized": q["first_render_s"], "first_render_s_rounded": r["first_render_s"],
               "data_size_ratio": round(r["data_mb"] / q["data_mb"], 2),
               "render_ratio": (round(r["first_render_s"] / q["first_render_s"], 2)
                                if q["first_render_s"] and r["first_render_s"] else None)}
    write_result("viewer", summary, details=rows, inputs={k: str(v) for k, v in inp.items() if k != "used"},
                 stand_ins=inp["used"])


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent / "results" / "synthetic")
