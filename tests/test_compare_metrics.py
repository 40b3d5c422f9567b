"""Metrics: confidence intervals, n@99, area under the learning curve, most frequent program."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compare.results.metrics import area_under_curve, curve, mean_ci, most_frequent, n_at

accuracies = st.floats(0, 1, allow_nan=False)
curves = st.dictionaries(st.integers(1, 5000), st.lists(accuracies, min_size=1, max_size=5), min_size=1,
                         max_size=8)


@settings(max_examples=80)
@given(st.lists(accuracies, min_size=2, max_size=10))
def test_ci_contains_the_mean_and_stays_inside_the_values(values):
    mean, low, high = mean_ci(values)
    assert mean == pytest.approx(np.mean(values))
    # A bootstrap interval of a mean lies within the values' range: inside [0, 1] for accuracies.
    assert min(values) - 1e-12 <= low <= high <= max(values) + 1e-12
    if len(set(values)) == 1:
        assert high - low == pytest.approx(0, abs=1e-12)


def test_ci_is_a_bootstrap_interval_and_none_from_one_value():
    # Two seeds at 44% and 100%: the t-interval said 72.0 ± 353 (up to 425%); the bootstrap's ends are
    # the resampled means' 2.5th and 97.5th percentiles: both seeds the same, 44% or 100%.
    mean, low, high = mean_ci([0.44, 1.0])
    assert (mean, low, high) == (pytest.approx(0.72), pytest.approx(0.44), pytest.approx(1.0))
    assert mean_ci([0.3])[0] == 0.3 and all(math.isnan(x) for x in mean_ci([0.3])[1:])
    assert all(math.isnan(x) for x in mean_ci([]))
    point = curve({8: [0.5]})[0]
    assert point.seeds == 1 and math.isnan(point.low) and not point.interval.has_interval


@settings(max_examples=80)
@given(curves)
def test_n_at_is_the_first_size_whose_median_reaches(by_n):
    points = curve(by_n)
    assert [p.n for p in points] == sorted(by_n)
    found = n_at(points)
    reached = [n for n in sorted(by_n) if np.median(by_n[n]) >= 0.99]
    assert found == (reached[0] if reached else None)


@settings(max_examples=80)
@given(curves)
def test_area_is_a_weighted_mean_of_the_curve(by_n):
    points = curve(by_n)
    area = area_under_curve(points)
    means = [p.mean for p in points]
    assert min(means) - 1e-9 <= area <= max(means) + 1e-9


@settings(max_examples=40)
@given(st.lists(st.integers(1, 4096), min_size=1, max_size=6, unique=True), accuracies)
def test_area_of_a_flat_curve_is_its_level(sizes, level):
    assert area_under_curve(curve({n: [level] for n in sizes})) == pytest.approx(level)


def test_area_uses_a_log_axis():
    # 0 at n=1, 1 at n=2 and n=1024: on a log2 axis the ramp is 1 of 10 units long.
    points = curve({1: [0.0], 2: [1.0], 1024: [1.0]})
    assert area_under_curve(points) == pytest.approx(0.95)


def test_most_frequent_program():
    programs = [("x+y", 10.0), ("y+x", 10.0), ("x+y", 10.0), (None, None), ("x", 3.0)]
    assert most_frequent(programs) == ("x+y", 10.0, 2)
    assert most_frequent([("b", 5.0), ("a", 9.0)]) == ("b", 5.0, 1)  # tie: fewer bits
    assert most_frequent([(None, None)]) is None
