"""Anatomically constrained activation maximisation (Patil et al., §3.2, Eq. 6-14).

Start from a real sequence x (T, J, 3) and hill-climb it so that a target response grows:

* **class c** — the response is the class logit ``W_c h_T + b_c`` at the last valid frame;
* **hidden unit u** (of layer ``layer``, default the top) — the response is its mean activation
  ``mean_t h_t^u`` over the valid frames.

The ascent direction d (T, J, 3) is one of

* ``local`` (the paper's Eq. 6-7): ``d_t = sum_u W_c^u dh_t^u / dx_t`` for a class (``dh_t^u/dx_t``
  for a unit), each frame's derivative taken with the previous state (h_{t-1}, c_{t-1}) held
  fixed.  Computed exactly and vectorised: one run of the network gives the states of every layer
  at every frame (:func:`skelvis.rnn.sequence_states`); they are detached and one cell step is
  applied to all N*T frames at once as a batch through the stacked layers
  (:func:`skelvis.rnn.frame_steps`, with the model's gate nonlinearity), and autograd gives every
  frame's derivative in one pass;
* ``through_time``: the full gradient of the response (backpropagation through time).

Each iteration (Eq. 14) replaces d by d', the update closest to ``step * d`` whose result
satisfies the constraint set C (:func:`skelvis.constraints.project_sequence`), and adds it.  The
unconstrained variant (the paper's Fig. 2a) adds ``step * d`` as it is.  With
``normalize_step`` the update is scaled so that its largest joint displacement is ``step`` (in
units of the spine length, since data are normalised); without, ``step`` multiplies the raw
gradient as in the paper (step 1).

Works on CPU and CUDA (RNN autograd runs with cuDNN disabled, which cannot backpropagate in eval
mode); LSTM and GRU, one or more layers.
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import torch

from . import constraints as C
from . import rnn as R
from .case_study import find_class
from .datasets.store import SPLIT_NAMES
from .errors import DataFormatError
from .io import atomic_path, decode_attrs, open_h5, read_table, require, rerun_fix
from .models import RecurrentClassifier, predict, resolve_device
from .settings import MaximizeConfig
from .topology import get_topology

__all__ = [
    "COMPARISON_COLUMNS",
    "MaximizationResult",
    "Target",
    "activation_maximization",
    "compare_variants",
    "constraint_set_for",
    "infeasible_frames",
    "local_hidden",
    "penalty",
    "read_comparison",
    "read_comparison_runs",
    "read_maximization",
    "read_maximization_file",
    "repair_line",
    "response",
    "run_maximization",
    "select_targets",
    "start_violation_counts",
    "summarize_repair",
    "target_gradient",
    "violation_rates",
    "write_comparison",
    "write_maximization",
]

log = logging.getLogger("skelvis.maximize")


@dataclass(frozen=True)
class Target:
    """What to maximise: ``kind`` 'class' (index = class) or 'unit' (index = hidden unit of ``layer``)."""

    kind: str
    index: int
    layer: int = -1
    name: str = ""

    def __post_init__(self):
        if self.kind not in ("class", "unit"):
            raise ValueError(f"target kind must be 'class' or 'unit', got {self.kind!r}")

    @property
    def label(self) -> str:
        return self.name or f"{self.kind} {self.index}"


def local_hidden(model: RecurrentClassifier, x: torch.Tensor, layer: int = -1) -> torch.Tensor:
    """h_t of ``layer`` (N, T, H) as a function of x_t alone, the previous states held fixed:
    one cell step per layer applied to all N*T frames as one batch (:func:`skelvis.rnn.frame_steps`).
    Differentiable in x; its values are the network's hidden states (unmasked)."""
    x = model._check(x)
    with torch.no_grad():
        states = R.sequence_states(model.rnn, x.detach(), model.gate, upto_layer=layer)
    return R.frame_steps(model.rnn, x, states, model.gate, upto_layer=layer)[-1].h


def _valid(length, T, device, dtype):
    """(N, T) in ``dtype``: 1 on valid frames (:func:`skelvis.rnn.valid_frames`)."""
    return R.valid_frames(length.to(device), T).to(dtype)


def _as_targets(target, n: int) -> list[Target]:
    targets = [target] * n if isinstance(target, Target) else list(target)
    if len(targets) != n:
        raise ValueError(f"{len(targets)} targets for {n} sequences")
    return targets


def response(model: RecurrentClassifier, x: torch.Tensor, length: torch.Tensor, target) -> torch.Tensor:
    """The target's response (N,): class logit at the last valid frame, or a unit's mean activation
    over the valid frames.  ``target``: one :class:`Target` or one per sequence."""
    x = model._check(x)
    targets = _as_targets(target, x.shape[0])
    out = []
    logits = model(x, length) if any(t.kind == "class" for t in targets) else None
    layers = {}
    for n, t in enumerate(targets):
        if t.kind == "class":
            out.append(logits[n, t.index])
        else:
            if t.layer not in layers:
                layers[t.layer] = model.hidden_states(x, length, layer=t.layer)
            h = layers[t.layer][n, :, t.index]
            out.append(h.sum() / length[n].to(h).clamp(min=1))
    return torch.stack(out)


