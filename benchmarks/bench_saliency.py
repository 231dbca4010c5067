"""Joint sensitivity (Patil et al. Eq. 1): closed-form local Jacobian against a per-(t, u) autograd loop.

Same model (the default LSTM, 100 units, trained one epoch on the default synthetic data) and the
same inputs (the first sequences of the validation split): skelvis.saliency.local_jacobian against
skelvis.saliency.local_jacobian_autograd (the network unrolled with skelvis.rnn.cell_step, previous
states detached, one torch.autograd.grad call per hidden unit and frame).  Reports both times, the
speed-up (goal >= 200x) and the largest absolute difference.  Second comparison: the saliency
rule's whole computation (class, predicted-class and unit maps, Eq. 1-5) for the whole validation
split against the time of one training epoch (goal: less).  Third, what a PyTorch user would write
for Eq. 1: ``torch.func`` (``vmap`` over every (sequence, frame) of ``jacrev`` of one
torch.nn.LSTMCell step with the previous state (h_{t-1}, c_{t-1}) held) on the same model and the
same 16 sequences x 64 frames (goal: closed form >= 30x faster), and the memory-bandwidth floor:
the time to allocate and write once an array of the Jacobian's size (N, T, H, J*C) float32 (goal:
closed form within 3x).  One thread, as in the rule.
Usage: python benchmarks/bench_saliency.py  ->  results/bench/saliency.json
"""
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import best_time, write_result

from skelvis.datasets.synthetic import SyntheticConfig, generate
from skelvis.normalize import normalize
from skelvis.saliency import local_jacobian, local_jacobian_autograd, saliency_maps, top_units
from skelvis.topology import KINECT_V2
from skelvis.train import TrainConfig, train_classifier

LOOP_SEQUENCES = 2
FUNC_SEQUENCES, FUNC_FRAMES = 16, 64


def torch_func_jacobian(model, x, length):
    """Eq. 1 the torch.func way: (N, T, H, J*C), zero after length.

    One forward pass of the model's (one-layer) LSTM gives every frame's previous state; a
    torch.nn.LSTMCell holding its weights is the step x_t -> h_t with (h_{t-1}, c_{t-1}) fixed,
    and ``vmap(jacrev(step))`` differentiates it at every (sequence, frame) at once."""
    rnn = model.rnn
    assert rnn.num_layers == 1, "the comparison is for one layer"
    N, T, D = x.shape
    H = rnn.hidden_size
    cell = torch.nn.LSTMCell(D, H)
    params = {"weight_ih": rnn.weight_ih_l0, "weight_hh": rnn.weight_hh_l0,
              "bias_ih": rnn.bias_ih_l0, "bias_hh": rnn.bias_hh_l0}
    params = {k: v.detach() for k, v in params.items()}
    with torch.no_grad():
        h, (_, _) = rnn(x)
        # c_t of every frame: run the cell frame by frame (the LSTM module returns h only)
        c = torch.zeros(N, T, H)
        hp, cp = torch.zeros(N, H), torch.zeros(N, H)
        for t in range(T):
            hp, cp = torch.func.functional_call(cell, params, (x[:, t], (hp, cp)))
            c[:, t] = cp
    zero = torch.zeros(N, 1, H)
    h_prev = torch.cat([zero, h[:, :-1]], 1).reshape(N * T, H)
    c_prev = torch.cat([zero, c[:, :-1]], 1).reshape(N * T, H)

    def step(xt, ht, ct):
        return torch.func.functional_call(cell, params, (xt[None], (ht[None], ct[None])))[0][0]

    jac = torch.func.vmap(torch.func.jacrev(step, argnums=0))(x.reshape(N * T, D), h_prev, c_prev)
    jac = jac.reshape(N, T, H, D)
    return jac * (torch.arange(T)[None, :] < length[:, None])[:, :, None, None]


