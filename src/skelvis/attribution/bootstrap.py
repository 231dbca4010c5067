"""Percentile bootstrap 95% intervals of a mean over sequences (Efron and Tibshirani 1993, §13.3),
by ``scipy.stats.bootstrap``."""
from __future__ import annotations

import numpy as np
from scipy.stats import bootstrap

__all__ = ["mean_interval"]


def mean_interval(values, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the finite ``values`` (NaN dropped); the interval is the percentile
    bootstrap of the mean.  n = 0 gives NaNs; n = 1 or constant values give low = high = mean."""
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(v.mean())
    if n == 1 or np.ptp(v) == 0:
        return mean, mean, mean, n
    ci = bootstrap((v,), np.mean, n_resamples=int(resamples), confidence_level=level, method="percentile",
                   rng=np.random.default_rng([seed, n])).confidence_interval
    return mean, float(ci.low), float(ci.high), n
