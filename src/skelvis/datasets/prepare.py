"""From a dataset's config section to the normalised contract form (``prepare`` rule).

``READERS`` (:mod:`skelvis.datasets.registry`) maps the config key ``data.<name>.reader`` to a
function ``(name, cfg, raw, seed) -> Dataset`` returning raw (un-normalised) coordinates; every
reader module registers itself there and is imported here.  :func:`prepare_dataset` then normalises, pads and excludes
invalid sequences (NaN/inf or all-zero joints), recording the exclusions.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any, Dict, Optional

import numpy as np

from ..errors import ConfigError
from ..normalize import normalize
from ..rnn import valid_frames
from ..settings import DatasetConfig
from ..topology import get_topology
from . import auslan, generic, msr_action3d, ntu, sysu
from .registry import READERS, register_reader
from .store import Dataset
from .synthetic import SyntheticConfig, generate

__all__ = ["READERS", "register_reader", "prepare_dataset", "exclude_invalid"]

log = logging.getLogger("skelvis.prepare")

#: the reader modules of real data; importing them registers their readers in READERS
READER_MODULES = (auslan, generic, msr_action3d, ntu, sysu)


@register_reader("synthetic")
def _read_synthetic(name: str, cfg: Dict[str, Any], raw: Optional[str], seed: int) -> Dataset:
    scfg = dict(cfg.get("synthetic", {}))
    if "split" in scfg:
        scfg["split"] = tuple(scfg["split"])
    if "classes" in scfg:
        scfg["classes"] = tuple(scfg["classes"])
    ds = generate(SyntheticConfig(**scfg, max_frames=int(cfg["max_frames"]), seed=seed))
    ds.name = name
    return ds


def exclude_invalid(ds: Dataset) -> Dataset:
    """Drop sequences with non-finite values or all-zero joints in their valid frames; record why."""
    valid = valid_frames(ds.length, ds.x.shape[1])
    finite = np.isfinite(ds.x).reshape(len(ds.x), -1).all(1)
    x = np.where(np.isfinite(ds.x), ds.x, 0.0)
    energy = (np.abs(x).reshape(x.shape[0], x.shape[1], -1).max(-1) * valid).max(1)
    keep = finite & (energy > 0)
    excluded = [{"sample_id": str(s), "reason": "non-finite values" if not f else "all-zero joints"}
                for s, f, k in zip(ds.sample_id, finite, keep) if not k]
    for e in excluded:
        log.warning("excluded %s: %s", e["sample_id"], e["reason"])
    out = ds.subset(keep)
    out.extra_attrs["excluded"] = list(ds.extra_attrs.get("excluded", [])) + excluded
    return out


def prepare_dataset(name: str, cfg: Dict[str, Any], raw: Optional[str] = None, seed: int = 0) -> Dataset:
    """Read with ``cfg['reader']``, exclude invalid sequences, normalise (``cfg['normalization']``).

    ``cfg`` is the ``data.<name>`` section; missing keys take the schema's defaults
    (:class:`~skelvis.settings.DatasetConfig`) and an unknown key raises ConfigError naming it.
    """
    try:
        cfg = asdict(DatasetConfig.from_section(cfg))
    except ConfigError as e:
        raise ConfigError(str(e).replace("data.<dataset>.", f"data.{name}.")) from None
    reader = cfg["reader"]
    if reader not in READERS:
        raise KeyError(f"data.{name}.reader: unknown reader {reader!r}; known: {sorted(READERS)}")
    ds = READERS[reader](name, cfg, raw, seed)
    ds = exclude_invalid(ds)
    topo = get_topology(ds.topology)
    method = cfg["normalization"]
    x, scale, info = normalize(ds.x, ds.length, topo, method, train_mask=ds.split == 0)
    ds.x, ds.scale, ds.normalization = x, scale, info
    log.info("%s: %d sequences, T=%d, J=%d, C=%d, %d classes, splits %s", name, len(ds.x),
             ds.x.shape[1], ds.x.shape[2], ds.x.shape[3], len(ds.classes),
             np.bincount(ds.split, minlength=3).tolist())
    return ds
