"""Faithfulness of sensitivity maps: do they point at the joints the classifier really uses?

Two measures (none of the peer tools report them):

``mass_share``
    On data with known ground truth (the synthetic set's ``class_joints`` attr: class -> the joints
    that carry its motion), the share of a sequence's saliency mass sum_{t, j in G_c} S_c[t, j] /
    sum_{t, j} S_c[t, j] that falls on its class's joints G_c, averaged per class, next to the
    share a uniform map would give (chance = |G_c| / J).

``deletion_curve``
    Class probability of the true class as the k most salient joints (ranked by the sequence's
    map summed over time) are frozen to their first-frame position for the whole sequence, for
    k = 0..J, against the same number of joints chosen at random (several seeded random orders).
    A faithful map makes the probability drop faster than random; the normalised area under each
    curve (mean probability over k) summarises it (lower = more faithful for the salient curve).
"""
from __future__ import annotations

import json
from collections.abc import Sequence

import h5py
import numpy as np
import torch
from torch import nn

from .datasets.store import SPLIT_NAMES, Dataset, DatasetInfo, iter_dataset, read_dataset_info
from .errors import DataFormatError
from .io import atomic_path, open_h5, read_json, require, rerun_fix
from .rnn import valid_frames
from .settings import SaliencyConfig

__all__ = [
    "combine_shards",
    "deletion_curve",
    "deletion_rows",
    "deletion_sums",
    "evaluate_faithfulness",
    "freeze_joints",
    "mass_share",
    "random_orders_for",
    "read_faithfulness",
    "read_shard",
    "score_files",
    "score_shard",
    "split_mask",
    "write_faithfulness",
    "write_shard",
]


def split_mask(ds_split: np.ndarray, split: str) -> np.ndarray:
    """Samples used for scoring: 'train' | 'validation' | 'test' | 'held_out' (not train) | 'all'.

    Falls back to every sample when the chosen split is empty (e.g. data without a test split).
    """
    code = {v: k for k, v in SPLIT_NAMES.items()}
    if split == "all":
        m = np.ones(len(ds_split), bool)
    elif split == "held_out":
        m = ds_split != 0
    elif split in code:
        m = ds_split == code[split]
    else:
        raise ValueError(f"split must be one of {['all', 'held_out', *code]}, got {split!r}")
    return m if m.any() else np.ones(len(ds_split), bool)


def mass_share(class_map: np.ndarray, label: np.ndarray, classes: Sequence[str],
               class_joints: dict[str, Sequence[str]], joint_names: Sequence[str]) -> dict:
    """Share of saliency mass on each class's ground-truth joints.

    ``class_map`` (N, T, J) for the true class, ``label`` (N,).  Returns {'per_class': {class:
    {'share', 'share_std', 'chance', 'n', 'joints'}}, 'mean_share', 'mean_chance'}; classes
    without ground truth or samples are left out.  Sequences whose map is all zero are skipped.
    """
    return _mass_share(class_map.sum(1), label, classes, class_joints, joint_names)


def _mass_share(per_joint: np.ndarray, label, classes, class_joints, joint_names) -> dict:
    """:func:`mass_share` from the maps summed over time, per_joint (N, J)."""
    index = {n: i for i, n in enumerate(joint_names)}
    J = per_joint.shape[1]
    total = per_joint.sum(1)
    per_class = {}
    for c, name in enumerate(classes):
        joints = class_joints.get(name)
        if not joints:
            continue
        unknown = [j for j in joints if j not in index]
        if unknown:
            raise ValueError(f"class_joints[{name!r}] names unknown joint(s) {unknown}; joints: {list(joint_names)}")
        sel = (label == c) & (total > 0)
        if not sel.any():
            continue
        idx = [index[j] for j in joints]
        share = per_joint[sel][:, idx].sum(1) / total[sel]
        per_class[name] = {"share": float(share.mean()), "share_std": float(share.std()),
                           "chance": len(idx) / J, "n": int(sel.sum()), "joints": list(joints)}
    if not per_class:
        return {"per_class": {}, "mean_share": None, "mean_chance": None}
    return {"per_class": per_class,
            "mean_share": float(np.mean([v["share"] for v in per_class.values()])),
            "mean_chance": float(np.mean([v["chance"] for v in per_class.values()]))}


