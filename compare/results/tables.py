"""Summaries of a store per task × method, rendered as rich, Markdown, CSV, LaTeX or JSON.

Per task and method: accuracy at each n (mean and 95% bootstrap interval over seeds, inside [0, 1];
``n/a`` with the count from a single seed: :mod:`compare.results.stats`), n@99, the area under the
learning curve on a log-n axis, OOD accuracy at the largest n, the most frequent program with its
bits (synthesizer), and the most frequent mechanism summary at each n (where a cell's registered
analyses stored one: :func:`mechanisms.registry.column`). Failed cells are left out of every figure
and counted.

Each column is declared once, in :data:`COLUMNS` (table header, CSV/JSON keys, how it is computed
from a :class:`Summary`); every renderer iterates that list, so a new column is one declaration.
The tables for people (rich, Markdown, LaTeX) show a column only where it has something to show;
CSV and JSON always carry every column, so their schema does not depend on the data.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from compare.results.legend import markdown_legend
from compare.results.metrics import Point, TextPoint, area_under_curve, curve, most_frequent, n_at, text_curve
from compare.results.stats import interval_text
from compare.results.store import Row
from mechanisms.registry import column as mechanism_column
from tasks.spec import split_spec

FORMATS = ("rich", "markdown", "csv", "latex", "json")
CAPTION = "test accuracy (%) per training size n: mean [95% bootstrap interval] over seeds"


@dataclass
class Summary:
    """One task × method (one resolved method spec)."""

    task: str
    method: str
    method_spec: str
    points: list[Point]
    n99: int | None
    aulc: float
    ood: dict[str, Point]
    ood_curves: dict[str, list[Point]]
    program: tuple[str, float | None, int] | None
    cells: int
    failed: int
    errors: list[str] = field(default_factory=list)
    mechanism: list[TextPoint] = field(default_factory=list)
    given: str = ""  # the method spec as given to the grid (``transformer:batch_size=256``)


def matches(value: str, patterns: Sequence[str]) -> bool:
    """True when no patterns are given, or ``value`` (a spec) equals one, has it as its family or
    label, or matches it as a glob (``modular:*``)."""
    if not patterns:
        return True
    family = split_spec(value)[0]
    return any(p in (value, family) or fnmatchcase(value, p) for p in patterns)


def summarize(rows: Iterable[Row], tasks: Sequence[str] = (), methods: Sequence[str] = ()) -> list[Summary]:
    """Summaries of ``rows`` grouped by task and resolved method spec, filtered by task and method."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in _one_per_cell(rows):
        cell = row.cell
        method_ok = matches(cell.method, methods) or matches(cell.method_spec, methods)
        if matches(cell.task, tasks) and method_ok:
            groups.setdefault((cell.task, cell.method_spec), []).append(row)
    labels = _labels(groups)
    out = []
    for (task, spec), group in sorted(groups.items(), key=lambda item: (item[0][0], labels[item[0]])):
        ok = [row for row in group if row.result.status == "ok"]
        by_n: dict[int, list[float]] = {}
        ood_by_n: dict[str, dict[int, list[float]]] = {}
        mechanism_by_n: dict[int, list[Any]] = {}
        for row in ok:
            by_n.setdefault(row.cell.n, []).append(row.result.test_accuracy)
            for name, value in row.result.ood.items():
                ood_by_n.setdefault(name, {}).setdefault(row.cell.n, []).append(value)
            mechanism_by_n.setdefault(row.cell.n, []).append(mechanism_column(row.result.metrics))
        points = curve(by_n)
        ood_curves = {name: curve(values) for name, values in sorted(ood_by_n.items())}
        errors = sorted({row.result.error or "" for row in group if row.result.status != "ok"})
        out.append(Summary(
            task=task, method=labels[(task, spec)], method_spec=spec, points=points,
            n99=n_at(points), aulc=area_under_curve(points),
            ood={name: c[-1] for name, c in ood_curves.items() if c}, ood_curves=ood_curves,
            program=most_frequent([(r.result.program, r.result.bits) for r in ok]),
            cells=len(group), failed=len(group) - len(ok), errors=errors,
            mechanism=text_curve(mechanism_by_n), given=group[0].cell.method,
        ))
    return out


