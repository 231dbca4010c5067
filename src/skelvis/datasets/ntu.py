"""NTU RGB+D 60/120 ``.skeleton`` files (Shahroudy et al. 2016; Liu et al. 2019).

File layout (both LF and CRLF line ends occur)::

    <frames>
    per frame:  <bodies>
      per body: <bodyID> <clippedEdges> <handLeftConfidence> <handLeftState> <handRightConfidence>
                <handRightState> <isRestricted> <leanX> <leanY> <trackingState>     (10 fields)
                <joints = 25>
                25 x: x y z depthX depthY colorX colorY orientW orientX orientY orientZ trackingState

Public API::

    sk = read_skeleton(path)      # sk.xyz float32 (F, M, 25, 3), sk.body_ids (M,) uint64
    seq, info = main_actor(sk)    # (T, 25, 3): the body with the largest motion, frames where present

:func:`read_skeleton` is the fast reader (structure walked on the header lines, the whole text parsed by
pandas' C parser, x y z only); :func:`read_skeleton_naive` is a straightforward line-by-line
reader that checks every line. The fast one falls back to the naive one whenever anything is
unusual, so both give the same array or the same :class:`DataFormatError` naming file and line.
The ``ntu`` reader for the workflow registers itself in :mod:`skelvis.datasets.registry`.
"""
from __future__ import annotations

import csv
import io
import logging
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import DataFormatError
from ..normalize import pad_sequences
from .registry import register_reader
from .sources import DigestOfFiles, raw_files
from .store import Dataset

__all__ = [
    "NTU60_ACTIONS",
    "TWO_PERSON_ACTIONS",
    "XSUB120_TRAIN_SUBJECTS",
    "XSUB_TRAIN_SUBJECTS",
    "NTUSkeleton",
    "main_actor",
    "parse_name",
    "read_missing_list",
    "read_skeleton",
    "read_skeleton_naive",
    "read_skeletons",
    "split_ntu",
]

log = logging.getLogger("skelvis.ntu")

J = 25
_FIX = "the file is damaged or not an NTU RGB+D .skeleton file; re-extract it from the original archive"

NTU60_ACTIONS = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw",
    "sitting down", "standing up", "clapping", "reading", "writing", "tear up paper", "wear jacket",
    "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses",
    "put on a hat/cap", "take off a hat/cap", "cheer up", "hand waving", "kicking something",
    "reach into pocket", "hopping", "jump up", "make a phone call", "playing with phone/tablet",
    "typing on a keyboard", "pointing to something with finger", "taking a selfie",
    "check time (from watch)", "rub two hands together", "nod head/bow", "shake head", "wipe face",
    "salute", "put the palms together", "cross hands in front", "sneeze/cough", "staggering",
    "falling", "touch head (headache)", "touch chest", "touch back (backache)", "touch neck",
    "nausea or vomiting", "use a fan/feeling warm", "punching/slapping other person",
    "kicking other person", "pushing other person", "pat on back of other person",
    "point finger at the other person", "hugging other person", "giving something to other person",
    "touch other person's pocket", "handshaking", "walking towards each other",
    "walking apart from each other",
)
#: Mutual (two-person) actions: A050-A060 (NTU 60) and A106-A120 (NTU 120).
TWO_PERSON_ACTIONS = tuple(range(50, 61)) + tuple(range(106, 121))
XSUB_TRAIN_SUBJECTS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
XSUB120_TRAIN_SUBJECTS = XSUB_TRAIN_SUBJECTS + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89,
    91, 92, 93, 94, 95, 97, 98, 100, 103)

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


@dataclass
class NTUSkeleton:
    """One ``.skeleton`` file: ``xyz`` float32 (F, M, 25, 3), bodies in order of first
    appearance, zeros where a body is absent; ``body_ids`` uint64 (M,); ``present`` bool (F, M)."""

    xyz: np.ndarray
    body_ids: np.ndarray
    present: np.ndarray
    path: str = ""

    @property
    def num_frames(self) -> int:
        return self.xyz.shape[0]

    @property
    def num_bodies(self) -> int:
        return self.xyz.shape[1]


def parse_name(name: str) -> dict[str, int]:
    """``S001C002P003R001A004`` -> setup, camera, subject, replication, action (ints)."""
    m = _NAME.search(name)
    if not m:
        raise ValueError(f"{name}: not an NTU sample name (SsssCcccPpppRrrrAaaa)")
    s, c, p, r, a = map(int, m.groups())
    return {"setup": s, "camera": c, "subject": p, "replication": r, "action": a}


