"""The reader registry: ``data.<name>.reader`` -> a function ``(name, cfg, raw, seed) -> Dataset``
returning raw (un-normalised) coordinates. Each reader module registers itself with
:func:`register_reader`; :mod:`skelvis.datasets.prepare` imports every reader module."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .store import Dataset

__all__ = ["READERS", "Reader", "register_reader"]

Reader = Callable[[str, dict[str, Any], str | None, int], Dataset]
READERS: dict[str, Reader] = {}


def register_reader(name: str):
    """Decorator: register ``fn`` as the reader named ``name`` (the schema's ``reader`` enum)."""
    def deco(fn: Reader) -> Reader:
        READERS[name] = fn
        return fn
    return deco
