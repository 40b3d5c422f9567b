"""Tables from stored rows: grouping, filters, labels, every output format, the declared columns, the
mechanism column, and terminals too narrow for a table."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

import cli
import compare.results.tables as tables
from compare.grid.cells import Cell
from compare.results.metrics import TextPoint, most_frequent_text, text_curve
from compare.results.store import CellResult, Row, Store
from compare.results.tables import COLUMNS, FORMATS, Column, render, summarize

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
    assert latex.count(r"\begin{tabular}") == 2 and "[100.0, 100.0]" in latex and "n@99" in latex
    assert len(render(summaries, "rich")) == 2
    assert set(FORMATS) == {"rich", "markdown", "csv", "latex", "json"}
    with pytest.raises(ValueError, match="unknown format 'html'"):
        render(summaries, "html")


# --- the mechanism column ----------------------------------------------------------------------------


def mechanism(text, **numbers):
    return {"mechanism": {"text": text, **numbers}}


def test_text_curve_takes_the_most_frequent_text_and_averages_the_numbers():
    by_n = {8: [None, None], 16: [{"text": "k=4", "r": 0.5}, {"text": "k=4", "r": 1.0, "ok": True},
                                  {"text": "k=4,17", "r": 0.0}],
            32: ["k=4,17", None, {"r": float("nan")}]}
    assert text_curve(by_n) == [TextPoint(16, "k=4", 2, 3, {"r": 0.5}), TextPoint(32, "k=4,17", 1, 3, {})]
    assert most_frequent_text(["bb", "a", "bb", "a", None, ""]) == ("a", 2)  # ties: the shorter
    assert most_frequent_text([None, ""]) is None


def test_the_mechanism_column_from_a_store(tmp_path):
    items = [(Cell(TASK, "synth", "synth", n, s), CellResult(test_accuracy=1.0, program="(x + y)", bits=12.5))
             for n in (4, 16) for s in range(2)]
    texts = {(4, 0): "k=4 r=0.41", (4, 1): "k=4 r=0.41", (16, 0): "k=4,17 r=1.00 emerge@812",
             (16, 1): "k=4,17 r=1.00 emerge@812", (16, 2): "k=17 r=0.90"}
    items += [(Cell(TASK, "transformer", "transformer:steps=10", n, s),
               CellResult(test_accuracy=n / 16,
                          metrics=mechanism(text, restricted_accuracy=n / 16, emergence_step=800 + s)))
              for (n, s), text in texts.items()]
    with Store(tmp_path / "r.sqlite") as store:
        store.put_many(items)
        summaries = summarize(store.rows())
    by = {s.method: s for s in summaries}
    assert [(p.n, p.text, p.count, p.seeds) for p in by["transformer"].mechanism] == [
        (4, "k=4 r=0.41", 2, 2), (16, "k=4,17 r=1.00 emerge@812", 2, 3)]
    assert by["transformer"].mechanism[1].numbers == {"emergence_step": 801.0, "restricted_accuracy": 1.0}
    assert by["synth"].mechanism == []

    lines = render(summaries, "markdown").splitlines()
    assert lines[2] == "| method | n=4 | n=16 | n@99 | AULC | program (bits) | mechanism |"
    assert lines[5].startswith("| transformer |")
    assert lines[5].endswith("| k=4,17 r=1.00 emerge@812 (2/3) @16 |")
    assert lines[4].endswith("| (x + y) (12.5) |  |")
    records = list(csv.DictReader(io.StringIO(render(summaries, "csv"))))
    assert [(r["method"], r["n"], r["mechanism"]) for r in records] == [
        ("synth", "4", ""), ("synth", "16", ""), ("transformer", "4", "k=4 r=0.41"),
        ("transformer", "16", "k=4,17 r=1.00 emerge@812")]
    data = {d["method"]: d for d in json.loads(render(summaries, "json"))}
    numbers = {"emergence_step": 801.0, "restricted_accuracy": 1.0}
    assert data["transformer"]["mechanism"][1] == {"n": 16, "text": "k=4,17 r=1.00 emerge@812", "count": 2,
                                                   "seeds": 3, "numbers": numbers}
    assert data["synth"]["mechanism"] == []
    assert "mechanism" in render(summaries, "latex")


def test_no_mechanism_no_column():
    summaries = summarize(ROWS)
    assert "mechanism" not in render(summaries, "markdown") and "mechanism" not in render(summaries, "latex")
    assert all(d["mechanism"] == [] for d in json.loads(render(summaries, "json")))
    assert {r["mechanism"] for r in csv.DictReader(io.StringIO(render(summaries, "csv")))} == {""}


# --- each column declared once -----------------------------------------------------------------------


def test_every_renderer_iterates_the_declared_columns(monkeypatch):
    seeds = Column("seed_count", "seeds", lambda s, _: str(len(s.points[-1:]) and s.points[-1].seeds),
                   json=lambda s: {"seed_count": s.points[-1].seeds},
                   csv=lambda s, n: {"seed_count": next(p.seeds for p in s.points if p.n == n)})
    monkeypatch.setattr(tables, "COLUMNS", (*COLUMNS, seeds))
    summaries = summarize(ROWS)
    assert "| seeds |" in render(summaries, "markdown").splitlines()[2]
    assert " & seeds" in render(summaries, "latex")
    assert {r["seed_count"] for r in csv.DictReader(io.StringIO(render(summaries, "csv")))} == {"2", "3", "4"}
    assert {d["seed_count"] for d in json.loads(render(summaries, "json"))} == {2, 3}
    console = Console(width=200, record=True)
    for renderable in render(summaries, "rich"):
        console.print(renderable)
    assert "seeds" in console.export_text()


def test_csv_fields_follow_the_columns():
    header = render(summarize(ROWS), "csv").splitlines()[0].split(",")
    assert header == ["task", "method", "method_spec", "n", "seeds", "mean", "ci_low", "ci_high", "median",
                      "n_at_99", "aulc", "ood_longer", "program", "bits", "mechanism", "failed"]


# --- narrow terminals ------------------------------------------------------------------------------------

LONG_PROGRAM = "ite(eq(mod(add(x, mul(y, y)), 7), 0), sub(mul(x, x), y), add(cube(x), mul(x, y)))"
NARROW = [
    *[row(TASK, f"mlp:steps={steps},d_hidden=512", n, s, 0.5 + s / 10, ood={"longer": 0.25})
      for steps in (1000, 30000) for n in (2, 4, 8, 16, 32, 64, 128, 256) for s in range(3)],
    *[row(TASK, "synth:max_candidates=1000000", n, s, 1.0, program=LONG_PROGRAM, bits=87.25,
          metrics=mechanism("program-aligned: 3 of 4 subterms decoded r=0.97"))
      for n in (2, 4, 8, 16, 32, 64, 128, 256) for s in range(3)],
]


def _header_words(text: str) -> list[str]:
    """The words of a rich table's header rows (between ┏ and ┡)."""
    words, inside = [], False
    for line in text.splitlines():
        inside = (inside or line.startswith("┏")) and not line.startswith("┡")
        if inside and line.startswith("┃"):
            words += [w for cell in line.strip("┃").split("┃") for w in cell.split()]
    return words


