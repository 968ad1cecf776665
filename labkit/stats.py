"""Means with 95% intervals over seeds, differences between two settings, and medians.

Every accuracy or speed claim labkit prints comes from these: a Student t interval for one
setting's mean, and a Welch interval for the difference of two settings' means, so a
verdict ("differs" or "no difference shown") is computed from the numbers, never typed.
Timings, whose noise on a shared machine has long tails, get a median with a
distribution-free interval instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "CONFIDENCE",
    "Interval",
    "MedianInterval",
    "mean_interval",
    "difference_interval",
    "median_interval",
]

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean (or a difference of means) with the half-width of its 95% interval.

    `half_width` is NaN where it cannot be computed (fewer than two values).
    """

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly above or wholly below zero."""
        return not math.isnan(self.half_width) and (self.low > 0 or self.high < 0)

    def format(self, spec: str = ".4f") -> str:
        """`"0.6129 ± 0.0176"` (or just the mean when there is no interval)."""
        if math.isnan(self.half_width):
            return format(self.mean, spec)
        return f"{self.mean:{spec}} ± {self.half_width:{spec.lstrip('+')}}"


def mean_interval(values: Sequence[float]) -> Interval:
    """The mean of `values` with the half-width of its 95% Student t interval.

    Example:

    >>> mean_interval([0.60, 0.61, 0.62]).format(".3f")
    '0.610 ± 0.025'
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n == 0:
        raise ValueError("`values` is empty: an interval needs at least one value. Received: []")
    if n < 2:
        return Interval(float(values.mean()), math.nan, n)
    sem = values.std(ddof=1) / math.sqrt(n)
    return Interval(float(values.mean()), float(stats.t.ppf((1 + CONFIDENCE) / 2, n - 1) * sem), n)


def difference_interval(a: Sequence[float], b: Sequence[float]) -> Interval:
    """`mean(a) - mean(b)` with its 95% Welch interval (unequal variances).

    Example:

    >>> diff = difference_interval([0.60, 0.61, 0.62], [0.57, 0.58, 0.59])
    >>> round(diff.mean, 3), diff.excludes_zero
    (0.03, True)
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    mean = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return Interval(mean, math.nan, min(len(a), len(b)))
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Interval(mean, 0.0, min(len(a), len(b)))
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return Interval(mean, float(stats.t.ppf((1 + CONFIDENCE) / 2, dof) * se), min(len(a), len(b)))


@dataclass(frozen=True)
class MedianInterval:
    """A median with a distribution-free interval (NaN bounds with fewer than 6 values)."""

    median: float
    low: float
    high: float
    n: int

    def format(self, spec: str = ".4f") -> str:
        """`"1.0123 [1.0041, 1.0190]"` (or just the median when there is no interval)."""
        if math.isnan(self.low):
            return format(self.median, spec)
        return f"{self.median:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def median_interval(values: Sequence[float]) -> MedianInterval:
    """The median of `values` with an interval covering it with at least 95% confidence.

    The interval runs from the j-th smallest to the j-th largest value, j the largest with
    `2 · P(B < j) <= 0.05` for `B ~ Binomial(n, 1/2)`: it assumes only that the values are
    independent draws, not that they are normal. It needs at least 6 values.

    Example:

    >>> median_interval([1.01, 0.99, 1.02, 1.00, 1.03, 0.98, 1.01, 1.00]).format(".2f")
    '1.00 [0.98, 1.03]'
    """
    values = np.sort(np.asarray(values, dtype=float))
    n = len(values)
    if n == 0:
        raise ValueError("`values` is empty: a median needs at least one value. Received: []")
    median = float(np.median(values))
    # P(B <= j - 1) for j = 1..n; the largest j keeping both tails within (1 - CONFIDENCE) / 2.
    tails = stats.binom.cdf(np.arange(n), n, 0.5)
    j = int(np.searchsorted(tails, (1 - CONFIDENCE) / 2, side="right"))
    if j == 0:
        return MedianInterval(median, math.nan, math.nan, n)
    return MedianInterval(median, float(values[j - 1]), float(values[n - j]), n)