def _assemble(records: list[tuple[int, int]], coords: np.ndarray, frames: int, path) -> NTUSkeleton:
    """records: (frame, body_id) per (frame, body) block; coords (len(records), 25, 3)."""
    ids: list[int] = []
    col: dict[int, int] = {}
    cols = np.empty(len(records), np.int64)
    for k, (_, bid) in enumerate(records):
        if bid not in col:
            col[bid] = len(ids)
            ids.append(bid)
        cols[k] = col[bid]
    xyz = np.zeros((frames, len(ids), J, 3), np.float32)
    present = np.zeros((frames, len(ids)), bool)
    if records:
        fr = np.fromiter((f for f, _ in records), np.int64, len(records))
        xyz[fr, cols] = coords
        present[fr, cols] = True
    return NTUSkeleton(xyz=xyz, body_ids=np.array(ids, np.uint64), present=present, path=str(path))


def _int(tok: bytes, path, line: int, what: str, lo: int = 0) -> int:
    try:
        v = int(tok)
    except ValueError:
        raise DataFormatError(path, f"expected an integer {what}, got {tok[:40]!r}", line=line, fix=_FIX) from None
    if v < lo:
        raise DataFormatError(path, f"{what} must be >= {lo}, got {v}", line=line, fix=_FIX)
    return v


def _body_id(tok: bytes, path, line: int) -> int:
    v = _int(tok, path, line, "body ID")
    if v >= 2 ** 64:
        raise DataFormatError(path, f"body ID {v} does not fit in 64 bits", line=line, fix=_FIX)
    return v


def read_skeleton_naive(path, data: bytes | None = None) -> NTUSkeleton:
    """Line-by-line reader checking every line: structure, field counts, x y z numeric (the
    reference for the fast reader and the locator of the bad line)."""
    if data is None:
        data = Path(path).read_bytes()
    lines = data.splitlines()
    n = len(lines)
    i = 0

    def need(what):
        if i >= n:
            raise DataFormatError(path, f"file ends early, expected {what}", line=n + 1, fix=_FIX)
        return lines[i]

    frames = _int(need("the frame count").strip(), path, 1, "frame count")
    i = 1
    records: list[tuple[int, int]] = []
    coords: list[list[list[float]]] = []
    for f in range(frames):
        nb = _int(need(f"the body count of frame {f + 1}").strip(), path, i + 1, "body count")
        i += 1
        for _ in range(nb):
            fields = need("a body line").split()
            if len(fields) != 10:
                raise DataFormatError(path, f"body line has {len(fields)} fields, expected 10", line=i + 1, fix=_FIX)
            bid = _body_id(fields[0], path, i + 1)
            i += 1
            nj = _int(need("the joint count").strip(), path, i + 1, "joint count")
            if nj != J:
                raise DataFormatError(path, f"joint count {nj}, expected {J}", line=i + 1, fix=_FIX)
            i += 1
            joints = []
            for _ in range(J):
                fields = need("a joint line").split()
                if len(fields) != 12:
                    raise DataFormatError(path, f"joint line has {len(fields)} fields, expected 12", line=i + 1, fix=_FIX)
                try:  # x y z are used; the other 9 fields (depth/colour/orientation) are not
                    joints.append([float(fields[0]), float(fields[1]), float(fields[2])])
                except ValueError:
                    raise DataFormatError(path, f"non-numeric value in joint line {fields[:3]!r}...", line=i + 1, fix=_FIX) from None
                i += 1
            records.append((f, bid))
            coords.append(joints)
    for k in range(i, n):
        if lines[k].strip():
            raise DataFormatError(path, f"unexpected content after the last frame: {lines[k][:40]!r}", line=k + 1, fix=_FIX)
    arr = np.array(coords, np.float64).reshape(len(records), J, 3) if records else np.zeros((0, J, 3))
    with np.errstate(over="ignore", invalid="ignore"):
        arr = arr.astype(np.float32)
    return _assemble(records, arr, frames, path)


class _Fallback(Exception):
    pass


_ODD_BYTES = (b"\t", b"\x0b", b"\x0c", b"\x00")  # whitespace that split() sees but the parser does not


