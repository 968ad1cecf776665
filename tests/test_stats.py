"""Intervals over seeds: the numbers every verdict is computed from."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from labkit.stats import difference_interval, mean_interval


def test_mean_interval_is_the_student_t_interval():
    values = [0.5992, 0.6073, 0.6179, 0.6201, 0.6112]
    interval = mean_interval(values)
    low, high = stats.t.interval(0.95, 4, loc=np.mean(values), scale=stats.sem(values))
    assert interval.n == 5
    assert interval.low == pytest.approx(low) and interval.high == pytest.approx(high)
    assert interval.format() == "0.6111 ± 0.0104"  # the anchors README's figure


def test_one_value_has_no_interval_and_none_is_an_error():
    assert math.isnan(mean_interval([0.6]).half_width)
    assert mean_interval([0.6]).format() == "0.6000"
    with pytest.raises(ValueError, match="empty"):
        mean_interval([])


def test_difference_interval_is_welch():
    a, b = [0.61, 0.62, 0.60, 0.63], [0.57, 0.58, 0.60]
    diff = difference_interval(a, b)
    result = stats.ttest_ind(a, b, equal_var=False)
    low, high = result.confidence_interval(0.95)
    assert diff.low == pytest.approx(low) and diff.high == pytest.approx(high)
    assert diff.excludes_zero == (result.pvalue < 0.05)


def test_overlapping_settings_show_no_difference():
    diff = difference_interval([0.60, 0.62, 0.58], [0.61, 0.59, 0.60])
    assert not diff.excludes_zero
    assert diff.format("+.3f").startswith("+0.000 ± 0.")
