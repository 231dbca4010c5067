"""Training throughput (sequences/s), CPU vs CUDA, on the NTU-sized model of Patil et al.

One LSTM layer of 150 units on 75 inputs (25 joints x 3), 49 classes, batch 128, 100 frames:
the same training step as skelvis.train (forward with lengths, cross-entropy, backward, gradient
clipping, Adam) timed on random data, best of 3 after a warm-up.  Without CUDA only the CPU
side runs and the result says so.  Usage: python benchmarks/bench_gpu_training.py [--steps N]
"""
import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import write_result

from skelvis.models import build_model

SPEC = {"input_size": 75, "hidden_size": 150, "num_classes": 49, "cell": "lstm", "num_layers": 1}
BATCH, FRAMES = 128, 100


def throughput(device: str, steps: int, threads: int) -> dict:
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = build_model(SPEC).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=0.005)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(BATCH, FRAMES, 75, device=device)
    length = torch.randint(FRAMES // 2, FRAMES + 1, (BATCH,), device=device)
    y = torch.randint(0, 49, (BATCH,), device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x, length), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        return loss

    def run():
        for _ in range(steps):
            loss = step()
        float(loss.detach())  # synchronise (CUDA)
        if device == "cuda":
            torch.cuda.synchronize()

    run()  # warm-up (cuDNN plans, allocator)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"device": device, "steps": steps, "seconds": best,
            "sequences_per_s": steps * BATCH / best, "ms_per_step": 1000 * best / steps}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None, help="training steps per timing (default: 5 CPU, 50 CUDA)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores, 1 without CUDA)")
    a = ap.parse_args(argv)
    cuda = torch.cuda.is_available()
    threads = a.threads or (torch.get_num_threads() if cuda else 1)
    cpu = throughput("cpu", a.steps or 5, threads)
    summary = {"model": "LSTM 75-150-49", "batch": BATCH, "frames": FRAMES,
               "cpu_threads": threads, "cpu_sequences_per_s": round(cpu["sequences_per_s"], 1)}
    details = {"cpu": cpu}
    if cuda:
        gpu = throughput("cuda", a.steps or 50, threads)
        details["cuda"] = gpu
        summary.update(gpu=torch.cuda.get_device_name(0),
                       cuda_sequences_per_s=round(gpu["sequences_per_s"], 1),
                       speedup=round(gpu["sequences_per_s"] / cpu["sequences_per_s"], 1),
                       # the paper's NTU training: 25,800 iterations of batch 128
                       ntu_25800_iterations_minutes_cuda=round(25800 * gpu["ms_per_step"] / 60000, 1),
                       ntu_25800_iterations_minutes_cpu=round(25800 * cpu["ms_per_step"] / 60000, 1))
    else:
        summary["cuda"] = "not available: CPU only"
    write_result("gpu_training", summary, **details)


if __name__ == "__main__":
    # run directly: take the command line; run by benchmarks/run.py (runpy): the defaults
    main(sys.argv[1:] if Path(sys.argv[0]).name == Path(__file__).name else [])
