"""Percentile bootstrap 95% intervals of a mean over sequences (Efron and Tibshirani 1993, §13.3),
and of a ratio of two paired means (the same sequences resampled together), by
``scipy.stats.bootstrap``."""
from __future__ import annotations

import numpy as np
from scipy.stats import bootstrap

__all__ = ["mean_interval", "ratio_interval"]


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


def ratio_interval(a, b, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float, int]:
    """(mean(a) / mean(b), low, high, n) over the pairs (a_n, b_n) where both are finite; the
    interval is the percentile bootstrap of the ratio with the pairs resampled together
    (``paired=True``).  NaNs where n = 0 or mean(b) = 0; n = 1 gives low = high = the ratio."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = len(a)
    if n == 0 or b.mean() == 0:
        return float("nan"), float("nan"), float("nan"), n
    r = float(a.mean() / b.mean())
    if n == 1 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return r, r, r, n
    ci = bootstrap((a, b), lambda u, v, axis=-1: u.mean(axis) / v.mean(axis), paired=True, vectorized=True,
                   n_resamples=int(resamples), confidence_level=level, method="percentile",
                   rng=np.random.default_rng([seed, n, 1])).confidence_interval
    return r, float(ci.low), float(ci.high), n
