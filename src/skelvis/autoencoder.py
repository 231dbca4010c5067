"""Denoising-autoencoder projection of hidden states (Tempczyk and Bartołd, "Visualizing LSTM
networks, part I").

Method, as in the blog:

* training vectors: the hidden state h_t at every valid time step of the *training* sequences,
  shuffled, without the redundant near-constant steps at the start and end of each sequence
  (:func:`redundant_steps`);
* a dense autoencoder H -> 600 (ReLU) -> 150 (ReLU) -> k (linear bottleneck) -> 150 (ReLU) ->
  600 (ReLU) -> H (linear), k = 2 or 3 (:class:`DenoisingAutoencoder`);
* Gaussian input noise sigma = 0.1, mean-squared error, Adam, early stopping on a held-out fifth
  of the vectors (:func:`train_autoencoder`; seeded and resumable like :mod:`skelvis.train`);
* the path of a sequence is its codes z_t = encoder(h_t), t < length (:func:`extract_paths`),
  shown after the display transform sign(z) log(1 + |z|) (:func:`display_transform`).

Also here: what the paths are coloured or grouped by (body-part partition from input variability
per limb group, confusable class pairs from code-space proximity).
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .datasets.store import iter_dataset
from .errors import DataFormatError
from .io import atomic_path, decode_attrs, decode_strings, open_h5, read_json, require, rerun_fix
from .models import resolve_device
from .rnn import valid_frames
from .settings import AutoencoderConfig

__all__ = [
    "AutoencoderConfig",
    "DenoisingAutoencoder",
    "body_part_partition",
    "display_transform",
    "encode",
    "extract_paths",
    "limb_variability_file",
    "load_autoencoder",
    "paths_streamed",
    "proximity_pairs",
    "read_paths",
    "read_quality",
    "redundant_steps",
    "save_autoencoder",
    "shown_rows",
    "train_autoencoder",
    "training_vectors",
    "training_vectors_streamed",
    "write_paths",
    "write_quality",
]

log = logging.getLogger("skelvis.autoencoder")


class DenoisingAutoencoder(nn.Module):
    """Dense autoencoder with a linear k-unit bottleneck (the blog's architecture).

    encoder: H -> hidden_layers[0] (ReLU) -> ... -> k (linear);
    decoder: k -> reversed(hidden_layers) (ReLU) -> H (linear).
    ``forward`` returns the reconstruction (N, H); :meth:`encode` the codes (N, k).
    """

    def __init__(self, input_size: int, k: int = 2, hidden_layers: Sequence[int] = (600, 150)):
        super().__init__()
        self.input_size, self.k, self.hidden_layers = int(input_size), int(k), tuple(int(h) for h in hidden_layers)
        enc: list[nn.Module] = []
        d = self.input_size
        for h in self.hidden_layers:
            enc += [nn.Linear(d, h), nn.ReLU()]
            d = h
        enc.append(nn.Linear(d, self.k))
        dec: list[nn.Module] = []
        d = self.k
        for h in reversed(self.hidden_layers):
            dec += [nn.Linear(d, h), nn.ReLU()]
            d = h
        dec.append(nn.Linear(d, self.input_size))
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def spec(self) -> dict[str, Any]:
        return {"input_size": self.input_size, "k": self.k, "hidden_layers": list(self.hidden_layers)}


# ----------------------------------------------------------------------------- training vectors
def step_changes(h: np.ndarray) -> np.ndarray:
    """max_i |h_t,i - h_t-1,i| for each step of one sequence (T, H) -> (T,), with h_-1 = 0."""
    h = np.asarray(h, np.float64)
    prev = np.vstack([np.zeros((1, h.shape[1])), h[:-1]])
    return np.abs(h - prev).max(1) if h.size else np.zeros(len(h))


def redundant_steps(h: np.ndarray, threshold: float = AutoencoderConfig.redundant_threshold,
                    scope: str = AutoencoderConfig.redundant_scope) -> np.ndarray:
    """Boolean (T,) mask of redundant steps of one sequence's valid hidden states ``h`` (T, H).

    A step is *still* when its change from the previous step, max_i |h_t,i - h_t-1,i| (h_-1 = 0,
    the initial state), is below ``threshold``. With ``scope='ends'`` (the blog's rule) the
    redundant steps are the still steps of the run right after the first step and of the run that
    ends the sequence (repeats of a constant state while the input is still or padded); with
    ``scope='all'`` every still step is redundant. A step whose state changes by at least
    ``threshold`` is never redundant, and the first step is always kept.
    """
    if scope not in ("ends", "all"):
        raise ValueError(f"config key 'autoencoder.redundant_scope': {scope!r} is not one of ['ends', 'all']")
    still = step_changes(h) < threshold
    T = len(still)
    red = np.zeros(T, bool)
    if T == 0:
        return red
    if scope == "all":
        red = still.copy()
        red[0] = False
        return red
    t = 1
    while t < T and still[t]:
        red[t] = True
        t += 1
    t = T - 1
    while t >= 1 and still[t]:
        red[t] = True
        t -= 1
    return red


def training_vectors(hidden: np.ndarray, length: np.ndarray, mask: np.ndarray | None = None,
                     threshold: float = AutoencoderConfig.redundant_threshold,
                     scope: str = AutoencoderConfig.redundant_scope, max_vectors: int = 0,
                     seed: int = AutoencoderConfig.seed) -> tuple[np.ndarray, dict[str, int]]:
    """Shuffled hidden-state vectors (M, H) of the sequences in ``mask`` without redundant steps.

    ``max_vectors`` > 0 caps M by a seeded random subset. Returns (vectors, counts) with counts
    of valid, kept and used steps.
    """
    idx = np.flatnonzero(np.ones(len(hidden), bool) if mask is None else mask)
    rows, valid = [], 0
    for i in idx:
        h = hidden[i, :int(length[i])]
        valid += len(h)
        rows.append(h[~redundant_steps(h, threshold, scope)])
    vec = np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, hidden.shape[-1]), np.float32)
    kept = len(vec)
    perm = np.random.default_rng([seed, 17]).permutation(kept)
    if max_vectors and kept > max_vectors:
        perm = perm[:max_vectors]
    return vec[perm], {"valid_steps": int(valid), "kept_steps": int(kept), "used_vectors": len(perm)}


def training_vectors_streamed(chunks, length: np.ndarray, mask: np.ndarray | None = None,
                              threshold: float = AutoencoderConfig.redundant_threshold,
                              scope: str = AutoencoderConfig.redundant_scope, max_vectors: int = 0,
                              seed: int = AutoencoderConfig.seed) -> tuple[np.ndarray, dict[str, int]]:
    """:func:`training_vectors` through bounded memory, equal to it: ``chunks()`` yields
    ``(rows (n,), hidden (n, T, H))`` over every sequence in order (e.g. ``iter_activations``) and
    is read twice: once to count the kept steps of each sequence in ``mask``, once to pick the
    seeded subset's vectors.  Memory: one chunk, the M used vectors and 8 bytes per kept step."""
    length = np.asarray(length)
    mask = np.ones(len(length), bool) if mask is None else np.asarray(mask, bool)
    kept_per = np.zeros(len(length), np.int64)
    valid, H = 0, None
    for rows, hidden in chunks():
        H = hidden.shape[-1]
        for i, r in enumerate(rows):
            if mask[r]:
                h = hidden[i, :int(length[r])]
                valid += len(h)
                kept_per[r] = int((~redundant_steps(h, threshold, scope)).sum())
    kept = int(kept_per.sum())
    perm = np.random.default_rng([seed, 17]).permutation(kept)
    if max_vectors and kept > max_vectors:
        perm = perm[:max_vectors]
    order = np.argsort(perm, kind="stable")
    wanted = perm[order]                                       # increasing kept-step indices
    out = np.zeros((len(perm), H or 0), np.float32)
    offset = np.concatenate([[0], np.cumsum(kept_per)])        # first kept-step index per sequence
    for rows, hidden in chunks():
        for i, r in enumerate(rows):
            if not mask[r] or not kept_per[r]:
                continue
            a, b = np.searchsorted(wanted, [offset[r], offset[r + 1]])
            if a == b:
                continue
            h = hidden[i, :int(length[r])]
            vec = h[~redundant_steps(h, threshold, scope)]
            out[order[a:b]] = vec[wanted[a:b] - offset[r]]
    return out, {"valid_steps": int(valid), "kept_steps": kept, "used_vectors": len(perm)}


# ----------------------------------------------------------------------------- training
def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng([seed, 23]).permutation(n)
    n_val = round(n * fraction) if n > 1 else 0
    n_val = min(max(n_val, 1 if fraction > 0 and n > 1 else 0), n - 1)
    return perm[n_val:], perm[:n_val]


def _mse(model: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> float:
    if len(x) == 0:
        return math.nan
    with torch.no_grad():
        tot = sum(float(((model(x[i:i + batch_size]) - x[i:i + batch_size]) ** 2).sum())
                  for i in range(0, len(x), batch_size))
    return tot / x.numel()


def train_autoencoder(vectors: np.ndarray, cfg: AutoencoderConfig, k: int, checkpoint: Path | None = None,
                      stop_after_epoch: int | None = None,
                      progress: bool = True) -> tuple[DenoisingAutoencoder, list[dict[str, float]], dict[str, float]]:
    """Train a ``k``-unit bottleneck on 1 - validation_fraction of ``vectors`` (M, H); early
    stopping on the held-out rest.

    Each epoch: mini-batches in an order drawn from ``[seed, epoch]`` and input noise
    N(0, noise^2) from a generator seeded the same way, so a run resumed from its checkpoint
    (written atomically after each epoch) ends with the weights of an uninterrupted run.
    Stops after ``patience`` epochs without a lower validation MSE or at ``max_epochs``; returns
    (best model on CPU in eval mode, history rows, summary) where the summary holds the held-out
    MSE of the model and of predicting the training mean vector (the baseline it must beat).
    """
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    vectors = np.asarray(vectors, np.float32)
    if vectors.ndim != 2 or len(vectors) < 2:
        raise ValueError(f"autoencoder needs at least 2 training vectors (M, H), got shape {vectors.shape}")
    tr_idx, va_idx = _split(len(vectors), cfg.validation_fraction, cfg.seed)
    x_tr = torch.from_numpy(vectors[tr_idx]).to(device)
    x_va = torch.from_numpy(vectors[va_idx]).to(device)
    model = DenoisingAutoencoder(vectors.shape[1], k, cfg.hidden_layers).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"loss": math.inf, "epoch": 0, "state": None}
    start, bad = 0, 0
    key = {name: list(v) if isinstance(v, tuple) else v
           for name, v in ((n, getattr(cfg, n)) for n in AutoencoderConfig.TRAINING_KEYS)}
    key.update(k=int(k), input_size=int(vectors.shape[1]), vectors=len(vectors))
    if checkpoint is not None and Path(checkpoint).exists():
        ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if ck.get("key") == key:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            history, best, start, bad = ck["history"], ck["best"], ck["epoch"] + 1, ck["bad"]
            log.info("resumed from %s after epoch %d", checkpoint, start)
        else:
            log.info("ignoring checkpoint %s: it was made with other settings", checkpoint)
    stopped = bad >= cfg.patience
    bar = tqdm(range(start, cfg.max_epochs), desc=f"autoencoder k={k}", disable=not progress,
               mininterval=2.0, initial=start, total=cfg.max_epochs)
    for epoch in bar:
        if stopped:
            break
        t0 = time.perf_counter()
        model.train()
        g = torch.Generator().manual_seed(int(np.random.default_rng([cfg.seed, epoch]).integers(2 ** 62)))
        perm = torch.randperm(len(x_tr), generator=g).to(device)
        tot = 0.0
        for i in range(0, len(perm), cfg.batch_size):
            xb = x_tr[perm[i:i + cfg.batch_size]]
            noisy = xb + cfg.noise * torch.randn(xb.shape, generator=g).to(device)
            opt.zero_grad(set_to_none=True)
            loss = ((model(noisy) - xb) ** 2).mean()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(xb)
        model.eval()
        val = _mse(model, x_va) if len(x_va) else tot / len(x_tr)
        row = {"epoch": epoch + 1, "train_loss": tot / len(x_tr), "validation_mse": val,
               "seconds": time.perf_counter() - t0}
        history.append(row)
        if val < best["loss"]:
            best = {"loss": val, "epoch": epoch + 1,
                    "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
            bad = 0
        else:
            bad += 1
        stopped = bad >= cfg.patience
        bar.set_postfix(loss=f"{row['train_loss']:.4f}", val=f"{val:.4f}")
        log.info("epoch %d/%d noisy-input loss %.5f held-out mse %.5f (%.1f s)%s", epoch + 1, cfg.max_epochs,
                 row["train_loss"], val, row["seconds"], " - early stop" if stopped else "")
        if checkpoint is not None:
            with atomic_path(checkpoint) as tmp:
                torch.save({"key": key, "epoch": epoch, "model": model.state_dict(),
                            "optimizer": opt.state_dict(), "history": history, "best": best,
                            "bad": bad}, tmp)
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            break
    final = DenoisingAutoencoder(vectors.shape[1], k, cfg.hidden_layers)
    final.load_state_dict(best["state"])
    final.eval()
    mean = x_tr.mean(0, keepdim=True)
    x_ref = x_va if len(x_va) else x_tr
    summary = {"best_epoch": int(best["epoch"]), "epochs_run": len(history),
               "validation_mse": _mse(final, x_ref.cpu()),
               "mean_vector_mse": float(((x_ref - mean) ** 2).mean()),
               "train_vectors": len(x_tr), "validation_vectors": len(x_va),
               "train_seconds": float(sum(r["seconds"] for r in history))}
    return final, history, summary


def save_autoencoder(model: DenoisingAutoencoder, path, extra: dict[str, Any] | None = None) -> None:
    """Spec + state dict as plain tensors (loadable with ``weights_only=True``)."""
    payload = {"format": "skelvis-autoencoder-1", "spec": model.spec(),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "extra": dict(extra or {})}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_autoencoder(path) -> DenoisingAutoencoder:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: autoencoder not found; run the 'autoencoder' rule")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != "skelvis-autoencoder-1":
        raise ValueError(f"{path}: not a skelvis autoencoder file; delete it and run the 'autoencoder' rule again")
    s = payload["spec"]
    model = DenoisingAutoencoder(s["input_size"], s["k"], s["hidden_layers"])
    model.load_state_dict(payload["state_dict"])
    return model.eval()


# ----------------------------------------------------------------------------- paths
@torch.no_grad()
def encode(model: DenoisingAutoencoder, vectors: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Bottleneck codes (M, k) of vectors (M, H)."""
    model.eval()
    x = torch.from_numpy(np.asarray(vectors, np.float32))
    dev = next(model.parameters()).device
    out = [model.encode(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, model.k), np.float32)


def extract_paths(model: DenoisingAutoencoder, hidden: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Path of every sequence through code space: (N, T, k) codes, NaN after ``length``."""
    n, T, H = hidden.shape
    codes = encode(model, hidden.reshape(-1, H)).reshape(n, T, model.k)
    valid = valid_frames(np.asarray(length), T)
    codes[~valid] = np.nan
    return codes.astype(np.float32)


def paths_streamed(model: DenoisingAutoencoder, chunks, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`extract_paths` of every sequence from ``chunks()`` (as :func:`training_vectors_streamed`),
    and the hidden state at each sequence's last valid step (N, H): memory holds one chunk, the
    codes (N, T, k) and the last states."""
    length = np.asarray(length)
    codes = last = None
    for rows, hidden in chunks():
        if codes is None:
            codes = np.full((len(length), hidden.shape[1], model.k), np.nan, np.float32)
            last = np.zeros((len(length), hidden.shape[-1]), np.float32)
        sl = slice(int(rows[0]), int(rows[-1]) + 1)
        codes[sl] = extract_paths(model, hidden, length[sl])
        last[sl] = hidden[np.arange(len(rows)), length[sl] - 1]
    if codes is None:
        return np.zeros((0, 0, model.k), np.float32), np.zeros((0, 0), np.float32)
    return codes, last


def display_transform(z: np.ndarray) -> np.ndarray:
    """sign(z) * log(1 + |z|), the blog's display transform of bottleneck coordinates."""
    z = np.asarray(z)
    return np.sign(z) * np.log1p(np.abs(z))


def last_codes(path: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Code at the last valid step of every sequence, (N, k)."""
    return path[np.arange(len(path)), np.asarray(length) - 1]


def write_paths(path, codes: np.ndarray, acts: dict[str, Any], model: str = "", data: str = "",
                extra_attrs: dict[str, Any] | None = None) -> None:
    """``..._{k}d_paths.h5``: path (N, T, k) NaN after length, length, label, split, predicted, sample_id."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("path", data=np.asarray(codes, np.float32), compression="gzip", compression_opts=4)
        for k in ("length", "label", "split", "predicted"):
            f[k] = np.asarray(acts[k])
        f.create_dataset("sample_id", data=np.asarray([str(s) for s in acts["sample_id"]], dtype=object),
                         dtype=h5py.string_dtype())
        f.attrs["model"], f.attrs["data"] = str(model), str(data)
        f.attrs["classes"] = json.dumps(list(acts["classes"]))
        f.attrs["k"] = int(codes.shape[-1])
        for key, v in (extra_attrs or {}).items():
            f.attrs[key] = v if isinstance(v, (str, int, float)) else json.dumps(v)


def read_paths(path, rows=None) -> dict[str, Any]:
    """A paths file written by :func:`write_paths`: arrays, ``classes`` and ``attrs``; ``rows``
    (increasing sequence indices, default all): only those sequences (e.g. :func:`shown_rows`)."""
    with open_h5(path, rule="autoencoder", what="paths file") as f:
        require(f, ("path", "length", "label", "split", "predicted", "sample_id"), path, "autoencoder")
        sel = slice(None) if rows is None else np.asarray(rows, np.int64)
        out: dict[str, Any] = {k: f[k][sel] for k in ("path", "length", "label", "split", "predicted")}
        out["sample_id"] = decode_strings(f["sample_id"])[sel]
        attrs = decode_attrs(f.attrs)
    out["classes"] = json.loads(attrs.pop("classes", "[]"))
    out["attrs"] = attrs
    return out


def write_quality(path, doc: dict[str, Any]) -> None:
    """``..._{k}d_projection_quality.json``: ``k``, ``quality`` (method -> trustworthiness, kNN
    class agreement ...), ``autoencoder`` (training summary), ``training_vectors``,
    ``pca_explained_variance_ratio``, ``neighbors`` and the input paths; written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))


def read_quality(path) -> dict[str, Any]:
    """A projection-quality file written by :func:`write_quality`."""
    doc = read_json(path, rule="autoencoder", what="projection-quality file")
    if not isinstance(doc, dict) or "quality" not in doc or "k" not in doc:
        raise DataFormatError(path, "not a projection-quality file (no 'k' and 'quality')", fix=rerun_fix("autoencoder"))
    return doc


# ----------------------------------------------------------------------------- groupings
def limb_variability(x: np.ndarray, length: np.ndarray, limb_groups: dict[str, Sequence[int]]) -> dict[str, np.ndarray]:
    """Input variability per limb group: mean over the group's joints of the temporal standard
    deviation of the joint (Euclidean over channels), valid frames only. x (N, T, J, C) -> {group: (N,)}."""
    n = len(x)
    out = {g: np.zeros(n) for g in limb_groups}
    for i in range(n):
        seq = x[i, :int(length[i])].astype(np.float64)
        sd = np.sqrt(seq.var(0).sum(-1))  # (J,)
        for g, idx in limb_groups.items():
            out[g][i] = sd[list(idx)].mean() if len(idx) else 0.0
    return out


def limb_variability_file(data, limb_groups: dict[str, Sequence[int]], chunk: int = 512) -> dict[str, np.ndarray]:
    """:func:`limb_variability` of every sequence of the contract file ``data``, read ``chunk``
    sequences at a time."""
    parts = [limb_variability(ds.x, ds.length, limb_groups) for _, ds in iter_dataset(data, chunk)]
    return {g: np.concatenate([p[g] for p in parts]) if parts else np.zeros(0) for g in limb_groups}


def shown_rows(n_sequences: int, max_sequences: int, seed: int = 0, include=()) -> np.ndarray:
    """The sequences a figure of every sequence draws: all when ``max_sequences`` is 0 or at least
    ``n_sequences``, else a seeded random subset of that size, plus ``include`` (increasing)."""
    if not max_sequences or n_sequences <= max_sequences:
        return np.arange(n_sequences, dtype=np.int64)
    rows = np.random.default_rng([seed, 29]).choice(n_sequences, int(max_sequences), replace=False)
    return np.union1d(rows, np.asarray(include, np.int64))


_SKIP = ("torso", "head", "other")


def body_part_partition(x: np.ndarray, length: np.ndarray, label: np.ndarray, num_classes: int,
                        limb_groups: dict[str, Sequence[int]],
                        ratio: float = AutoencoderConfig.body_part_ratio,
                        variability: dict[str, np.ndarray] | None = None) -> tuple[list[str], np.ndarray]:
    """Partition the classes by the body parts that move (the blog's right-handed vs two-handed
    split, generalised to any topology's limb groups).

    A limb group is *active* in a sequence when its variability (:func:`limb_variability`) is at
    least ``ratio`` times that of the most variable limb group (torso and head are not limbs).
    Left/right groups of the same kind merge: {left_arm} -> "one arm", {left_arm, right_arm} ->
    "both arms", {right_leg, left_arm} -> "one arm + one leg". Each class takes its most common
    category over its sequences. Returns (category names, sorted; class -> category index (K,)).
    ``variability``: :func:`limb_variability` already computed (e.g. :func:`limb_variability_file`;
    ``x`` is then not read).
    """
    var = limb_variability(x, length, limb_groups) if variability is None else variability
    limbs = [g for g in limb_groups if g not in _SKIP] or list(limb_groups)
    v = np.stack([var[g] for g in limbs], 1)  # (N, G)
    active = v >= ratio * v.max(1, keepdims=True)
    names = []
    for row in active:
        count: dict[str, int] = {}
        for g, a in zip(limbs, row):
            if a:
                base = g.split("_", 1)[1] if g.startswith(("left_", "right_")) else g
                count[base] = count.get(base, 0) + 1
        parts = [f"both {b}s" if c == 2 else (f"one {b}" if c == 1 else f"{c} {b}s") for b, c in sorted(count.items())]
        names.append(" + ".join(parts) or "no limb")
    cats = sorted(set(names))
    per_seq = np.array([cats.index(s) for s in names])
    per_class = np.zeros(num_classes, int)
    for c in range(num_classes):
        m = label == c
        per_class[c] = np.bincount(per_seq[m], minlength=len(cats)).argmax() if m.any() else 0
    used = sorted(set(per_class.tolist()))
    return [cats[u] for u in used], np.array([used.index(p) for p in per_class])


def proximity_pairs(codes: np.ndarray, label: np.ndarray, num_classes: int,
                    top: int = AutoencoderConfig.pairs_from_proximity,
                    exclude: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int, float]]:
    """Class pairs (a, b, distance) whose median last-step codes lie closest, closest first.

    ``codes`` (N, k) last-step codes; pairs in ``exclude`` (either order) are skipped.
    """
    cent = np.full((num_classes, codes.shape[1]), np.nan)
    for c in range(num_classes):
        if (label == c).any():
            cent[c] = np.median(codes[label == c], 0)
    skip = {frozenset(p) for p in exclude}
    cand = []
    for a in range(num_classes):
        for b in range(a + 1, num_classes):
            d = float(np.linalg.norm(cent[a] - cent[b]))
            if np.isfinite(d) and frozenset((a, b)) not in skip:
                cand.append((a, b, d))
    return sorted(cand, key=lambda t: t[2])[:top]
