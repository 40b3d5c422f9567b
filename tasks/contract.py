"""A reusable check of the learner contract (:mod:`tasks.learners`), like scikit-learn's
``check_estimator``: ``check_learner(cls)`` fits small instances of a learner class on tiny data and
raises :class:`AssertionError`, naming the learner and what it broke, at the first failure.

What is checked depends only on what the class declares (:class:`tasks.learners.LearnerInfo`'s flags,
``budget_params``, ``param_ranges``), never on its name, so a new learner is checked by registering it:

- ``__init__`` takes keyword parameters only, ``random_state`` among them, and stores each one
  unchanged; every numeric one has a declared range, which ``check()`` enforces (as it does the
  declared choices), and the defaults pass ``check()``;
- ``get_params``/``set_params`` round-trip, and ``sklearn.base.clone`` rebuilds an equal learner;
- ``fit(X, y, *, mask=None, eval_sets=None)`` returns ``self`` and adds attributes ending in ``_``
  only; ``predict`` gives int64 labels of the right shape and range; ``score`` is the masked accuracy
  of ``predict``; ``fitted_summary()`` is JSON-able;
- the same ``random_state`` gives the same predictions, whatever the global random state;
- per-position targets (``takes_per_position``): a mask means what ``UNSCORED`` labels mean; a learner
  that declares it does not take them refuses them (:class:`NotApplicable` from ``data_params``,
  ``ValueError`` from ``fit``).

Fits run under small run-wide budgets (:data:`QUICK_BUDGETS`, applied through each class's
``budget_params`` as a grid applies them), so a check of a network trains for a few steps only.
"""

from __future__ import annotations

import inspect
import json
import math
import random
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.base import clone

from tasks.base import UNSCORED, Split, accuracy
from tasks.errors import SpecError
from tasks.learners import LearnerInfo, NotApplicable
from tasks.spec import param_types

#: The run-wide budgets the checks fit under (budget name → value; see ``LearnerInfo.budget_params``):
#: a few optimizer steps for a network, a capped search for the synthesizer.
QUICK_BUDGETS: Mapping[str, Any] = {"steps": 5, "candidates": 20_000}

#: One check: the learner class and the budgets to fit it under; AssertionError when it fails.
Check = Callable[[type, Mapping[str, Any]], None]


def _require(ok: bool, cls: type, what: str) -> None:
    """AssertionError naming ``cls`` when ``ok`` is False (not ``assert``: checks must run under -O)."""
    if not ok:
        raise AssertionError(f"{getattr(cls, 'method_name', '') or cls.__name__}: {what}")


def _raises(
    error: type[Exception] | tuple[type[Exception], ...],
    call: Callable[..., object],
    *args: Any,
    **kwargs: Any,
) -> bool:
    """Whether ``call(*args, **kwargs)`` raises ``error``."""
    try:
        call(*args, **kwargs)
    except error:
        return True
    return False


def single_label_split(n: int = 40, p: int = 7) -> Split:
    """Addition mod ``p`` on ``n`` random pairs: fixed-width inputs, one label each."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, p, size=(n, 2))
    return Split(X=X, y=(X[:, 0] + X[:, 1]) % p, d_vocab=p, n_classes=p, columns=("x", "y"))


def per_position_split(n: int = 24, length: int = 5, vocab: int = 3) -> Split:
    """Each token is the one before it (rolled), scored everywhere but the first position."""
    rng = np.random.default_rng(2)
    X = rng.integers(0, vocab, size=(n, length))
    mask = np.ones(X.shape, bool)
    mask[:, 0] = False
    y = np.where(mask, np.roll(X, 1, axis=1), UNSCORED)
    columns = tuple(f"t{i}" for i in range(length))
    return Split(X=X, y=y, d_vocab=vocab, n_classes=vocab, columns=columns, mask=mask)


def learner_params(
    cls: type, split: Split, budgets: Mapping[str, Any], random_state: int = 0
) -> dict[str, Any]:
    """The parameters the checks give ``cls`` for data like ``split``: the ``budgets`` it takes, the
    seed, then those it takes from the data (the rest keep their defaults)."""
    given: dict[str, Any] = {param: budgets[b] for b, param in cls.budget_params.items() if b in budgets}
    given["random_state"] = random_state
    return given | cls.data_params(split, given)


def make(cls: type, split: Split, budgets: Mapping[str, Any], random_state: int = 0) -> Any:
    """An unfitted learner of class ``cls`` built from :func:`learner_params`, its ``check()`` passed."""
    learner = cls(**learner_params(cls, split, budgets, random_state))
    learner.check()
    return learner


def _disturb_global_random_state(seed: int) -> None:
    """Seed every global generator a learner might wrongly draw from (torch's only where some learner
    already imported it: the check itself needs no torch)."""
    np.random.seed(seed)
    random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _numeric(kind: Any) -> bool:
    """Whether a parameter type is a number, optionally None, or a tuple of numbers."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        return any(_numeric(k) for k in typing.get_args(kind) if k is not type(None))
    if typing.get_origin(kind) is tuple:
        return _numeric(typing.get_args(kind)[0])
    return kind in (int, float)


