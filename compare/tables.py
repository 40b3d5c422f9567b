"""Summaries of a store per task × method, rendered as rich, Markdown, CSV, LaTeX or JSON.

Per task and method: accuracy at each n (mean ± 95% CI over seeds), n@99, the area under the
learning curve on a log-n axis, OOD accuracy at the largest n, and the most frequent program with its
bits (synthesizer). Failed cells are left out of every figure and counted.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from compare.metrics import Point, area_under_curve, curve, most_frequent, n_at
from compare.store import Row
from tasks.spec import split_spec

FORMATS = ("rich", "markdown", "csv", "latex", "json")


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
    for row in rows:
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
        for row in ok:
            by_n.setdefault(row.cell.n, []).append(row.result.test_accuracy)
            for name, value in row.result.ood.items():
                ood_by_n.setdefault(name, {}).setdefault(row.cell.n, []).append(value)
        points = curve(by_n)
        ood_curves = {name: curve(values) for name, values in sorted(ood_by_n.items())}
        errors = sorted({row.result.error or "" for row in group if row.result.status != "ok"})
        out.append(Summary(
            task=task, method=labels[(task, spec)], method_spec=spec, points=points,
            n99=n_at(points), aulc=area_under_curve(points),
            ood={name: c[-1] for name, c in ood_curves.items() if c}, ood_curves=ood_curves,
            program=most_frequent([(r.result.program, r.result.bits) for r in ok]),
            cells=len(group), failed=len(group) - len(ok), errors=errors,
        ))
    return out


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


def _sizes(summaries: Sequence[Summary]) -> list[int]:
    return sorted({p.n for s in summaries for p in s.points})


def _by_task(summaries: Sequence[Summary]) -> dict[str, list[Summary]]:
    tasks: dict[str, list[Summary]] = {}
    for s in summaries:
        tasks.setdefault(s.task, []).append(s)
    return tasks


def _pct(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def _cell_text(point: Point | None) -> str:
    if point is None:
        return ""
    if point.seeds < 2:
        return _pct(point.mean)
    return f"{_pct(point.mean)} ± {100 * point.half_width:.1f}"


def task_table(summaries: Sequence[Summary]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one task's table (accuracies in %, mean ± 95% CI half-width)."""
    sizes = _sizes(summaries)
    ood_names = sorted({name for s in summaries for name in s.ood})
    has_program = any(s.program for s in summaries)
    header = ["method", *[f"n={n}" for n in sizes], "n@99", "AULC"]
    header += [f"OOD {name}" for name in ood_names]
    header += ["program (bits)"] if has_program else []
    header += ["failed"] if any(s.failed for s in summaries) else []
    rows = []
    for s in summaries:
        at = {p.n: p for p in s.points}
        row = [s.method, *[_cell_text(at.get(n)) for n in sizes]]
        row += [str(s.n99) if s.n99 is not None else "not reached", _pct(s.aulc)]
        row += [_cell_text(s.ood.get(name)) + (f" @{s.ood[name].n}" if name in s.ood else "")
                for name in ood_names]
        if has_program:
            row.append(_program_text(s.program))
        if "failed" in header:
            row.append(f"{s.failed}/{s.cells}")
        rows.append(row)
    return header, rows


def _program_text(program: tuple[str, float | None, int] | None) -> str:
    if program is None:
        return ""
    text, bits, _ = program
    return f"{text} ({bits:.1f})" if bits is not None else text


def render(summaries: Sequence[Summary], fmt: str) -> str | list:
    """The summaries as text in ``fmt`` (``rich`` gives a list of rich Tables to print)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; accepted: {', '.join(FORMATS)}")
    return {"rich": _rich, "markdown": _markdown, "csv": _csv, "latex": _latex, "json": _json}[fmt](summaries)


def _rich(summaries: Sequence[Summary]) -> list:
    from rich.table import Table

    tables = []
    for task, group in _by_task(summaries).items():
        header, rows = task_table(group)
        table = Table(title=task, title_justify="left")
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 or name.startswith("program") else "right")
        for row in rows:
            table.add_row(*row)
        tables.append(table)
    return tables


def _markdown(summaries: Sequence[Summary]) -> str:
    parts = []
    for task, group in _by_task(summaries).items():
        header, rows = task_table(group)
        lines = [f"**{task}** (test accuracy %, mean ± 95% CI over seeds)", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text).replace("±", r"$\pm$").replace("—", "--")


def _latex(summaries: Sequence[Summary]) -> str:
    parts = []
    for task, group in _by_task(summaries).items():
        header, rows = task_table(group)
        lines = [f"% {task}: test accuracy (%), mean $\\pm$ 95% CI over seeds",
                 r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
                 " & ".join(_latex_escape(h) for h in header) + r" \\", r"\midrule"]
        lines += [" & ".join(_latex_escape(c) for c in row) + r" \\" for row in rows]
        lines += [r"\bottomrule", r"\end{tabular}"]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 6)


def _csv(summaries: Sequence[Summary]) -> str:
    """Long format: one line per task × method × n."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["task", "method", "method_spec", "n", "seeds", "mean", "ci_low", "ci_high", "median",
                     "n_at_99", "aulc", "program", "bits", "failed"])
    for s in summaries:
        program, bits = (s.program[0], s.program[1]) if s.program else ("", None)
        for p in s.points:
            writer.writerow([s.task, s.method, s.method_spec, p.n, p.seeds, _number(p.mean), _number(p.low),
                             _number(p.high), _number(p.median), s.n99 if s.n99 is not None else "",
                             _number(s.aulc), program, "" if bits is None else bits, s.failed])
    return buffer.getvalue()


def _point_json(p: Point) -> dict:
    return {"n": p.n, "seeds": p.seeds, "mean": _number(p.mean), "ci_low": _number(p.low),
            "ci_high": _number(p.high), "median": _number(p.median)}


def _json(summaries: Sequence[Summary]) -> str:
    data = [{
        "task": s.task, "method": s.method, "method_spec": s.method_spec,
        "curve": [_point_json(p) for p in s.points], "n_at_99": s.n99, "aulc": _number(s.aulc),
        "ood": {name: [_point_json(p) for p in c] for name, c in s.ood_curves.items()},
        "program": None if s.program is None else {"text": s.program[0], "bits": s.program[1],
                                                   "count": s.program[2]},
        "cells": s.cells, "failed": s.failed, "errors": s.errors,
    } for s in summaries]
    return json.dumps(data, indent=2) + "\n"