def gate_products(model, x):
    """The arithmetic no method of computing Eq. 1 can skip: every frame's gate pre-activations
    W_ih x_t + W_hh h_{t-1} + b (two (N*T, .) @ (., 4H) products; h_{t-1} stands in as x-sized
    zeros of H columns, the cost is the same).  With the write of the result, the physical floor
    of the closed form's work on one core: (2 (J*C) + 2 H) 4H flops per frame against 4 H (J*C)
    bytes written per frame."""
    rnn = model.rnn
    N, T, D = x.shape
    H = rnn.hidden_size
    z = torch.addmm(rnn.bias_ih_l0.detach(), x.reshape(N * T, D), rnn.weight_ih_l0.detach().T)
    return z.addmm_(x.new_zeros(N * T, H), rnn.weight_hh_l0.detach().T)


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
    # Eq. 1 for 16 sequences x 64 frames: closed form vs torch.func vs writing the result once
    xf, lf = x[:FUNC_SEQUENCES, :FUNC_FRAMES], length[:FUNC_SEQUENCES].clamp(max=FUNC_FRAMES)
    shape = (len(xf), FUNC_FRAMES, model.rnn.hidden_size, xf.shape[2] * xf.shape[3])
    func_s = best_time(lambda: torch_func_jacobian(model, xf.flatten(2), lf), repeat=3)
    big_s = best_time(lambda: local_jacobian(model, xf, lf), repeat=7)
    floor_s = best_time(lambda: torch.empty(shape).fill_(1.0), repeat=7)
    arith_s = best_time(lambda: gate_products(model, xf.flatten(2)), repeat=7)
    func_diff = float((torch_func_jacobian(model, xf.flatten(2), lf) - local_jacobian(model, xf, lf)).abs().max())
    units = top_units(model, 2)
    val_s = best_time(lambda: saliency_maps(model, x, length, label, units=units), repeat=3)
    frames = int(ls.sum())
    summary = {"closed_form_s": round(closed_s, 5), "autograd_loop_s": round(loop_s, 3),
               "speedup": round(loop_s / closed_s, 1), "max_abs_diff": diff,
               "validation_saliency_s": round(val_s, 3), "train_epoch_s": round(epoch_s, 3),
               "saliency_vs_epoch": round(val_s / epoch_s, 3),
               "jacobian_shape": list(shape), "closed_form_16x64_s": round(big_s, 5),
               "torch_func_s": round(func_s, 4), "speedup_vs_torch_func": round(func_s / big_s, 1),
               "torch_func_max_abs_diff": func_diff, "floor_s": round(floor_s, 5),
               "closed_form_vs_floor": round(big_s / floor_s, 2),
               "gate_products_s": round(arith_s, 5),
               "closed_form_vs_floor_with_gate_products": round(big_s / (floor_s + arith_s), 2),
               "floor_with_gate_products_vs_floor": round((floor_s + arith_s) / floor_s, 2)}
    write_result("saliency", summary,
                 compared="closed-form local Jacobian (Eq. 1) vs per-(t, u) autograd loop on the same model and "
                          f"inputs ({LOOP_SEQUENCES} validation sequences, {frames} valid frames, 100 units, J*C = 75); "
                          "saliency maps (Eq. 1-5, true + predicted class, "
                          f"{len(units)} unit maps) for the {int(va.sum())} validation sequences vs one training "
                          f"epoch ({int((ds.split == 0).sum())} sequences, batch 32)",
                 compared_torch_func=f"Eq. 1's Jacobian {shape} by skelvis.saliency.local_jacobian vs torch.func "
                                     "(vmap over every (sequence, frame) of jacrev of one LSTMCell step, previous "
                                     "state held; benchmarks/bench_saliency.py:torch_func_jacobian) on the same "
                                     "model and inputs; floor = torch.empty(shape).fill_(1.0), allocating and "
                                     "writing an array of the Jacobian's size once; gate_products_s: the two "
                                     "matrix products of every frame's gate pre-activations (bench_saliency.py:"
                                     "gate_products), arithmetic any method must do; "
                                     "closed_form_vs_floor_with_gate_products: against write + that arithmetic",
                 goals={"speedup": ">= 200", "validation_saliency_s": "< train_epoch_s",
                        "speedup_vs_torch_func": ">= 30", "closed_form_vs_floor": "<= 3"},
                 autograd_calls=frames * 100)
    assert summary["speedup"] >= 200, summary
    assert diff < 1e-5, summary
    assert func_diff < 1e-5, summary


if __name__ == "__main__":
    main()
