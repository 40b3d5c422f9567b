"""A hand-edited store value of the wrong type, at any depth of a cell's metrics JSON, is refused by
``dlps table`` and ``dlps report`` in one line naming the cell and the key (issue 29 items 6, 12): the
store checks each analysis's summary against its record's type hints when it reads a row, so no
reader meets a value it cannot use. Refused, never read past: one wrong cell is a hand edit to fix
(the line says how), not a cell to drop silently from a table."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from compare.grid.cells import Cell
from compare.results.records import MAX_JSON_DEPTH, json_depth
from compare.results.store import CellResult, Store, StoreError
from mechanisms.record import RecordError
from mechanisms.summaries import AlignmentRecord, MechanismRecord, SimplicityRecord

runner = CliRunner()
CELL = Cell("modular:op=x+y,p=7", "transformer", "transformer:steps=10", 8, 0)
METRICS = {
    "simplicity": {"side": "network", "llc": 10.4, "dead_units": 2, "units": 16},
    "mechanism": {"text": "k=1,2 r=1.00", "restricted_accuracy": 1.0, "emergence_step": 100},
    "alignment": {"aligned": 1, "of": 2, "threshold": 0.9, "programs": [
        {"source": "map", "program": "add(x, y)", "subexpressions": [{"expression": "x", "iia": 0.95}]}]},
}
DEEP = "[" * 100_000 + "]" * 100_000


def store_with(path: Path, column: str, value: object) -> Path:
    """A one-cell store whose ``column`` was then set by hand to ``value`` (SQL text as given)."""
    with Store(path) as store:
        store.put(CELL, CellResult(train_accuracy=1.0, test_accuracy=1.0,
                                   metrics=json.loads(json.dumps(METRICS))))
        store.put(Cell("modular:op=x+y,p=7", "synth", "synth", 8, 0), CellResult(test_accuracy=1.0))
    conn = sqlite3.connect(path)
    conn.execute(f"UPDATE cells SET {column} = ? WHERE key = ?", (value, CELL.key))
    conn.commit()
    conn.close()
    return path


def edited(**summaries: object) -> str:
    return json.dumps({**METRICS, **summaries})


CASES = [
    ("metrics", edited(mechanism=5), "at key mechanism, not a JSON object"),
    ("metrics", edited(simplicity=[]), "at key simplicity, not a JSON object"),
    ("metrics", edited(simplicity={"llc": "abc"}),
     "holds 'abc' in column metrics at key simplicity.llc, not a number"),
    ("metrics", edited(alignment="aligned"), "at key alignment, not a JSON object"),
    ("metrics", edited(mechanism={"text": "k", "emergence_step": "soon"}),
     "at key mechanism.emergence_step, not an integer"),
    ("metrics", edited(mechanism={"text": 5}), "at key mechanism.text, not text"),
    ("metrics", edited(mechanism={"key_frequencies": [1, "a"]}), "at key mechanism.key_frequencies[1]"),
    ("metrics", edited(simplicity={"llc": True}), "at key simplicity.llc, not a number"),
    ("metrics", edited(simplicity={"effective_rank": {"mlp": "x"}}), "at key simplicity.effective_rank.mlp"),
    ("metrics", edited(alignment={"aligned": "x"}), "at key alignment.aligned, not an integer"),
    ("metrics", edited(alignment={"aligned": 1, "programs": [5]}),
     "at key alignment.programs[0], not a JSON"),
    ("metrics", edited(alignment={"aligned": 1, "threshold": 0.9, "programs": [{"subexpressions": 3}]}),
     "at key alignment.programs[0].subexpressions, not a list"),
    ("metrics", edited(alignment={"aligned": 1, "threshold": 0.9, "programs": [
        {"subexpressions": [{"expression": 5, "iia": 0.9}]}]}),
     "at key alignment.programs[0].subexpressions[0].expression, not text"),
    ("metrics", '{"mechanism": ' + DEEP + "}",
     f"column metrics, not valid JSON nested at most {MAX_JSON_DEPTH}"),
    ("ood", DEEP, "column ood, not valid JSON nested"),
    ("metrics", '{"notes": ' + "[" * 40 + "]" * 40 + "}", "column metrics, not valid JSON nested"),
    ("method_spec", "::;;(", "holds '::;;(' in column method_spec, not a spec"),
    ("task", "", "in column task, not a spec"),
    ("n", -1, "holds -1 in column n, not an integer >= 1"),
    ("n", 0, "holds 0 in column n, not an integer >= 1"),
]


@pytest.mark.parametrize(("column", "value", "message"), CASES)
@pytest.mark.parametrize("command", ["table", "report"])
def test_a_wrong_value_anywhere_is_one_line_naming_the_cell_and_key(tmp_path, column, value, message,
                                                                    command):
    path = store_with(tmp_path / "s.sqlite", column, value)
    args = [command, "--store", str(path)] + (["--out", str(tmp_path / "r")] if command == "report" else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert message in lines[0] and CELL.key in lines[0]
    assert len(lines[0]) < 600  # a 200 KB value is described, never echoed
    assert not (tmp_path / "r" / "report.md").exists()  # refused before a report is written


def test_a_good_store_still_reads(tmp_path):
    path = store_with(tmp_path / "s.sqlite", "seed", 0)
    with Store(path, create=False) as store:
        rows = store.rows()
    assert rows[0].result.metrics == METRICS or rows[1].result.metrics == METRICS
    assert runner.invoke(app, ["table", "--store", str(path)]).exit_code == 0


def test_records_refuse_a_field_of_the_wrong_type_and_take_numpy_values():
    with pytest.raises(RecordError, match=r"^llc holds 'abc', not a number or null$"):
        SimplicityRecord.from_metrics({"llc": "abc"})
    with pytest.raises(RecordError, match=r"emergence_step holds 'soon', not an integer or null"):
        MechanismRecord.from_metrics({"emergence_step": "soon"})
    with pytest.raises(RecordError, match=r"programs\[0\] holds 5"):
        AlignmentRecord.from_metrics({"programs": [5]})
    # What a learner computes (numpy scalars, arrays), and what JSON writes (3.0 for 3), still fit.
    fresh = SimplicityRecord.from_metrics({
        "llc": np.float64(1.5), "dead_units": np.int64(3), "units": 4.0,
        "effective_rank": {"mlp": np.float32(2.0)}, "found": np.bool_(True)})
    assert fresh.dead_units == 3
    assert MechanismRecord.from_metrics({"key_frequencies": np.array([1, 2]), "other": object()}).text == ""


def test_json_depth_is_counted_without_recursion():
    assert json_depth(5) == 0 and json_depth([]) == 1 and json_depth({"a": [{"b": []}]}) == 4
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert json_depth(deep) > MAX_JSON_DEPTH


def test_a_store_read_refusal_is_a_store_error_for_every_reader(tmp_path):
    path = store_with(tmp_path / "s.sqlite", "metrics", edited(simplicity={"llc": "abc"}))
    with Store(path, create=False) as store, pytest.raises(StoreError, match="simplicity.llc"):
        store.rows()
