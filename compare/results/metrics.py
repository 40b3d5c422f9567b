"""Metrics over stored cells: learning curves with confidence bands, n@99, area under the curve, and
the most frequent short text (a mechanism summary) at each size.

All functions are pure and take plain numbers, so the properties are easy to test. Intervals come
from :mod:`compare.results.stats` (percentile bootstrap over seeds: inside [0, 1] for accuracies,
none from a single seed).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compare.results.stats import Interval, bootstrap

#: Accuracy a method must reach (median over seeds) for ``n@99``.
THRESHOLD = 0.99


@dataclass(frozen=True)
class Point:
    """Accuracy at one training size over seeds: the mean with the ends of its 95% bootstrap interval
    (NaN from fewer than two seeds: :data:`compare.results.stats.MIN_VALUES`), and the median."""

    n: int
    mean: float
    low: float
    high: float
    median: float
    seeds: int

    @property
    def interval(self) -> Interval:
        return Interval(self.mean, self.low, self.high, self.seeds)


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """The mean of the finite values and the two ends of its 95% bootstrap interval
    (:func:`compare.results.stats.bootstrap`; NaN ends from fewer than two values, all NaN from none)."""
    interval = bootstrap(values)
    return interval.estimate, interval.low, interval.high


def curve(by_n: dict[int, Sequence[float]]) -> list[Point]:
    """The learning curve: one point per size with at least one finite value, sorted by n."""
    points = []
    for n in sorted(by_n):
        finite = [v for v in by_n[n] if v is not None and not math.isnan(v)]
        if not finite:
            continue
        mean, low, high = mean_ci(finite)
        points.append(Point(n, mean, low, high, float(np.median(finite)), len(finite)))
    return points


def first_n_at(medians: Iterable[tuple[int, float]], threshold: float = THRESHOLD) -> int | None:
    """The smallest n of ``(n, median accuracy over seeds)`` whose median is ≥ ``threshold``; None
    when never reached: the one definition of n@99 (tables, the report's cross-task ranks)."""
    return next((n for n, median in sorted(medians) if median >= threshold), None)


def n_at(points: Sequence[Point], threshold: float = THRESHOLD) -> int | None:
    """The smallest n whose median accuracy over seeds is ≥ ``threshold``; None when never reached."""
    return first_n_at(((p.n, p.median) for p in points), threshold)


def area_under_curve(points: Sequence[Point]) -> float:
    """Area under the mean learning curve on a log2(n) axis, divided by the axis length (so in [0, 1]
    for accuracies; the accuracy itself for a one-point curve). Only comparable over equal sizes."""
    if not points:
        return math.nan
    if len(points) == 1:
        return points[0].mean
    x = np.log2([p.n for p in points])
    y = np.asarray([p.mean for p in points])
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


def most_frequent(programs: Sequence[tuple[str, float | None]]) -> tuple[str, float | None, int] | None:
    """The most frequent program with its bits and its count; ties go to the fewer bits, then the text."""
    counts = Counter(program for program, _ in programs if program)
    if not counts:
        return None
    bits = {program: b for program, b in programs if program}
    best = min(counts, key=lambda p: (-counts[p], bits[p] if bits[p] is not None else math.inf, p))
    return best, bits[best], counts[best]


@dataclass(frozen=True)
class TextPoint:
    """What most cells of one size say in words (e.g. a mechanism summary ``"k=4,17 r=1.00"``):
    the most frequent text, how many of the size's ``seeds`` cells said it, and the mean over those
    cells of each number stored beside it."""

    n: int
    text: str | None
    count: int
    seeds: int
    numbers: dict[str, float]


def most_frequent_text(texts: Sequence[str | None]) -> tuple[str, int] | None:
    """The most frequent non-empty text and its count; ties go to the shorter, then alphabetical."""
    counts = Counter(text for text in texts if text)
    if not counts:
        return None
    best = min(counts, key=lambda text: (-counts[text], len(text), text))
    return best, counts[best]


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def text_curve(by_n: dict[int, Sequence[dict[str, Any] | str | None]]) -> list[TextPoint]:
    """Per size, sorted by n, the most frequent ``"text"`` of the entries (a dict with a ``"text"``
    and numbers, a bare text, or None for a cell that has none) and the mean of each finite number
    (booleans are not numbers here); sizes where no cell has an entry are left out."""
    points = []
    for n in sorted(by_n):
        entries = [e for e in by_n[n] if e is not None]
        if not entries:
            continue
        texts = [e if isinstance(e, str) else e.get("text") for e in entries]
        numbers: dict[str, list[float]] = {}
        for entry in entries:
            if isinstance(entry, dict):
                for name, value in entry.items():
                    if _finite_number(value):
                        numbers.setdefault(name, []).append(float(value))
        mode = most_frequent_text([t if isinstance(t, str) else None for t in texts])
        points.append(TextPoint(n, mode[0] if mode else None, mode[1] if mode else 0, len(by_n[n]),
                                {name: float(np.mean(values)) for name, values in sorted(numbers.items())}))
    return points
