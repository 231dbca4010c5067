"""Cost of the DAG as the data grows (issue 16): seconds, peak RSS and output bytes per rule and size.

For each size N (default 2,000, 8,000 and 32,000 sequences) the workflow is copied into
``<workdir>/<N>`` and run with ``config/ntu_scale.yaml`` scaled down to N sequences (same
100 frames, 150-unit LSTM, batch 128, 98 unit maps, one epoch; N must be a multiple of
subjects x classes = 1,000).  Per rule and size it reads the rule's own ``benchmark:`` file
(seconds ``s`` and ``max_rss`` MB; a rule that ran for several wildcards sums seconds and takes
the largest max_rss) and sums the bytes of the rule's outputs (``snakemake --summary``), then
fits per rule the growth exponent of time, the slope of log(seconds) against log(N).
Also per size: the bytes of every results file and per sequence (``files``), the load average
before and after (the machine may be shared: memory is reliable, seconds only indicative), and
``--shards N`` runs the per-sequence stages as N scattergather jobs each (config ``shards``).
Writes results/bench/scale.json (``--out`` for another path).  Not part of ``make bench``
(too long): ``make bench-scale`` or
  python benchmarks/bench_scale.py --sizes 2000 8000 [--until faithfulness] [--cores 2] [--shards 4]
"""
import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import OUT, growth_exponent, write_result

PARTS = ("workflow", "scripts", "notebooks", "config", "envs", "profiles")
BASE = ROOT / "config" / "ntu_scale.yaml"


def scaled_config(n: int, shards: int = 1) -> dict:
    """config/ntu_scale.yaml with repetitions set so that the generator makes ``n`` sequences."""
    cfg = yaml.safe_load(BASE.read_text())
    cfg["shards"] = int(shards)
    (name,) = cfg["datasets"]
    syn = cfg["data"][name]["synthetic"]
    from skelvis.datasets.synthetic import CLASSES
    per_rep = int(syn["subjects"]) * len(syn.get("classes", CLASSES))
    if n % per_rep:
        raise SystemExit(f"--sizes {n}: must be a multiple of subjects x classes = {per_rep} "
                         f"(config/ntu_scale.yaml data.{name}.synthetic)")
    syn["repetitions"] = n // per_rep
    return cfg


def benchmarks(wd: Path) -> dict:
    """{rule: {'seconds', 'max_rss_mb'}} from results/*/benchmarks/<rule>/*.tsv."""
    out: dict = defaultdict(lambda: {"seconds": 0.0, "cpu_seconds": 0.0, "max_rss_mb": 0.0})
    for tsv in sorted(wd.glob("results/*/benchmarks/**/*.tsv")):
        rule = tsv.relative_to(wd).parts[3].removesuffix(".tsv")  # <rule>/<wildcards>.tsv or <rule>.tsv
        with tsv.open() as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        for r in rows:
            out[rule]["seconds"] += float(r["s"])
            if r.get("cpu_time", "NA") not in ("NA", "", "-"):
                out[rule]["cpu_seconds"] += float(r["cpu_time"])
            rss = r.get("max_rss", "NA")
            if rss not in ("NA", "", "-"):
                out[rule]["max_rss_mb"] = max(out[rule]["max_rss_mb"], float(rss))
    return dict(out)


def exact_peaks(wd: Path) -> dict:
    """{rule: largest exact peak RSS (MB)} from the rules' logs (skelvis.rulelog writes
    ``rule <name>, threads ...`` first and ``done in ... peak RSS <MB> MB`` last, by getrusage);
    notebooks (papermill) have no such line."""
    out: dict = {}
    for log in wd.glob("logs/**/*.log"):
        text = log.read_text(errors="replace")
        m_rule = re.search(r" rule (\S+), threads", text)
        m_rss = re.findall(r"done in [0-9.]+ s, peak RSS ([0-9.]+) MB", text)
        if m_rule and m_rss:
            rule = m_rule.group(1)
            out[rule] = max(out.get(rule, 0.0), float(m_rss[-1]))
    return out


def output_bytes(wd: Path, args) -> dict:
    """{rule: bytes of its outputs} from ``snakemake --summary`` (output_file, date, rule, ...)."""
    return _outputs(wd, args)[0]


def _outputs(wd: Path, args) -> tuple[dict, dict]:
    """({rule: bytes of its outputs}, {file: bytes}) from ``snakemake --summary``."""
    p = subprocess.run([sys.executable, "-m", "snakemake", "--summary", *args], cwd=wd,
                       capture_output=True, text=True, check=True)
    out: dict = defaultdict(int)
    files: dict = {}
    for line in p.stdout.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 3:
            continue
        f = wd / cols[0]
        if f.is_file():
            out[cols[2]] += f.stat().st_size
            files[cols[0]] = f.stat().st_size
        elif f.is_dir():
            out[cols[2]] += sum(q.stat().st_size for q in f.rglob("*") if q.is_file())
    return dict(out), files


