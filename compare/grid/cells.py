"""The grid: cells (task × method × n × seed), their keys, size and seed lists, and presets.

A cell's key is a hash of its task spec, its resolved method spec, n, the seed and a fingerprint of
what decides its result beyond those specs (the task generator's version, the DSL's primitives and
prior weights or the model code's version, the result format), so a store can tell finished cells
from new ones whatever order a grid is given in, and a changed primitive never reuses stale cells.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tasks import SpecError, parse_task

if TYPE_CHECKING:
    from compare.methods import Budgets

#: Version of what a cell's result holds; part of every key and stored in the store's metadata.
#: Bump it when a result's meaning changes: old rows then no longer count as finished.
RESULT_FORMAT = 2
#: The most cells one grid may have (counted before any is built); grids above ``CONFIRM_CELLS`` run
#: only with ``--yes``, after their size is stated.
MAX_CELLS = 1_000_000
CONFIRM_CELLS = 10_000


@dataclass(frozen=True)
class Cell:
    """One unit of work: fit ``method_spec`` on ``n`` training examples of ``task`` drawn with ``seed``.

    ``method`` is the label a user gave (``mlp``), ``method_spec`` the resolved spec with the
    per-task defaults and budgets filled in (what the learner is actually built from);
    ``fingerprint`` what else decides the result (see the module docstring).
    """

    task: str
    method: str
    method_spec: str
    n: int
    seed: int
    fingerprint: str = ""

    @property
    def stamps(self) -> tuple[str, ...]:
        """The words of the fingerprint: the opt-in analyses the cell runs are among them."""
        return tuple(self.fingerprint.split(";"))

    @property
    def key(self) -> str:
        """Stable identity of the cell (hex), independent of the grid it came from."""
        parts = (self.task, self.method_spec, str(self.n), str(self.seed), self.fingerprint,
                 str(RESULT_FORMAT))
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class GridPart:
    """A product of task specs, method specs, sizes and seeds (a grid is a union of parts)."""

    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    sizes: tuple[int, ...]
    seeds: tuple[int, ...] = (0, 1, 2)



def build_cells(
    parts: Sequence[GridPart], budgets: Budgets | None = None, skip_unfit: bool = False,
    analyses: Sequence[str] = (),
) -> tuple[list[Cell], list[str]]:
    """Every cell of the union of ``parts``, checked (known tasks and methods, valid parameters, sizes
    within each task's pool, at least one cell), and notes on skipped pairs.

    A method that cannot handle a task is an error naming both, or, with ``skip_unfit`` (presets),
    a note saying which pair was left out and why. ``analyses`` (names in :mod:`mechanisms.registry`)
    asks for the opt-in analyses: the cells of the learners they read carry their stamps in their
    fingerprint, so they are other cells than the same ones run without them (a run that asks for
    an analysis computes it).
    """
    # Imported here: the learners pull in torch, which reading a store (tables, plots) never needs.
    from compare.methods import Budgets, NotApplicable, fingerprint, learner_class, resolve
    from mechanisms.registry import analyses_for, stamps

    chosen = analyses_for(analyses)
    budgets = budgets or Budgets()
    count = sum(len(p.tasks) * len(p.methods) * len(p.sizes) * len(p.seeds) for p in parts)
    if count > MAX_CELLS:
        raise SpecError(f"the grid would have {count:,} cells; one grid holds at most {MAX_CELLS:,}")
    cells: dict[str, Cell] = {}
    notes: list[str] = []
    for part in parts:
        for task_spec in part.tasks:
            task = parse_task(task_spec)
            for n in part.sizes:
                task.check_train_size(n)
            for method in part.methods:
                try:
                    resolved = resolve(method, task, budgets)
                except NotApplicable as exc:
                    if not skip_unfit:
                        raise
                    notes.append(f"skipped: {exc}")
                    continue
                words = stamps(chosen, learner_class(resolved.partition(":")[0]))
                generator = f"{task.family}-gen{task.generator_version}"
                stamp = ";".join([generator, fingerprint(resolved), *words])
                for n in part.sizes:
                    for seed in part.seeds:
                        cell = Cell(task.spec, method.strip(), resolved, n, seed, stamp)
                        cells.setdefault(cell.key, cell)
    if not cells:
        raise SpecError("the grid is empty: give at least one task, method, size and seed")
    return list(cells.values()), notes
