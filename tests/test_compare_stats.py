"""The statistics module: bootstrap intervals that stay within the values' range (so inside [0, 1] for
accuracies and shares), no interval from one value, Wilson's interval, and the texts every table and
report prints."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compare.results.stats import (
    MIN_VALUES,
    Interval,
    bootstrap,
    censored_text,
    interval_text,
    plural,
    wilson,
)

shares = st.floats(0, 1, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(shares, min_size=1, max_size=12), st.sampled_from([np.mean, np.median]))
def test_a_bootstrap_interval_stays_inside_the_values(values, statistic):
    interval = bootstrap(values, statistic)
    assert interval.count == len(values)
    assert interval.estimate == pytest.approx(float(statistic(values)))
    if len(values) < MIN_VALUES:
        assert not interval.has_interval and math.isnan(interval.low) and math.isnan(interval.high)
    else:
        assert min(values) - 1e-12 <= interval.low <= interval.high <= max(values) + 1e-12
        assert 0 <= interval.low and interval.high <= 1


def test_extreme_samples():
    assert bootstrap([0.0, 1.0]) == Interval(0.5, 0.0, 1.0, 2)  # the widest possible, not ± 6.35
    assert bootstrap([1.0, 1.0, 1.0]) == Interval(1.0, 1.0, 1.0, 3)  # all equal: zero width, count shown
    assert bootstrap([None, float("nan"), 0.25]).count == 1  # only finite values count
    assert bootstrap([]).count == 0 and math.isnan(bootstrap([]).estimate)
    assert bootstrap([0.1, 0.9, 0.4]) == bootstrap([0.1, 0.9, 0.4])  # seeded: the same every time


@settings(max_examples=100)
@given(st.integers(0, 50), st.integers(0, 50))
def test_wilson_stays_in_range_and_holds_the_share(successes, extra):
    trials = successes + extra
    interval = wilson(successes, trials)
    if trials == 0:
        assert interval.count == 0 and math.isnan(interval.estimate)
    elif trials == 1:
        assert not interval.has_interval
    else:
        assert 0 <= interval.low <= interval.estimate <= interval.high <= 1
        assert interval.high - interval.low > 0  # never zero width, even at 0 or 1


def test_wilson_matches_the_textbook_value():
    # 0 of 10: [0, z²/(n + z²)] = [0, 0.2775]; 5 of 10: 0.5 ± 0.2634 (both from the score formula).
    assert wilson(0, 10).high == pytest.approx(0.2775, abs=1e-4)
    assert (wilson(5, 10).low, wilson(5, 10).high) == (pytest.approx(0.2366, abs=1e-4),
                                                       pytest.approx(0.7634, abs=1e-4))


def test_texts():
    assert interval_text(bootstrap([0.44, 1.0]).scaled(100), 1) == "72.0 [44.0, 100.0]"
    assert interval_text(bootstrap([0.5]).scaled(100), 1, unit="seed") == "50.0 [n/a: 1 seed]"
    assert interval_text(bootstrap([3, 4, 5]), 0, unit="cell", count=True).endswith("(3 cells)")
    assert interval_text(bootstrap([])) == "n/a"
    assert plural(1, "modular task") == "1 modular task" and plural(2, "task") == "2 tasks"
    assert plural(0, "analysis", "analyses") == "0 analyses"
    assert censored_text(3, 3) == "" and censored_text(2, 3) == "never in 1 of 3"
