"""A Slurm plan for a dataset past one node (issue 16), derived from measured costs.

Reads ``results/bench/scale.json`` (benchmarks/bench_scale.py: per rule and size, wall seconds,
CPU seconds, peak RSS and output bytes) and, where present, ``results/bench/gpu_training.json``
(benchmarks/bench_gpu_training.py: the paper's training step, LSTM 75-150-49, batch 128, 100
frames, on CPU and, where a GPU is lent, CUDA).  For a target size N (default NTU RGB+D 120 at full
size, 114,480 sequences, in the setting of config/ntu_scale.yaml) it extrapolates per rule

  seconds(N) = seconds(N_max) * (N / N_max) ** e,   e = the rule's fitted time exponent, clipped
                                                      to [0, 2] (bounded stages stay flat)
  bytes(N)   = the same with the exponent of the rule's output bytes
  memory     = the largest peak RSS measured (sampled or exact), x 1.5 (flat in N)

and chooses, for the per-sequence stages that split with Snakemake's ``scattergather``
(evaluate, saliency, faithfulness, activations), the number of shards that keeps each shard
within half of the partition's time limit (``--limit-hours``).  Training: the paper's 25,800
iterations of batch 128 at the measured time per step (CUDA where gpu_training.json has it, else
the CPU figure, and the plan says which).  Writes results/bench/cluster_plan.json and prints a
Markdown table (the one in docs/cluster.md, section 6).

Usage: python benchmarks/plan_cluster.py [--sequences 114480] [--limit-hours 4] [--scale PATH]
"""
import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import OUT, growth_exponent, write_result

SHARDED = ("evaluate", "saliency", "faithfulness", "activations")
ITERATIONS, BATCH = 25_800, 128


def plan(scale: dict, target: int, limit_h: float, gpu: dict | None) -> dict:
    sizes = sorted(int(n) for n in scale["runs"])
    nmax = sizes[-1]
    rules = sorted({r for n in sizes for r in scale["runs"][str(n)]["rules"]})
    rows = []
    for rule in rules:
        per = [scale["runs"][str(n)]["rules"].get(rule) for n in sizes]
        have = [(n, p) for n, p in zip(sizes, per) if p]
        if not have:
            continue
        n_hi, hi = have[-1]
        e_t = growth_exponent([n for n, _ in have], [p["seconds"] for _, p in have])
        e_b = growth_exponent([n for n, _ in have], [p["output_bytes"] for _, p in have])
        grow = target / n_hi
        sec = hi["seconds"] * grow ** min(max(e_t if e_t is not None else 1.0, 0.0), 2.0)
        byt = hi["output_bytes"] * grow ** min(max(e_b if e_b is not None else 1.0, 0.0), 2.0)
        # the exact peak (the rule's own log, getrusage/VmHWM) where measured: Snakemake samples
        rss = max(max(p["max_rss_mb"], p.get("max_rss_exact_mb") or 0.0) for _, p in have)
        shards = max(1, math.ceil(sec / (0.5 * limit_h * 3600))) if rule in SHARDED else 1
        rows.append({"rule": rule, "measured_at": n_hi, "time_exponent": None if e_t is None else round(e_t, 2),
                     "seconds_at_target": round(sec), "shards": shards,
                     "seconds_per_job": round(sec / shards), "mem_mb": int(math.ceil(1.5 * rss / 500) * 500),
                     "bytes_exponent": None if e_b is None else round(e_b, 2), "output_gb": round(byt / 1e9, 2),
                     "fits_limit": sec / shards <= limit_h * 3600})
    train = {"iterations": ITERATIONS, "batch": BATCH}
    if gpu and "cuda" in gpu:
        train.update(device=gpu["summary"].get("gpu", "cuda"), source="benchmarks/bench_gpu_training.py, CUDA",
                     hours=round(ITERATIONS * gpu["cuda"]["ms_per_step"] / 3.6e6, 2))
    elif gpu and "cpu" in gpu:
        cpu = gpu["cpu"]
        train.update(device=f"CPU, {gpu['summary'].get('cpu_threads', '?')} thread(s)",
                     source="benchmarks/bench_gpu_training.py, CPU figure: no GPU was lent to the run that measured it",
                     hours=round(ITERATIONS * cpu["ms_per_step"] / 3.6e6, 2))
    else:
        tr = scale["runs"][str(nmax)]["rules"].get("train")
        if tr:
            steps = math.ceil(0.7 * nmax / BATCH)  # one epoch over the generator's 70 % training subjects
            train.update(device="CPU (the scale run's cores)",
                         source="scale.json's one-epoch train rule (reading included), CPU figure: no GPU benchmark",
                         hours=round(ITERATIONS * tr["seconds"] / steps / 3600, 2))
    disk = sum(r["output_gb"] for r in rows)
    return {"sequences": target, "limit_hours": limit_h, "measured_sizes": sizes, "rules": rows,
            "training": train, "disk_gb": round(disk, 1),
            "shard_scratch_gb": round(sum(r["output_gb"] for r in rows if r["rule"] in SHARDED), 1)}


def markdown(p: dict) -> str:
    sizes = ", ".join(f"{n:,}" for n in p["measured_sizes"])
    lines = [(f"Target: {p['sequences']:,} sequences; partition limit {p['limit_hours']:g} h; measured at "
              f"{sizes} sequences."), "",
             "| rule | time exponent | time at target (h, train: one epoch) | jobs | h per job | mem_mb per job | output (GB) |",
             "|---|---|---|---|---|---|---|"]
    for r in p["rules"]:
        lines.append(f"| `{r['rule']}` | {r['time_exponent']} | {r['seconds_at_target'] / 3600:.2f} | {r['shards']} | "
                     f"{r['seconds_per_job'] / 3600:.2f} | {r['mem_mb']} | {r['output_gb']:.2f} |")
    t = p["training"]
    if "hours" in t:
        lines += ["", (f"Training, the paper's {t['iterations']:,} iterations of batch {t['batch']}: "
                       f"**{t['hours']} h** on {t['device']} ({t['source']}).")]
    lines += ["", (f"Disk: **{p['disk_gb']} GB** of results, plus {p['shard_scratch_gb']} GB of shard files until "
                   "the gathers have run.")]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequences", type=int, default=114_480, help="target size (default NTU RGB+D 120)")
    ap.add_argument("--limit-hours", type=float, default=4.0, help="the partition's time limit")
    ap.add_argument("--scale", type=Path, default=OUT / "scale.json")
    ap.add_argument("--gpu", type=Path, default=OUT / "gpu_training.json")
    a = ap.parse_args(argv)
    if not a.scale.is_file():
        raise SystemExit(f"{a.scale}: not found; run `make bench-scale` (benchmarks/bench_scale.py) first")
    scale = json.loads(a.scale.read_text())
    gpu = json.loads(a.gpu.read_text()) if a.gpu.is_file() else None
    p = plan(scale, a.sequences, a.limit_hours, gpu)
    write_result("cluster_plan", {"sequences": p["sequences"], "disk_gb": p["disk_gb"],
                                  "training_hours": p["training"].get("hours")}, plan=p)
    print(markdown(p))
    return p


if __name__ == "__main__":
    main()