def freeze_joints(x: torch.Tensor, length: torch.Tensor, frozen: torch.Tensor) -> torch.Tensor:
    """Copy of ``x`` (N, T, J, C) where joints with ``frozen`` (N, J) True stay at their first-frame
    position on every valid frame (padding stays zero)."""
    T = x.shape[1]
    valid = valid_frames(length.to(x.device), T)                                     # (N, T)
    m = (valid[:, :, None] & frozen[:, None, :])[..., None]                          # (N, T, J, 1)
    return torch.where(m, x[:, :1].expand_as(x), x)


@torch.no_grad()
def _true_prob(model: nn.Module, x: torch.Tensor, length: torch.Tensor, label: torch.Tensor,
               batch_size: int) -> torch.Tensor:
    out = []
    for s in range(0, len(x), batch_size):
        logits = model(x[s:s + batch_size].flatten(2), length[s:s + batch_size])
        p = torch.softmax(logits.float(), 1)
        out.append(p.gather(1, label[s:s + batch_size, None])[:, 0])
    return torch.cat(out)


def random_orders_for(N: int, J: int, random_orders: int, seed: int) -> list[np.ndarray]:
    """The random joint orders of :func:`deletion_curve`: ``random_orders`` arrays (N, J), row i a
    permutation of the joints for sequence i, drawn from ``seed`` in sequence order (so that a
    shard of the sequences takes its rows of the same orders)."""
    rng = np.random.default_rng(seed)
    return [np.stack([rng.permutation(J) for _ in range(N)]) if N else np.zeros((0, J), int)
            for _ in range(random_orders)]


def deletion_sums(model: nn.Module, x, length, label, class_map: np.ndarray, random: Sequence[np.ndarray],
                  batch_size: int = 256) -> np.ndarray:
    """Sums over the sequences (float64, (1 + len(random), J + 1)) of the true-class probability as
    k = 0..J joints are frozen: row 0 most salient first (``class_map`` (N, T, J) summed over time),
    then each order of ``random`` ((N, J) each).  :func:`deletion_curve` divides by N; shards add."""
    dev = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    was = model.training
    model.eval()
    length = torch.as_tensor(length).long().to(dev)
    label = torch.as_tensor(label).long().to(dev)
    N, _T, J, _C = x.shape
    ranks = np.argsort(-class_map.sum(1), axis=1, kind="stable")                   # (N, J)
    orders = [ranks, *random]
    pos = []
    for order in orders:
        p = np.empty_like(order)
        np.put_along_axis(p, order, np.arange(J)[None].repeat(N, 0), axis=1)      # rank of joint j
        pos.append(torch.from_numpy(p).to(dev))
    sums = np.zeros((len(orders), J + 1))
    try:
        for s in range(0, N, max(1, int(batch_size))):
            sl = slice(s, min(N, s + max(1, int(batch_size))))
            xb = torch.as_tensor(x[sl]).to(dev, dtype)
            for o in range(len(orders)):
                for k in range(J + 1):
                    xf = freeze_joints(xb, length[sl], pos[o][sl] < k)
                    sums[o, k] += float(_true_prob(model, xf, length[sl], label[sl], len(xb)).double().sum())
    finally:
        model.train(was)
    return sums


def _deletion_result(sums: np.ndarray, N: int, random_orders: int) -> dict:
    J = sums.shape[1] - 1
    curves = sums / N if N else np.full_like(sums, np.nan)
    rand = curves[1:] if random_orders else np.full((1, J + 1), np.nan)
    return {"k": list(range(J + 1)), "salient": curves[0].tolist(), "random": rand.mean(0).tolist(),
            "random_std": rand.std(0).tolist(), "random_orders": int(random_orders),
            "auc_salient": float(curves[0].mean()), "auc_random": float(rand.mean())}


def deletion_curve(model: nn.Module, x, length, label, class_map: np.ndarray,
                   random_orders: int = SaliencyConfig.deletion_random_orders, seed: int = SaliencyConfig.seed,
                   batch_size: int = 256) -> dict:
    """Mean true-class probability as k = 0..J joints are frozen: most salient first vs random.

    ``x`` (N, T, J, C), ``class_map`` (N, T, J).  Returns {'k', 'salient', 'random',
    'random_std' (over the random orders), 'auc_salient', 'auc_random'} (AUC = mean over k).
    Streams over batches of ``batch_size`` sequences (every order and k of a batch, then the
    next), summing probabilities in float64 (:func:`deletion_sums`): memory holds one batch, and
    the result does not depend on ``batch_size`` beyond rounding.
    """
    N, _T, J, _C = x.shape
    rand = random_orders_for(N, J, random_orders, seed)
    return _deletion_result(deletion_sums(model, x, length, label, class_map, rand, batch_size), N, random_orders)


