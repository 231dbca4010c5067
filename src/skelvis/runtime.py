"""Run-time set-up shared by the stages: seeding every random number generator at once."""
from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's global and torch's generators with ``seed`` (config key ``seed``)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
