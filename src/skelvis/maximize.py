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
from dataclasses import asdict, dataclass
from typing import Any

import h5py
import numpy as np
import torch

from . import constraints as C
from . import rnn as R
from .case_study import find_class
from .datasets.store import SPLIT_NAMES
from .io import atomic_path, decode_attrs, open_h5, require
from .models import RecurrentClassifier, predict, resolve_device, to_tensors
from .settings import MaximizeConfig
from .topology import get_topology

__all__ = [
    "MaximizationResult",
    "Target",
    "activation_maximization",
    "infeasible_frames",
    "local_hidden",
    "read_maximization",
    "read_maximization_file",
    "response",
    "run_maximization",
    "select_targets",
    "target_gradient",
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
    violation and max joint acceleration (N, I+1); start violations (one line per bad frame)."""

    snapshots: np.ndarray
    response: np.ndarray
    max_bone_error: np.ndarray
    max_angle_violation_deg: np.ndarray
    max_floor_violation: np.ndarray
    max_acceleration: np.ndarray
    start_violations: list[list[str]]
    enabled: np.ndarray | None = None


def infeasible_frames(seq: np.ndarray, cs: C.ConstraintSet, floor_y=None, tol_deg: float = 0.1) -> np.ndarray:
    """(T, ni) bool: inequalities that frame t of ``seq`` (T, J, 3) already breaks by > tol_deg."""
    viol = np.asarray(C.angle_violation_deg(np.asarray(seq, np.float64), cs, floor_y))
    return viol > tol_deg


def _project_batch(x, length, cs, L, fy, en, max_acceleration, proj_kw):
    """Project the valid frames of all sequences x (N, T, J, 3) in one batched call."""
    N, T = x.shape[:2]
    valid = _valid(length, T, x.device, torch.bool)                    # (N, T)
    if max_acceleration is not None:
        x = x.clone()
        for n in range(N):
            x[n, :int(length[n])] = C.limit_acceleration(x[n, :int(length[n])], max_acceleration)
    Lf = L[:, None, :].expand(N, T, -1)[valid]
    fyf = None if fy is None else fy[:, None].expand(N, T)[valid]
    res = C.project(x[valid], cs, Lf, floor_y=fyf, enabled=en[valid], **proj_kw)
    out = torch.zeros_like(x)
    out[valid] = res.x
    return out


def _measure(x, length, cs, L, fy, en):
    """(N, 3): max bone error, max angle violation (enabled limits), max floor violation."""
    N, T = x.shape[:2]
    if cs is None:
        return np.zeros((N, 3))
    valid = _valid(length, T, x.device, torch.bool)
    berr = C.bone_length_error(x, cs, L[:, None, :]).amax(-1).nan_to_num(0.0)  # (N, T)
    viol = C.angle_violation_deg(x, cs, None if fy is None else fy[:, None].expand(N, T))
    viol = viol.nan_to_num(0.0) * en
    nang = cs.num_inequalities - len(cs.floor_joints)
    zero = torch.zeros(N, T, dtype=x.dtype, device=x.device)
    va = viol[..., :nang].amax(-1) if nang else zero
    vf = viol[..., nang:].amax(-1) if cs.floor_joints else zero
    m = torch.stack([berr, va, vf], -1) * valid[..., None]
    return m.amax(1).cpu().numpy()


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
                            max_acceleration: float | None = None,
                            projection: dict | None = None) -> MaximizationResult:
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
    constrained = constrained and cs_meas is not None
    proj_kw = dict(projection or {})
    L = fy = en = None
    lines: list[list[str]] = [[] for _ in range(N)]
    if cs_meas is not None:
        xn = x.cpu().numpy()
        L = torch.as_tensor(np.stack([C.mean_bone_lengths(xn[n], int(length[n]), cs.bones) for n in range(N)]),
                            device=dev)
        if cs.floor_joints:
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
        if infeasible_start == "repair":
            # the start itself is projected (a valid start is returned unchanged), so that the
            # constrained and unconstrained runs start from the same valid skeletons
            x = _project_batch(x, length, cs, L, fy, en, max_acceleration, proj_kw)

    def resp(xx):
        with torch.no_grad(), torch.backends.cudnn.flags(enabled=False):
            return response(model, xx.to(model_dtype).flatten(2), length, targets).double().cpu().numpy()

    snaps, r, meas, acc = [x.clone()], [resp(x)], [_measure(x, length, cs_meas, L, fy, en)], [_max_acc(x, length)]
    for _ in range(iterations):
        d = target_gradient(model, x.to(model_dtype), length, targets, gradient).to(torch.float64)
        if normalize_step:
            size = (d.norm(dim=-1) if Cc == 3 else d.abs()).flatten(1).amax(1)
            d = d / size.clamp(min=1e-12)[:, None, None, None]
        z = x + step * d
        x = _project_batch(z, length, cs, L, fy, en, max_acceleration, proj_kw) if constrained else z
        snaps.append(x.clone())
        r.append(resp(x))
        meas.append(_measure(x, length, cs_meas, L, fy, en))
        acc.append(_max_acc(x, length))
    m = np.stack(meas, 1)                                                      # (N, I+1, 3)
    return MaximizationResult(snapshots=torch.stack(snaps, 1).cpu().numpy(), response=np.stack(r, 1),
                              max_bone_error=m[..., 0], max_angle_violation_deg=m[..., 1],
                              max_floor_violation=m[..., 2], max_acceleration=np.stack(acc, 1),
                              start_violations=lines, enabled=None if en is None else en.cpu().numpy())


# ------------------------------------------------------------------------- workflow helpers

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
    x, length, _ = to_tensors(ds)
    model = model.to(device)
    pred = predict(model, x, length).argmax(1).numpy()
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
            dev = next(model.parameters()).device
            xs = torch.as_tensor(ds.x[idx], device=dev).flatten(2)
            ln = torch.as_tensor(ds.length[idx], device=dev)
            h = model.hidden_states(xs, ln, layer=hidden_layer)
            mean = (h.sum(1) / ln[:, None].to(h)).cpu().numpy()                 # (n, H)
        spread = mean.std(0)
        for u in np.argsort(-spread, kind="stable")[:hidden_units]:
            out.append((Target("unit", int(u), layer=hidden_layer, name=f"unit {int(u)}"),
                        int(idx[int(np.argmax(mean[:, u]))])))
    return out


def run_maximization(model: RecurrentClassifier, ds, cfg: MaximizeConfig = MaximizeConfig()):
    """Everything the ``maximize`` rule computes, on ``cfg.device``: the targets, their start
    samples, the constrained and unconstrained :class:`MaximizationResult` and the constraint set
    used (None for channel data)."""
    device = resolve_device(cfg.device)
    topo = get_topology(ds.topology)
    cs = None
    if topo.is_skeleton:
        cs = C.constraint_set(topo, floor=cfg.floor, angle_limits=dict(cfg.angle_limits) or None)
    else:
        log.info("topology %s has no bones: no anatomical constraints, unconstrained runs only", topo.name)
    model = model.to(device).eval()
    chosen = select_targets(model, ds, list(cfg.classes) or None, cfg.hidden_units, cfg.hidden_layer, cfg.split,
                            tuple(cfg.second_sequence_classes), device)
    idx = [i for _, i in chosen]
    targets = [t for t, _ in chosen]
    kw = {"iterations": cfg.iterations, "step": float(cfg.step_size), "gradient": cfg.gradient,
              "normalize_step": cfg.normalize_step, "infeasible_start": cfg.infeasible_start,
              "max_acceleration": cfg.max_acceleration or None, "projection": {"refine_iter": cfg.refine_iterations}}
    log.info("%d targets, %d iterations, gradient %s", len(targets), kw["iterations"], kw["gradient"])
    con = activation_maximization(model, ds.x[idx], ds.length[idx], targets, cs, constrained=True, **kw)
    unc = activation_maximization(model, ds.x[idx], ds.length[idx], targets, cs, constrained=False, **kw)
    return targets, idx, con, unc, cs


def write_maximization(path, ds, targets, idx, con: MaximizationResult, unc: MaximizationResult, cs,
                       model: str = "", data: str = "", params: MaximizeConfig | None = None) -> None:
    """``maximize/{arch}.h5``: one group per target (``000_class_throw`` ...) with ``snapshots``
    (I+1, T, J, C) float32 in the un-normalised body frame (times the sample's ``scale``),
    ``response``, ``max_bone_error``, ``max_angle_violation_deg`` (I+1,), ``max_floor_violation``,
    ``max_acceleration``, ``start_violations`` (lines), and the same under ``unconstrained/``;
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
                grp.create_dataset("start_violations", data=np.asarray(res.start_violations[n], dtype=object),
                                   dtype=h5py.string_dtype())
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