def check_init(cls: type, budgets: Mapping[str, Any]) -> None:
    """Keyword-only parameters with ``random_state`` among them, stored unchanged; numeric ones have
    declared ranges, choices hold their defaults, and the defaults pass ``check()``."""
    _require(issubclass(cls, LearnerInfo), cls, "does not inherit tasks.learners.LearnerInfo")
    signature = inspect.signature(cls.__init__)
    params = [p for name, p in signature.parameters.items() if name != "self"]
    positional = [p.name for p in params if p.kind is not p.KEYWORD_ONLY]
    _require(not positional, cls, f"__init__ takes parameters that are not keyword-only: {positional}")
    names = {p.name for p in params}
    _require("random_state" in names, cls, "__init__ takes no random_state")
    unranged = [name for name, kind in param_types(cls).items()
                if _numeric(kind) and name != "random_state" and name not in cls.param_ranges]
    _require(not unranged, cls, f"numeric parameters without a declared range (param_ranges): {unranged}")
    declared = set(cls.param_ranges) | set(cls.param_choices)
    _require(declared <= names, cls, f"ranges or choices for unknown parameters: {sorted(declared - names)}")
    default = cls()
    default.check()
    for key, choices in cls.param_choices.items():
        value = getattr(default, key)
        _require(value in choices, cls, f"default {key}={value!r} is not among its choices {choices}")
    given = learner_params(cls, single_label_split(), budgets, random_state=3)
    stored = cls(**given).get_params(deep=False)
    changed = [name for name in given if stored.get(name, object()) is not given[name]]
    _require(not changed, cls, f"parameters not stored unchanged (as given to __init__): {changed}")


def check_declared_ranges(cls: type, budgets: Mapping[str, Any]) -> None:
    """``check()`` refuses a value outside each declared range or choice, in one line naming the
    parameter and what is accepted."""
    for key, rng in cls.param_ranges.items():
        learner = cls(**{key: math.nan})
        try:
            learner.check()
        except SpecError as exc:
            message = str(exc)
            _require(f"{key}=nan" in message and str(rng) in message and "\n" not in message, cls,
                     f"check() refuses {key}=nan without naming it and {rng} in one line: {message!r}")
        else:
            _require(False, cls, f"check() accepts {key}=nan, outside its declared range {rng}")
    for key in cls.param_choices:
        learner = cls(**{key: "not-a-choice"})
        refused = _raises(SpecError, learner.check)
        _require(refused, cls, f"check() accepts {key}='not-a-choice', not among its choices")


def check_params_round_trip(cls: type, budgets: Mapping[str, Any]) -> None:
    """``clone`` gives an equal learner; ``set_params`` sets; the parameters rebuild the learner."""
    learner = make(cls, single_label_split(), budgets)
    params = learner.get_params()
    copy = clone(learner)
    _require(copy is not learner and copy.get_params() == params, cls, "clone changes the parameters")
    _require(copy.set_params(random_state=7) is copy, cls, "set_params does not return the learner")
    _require(copy.get_params()["random_state"] == 7, cls, "set_params(random_state=7) is not kept")
    _require(cls(**params).get_params() == params, cls, "cls(**get_params()) gives other parameters")


