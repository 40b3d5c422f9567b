"""The analysis registry: every analysis a grid cell or a one-network command runs, declared once.

An :class:`Analysis` says

- its ``name``: the word of ``dlps run --analyses`` and ``dlps mechanisms --analyses``, and the key of
  its summary in a cell's metrics;
- what it applies to: the learner kinds it reads (``network``, ``program``) and, from the data's
  shape and the task's parameters (never a task family's name), whether it covers this learner on
  this data (``applies``: None, or the reason it does not);
- how it runs on one fitted learner (``run``: a :class:`Subject` in, its typed summary out), and
  where one exists, its full one-network report (``report``) and pictures (``plots``);
- its cost for the dry run (``cost``: CPU seconds of one cell, from a :class:`CostQuery`);
- its part of the table's mechanism column (``column``);
- ``stamp``: None for an analysis every cell it applies to runs (the mechanism summary); a word for
  one a grid asks for (``--analyses``), written into the cell's fingerprint so that the same cell
  without it is another cell (``align``, ``simplicity``: the words stores written before this
  registry carry).

A new analysis is one module (its functions and its :class:`Record`) plus one entry in
:data:`ANALYSES`. The CLI, the grid's cells, the dry run, the table and the report loop over it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mechanisms.record import Record, Subject
from mechanisms.summaries import (
    AlignmentRecord,
    LLCRecord,
    MechanismRecord,
    SimplicityRecord,
    alignment_column,
    mechanism_column,
)
from tasks import SpecError, Split, Task
from tasks.spec import coerce, split_spec, split_specs

__all__ = [
    "ANALYSES", "Analysis", "CostQuery", "Record", "Subject", "analyses_for", "by_name", "column", "describe",
    "for_cell", "parse",
    "learner_kind", "stamps",
]

#: What the learner kinds are, from the learner class's declared flags.
KINDS = ("network", "program", "classic")


def learner_kind(cls: type) -> str:
    """``network`` (trained in steps, with a model whose hooks analyses read), ``program`` (it finds
    a program: the synthesizer) or ``classic``, from the flags the learner class declares."""
    if getattr(cls, "has_model", False):
        return "network"
    return "program" if getattr(cls, "finds_programs", False) else "classic"


@dataclass(frozen=True)
class CostQuery:
    """What the dry run knows of one cell before it runs (the grid fills it in): its unfitted
    ``learner``, the task and its test split (the data's shape), the cell's ``n`` and the network's
    ``steps``, the measured constants (``compare.settings.costs.COST_MODEL``) and the data shape's
    name; for a network, ``step_seconds(rows)`` and ``forward_seconds(rows)`` of one model."""

    learner: Any
    task: Task
    split: Split
    n: int
    steps: int | None
    constants: Mapping[str, Any]
    data_shape: str
    step_seconds: Callable[[int], float] | None = None
    forward_seconds: Callable[[int], float] | None = None


@dataclass(frozen=True)
class Analysis:
    """One registered analysis (see the module docstring)."""

    name: str
    help: str
    kinds: tuple[str, ...]
    run: Callable[[Subject], Record | None]
    record: type[Record]
    cost: Callable[[CostQuery], float]
    applies: Callable[[Any, Split, Task, Mapping[str, Any]], str | None] = lambda *_: None
    stamp: str | None = None
    aliases: tuple[str, ...] = ()
    column: Callable[[Record], tuple[str, dict[str, float]] | None] | None = None
    uses_checkpoints: Callable[[Split, Task], bool] = lambda split, task: False
    report: Callable[[Subject], dict[str, Any]] | None = None
    plots: Callable[[Subject, dict[str, Any], str], list] | None = None
    #: Parameters a one-network command may give it (``--analyses NAME:key=value``), by type.
    params: Mapping[str, Any] = field(default_factory=dict)

    def covers(
        self, learner: Any, split: Split, task: Task, params: Mapping[str, Any] | None = None
    ) -> str | None:
        """None when this analysis runs on ``learner`` (fitted or not) fitted to data like ``split``
        of ``task`` (with its ``params``); otherwise the reason, one line."""
        kind = learner_kind(type(learner))
        if kind not in self.kinds:
            name = getattr(learner, "method_name", type(learner).__name__)
            return f"{self.name} reads {' or '.join(self.kinds)} learners, not {name!r} ({kind})"
        return self.applies(learner, split, task, params or {})

    def read(self, metrics: Mapping[str, Any]) -> Record | None:
        """This analysis's summary in a cell's stored metrics, typed; None where the cell has none."""
        stored = metrics.get(self.name)
        return None if not isinstance(stored, Mapping) else self.record.from_metrics(stored)


def lazy(module: str, function: str) -> Callable[..., Any]:
    """``module.function``, imported on its first call: the analyses pull in torch, which reading a
    store (the table's mechanism column) never needs."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), function)(*args, **kwargs)

    call.__qualname__ = f"{module}.{function}"
    return call


#: Every analysis, in the order a cell runs them (the LLC's chains first, as cells always ran them).
ANALYSES: tuple[Analysis, ...] = (
    Analysis(
        name="simplicity", stamp="simplicity", kinds=("network", "program"),
        help="a network's LLC, dead units, weight norm and effective ranks; the synthesizer's programs "
        "within 2 bits (for dlps report)",
        run=lazy("mechanisms.simplicity", "cell_record"), record=SimplicityRecord,
        cost=lazy("mechanisms.simplicity", "cell_cost"),
    ),
    Analysis(
        name="mechanism", kinds=("network",),
        help="the Fourier circuit (two operands mod p, x+y or x-y, a network with an MLP), head scores "
        "and ablations (a transformer on token sequences), depth probes (bracket words)",
        run=lazy("mechanisms.report", "cell_record"), record=MechanismRecord,
        cost=lazy("mechanisms.report", "cell_cost"), applies=lazy("mechanisms.report", "applies"),
        column=mechanism_column, uses_checkpoints=lazy("mechanisms.report", "uses_checkpoints"),
        report=lazy("mechanisms.report", "full_report"), plots=lazy("mechanisms.report", "plots"),
        params={"open": tuple[int, ...], "close": tuple[int, ...]},
    ),
    Analysis(
        name="alignment", stamp="align", aliases=("align",), kinds=("network",),
        help="the network against the task's programs: probes, interchange interventions (IIA), selectors "
        "against attention",
        run=lazy("mechanisms.alignment", "cell_record"), record=AlignmentRecord,
        cost=lazy("mechanisms.alignment", "cell_cost"), applies=lazy("mechanisms.alignment", "applies"),
        column=alignment_column,
    ),
    Analysis(
        name="llc", stamp="llc", kinds=("network",),
        help="the local learning coefficient of the final network (SGLD, 3 chains × 300 draws) and, in "
        "dlps mechanisms, a cheaper estimate at every checkpoint",
        run=lazy("mechanisms.llc", "cell_record"), record=LLCRecord, cost=lazy("mechanisms.llc", "cell_cost"),
        report=lazy("mechanisms.llc", "full_report"),
    ),
)  # fmt: skip


def by_name(name: str) -> Analysis:
    """The analysis called ``name`` (or one of its aliases); SpecError naming the accepted ones."""
    for analysis in ANALYSES:
        if name == analysis.name or name in analysis.aliases:
            return analysis
    accepted = ", ".join(a.name for a in ANALYSES)
    raise SpecError(f"unknown analysis {name!r}; accepted: {accepted}")


def parse(text: str) -> list[tuple[Analysis, dict[str, Any]]]:
    """``mechanism:open=(0,2),close=(1,3);simplicity`` → each analysis with its parameters (specs as
    ``--tasks`` takes them: separated by ``;``, or by commas between bare names; SpecError naming the
    accepted analyses or parameters)."""
    out = []
    for spec in split_specs([text]):
        name, raw = split_spec(spec)
        analysis = by_name(name)
        unknown = sorted(set(raw) - set(analysis.params))
        if unknown:
            accepted = ", ".join(analysis.params) or "none"
            raise SpecError(f"{analysis.name}: unknown parameter {unknown[0]!r}; accepted: {accepted}")
        out.append((analysis, {k: coerce(v, analysis.params[k], k, analysis.name) for k, v in raw.items()}))
    return out


def analyses_for(names: Sequence[str]) -> tuple[Analysis, ...]:
    """The analyses ``names`` ask for (names or aliases, each once), in registry order."""
    wanted = {by_name(name.strip()).name for name in names if name.strip()}
    return tuple(a for a in ANALYSES if a.name in wanted)


def stamps(analyses: Sequence[Analysis], cls: type) -> list[str]:
    """The fingerprint words of the opt-in ``analyses`` a learner of ``cls`` runs (sorted, so that
    the order they were asked in never changes a cell's key)."""
    kind = learner_kind(cls)
    return sorted(a.stamp for a in analyses if a.stamp and kind in a.kinds)


def for_cell(stamped_words: Sequence[str], cls: type) -> tuple[Analysis, ...]:
    """The analyses a cell runs: every unstamped one of its learner's kind, and the stamped ones its
    fingerprint carries (whether each covers the data is decided when it runs)."""
    kind = learner_kind(cls)
    return tuple(a for a in ANALYSES if kind in a.kinds and (a.stamp is None or a.stamp in stamped_words))


def column(metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    """The table's mechanism column for one cell: the fragments of its analyses' summaries joined
    with ``; ``, and their numbers (None where no analysis gave one). A fragment already in the text
    is not repeated: stores written before the registry kept the alignment's fragment inside the
    mechanism summary's text."""
    text, numbers, found = "", {}, False
    for analysis in ANALYSES:
        record = analysis.read(metrics) if analysis.column else None
        part = None if record is None else analysis.column(record)
        if part is None:
            continue
        fragment, values = part
        found = True
        numbers |= values
        if fragment and fragment not in text:
            text = f"{text}; {fragment}" if text else fragment
    return {"text": text, **numbers} if found else None


def describe() -> list[str]:
    """``dlps analyses``: each analysis, the learners it reads, when a grid runs it, what it measures."""
    lines = []
    for analysis in ANALYSES:
        when = "every cell" if analysis.stamp is None else f"asked for (--analyses {analysis.name})"
        lines += [f"{analysis.name:<11} {'/'.join(analysis.kinds):<16} {when}", f"{'':<11} {analysis.help}"]
        if analysis.params:
            lines.append(f"{'':<11} parameters (dlps mechanisms --analyses {analysis.name}:key=value): "
                         f"{', '.join(analysis.params)}")
    return lines