def deletion_rows(rows: np.ndarray, max_sequences: int | None, seed: int = 0) -> np.ndarray:
    """The sequences the deletion curve scores: ``rows`` when at most ``max_sequences`` of them, else
    a seeded random subset of that size (increasing indices), so its cost does not grow with N."""
    rows = np.asarray(rows, np.int64)
    if max_sequences is None or len(rows) <= max_sequences:
        return rows
    return np.sort(np.random.default_rng([seed, 16]).choice(rows, int(max_sequences), replace=False))


def _ground_truth(extra_attrs: dict):
    cj = extra_attrs.get("class_joints")
    return json.loads(cj) if isinstance(cj, (str, bytes)) else cj


_SKIPPED = "the data has no 'class_joints' attribute (ground truth exists for synthetic data only)"


def evaluate_faithfulness(model: nn.Module, ds: Dataset, class_map: np.ndarray, joint_names: Sequence[str],
                          cfg: SaliencyConfig = SaliencyConfig()) -> dict:
    """Both measures on the samples of ``cfg.faithfulness_split`` held in memory (deletion baseline
    averaged over ``cfg.deletion_random_orders`` random orders drawn from ``cfg.seed``, on
    :func:`deletion_rows` of the split); the mass share is skipped (with the reason) when the data
    has no ``class_joints`` ground truth (real data).  :func:`score_files` does the same from the files."""
    split, random_orders, seed = cfg.faithfulness_split, cfg.deletion_random_orders, cfg.seed
    max_sequences = cfg.deletion_max_sequences
    m = split_mask(ds.split, split)
    out: dict = {"split": split, "n": int(m.sum())}
    cj = _ground_truth(ds.extra_attrs)
    if cj is None:
        out["mass_share"] = None
        out["mass_share_skipped"] = _SKIPPED
    else:
        out["mass_share"] = mass_share(class_map[m], ds.label[m], ds.classes, cj, joint_names)
    sub = deletion_rows(np.flatnonzero(m), max_sequences, seed)
    out["deletion"] = deletion_curve(model, ds.x[sub], ds.length[sub], ds.label[sub], class_map[sub],
                                     random_orders=random_orders, seed=seed)
    out["deletion"]["n"] = len(sub)
    return out


def score_files(model: nn.Module, data, saliency, joint_names: Sequence[str],
                cfg: SaliencyConfig = SaliencyConfig(), chunk: int = 1024,
                info: DatasetInfo | None = None) -> dict:
    """The faithfulness rule through bounded memory: :func:`evaluate_faithfulness` read from data.h5
    and saliency.h5 in chunks of ``chunk`` sequences.

    The mass share reads the class maps chunk by chunk and keeps their sums over time (J floats per
    sequence); the deletion curve holds only its :func:`deletion_rows` subset (``max_sequences``).
    The result does not depend on ``chunk``.  Equal to :func:`combine_shards` of
    :func:`score_shard` over all rows (what the sharded rules compute)."""
    info = info or read_dataset_info(data)
    part = score_shard(model, data, saliency, cfg, slice(0, info.shape[0]), chunk, info)
    return combine_shards([part], info, joint_names, cfg)