def _scan(path, data: bytes):
    """Structure pass over one file, vectorised where it touches every line.

    The structure (frame, body and joint counts, body IDs) is walked on the header lines only;
    every joint line is checked to hold exactly 12 fields separated by single spaces (space
    count per line with ``np.add.reduceat``, no space at either end). Returns ``(records,
    frames, joint_rows, n_lines)``: ``joint_rows`` (B, 25) are the 0-based line numbers of each
    body's joints; no two spaces in a row anywhere. Anything unusual raises _Fallback (the naive reader then decides)."""
    if any(b in data for b in _ODD_BYTES):
        raise _Fallback
    buf = np.frombuffer(data, np.uint8)
    nl = np.flatnonzero(buf == 10)
    if len(nl) == 0:
        raise _Fallback
    if b"\r" in data:  # CRLF is fine (both readers treat it as one line end); a lone \r is not
        cr = np.flatnonzero(buf == 13)
        if cr[-1] == len(buf) - 1 or (buf[cr + 1] != 10).any():
            raise _Fallback
    ends = nl if data.endswith(b"\n") else np.append(nl, len(buf))
    starts = np.concatenate([[0], nl[:len(ends) - 1] + 1])
    ends_text = ends - (buf[np.maximum(ends - 1, 0)] == 13)  # without the \r of CRLF
    n = len(ends)
    st, en = starts.tolist(), ends_text.tolist()
    try:
        frames = int(data[st[0]:en[0]])
        if frames < 0:
            raise _Fallback
        i = 1
        records: list[tuple[int, int]] = []
        jstart: list[int] = []
        for f in range(frames):
            nb = int(data[st[i]:en[i]])
            if nb < 0:
                raise _Fallback
            i += 1
            for _ in range(nb):
                head = data[st[i]:en[i]].split()
                if len(head) != 10 or int(data[st[i + 1]:en[i + 1]]) != J:
                    raise _Fallback
                bid = int(head[0])
                if not 0 <= bid < 2 ** 64:
                    raise _Fallback
                records.append((f, bid))
                jstart.append(i + 2)
                i += 2 + J
        if i > n or (i < n and data[st[i]:].strip()):
            raise _Fallback
    except (ValueError, IndexError):
        raise _Fallback from None
    rows = np.asarray(jstart, np.int64)[:, None] + np.arange(J)[None, :]
    if len(jstart):
        r0, r1 = starts[rows.ravel()], ends_text[rows.ravel()]
        sp = buf == 32
        if (sp[1:] & sp[:-1]).any():
            raise _Fallback  # two spaces in a row: an empty field for the parser, none for split()
        spaces = np.add.reduceat(sp.view(np.uint8), starts, dtype=np.int32)[rows.ravel()]
        if not ((spaces == 11).all() and (r1 > r0).all() and (buf[r0] != 32).all() and (buf[r1 - 1] != 32).all()):
            raise _Fallback  # every joint line: 12 fields separated by single spaces
    return records, frames, rows, n


def _parse_lines(texts: list[bytes]) -> np.ndarray:
    """The first three numbers of every line of ``texts`` (each ends with a line end) -> float64
    (lines, 3), NaN where a line has fewer fields, with one call of pandas' C parser for all
    files. _Fallback on any parser complaint."""

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.read_csv(io.BytesIO(b"".join(texts)), sep=" ", header=None, names=range(12), usecols=range(3),
                               dtype=np.float64, engine="c", quoting=csv.QUOTE_NONE, skip_blank_lines=False,
                               index_col=False, keep_default_na=False, na_values=[""]).to_numpy()
    except Exception:  # noqa: BLE001 - any parser complaint: let the naive reader name the line
        raise _Fallback from None


