"""Tables and plots from stored rows: grouping, filters, labels and every output format."""

from __future__ import annotations

import csv
import io
import json

import pytest

from compare.grid import Cell
from compare.plots import file_name, plot_summaries
from compare.store import CellResult, Row
from compare.tables import FORMATS, render, summarize

TASK = "modular:op=x+y,p=7,test_fraction=0.5"
OTHER = "brackets:kind=dyck1"


def row(task, method, n, seed, acc, spec=None, **result):
    cell = Cell(task, method, spec or method, n, seed)
    return Row(cell=cell, result=CellResult(test_accuracy=acc, **result), key=cell.key)


ROWS = [
    *[row(TASK, "synth", n, s, 1.0 if n >= 4 else 0.5, program="(x + y)", bits=12.5)
      for n in (2, 4, 8) for s in range(3)],
    row(TASK, "synth", 2, 9, 0.0, program="x", bits=3.0),
    *[row(TASK, "lookup", n, s, 0.1 * s) for n in (2, 4, 8) for s in range(3)],
    row(TASK, "lookup", 16, 0, None, status="failed", error="ValueError: boom"),
    *[row(OTHER, "lstm", n, s, 0.5 + n / 100, ood={"longer": 0.5}) for n in (8, 16) for s in range(2)],
]


def test_summaries_group_and_measure():
    by = {(s.task, s.method): s for s in summarize(ROWS)}
    synth = by[(TASK, "synth")]
    assert [p.n for p in synth.points] == [2, 4, 8]
    assert synth.points[0].seeds == 4 and synth.n99 == 4
    assert synth.program == ("(x + y)", 12.5, 9)
    lookup = by[(TASK, "lookup")]
    assert lookup.n99 is None and lookup.failed == 1 and lookup.cells == 10
    assert lookup.errors == ["ValueError: boom"]
    assert lookup.points[0].mean == pytest.approx(0.1)
    assert by[(OTHER, "lstm")].ood["longer"].n == 16


def test_filters_by_family_spec_and_glob():
    assert {s.task for s in summarize(ROWS, tasks=["brackets"])} == {OTHER}
    assert {s.method for s in summarize(ROWS, tasks=[TASK])} == {"synth", "lookup"}
    assert {s.method for s in summarize(ROWS, methods=["l*"])} == {"lookup", "lstm"}
    assert summarize(ROWS, tasks=["induction"]) == []


def test_labels_are_the_shortest_that_tell_methods_apart():
    assert [s.method for s in summarize([row(TASK, "lstm:steps=3", 8, 0, 0.5)])] == ["lstm"]
    given = [row(TASK, "mlp:steps=10", 8, 0, 0.5), row(TASK, "mlp:steps=99", 8, 0, 0.7),
             row(OTHER, "mlp:steps=10", 8, 0, 0.5)]
    assert [s.method for s in summarize(given)] == ["mlp", "mlp:steps=10", "mlp:steps=99"]
    resolved = [row(TASK, "mlp", 8, 0, 0.5, spec="mlp:steps=10"),
                row(TASK, "mlp", 8, 0, 0.7, spec="mlp:steps=99")]
    assert sorted(s.method for s in summarize(resolved)) == ["mlp:steps=10", "mlp:steps=99"]


def test_markdown_table():
    text = render(summarize(ROWS), "markdown")
    assert f"**{TASK}**" in text and f"**{OTHER}**" in text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| method") and "program" in line)
    assert header == "| method | n=2 | n=4 | n=8 | n@99 | AULC | program (bits) | failed |"
    synth = next(line for line in lines if line.startswith("| synth"))
    assert "| 4 |" in synth and "(x + y) (12.5)" in synth
    assert "not reached" in next(line for line in lines if line.startswith("| lookup"))
    assert "OOD longer" in text and "@16" in text


def test_csv_json_latex_rich():
    summaries = summarize(ROWS)
    records = list(csv.DictReader(io.StringIO(render(summaries, "csv"))))
    assert len(records) == sum(len(s.points) for s in summaries)
    assert {r["method"] for r in records} == {"synth", "lookup", "lstm"}
    data = json.loads(render(summaries, "json"))
    synth = next(d for d in data if d["method"] == "synth")
    assert synth["n_at_99"] == 4 and synth["program"]["text"] == "(x + y)"
    latex = render(summaries, "latex")
    assert latex.count(r"\begin{tabular}") == 2 and r"\pm" in latex and "n@99" in latex
    assert len(render(summaries, "rich")) == 2
    assert set(FORMATS) == {"rich", "markdown", "csv", "latex", "json"}
    with pytest.raises(ValueError, match="unknown format 'html'"):
        render(summaries, "html")


def test_plots_one_png_per_task(tmp_path):
    paths = plot_summaries(summarize(ROWS), tmp_path / "plots")
    assert sorted(p.name for p in paths) == sorted([file_name(TASK), file_name(OTHER)])
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert file_name("modular:op=x/y if y odd else x-y,p=97") == "modular_op=x_y_if_y_odd_else_x-y_p=97.png"