def _one_per_cell(rows: Iterable[Row]) -> list[Row]:
    """One row per (task, method spec, n, seed): a cell run with ``--align`` and the same cell run
    without it differ only in that, so only the aligned one counts (seeds are never counted twice)."""
    best: dict[tuple[str, str, int, int], Row] = {}
    for row in rows:
        c = row.cell
        key = (c.task, c.method_spec, c.n, c.seed)
        aligned = "alignment" in row.result.metrics
        if key not in best or (aligned and "alignment" not in best[key].result.metrics):
            best[key] = row
    return list(best.values())


def _labels(groups: dict[tuple[str, str], list[Row]]) -> dict[tuple[str, str], str]:
    """Per task, the shortest labels that tell its methods apart: the method's name (``mlp``), else
    the spec the user gave (``mlp:steps=300``), else the resolved spec."""
    levels = (lambda key: split_spec(groups[key][0].cell.method)[0],
              lambda key: groups[key][0].cell.method,
              lambda key: key[1])
    by_task: dict[str, list[tuple[str, str]]] = {}
    for key in groups:
        by_task.setdefault(key[0], []).append(key)
    labels = {}
    for keys in by_task.values():
        for level in levels:
            label = {key: level(key) for key in keys}
            if len(set(label.values())) == len(keys):
                break
        labels.update(label)
    return labels


# --- the columns ---------------------------------------------------------------------------------


def _once(_group: Sequence[Summary]) -> list[None]:
    return [None]


def _always(_group: Sequence[Summary]) -> bool:
    return True


@dataclass(frozen=True)
class Column:
    """One column of every rendering of a :class:`Summary`.

    ``text(summary, item)`` is the table cell under ``header``. A column ``per`` item repeats once for
    each item of a table (each n, each OOD split), with ``{}`` in the header standing for the item; a
    plain column has the one item None. ``json(summary)`` gives this column's fields of a JSON record,
    ``csv(summary, n)`` its fields of the CSV line for size n. ``shown(group)`` says whether a table
    for people shows it; ``below`` marks long text, which the rich table lists under the table with
    this heading instead of in a column, so that narrow terminals cut nothing.
    """

    key: str
    header: str
    text: Callable[[Summary, Any], str]
    json: Callable[[Summary], dict[str, Any]]
    csv: Callable[[Summary, int], dict[str, Any]]
    per: Callable[[Sequence[Summary]], Sequence[Any]] = _once
    shown: Callable[[Sequence[Summary]], bool] = _always
    align: str = "right"
    below: str | None = None

    def parts(self, group: Sequence[Summary]) -> list[tuple[str, Callable[[Summary], str]]]:
        """(header, cell text of a summary) for each table column this column makes for ``group``."""
        if not self.shown(group):
            return []
        return [(self.header.format(item), lambda s, item=item: self.text(s, item))
                for item in self.per(group)]


def _pct(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def _cell_text(point: Point | None) -> str:
    """``"72.0 [44.0, 100.0]"`` (%, 95% bootstrap interval over seeds), ``"50.0 [n/a: 1 seed]"``."""
    if point is None:
        return ""
    return interval_text(point.interval.scaled(100), 1, unit="seed")


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 6)


def _point_json(p: Point) -> dict[str, Any]:
    return {"n": p.n, "seeds": p.seeds, "mean": _number(p.mean), "ci_low": _number(p.low),
            "ci_high": _number(p.high), "median": _number(p.median)}


def _at(points: Sequence[Point], n: int) -> Point | None:
    return next((p for p in points if p.n == n), None)


def _sizes(group: Sequence[Summary]) -> list[int]:
    return sorted({p.n for s in group for p in s.points})


def _ood_names(group: Sequence[Summary]) -> list[str]:
    return sorted({name for s in group for name in s.ood})


