"""Helpers for benchmarks: timing with warm-up and best-of-n, writing results/bench/<name>.json."""
import json
import platform
import time
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "results" / "bench"


def best_time(fn, repeat: int = 3, warmup: int = 1) -> float:
    """Best wall time in seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def growth_exponent(ns, values) -> float | None:
    """Least-squares slope of log(value) against log(N) over the positive values (None with fewer
    than two): how a cost grows with the number of sequences N (1: linearly)."""
    import numpy as np
    pts = [(n, v) for n, v in zip(ns, values) if v and v > 0]
    if len(pts) < 2:
        return None
    return float(np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)[0])


def write_result(name: str, summary: dict, **details) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    doc = {"name": name, "summary": summary, "machine": {"python": platform.python_version(),
           "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor()},
           **details}
    path.write_text(json.dumps(doc, indent=2))
    print(json.dumps(summary))
    return path
