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
@given(st.lists(accuracies, min_size=1, max_size=10))
def test_ci_contains_the_mean_and_is_symmetric(values):
    mean, low, high = mean_ci(values)
    assert mean == pytest.approx(np.mean(values))
    assert low <= mean + 1e-12 and mean - 1e-12 <= high
    assert (mean - low) == pytest.approx(high - mean, abs=1e-12)
    if len(set(values)) == 1:
        assert high - low == pytest.approx(0, abs=1e-12)


def test_ci_matches_the_t_interval():
    mean, low, high = mean_ci([0.0, 1.0])
    # t(0.975, 1) = 12.706; sd = 0.7071; sqrt(2): half-width = 12.706 * 0.5
    assert (mean, round(high - mean, 3)) == (0.5, 6.353)
    assert math.isnan(mean_ci([])[0])


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
