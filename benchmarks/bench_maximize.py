"""Constrained activation maximisation: the batched projection (skelvis.constraints.project, all
frames at once) against scipy SLSQP per frame with analytic constraint Jacobians
(skelvis.constraints.project_slsqp), side by side on the same 100-frame sequence over
``ITERATIONS`` iterations of Eq. 14 (x <- P(x + step * d)), for the ``paper`` set and the
``plausible`` set's per-frame constraints (floor, support, volume; SLSQP cannot take the
acceleration bound, which couples frames, so both sides leave it out of the ratio).  Both reach
bone error <= 1e-4 and angle violation <= 0.1 deg.

One run misleads on a shared machine: the two solvers run interleaved ``--reps`` times and the
summary gives the median of the per-repetition ratios, with the load average beside it.  Also
timed, on one thread: one full iteration of a 100-frame sequence under the whole ``plausible``
set (the exact acceleration bound included, :func:`skelvis.constraints.project_sequence`).
Writes results/bench/maximize.json.

The ascent directions d are fixed in advance (seeded, smooth in time, the largest joint step
``STEP`` spine lengths) so that both solvers see the same problems; each solver follows its own
iterates.  Usage: python benchmarks/bench_maximize.py [--reps 3] [--iterations 12] [--sets paper,plausible]
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import write_result

from skelvis import constraints as C
from skelvis.datasets.synthetic import SyntheticConfig, generate
from skelvis.normalize import normalize
from skelvis.topology import KINECT_V2

FRAMES, ITERATIONS, STEP = 100, 12, 0.05


def problem(name: str = "paper", seed: int = 0, iterations: int = ITERATIONS):
    ds = generate(SyntheticConfig(classes=["throw"], subjects=1, repetitions=1, frames=FRAMES,
                                  max_frames=FRAMES + 40, seed=seed))
    x, _, _ = normalize(ds.x, ds.length, KINECT_V2, "ntu")
    T = min(FRAMES, int(ds.length[0]))
    seq = x[0, :T].astype(np.float64)
    cs = C.constraint_set(KINECT_V2, **C.CONSTRAINT_SETS[name])
    L = C.mean_bone_lengths(seq, T, cs.bones)
    fy = C.floor_height(seq, cs) if (cs.floor_joints or cs.support_joints) else None
    rng = np.random.default_rng(seed)
    dirs = []
    for _ in range(iterations):
        d = rng.normal(size=(T, 25, 3))
        d = np.cumsum(d, 0)
        d -= d.mean(0)
        dirs.append(STEP * d / np.linalg.norm(d, axis=-1).max())
    # valid start (both methods start from it)
    kw = {} if fy is None else {"floor_y": torch.full((T,), fy, dtype=torch.float64)}
    start = C.project(torch.as_tensor(seq), cs, torch.as_tensor(L).expand(T, -1), **kw).x.numpy()
    return start, dirs, cs, L, fy


def run_batched(start, dirs, cs, L, fy):
    x = torch.as_tensor(start)
    Lt = torch.as_tensor(L).expand(len(start), -1)
    kw = {} if fy is None else {"floor_y": torch.full((len(start),), fy, dtype=torch.float64)}
    dist = 0.0
    for d in dirs:
        z = x + torch.as_tensor(d)
        x = C.project(z, cs, Lt, **kw).x
        dist += float((x - z).norm(dim=-1).sum())
    return x.numpy(), dist


def run_slsqp(start, dirs, cs, L, fy):
    x = start.copy()
    dist = 0.0
    for d in dirs:
        z = x + d
        x = np.stack([C.project_slsqp(z[t], cs, L, floor_y=fy, x_init=x[t]) for t in range(len(z))])
        dist += float(np.linalg.norm(x - z, axis=-1).sum())
    return x, dist


def violations(x, cs, L, fy):
    viol = C.angle_violation_deg(x, cs, fy)
    kinds = cs.inequality_kinds()
    return (float(C.bone_length_error(x, cs, L).max()), float(viol[..., kinds == "angle"].max()),
            float(viol[..., kinds != "angle"].max()) if (kinds != "angle").any() else 0.0)


def one_plausible_iteration(reps: int):
    """Seconds of one full iteration (x <- P(x + d) with the exact acceleration bound) of a
    100-frame sequence under the plausible set, median of ``reps``."""
    start, dirs, cs, L, fy = problem("plausible", iterations=1)
    bound = 1.5 * float(C.acceleration(torch.as_tensor(start)).max())
    z = torch.as_tensor(start + dirs[0])
    T = len(start)
    C.project_sequence(z, cs, torch.as_tensor(L), floor_y=torch.full((T,), fy, dtype=torch.float64),
                       max_acceleration=bound)  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        res = C.project_sequence(z, cs, torch.as_tensor(L), floor_y=torch.full((T,), fy, dtype=torch.float64),
                                 max_acceleration=bound)
        times.append(time.perf_counter() - t0)
    assert res.converged and float(C.acceleration(res.x).max()) <= bound + 1e-9
    return float(np.median(times)), times


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=ITERATIONS)
    ap.add_argument("--sets", default="paper,plausible")
    args, _ = ap.parse_known_args(argv)  # benchmarks/run.py passes its own arguments
    torch.set_num_threads(1)
    # one thread for numpy/scipy's BLAS too: SLSQP's small products gain nothing from threads, and
    # OpenBLAS threads spinning after each call take the other hardware thread from the batched side
    threadpool_limits(1)
    summary, details = {"frames": FRAMES, "iterations": args.iterations, "reps": args.reps}, {}
    for name in args.sets.split(","):
        start, dirs, cs, L, fy = problem(name, iterations=args.iterations)
        run_batched(start, dirs[:1], cs, L, fy)  # warm-up
        tb, ts, loads = [], [], []
        for _ in range(args.reps):  # interleaved: both solvers see the same load
            loads.append(os.getloadavg()[0])
            t0 = time.perf_counter()
            xb, db = run_batched(start, dirs, cs, L, fy)
            tb.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            xs, ds_ = run_slsqp(start, dirs, cs, L, fy)
            ts.append(time.perf_counter() - t0)
        ratios = [s / b for s, b in zip(ts, tb)]
        vb, vs = violations(xb, cs, L, fy), violations(xs, cs, L, fy)
        summary[name] = {"median_speedup": round(float(np.median(ratios)), 1),
                         "batched_s_median": round(float(np.median(tb)), 3),
                         "slsqp_s_median": round(float(np.median(ts)), 3),
                         "load_1min": [round(v, 2) for v in loads]}
        details[name] = {"speedups": [round(r, 2) for r in ratios], "batched_s": tb, "slsqp_s": ts,
                         "batched_max_bone_error": vb[0], "batched_max_angle_violation_deg": vb[1],
                         "batched_max_other_violation": vb[2], "slsqp_max_bone_error": vs[0],
                         "slsqp_max_angle_violation_deg": vs[1], "slsqp_max_other_violation": vs[2],
                         "correction_norm_ratio_batched_over_slsqp": round(db / ds_, 4),
                         "inequalities": cs.num_inequalities}
    med, times = one_plausible_iteration(max(args.reps, 3))
    summary["plausible_iteration_ms"] = round(1000 * med, 1)
    summary["plausible_iteration_load_1min"] = round(os.getloadavg()[0], 2)
    details["plausible_iteration_s"] = times
    write_result("maximize", summary, details=details,
                 compared="skelvis.constraints.project (batched active-set Gauss-Newton/SQP, float64, all "
                          "frames at once; on the CPU numpy with numba-compiled Newton systems) vs scipy.optimize.minimize(method='SLSQP') per frame with "
                          "analytic Jacobians (skelvis.constraints.project_slsqp), interleaved repetitions",
                 note="median_speedup: median over repetitions of SLSQP seconds / batched seconds (same load); "
                      "plausible compares the per-frame rows (the acceleration bound couples frames, SLSQP per "
                      "frame cannot take it); plausible_iteration_ms: one x <- P(x + d) of 100 frames with "
                      "the exact acceleration bound, one thread; correction_norm_ratio: summed |projected - "
                      "unconstrained target| per joint, batched / SLSQP (1.0: equally close, Eq. 14's objective)")


if __name__ == "__main__":
    main()
