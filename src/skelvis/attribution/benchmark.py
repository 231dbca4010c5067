"""The attribution benchmark: every method of :data:`skelvis.attribution.METHODS` scored by every
metric on one bounded subset of sequences (rule ``attribution_benchmark``).

For the true class of each of the ``sequences`` chosen sequences (:func:`select_sequences`), the
table has one row per method and metric with the mean over sequences, its percentile-bootstrap 95%
interval (:func:`.bootstrap.mean_interval`), the number of sequences it is over, which direction
is better and the value a uniform map would score (``chance``) where there is one:

=================================  ======  =====================================================
metric                             better  module
=================================  ======  =====================================================
class_joint_mass                   higher  :mod:`.ground_truth` (synthetic data only)
pointing_game                      higher  :mod:`.ground_truth` (synthetic data only)
shortcut_mass                      higher  :mod:`.ground_truth` (cue carriers of a planted shortcut)
shortcut_mass_control              none    the same for the control model (trained without the cue)
shortcut_mass_ratio                higher  the two over each other: the map separates the models
cue_probability_drop               none    ``cue_removed`` row: probability lost without the cue
cue_probability_drop_control       none    the same for the control model (the ground truth)
deletion_auc                       lower   :mod:`.deletion` (probability; ``random_order`` row: the baseline)
insertion_auc                      higher  :mod:`.deletion`
faithfulness_correlation           higher  :mod:`.faithfulness_correlation`
randomisation_classifier_spearman  lower   :mod:`.randomisation` (classifier re-drawn)
randomisation_recurrent_spearman   lower   :mod:`.randomisation` (and the recurrent layers)
max_sensitivity                    lower   :mod:`.sensitivity`
seed_spearman                      higher  Spearman rho of the maps of two training seeds
seconds_per_sequence               lower   wall time of one map call / sequences (no interval)
=================================  ======  =====================================================

The control-model metrics need the control model (``control``) and, for the ground truth row,
its cue-free training data (``twin``); ``seed_spearman`` needs the same architecture trained
with the next seed (``seed_model``): each is skipped (no rows) without it.  ``seed_spearman`` is
rank_correlation (:mod:`.randomisation`) of the two models' maps of the same sequences, per
sequence over its valid frames and joints: the map's stability across training runs (the random
map, which ignores the model, scores 1; read it with the randomisation test).

Files: ``{arch}_benchmark.csv`` (the table, :func:`write_benchmark` / :func:`read_benchmark`) and
``{arch}_benchmark.h5`` (maps and curves for the notebook, :func:`read_benchmark_maps`).
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import h5py
import numpy as np
import pandas as pd
import torch
from torch import nn

from ..case_study import case_study_classes
from ..datasets.store import Dataset
from ..errors import ConfigError, DataFormatError
from ..faithfulness import split_mask
from ..io import atomic_path, decode_attrs, decode_strings, open_h5, read_table, require, rerun_fix
from ..settings import AttributionConfig
from ..shortcut import occlusion_drop, shortcut_info
from . import METHODS
from .base import Attribution
from .bootstrap import mean_interval, ratio_interval
from .deletion import map_order, perturbation_curves, random_orders
from .faithfulness_correlation import faithfulness_correlation, joint_subsets, subset_drops
from .ground_truth import (
    class_joint_chance,
    class_joint_mass,
    ground_truth_sets,
    pointing_game,
    shortcut_mass,
)
from .randomisation import CASCADE, randomised_model, rank_correlation
from .sensitivity import max_sensitivity

__all__ = [
    "BETTER",
    "BenchmarkResult",
    "build_methods",
    "read_benchmark",
    "read_benchmark_maps",
    "run_benchmark",
    "select_sequences",
    "write_benchmark",
]

#: metric -> which direction is better
BETTER = {"class_joint_mass": "higher", "pointing_game": "higher", "shortcut_mass": "higher",
          "shortcut_mass_control": "none", "shortcut_mass_ratio": "higher",
          "cue_probability_drop": "none", "cue_probability_drop_control": "none",
          "deletion_auc": "lower", "insertion_auc": "higher", "faithfulness_correlation": "higher",
          "randomisation_classifier_spearman": "lower", "randomisation_recurrent_spearman": "lower",
          "max_sensitivity": "lower", "seed_spearman": "higher", "seconds_per_sequence": "lower"}
COLUMNS = ("method", "metric", "value", "ci_low", "ci_high", "n", "better", "chance")
RULE = "attribution_benchmark"


def build_methods(cfg: AttributionConfig, parents: Sequence[int | None], saliency_normalize: bool = True,
                  saliency_std_floor: float = 0.01, groups: Mapping[str, Sequence[int]] | None = None,
                  ) -> dict[str, Attribution]:
    """The configured methods (``cfg.methods``, in that order) with the stage's settings;
    ``groups`` the topology's limb groups (``limb_occlusion``; None: one group per joint)."""
    unknown = [m for m in cfg.methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"config key 'attribution.methods': unknown method {unknown[0]!r}; "
                          f"known: {list(METHODS)}")
    kw = {"local": {"normalize": saliency_normalize, "std_floor": saliency_std_floor},
          "integrated_gradients": {"n_steps": cfg.integrated_gradients_steps},
          "integrated_gradients_zeros": {"n_steps": cfg.integrated_gradients_steps},
          "smoothgrad": {"noise": cfg.smoothgrad_noise, "samples": cfg.smoothgrad_samples},
          "occlusion": {"parents": parents, "window": cfg.occlusion_window},
          "limb_occlusion": {"parents": parents, "groups": groups, "window": cfg.occlusion_window},
          "lrp": {"eps": cfg.lrp_epsilon}, "random": {"seed": cfg.seed}}
    return {m: METHODS[m](**kw.get(m, {})) for m in cfg.methods}


