"""The lock a killed snakemake leaves behind: recorded, recognised and removed.

Snakemake locks the files a run will write (``.snakemake/locks/``) and removes the lock when it
ends; a run killed with SIGKILL (or a lost terminal, an out-of-memory kill) leaves the lock, and the
next run stops with ``LockException`` until ``snakemake --unlock``. The workflow records each
running snakemake here (``onstart``: host, pid; removed by ``onsuccess``/``onerror``) and, when a
new run starts, :func:`clear_stale_lock` removes the lock only if every recorded holder is gone:
same host and its pid no longer a running snakemake. A holder on another host, a live one, or a
lock nobody recorded is left alone (snakemake's own message then says to wait or ``--unlock``).
Only the default file persistence backend keeps its locks in ``.snakemake/locks``.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

__all__ = ["clear_stale_lock", "holder_alive", "record_holder", "release_holder"]

_HOLDERS = Path(".snakemake") / "skelvis_lock_holders"
_LOCKS = Path(".snakemake") / "locks"


def _holder_file(root, pid: int) -> Path:
    return Path(root) / _HOLDERS / f"{socket.gethostname()}_{pid}.json"


def record_holder(root=".", pid: int | None = None) -> Path:
    """Record that snakemake process ``pid`` (default: this one) holds the lock of ``root``."""
    pid = os.getpid() if pid is None else pid
    path = _holder_file(root, pid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": pid,
                                "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
    return path


def release_holder(root=".", pid: int | None = None) -> None:
    _holder_file(root, os.getpid() if pid is None else pid).unlink(missing_ok=True)


def holder_alive(pid: int) -> bool:
    """True while ``pid`` runs and (where /proc tells) is a snakemake process, not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc") / str(pid)
    if proc.is_dir():
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            return False
        return state not in ("Z", "X") and b"snakemake" in cmdline
    return True


def clear_stale_lock(root=".") -> str | None:
    """Remove ``root``'s snakemake lock when every recorded holder has died; return the one line
    to show the user (None when nothing was done)."""
    root = Path(root)
    records = sorted((root / _HOLDERS).glob("*.json"))
    if not records:
        return None
    host = socket.gethostname()
    dead, live = [], []
    for rec in records:
        try:
            info = json.loads(rec.read_text())
            pid, where = int(info["pid"]), str(info["host"])
        except (OSError, ValueError, KeyError, TypeError):
            rec.unlink(missing_ok=True)
            continue
        (live if where != host or holder_alive(pid) else dead).append((rec, pid, info.get("started", "?")))
    for rec, _, _ in dead:
        rec.unlink(missing_ok=True)
    locks = root / _LOCKS
    if live or not dead or not locks.is_dir() or not any(locks.iterdir()):
        return None
    shutil.rmtree(locks)
    who = ", ".join(f"pid {pid} started {started}" for _, pid, started in dead)
    return (f"skelvis: removed the lock left by a snakemake that was killed ({who}; no longer running), "
            f"as `snakemake --unlock` would; its unfinished jobs are redone (--rerun-incomplete)")
