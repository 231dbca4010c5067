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

import dataclasses
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import h5py
import numpy as np

from ..errors import ConfigError
from ..io import atomic_path
from ..normalize import normalize
from ..settings import DatasetConfig
from ..topology import get_topology
from . import auslan, generic, msr_action3d, ntu, sysu
from .registry import READERS, register_reader
from .screening import CAVEATS, DROP_REASONS, _as_list, exclude_invalid, screen_sequences, screening_summary
from .store import Dataset, create_poses, read_dataset, write_contract_fields
from .synthetic import SyntheticConfig, generate, generate_blocks, sequence_total

__all__ = [
    "CAVEATS",
    "DROP_REASONS",
    "READERS",
    "exclude_invalid",
    "prepare_dataset",
    "prepare_to_file",
    "register_reader",
    "screen_sequences",
    "screening_summary",
    "user_folder",
]

log = logging.getLogger("skelvis.prepare")

#: the reader modules of real data; importing them registers their readers in READERS
READER_MODULES = (auslan, generic, msr_action3d, ntu, sysu)


def _synthetic_config(cfg: dict[str, Any], seed: int) -> SyntheticConfig:
    scfg = dict(cfg.get("synthetic", {}))
    if "split" in scfg:
        scfg["split"] = tuple(scfg["split"])
    if "classes" in scfg:
        scfg["classes"] = tuple(scfg["classes"])
    return SyntheticConfig(**scfg, max_frames=int(cfg["max_frames"]), seed=seed)


@register_reader("synthetic")
def _read_synthetic(name: str, cfg: dict[str, Any], raw: str | None, seed: int) -> Dataset:
    ds = generate(_synthetic_config(cfg, seed))
    ds.name = name
    return ds


def _synthetic_blocks(name: str, cfg: dict[str, Any], raw: str | None, seed: int
                      ) -> tuple[tuple[int, int, int, int], Callable[[int], Iterator[Dataset]]]:
    scfg = _synthetic_config(cfg, seed)

    def blocks(block: int) -> Iterator[Dataset]:
        for b in generate_blocks(scfg, block):
            b.name = name
            yield b
    return (sequence_total(scfg), scfg.max_frames, 25, 3), blocks


#: readers that make their sequences a block at a time: ``(name, cfg, raw, seed) -> ((N, T, J, C),
#: block size -> blocks)``; the last block carries the dataset's attrs complete (a digest of the
#: source files is known only once they are all read).  The others are read whole, then cut.
BLOCK_READERS = {"synthetic": _synthetic_blocks, "ntu": ntu.ntu_blocks}

#: sequences per block of the streamed ``prepare`` (:func:`prepare_to_file`); rounded to whole HDF5
#: chunks of ``x`` (at 100 frames about 30 MB of poses, plus the transform's float64 temporaries)
PREPARE_BLOCK = 1024


def user_folder(raw: str | None, cfg: dict[str, Any]) -> str | None:
    """The folder a reader reads: the user's own ``data.<name>.path`` when the source is a local
    folder (the ``source`` rule only links it into resources/, so messages then name the
    user's files, not resources/<dataset>/raw/<link>/...), else the staged ``raw`` folder."""
    path = cfg.get("path")
    if raw is not None and cfg.get("source") == "local" and path and os.path.isdir(path):
        return str(path)
    return raw


