"""The learner contract, and the registry of learners by method name.

Every learner (the synthesizer, each network, each classic baseline) follows scikit-learn's
estimator API with one signature for all:

- ``__init__`` takes keyword parameters only and stores them unchanged (``random_state`` included);
  each numeric one has a declared range (:class:`Range` in ``param_ranges``), checked at the
  boundary by :func:`check_params`;
- ``fit(X, y, *, mask=None, eval_sets=None)`` returns ``self``: ``X`` (n, k) integer inputs, ``y``
  (n,) labels or (n, L) per-position targets scored where ``mask`` is True (without a mask, where
  ``y != UNSCORED``); ``eval_sets`` (name → :class:`tasks.Split`) are what a learner may log while it
  trains (a network's history) and never use to choose anything;
- ``predict(X)`` and ``score(X, y, mask=None)`` (masked accuracy);
- fitted attributes end in ``_``; ``fitted_summary()`` gives what the learner learned as plain
  values (a program and its bits, steps to fit), for result tables.

A learner class registers itself with :func:`register_learner` in the file that defines it. The
class attributes below tell the comparison stage what it needs to know without naming any learner.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from tasks.base import UNSCORED, SpecError, Split, accuracy

#: Learner classes by method name (the part of a method spec before the colon).
LEARNERS: dict[str, type] = {}


def register_learner(name: str) -> Callable[[type], type]:
    """Class decorator: make the learner reachable as method ``name`` in method specs."""

    def register(cls: type) -> type:
        cls.method_name = name
        LEARNERS[name] = cls
        return cls

    return register


@dataclass(frozen=True)
class Range:
    """The accepted values of a numeric parameter: ``low``/``high`` bounds (inclusive unless
    ``open_low``/``open_high``), finite; ``None`` accepted where ``optional``."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def accepts(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    def __str__(self) -> str:
        low = "-inf" if math.isinf(self.low) else f"{self.low:g}"
        high = "inf" if math.isinf(self.high) else f"{self.high:g}"
        opens = "(" if self.open_low or math.isinf(self.low) else "["
        closes = ")" if self.open_high or math.isinf(self.high) else "]"
        return f"{opens}{low}, {high}{closes}"


#: Shorthands for the common ranges.
POSITIVE = Range(0, open_low=True)
AT_LEAST_1 = Range(1)
NON_NEGATIVE = Range(0)
FRACTION = Range(0, 1)
OPEN_FRACTION = Range(0, 1, open_low=True, open_high=True)


def check_params(learner: Any) -> None:
    """SpecError naming the first parameter of ``learner`` outside its declared range (or of a
    choice parameter not among its choices)."""
    name = getattr(learner, "method_name", type(learner).__name__)
    for key, rng in getattr(learner, "param_ranges", {}).items():
        value = getattr(learner, key)
        if value is None:
            continue
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float) or not rng.accepts(float(v)):
                raise SpecError(f"{name}: {key}={v!r} is out of range; accepted: {rng}")
    for key, choices in getattr(learner, "param_choices", {}).items():
        value = getattr(learner, key)
        if value not in choices:
            raise SpecError(f"{name}: {key}={value!r} is not accepted; accepted: {', '.join(choices)}")


class LearnerInfo:
    """Class attributes of the learner contract (mixed into every learner; defaults shown).

    ``budget_params``: run-wide budget name → the parameter it sets (``{"steps": "steps"}``).
    ``not_canonical``: parameters a canonical method spec leaves out (those from the data, the seed);
    ``omit_when_default``: those it writes only when they differ from the default (the device).
    ``param_ranges`` / ``param_choices``: what :func:`check_params` enforces (:meth:`check`).
    """

    method_name: ClassVar[str] = ""
    budget_params: ClassVar[dict[str, str]] = {}
    not_canonical: ClassVar[tuple[str, ...]] = ("random_state",)
    omit_when_default: ClassVar[tuple[str, ...]] = ()
    param_ranges: ClassVar[dict[str, Range]] = {}
    param_choices: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: True for learners trained in steps whose checkpoints and hooks mechanism analysis can read.
    has_model: ClassVar[bool] = False
    #: True for learners whose fit finds a program with its description length (``program_``,
    #: ``bits_``, ``found_``): what the program-side analyses read (the synthesizer).
    finds_programs: ClassVar[bool] = False
    #: True where many fits of one spec can run as one batched job (``baselines.fit_many``).
    batchable: ClassVar[bool] = False
    #: True where ``fit`` takes per-position targets (``y`` of shape (n, L) scored where ``mask`` is
    #: True); a learner that declares False raises :class:`NotApplicable` from ``data_params`` for
    #: such data and ValueError from ``fit`` (both checked by :func:`tasks.contract.check_learner`).
    takes_per_position: ClassVar[bool] = True

    @classmethod
    def data_params(cls, split: Split, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters taken from the training data (given the spec's own ``params``): vocabulary
        sizes, the pad id, a DSL fitted to the data. Raise :class:`NotApplicable` when the learner
        cannot take such data at all."""
        return {}

    @classmethod
    def fingerprint(cls, params: dict[str, Any]) -> str:
        """What decides this learner's results beyond its parameters (the semantics of a DSL, a
        model's code version), as a short string that changes when they change."""
        return ""

    def check(self) -> None:
        """SpecError naming the first parameter that is out of range (called before any work)."""
        check_params(self)

    def fitted_summary(self) -> dict[str, Any]:
        """What the fitted learner learned, as plain JSON-able values (none by default)."""
        return {}

    def score(self, X: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> float:
        """Accuracy of ``predict(X)`` against ``y``, over ``mask`` (default: entries ``y != -1``).

        One definition for every learner, so that every result table scores them alike."""
        y = np.asarray(y)
        if mask is None and y.ndim == 2:
            mask = y != UNSCORED
        return accuracy(y, self.predict(X), mask)


class NotApplicable(SpecError):
    """A method cannot handle a task's data (raised while resolving; the message names both)."""