def _accuracy_csv(s: Summary, n: int) -> dict[str, Any]:
    p = _at(s.points, n)
    fields = _point_json(p) if p else dict.fromkeys(("seeds", "mean", "ci_low", "ci_high", "median"))
    return {"n": n, **{k: v for k, v in fields.items() if k != "n"}}


def _ood_text(s: Summary, name: str) -> str:
    return _cell_text(s.ood.get(name)) + (f" @{s.ood[name].n}" if name in s.ood else "")


def _ood_csv(s: Summary, n: int) -> dict[str, Any]:
    out = {}
    for name, points in s.ood_curves.items():
        p = _at(points, n)
        out[f"ood_{name}"] = _number(p.mean) if p else None
    return out


def _program_text(s: Summary, _item: None = None) -> str:
    if s.program is None:
        return ""
    text, bits, _ = s.program
    return f"{text} ({bits:.1f})" if bits is not None else text


def _program_json(s: Summary) -> dict[str, Any]:
    if s.program is None:
        return {"program": None}
    return {"program": {"text": s.program[0], "bits": s.program[1], "count": s.program[2]}}


def _mechanism_text(s: Summary, _item: None = None) -> str:
    """The most frequent mechanism text at the largest n that has one (with its share of seeds when
    the seeds disagree)."""
    point = next((p for p in reversed(s.mechanism) if p.text), None)
    if point is None:
        return ""
    share = f" ({point.count}/{point.seeds})" if point.count < point.seeds else ""
    return f"{point.text}{share} @{point.n}"


def _mechanism_json(s: Summary) -> dict[str, Any]:
    return {"mechanism": [{"n": p.n, "text": p.text, "count": p.count, "seeds": p.seeds,
                           "numbers": {k: _number(v) for k, v in p.numbers.items()}} for p in s.mechanism]}


def _mechanism_csv(s: Summary, n: int) -> dict[str, Any]:
    point = next((p for p in s.mechanism if p.n == n), None)
    return {"mechanism": point.text if point and point.text else ""}


#: Every column, in order. Adding a column to every format is one entry here.
COLUMNS: tuple[Column, ...] = (
    Column("method", "method", lambda s, _: s.method, align="left",
           json=lambda s: {"task": s.task, "method": s.method, "method_spec": s.method_spec},
           csv=lambda s, n: {"task": s.task, "method": s.method, "method_spec": s.method_spec}),
    Column("curve", "n={}", lambda s, n: _cell_text(_at(s.points, n)), per=_sizes,
           json=lambda s: {"curve": [_point_json(p) for p in s.points]}, csv=_accuracy_csv),
    Column("n_at_99", "n@99", lambda s, _: str(s.n99) if s.n99 is not None else "not reached",
           json=lambda s: {"n_at_99": s.n99}, csv=lambda s, n: {"n_at_99": s.n99}),
    Column("aulc", "AULC", lambda s, _: _pct(s.aulc),
           json=lambda s: {"aulc": _number(s.aulc)}, csv=lambda s, n: {"aulc": _number(s.aulc)}),
    Column("ood", "OOD {}", _ood_text, per=_ood_names,
           json=lambda s: {"ood": {name: [_point_json(p) for p in c] for name, c in s.ood_curves.items()}},
           csv=_ood_csv),
    Column("program", "program (bits)", _program_text, align="left",
           below="program (bits), the most frequent over seeds and sizes",
           shown=lambda group: any(s.program for s in group), json=_program_json,
           csv=lambda s, n: {"program": s.program[0] if s.program else "",
                             "bits": s.program[1] if s.program else None}),
    Column("mechanism", "mechanism", _mechanism_text, align="left",
           below="mechanism, the most frequent summary at the largest n with one",
           shown=lambda group: any(p.text for s in group for p in s.mechanism),
           json=_mechanism_json, csv=_mechanism_csv),
    Column("failed", "failed", lambda s, _: f"{s.failed}/{s.cells}",
           shown=lambda group: any(s.failed for s in group),
           json=lambda s: {"cells": s.cells, "failed": s.failed, "errors": s.errors},
           csv=lambda s, n: {"failed": s.failed}),
)