def run_size(n: int, workdir: Path, cores: int, until, keep: bool, shards: int = 1) -> dict:
    wd = workdir / str(n)
    if wd.exists():
        shutil.rmtree(wd)
    wd.mkdir(parents=True)
    for part in PARTS:
        shutil.copytree(ROOT / part, wd / part)
    (wd / "config" / "scale.yaml").write_text(yaml.safe_dump(scaled_config(n, shards), sort_keys=False))
    load_before = os.getloadavg()
    args = ["--configfile", "config/scale.yaml"] + (["--until", *until] if until else [])
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(cores), *args], cwd=wd,
                       capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    if p.returncode:
        raise SystemExit(f"snakemake failed at N = {n} ({wd}):\n{p.stderr[-4000:]}")
    rules = benchmarks(wd)
    for rule, mb in exact_peaks(wd).items():
        if rule in rules:
            rules[rule]["max_rss_exact_mb"] = round(mb, 1)
    sizes, files = _outputs(wd, args)
    for rule, r in rules.items():
        b = int(sizes.get(rule, 0))
        r.update(seconds=round(r["seconds"], 2), cpu_seconds=round(r["cpu_seconds"], 2), output_bytes=b, bytes_per_sequence=round(b / n, 1))
    if not keep:
        shutil.rmtree(wd / "results", ignore_errors=True)
    per_file = {f: {"bytes": b, "bytes_per_sequence": round(b / n, 1)} for f, b in sorted(files.items())}
    return {"wall_s": round(wall, 1), "load_before": [round(v, 2) for v in load_before],
            "load_after": [round(v, 2) for v in load_after], "shards": shards, "rules": rules, "files": per_file}


def exponents(sizes, runs, key: str = "seconds") -> dict:
    """Per rule the least-squares slope of log(``key``) against log(N) over the sizes it ran at
    (``seconds``: the rule's wall time, what Snakemake's benchmark measures exactly; its
    ``cpu_time`` and ``max_rss`` are sampled, each second for the first 30 s, then every 30 s)."""
    out = {}
    rules = sorted({r for n in sizes for r in runs[str(n)]["rules"]})
    for rule in rules:
        have = [n for n in sizes if rule in runs[str(n)]["rules"]]
        e = growth_exponent(have, [runs[str(n)]["rules"][rule].get(key, 0) for n in have])
        if e is not None:
            out[rule] = round(e, 3)
    return out


def merge(paths, out: str) -> Path:
    """One scale JSON from several (each a ``bench_scale`` result), exponents over all sizes."""
    runs, compared = {}, []
    for p in paths:
        doc = json.loads(Path(p).read_text())
        runs.update(doc["runs"])
        compared.append(doc.get("compared", str(p)))
    sizes = sorted(int(n) for n in runs)
    write_result(out, {"time_exponent": exponents(sizes, runs)},
                 compared=" + ".join(compared) + f" (merged from {[str(p) for p in paths]})",
                 goals={"time_exponent": "<= 1.1 per rule", "max_rss_mb": "flat in N"},
                 sizes=sizes, runs={str(n): runs[str(n)] for n in sizes})
    return OUT / f"{out}.json"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 32000])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--until", nargs="*", default=None, help="run only up to these rules (snakemake --until)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp") / "skelvis_bench_scale")
    ap.add_argument("--keep", action="store_true", help="keep each size's results/ folder")
    ap.add_argument("--shards", type=int, default=1, help="config shards (scattergather jobs per stage)")
    ap.add_argument("--out", default="scale", help="name of the JSON under results/bench (default scale)")
    ap.add_argument("--merge", type=Path, nargs="+", default=None,
                    help="instead of running: merge the runs of these scale JSONs (sizes measured by separate "
                         "invocations) into --out and fit the exponents over all their sizes")
    a = ap.parse_args(argv)
    if a.merge:
        return merge(a.merge, a.out)
    runs = {}
    for n in a.sizes:
        print(f"== N = {n}", flush=True)
        runs[str(n)] = run_size(n, a.workdir, a.cores, a.until, a.keep, a.shards)
        print(json.dumps(runs[str(n)]), flush=True)
    exp = exponents(a.sizes, runs)
    write_result(a.out, {"time_exponent": exp},
                 compared=f"the DAG of config/ntu_scale.yaml at N = {a.sizes} sequences, snakemake --cores {a.cores}"
                          + (f" --until {' '.join(a.until)}" if a.until else "")
                          + "; per rule seconds and max_rss (MB) from its benchmark: file, output bytes from "
                            "snakemake --summary; time_exponent = slope of log(seconds) vs log(N); cpu_seconds "
                            "is Snakemake's sampled CPU time (each second for the first 30 s, then every 30 s: "
                            "a lower bound, not for exponents)",
                 goals={"time_exponent": "<= 1.1 per rule", "max_rss_mb": "flat in N"},
                 sizes=a.sizes, runs=runs)
    return OUT / f"{a.out}.json"


if __name__ == "__main__":
    main()
