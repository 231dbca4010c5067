"""From a dataset's config section to the normalised contract form (``prepare`` rule).

``READERS`` (:mod:`skelvis.datasets.registry`) maps the config key ``data.<name>.reader`` to a
function ``(name, cfg, raw, seed) -> Dataset`` returning raw (un-normalised) coordinates; every
reader module registers itself there and is imported here.  :func:`prepare_dataset` then screens
the sequences (:func:`~skelvis.datasets.screening.screen_sequences`: drops NaN/inf or all-zero
ones, records one-frame, repeated-frame and untracked-frame caveats) and normalises;
:func:`~skelvis.datasets.screening.screening_summary` says what happened in a few lines (printed
on the console by the ``prepare`` rule, stored in data.h5 attrs).
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..normalize import normalize
from ..settings import DatasetConfig
from ..topology import get_topology
from . import auslan, generic, msr_action3d, ntu, sysu
from .registry import READERS, register_reader
from .screening import CAVEATS, DROP_REASONS, exclude_invalid, screen_sequences, screening_summary
from .store import Dataset
from .synthetic import SyntheticConfig, generate

__all__ = [
    "CAVEATS",
    "DROP_REASONS",
    "READERS",
    "exclude_invalid",
    "prepare_dataset",
    "register_reader",
    "screen_sequences",
    "screening_summary",
    "user_folder",
]

log = logging.getLogger("skelvis.prepare")

#: the reader modules of real data; importing them registers their readers in READERS
READER_MODULES = (auslan, generic, msr_action3d, ntu, sysu)


@register_reader("synthetic")
def _read_synthetic(name: str, cfg: dict[str, Any], raw: str | None, seed: int) -> Dataset:
    scfg = dict(cfg.get("synthetic", {}))
    if "split" in scfg:
        scfg["split"] = tuple(scfg["split"])
    if "classes" in scfg:
        scfg["classes"] = tuple(scfg["classes"])
    ds = generate(SyntheticConfig(**scfg, max_frames=int(cfg["max_frames"]), seed=seed))
    ds.name = name
    return ds


def user_folder(raw: str | None, cfg: dict[str, Any]) -> str | None:
    """The folder a reader reads: the user's own ``data.<name>.path`` when the source is a local
    folder (the ``source`` rule only links it into resources/, so messages then name the
    user's files, not resources/<dataset>/raw/<link>/...), else the staged ``raw`` folder."""
    path = cfg.get("path")
    if raw is not None and cfg.get("source") == "local" and path and os.path.isdir(path):
        return str(path)
    return raw


def prepare_dataset(name: str, cfg: dict[str, Any], raw: str | None = None, seed: int = 0) -> Dataset:
    """Read with ``cfg['reader']``, exclude invalid sequences, normalise (``cfg['normalization']``).

    ``cfg`` is the ``data.<name>`` section; missing keys take the schema's defaults
    (:class:`~skelvis.settings.DatasetConfig`) and an unknown key raises ConfigError naming it;
    keys starting with ``_`` come from the workflow (``_downloads``: the paths of extra downloads)
    and pass through to the reader.
    """
    private = {k: v for k, v in cfg.items() if k.startswith("_")}  # from the workflow, e.g. _downloads
    try:
        cfg = {**asdict(DatasetConfig.from_section({k: v for k, v in cfg.items() if k not in private})), **private}
    except ConfigError as e:
        raise ConfigError(str(e).replace("data.<dataset>.", f"data.{name}.")) from None
    reader = cfg["reader"]
    if reader not in READERS:
        raise KeyError(f"data.{name}.reader: unknown reader {reader!r}; known: {sorted(READERS)}")
    ds = READERS[reader](name, cfg, user_folder(raw, cfg), seed)
    ds = screen_sequences(ds)
    topo = get_topology(ds.topology)
    method = cfg["normalization"]
    # in place: the rule holds the dataset's x once (N x T x J x C float32, 1.3 GB at NTU-60 size)
    ds.x = np.ascontiguousarray(ds.x, np.float32)
    x, scale, info = normalize(ds.x, ds.length, topo, method, train_mask=ds.split == 0, out=ds.x)
    ds.x, ds.scale, ds.normalization = x, scale, info
    log.info("%s: %d sequences, T=%d, J=%d, C=%d, %d classes, splits %s", name, len(ds.x),
             ds.x.shape[1], ds.x.shape[2], ds.x.shape[3], len(ds.classes),
             np.bincount(ds.split, minlength=3).tolist())
    return ds
