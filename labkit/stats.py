"""Means with 95% intervals over seeds, differences between two settings, and medians.

Every accuracy or speed claim labkit prints comes from these: a Student t interval for one
setting's mean, and a Welch interval (and test) for the difference of two settings' means, so
a verdict ("differs" or "no difference shown") is computed from the numbers, never typed.
Where a verdict makes many comparisons at once, `holm_adjusted` keeps the chance of calling
any difference that is not there at 5% (Holm-Bonferroni).
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
    "finite_mean_interval",
    "difference_interval",
    "difference_p_value",
    "holm_adjusted",
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


def finite_mean_interval(values: Sequence[float | None]) -> Interval:
    """`mean_interval` of the finite values (missing values and diverged runs left out); a NaN
    mean and half-width (n=0) when there is none.

    Example:

    >>> finite_mean_interval([0.60, float("nan"), 0.62, None]).format(".2f")
    '0.61 ± 0.13'
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return mean_interval(finite) if finite else Interval(math.nan, math.nan, 0)


def difference_interval(a: Sequence[float], b: Sequence[float]) -> Interval:
    """`mean(a) - mean(b)` with its 95% Welch interval (unequal variances).

    Example:

    >>> diff = difference_interval([0.60, 0.61, 0.62], [0.57, 0.58, 0.59])
    >>> round(diff.mean, 3), diff.excludes_zero
    (0.03, True)
    """
    mean, se, dof, n = _welch(a, b)
    if math.isnan(se) or se == 0:
        return Interval(mean, se, n)
    return Interval(mean, float(stats.t.ppf((1 + CONFIDENCE) / 2, dof) * se), n)


def difference_p_value(a: Sequence[float], b: Sequence[float]) -> float:
    """The two-sided p-value of Welch's t test that `a` and `b` have equal means.

    It is below 0.05 exactly where `difference_interval(a, b)` excludes zero. NaN with fewer
    than two values on a side; with no spread at all, 0 where the means differ, else 1.

    Example:

    >>> round(difference_p_value([0.60, 0.61, 0.62], [0.57, 0.58, 0.59]), 4)
    0.0213
    """
    mean, se, dof, _ = _welch(a, b)
    if math.isnan(se):
        return math.nan
    if se == 0:
        return 0.0 if mean != 0 else 1.0
    return float(2 * stats.t.sf(abs(mean) / se, dof))


def _welch(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float, int]:
    """`mean(a) - mean(b)`, its standard error, Welch's degrees of freedom, the smaller n
    (NaN standard error with fewer than two values on a side)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    mean, n = float(a.mean() - b.mean()), min(len(a), len(b))
    if len(a) < 2 or len(b) < 2:
        return mean, math.nan, math.nan, n
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return mean, 0.0, math.nan, n
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return mean, se, dof, n


def holm_adjusted(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values: a difference whose adjusted p-value is at most 0.05 is
    called with a 5% chance, over the whole family, of calling any that is not there.

    Holm (1979): sort the `m` p-values, multiply the `i`-th smallest by `m - i + 1` (i from 1),
    keep them increasing and at most 1. Uniformly more powerful than Bonferroni (multiply all
    by `m`), valid whatever the dependence between the tests. NaN p-values (no test) stay NaN
    and do not count in `m`.

    Example:

    >>> holm_adjusted([0.01, 0.04, 0.03, float("nan")]).round(2).tolist()
    [0.03, 0.06, 0.06, nan]
    """
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p_values, np.nan)
    tested = np.flatnonzero(~np.isnan(p_values))
    order = tested[np.argsort(p_values[tested], kind="stable")]
    m = len(order)
    scaled = p_values[order] * (m - np.arange(m))
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled)) if m else scaled
    return adjusted


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