def _checked(name: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` with the schema's defaults filled in (an unknown key raises ConfigError naming it)."""
    private = {k: v for k, v in cfg.items() if k.startswith("_")}  # from the workflow, e.g. _downloads
    try:
        cfg = {**asdict(DatasetConfig.from_section({k: v for k, v in cfg.items() if k not in private})), **private}
    except ConfigError as e:
        raise ConfigError(str(e).replace("data.<dataset>.", f"data.{name}.")) from None
    if cfg["reader"] not in READERS:
        raise KeyError(f"data.{name}.reader: unknown reader {cfg['reader']!r}; known: {sorted(READERS)}")
    return cfg


def prepare_dataset(name: str, cfg: dict[str, Any], raw: str | None = None, seed: int = 0) -> Dataset:
    """Read with ``cfg['reader']``, exclude invalid sequences, normalise (``cfg['normalization']``).

    ``cfg`` is the ``data.<name>`` section; missing keys take the schema's defaults
    (:class:`~skelvis.settings.DatasetConfig`) and an unknown key raises ConfigError naming it;
    keys starting with ``_`` come from the workflow (``_downloads``: the paths of extra downloads)
    and pass through to the reader.  The whole dataset in memory; :func:`prepare_to_file` (the
    ``prepare`` rule) writes the same arrays a block at a time.
    """
    cfg = _checked(name, cfg)
    ds = READERS[cfg["reader"]](name, cfg, user_folder(raw, cfg), seed)
    ds = screen_sequences(ds)
    topo = get_topology(ds.topology)
    method = cfg["normalization"]
    # in place: x is held once (N x T x J x C float32, 1.3 GB at NTU-60 size; the prepare rule
    # writes blocks instead: prepare_to_file)
    ds.x = np.ascontiguousarray(ds.x, np.float32)
    x, scale, info = normalize(ds.x, ds.length, topo, method, train_mask=ds.split == 0, out=ds.x)
    ds.x, ds.scale, ds.normalization = x, scale, info
    log.info("%s: %d sequences, T=%d, J=%d, C=%d, %d classes, splits %s", name, len(ds.x),
             ds.x.shape[1], ds.x.shape[2], ds.x.shape[3], len(ds.classes),
             np.bincount(ds.split, minlength=3).tolist())
    return ds


def _whole_in_blocks(ds: Dataset, block: int) -> Iterator[Dataset]:
    """A dataset read whole, as blocks of views (at least one block, so that an empty dataset
    still gives its attrs)."""
    n = len(ds.x)
    for i in range(0, max(n, 1), block):
        sl = slice(i, min(i + block, n))
        yield Dataset(x=ds.x[sl], length=ds.length[sl], label=ds.label[sl], subject=ds.subject[sl],
                      split=ds.split[sl], sample_id=ds.sample_id[sl], classes=list(ds.classes),
                      topology=ds.topology, name=ds.name, fps=ds.fps, normalization=dict(ds.normalization),
                      source_sha256=ds.source_sha256, scale=ds.scale[sl], extra_attrs=ds.extra_attrs,
                      extra_arrays={k: v[sl] for k, v in ds.extra_arrays.items()})


_SCREENING = ("excluded", "caveats", "notes")


def prepare_to_file(name: str, cfg: dict[str, Any], path, raw: str | None = None, seed: int = 0,
                    block: int | None = None) -> Dataset:
    """:func:`prepare_dataset` written to the contract file ``path`` a block of sequences at a time.

    The reader yields blocks (the synthetic generator makes them one by one, the ``ntu`` reader reads
    one block of files at a time; other readers are read whole, then cut); each block is screened, normalised in place and written into a pre-sized
    chunked ``x`` (shrunk at the end by the sequences screening dropped).  ``ntu``, ``center`` and
    ``none`` transform each sequence on its own; ``zscore`` needs the moments of the training split,
    so its blocks are written raw and then transformed on disk in a second pass.  Memory: one block
    of poses plus a few bytes per sequence; the arrays equal :func:`prepare_dataset`'s bit for bit.
    ``block``: sequences per block (default :data:`PREPARE_BLOCK` rounded to whole HDF5 chunks).
    Returns the file's dataset with ``x`` read lazily (for :func:`screening_summary`).
    """
    cfg = _checked(name, cfg)
    reader, method = cfg["reader"], cfg["normalization"]
    if reader in BLOCK_READERS:
        shape, make_blocks = BLOCK_READERS[reader](name, cfg, user_folder(raw, cfg), seed)
    else:
        whole = READERS[reader](name, cfg, user_folder(raw, cfg), seed)
        shape = whole.x.shape

        def make_blocks(step: int, whole=whole) -> Iterator[Dataset]:
            return _whole_in_blocks(whole, step)
        del whole
    n = shape[0]
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        X = create_poses(f, shape)
        step = max(1, int(block or PREPARE_BLOCK))
        if block is None and X.chunks:              # whole chunks per block: each chunk written once
            step = X.chunks[0] * max(1, round(PREPARE_BLOCK / X.chunks[0]))
        head, meta, done, info = None, [], 0, {}
        screened: dict[str, list] = {k: [] for k in _SCREENING}
        last = None
        for b in make_blocks(step):
            last = b.subset(np.zeros(len(b.x), bool))      # attrs only: the last block's are complete
            if head is None:
                head, topo = b.subset(np.zeros(len(b.x), bool)), get_topology(b.topology)   # attrs only
                for k in _SCREENING:
                    screened[k] = _as_list(b.extra_attrs.get(k))
            sb = screen_sequences(dataclasses.replace(
                b, extra_attrs={k: v for k, v in b.extra_attrs.items() if k not in _SCREENING}))
            for k in ("excluded", "caveats"):
                screened[k] += sb.extra_attrs[k]
            # in place (a block of the generator, or of the reader's array that is dropped after)
            x = np.ascontiguousarray(sb.x, np.float32)
            if method != "zscore":
                x, sb.scale, info = normalize(x, sb.length, topo, method, out=x)
            X[done:done + len(x)] = x
            done += len(x)
            meta.append(dataclasses.replace(sb, x=np.zeros((len(x), 0, 0, 0), np.float32)))  # no poses
            del b, sb, x
        if head is None:
            raise ValueError(f"data.{name}: the reader made no sequences")
        if done < n:
            X.resize(done, axis=0)
        keep = {k: np.concatenate([getattr(m, k) for m in meta]) for k in
                ("length", "label", "subject", "split", "scale")}
        keep["sample_id"] = np.asarray([str(s) for m in meta for s in m.sample_id])
        extra_arrays = {k: np.concatenate([m.extra_arrays[k] for m in meta]) for k in head.extra_arrays}
        if method == "zscore":          # the moments of the training split, then x on disk
            _, keep["scale"], info = normalize(X, keep["length"], topo, method, train_mask=keep["split"] == 0,
                                               out=X)
        attrs = {k: v for k, v in last.extra_attrs.items() if k not in _SCREENING}
        attrs.update(screened)
        out = Dataset(x=np.zeros((done, 0, 0, 0), np.float32), **keep, classes=list(head.classes),
                      topology=head.topology, name=head.name, fps=head.fps, normalization=info,
                      source_sha256=last.source_sha256, extra_attrs=attrs, extra_arrays=extra_arrays)
        write_contract_fields(f, out)
        shape = X.shape
    log.info("%s: %d sequences, T=%d, J=%d, C=%d, %d classes, splits %s", name, shape[0], shape[1], shape[2],
             shape[3], len(head.classes), np.bincount(keep["split"], minlength=3).tolist())
    return read_dataset(path, lazy=True)
