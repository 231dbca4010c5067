"""UCI Australian Sign Language signs, high quality (Kadous 2002): ``tctoddN/<sign>-<k>.tsd``.

One native signer recorded over nine days (``tctodd1`` ... ``tctodd9``), 95 signs, 3 repetitions
per sign and day. A ``.tsd`` file is tab-separated text, one frame per line, 22 channels: 11 per
hand (x, y, z, roll, pitch, yaw, thumb, fore, middle, ring, little bend), left hand first
(``topology.AUSLAN_GLOVE``). Treated as channel data (J = 22, C = 1; no skeleton constraints;
normalise with ``zscore``).

The blog's setting: signs with broken data are dropped (here: every sign that has a file that
cannot be parsed or contains non-finite values), sequences longer than 90 frames are dropped.
The blog pads at the start; the data contract pads after ``length`` and the classifier reads
h at the last valid frame, so the padding side does not change what the model sees.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError
from ..normalize import pad_sequences
from .msr_action3d import parse_numeric_lines
from .registry import register_reader
from .sources import DigestOfFiles, raw_files
from .store import Dataset

__all__ = ["parse_name", "read_tsd"]

log = logging.getLogger("skelvis.auslan")

CHANNELS = 22
_NAME = re.compile(r"^(.+)-(\d+)\.tsd$")
_DAY = re.compile(r"tctodd(\d+)")


def read_tsd(path, data: bytes | None = None) -> np.ndarray:
    """One ``.tsd`` file -> float32 (frames, 22, 1)."""
    if data is None:
        data = Path(path).read_bytes()
    fix = "the file is damaged or not a UCI Auslan .tsd file (22 tab-separated numbers per line)"
    arr = parse_numeric_lines(path, data, CHANNELS, fix=fix)
    if len(arr) == 0:
        raise DataFormatError(path, "no frames", line=1, fix=fix)
    with np.errstate(over="ignore", invalid="ignore"):
        return arr.astype(np.float32)[:, :, None]


def parse_name(path) -> tuple:
    """``.../tctodd3/alive-2.tsd`` -> (sign 'alive', day 3, repetition 2)."""
    p = Path(path)
    m = _NAME.match(p.name)
    d = _DAY.search(str(p.parent))
    if not m or not d:
        raise ValueError(f"{p}: not tctoddN/<sign>-<k>.tsd")
    return m.group(1), int(d.group(1)), int(m.group(2))


@register_reader("auslan")
def _read_auslan(name: str, cfg: dict[str, Any], raw: str | None, seed: int) -> Dataset:
    opts = dict(cfg.get("auslan") or {})
    max_length = int(opts.get("max_length", 90))
    drop = set(opts.get("drop_signs") or [])
    val_days = set(opts.get("validation_days") or [7])
    test_days = set(opts.get("test_days") or [8, 9])
    files = raw_files(name, raw, "auslan", ".tsd", fix="point data.<name> at tctodd.tar.gz or its extracted folder",
                      source_fix="set data.<name>.source")
    digest = DigestOfFiles()
    rows, broken, too_long = [], {}, 0
    for p in files:
        try:
            sign, day, rep = parse_name(p)
        except ValueError:
            log.warning("skipped %s: not tctoddN/<sign>-<k>.tsd", p)
            continue
        if sign in drop:
            continue
        data = p.read_bytes()
        digest.update(f"{day}/{p.name}", data)
        try:
            seq = read_tsd(p, data)
        except DataFormatError as e:
            broken.setdefault(sign, str(e))
            continue
        if not np.isfinite(seq).all() or not np.abs(seq).max() > 0:
            broken.setdefault(sign, f"{p}: non-finite or all-zero values")
            continue
        if len(seq) > max_length:
            too_long += 1
            continue
        rows.append((sign, day, rep, seq, f"tctodd{day}/{p.stem}"))
    for sign, why in sorted(broken.items()):
        log.warning("dropped sign %r: broken data (%s)", sign, why)
    rows = [r for r in rows if r[0] not in broken]
    log.info("auslan: %d files, %d signs dropped as broken, %d sequences longer than %d frames dropped, %d kept",
             len(files), len(broken), too_long, max_length, len(rows))
    if not rows:
        raise DataFormatError(raw, "no usable Auslan sequences", fix="check the folder and auslan.max_length")
    signs = sorted({r[0] for r in rows})
    lut = {s: k for k, s in enumerate(signs)}
    x, length = pad_sequences([r[3] for r in rows], int(cfg["max_frames"]))
    day = np.array([r[1] for r in rows], np.int32)
    split = np.where(np.isin(day, list(test_days)), 2, np.where(np.isin(day, list(val_days)), 1, 0)).astype(np.int8)
    ds = Dataset(x=x, length=length, label=np.array([lut[r[0]] for r in rows], np.int32), subject=day,
                 split=split, sample_id=np.array([r[4] for r in rows]), classes=signs, topology="auslan_glove",
                 name=name, fps=100.0, source_sha256=digest.hexdigest())
    ds.extra_attrs["dropped_signs"] = sorted(broken)
    return ds
