"""Joint sensitivity (Patil et al. Eq. 1): closed-form local Jacobian against a per-(t, u) autograd loop.

Same model (the default LSTM, 100 units, trained one epoch on the default synthetic data) and the
same inputs (the first sequences of the validation split): skelvis.saliency.local_jacobian against
skelvis.saliency.local_jacobian_autograd (the network unrolled with torch.nn.LSTMCell, previous
states detached, one torch.autograd.grad call per hidden unit and frame).  Reports both times, the
speed-up (goal >= 200x) and the largest absolute difference.  Second comparison: the saliency
rule's whole computation (class, predicted-class and unit maps, Eq. 1-5) for the whole validation
split against the time of one training epoch (goal: less).  One thread, as in the rule.
Usage: python benchmarks/bench_saliency.py  ->  results/bench/saliency.json
"""
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import best_time, write_result  # noqa: E402

from skelvis.datasets.synthetic import SyntheticConfig, generate  # noqa: E402
from skelvis.normalize import normalize  # noqa: E402
from skelvis.saliency import local_jacobian, local_jacobian_autograd, saliency_maps, top_units  # noqa: E402
from skelvis.topology import KINECT_V2  # noqa: E402
from skelvis.train import TrainConfig, train_classifier  # noqa: E402

LOOP_SEQUENCES = 2


def main():
    torch.set_num_threads(1)
    ds = generate(SyntheticConfig(max_frames=64, subjects=40, repetitions=2, seed=0))
    ds.x, ds.scale, _ = normalize(ds.x, ds.length, KINECT_V2, "ntu", train_mask=ds.split == 0)
    model, hist = train_classifier(ds, {"cell": "lstm", "hidden_size": 100, "num_layers": 1},
                                   TrainConfig(epochs=1, batch_size=32, seed=0), progress=False)
    epoch_s = float(hist[0]["seconds"])
    va = ds.split == 1
    x = torch.from_numpy(ds.x[va])
    length = torch.from_numpy(ds.length[va]).long()
    label = torch.from_numpy(ds.label[va]).long()

    xs, ls = x[:LOOP_SEQUENCES], length[:LOOP_SEQUENCES]
    t0 = time.perf_counter()
    ref = local_jacobian_autograd(model, xs, ls)
    loop_s = time.perf_counter() - t0
    closed_s = best_time(lambda: local_jacobian(model, xs, ls), repeat=5)
    diff = float((local_jacobian(model, xs, ls) - ref).abs().max())
    units = top_units(model, 2)
    val_s = best_time(lambda: saliency_maps(model, x, length, label, units=units), repeat=3)
    frames = int(ls.sum())
    summary = {"closed_form_s": round(closed_s, 5), "autograd_loop_s": round(loop_s, 3),
               "speedup": round(loop_s / closed_s, 1), "max_abs_diff": diff,
               "validation_saliency_s": round(val_s, 3), "train_epoch_s": round(epoch_s, 3),
               "saliency_vs_epoch": round(val_s / epoch_s, 3)}
    write_result("saliency", summary,
                 compared="closed-form local Jacobian (Eq. 1) vs per-(t, u) autograd loop on the same model and "
                          f"inputs ({LOOP_SEQUENCES} validation sequences, {frames} valid frames, 100 units, J*C = 75); "
                          "saliency maps (Eq. 1-5, true + predicted class, "
                          f"{len(units)} unit maps) for the {int(va.sum())} validation sequences vs one training "
                          f"epoch ({int((ds.split == 0).sum())} sequences, batch 32)",
                 goals={"speedup": ">= 200", "validation_saliency_s": "< train_epoch_s"},
                 autograd_calls=frames * 100)
    assert summary["speedup"] >= 200, summary
    assert diff < 1e-5, summary


if __name__ == "__main__":
    main()