def select_sequences(label: np.ndarray, pool: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """At most ``count`` of the indices ``pool``, as even over the classes as it allows (round robin
    over the classes, each class's sequences in a seeded random order); increasing indices."""
    pool = np.asarray(pool, np.int64)
    rng = np.random.default_rng([seed, 18])
    by_class = [list(rng.permutation(pool[label[pool] == c])) for c in np.unique(label[pool])]
    out: list[int] = []
    while len(out) < min(count, len(pool)):
        for q in by_class:
            if q and len(out) < count:
                out.append(int(q.pop(0)))
    return np.sort(np.asarray(out, np.int64))


@dataclass
class BenchmarkResult:
    """The table and what the notebook draws: ``maps`` (M, n, T, J) of the methods ``methods`` on
    the sequences ``rows`` (indices into data.h5), ``randomised`` (2, M, n, T, J) the same after
    each stage of :data:`.randomisation.CASCADE`, mean ``deletion`` / ``insertion`` curves (M, J+1)
    and the random-order ones (J+1,), ``examples`` {'throw': row, 'kick': row, 'note': ...},
    ``cue_rows`` the cue-carrying training sequences of the shortcut metrics (indices into data.h5)."""

    table: pd.DataFrame
    methods: list[str]
    rows: np.ndarray
    maps: np.ndarray
    randomised: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    deletion_random: np.ndarray
    insertion_random: np.ndarray
    examples: dict = field(default_factory=dict)
    cue_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _rows(ds: Dataset, cfg: AttributionConfig) -> np.ndarray:
    return select_sequences(ds.label, np.flatnonzero(split_mask(ds.split, cfg.split)), cfg.sequences, cfg.seed)


def _shortcut_rows(ds: Dataset, cfg: AttributionConfig):
    info = shortcut_info(ds)
    if info is None or cfg.shortcut_sequences == 0:
        return info, np.zeros(0, np.int64)
    c = ds.classes.index(info["class"])
    pool = np.flatnonzero((ds.label == c) & (ds.split == 0) & info["carries"])
    return info, select_sequences(ds.label, pool, cfg.shortcut_sequences, cfg.seed)


def _timed(method: Attribution, model, x, length, target, seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        m = method(model, torch.from_numpy(x), torch.from_numpy(length), torch.from_numpy(target))
        return m, time.perf_counter() - t0


def run_benchmark(model: nn.Module, ds: Dataset, joint_names: Sequence[str], parents: Sequence[int | None],
                  cfg: AttributionConfig = AttributionConfig(), saliency_normalize: bool = True,
                  saliency_std_floor: float = 0.01, log=None, control: nn.Module | None = None,
                  twin: Dataset | None = None, seed_model: nn.Module | None = None,
                  groups: Mapping[str, Sequence[int]] | None = None) -> BenchmarkResult:
    """Every configured method scored by every metric (module docstring) on :func:`select_sequences`
    of ``cfg.split`` for the true class; ground-truth metrics where ``ds`` has ``class_joints``
    (and a planted shortcut), skipped with NaN-free absence otherwise.  ``control`` the model
    trained on ``twin`` (``ds`` without the cue), ``seed_model`` the same architecture trained with
    another seed, ``groups`` the topology's limb groups: each optional (module docstring)."""
    say = log.info if log is not None else (lambda *a: None)
    rows = _rows(ds, cfg)
    if len(rows) < 2:
        raise ConfigError(f"attribution.split = {cfg.split!r} holds {len(rows)} sequence(s) of "
                          f"{ds.name!r}: the benchmark needs at least 2")
    x, length, label = ds.x[rows], ds.length[rows].astype(np.int64), ds.label[rows].astype(np.int64)
    N, T, J, _ = x.shape
    scale = ds.scale[rows] if ds.scale is not None else np.ones(N)
    scale = np.where(scale > 0, scale, 1.0)
    noise = cfg.sensor_noise / scale
    methods = build_methods(cfg, parents, saliency_normalize, saliency_std_floor, groups)
    cj = ds.extra_attrs.get("class_joints")
    cj = json.loads(cj) if isinstance(cj, (str, bytes)) else cj
    truth = ground_truth_sets(label, ds.classes, cj, joint_names) if cj else None
    info, cue_rows = _shortcut_rows(ds, cfg)
    if len(cue_rows):
        xc, Lc = ds.x[cue_rows], ds.length[cue_rows].astype(np.int64)
        yc = ds.label[cue_rows].astype(np.int64)
        cue_j = [list(joint_names).index(j) for j in info["joints"]]
        span = np.clip(np.minimum(info["frames"][1], Lc) - info["frames"][0], 0, None)
        cue_chance = len(cue_j) * span / (J * Lc)
    orders_random = random_orders(N, J, cfg.random_orders, cfg.seed)
    sets = joint_subsets(N, J, cfg.faithfulness_subsets, cfg.faithfulness_subset_size, cfg.seed)
    drops = subset_drops(model, x, length, label, sets, parents)
    stages = [randomised_model(model, s, cfg.seed) for s in CASCADE]

    records: list[dict] = []

    def add(method, metric, values, chance=None):
        mean, lo, hi, n = mean_interval(values, cfg.bootstrap_resamples, cfg.seed)
        c = np.asarray([] if chance is None else chance, np.float64).ravel()
        c = c[np.isfinite(c)]
        records.append({"method": method, "metric": metric, "value": mean, "ci_low": lo, "ci_high": hi, "n": n,
                        "better": BETTER[metric], "chance": float(c.mean()) if len(c) else np.nan})

    def add_ratio(method, metric, a, b):
        r, lo, hi, n = ratio_interval(a, b, cfg.bootstrap_resamples, cfg.seed)
        records.append({"method": method, "metric": metric, "value": r, "ci_low": lo, "ci_high": hi, "n": n,
                        "better": BETTER[metric], "chance": 1.0})

    del_rand = np.stack([perturbation_curves(model, x, length, label, o, parents) for o in orders_random])
    ins_rand = np.stack([perturbation_curves(model, x, length, label, o, parents, insertion=True)
                         for o in orders_random])
    if len(cue_rows) and control is not None and twin is not None:
        sub, sub_twin = ds.subset(_mask(len(ds.x), cue_rows)), twin.subset(_mask(len(twin.x), cue_rows))
        add("cue_removed", "cue_probability_drop", occlusion_drop(model, sub, sub_twin))
        add("cue_removed", "cue_probability_drop_control", occlusion_drop(control, sub, sub_twin))
    add("random_order", "deletion_auc", del_rand.mean(2).mean(0))
    add("random_order", "insertion_auc", ins_rand.mean(2).mean(0))

    M = len(methods)
    maps = np.zeros((M, N, T, J), np.float32)
    randomised = np.zeros((len(CASCADE), M, N, T, J), np.float32)
    deletion, insertion = np.zeros((M, J + 1)), np.zeros((M, J + 1))
    for k, (name, method) in enumerate(methods.items()):
        t0 = time.perf_counter()
        m, seconds = _timed(method, model, x, length, label, cfg.seed)
        maps[k] = m
        if truth is not None:
            add(name, "class_joint_mass", class_joint_mass(m, truth), class_joint_chance(truth))
            add(name, "pointing_game", pointing_game(m, truth), class_joint_chance(truth))
        if len(cue_rows):
            mc, _ = _timed(method, model, xc, Lc, yc, cfg.seed)
            cue = shortcut_mass(mc, Lc, cue_j, info["frames"])
            add(name, "shortcut_mass", cue, cue_chance)
            if control is not None:
                mcc, _ = _timed(method, control, xc, Lc, yc, cfg.seed)
                cue_control = shortcut_mass(mcc, Lc, cue_j, info["frames"])
                add(name, "shortcut_mass_control", cue_control, cue_chance)
                add_ratio(name, "shortcut_mass_ratio", cue, cue_control)
        order = map_order(m, cfg.seed)
        d = perturbation_curves(model, x, length, label, order, parents)
        i = perturbation_curves(model, x, length, label, order, parents, insertion=True)
        deletion[k], insertion[k] = d.mean(0), i.mean(0)
        add(name, "deletion_auc", d.mean(1))
        add(name, "insertion_auc", i.mean(1))
        add(name, "faithfulness_correlation", faithfulness_correlation(m, sets, drops))
        for s, (stage, rm) in enumerate(zip(CASCADE, stages)):
            randomised[s, k], _ = _timed(method, rm, x, length, label, cfg.seed)
            add(name, f"randomisation_{stage}_spearman", rank_correlation(m, randomised[s, k], length))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            add(name, "max_sensitivity", max_sensitivity(method, model, x, length, label, m, noise,
                                                         cfg.sensitivity_samples, cfg.seed))
        if seed_model is not None:
            m2, _ = _timed(method, seed_model, x, length, label, cfg.seed)
            add(name, "seed_spearman", rank_correlation(m, m2, length))
        add(name, "seconds_per_sequence", [seconds / N])
        say("%-28s %6.1f s (maps %.3f s per sequence)", name, time.perf_counter() - t0, seconds / N)
    table = pd.DataFrame(records, columns=list(COLUMNS))
    examples = _examples(ds, rows)
    return BenchmarkResult(table, list(methods), rows, maps, randomised, deletion, insertion,
                           del_rand.mean((0, 1)), ins_rand.mean((0, 1)), examples, cue_rows)


def _mask(n: int, rows: np.ndarray) -> np.ndarray:
    m = np.zeros(n, bool)
    m[rows] = True
    return m


def _examples(ds: Dataset, rows: np.ndarray) -> dict:
    """One scored sequence of *throw* and one of *kick* (Fig. 4 of Patil et al.; another class by
    :func:`skelvis.case_study.case_study_classes` where they are missing), as positions in ``rows``."""
    present = sorted(set(ds.label[rows].tolist()))
    names = [ds.classes[c] for c in present]
    picked, note = case_study_classes(names, ("throw", "kick"))
    out = {"note": note}
    for slot, k in zip(("throw", "kick"), picked):
        c = present[k]
        out[slot] = int(np.flatnonzero(ds.label[rows] == c)[0])
    return out


def write_benchmark(path_csv, path_h5, result: BenchmarkResult, **attrs) -> None:
    """The table as CSV and the maps and curves as HDF5, both atomically; ``attrs`` (input paths,
    the settings) go into the HDF5 file's attrs (as JSON where not a string)."""
    with atomic_path(path_h5) as tmp, h5py.File(tmp, "w") as f:
        kw = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
        f["methods"] = np.array(result.methods, dtype=h5py.string_dtype())
        f["rows"] = result.rows
        f["cue_rows"] = result.cue_rows
        f.create_dataset("maps", data=result.maps, **kw)
        f.create_dataset("randomised", data=result.randomised, **kw)
        f["cascade"] = np.array(CASCADE, dtype=h5py.string_dtype())
        for k in ("deletion", "insertion", "deletion_random", "insertion_random"):
            f[k] = getattr(result, k)
        f.attrs["examples"] = json.dumps(result.examples)
        for k, v in attrs.items():
            f.attrs[k] = v if isinstance(v, str) else json.dumps(v)
    with atomic_path(path_csv) as tmp:
        result.table.to_csv(tmp, index=False, float_format="%.6g")


def read_benchmark(path) -> pd.DataFrame:
    """The benchmark table (columns ``method, metric, value, ci_low, ci_high, n, better, chance``)."""
    t = read_table(path, RULE, "benchmark table")
    missing = [c for c in COLUMNS if c not in t.columns]
    if missing:
        raise DataFormatError(path, f"missing column(s) {missing}", fix=rerun_fix(RULE))
    return t


def read_benchmark_maps(path) -> dict:
    """The benchmark's HDF5 as numpy arrays (``methods`` and ``cascade`` as lists of str,
    ``examples`` as a dict) plus its attrs under 'attrs'."""
    with open_h5(path, rule=RULE, what="attribution benchmark file") as f:
        keys = ("methods", "rows", "maps", "randomised", "cascade", "deletion", "insertion",
                "deletion_random", "insertion_random")
        require(f, keys, path, RULE)
        out = {k: f[k][...] for k in keys if k not in ("methods", "cascade")}
        out["methods"] = list(decode_strings(f["methods"]))
        out["cascade"] = list(decode_strings(f["cascade"]))
        out["cue_rows"] = f["cue_rows"][...] if "cue_rows" in f else np.zeros(0, np.int64)
        attrs = decode_attrs(f.attrs)
    out["examples"] = json.loads(attrs.pop("examples", "{}"))
    out["attrs"] = attrs
    if out["maps"].shape[0] != len(out["methods"]):
        raise DataFormatError(path, f"maps has {out['maps'].shape[0]} methods, 'methods' names "
                              f"{len(out['methods'])}", fix=rerun_fix(RULE))
    return out
