"""Intervals over seeds: the numbers every verdict is computed from."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from labkit.stats import difference_interval, difference_p_value, holm_adjusted, mean_interval


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
    assert difference_p_value(a, b) == pytest.approx(result.pvalue)


def test_holm_adjusts_step_down_and_skips_missing_tests():
    # m = 4 tests: sorted p 0.005, 0.01, 0.03, 0.04 are multiplied by 4, 3, 2, 1, then kept
    # increasing: 0.02, 0.03, 0.06, 0.06. NaN is no test and does not count.
    adjusted = holm_adjusted([0.04, 0.005, math.nan, 0.03, 0.01])
    np.testing.assert_allclose(adjusted, [0.06, 0.02, math.nan, 0.06, 0.03])
    assert holm_adjusted([0.9, 0.5]).tolist() == [1.0, 1.0]  # capped at 1
    assert holm_adjusted([]).size == 0
    # Never less strict than one test alone, never stricter than Bonferroni.
    p = np.random.default_rng(0).random(20) / 10
    assert np.all(holm_adjusted(p) >= p) and np.all(holm_adjusted(p) <= np.minimum(1, 20 * p))


def test_overlapping_settings_show_no_difference():
    diff = difference_interval([0.60, 0.62, 0.58], [0.61, 0.59, 0.60])
    assert not diff.excludes_zero
    assert diff.format("+.3f").startswith("+0.000 ± 0.")


def test_median_interval_takes_order_statistics_with_at_least_95_percent_coverage():
    from labkit.stats import median_interval

    values = np.arange(1.0, 17.0)  # 16 values: the 4th smallest to the 4th largest
    interval = median_interval(values[::-1])
    assert (interval.median, interval.low, interval.high, interval.n) == (8.5, 4.0, 13.0, 16)
    coverage = 1 - 2 * stats.binom.cdf(3, 16, 0.5)
    assert coverage >= 0.95 and 1 - 2 * stats.binom.cdf(4, 16, 0.5) < 0.95
    assert median_interval(np.arange(6.0)).format(".1f") == "2.5 [0.0, 5.0]"
    assert median_interval(np.arange(5.0)).format(".1f") == "2.0"  # too few for an interval
    with pytest.raises(ValueError, match="empty"):
        median_interval([])
