"""Screening of prepared sequences: what is dropped, what is kept with a caveat, in words.

:func:`screen_sequences` runs on every dataset after its reader (``prepare``) and in
``skelvis-check``; :func:`screening_summary` turns its records (``data.h5`` attrs ``excluded``,
``caveats``, ``notes``) into the few lines the console shows. docs/own-data.md lists the reasons.
"""
from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np

from ..normalize import BLOCK
from ..rnn import valid_frames
from .store import Dataset

__all__ = ["CAVEATS", "DROP_REASONS", "exclude_invalid", "screen_sequences", "screening_summary"]

log = logging.getLogger("skelvis.prepare")


#: Why a sequence is dropped, and what a kept sequence's caveat means (the data.h5 attrs
#: ``excluded`` / ``caveats`` carry these words; docs/own-data.md lists them).
DROP_REASONS = {
    "non_finite": "non-finite values",     # NaN or inf in a valid frame
    "all_zero": "all-zero joints",         # every joint zero in every frame: nothing tracked
}
CAVEATS = {
    "one_frame": "one frame only (no motion; kept)",
    "repeated_frames": "frames that repeat the previous frame exactly (frozen tracking or upsampling; kept)",
    "zero_frames": "frames with every joint zero (untracked; kept, normalised from the first tracked frame)",
}


def screen_sequences(ds: Dataset) -> Dataset:
    """Drop sequences that cannot be used and record what is kept with a caveat.

    Over the valid frames (``t < length``) of ``ds.x`` (N, T, J, C): a sequence with any non-finite
    value, or with every joint zero in every frame, is dropped (``extra_attrs['excluded']``: a list
    of ``{sample_id, reason}``); a kept sequence of one frame, with frames equal to their
    predecessor, or with all-zero frames is listed in ``extra_attrs['caveats']``
    (``{sample_id, caveat, kind, frames}``, ``frames`` = how many frames the caveat concerns).
    """
    n, T = ds.x.shape[:2]
    finite = np.zeros(n, bool)
    any_tracked = np.zeros(n, bool)
    repeated = np.zeros(n, np.int64)
    zero_frames = np.zeros(n, np.int64)
    for i in range(0, n, BLOCK):        # in blocks of sequences: no (N, T, J, C) temporary
        sl = slice(i, min(i + BLOCK, n))
        flat = np.asarray(ds.x[sl]).reshape(sl.stop - i, T, -1)
        valid = valid_frames(np.asarray(ds.length)[sl], T)                            # (B, T)
        ok = np.isfinite(flat)
        finite[sl] = (ok.all(-1) | ~valid).all(1)
        tracked = ((flat != 0) & ok).any(-1) & valid                                   # (B, T)
        any_tracked[sl] = tracked.any(1)
        repeated[sl] = ((flat[:, 1:] == flat[:, :-1]).all(-1) & valid[:, 1:] & tracked[:, 1:]).sum(1)
        zero_frames[sl] = (valid & ~tracked).sum(1)
    keep = finite & any_tracked
    excluded, caveats = [], []
    for i in range(n):
        sid = str(ds.sample_id[i])
        if not keep[i]:
            kind = "non_finite" if not finite[i] else "all_zero"
            excluded.append({"sample_id": sid, "reason": DROP_REASONS[kind]})
            continue
        for kind, k in (("one_frame", int(ds.length[i] == 1)), ("repeated_frames", int(repeated[i])),
                        ("zero_frames", int(zero_frames[i]))):
            if k:
                caveats.append({"sample_id": sid, "caveat": CAVEATS[kind], "kind": kind, "frames": k})
    for e in excluded:
        log.warning("excluded %s: %s", e["sample_id"], e["reason"])
    # nothing dropped (the usual case): the same arrays, not a copy of x
    out = ds.subset(keep) if not keep.all() else dataclasses.replace(ds, extra_attrs=dict(ds.extra_attrs))
    out.extra_attrs["excluded"] = _as_list(ds.extra_attrs.get("excluded")) + excluded
    out.extra_attrs["caveats"] = _as_list(ds.extra_attrs.get("caveats")) + caveats
    out.extra_attrs["notes"] = _as_list(ds.extra_attrs.get("notes"))
    return out


#: The former name (kept for callers written before caveats were recorded).
exclude_invalid = screen_sequences


def _as_list(v) -> list:
    """An attrs value that is a list, or its JSON text as stored in data.h5."""
    if v is None:
        return []
    return list(json.loads(v) if isinstance(v, str) else v)


def _listed(ids, limit: int = 6) -> str:
    ids = list(ids)
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def screening_summary(ds: Dataset) -> str:
    """What preparation kept, dropped and accepted with a caveat, in a few lines for the console
    (from ``extra_attrs`` ``excluded``, ``caveats`` and ``notes``, as stored in data.h5)."""
    ex, cav, notes = (_as_list(ds.extra_attrs.get(k)) for k in ("excluded", "caveats", "notes"))
    counts = np.bincount(ds.split, minlength=3)
    lo, hi = (int(ds.length.min()), int(ds.length.max())) if len(ds.x) else (0, 0)
    lines = [(f"{ds.name}: {len(ds.x)} sequences kept (train {counts[0]}, validation {counts[1]}, "
             f"test {counts[2]}), {len(ds.classes)} classes, {lo}-{hi} frames each (padded to {ds.x.shape[1]})")]
    if ex:
        lines.append(f"  dropped {len(ex)}:")
        for reason in dict.fromkeys(e["reason"] for e in ex):
            lines.append(f"    {reason}: {_listed(e['sample_id'] for e in ex if e['reason'] == reason)}")
    if cav:
        lines.append(f"  kept with a caveat ({len({c['sample_id'] for c in cav})} sequences; frames concerned in brackets):")
        for what in dict.fromkeys(c["caveat"] for c in cav):
            hits = [c for c in cav if c["caveat"] == what]
            shown = [c["sample_id"] if c["kind"] == "one_frame" else f"{c['sample_id']} ({c['frames']})" for c in hits]
            lines.append(f"    {what}: {_listed(shown)}")
    for note in notes:
        lines.append(f"  note: {note}")
    if len(ds.x) and counts[1] == 0:
        lines.append("  note: no validation split: training keeps the last epoch's model "
                     "(set train.validation_fraction to select on a held-out share of train instead)")
    if not ex and not cav:
        lines.append("  nothing dropped, no caveats")
    return "\n".join(lines)
