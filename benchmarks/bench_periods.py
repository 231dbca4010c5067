"""Periods stage: two side-by-side comparisons on the same inputs.

1. Highly activated periods: the vectorised run-length encoding (skelvis.periods.run_length_periods)
   against a Python loop over (sequence, unit, frame), on an activation mask the size of the
   default run (800 sequences x 64 frames x 100 units, 10% of frames active in runs); checks both
   give the same periods.
2. MC-dropout LRP (skelvis.relevance.unit_relevance): the batched backward pass (all samples of a
   target in one batch, dropout masks drawn as bytes) against running the samples one by one, for
   the default LSTM size (75 inputs, 100 units), 4 targets at t = 47, 30 samples.
Usage: python benchmarks/bench_periods.py  ->  results/bench/periods.json
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import best_time, write_result

from skelvis.models import build_model
from skelvis.periods import run_length_periods
from skelvis.relevance import unit_relevance


def naive_periods(act):
    out = []
    N, T, H = act.shape
    for n in range(N):
        for u in range(H):
            t = 0
            while t < T:
                if act[n, t, u]:
                    s = t
                    while t < T and act[n, t, u]:
                        t += 1
                    out.append((n, u, s, t))
                else:
                    t += 1
    return out


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    # smooth random responses thresholded at their 0.9 quantile: runs like real periods
    h = rng.normal(size=(800, 64, 100)).cumsum(1)
    act = h > np.quantile(h, 0.9)
    t_vec = best_time(lambda: run_length_periods(act), repeat=3)
    t0 = time.perf_counter()
    ref = naive_periods(act)
    t_loop = time.perf_counter() - t0
    per = run_length_periods(act)
    same = list(zip(per.sample.tolist(), per.unit.tolist(), per.start.tolist(), per.stop.tolist())) == ref

    torch.manual_seed(0)
    model = build_model({"input_size": 75, "hidden_size": 100, "num_classes": 10}).eval()
    x = rng.normal(size=(4, 48, 25, 3)).astype(np.float32)
    units, ts, S = [0, 1, 2, 3], [47] * 4, 30
    t_batch = best_time(lambda: unit_relevance(model, x, units, ts, n_samples=S, channels=3), repeat=1, warmup=0)

    def one_by_one():
        return [unit_relevance(model, x, units, ts, n_samples=1, dropout=0.1, seed=s, channels=3) for s in range(S)]

    t_single = best_time(one_by_one, repeat=1, warmup=0)
    summary = {"rle_vectorised_s": t_vec, "rle_loop_s": t_loop, "rle_speedup": t_loop / t_vec,
               "rle_same_periods": bool(same), "n_periods": len(per),
               "lrp_mc_batched_s": t_batch, "lrp_mc_one_by_one_s": t_single, "lrp_speedup": t_single / t_batch}
    write_result("periods", summary, compared={
        "rle": "run_length_periods (numpy diff + nonzero) vs Python loop over (sequence, unit, frame); 800x64x100",
        "lrp": "unit_relevance with 30 MC samples in one batch vs 30 calls with 1 sample; 4 targets, T=48, H=100"})


if __name__ == "__main__":
    main()
