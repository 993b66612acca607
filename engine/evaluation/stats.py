"""Confidence intervals for per-case metric values.

Percentile bootstrap over cases (seeded, so a report is reproducible): it needs no normality,
which matters for bounded or binary metrics (STOI, retrieval hits) on a few dozen cases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = 20251125


@dataclass(frozen=True)
class Interval:
    """Mean of the finite values and its 95 % bootstrap interval; n counts the finite values."""

    mean: float
    low: float
    high: float
    n: int


def bootstrap_ci(values: list[float] | np.ndarray, n_resamples: int = N_RESAMPLES, seed: int = SEED) -> Interval:
    """Mean and percentile-bootstrap 95 % CI; NaN values are dropped (NaN interval if none left)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    mean = float(np.mean(v))
    if v.size == 1:
        return Interval(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_resamples, v.size))].mean(axis=1)
    alpha = (1.0 - CONFIDENCE) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(mean, float(low), float(high), int(v.size))