def target_gradient(model: RecurrentClassifier, x: torch.Tensor, length: torch.Tensor, target,
                    mode: str = "local") -> torch.Tensor:
    """Ascent direction d, same shape as x ((N, T, J*C) or (N, T, J, C)); zero after length.

    mode 'local': Eq. 6-7, ``sum_t w . dh_t/dx_t`` with the previous state fixed (w = W_c for a
    class, the unit's one-hot for a unit); 'through_time': the gradient of :func:`response`.
    ``target``: one :class:`Target` or one per sequence (sequences are independent).
    """
    if mode not in ("local", "through_time"):
        raise ValueError(f"gradient mode must be 'local' or 'through_time', got {mode!r}")
    shape = x.shape
    xf = model._check(x.detach()).clone().requires_grad_(True)
    N, T, _ = xf.shape
    targets = _as_targets(target, N)
    length = length.to(xf.device)
    mask = _valid(length, T, xf.device, xf.dtype)
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
        if mode == "through_time":
            obj = response(model, xf, length, targets).sum()
        else:
            nl = model.rnn.num_layers
            H = model.hidden_size
            w = xf.new_zeros(N, nl, H)      # weights on each layer's local h_t
            for n, t in enumerate(targets):
                if t.kind == "class":
                    w[n, nl - 1] = model.classifier.weight[t.index].detach()
                else:
                    w[n, t.layer % nl, t.index] = 1.0
            top = max((nl - 1 if t.kind == "class" else t.layer % nl) for t in targets)
            with torch.no_grad():
                states = R.sequence_states(model.rnn, xf.detach(), model.gate, upto_layer=top)
            obj = xf.new_zeros(())
            for k, step in enumerate(R.frame_steps(model.rnn, xf, states, model.gate, upto_layer=top)):
                obj = obj + ((step.h @ w[:, k, :, None])[..., 0] * mask).sum()
        grad, = torch.autograd.grad(obj, xf)
    return (grad * mask[..., None]).reshape(shape)


@dataclass
class MaximizationResult:
    """Per sequence n: snapshots after every iteration (N, I+1, T, J, C), normalised coordinates;
    per-iteration response, max relative bone error, max angle violation (degrees), max floor
    violation and max joint acceleration (N, I+1); start violations (one line per bad frame);
    with the support / volume constraint also the max height of the lowest foot above
    floor + tolerance and the deepest capsule interpenetration (N, I+1); the floor height (N,) and
    the acceleration bound (N,) used (NaN when off); with ``infeasible_start='repair'`` how far
    the repair moved each start frame (N, T): its largest joint displacement, 0 after length (None
    when the start was not repaired)."""

    snapshots: np.ndarray
    response: np.ndarray
    max_bone_error: np.ndarray
    max_angle_violation_deg: np.ndarray
    max_floor_violation: np.ndarray
    max_acceleration: np.ndarray
    start_violations: list[list[str]]
    enabled: np.ndarray | None = None
    max_support_violation: np.ndarray | None = None
    max_interpenetration: np.ndarray | None = None
    floor_y: np.ndarray | None = None
    acceleration_bound: np.ndarray | None = None
    repair_displacement: np.ndarray | None = None


def infeasible_frames(seq: np.ndarray, cs: C.ConstraintSet, floor_y=None, tol_deg: float = 0.1) -> np.ndarray:
    """(T, ni) bool: inequalities that frame t of ``seq`` (T, J, 3) already breaks by more than
    their tolerance (``tol_deg`` for angles, :func:`skelvis.constraints.violation_tolerances`)."""
    viol = np.asarray(C.angle_violation_deg(np.asarray(seq, np.float64), cs, floor_y))
    return viol > C.violation_tolerances(cs, tol_deg)


def _project_batch(x, length, cs, L, fy, en, max_acceleration, proj_kw):
    """Project the valid frames of all sequences x (N, T, J, 3): one batched call over every frame,
    or, with an acceleration bound per sequence (N,), one exact :func:`C.project_sequence` each
    (the bound couples neighbouring frames)."""
    N, T = x.shape[:2]
    valid = _valid(length, T, x.device, torch.bool)                    # (N, T)
    if max_acceleration is not None:
        out = torch.zeros_like(x)
        for n in range(N):
            Tn = int(length[n])
            res = C.project_sequence(x[n, :Tn], cs, L[n], floor_y=None if fy is None else fy[n],
                                     enabled=en[n, :Tn], max_acceleration=float(max_acceleration[n]), **proj_kw)
            out[n, :Tn] = res.x
        return out
    Lf = L[:, None, :].expand(N, T, -1)[valid]
    fyf = None if fy is None else fy[:, None].expand(N, T)[valid]
    res = C.project(x[valid], cs, Lf, floor_y=fyf, enabled=en[valid], **proj_kw)
    out = torch.zeros_like(x)
    out[valid] = res.x
    return out


_KINDS = ("angle", "floor", "support", "volume")


def _measure(x, length, cs, L, fy, en):
    """(N, 5): max bone error, max angle violation (enabled limits), max floor violation, max
    support violation, deepest interpenetration."""
    N, T = x.shape[:2]
    if cs is None:
        return np.zeros((N, 5))
    valid = _valid(length, T, x.device, torch.bool)
    berr = C.bone_length_error(x, cs, L[:, None, :]).amax(-1).nan_to_num(0.0)  # (N, T)
    viol = C.angle_violation_deg(x, cs, None if fy is None else fy[:, None].expand(N, T))
    viol = viol.nan_to_num(0.0) * en
    kinds = cs.inequality_kinds()
    zero = torch.zeros(N, T, dtype=x.dtype, device=x.device)
    per = [viol[..., np.flatnonzero(kinds == k)].amax(-1) if (kinds == k).any() else zero for k in _KINDS]
    m = torch.stack([berr, *per], -1) * valid[..., None]
    return m.amax(1).cpu().numpy()


def penalty(x, length, cs: C.ConstraintSet, L, max_acceleration) -> torch.Tensor:
    """Soft penalties of the ``penalty`` variant (in the spirit of SMART, Wang et al. 2021), (N, 2):
    bone length ``sum_t,b (|x_b - x_a| / L_b - 1)^2`` and acceleration
    ``sum_t,j max(0, |x_{t-1} - 2 x_t + x_{t+1}| - A)^2`` over the valid frames of x (N, T, J, 3)."""
    N, T = x.shape[:2]
    valid = _valid(length, T, x.device, x.dtype)
    bone = ((C.bone_lengths(x, cs.bones) / L[:, None, :] - 1.0) ** 2).sum(-1) * valid
    if T >= 3:
        acc = C.acceleration(x.transpose(0, 1)).transpose(0, 1)               # (N, T-2, J)
        ok = _valid(length - 2, T - 2, x.device, x.dtype)
        over = (acc - max_acceleration[:, None, None]).clamp(min=0) ** 2 * ok[..., None]
        accp = over.flatten(1).sum(1)
    else:
        accp = x.new_zeros(N)
    return torch.stack([bone.sum(1), accp], -1)


