"""Training and evaluation of the recurrent classifiers (Patil et al., §4: Adam, step decay).

* Adam with learning rate ``lr``, divided by ``lr_decay_factor`` (10) every ``lr_decay_epochs``.
* Mini-batches drawn by a generator seeded with ``seed + epoch``: the order of epoch e does not
  depend on how the run got there, so a run killed after epoch k and restarted from its
  checkpoint ends with exactly the weights of an uninterrupted run.
* A checkpoint (model, optimiser, scheduler, torch RNG state, history, best weights) is written
  atomically after every epoch. It is resumed only when the model spec, the training settings and
  the data (:func:`data_fingerprint`) are those it was made with; a finished checkpoint returns
  its model without training again (how a rebuilt but unchanged data.h5 keeps its model).
* x larger than ``memory_budget_mb`` (a dataset read lazily from data.h5) is streamed: batches
  come from :class:`BlockShuffleLoader` (contiguous blocks of training rows, shuffled within
  windows of blocks, seeded per epoch) instead of a full permutation, and the validation rows are
  predicted a block at a time.  Below the budget (the default run, every test config) nothing
  changes.
* Model selection (:func:`selection_split`): the epoch with the best validation accuracy (ties:
  lower validation loss). Without a validation split, the last epoch's model, or, when
  ``validation_fraction`` > 0, the best epoch on that share of the training sequences held out
  (seeded, per class) and not trained on.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .datasets.store import Dataset
from .io import atomic_path
from .models import RecurrentClassifier, build_model, predict, resolve_device, to_tensors
from .runtime import seed_everything
from .settings import TrainConfig

__all__ = ["BlockShuffleLoader", "TrainConfig", "data_fingerprint", "predict_rows", "read_rows", "selection_split",
           "streams", "train_classifier", "x_bytes"]

log = logging.getLogger("skelvis.train")


def data_fingerprint(ds: Dataset, block: int | None = None) -> str:
    """sha256 of what training sees: x, length, label and split (a checkpoint belongs to its data).
    ``x`` is hashed ``block`` (default :data:`STREAM_BLOCK`) sequences at a time (the same digest as
    the whole array's bytes), so a lazily read x (:class:`~skelvis.datasets.store.LazyPoses`) is
    never held whole."""
    block = max(1, int(block or STREAM_BLOCK))
    h = hashlib.sha256()
    for a in (ds.x, ds.length, ds.label, ds.split):
        head = np.asarray(a[:0])
        h.update(str((head.dtype.str, tuple(a.shape))).encode())
        for i in range(0, len(a), block):
            h.update(memoryview(np.ascontiguousarray(a[i:i + block])).cast("B"))
    return h.hexdigest()


#: training rows per contiguous block read from data.h5 when x is streamed, and blocks per
#: shuffle window (:class:`BlockShuffleLoader`; at 100 frames x 25 joints, 30 MB a block, 250 MB a window)
STREAM_BLOCK = 1024
STREAM_WINDOW = 8


def x_bytes(shape) -> int:
    """Bytes of a float32 x of ``shape`` (N, T, J, C)."""
    return int(np.prod([int(s) for s in shape], dtype=np.int64)) * 4


def streams(shape, cfg: TrainConfig) -> bool:
    """Whether training streams x (of ``shape``) from disk: it is larger than ``cfg.memory_budget_mb``
    (0: always)."""
    return x_bytes(shape) > cfg.memory_budget_mb * 2 ** 20


def read_rows(x, rows: np.ndarray, span: int | None = None) -> np.ndarray:
    """``x[rows]`` (float32) for increasing ``rows`` (``x`` an array or a
    :class:`~skelvis.datasets.store.LazyPoses`): contiguous reads of at most ``span`` (default
    :data:`STREAM_BLOCK`) rows, each from the next wanted row on, keeping the wanted ones, so that
    memory holds the result and one read however far apart the rows are."""
    rows = np.asarray(rows, np.int64)
    span = max(1, int(span or STREAM_BLOCK))
    out = np.empty((len(rows),) + tuple(x.shape[1:]), np.float32)
    i = 0
    while i < len(rows):
        a = int(rows[i])
        j = int(np.searchsorted(rows, a + span, side="left"))
        b = int(rows[j - 1]) + 1
        part = np.asarray(x[a:b], np.float32)
        out[i:j] = part if j - i == b - a else part[rows[i:j] - a]
        i = j
    return out


class BlockShuffleLoader:
    """Mini-batches of the training ``rows`` of ``x`` read a block at a time (training when x is
    larger than ``train.memory_budget_mb``).

    The rows are cut into contiguous blocks of ``block`` training rows (each one read of data.h5).
    Each epoch, with a generator seeded by ``(seed, epoch)``: the blocks are put in a random order,
    taken ``window`` at a time, and the rows of a window (plus the fewer than ``batch_size`` rows
    left over from the window before) are permuted and cut into batches.  Every training row is
    seen once per epoch and all batches but the last are full, as with a full permutation, but two
    rows share a batch only when their blocks fall into the same window: batches are drawn from a
    window of ``block * window`` rows, not from the whole training set.  Memory: one window of
    poses, whatever the number of sequences.
    """

    def __init__(self, x, rows: np.ndarray, batch_size: int, seed: int, block: int | None = None,
                 window: int | None = None):
        self.x, self.rows = x, np.asarray(rows, np.int64)
        if np.any(np.diff(self.rows) <= 0):
            raise ValueError("BlockShuffleLoader: rows must be increasing")
        self.batch_size, self.seed = max(1, int(batch_size)), seed
        self.block = max(1, int(block or STREAM_BLOCK))
        self.window = max(1, int(window or STREAM_WINDOW))

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)

    def epoch(self, epoch: int):
        """Yield ``(rows (B,), x (B, T, J, C) float32)`` batches of epoch ``epoch`` (0-based)."""
        g = np.random.default_rng([self.seed, epoch])
        blocks = [self.rows[i:i + self.block] for i in range(0, len(self.rows), self.block)]
        order = g.permutation(len(blocks))
        tail = tuple(self.x.shape[1:])
        keep_rows, keep_x = self.rows[:0], np.zeros((0,) + tail, np.float32)
        for w in range(0, len(order), self.window):
            parts = [blocks[i] for i in order[w:w + self.window]]
            n = len(keep_rows) + sum(len(p) for p in parts)
            xs = np.empty((n,) + tail, np.float32)
            xs[:len(keep_rows)] = keep_x
            at = len(keep_rows)
            for p in parts:
                xs[at:at + len(p)] = read_rows(self.x, p)
                at += len(p)
            rs = np.concatenate([keep_rows, *parts])
            perm = g.permutation(n)
            last = w + self.window >= len(order)
            full = n if last else n - n % self.batch_size
            for i in range(0, full, self.batch_size):
                sel = perm[i:i + self.batch_size]
                yield rs[sel], xs[sel]
            keep_rows, keep_x = rs[perm[full:]], xs[perm[full:]]
            del xs


@torch.no_grad()
def predict_rows(model: nn.Module, x, length: np.ndarray, rows: np.ndarray, device="cpu",
                 block: int | None = None) -> torch.Tensor:
    """Logits (n, K) on ``device`` of the sequences ``rows`` (increasing) of ``x``, read ``block``
    (default :data:`STREAM_BLOCK`) at a time (:func:`~skelvis.models.predict` per block)."""
    block = max(1, int(block or STREAM_BLOCK))
    out = []
    for i in range(0, len(rows), block):
        r = rows[i:i + block]
        xb = torch.from_numpy(read_rows(x, r)).flatten(2).to(device)
        out.append(predict(model, xb, torch.from_numpy(length[r].astype(np.int64)).to(device)))
    return torch.cat(out) if out else torch.zeros(0, getattr(model, "num_classes", 0), device=device)


def selection_split(ds: Dataset, fraction: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """(train mask, selection mask, how the model is selected) for ``ds``.

    The validation split (1) when it has sequences; else, with ``fraction`` > 0, a seeded share of
    every class's training sequences (at least one of each class with two or more, never all of
    them), which is then not trained on; else an empty selection mask: the last epoch is kept.
    """
    tr, va = ds.split == 0, ds.split == 1
    if va.any():
        return tr, va, f"best validation accuracy ({int(va.sum())} validation sequences)"
    if fraction <= 0:
        return tr, va, "last epoch (no validation split)"
    rng = np.random.default_rng([seed, 20170])
    held = np.zeros(len(tr), bool)
    for c in np.unique(ds.label[tr]):
        idx = np.flatnonzero(tr & (ds.label == c))
        k = min(len(idx) - 1, max(1, round(fraction * len(idx)))) if len(idx) > 1 else 0
        held[rng.permutation(idx)[:k]] = True
    if not held.any():
        return tr, held, "last epoch (no validation split; too few training sequences to hold out)"
    return tr & ~held, held, (f"best accuracy on {int(held.sum())} training sequences held out "
                              f"(train.validation_fraction = {fraction:g}; no validation split)")


def _epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    g = np.random.default_rng([seed, epoch])
    perm = g.permutation(n)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def train_classifier(ds: Dataset, model_spec: dict[str, Any], cfg: TrainConfig,
                     checkpoint: Path | None = None, stop_after_epoch: int | None = None,
                     progress: bool = True) -> tuple[RecurrentClassifier, list[dict[str, float]]]:
    """Train on split 0, select on split 1. Returns (best model on CPU, history rows).

    ``checkpoint``: file to resume from and to write after each epoch.  ``stop_after_epoch``
    (tests) stops as a kill would, after that epoch's checkpoint.
    """
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    spec = dict(model_spec)
    spec.update(input_size=int(np.prod(ds.x.shape[2:])), num_classes=len(ds.classes))
    model = build_model(spec, meta={"classes": list(ds.classes), "topology": ds.topology,
                                     "dataset": ds.name}).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, cfg.lr_decay_epochs),
                                            gamma=1.0 / cfg.lr_decay_factor)
    history: list[dict[str, float]] = []
    best = {"acc": -1.0, "state": None, "epoch": -1}
    start = 0
    fingerprint = data_fingerprint(ds)
    if checkpoint is not None and Path(checkpoint).exists():
        ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if ck.get("spec") == spec and ck.get("train") == asdict(cfg) and ck.get("data") == fingerprint:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            sched.load_state_dict(ck["scheduler"])
            torch.set_rng_state(ck["rng"])
            history, best, start = ck["history"], ck["best"], ck["epoch"] + 1
            log.info("resumed from %s after epoch %d", checkpoint, start)
        else:
            log.info("ignoring checkpoint %s: it was made with other settings or data", checkpoint)
    tr, va, selection = selection_split(ds, cfg.validation_fraction, cfg.seed)
    log.info("model selection: %s", selection)
    if not tr.any():
        raise ValueError(f"dataset {ds.name!r} has no training samples (split == 0)")
    stream = streams(ds.x.shape, cfg)
    x_va = l_va = y_va = None
    if stream:
        # x larger than the budget: read from ds.x (data.h5, lazily) a block of rows at a time,
        # batches shuffled within windows of blocks (BlockShuffleLoader); validation in blocks
        log.info("x is %.0f MB > train.memory_budget_mb = %d: streamed in blocks of %d training rows, "
                 "shuffled within windows of %d blocks", x_bytes(ds.x.shape) / 2 ** 20, cfg.memory_budget_mb,
                 STREAM_BLOCK, STREAM_WINDOW)
        loader = BlockShuffleLoader(ds.x, np.flatnonzero(tr), cfg.batch_size, cfg.seed)
        rows_va = np.flatnonzero(va)
        y_va = torch.from_numpy(ds.label[rows_va].astype(np.int64)).to(device)
        l_np, y_np = ds.length.astype(np.int64), ds.label.astype(np.int64)

        def batches(epoch):
            for r, xb in loader.epoch(epoch):
                yield (len(r), torch.from_numpy(xb).flatten(2).to(device), torch.from_numpy(l_np[r]).to(device),
                       torch.from_numpy(y_np[r]).to(device))

        def validation_logits():
            return predict_rows(model, ds.x, ds.length, rows_va, device)
    else:
        # the whole dataset as one tensor (a view of ds.x on the CPU, no copy) indexed per batch by
        # the training rows: memory holds x once (at most the budget), plus the validation rows'
        # copy for the per-epoch evaluation
        x_all, l_all, y_all = to_tensors(ds, None, device)
        rows_tr = torch.from_numpy(np.flatnonzero(tr)).to(device)
        if va.any():
            rows_va = torch.from_numpy(np.flatnonzero(va)).to(device)
            x_va, l_va, y_va = x_all[rows_va], l_all[rows_va], y_all[rows_va]

        def batches(epoch):
            for idx in _epoch_batches(len(rows_tr), cfg.batch_size, cfg.seed, epoch):
                idx_t = rows_tr[torch.from_numpy(idx).to(device)]
                yield len(idx), x_all[idx_t], l_all[idx_t], y_all[idx_t]

        def validation_logits():
            return predict(model, x_va, l_va)
    has_va = bool(va.any())
    loss_fn = nn.CrossEntropyLoss()
    bar = tqdm(range(start, cfg.epochs), desc="train", disable=not progress, mininterval=2.0,
               initial=start, total=cfg.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        tot, correct, seen = 0.0, 0, 0
        for nb, xb, lb, yb in batches(epoch):
            opt.zero_grad(set_to_none=True)
            logits = model(xb, lb)
            loss = loss_fn(logits, yb)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            tot += float(loss.detach()) * nb
            correct += int((logits.argmax(1) == yb).sum())
            seen += nb
        sched.step()
        row = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "train_loss": tot / seen,
               "train_accuracy": correct / seen, "seconds": time.perf_counter() - t0}
        if has_va:
            logits = validation_logits()
            row["validation_loss"] = float(loss_fn(logits, y_va))
            row["validation_accuracy"] = float((logits.argmax(1) == y_va).float().mean())
        history.append(row)
        # model selection: best validation accuracy, ties broken by lower validation loss
        score = row.get("validation_accuracy", row["train_accuracy"])
        loss_now = row.get("validation_loss", row["train_loss"])
        if not has_va or score > best["acc"] or (score == best["acc"] and loss_now < best.get("loss", math.inf)):
            best = {"acc": score, "epoch": epoch + 1, "loss": loss_now,
                    "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{row.get('validation_accuracy', math.nan):.3f}")
        log.info("epoch %d/%d loss %.4f train %.3f val %.3f (%.1f s)", epoch + 1, cfg.epochs,
                 row["train_loss"], row["train_accuracy"], row.get("validation_accuracy", math.nan), row["seconds"])
        if checkpoint is not None:
            with atomic_path(checkpoint) as tmp:
                torch.save({"spec": spec, "train": asdict(cfg), "data": fingerprint, "epoch": epoch,
                            "model": model.state_dict(), "optimizer": opt.state_dict(),
                            "scheduler": sched.state_dict(), "rng": torch.get_rng_state(),
                            "history": history, "best": best}, tmp)
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            break
    final = build_model(spec, meta=model.meta)
    final.load_state_dict(best["state"])
    final.meta["best_epoch"] = best["epoch"]
    final.meta["selection"] = selection
    final.eval()
    return final, history
