"""Logging for workflow steps: what was read, what was written, how long it took.

``scripts/*.py`` wrap their work in :func:`rule_logging`, passing the ``snakemake`` object (duck
typed: ``log``, ``input``, ``output``, ``threads``, ``rule``); this module never imports snakemake.
Python warnings, tqdm progress and uncaught tracebacks go to the rule's log file.
"""
from __future__ import annotations

import contextlib
import logging
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

__all__ = ["get_logger", "peak_rss_mb", "rule_logging"]


def get_logger(name: str = "skelvis") -> logging.Logger:
    return logging.getLogger(name)


def _paths(files) -> list:
    try:
        return [str(f) for f in files]
    except TypeError:
        return []


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: ``VmHWM`` of /proc/self/status (Linux; the
    high-water mark of this address space, reset by exec) or else ``getrusage``'s ``ru_maxrss``
    (which Linux carries across exec, so a script started from a large process would report the
    launcher's memory)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


@contextlib.contextmanager
def rule_logging(smk) -> Iterator[logging.Logger]:
    """Send logging and stderr to ``smk.log[0]`` (if any), set torch threads, log I/O, duration,
    and the process's peak resident memory and CPU time (``getrusage``)."""
    log_path = smk.log[0] if len(smk.log) else None
    handlers = []
    stream = None
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        stream = open(log_path, "w", buffering=1)  # noqa: SIM115  (kept open while the rule runs; closed in the finally below)
        handlers.append(logging.StreamHandler(stream))
    else:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = get_logger(f"skelvis.{getattr(smk, 'rule', 'rule')}")
    old_err = sys.stderr
    if stream is not None:
        sys.stderr = stream
    torch.set_num_threads(max(1, int(getattr(smk, "threads", 1))))
    t0 = time.perf_counter()
    log.info("rule %s, threads %s", getattr(smk, "rule", "?"), getattr(smk, "threads", "?"))
    for p in _paths(smk.input):
        log.info("read  %s", p)
    try:
        yield log
    except BaseException:
        log.exception("failed after %.1f s", time.perf_counter() - t0)
        raise
    else:
        for p in _paths(smk.output):
            log.info("wrote %s", p)
        ru = resource.getrusage(resource.RUSAGE_SELF)
        # exact, unlike Snakemake's benchmark: file, which samples memory and CPU (each second for
        # the first 30 s, then every 30 s) and so can miss a short peak
        log.info("done in %.1f s, peak RSS %.1f MB, CPU %.1f s", time.perf_counter() - t0,
                 peak_rss_mb(), ru.ru_utime + ru.ru_stime)
    finally:
        sys.stderr = old_err
        if stream is not None:
            logging.getLogger().handlers.clear()
            stream.close()