def _max_acc(x, length):
    N, T, _J, Cc = x.shape
    if Cc != 3 or T < 3:
        return np.zeros(N)
    acc = C.acceleration(x.transpose(0, 1)).transpose(0, 1)                   # (N, T-2, J)
    ok = _valid(length - 2, T - 2, x.device, x.dtype)
    return (acc * ok[..., None]).flatten(1).amax(1).cpu().numpy()


def activation_maximization(model: RecurrentClassifier, seq, length, target,
                            cs: C.ConstraintSet | None, constrained: bool = True,
                            iterations: int = MaximizeConfig.iterations, step: float = MaximizeConfig.step_size,
                            gradient: str = MaximizeConfig.gradient,
                            normalize_step: bool = MaximizeConfig.normalize_step,
                            infeasible_start: str = MaximizeConfig.infeasible_start,
                            max_acceleration: float | str | None = None,
                            projection: dict | None = None,
                            penalty_weights: tuple[float, float] | None = None) -> MaximizationResult:
    """Hill-climb sequences ``seq`` (N, T, J, C) (normalised coordinates) toward their targets,
    all in lockstep (one batched gradient and one batched projection per iteration).

    length: (N,) valid frames; target: one :class:`Target` or one per sequence.
    constrained False: no projection (the paper's Fig. 2a); bone errors and angle violations are
    still measured against ``cs``.  cs None or empty (channel data, which has no anatomy):
    unconstrained, nothing measured (zeros).  Bone lengths (Eq. 10) and the floor come from each
    input sequence.
    infeasible_start: what to do with start frames that already break an inequality (reported
    per frame in ``start_violations``): 'repair' projects the start onto C first, in both the
    constrained and the unconstrained run (snapshot 0 is the repaired start; it also equalises the
    start's bone lengths to their sequence mean), 'skip' leaves those limits off for those frames
    (their violation is not counted).  Returns :class:`MaximizationResult`; snapshots[:, 0] is the start.
    max_acceleration: a bound on every joint's acceleration, met exactly across neighbouring frames
    (:func:`skelvis.constraints.project_sequence`), or 'start': each sequence's own largest joint
    acceleration (the ``plausible`` set's default: no update makes the motion jerkier than the
    user's).  penalty_weights (w_bone, w_acc): the ``penalty`` variant: no projection, no repair;
    each update is ``step * u / max_j |u_j|`` with ``u = d - grad(w_bone P_bone + w_acc P_acc)``, d the
    same normalised ascent direction and P the soft penalties of :func:`penalty` (with
    ``normalize_step``; the same step budget as the projected variants).
    """
    if infeasible_start not in ("repair", "skip"):
        raise ValueError(f"infeasible_start must be 'repair' or 'skip', got {infeasible_start!r}")
    dev = next(model.parameters()).device
    model_dtype = next(model.parameters()).dtype
    x = torch.as_tensor(np.asarray(seq), dtype=torch.float64, device=dev)
    if x.dim() == 3:
        x = x[None]
    N, T, _J, Cc = x.shape
    length = torch.as_tensor(np.atleast_1d(np.asarray(length)), device=dev).long()
    targets = _as_targets(target, N)
    valid = _valid(length, T, dev, torch.bool)
    x = x * valid[..., None, None]
    cs_meas = cs if cs is not None and not cs.is_empty else None
    constrained = constrained and cs_meas is not None and penalty_weights is None
    acc_bound = None
    if max_acceleration is not None and cs_meas is not None and T >= 3:
        acc_bound = (torch.as_tensor(_max_acc(x, length), dtype=torch.float64, device=dev)
                     if max_acceleration == "start" else torch.full((N,), float(max_acceleration), dtype=torch.float64,
                                                                    device=dev))
    proj_kw = dict(projection or {})
    L = fy = en = repair = None
    lines: list[list[str]] = [[] for _ in range(N)]
    if cs_meas is not None:
        xn = x.cpu().numpy()
        L = torch.as_tensor(np.stack([C.mean_bone_lengths(xn[n], int(length[n]), cs.bones) for n in range(N)]),
                            device=dev)
        if cs.floor_joints or cs.support_joints:
            fy = torch.tensor([C.floor_height(xn[n], cs, int(length[n])) for n in range(N)],
                              dtype=torch.float64, device=dev)
        en = torch.ones(N, T, cs.num_inequalities, dtype=torch.bool, device=dev)
        for n in range(N):
            Tn = int(length[n])
            f = None if fy is None else float(fy[n])
            lines[n] = C.describe_violations(xn[n, :Tn], cs, f)
            if lines[n]:
                log.warning("%s: %d of %d start frames break the angle limits (%s): %s", targets[n].label,
                            len(lines[n]), Tn, infeasible_start,
                            "; ".join(lines[n][:4]) + (" ..." if len(lines[n]) > 4 else ""))
            if infeasible_start == "skip":
                en[n, :Tn] = torch.as_tensor(~infeasible_frames(xn[n, :Tn], cs, f), device=dev)
        if infeasible_start == "repair" and penalty_weights is None:
            # the start itself is projected (a valid start is returned unchanged), so that the
            # constrained and unconstrained runs start from the same valid skeletons
            raw = x
            x = _project_batch(x, length, cs, L, fy, en, acc_bound, proj_kw)
            repair = ((x - raw).norm(dim=-1).amax(-1) * valid).cpu().numpy()

    def resp(xx):
        with torch.no_grad(), torch.backends.cudnn.flags(enabled=False):
            return response(model, xx.to(model_dtype).flatten(2), length, targets).double().cpu().numpy()

    snaps, r, meas, acc = [x.clone()], [resp(x)], [_measure(x, length, cs_meas, L, fy, en)], [_max_acc(x, length)]
    for _ in range(iterations):
        d = target_gradient(model, x.to(model_dtype), length, targets, gradient).to(torch.float64)
        if normalize_step:
            size = (d.norm(dim=-1) if Cc == 3 else d.abs()).flatten(1).amax(1)
            d = d / size.clamp(min=1e-12)[:, None, None, None]
        if penalty_weights is not None and cs_meas is not None:
            bound = acc_bound if acc_bound is not None else torch.full((N,), float("inf"), dtype=x.dtype, device=dev)
            xg = x.detach().clone().requires_grad_(True)
            w = torch.as_tensor(penalty_weights, dtype=x.dtype, device=dev)
            P = (penalty(xg, length, cs, L, bound) * w).sum()
            d = d - torch.autograd.grad(P, xg)[0]
            if normalize_step:  # the same step budget: the combined update moves a joint by at most `step`
                size = d.norm(dim=-1).flatten(1).amax(1)
                d = d / size.clamp(min=1e-12)[:, None, None, None]
        z = x + step * d
        x = _project_batch(z, length, cs, L, fy, en, acc_bound, proj_kw) if constrained else z
        snaps.append(x.clone())
        r.append(resp(x))
        meas.append(_measure(x, length, cs_meas, L, fy, en))
        acc.append(_max_acc(x, length))
    m = np.stack(meas, 1)                                                      # (N, I+1, 5)
    nan = np.full(N, np.nan)
    return MaximizationResult(snapshots=torch.stack(snaps, 1).cpu().numpy(), response=np.stack(r, 1),
                              max_bone_error=m[..., 0], max_angle_violation_deg=m[..., 1],
                              max_floor_violation=m[..., 2], max_acceleration=np.stack(acc, 1),
                              start_violations=lines, enabled=None if en is None else en.cpu().numpy(),
                              max_support_violation=m[..., 3], max_interpenetration=m[..., 4],
                              floor_y=nan if fy is None else fy.cpu().numpy(),
                              acceleration_bound=nan if acc_bound is None else acc_bound.cpu().numpy(),
                              repair_displacement=repair)


