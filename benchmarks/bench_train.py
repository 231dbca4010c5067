"""Training loop overhead: skelvis.train.train_classifier against a bare torch.nn.LSTM + Adam loop.

Both run the same number of epochs over the same mini-batches (same order, same sizes) of the
default synthetic training split, with the same model size, on the CPU with the same threads.
skelvis's loop additionally evaluates the validation split after every epoch, keeps the best
weights and writes a checkpoint (that cost is part of what is measured). Goal: <= 10% overhead.
"""
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import write_result

from skelvis.datasets.synthetic import SyntheticConfig, generate
from skelvis.normalize import normalize
from skelvis.topology import KINECT_V2
from skelvis.train import TrainConfig, _epoch_batches, train_classifier

EPOCHS, BATCH, HIDDEN, SEED = 4, 32, 100, 0


def bare_loop(ds):
    torch.manual_seed(SEED)
    tr = ds.split == 0
    x = torch.from_numpy(ds.x[tr]).flatten(2)
    length = torch.from_numpy(ds.length[tr].astype(np.int64))
    y = torch.from_numpy(ds.label[tr].astype(np.int64))
    rnn = nn.LSTM(x.shape[-1], HIDDEN, batch_first=True)
    fc = nn.Linear(HIDDEN, len(ds.classes))
    opt = torch.optim.Adam(list(rnn.parameters()) + list(fc.parameters()), lr=0.005)
    for epoch in range(EPOCHS):
        for idx in _epoch_batches(len(x), BATCH, SEED, epoch):
            idx = torch.from_numpy(idx)
            out, _ = rnn(x[idx])
            logits = fc(out[torch.arange(len(idx)), length[idx] - 1])
            loss = nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def skelvis_loop(ds, ckdir):
    cfg = TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=0.005, lr_decay_epochs=100, seed=SEED)
    train_classifier(ds, {"cell": "lstm", "hidden_size": HIDDEN, "num_layers": 1, "dropout": 0.0}, cfg,
                     checkpoint=Path(ckdir) / "ck.pt", progress=False)


def main():
    torch.set_num_threads(2)
    ds = generate(SyntheticConfig())
    ds.x, ds.scale, _ = normalize(ds.x, ds.length, KINECT_V2, "ntu")
    bare_loop(ds)  # warm-up
    times = {"bare": [], "skelvis": []}
    for rep in range(3):  # interleave to share machine noise
        t0 = time.perf_counter()
        bare_loop(ds)
        times["bare"].append(time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            skelvis_loop(ds, d)
            times["skelvis"].append(time.perf_counter() - t0)
    bare, ours = min(times["bare"]), min(times["skelvis"])
    write_result("train", {"bare_s": round(bare, 3), "skelvis_s": round(ours, 3),
                           "ratio": round(ours / bare, 3), "overhead_pct": round(100 * (ours / bare - 1), 1)},
                 compared="skelvis.train.train_classifier (with per-epoch validation, best-weights copy and "
                          "checkpoint) vs a bare nn.LSTM+Linear+Adam loop over the same batches",
                 setup={"epochs": EPOCHS, "batch_size": BATCH, "hidden": HIDDEN,
                        "train_sequences": int((ds.split == 0).sum()), "T": ds.x.shape[1]},
                 all_times=times)


if __name__ == "__main__":
    main()
