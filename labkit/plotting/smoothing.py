"""Exponential moving average of a curve, as TensorBoard's smoothing slider draws it.

`ema` is what the live figure's smoothing control and the sweep report's smoothing slider
apply to a curve; the raw curve stays drawn faintly behind the smoothed one.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from labkit._checks import check, is_number

__all__ = ["ema", "RunningEma", "check_smoothing", "SMOOTHING_RANGE"]

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
    return RunningEma(smoothing).extend(values)


class RunningEma:
    """`ema` of a series that only grows, extended by the new values at each call.

    Redrawing a live curve then smooths only the points that arrived since the last redraw.

    Args:
        smoothing: The weight, as for `ema`.

    Example:

    >>> running = RunningEma(0.5)
    >>> running.extend(np.array([1.0, 0.0])).round(4).tolist()
    [1.0, 0.3333]
    >>> running.extend(np.array([1.0, 0.0, 0.0])).round(4).tolist()
    [1.0, 0.3333, 0.1429]
    """

    def __init__(self, smoothing: float):
        check_smoothing(smoothing)
        self.smoothing = smoothing
        self.smoothed = np.empty(0)
        self._state = 0.0  # the average before debiasing
        self._count = 0  # finite values seen

    def extend(self, values: np.ndarray) -> np.ndarray:
        """The smoothed series for `values`, whose first values are those of the last call."""
        new = np.asarray(values[len(self.smoothed) :], dtype=np.float64)
        if new.size:
            weight = self.smoothing
            finite = np.isfinite(new)
            kept = new[finite]
            smoothed = np.full_like(new, np.nan)
            if kept.size:
                averaged, _ = lfilter([1 - weight], [1, -weight], kept, zi=[weight * self._state])
                self._state = averaged[-1]
                counts = np.arange(self._count + 1, self._count + kept.size + 1)
                smoothed[finite] = averaged / (1 - weight**counts) if weight else averaged
                self._count += kept.size
            self.smoothed = np.concatenate([self.smoothed, smoothed])
        return self.smoothed
