"""The one place where dlps turns stored numbers into estimates with intervals: the table
(:mod:`compare.results.tables` through :mod:`compare.results.metrics`), the plots' bands
(:mod:`compare.results.plots`) and the report (:mod:`compare.results.report`,
:mod:`compare.results.report_stats`, :mod:`compare.results.claims`) all call it.

**Which interval, and why.** Every interval is a 95% *percentile bootstrap* interval: the statistic
(a mean or a median) is recomputed on :data:`REPS` resamples, with replacement, of the independent
units (seeds of a cell, cells, operations), and the interval runs from the 2.5th to the 97.5th
percentile of those values. A resampled mean or median never leaves the range of the values it
resamples, so the interval of an accuracy or a share stays inside [0, 1], a number of steps stays
≥ 0, and so on, without clipping: the Student-t interval used before gave ``72.0 ± 47.3`` (up to
119%) from two seeds at 44% and 100%. Wilson's score interval also stays in range, but it is an
interval for a binomial proportion of independent trials; our proportions are means over seeds of
accuracies, or shares of a program's subexpressions (not independent of one another), so it would
count the wrong unit. The bootstrap resamples the unit that is independent. :func:`wilson` is here
for the one case it fits, a count of independent successes.

**What it cannot do.** With k values the bootstrap sees at most k^k resamples: it is too narrow for
small k and has zero width when every value is the same. So no interval is computed from fewer than
:data:`MIN_VALUES` values (its text is ``n/a`` with the count), every interval is printed with the
count it rests on, and each claim of the report states the smallest sample it decides from
(:mod:`compare.results.claims`).

**Censored values.** A value that was never observed ("never reached 99%", "no emergence") is not a
number: callers leave it out of the statistic and say how many were left out (:func:`censored_text`);
where a bound is known (n@99 > the largest n tried), they say the estimate is a bound.

Resampling is seeded (:data:`SEED`), so the same store gives the same intervals every time. Only
numpy is imported: reading a store stays light.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

#: Confidence level of every interval.
LEVEL = 0.95
#: Bootstrap resamples: with 2,000 the ends of a 95% interval move by about 1% of its width between
#: seeds, below the one or two decimals printed.
REPS = 2000
#: The resampling seed: the same values always give the same interval.
SEED = 0
#: No interval from fewer values than this: one value has no spread to resample.
MIN_VALUES = 2


@dataclass(frozen=True)
class Interval:
    """An estimate, the ends of its 95% interval (NaN when there are fewer than :data:`MIN_VALUES`
    values) and the number of finite values it rests on."""

    estimate: float
    low: float
    high: float
    count: int

    @property
    def has_interval(self) -> bool:
        return self.count >= MIN_VALUES and math.isfinite(self.low) and math.isfinite(self.high)

    def scaled(self, factor: float) -> Interval:
        """The same interval with every number multiplied by ``factor`` (e.g. 100 for percent)."""
        return Interval(self.estimate * factor, self.low * factor, self.high * factor, self.count)


def finite(values: Iterable[float | None]) -> np.ndarray:
    """The finite values (None, NaN and infinities left out) as a float array."""
    return np.asarray([float(v) for v in values if v is not None and math.isfinite(float(v))], dtype=float)


def percentile_interval(samples: Iterable[float], level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` interval of the finite ``samples`` (NaN, NaN when none are finite)."""
    data = finite(samples)
    if data.size == 0:
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    return float(np.percentile(data, tail)), float(np.percentile(data, 100 - tail))


def bootstrap(
    values: Iterable[float | None],
    statistic: Callable[..., np.ndarray] = np.mean,
    reps: int = REPS,
    seed: int = SEED,
    level: float = LEVEL,
) -> Interval:
    """``statistic`` (a numpy reduction taking ``axis``: ``np.mean``, ``np.median``) of the finite
    ``values`` with its percentile bootstrap interval; the interval is NaN below :data:`MIN_VALUES`
    values, and the estimate too when there are none."""
    data = finite(values)
    if data.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    estimate = float(statistic(data))
    if data.size < MIN_VALUES:
        return Interval(estimate, math.nan, math.nan, int(data.size))
    rng = np.random.default_rng(seed)
    resampled = statistic(data[rng.integers(data.size, size=(reps, data.size))], axis=1)
    low, high = percentile_interval(resampled, level)
    return Interval(estimate, low, high, int(data.size))


def wilson(successes: int, trials: int, level: float = LEVEL) -> Interval:
    """The share ``successes / trials`` of independent trials with Wilson's score interval (inside
    [0, 1] and of non-zero width even at 0 or 1); NaN for no trials, no interval for one."""
    if trials <= 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    share = successes / trials
    if trials < MIN_VALUES:
        return Interval(share, math.nan, math.nan, trials)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    # At a share of 0 or 1 the score interval's end is exactly that share; rounding may miss it.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(share, low, high, trials)


def plural(count: int, word: str, words: str | None = None) -> str:
    """``"1 task"``, ``"3 tasks"``: a count with its noun in the right number (``words`` for an
    irregular plural)."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def number_text(value: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals, ``n/a`` for None or NaN."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def interval_text(interval: Interval, digits: int = 2, unit: str = "value", count: bool = False) -> str:
    """``"72.0 [0.0, 100.0]"``; below :data:`MIN_VALUES` values ``"50.0 [n/a: 1 seed]"`` (the count
    named with ``unit``); ``"n/a"`` with no value. ``count``: a full interval is followed by its count
    too, ``"479 [212, 862] (3 cells)"``."""
    if interval.count == 0 or not math.isfinite(interval.estimate):
        return "n/a"
    estimate = number_text(interval.estimate, digits)
    if not interval.has_interval:
        return f"{estimate} [n/a: {plural(interval.count, unit)}]"
    text = f"{estimate} [{number_text(interval.low, digits)}, {number_text(interval.high, digits)}]"
    return text + (f" ({plural(interval.count, unit)})" if count else "")


def censored_text(observed: int, total: int, never: str = "never") -> str:
    """What a statistic over the observed values leaves out: ``""`` when nothing, else e.g.
    ``"never in 1 of 3"``."""
    return "" if observed >= total else f"{never} in {total - observed} of {total}"