def check_fit_predict_score(cls: type, budgets: Mapping[str, Any]) -> None:
    """One signature for all: ``fit`` returns self and adds fitted attributes ending in ``_``;
    ``predict`` labels in range; ``score`` is the accuracy of ``predict``; the summary is JSON-able."""
    split = single_label_split()
    learner = make(cls, split, budgets)
    before = set(vars(learner))
    _require(learner.fit(split.X, split.y, mask=None, eval_sets={"test": split}) is learner,
             cls, "fit does not return self")
    fitted = set(vars(learner)) - before
    _require(bool(fitted), cls, "fit sets no fitted attribute")
    odd = sorted(a for a in fitted if not a.endswith("_"))
    _require(not odd, cls, f"fitted attributes not ending in _: {odd}")
    pred = learner.predict(split.X[:9])
    _require(pred.shape == (9,) and pred.dtype == np.int64, cls, f"predict gives {pred.shape} {pred.dtype}")
    _require(bool(((0 <= pred) & (pred < split.n_classes)).all()), cls, "predict gives labels out of range")
    score = learner.score(split.X, split.y)
    _require(0.0 <= score <= 1.0, cls, f"score {score} outside [0, 1]")
    _require(score == accuracy(split.y, learner.predict(split.X)), cls, "score is not predict's accuracy")
    _require(learner.score(split.X, split.y, mask=None) == score, cls, "score with mask=None differs")
    summary = learner.fitted_summary()
    _require(isinstance(summary, dict), cls, "fitted_summary is not a dict")
    plain = not _raises((TypeError, ValueError), json.dumps, summary)
    _require(plain, cls, "fitted_summary is not JSON-able")


def check_same_seed_same_predictions(cls: type, budgets: Mapping[str, Any]) -> None:
    """The learner's own ``random_state`` decides, not the global random state."""
    split = single_label_split()
    _disturb_global_random_state(0)
    a = make(cls, split, budgets, random_state=3).fit(split.X, split.y).predict(split.X)
    _disturb_global_random_state(1)
    b = make(cls, split, budgets, random_state=3).fit(split.X, split.y).predict(split.X)
    _require(np.array_equal(a, b), cls, "the same random_state gives other predictions")


def check_per_position(cls: type, budgets: Mapping[str, Any]) -> None:
    """Per-position targets: ``mask`` False and ``y = UNSCORED`` mean the same, in ``fit`` and in
    ``score`` (``takes_per_position``); or they are refused where the class says it does not take them."""
    split = per_position_split()
    X, y, mask = split.X, np.roll(split.X, 1, axis=1), split.mask
    if not cls.takes_per_position:
        refused = _raises(NotApplicable, cls.data_params, split, {})
        _require(refused, cls, "takes_per_position is False, but data_params accepts per-position data")
        learner = make(cls, single_label_split(), budgets)
        refused = _raises(ValueError, learner.fit, X, split.y, mask=mask)
        _require(refused, cls, "takes_per_position is False, but fit accepts per-position targets")
        return
    learner = make(cls, split, budgets)
    masked = clone(learner).fit(X, y, mask=mask).predict(X)
    unscored = clone(learner).fit(X, split.y).predict(X)
    _require(masked.shape == y.shape, cls, f"per-position predict gives {masked.shape}, not {y.shape}")
    _require(np.array_equal(masked[mask], unscored[mask]), cls, "a mask and UNSCORED labels fit differently")
    learner.fit(X, y, mask=mask)
    score = learner.score(X, y, mask=mask)
    _require(score == learner.score(X, split.y), cls, "score with a mask differs from it on UNSCORED labels")
    _require(score == accuracy(y, learner.predict(X), mask), cls, "score is not predict's masked accuracy")


#: Every check, in the order :func:`check_learner` runs them.
CHECKS: tuple[Check, ...] = (
    check_init,
    check_declared_ranges,
    check_params_round_trip,
    check_fit_predict_score,
    check_same_seed_same_predictions,
    check_per_position,
)


def check_learner(cls: type, *, budgets: Mapping[str, Any] = QUICK_BUDGETS) -> None:
    """Run every check of the learner contract on class ``cls`` (see the module docstring);
    AssertionError naming the learner and the broken rule at the first failure."""
    for check in CHECKS:
        check(cls, budgets)