def _joints(vals: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """x y z of the joint lines ``rows`` (B, 25) -> float32 (B, 25, 3); _Fallback on NaN/inf
    (the naive reader decides what the text says)."""
    xyz64 = vals[rows]
    if not np.isfinite(xyz64).all():
        raise _Fallback
    with np.errstate(over="ignore"):
        xyz = xyz64.astype(np.float32)
    if not np.isfinite(xyz).all():
        raise _Fallback
    return xyz


def _with_line_end(data: bytes) -> bytes:
    return data if data.endswith(b"\n") else data + b"\n"


def _read_fast(path, data: bytes) -> NTUSkeleton:
    records, frames, rows, n = _scan(path, data)
    if not records:
        return _assemble(records, np.zeros((0, J, 3), np.float32), frames, path)
    vals = _parse_lines([_with_line_end(data)])
    if len(vals) != n:
        raise _Fallback
    return _assemble(records, _joints(vals, rows), frames, path)


def read_skeletons(paths, datas: list | None = None) -> list[NTUSkeleton]:
    """Read many files with one pandas call for all of them (the per-call overhead of the parser
    is paid once); same results as :func:`read_skeleton` on each file."""
    paths = list(paths)
    datas = [Path(p).read_bytes() for p in paths] if datas is None else datas
    out: list[NTUSkeleton | None] = [None] * len(paths)
    scans, texts = [], []
    for k, (p, d) in enumerate(zip(paths, datas)):
        try:
            rec, frames, rows, n = _scan(p, d)
        except _Fallback:
            out[k] = read_skeleton_naive(p, d)
            continue
        if not rec:
            out[k] = _assemble(rec, np.zeros((0, J, 3), np.float32), frames, p)
            continue
        scans.append((k, rec, frames, rows, n))
        texts.append(_with_line_end(d))
    try:
        vals = _parse_lines(texts) if texts else np.zeros((0, 3))
        if len(vals) != sum(s[4] for s in scans):
            raise _Fallback
    except _Fallback:  # one odd file spoils the batch: file by file
        for k, *_ in scans:
            out[k] = read_skeleton(paths[k], datas[k])
        return out  # type: ignore[return-value]
    at = 0
    for k, rec, frames, rows, n in scans:
        try:
            out[k] = _assemble(rec, _joints(vals, rows + at), frames, paths[k])
        except _Fallback:
            out[k] = read_skeleton_naive(paths[k], datas[k])
        at += n
    return out  # type: ignore[return-value]


def read_skeleton(path, data: bytes | None = None) -> NTUSkeleton:
    """Read one NTU ``.skeleton`` file (fast path; the naive reader on anything unusual)."""
    if data is None:
        data = Path(path).read_bytes()
    try:
        return _read_fast(path, data)
    except _Fallback:
        return read_skeleton_naive(path, data)


def main_actor(sk: NTUSkeleton) -> tuple[np.ndarray, dict[str, Any]]:
    """The body with the largest motion (sum over joints and axes of the coordinate variance over
    the frames it is present, as the NTU authors advise), in the frames where it is present.

    Returns (seq (T, 25, 3) float32, info {bodies, chosen_body_id, frames_without_body}).
    """
    info = {"bodies": int(sk.num_bodies), "frames_without_body": int((~sk.present.any(1)).sum())}
    if sk.num_bodies == 0:
        return np.zeros((0, J, 3), np.float32), info
    motion = []
    for m in range(sk.num_bodies):
        p = sk.xyz[sk.present[:, m], m].astype(np.float64)
        motion.append(float(np.nan_to_num(p.var(0).sum(), nan=-1.0, posinf=1e300)) if len(p) > 1 else 0.0)
    m = int(np.argmax(motion))
    info["chosen_body_id"] = int(sk.body_ids[m])
    return sk.xyz[sk.present[:, m], m], info


def read_missing_list(path) -> set:
    """Sample ids (SsssCcccPpppRrrrAaaa) on an NTU missing-skeleton list (header lines ignored)."""
    ids = set()
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _NAME.fullmatch(line.strip())
        if m:
            ids.add(m.group(0))
    return ids


def split_ntu(meta: dict[str, int], benchmark: str, validation_subjects) -> int:
    """0 train, 1 validation, 2 test for one sample under ``benchmark``."""
    if meta["subject"] in validation_subjects:
        return 1
    if benchmark == "paper":
        return 0
    if benchmark == "xsub":
        return 0 if meta["subject"] in XSUB_TRAIN_SUBJECTS else 2
    if benchmark == "xsub120":
        return 0 if meta["subject"] in XSUB120_TRAIN_SUBJECTS else 2
    if benchmark == "xview":
        return 0 if meta["camera"] in (2, 3) else 2
    if benchmark == "xset120":
        return 0 if meta["setup"] % 2 == 0 else 2
    raise ValueError(f"unknown NTU benchmark {benchmark!r}")


_DEFAULT_VALIDATION = {"paper": [2]}


def ntu_blocks(name: str, cfg: dict[str, Any], raw: str | None, seed: int = 0
               ) -> tuple[tuple[int, int, int, int], Callable[[int], Iterator[Dataset]]]:
    """Reader ``ntu`` a block of files at a time: ``((N, T, 25, 3), blocks)``, where ``blocks(step)``
    yields :class:`Dataset` blocks of at most ``step`` sequences in file order (poses padded to
    ``max_frames``), reading and parsing only that block's files (256 at a time).  N, the classes
    and the splits come from the file names alone; the digest of the files and the bodies seen per
    file run on with the blocks, so the last block carries them complete (``source_sha256``,
    ``extra_attrs``).  Concatenated, the blocks are :func:`_read_ntu`'s dataset.  Options in
    ``cfg['ntu']``."""
    opts = dict(cfg.get("ntu") or {})
    benchmark = opts.get("benchmark", "paper")
    actions = opts.get("actions")
    if actions is None:
        actions = list(range(1, 50)) if benchmark == "paper" else None
    exclude_two = opts.get("exclude_two_person")
    exclude_two = benchmark == "paper" if exclude_two is None else bool(exclude_two)
    val_subjects = opts.get("validation_subjects")
    val_subjects = set(_DEFAULT_VALIDATION.get(benchmark, []) if val_subjects is None else val_subjects)
    files = raw_files(name, raw, "ntu", ".skeleton", shown="*.skeleton", source_fix="set data.<name>.source to local or http",
                      fix="point data.<name>.path at the extracted nturgbd_skeletons folder or its zip")
    missing_path = opts.get("missing_list") or (cfg.get("_downloads") or {}).get("missing_skeletons")
    missing = read_missing_list(missing_path) if missing_path else set()
    if not missing_path:
        log.warning("no missing-skeleton list given (data.%s.ntu.missing_list or downloads.missing_skeletons)", name)
    n_missing = n_action = 0
    todo = []
    for p in files:
        sid = p.name[:-len(".skeleton")]
        try:
            meta = parse_name(sid)
        except ValueError:
            log.warning("skipped %s: name is not SsssCcccPpppRrrrAaaa", p)
            continue
        if sid in missing:
            n_missing += 1
            continue
        a = meta["action"]
        if (actions is not None and a not in actions) or (exclude_two and a in TWO_PERSON_ACTIONS):
            n_action += 1
            continue
        todo.append((p, sid, meta))
    if not todo:
        log.info("ntu: %d files, %d on the missing-skeleton list excluded, %d excluded by action filter, 0 read",
                 len(files), n_missing, n_action)
        raise DataFormatError(raw, "no NTU samples left after the action filter and missing list",
                              fix="check data.<name>.ntu.actions and the folder")
    used = sorted({m["action"] for _, _, m in todo})
    lut = {a: k for k, a in enumerate(used)}
    classes = [NTU60_ACTIONS[a - 1] if a <= 60 else f"A{a:03d}" for a in used]
    T = int(cfg["max_frames"])

    def blocks(step: int) -> Iterator[Dataset]:
        step = max(1, int(step))
        digest, bodies_hist = DigestOfFiles(), {}
        bar = tqdm(total=len(todo), desc="ntu", mininterval=10, unit="file")
        for b in range(0, len(todo), step):
            block = todo[b:b + step]
            seqs = []
            for c in range(0, len(block), 256):
                part = block[c:c + 256]
                datas = [p.read_bytes() for p, _, _ in part]
                for (p, _, _), d in zip(part, datas):
                    digest.update(p.name, d)
                for sk in read_skeletons([p for p, _, _ in part], datas):
                    seq, info = main_actor(sk)
                    bodies_hist[info["bodies"]] = bodies_hist.get(info["bodies"], 0) + 1
                    if len(seq) == 0:
                        seq = np.zeros((1, J, 3), np.float32)  # excluded later as all-zero, with a log line
                    seqs.append(seq)
                del datas
                bar.update(len(part))
            x, length = pad_sequences(seqs, T)
            del seqs
            metas = [m for _, _, m in block]
            ds = Dataset(x=x, length=length, label=np.array([lut[m["action"]] for m in metas], np.int32),
                         subject=np.array([m["subject"] for m in metas], np.int32),
                         split=np.array([split_ntu(m, benchmark, val_subjects) for m in metas], np.int8),
                         sample_id=np.array([sid for _, sid, _ in block]), classes=list(classes),
                         topology="kinect_v2", name=name, fps=30.0, source_sha256=digest.hexdigest())
            ds.extra_attrs.update(bodies_seen={str(k): v for k, v in sorted(bodies_hist.items())},
                                  missing_list_excluded=n_missing, benchmark=benchmark)
            if b + step >= len(todo):
                bar.close()
                log.info("ntu: %d files, %d on the missing-skeleton list excluded, %d excluded by action filter, "
                         "%d read; bodies seen per file: %s", len(files), n_missing, n_action, len(todo),
                         dict(sorted(bodies_hist.items())))
            yield ds

    return (len(todo), T, J, 3), blocks


@register_reader("ntu")
def _read_ntu(name: str, cfg: dict[str, Any], raw: str | None, seed: int) -> Dataset:
    """Reader ``ntu``: every ``*.skeleton`` under ``raw`` as one dataset (:func:`ntu_blocks` in one
    block); options in ``cfg['ntu']``."""
    shape, blocks = ntu_blocks(name, cfg, raw, seed)
    (ds,) = blocks(shape[0])
    return ds