def _by_task(summaries: Sequence[Summary]) -> dict[str, list[Summary]]:
    tasks: dict[str, list[Summary]] = {}
    for s in summaries:
        tasks.setdefault(s.task, []).append(s)
    return tasks


def _table_parts(group: Sequence[Summary]) -> list[tuple[Column, str, Callable[[Summary], str]]]:
    return [(column, header, text) for column in COLUMNS for header, text in column.parts(group)]


def task_table(summaries: Sequence[Summary]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one task's table (accuracies in %, mean [95% bootstrap interval])."""
    parts = _table_parts(summaries)
    return [header for _, header, _ in parts], [[text(s) for _, _, text in parts] for s in summaries]


def render(summaries: Sequence[Summary], fmt: str) -> str | list:
    """The summaries as text in ``fmt`` (``rich`` gives a list of rich renderables to print, one per
    task: its table, and below it the long texts the table refers to)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; accepted: {', '.join(FORMATS)}")
    return {"rich": _rich, "markdown": _markdown, "csv": _csv, "latex": _latex, "json": _json}[fmt](summaries)


def show(summaries: Sequence[Summary], fmt: str) -> None:
    """Print ``render(summaries, fmt)`` to standard output: rich tables as wide as the terminal (80
    columns on a pipe, or ``COLUMNS``), other formats as their text."""
    output = render(summaries, fmt)
    if isinstance(output, str):
        sys.stdout.write(output)
        return
    from rich.console import Console

    console = Console()
    for renderable in output:
        console.print(renderable)


def _rich(summaries: Sequence[Summary]) -> list:
    from compare.results.legend import explain
    from compare.results.tables_rich import Part, RichTaskTable

    out = []
    for task, group in _by_task(summaries).items():
        parts = [Part(header, [text(s) for s in group], column.below)
                 for column, header, text in _table_parts(group) if column.key != "method"]
        codes = explain(_mechanism_text(s) for s in group)
        out.append(RichTaskTable(task, [s.method for s in group], [s.given for s in group], parts, codes,
                                 caption=CAPTION))
    return out


def _markdown(summaries: Sequence[Summary]) -> str:
    parts = []
    for task, group in _by_task(summaries).items():
        header, rows = task_table(group)
        lines = [f"**{task}** (test accuracy %, mean [95% bootstrap interval] over seeds)", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        legend = markdown_legend(_mechanism_text(s) for s in group)
        parts.append("\n".join(lines + ([""] + legend[:-1] if legend else [])))
    return "\n\n".join(parts) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text).replace("±", r"$\pm$").replace("—", "--")


def _latex(summaries: Sequence[Summary]) -> str:
    parts = []
    for task, group in _by_task(summaries).items():
        header, rows = task_table(group)
        lines = [f"% {task}: test accuracy (%), mean [95% bootstrap interval] over seeds",
                 r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
                 " & ".join(_latex_escape(h) for h in header) + r" \\", r"\midrule"]
        lines += [" & ".join(_latex_escape(c) for c in row) + r" \\" for row in rows]
        lines += [r"\bottomrule", r"\end{tabular}"]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _csv(summaries: Sequence[Summary]) -> str:
    """Long format: one line per task × method × n; the fields are every column's, in column order
    (a column's fields that depend on the data, like one per OOD split, sit at its place)."""
    at = [(s, p.n) for s in summaries for p in s.points]
    fields_by_column = [[column.csv(s, n) for s, n in at] for column in COLUMNS]
    names = list(dict.fromkeys(name for lines in fields_by_column for line in lines for name in line))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, names, lineterminator="\n", restval="")
    writer.writeheader()
    for i in range(len(at)):
        line = {k: v for lines in fields_by_column for k, v in lines[i].items()}
        writer.writerow({k: "" if v is None else v for k, v in line.items()})
    return buffer.getvalue()


def _json(summaries: Sequence[Summary]) -> str:
    data = [{k: v for column in COLUMNS for k, v in column.json(s).items()} for s in summaries]
    return json.dumps(data, indent=2) + "\n"
