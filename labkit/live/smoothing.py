"""Exponential moving average of a curve, as TensorBoard's smoothing slider draws it.

`ema` is what the live figure's smoothing control and the sweep report's smoothing slider
apply to a curve; the raw curve stays drawn faintly behind the smoothed one.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from labkit._checks import check, is_number

__all__ = ["ema", "check_smoothing", "SMOOTHING_RANGE"]

# The smoothing weight is in [0, 1): 0 draws the raw curve, 0.99 averages over ~100 points.
SMOOTHING_RANGE = (0.0, 0.99)


def check_smoothing(smoothing: float) -> None:
    """Checks a smoothing weight: a number in [0, 0.99].

    Example:

    >>> check_smoothing(1.0)
    Traceback (most recent call last):
        ...
    ValueError: Invalid value for `smoothing`: expected a number in [0, 0.99]. Received: ...
    """
    low, high = SMOOTHING_RANGE
    ok = is_number(smoothing) and low <= smoothing <= high
    check("smoothing", smoothing, ok, f"a number in [{low:g}, {high:g}]")


def ema(values: np.ndarray, smoothing: float) -> np.ndarray:
    """Debiased exponential moving average: `s_t = w * s_(t-1) + (1 - w) * y_t`, `w = smoothing`.

    The average starts from zero and is divided by `1 - w**t` (as in Adam and TensorBoard),
    so its first values are not pulled towards zero. NaN and infinite values (a diverged step)
    are skipped: they come out as NaN (a gap) and do not spread into the values after them.
    `smoothing=0` returns a copy.

    Example:

    >>> ema(np.array([1.0, 0.0, 0.0]), 0.5).round(4).tolist()
    [1.0, 0.3333, 0.1429]
    """
    check_smoothing(smoothing)
    values = np.asarray(values, dtype=np.float64)
    if smoothing == 0 or values.size == 0:
        return values.copy()
    finite = np.isfinite(values)
    kept = values[finite]
    averaged = lfilter([1 - smoothing], [1, -smoothing], kept)
    averaged /= 1 - smoothing ** np.arange(1, kept.size + 1)
    smoothed = np.full_like(values, np.nan)
    smoothed[finite] = averaged
    return smoothed
