"""The methods a grid can run: every learner of the project behind one small interface.

A method spec uses the task-spec syntax (``mlp:d_model=64``). For each task a spec is *resolved*:
the per-task defaults and the run's budgets are filled in, giving the canonical spec a cell is keyed
by, so two runs with different budgets never share a cell.

Which methods apply to which task families is declared here (``Method.families``); asking for a
method on a family it cannot handle is an error at grid-building time that names both (see
:func:`check_applicable`), never a failed cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tasks import SpecError, Split, Task
from tasks.spec import split_spec


@dataclass(frozen=True)
class Budgets:
    """Run-wide budgets, applied to the methods that take them (None: the method's default).

    ``steps``: optimizer steps of a network; ``seconds``: the synthesizer's time limit per fit;
    ``max_bits``: the synthesizer's description-length bound.
    """

    steps: int | None = None
    seconds: float | None = None
    max_bits: float | None = None


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
    families: frozenset[str] | None = None
    fit: Callable[[Any, Split, Split], None] = field(default=lambda learner, train, test: learner.fit(
        train.X, train.y))
    inspect: Callable[[Any], dict[str, Any]] = field(default=lambda learner: {})
    save: Callable[[Any, str], list[str]] | None = None
    fit_many: Callable[[str, Task, Sequence[tuple[int, int]]], list[Any]] | None = None

    def applies_to(self, task: Task) -> bool:
        return self.families is None or task.family in self.families


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


def check_applicable(method: Method, task: Task) -> None:
    """SpecError when ``method`` cannot handle ``task``'s family, naming both."""
    if not method.applies_to(task):
        accepted = ", ".join(sorted(method.families or ()))
        raise SpecError(
            f"method {method.name!r} does not apply to task {task.spec!r}; it handles: {accepted}"
        )


def resolve(spec: str, task: Task, budgets: Budgets = Budgets()) -> str:
    """The canonical spec of method ``spec`` on ``task`` with defaults and budgets filled in."""
    method, params = get_method(spec)
    check_applicable(method, task)
    return method.resolve(params, task, budgets)