def score_shard(model: nn.Module, data, saliency, cfg: SaliencyConfig = SaliencyConfig(),
                rows: slice | None = None, chunk: int = 1024, info: DatasetInfo | None = None) -> dict:
    """The faithfulness sums of the sequences ``rows`` (a contiguous slice; one shard of config
    ``shards``): {'rows' (the scored sequences among them, global indices), 'per_joint' (their
    class maps summed over time, (m, J), or None without ground truth), 'deletion_rows' (those of
    the global :func:`deletion_rows` subset), 'deletion_sums' (:func:`deletion_sums` with this
    shard's rows of the global random orders)}.  :func:`combine_shards` adds shards up."""
    split, random_orders, seed = cfg.faithfulness_split, cfg.deletion_random_orders, cfg.seed
    info = info or read_dataset_info(data)
    N, T, J, _ = info.shape
    rows = slice(0, N) if rows is None else rows
    everything = np.flatnonzero(split_mask(info.split, split))
    sub_all = deletion_rows(everything, cfg.deletion_max_sequences, seed)
    inside = (sub_all >= rows.start) & (sub_all < rows.stop)
    sub = sub_all[inside]
    mine = everything[(everything >= rows.start) & (everything < rows.stop)]
    with open_h5(saliency, rule="saliency", what="saliency file") as f:
        if "class_map" not in f or f["class_map"].shape != (N, T, J):
            got = f["class_map"].shape if "class_map" in f else "no class_map"
            raise DataFormatError(saliency, f"class_map has shape {got} but {data} has (N, T, J) = {(N, T, J)}",
                                  fix=rerun_fix("saliency"))
        cmap = f["class_map"]
        per_joint = None
        if _ground_truth(info.extra_attrs) is not None:
            per_joint = np.concatenate([cmap[mine[s:s + chunk]].sum(1) for s in range(0, len(mine), chunk)]
                                       or [np.zeros((0, J), np.float32)])
        cm = np.concatenate([cmap[sub[s:s + chunk]] for s in range(0, len(sub), chunk)]
                            or [np.zeros((0, T, J), np.float32)])
    parts = [d.x for _, d in iter_dataset(data, chunk, rows=sub, info=info)]
    x = np.concatenate(parts) if parts else np.zeros((0,) + tuple(info.shape[1:]), np.float32)
    rand = [o[inside] for o in random_orders_for(len(sub_all), J, random_orders, seed)]
    sums = deletion_sums(model, x, info.length[sub], info.label[sub], cm, rand)
    return {"rows": mine, "per_joint": per_joint, "deletion_rows": sub, "deletion_sums": sums}


def combine_shards(parts: Sequence[dict], info: DatasetInfo, joint_names: Sequence[str],
                   cfg: SaliencyConfig = SaliencyConfig()) -> dict:
    """The faithfulness result from the :func:`score_shard` sums of every shard, in row order."""
    rows = np.concatenate([p["rows"] for p in parts])
    out: dict = {"split": cfg.faithfulness_split, "n": len(rows)}
    cj = _ground_truth(info.extra_attrs)
    if cj is None:
        out["mass_share"] = None
        out["mass_share_skipped"] = _SKIPPED
    else:
        per_joint = np.concatenate([p["per_joint"] for p in parts])
        out["mass_share"] = _mass_share(per_joint, info.label[rows], info.classes, cj, joint_names)
    n = sum(len(p["deletion_rows"]) for p in parts)
    out["deletion"] = _deletion_result(sum(p["deletion_sums"] for p in parts), n, cfg.deletion_random_orders)
    out["deletion"]["n"] = n
    return out


def write_shard(part: dict, path) -> None:
    """One faithfulness shard's sums (:func:`score_shard`) as HDF5; :func:`read_shard` reads it."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f["rows"] = part["rows"]
        f["deletion_rows"] = part["deletion_rows"]
        f["deletion_sums"] = part["deletion_sums"]
        if part["per_joint"] is not None:
            f["per_joint"] = part["per_joint"]


def read_shard(path) -> dict:
    """A file of :func:`write_shard`."""
    rule = "faithfulness"
    with open_h5(path, rule=rule, what="faithfulness shard") as f:
        require(f, ("rows", "deletion_rows", "deletion_sums"), path, rule)
        return {"rows": f["rows"][...], "deletion_rows": f["deletion_rows"][...],
                "deletion_sums": f["deletion_sums"][...],
                "per_joint": f["per_joint"][...] if "per_joint" in f else None}


def write_faithfulness(result: dict, path, **attrs) -> None:
    """JSON with the result and the input paths (``model``, ``data``, ``saliency``)."""
    doc = dict(attrs)
    doc.update(result)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))


def read_faithfulness(path) -> dict:
    """A faithfulness JSON written by :func:`write_faithfulness` (``split``, ``n``, ``mass_share``
    (or None with ``mass_share_skipped``), ``deletion`` curves and AUCs, and the input paths)."""
    doc = read_json(path, rule="faithfulness", what="faithfulness file")
    if not isinstance(doc, dict) or "deletion" not in doc or "mass_share" not in doc:
        raise DataFormatError(path, "not a faithfulness file (no 'deletion' and 'mass_share')",
                              fix=rerun_fix("faithfulness"))
    return doc
