"""Method specs → learners: every registered learner (:mod:`tasks.learners`) behind one interface.

A method spec uses the spec grammar (``mlp:d_embed=64``, ``synth:dsl=(arith:p=97)``). For a task a
spec is *resolved*: parameters from the data, the defaults for the data's shape
(:mod:`compare.settings.defaults`), the spec's own parameters and the run's budgets, in that order, give the
canonical spec a cell is keyed by, so two runs with different budgets never share a cell.

A method that cannot handle a task (the synthesizer on data no DSL fits) raises
:class:`NotApplicable` when it is resolved: an explicit grid then stops with an error naming both,
and a preset skips the pair with a visible note (:func:`compare.grid.build_cells`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import baselines  # noqa: F401  (registers the networks and the classic baselines)
import synth  # noqa: F401  (registers the synthesizer)
from compare.settings.defaults import defaults_for
from tasks import SpecError, Split, Task
from tasks.learners import LEARNERS, NotApplicable
from tasks.spec import join_spec, param_types, split_spec, typed_params

__all__ = ["Budgets", "NotApplicable", "canonical_spec", "fingerprint", "learner_class", "make_learner"]


@dataclass(frozen=True)
class Budgets:
    """Run-wide budgets, applied to the methods that take them (None: the method's default).

    ``steps``: optimizer steps of a network; for the synthesizer, ``candidates`` (programs tried),
    ``max_bits`` (description-length bound) and ``seconds`` (time limit per fit: makes results depend
    on the machine's speed, unlike the others). Each method names the budgets it takes
    (``budget_params``).
    """

    steps: int | None = None
    candidates: int | None = None
    max_bits: float | None = None
    seconds: float | None = None

    def for_method(self, cls: type) -> dict[str, Any]:
        """The parameters these budgets set on learners of class ``cls``."""
        given = {name: getattr(self, name) for name in ("steps", "candidates", "max_bits", "seconds")}
        budgets = cls.budget_params.items()
        return {param: given[budget] for budget, param in budgets if given[budget] is not None}


def method_names() -> list[str]:
    """Every registered method, alphabetically (registration order follows import order)."""
    return sorted(LEARNERS)


def network_methods() -> tuple[str, ...]:
    """The methods whose learners train a network (``has_model``), in registration order: the
    learners the report's network tables and claims read."""
    return tuple(name for name, cls in LEARNERS.items() if cls.has_model)


def program_methods() -> tuple[str, ...]:
    """The methods whose learners find a program (``finds_programs``: the synthesizer): the side the
    report's claims set against the networks."""
    return tuple(name for name, cls in LEARNERS.items() if cls.finds_programs)


def learner_class(name: str) -> type:
    """The learner class of method ``name``; SpecError naming the accepted methods."""
    if name not in LEARNERS:
        raise SpecError(f"unknown method {name!r}; accepted: {', '.join(method_names())}")
    return LEARNERS[name]


def parse_method(spec: str) -> tuple[str, dict[str, Any]]:
    """``"transformer:n_layers=2"`` → ``("transformer", {"n_layers": 2})``; SpecError for unknown names
    and for parameters that come from elsewhere (the seed, the data)."""
    name, raw = split_spec(spec)
    cls = learner_class(name)
    if "random_state" in raw:
        raise SpecError(f"{name}: random_state comes from the seed (--seed/--seeds), not the spec")
    return name, typed_params(cls, name, raw, skip=("random_state",))


def make_learner(spec: str, split: Split | None = None, **overrides: Any):
    """A configured, checked, unfitted learner for ``spec`` on data like ``split``.

    Parameters come from the defaults for the data's shape, then the spec, then ``overrides`` (a
    run's budgets, the seed), then the data (vocabulary sizes, a DSL completed from the data; a
    learner keeps the values a spec gives where it can); an unknown or out-of-range one raises
    SpecError.
    """
    name, params = parse_method(spec)
    cls = learner_class(name)
    accepted = list(param_types(cls))
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise SpecError(f"{name}: unknown parameter {unknown[0]!r}; accepted: {', '.join(accepted)}")
    given = {**defaults_for(name, split), **params, **overrides}
    if split is not None:
        given |= cls.data_params(split, given)
    learner = cls(**given)
    learner.check()
    return learner


def canonical_spec(spec: str, split: Split | None = None, **overrides: Any) -> str:
    """The spec with every setting written out (defaults included; data parameters and seed left out),
    so that equal specs mean equal learners; :func:`make_learner` turns it back into the same learner
    (given the same data and seed)."""
    learner = make_learner(spec, split, **overrides)
    cls = type(learner)
    defaults = cls().get_params(deep=False)
    from_data = {}
    if split is not None and set(cls.not_canonical) - {"random_state"}:
        from_data = cls.data_params(split, {})
    params = learner.get_params(deep=False)

    def written(key: str) -> bool:
        if key == "random_state":
            return False  # the cell's seed
        if key in cls.not_canonical:  # taken from the data, unless a spec set another value
            return params[key] != from_data.get(key, defaults[key])
        return key not in cls.omit_when_default or params[key] != defaults[key]

    return join_spec(cls.method_name, {key: params[key] for key in param_types(cls) if written(key)})


def fingerprint(spec: str) -> str:
    """What decides a method's results beyond its spec (:meth:`tasks.learners.LearnerInfo.fingerprint`)."""
    name, params = parse_method(spec)
    return learner_class(name).fingerprint(params)


def resolve(spec: str, task: Task, budgets: Budgets = Budgets()) -> str:
    """The canonical spec of method ``spec`` on ``task`` with defaults and budgets filled in."""
    cls = learner_class(split_spec(spec)[0])
    try:
        return canonical_spec(spec, task.test_split(), **budgets.for_method(cls))
    except NotApplicable as exc:
        name = cls.method_name
        raise NotApplicable(f"method {name!r} does not apply to task {task.spec!r}: {exc}") from None


def build(spec: str, task: Task, seed: int):
    """The unfitted learner of a cell: canonical ``spec`` on ``task``'s data, seeded with ``seed``."""
    return make_learner(spec, task.test_split(), random_state=seed)
