"""The methods a grid can run: every learner of the project behind one small interface.

A method spec uses the task-spec syntax (``mlp:d_model=64``). For each task a spec is *resolved*:
the per-task defaults and the run's budgets are filled in, giving the canonical spec a cell is keyed
by, so two runs with different budgets never share a cell.

A method that cannot handle a task (the synthesizer on a family no DSL fits yet) says so when it is
resolved: an explicit grid then stops with an error naming both, and a preset skips the pair with a
visible note (:func:`compare.grid.build_cells`); it is never a failed cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tasks import SpecError, Split, Task
from tasks.spec import split_spec


class NotApplicable(SpecError):
    """A method cannot handle a task (raised while resolving; the message names both)."""


@dataclass(frozen=True)
class Budgets:
    """Run-wide budgets, applied to the methods that take them (None: the method's default).

    ``steps``: optimizer steps of a network; for the synthesizer, ``candidates`` (programs tried),
    ``max_bits`` (description-length bound) and ``seconds`` (time limit per fit: makes results depend
    on the machine's speed, unlike the others).
    """

    steps: int | None = None
    candidates: int | None = None
    max_bits: float | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class Method:
    """One learner family as the grid sees it.

    ``resolve(params, task, budgets)`` returns the canonical spec for ``task`` (raising SpecError for
    an unknown parameter); ``build(spec, task, seed)`` the unfitted learner; ``fit(learner, train,
    test)`` trains it (test is passed only so that networks can record when they generalize, never
    for early stopping); ``inspect(learner)`` the extra metrics (``CellResult`` field names);
    ``save(learner, folder)`` writes artefacts and returns their paths. ``fit_many`` (optional) fits
    all cells of one task and method at once and returns one fitted learner per (n, seed).
    """

    name: str
    summary: str
    resolve: Callable[[dict[str, str], Task, Budgets], str]
    build: Callable[[str, Task, int], Any]
    fit: Callable[[Any, Split, Split], None] = field(default=lambda learner, train, test: learner.fit(
        train.X, train.y))
    inspect: Callable[[Any], dict[str, Any]] = field(default=lambda learner: {})
    save: Callable[[Any, str], list[str]] | None = None
    fit_many: Callable[[str, Task, Sequence[tuple[int, int]]], list[Any]] | None = None


METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Make ``method`` reachable by its name in method specs."""
    METHODS[method.name] = method
    return method


def get_method(spec: str) -> tuple[Method, dict[str, str]]:
    """The method named by ``spec`` and its text parameters; SpecError naming the accepted names."""
    name, params = split_spec(spec)
    if name not in METHODS:
        raise SpecError(f"unknown method {name!r}; accepted: {', '.join(sorted(METHODS)) or '(none)'}")
    return METHODS[name], params


def resolve(spec: str, task: Task, budgets: Budgets = Budgets()) -> str:
    """The canonical spec of method ``spec`` on ``task`` with defaults and budgets filled in."""
    method, params = get_method(spec)
    return method.resolve(params, task, budgets)


# --- the project's learners ----------------------------------------------------------------------

def _drop(spec: str, key: str) -> str:
    """``spec`` without parameter ``key`` (the seed is part of the cell, not of the method)."""
    name, params = split_spec(spec)
    kept = [f"{k}={v}" for k, v in params.items() if k != key]
    return f"{name}:{','.join(kept)}" if kept else name


def _baseline(name: str) -> Method:
    """A learner of ``baselines.registry``: its per-family defaults, then the spec, then budgets."""
    from baselines import registry

    def overrides(budgets: Budgets) -> dict[str, Any]:
        neural = issubclass(registry.method_class(name), registry.NeuralLearner)
        return {"steps": budgets.steps} if neural and budgets.steps is not None else {}

    def resolve_(params: dict[str, str], task: Task, budgets: Budgets) -> str:
        if "random_state" in params:
            raise SpecError(f"{name}: random_state comes from the cell's seed (--seeds), not the spec")
        spec = _join(name, params)
        return _drop(registry.canonical_spec(spec, task.test_split(), task.family, **overrides(budgets)),
                     "random_state")

    def build_(spec: str, task: Task, seed: int):
        return registry.make_learner(spec, task.test_split(), task.family, random_state=seed)

    neural = issubclass(registry.method_class(name), registry.NeuralLearner)
    return Method(
        name=name,
        summary=(registry.method_class(name).__doc__ or "").strip().splitlines()[0],
        resolve=resolve_,
        build=build_,
        fit=_fit_network if neural else _fit_plain,
        inspect=_inspect_network if neural else (lambda learner: {}),
        save=_save_network if neural else None,
        fit_many=_fit_many_networks(build_) if neural else None,
    )


def _join(name: str, params: dict[str, str]) -> str:
    return f"{name}:{','.join(f'{k}={v}' for k, v in params.items())}" if params else name


def _fit_plain(learner: Any, train: Split, test: Split) -> None:
    learner.fit(train.X, train.y)


def _fit_network(learner: Any, train: Split, test: Split) -> None:
    # The test split is only logged (history_), to find the step at which the network generalizes.
    learner.fit(train.X, train.y, eval_sets={"test": test})


def _first_step(history: dict[str, list], key: str, threshold: float = 0.99) -> int | None:
    for step, value in zip(history.get("step", []), history.get(key, []), strict=False):
        if value is not None and value >= threshold:
            return int(step)
    return None


def _inspect_network(learner: Any) -> dict[str, Any]:
    history = learner.history_
    return {
        "steps_fit": _first_step(history, "train_acc"),
        "steps_generalize": _first_step(history, "test_acc"),
        "extra": {"stopped_step": int(learner.stopped_step_), "history": history},
    }


def _save_network(learner: Any, folder: str) -> list[str]:
    """The final weights, the checkpoints and the training history, in one torch file."""
    import os

    import torch

    path = os.path.join(folder, "model.pt")
    tmp = path + ".tmp"
    torch.save({"state_dict": learner.model_.state_dict(), "checkpoints": learner.checkpoints_,
                "history": learner.history_, "params": learner.get_params(deep=False)}, tmp)
    os.replace(tmp, path)  # a killed worker never leaves a half-written model.pt
    return [path]


def _fit_many_networks(build_: Callable[[str, Task, int], Any]):
    def fit_many_(spec: str, task: Task, cells: Sequence[tuple[int, int]]) -> list[Any]:
        from baselines import fit_many

        learner = build_(spec, task, 0)
        datasets = [task.train_split(n, seed) for n, seed in cells]
        return fit_many(learner, datasets, seeds=[seed for _, seed in cells],
                        eval_sets={"test": task.test_split()})

    return fit_many_


#: The synthesizer's parameters a method spec may set, with their types (its ``weights`` mapping and
#: ``random_state``, which comes from the cell's seed, are left out).
_SYNTH_PARAMS: dict[str, type] = {
    "dsl": str, "max_bits": float, "max_candidates": int, "time_limit": float, "max_bank_mb": float,
    "posterior": bool, "posterior_bits": float, "n_probe": int, "subset": int,
}


def _synth_kwargs(params: dict[str, str]) -> dict[str, Any]:
    """Typed constructor arguments from spec text (``none`` for None; ``/`` for the DSL's commas)."""
    from tasks.spec import coerce

    unknown = sorted(set(params) - set(_SYNTH_PARAMS))
    if unknown:
        raise SpecError(f"synth: unknown parameter {unknown[0]!r}; accepted: {', '.join(_SYNTH_PARAMS)}")
    kwargs = {k: None if v.lower() == "none" else coerce(v, _SYNTH_PARAMS[k], k, "synth")
              for k, v in params.items()}
    if kwargs.get("dsl"):
        kwargs["dsl"] = kwargs["dsl"].replace("/", ",")
    return kwargs


def _synth() -> Method:
    """The enumerative synthesizer; its DSL is the spec's ``dsl`` or the one that fits the task.

    In a method spec the DSL's own commas are written ``/``: ``synth:dsl=arith:p=97/max_const=3``.
    """
    from synth import DSLS, EnumerativeSynthesizer, default_dsl, parse_dsl
    from tasks.spec import format_spec, format_value

    def resolve_(params: dict[str, str], task: Task, budgets: Budgets) -> str:
        defaults = EnumerativeSynthesizer().get_params()
        kwargs = {k: defaults[k] for k in _SYNTH_PARAMS} | _synth_kwargs(params)
        if "dsl" in params:
            dsl = parse_dsl(kwargs["dsl"])
        else:
            try:
                dsl = parse_dsl(default_dsl(task.test_split()))
            except SpecError:
                raise NotApplicable(
                    f"method 'synth' does not apply to task {task.spec!r}: no DSL fits its data "
                    f"(DSLs: {', '.join(sorted(DSLS))}); name one with synth:dsl=..."
                ) from None
        kwargs["dsl"] = format_spec(dsl).replace(",", "/")
        for key, budget in (("time_limit", budgets.seconds), ("max_bits", budgets.max_bits),
                            ("max_candidates", budgets.candidates)):
            if budget is not None:
                kwargs[key] = _SYNTH_PARAMS[key](budget)
        return _join("synth", {k: "none" if v is None else format_value(v) for k, v in kwargs.items()})

    return Method(
        name="synth",
        summary="enumerative program synthesis with a simplicity prior (the cheapest consistent program)",
        resolve=resolve_,
        build=lambda spec, task, seed: EnumerativeSynthesizer(**_synth_kwargs(split_spec(spec)[1]),
                                                              random_state=seed),
        fit=lambda learner, train, test: learner.fit(train.X, train.y, mask=train.mask),
        inspect=lambda learner: {
            "program": None if learner.program_ is None else str(learner.program_),
            "bits": None if learner.bits_ is None else float(learner.bits_),
            "search": {k: _plain(v) for k, v in learner.search_stats_.items()},
        },
    )


def _plain(value: Any) -> Any:
    """numpy scalars to Python numbers (results cross processes and go to JSON)."""
    return value.item() if hasattr(value, "item") else value


def _register_builtin() -> None:
    from baselines import registry

    register_method(_synth())
    for name in registry.method_names():
        register_method(_baseline(name))


_register_builtin()