def _whole_pieces(labels) -> set[str]:
    """Every run of a label's pieces broken after ``,`` or ``:``: what a header line may hold."""
    out = set()
    for label in labels:
        pieces = re.split(r"(?<=[,:])", label)
        out |= {"".join(pieces[i:j]) for i in range(len(pieces)) for j in range(i + 1, len(pieces) + 1)}
    return out


def test_a_table_in_80_columns_cuts_nothing(tmp_path):
    path = tmp_path / "r.sqlite"
    with Store(path) as store:
        store.put_many([(r.cell, r.result) for r in NARROW])
    result = CliRunner().invoke(cli.app, ["table", "--store", str(path)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    text = result.output
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    labels = ("mlp:steps=1000,d_hidden=512", "mlp:steps=30000,d_hidden=512", "synth:max_candidates=1000000")
    assert set(_header_words(text)) <= _whole_pieces(labels)  # broken after "," or ":" only
    words = " ".join(text.split())  # a text longer than the terminal wraps at its spaces, never cut
    assert f"synth:max_candidates=1000000 {LONG_PROGRAM} (87.2)" in words  # below the table, with its bits
    assert "program-aligned: 3 of 4 subterms decoded r=0.97 @256" in words
    assert not re.search(r"\b[PM]\d\b", text)  # no placeholders
    assert all(f"n={n} " in text for n in (2, 4, 8, 16, 32, 64, 128, 256))
    wide = CliRunner().invoke(cli.app, ["table", "--store", str(path)], env={"COLUMNS": "250"}).output
    assert wide.count("┏") == 1 == text.count("┏")  # methods across: one table at 80 columns too
    assert "60.0 [50.0, 70.0]" in wide and "[50.0, 70.0]" in text.replace("60.0", "")


# --- the quick preset's shape: 3 methods × 7 sizes, every mechanism code -----------------------------

DYCK1_PROGRAM = "last(eq0(tally(or(is(tokens, tok0), gt0(tally(is(tokens, tok1)))))))"

QUICK_CODES = {
    "transformer": "k=1,17,27 r=1.00 r_held=1.00 emerge@390 held@390",
    "lstm:steps=150,eval_points=10": "depth sel 0.37 @l0.cell",
    "transformer:steps=600,batch_size=64": "ind 0.85 L1H0",
}
QUICK_SIZES = (2, 8, 32, 128, 512, 1160, 1392, 1740)
QUICK = [
    *[row(task, method, n, s, min(1.0, n / 1000 + s / 50), ood={"longer": 0.9, "unseen_tokens": 0.1},
          metrics=mechanism(code if s < 2 else "k=1 r=0.50 no emergence"))
      for task, method, code in ((TASK, "transformer", QUICK_CODES["transformer"]),
                                 (OTHER, "lstm:steps=150,eval_points=10", QUICK_CODES[
                                     "lstm:steps=150,eval_points=10"]),
                                 ("induction:d_vocab=16", "transformer:steps=600,batch_size=64",
                                  QUICK_CODES["transformer:steps=600,batch_size=64"]))
      for n in QUICK_SIZES for s in range(3)],
    *[row(task, method, n, s, 0.5, program=DYCK1_PROGRAM, bits=31.0,
          ood={"longer": 0.5, "unseen_tokens": 0.0})
      for task in (TASK, OTHER, "induction:d_vocab=16") for method in ("synth", "lookup")
      for n in QUICK_SIZES for s in range(3)],
]


@pytest.mark.parametrize("width", [80, 120])
def test_the_quick_table_fits_without_placeholders_and_explains_its_codes(tmp_path, width):
    path = tmp_path / "q.sqlite"
    with Store(path) as store:
        store.put_many([(r.cell, r.result) for r in QUICK])
    result = CliRunner().invoke(cli.app, ["table", "--store", str(path)], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    text = result.output
    assert max(len(line) for line in text.splitlines()) <= width
    assert text.count("┏") == 3  # one table per task: never split in two
    assert not re.search(r"\b[PM]\d\b", text) and "…" not in text
    assert set(_header_words(text)) <= _whole_pieces(["lookup", "lstm", "synth", "transformer"])
    words = " ".join(text.split())
    for code in QUICK_CODES.values():
        assert f"{code} (2/3) @1740" in words  # the mechanism in full, below its table
    for meaning in ("key frequencies", "restricted accuracy", "held-out control", "emergence:",
                    "depth probe selectivity", "induction score", "c of the s seeds", "training size n"):
        assert meaning in words  # the legend, under the tables that use the codes
    assert "lstm lstm:steps=150,eval_points=10" in words  # the spec each method was given
    assert "OOD longer @n=1740" in words and "n@99" in words


def test_the_legend_lists_only_the_codes_shown():
    from compare.results.legend import explain, legend_lines

    assert [code for code, _ in explain(["ind 0.85 L1H0 (2/3) @2048"])] == ["ind x LaHb", "(c/s)", "@n"]
    assert [code for code, _ in explain(["k=none r=0.02 no emergence"])] == ["k=a,b", "r=x", "no emergence"]
    assert explain(["", "none"]) == [] and all(len(line) <= 60 for line in legend_lines(
        QUICK_CODES.values(), width=60))


def test_markdown_and_the_report_explain_the_codes_they_show():
    from compare.results.report import mechanism_columns

    markdown = render(summarize(QUICK), "markdown")
    assert "Codes in the mechanism summaries:" in markdown
    assert "- `depth sel x @site`: depth probe selectivity" in markdown
    assert "- `emerge@S`: emergence" in markdown and "- `ind x LaHb`: induction score" in markdown
    report = "\n".join(mechanism_columns(QUICK))
    assert "- `r_held=x`: held-out control" in report and "- `(c/s)`: c of the s seeds" in report
    assert "Codes" not in render(summarize(ROWS), "markdown")  # no code shown, no legend