# ------------------------------------------------------------------------- workflow helpers

#: sequences per block when the target selection predicts or averages hidden states
BLOCK = 1024


def _block(ds, rows: np.ndarray, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Model inputs (x (n, T, J*C), length (n,)) of the sequences ``rows`` (increasing) of ``ds``."""
    x = torch.as_tensor(np.asarray(ds.x[rows], np.float32), device=device).flatten(2)
    return x, torch.as_tensor(np.asarray(ds.length[rows], np.int64), device=device)


def select_targets(model: RecurrentClassifier, ds, classes=None, hidden_units: int = MaximizeConfig.hidden_units,
                   hidden_layer: int = MaximizeConfig.hidden_layer, split: str = MaximizeConfig.split,
                   second_sequence_classes=MaximizeConfig.second_sequence_classes, device="cpu"):
    """Targets and start sequences for the ``maximize`` rule.

    Every class in ``classes`` (default all) from the first correctly classified sequence of
    ``split`` (falling back to the other held-out split, then train), a second one for the
    classes in ``second_sequence_classes`` (the paper's Fig. 5 shows two *throw* sequences), and
    the ``hidden_units`` most class-selective units of ``hidden_layer`` (largest spread of their
    mean activation across those sequences), each from the correct sequence where it is most
    active.  Returns a list of (Target, sample index).
    """
    names = {v: k for k, v in SPLIT_NAMES.items()}
    order = [split] + [s for s in ("validation", "test", "train") if s != split]
    model = model.to(device)
    # predictions in blocks of sequences: ds.x may be read on access (the rule reads data.h5
    # lazily), so memory holds one block and the chosen starts, not the whole dataset
    pred = np.concatenate([predict(model, *_block(ds, np.arange(i, min(i + BLOCK, len(ds.label))), device)
                                   ).argmax(1).cpu().numpy() for i in range(0, len(ds.label), BLOCK)])
    correct = pred == ds.label
    pool = None
    for s in order:
        cand = correct & (ds.split == names[s])
        if cand.any():
            pool = cand
            break
    if pool is None:
        raise ValueError("no correctly classified sequence in any split: the model has not learned; "
                         "train longer before running 'maximize'")
    classes = list(ds.classes) if not classes else list(classes)
    unknown = [c for c in classes if c not in ds.classes]
    if unknown:
        raise KeyError(f"config key 'maximize.classes' names {unknown}, not classes of {ds.name}: {ds.classes}")
    out = []
    # the classes named for a second sequence (by name, skelvis.case_study.find_class); when none is
    # in the data, the first class with two correct sequences gets one, so Fig. 5 has two rows
    second = {find_class(ds.classes, n) for n in second_sequence_classes} - {None}
    for name in classes:
        c = ds.classes.index(name)
        idx = np.flatnonzero(pool & (ds.label == c))
        if len(idx) == 0:
            log.warning("class %s: no correctly classified held-out sequence; skipped", name)
            continue
        out.append((Target("class", c, name=name), int(idx[0])))
        if len(idx) > 1 and (c in second or (second_sequence_classes and not second)):
            if c not in second:
                log.info("maximize.second_sequence_classes %s: none in the data; %s gets the second sequence",
                         list(second_sequence_classes), name)
                second = {c}
            out.append((Target("class", c, name=name), int(idx[1])))
    if hidden_units:
        idx = np.flatnonzero(pool)
        with torch.no_grad():
            means = []
            for i in range(0, len(idx), BLOCK):
                xs, ln = _block(ds, idx[i:i + BLOCK], next(model.parameters()).device)
                h = model.hidden_states(xs, ln, layer=hidden_layer)
                means.append((h.sum(1) / ln[:, None].to(h)).cpu().numpy())     # (n, H)
            mean = np.concatenate(means)
        spread = mean.std(0)
        for u in np.argsort(-spread, kind="stable")[:hidden_units]:
            out.append((Target("unit", int(u), layer=hidden_layer, name=f"unit {int(u)}"),
                        int(idx[int(np.argmax(mean[:, u]))])))
    return out


def constraint_set_for(topo, cfg: MaximizeConfig, name: str | None = None) -> C.ConstraintSet:
    """The constraint set ``name`` (default ``cfg.constraints``: 'paper' or 'plausible',
    :data:`skelvis.constraints.CONSTRAINT_SETS`) of a skeleton topology with the settings'
    angle limits, floor and support tolerance."""
    name = cfg.constraints if name is None else name
    if name not in C.CONSTRAINT_SETS:
        raise ValueError(f"maximize.constraints must be one of {sorted(C.CONSTRAINT_SETS)}, got {name!r}")
    kw = {"floor": cfg.floor, **C.CONSTRAINT_SETS[name]}
    return C.constraint_set(topo, angle_limits=dict(cfg.angle_limits) or None,
                            support_tolerance=cfg.support_tolerance, **kw)


def _acceleration_setting(cfg: MaximizeConfig, name: str | None = None):
    """The acceleration bound: ``max_acceleration`` when set, else under 'plausible' each start
    sequence's own largest joint acceleration ('start'), else none."""
    name = cfg.constraints if name is None else name
    if cfg.max_acceleration:
        return float(cfg.max_acceleration)
    return "start" if name == "plausible" else None


def run_maximization(model: RecurrentClassifier, ds, cfg: MaximizeConfig = MaximizeConfig()):
    """Everything the ``maximize`` rule computes, on ``cfg.device``: the targets, their start
    samples, the constrained and unconstrained :class:`MaximizationResult` and the constraint set
    used (None for channel data)."""
    device = resolve_device(cfg.device)
    topo = get_topology(ds.topology)
    cs = None
    if topo.is_skeleton:
        cs = constraint_set_for(topo, cfg)
    else:
        log.info("topology %s has no bones: no anatomical constraints, unconstrained runs only", topo.name)
    model = model.to(device).eval()
    chosen = select_targets(model, ds, list(cfg.classes) or None, cfg.hidden_units, cfg.hidden_layer, cfg.split,
                            tuple(cfg.second_sequence_classes), device)
    idx = [i for _, i in chosen]
    targets = [t for t, _ in chosen]
    kw = {"iterations": cfg.iterations, "step": float(cfg.step_size), "gradient": cfg.gradient,
              "normalize_step": cfg.normalize_step, "infeasible_start": cfg.infeasible_start,
              "max_acceleration": _acceleration_setting(cfg), "projection": {"refine_iter": cfg.refine_iterations}}
    log.info("%d targets, %d iterations, gradient %s", len(targets), kw["iterations"], kw["gradient"])
    con = activation_maximization(model, ds.x[idx], ds.length[idx], targets, cs, constrained=True, **kw)
    unc = activation_maximization(model, ds.x[idx], ds.length[idx], targets, cs, constrained=False, **kw)
    return targets, idx, con, unc, cs


def write_maximization(path, ds, targets, idx, con: MaximizationResult, unc: MaximizationResult, cs,
                       model: str = "", data: str = "", params: MaximizeConfig | None = None) -> None:
    """``maximize/{arch}.h5``: one group per target (``000_class_throw`` ...) with ``snapshots``
    (I+1, T, J, C) float32 in the un-normalised body frame (times the sample's ``scale``),
    ``response``, ``max_bone_error``, ``max_angle_violation_deg`` (I+1,), ``max_floor_violation``,
    ``max_acceleration``, ``max_support_violation``, ``max_interpenetration``, ``start_violations``
    (lines), ``repair_displacement`` (T,) float32 (how far the repair moved each start frame, its
    largest joint displacement in the same frame as the snapshots; only when the start was
    repaired), and the same under ``unconstrained/``;
    attrs ``target``, ``target_kind``, ``target_index``, ``sample_id``, ``sample_index``, ``label``,
    ``length``, ``model``, ``data``.  Root attrs: ``model``, ``data``, ``topology``, ``classes``,
    ``constraints`` (the inequality names, or none), ``params`` (JSON: the settings used)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["model"], f.attrs["data"] = str(model), str(data)
        f.attrs["topology"] = ds.topology
        f.attrs["classes"] = json.dumps(list(ds.classes))
        f.attrs["constraints"] = json.dumps(cs.inequality_names() if cs is not None else [])
        f.attrs["constrained"] = cs is not None
        f.attrs["params"] = json.dumps(asdict(params) if params is not None else {})
        for n, (t, i) in enumerate(zip(targets, idx)):
            g = f.create_group(f"{n:03d}_{t.kind}_{(t.name or str(t.index)).replace(' ', '_')}")
            T = int(ds.length[i])
            scale = float(ds.scale[i])
            for res, grp in ((con, g), (unc, g.create_group("unconstrained"))):
                snaps = res.snapshots[n][:, :T] * scale
                grp.create_dataset("snapshots", data=snaps.astype(np.float32), compression="gzip", compression_opts=4)
                grp["response"] = res.response[n].astype(np.float64)
                grp["max_bone_error"] = res.max_bone_error[n]
                grp["max_angle_violation_deg"] = res.max_angle_violation_deg[n]
                grp["max_floor_violation"] = res.max_floor_violation[n] * scale
                grp["max_acceleration"] = res.max_acceleration[n] * scale
                if res.max_support_violation is not None:  # in the un-normalised frame, as the floor
                    grp["max_support_violation"] = res.max_support_violation[n] * scale
                    grp["max_interpenetration"] = res.max_interpenetration[n] * scale
                grp.create_dataset("start_violations", data=np.asarray(res.start_violations[n], dtype=object),
                                   dtype=h5py.string_dtype())
                if res.repair_displacement is not None:
                    grp["repair_displacement"] = (res.repair_displacement[n][:T] * scale).astype(np.float32)
            g.attrs.update({"target": t.label, "target_kind": t.kind, "target_index": t.index,
                            "target_layer": t.layer, "sample_id": str(ds.sample_id[i]), "sample_index": int(i),
                            "label": int(ds.label[i]), "class": ds.classes[int(ds.label[i])], "length": T,
                            "scale": scale, "model": str(model), "data": str(data)})


_RUN = ("snapshots", "response", "max_bone_error", "max_angle_violation_deg", "start_violations")


def read_maximization_file(path) -> dict[str, Any]:
    """A file written by :func:`write_maximization`: ``{"attrs": root attrs (``classes``,
    ``constraints`` and ``params`` decoded from JSON), "entries": one dict per target group, in
    file order (its attrs, ``group``, and the ``constrained`` and ``unconstrained`` runs as dicts of
    arrays, ``start_violations`` as a list of str)}``."""
    entries = []
    with open_h5(path, rule="maximize", what="maximisation file") as f:
        require(f.attrs, ("classes", "constraints", "topology"), path, "maximize", kind="attribute(s)")
        attrs = decode_attrs(f.attrs)
        for key in ("classes", "constraints", "params"):
            if key in attrs:
                attrs[key] = json.loads(attrs[key])
        for name in sorted(f):
            g = f[name]
            require(g, _RUN + ("unconstrained",), path, "maximize")
            require(g["unconstrained"], _RUN, path, "maximize")
            require(g.attrs, ("target", "target_kind", "target_index", "sample_id"), path, "maximize",
                    kind="attribute(s)")
            d = decode_attrs(g.attrs)
            d["group"] = name
            for key, grp in (("constrained", g), ("unconstrained", g["unconstrained"])):
                d[key] = {k: grp[k][...] for k in grp if isinstance(grp[k], h5py.Dataset)}
                d[key]["start_violations"] = [s.decode() if isinstance(s, bytes) else s
                                              for s in d[key]["start_violations"]]
            entries.append(d)
    return {"attrs": attrs, "entries": entries}


def read_maximization(path) -> list[dict]:
    """The target groups of a ``maximize`` file (see :func:`read_maximization_file`), in file order."""
    return read_maximization_file(path)["entries"]


# ------------------------------------------------------------------------- start repairs

_VIOLATION = re.compile(r"(.+?) by [-+0-9.eE]+(?:, |$)")


def start_violation_counts(lines) -> tuple[list[int], dict[str, int]]:
    """The ``start_violations`` lines of a run (``frame t: name by v, name by v``,
    :func:`skelvis.constraints.describe_violations`): the frames that broke a limit, in order, and
    how many frames broke each limit (most often first, then by name)."""
    frames, counts = [], {}
    for line in lines:
        head, _, rest = str(line).partition(": ")
        frames.append(int(head.split()[-1]))
        for name in _VIOLATION.findall(rest):
            counts[name] = counts.get(name, 0) + 1
    return frames, dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


#: a start frame counts as moved by the repair beyond this share of the sequence's spine length
#: (the normalisation scale; 5 mm on a 0.5 m spine)
MOVED_TOL = 0.01


def summarize_repair(run: dict, length: int | None = None, scale: float = 1.0,
                     mode: str = "repair", tol: float = MOVED_TOL) -> dict[str, Any]:
    """How the start of one run of a maximisation file was repaired (``run`` as
    :func:`read_maximization_file` gives it: ``start_violations`` and, when the start was
    repaired, ``repair_displacement``).

    Returns ``mode`` ('repair' or 'skip', the ``infeasible_start`` setting), ``frames`` (T),
    ``broken_frames`` (the start frames that broke a limit), ``broken`` ({limit: frames},
    :func:`start_violation_counts`), ``displacement`` (T,) (how far the repair moved each frame,
    its largest joint displacement, in the file's units; None when the file has none), ``moved``
    (frames moved by more than ``tol * scale``), ``max_move`` and ``max_move_frame`` (None without
    displacements) and ``tol`` (in the file's units).  The repair also sets every frame's bone
    lengths to their sequence mean, so it can move frames that broke no limit."""
    lines = list(run.get("start_violations", []))
    disp = run.get("repair_displacement")
    T = int(length) if length is not None else (len(disp) if disp is not None else 0)
    frames, counts = start_violation_counts(lines)
    out: dict[str, Any] = {"mode": mode, "frames": T, "broken_frames": frames, "broken": counts,
                           "displacement": None, "moved": None, "max_move": None, "max_move_frame": None,
                           "tol": float(tol * scale)}
    if disp is not None and mode == "repair":
        d = np.asarray(disp, np.float64)[:T]
        out["displacement"] = d
        out["moved"] = int((d > out["tol"]).sum())
        if len(d):
            out["max_move_frame"] = int(np.argmax(d))
            out["max_move"] = float(d[out["max_move_frame"]])
    return out


def repair_line(summary: dict[str, Any], names: int = 4) -> str:
    """One line for a :func:`summarize_repair` summary (the page's repair line): ``start repaired:
    N of T frames moved more than tol, up to X (frame f); K frames broke a limit: name (frames),
    ...`` (the ``names`` most frequent limits, then how many more)."""
    T, k = summary["frames"], len(summary["broken_frames"])
    items = list(summary["broken"].items())
    broken = ", ".join(f"{n} ({c})" for n, c in items[:names]) + (
        f" and {len(items) - names} more" if len(items) > names else "")
    what = f"{k} of {T} frames broke a limit: {broken}" if k else "no frame broke a limit"
    if summary["mode"] != "repair":
        return f"start not repaired (infeasible_start: {summary['mode']}): {what}; those limits are off there"
    if summary["moved"] is None or summary["max_move"] is None:
        return f"start repaired: {what} (how far the repair moved them is not in this file: run 'maximize' again)"
    moved = (f"{summary['moved']} of {T} frames moved more than {summary['tol']:.3g}, up to "
             f"{summary['max_move']:.3g} (frame {summary['max_move_frame']})")
    return f"start repaired: {moved}; {what}"


# ------------------------------------------------------------- projection against penalties

#: Columns of ``maximize/{arch}_comparison.csv`` (:func:`write_comparison`).
#: Two bone-error rates with different references: ``bone_error_vs_start_rate`` against each raw
#: start frame's own bone lengths (as the attack papers measure it: what the method changed),
#: ``bone_error_vs_mean_rate`` against the start sequence's mean bone lengths (the lengths the
#: projection of Eq. 10 holds: the projected variants' guarantee).
COMPARISON_COLUMNS = ("variant", "weight", "response_gain", "bone_error_vs_start_rate", "bone_error_vs_mean_rate",
                      "angle_rate", "acceleration_rate", "interpenetration_rate", "floating_rate", "below_floor_rate",
                      "seconds", "frames")


def violation_rates(snapshots: np.ndarray, length, cs: C.ConstraintSet, L, floor_y, acc_bound, start: np.ndarray,
                    depth_tol: float = 2e-3) -> dict[str, float]:
    """Shares of valid frames of the final poses ``snapshots`` (N, T, J, 3) breaking each
    constraint, as the adversarial-skeleton papers report them: relative bone error above 1%
    against two references (below), any angle limit by more than 0.1 deg, a joint acceleration
    (the triple centred on the frame) above the bound, an interpenetration deeper than
    ``depth_tol * ell`` (1 mm on a 0.5 m trunk), the lowest foot above
    ``floor + support_tolerance * ell`` (floating), a foot below the floor.
    cs is the ``plausible`` set; L (N, nb), floor_y (N,), acc_bound (N,) come from the raw starts
    ``start`` (N, T, J, 3).

    ``bone_error_vs_start_rate``: ``max_b | |bone_b(x_t)| / |bone_b(start_t)| - 1 | > 1%`` per frame
    t, each frame against the same frame of the raw start, as the attack papers measure it (a
    method that leaves a frame alone has no error there, however noisy the recording's bone
    lengths are).  ``bone_error_vs_mean_rate``: the same against L, the start sequence's mean bone
    lengths, the lengths the projection holds (Eq. 10): the projected variants' guarantee, and for
    an unprojected variant mostly the recording's own per-frame bone noise."""
    x = torch.as_tensor(snapshots, dtype=torch.float64)
    N, T = x.shape[:2]
    length = torch.as_tensor(np.asarray(length)).long()
    valid = _valid(length, T, x.device, torch.bool)
    Lt = torch.as_tensor(L, dtype=torch.float64)[:, None, :]
    fy = torch.as_tensor(floor_y, dtype=torch.float64)[:, None].expand(N, T)
    x0 = torch.as_tensor(np.asarray(start)[:, :T], dtype=torch.float64)
    if x0.shape != x.shape:
        raise ValueError(f"start has shape {tuple(x0.shape)}, expected {tuple(x.shape)} (the raw starts of the runs)")
    bone_start = (C.bone_length_error(x, cs, C.bone_lengths(x0, cs.bones)).nan_to_num(0.0).amax(-1) > 0.01)
    bone = C.bone_length_error(x, cs, Lt).amax(-1) > 0.01
    viol = C.angle_violation_deg(x, cs, fy)
    kinds = cs.inequality_kinds()
    angle = (viol[..., kinds == "angle"] > 0.1).any(-1)
    ell = C.trunk_length(x, cs, Lt.expand(N, T, -1))
    depth = C.interpenetration(x, cs, Lt.expand(N, T, -1))
    inter = depth > depth_tol * ell
    floating = C.support_violation(x, cs, fy, Lt.expand(N, T, -1)) > 1e-6 * ell
    below = (viol[..., kinds == "floor"] > 1e-6).any(-1)
    acc = torch.zeros(N, T, dtype=torch.bool)
    if T >= 3:
        a = C.acceleration(x.transpose(0, 1)).transpose(0, 1).amax(-1)         # (N, T-2)
        ok = _valid(length - 2, T - 2, x.device, torch.bool)
        acc[:, 1:-1] = (a > torch.as_tensor(acc_bound, dtype=torch.float64)[:, None] * (1 + 1e-6) + 1e-9) & ok
    n = float(valid.sum())
    share = {k: float((v & valid).sum()) / n for k, v in (("bone_error_vs_start_rate", bone_start),
                                                         ("bone_error_vs_mean_rate", bone), ("angle_rate", angle),
                                                         ("acceleration_rate", acc), ("interpenetration_rate", inter),
                                                         ("floating_rate", floating), ("below_floor_rate", below))}
    return {**share, "frames": int(n)}


def compare_variants(model: RecurrentClassifier, ds, cfg: MaximizeConfig = MaximizeConfig()):
    """The head-to-head of issue 19 on the same model, targets, starts, step budget and ascent
    direction: ``unconstrained`` (no projection, no repair), ``paper`` and ``plausible`` (the
    projection of Eq. 14 onto each set, starts repaired), and ``penalty`` once per weight w of
    ``cfg.penalty_weights`` (soft penalties w * (P_bone + P_acc), :func:`penalty`, no projection).
    Violations are measured on every variant's final poses against the ``plausible`` set with the
    raw starts' bone lengths (per frame and the sequence mean), floor and acceleration bound
    (:func:`violation_rates`); the response
    gain is the mean over targets of the final response minus the raw start's.
    Returns (rows: list of dicts with :data:`COMPARISON_COLUMNS`, runs: {variant: MaximizationResult},
    targets, idx)."""
    device = resolve_device(cfg.device)
    topo = get_topology(ds.topology)
    if not topo.is_skeleton:
        log.info("topology %s has no bones: no constraints to compare, the table stays empty", topo.name)
        return [], {}, [], []
    model = model.to(device).eval()
    chosen = select_targets(model, ds, list(cfg.classes) or None, cfg.hidden_units, cfg.hidden_layer, cfg.split,
                            tuple(cfg.second_sequence_classes), device)
    idx = [i for _, i in chosen]
    targets = [t for t, _ in chosen]
    x, length = ds.x[idx], ds.length[idx]
    plaus = constraint_set_for(topo, cfg, "plausible")
    base = {"iterations": cfg.iterations, "step": float(cfg.step_size), "gradient": cfg.gradient,
            "normalize_step": cfg.normalize_step, "infeasible_start": "repair",
            "projection": {"refine_iter": cfg.refine_iterations}}
    acc = _acceleration_setting(cfg, "plausible")
    plan = [("unconstrained", None, plaus, {"penalty_weights": (0.0, 0.0), "max_acceleration": acc}),
            ("paper", None, constraint_set_for(topo, cfg, "paper"), {"max_acceleration": None}),
            ("plausible", None, plaus, {"max_acceleration": acc})]
    plan += [("penalty", float(w), plaus, {"penalty_weights": (float(w), float(w)), "max_acceleration": acc})
             for w in cfg.penalty_weights]
    rows, runs = [], {}
    start_resp = None
    ref = None
    for name, w, cs, kw in plan:
        t0 = time.perf_counter()
        res = activation_maximization(model, x, length, targets, cs, **base, **kw)
        sec = time.perf_counter() - t0
        if name == "unconstrained":
            start_resp = res.response[:, 0]
            xs = np.asarray(x, np.float64)
            L = np.stack([C.mean_bone_lengths(xs[n], int(length[n]), plaus.bones) for n in range(len(idx))])
            ref = (L, res.floor_y, res.acceleration_bound)
        rates = violation_rates(res.snapshots[:, -1], length, plaus, *ref, start=xs)
        rows.append({"variant": name, "weight": w, "response_gain": float(np.mean(res.response[:, -1] - start_resp)),
                     **{k: v for k, v in rates.items() if k != "frames"}, "seconds": sec, "frames": rates["frames"]})
        runs[name if w is None else f"penalty_{w:g}"] = res
        log.info("%-13s %-6s gain %8.3f  violations: bone vs start %.3f, vs mean %.3f, angle %.3f acc %.3f volume %.3f "
                 "floating %.3f  %.1f s", name, "" if w is None else f"{w:g}", rows[-1]["response_gain"],
                 rates["bone_error_vs_start_rate"], rates["bone_error_vs_mean_rate"],
                 rates["angle_rate"], rates["acceleration_rate"], rates["interpenetration_rate"],
                 rates["floating_rate"], sec)
    return rows, runs, targets, idx


def write_comparison(path, rows, runs=None, ds=None, targets=None, idx=None, model: str = "", data: str = "") -> None:
    """``maximize/{arch}_comparison.csv``: one row per variant (:data:`COMPARISON_COLUMNS`; weight
    empty except for ``penalty``; the two bone-error rates as :func:`violation_rates` defines them).  With ``runs``, also ``{arch}_comparison.h5`` beside it: per
    variant a group with ``snapshots`` (N, I+1, T, J, 3) float32 in the un-normalised body frame
    and ``response`` (N, I+1); attrs ``targets`` (JSON labels), ``sample_id``, ``length``,
    ``model``, ``data``, ``topology``."""
    path = Path(path)
    df = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    if runs is None:
        return
    with atomic_path(path.with_suffix(".h5")) as tmp, h5py.File(tmp, "w") as f:
        scale = np.asarray(ds.scale[idx], np.float64)[:, None, None, None, None]
        f.attrs.update({"targets": json.dumps([t.label for t in targets]), "model": str(model), "data": str(data),
                        "topology": ds.topology, "sample_id": json.dumps([str(ds.sample_id[i]) for i in idx]),
                        "length": np.asarray(ds.length[idx], np.int32)})
        for name, res in runs.items():
            g = f.create_group(name)
            g.create_dataset("snapshots", data=(res.snapshots * scale).astype(np.float32), compression="gzip",
                             compression_opts=4)
            g["response"] = res.response


def read_comparison(path) -> pd.DataFrame:
    """A comparison.csv as written by :func:`write_comparison`."""
    df = read_table(path, "maximize_comparison", "comparison table")
    missing = [c for c in COMPARISON_COLUMNS if c not in df.columns]
    if missing:
        raise DataFormatError(path, f"missing column(s) {missing}", fix=rerun_fix("maximize_comparison"))
    return df


def read_comparison_runs(path) -> dict[str, Any]:
    """The ``{arch}_comparison.h5`` beside the table: {"attrs": ..., variant: {"snapshots", "response"}}."""
    out: dict[str, Any] = {}
    with open_h5(path, rule="maximize_comparison", what="comparison file") as f:
        require(f.attrs, ("targets", "topology", "length"), path, "maximize_comparison", kind="attribute(s)")
        attrs = decode_attrs(f.attrs)
        for key in ("targets", "sample_id"):
            attrs[key] = json.loads(attrs[key])
        out["attrs"] = attrs
        for name in f:
            require(f[name], ("snapshots", "response"), path, "maximize_comparison")
            out[name] = {"snapshots": f[name]["snapshots"][...], "response": f[name]["response"][...]}
    return out
