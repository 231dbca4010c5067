"""`make bench`: run every benchmarks/bench_*.py (each writes results/bench/<name>.json).

Each benchmark compares two implementations side by side in one run, on the same inputs, and
records both times, their ratio and what was compared.  Usage: python benchmarks/run.py [name ...]
"""
import json
import runpy
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "results" / "bench"


def main(names):
    OUT.mkdir(parents=True, exist_ok=True)
    files = sorted(HERE.glob("bench_*.py"))
    if names:
        files = [f for f in files if f.stem[len("bench_"):] in names]
    else:  # the DAG at growing sizes takes hours: `make bench-scale`
        files = [f for f in files if f.stem != "bench_scale"]
    failed = []
    for f in files:
        t0 = time.perf_counter()
        print(f"== {f.stem}", flush=True)
        try:
            runpy.run_path(str(f), run_name="__main__")
        except Exception as e:  # noqa: BLE001  (any failure: keep going, report it at the end)
            failed.append(f"{f.stem}: {type(e).__name__}: {e}")
        print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
    for j in sorted(OUT.glob("*.json")):
        print(j.name, json.dumps(json.loads(j.read_text()).get("summary", {})))
    if failed:
        print("FAILED:", *failed, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
