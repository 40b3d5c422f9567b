"""A store as data: ``dlps export`` (CSV, JSON lines, Parquet where pyarrow is installed) and the pandas
loader, one row per cell with the metrics flattened to dotted keys; no torch on the way."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli
from compare.grid.cells import Cell
from compare.results.frame import MissingExtra, load_frame, records
from compare.results.store import CellResult, Store

TASK = "modular:op=x+y,p=7,test_fraction=0.5"
MECHANISM = {"text": "k=1,3 r=1.00 emerge@40", "key_frequencies": [1, 3], "restricted_accuracy": 1.0,
             "emergence_step": 40}
CELLS = [
    (Cell(TASK, "synth", "synth", 4, 0), CellResult(test_accuracy=1.0, program="add(x, y)", bits=10.4,
                                                    search={"candidates": 12, "stop_reason": "found"})),
    (Cell(TASK, "transformer", "transformer:steps=10", 16, 0),
     CellResult(test_accuracy=0.5, ood={"longer": 0.25}, steps_fit=30, metrics={"mechanism": MECHANISM})),
    (Cell(TASK, "transformer", "transformer:steps=10", 16, 1), CellResult(status="failed", error="boom")),
]
KEYS = ("key", "task", "method", "method_spec", "n", "seed", "status", "test_accuracy", "program", "bits",
        "search.candidates", "search.stop_reason", "ood.longer", "metrics.mechanism.text",
        "metrics.mechanism.key_frequencies", "metrics.mechanism.restricted_accuracy")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "r.sqlite"
    with Store(path) as results:
        results.put_many(CELLS)
    return path


def export(*args: str):
    return CliRunner().invoke(cli.app, ["export", *args])


def test_csv_round_trip_one_row_per_cell(store):
    result = export("--store", str(store))
    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(io.StringIO(result.output)))
    assert len(lines) == len(CELLS)
    assert set(KEYS) <= set(lines[0])
    assert "extra" not in lines[0] and "metrics" not in lines[0]  # diagnostics left out; dicts flattened
    by = {(r["method"], r["seed"], r["n"]): r for r in lines}
    net = by[("transformer", "0", "16")]
    assert net["metrics.mechanism.text"] == MECHANISM["text"] and net["ood.longer"] == "0.25"
    assert json.loads(net["metrics.mechanism.key_frequencies"]) == [1, 3]  # lists as JSON text
    assert by[("synth", "0", "4")]["search.stop_reason"] == "found"
    assert by[("synth", "0", "4")]["metrics.mechanism.text"] == ""  # every column on every line
    assert by[("transformer", "1", "16")]["status"] == "failed"


def test_jsonl_to_a_file_round_trip(store, tmp_path):
    out = tmp_path / "cells.jsonl"
    result = export("--store", str(store), "--format", "jsonl", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "3 cells written" in result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 3 and all(set(KEYS) <= set(line) for line in lines)
    net = next(r for r in lines if r["seed"] == 0 and r["method"] == "transformer")
    assert net["metrics.mechanism.key_frequencies"] == [1, 3] and net["steps_fit"] == 30
    assert list(lines[0]) == list(records(Store(store, create=False).rows())[0])  # one schema
    again = export("--store", str(store), "--format", "jsonl", "--out", str(out))
    assert again.exit_code == 2 and "--force" in again.output
    assert export("--store", str(store), "--format", "jsonl", "--out", str(out), "--force").exit_code == 0


def test_bad_requests_exit_2_in_one_line(store, tmp_path):
    for args, said in ((("--format", "xlsx"), "accepted: csv, jsonl, parquet"),
                       (("--format", "parquet"), "give a file with --out")):
        result = export("--store", str(store), *args)
        assert result.exit_code == 2 and said in result.output
    missing = export("--store", str(tmp_path / "nosuch.sqlite"))
    assert missing.exit_code == 2 and len(missing.output.strip().splitlines()) == 1


def test_parquet_needs_pyarrow(store, tmp_path):
    out = tmp_path / "cells.parquet"
    result = export("--store", str(store), "--format", "parquet", "--out", str(out))
    try:
        import pyarrow.parquet as pq
    except ImportError:
        assert result.exit_code == 2 and "pip install 'dlps[frames]'" in result.output
        assert not out.exists()
        return
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 3 and set(KEYS) <= set(table.column_names)


def test_load_frame_without_pandas_says_which_extra(store, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if not installed
    with pytest.raises(MissingExtra, match=r"needs pandas.*pip install 'dlps\[frames\]'"):
        load_frame(store)


def test_load_frame(store):
    pytest.importorskip("pandas")
    frame = load_frame(store, methods=["transformer"])
    assert len(frame) == 2 and set(KEYS) - {"program", "bits", "search.candidates",
                                            "search.stop_reason"} <= set(frame.columns)
    assert frame["test_accuracy"].max() == 0.5


def test_reading_a_store_imports_no_torch(store):
    code = ("import sys; from compare.results.frame import export_store, records, read_rows; "
            f"export_store({str(store)!r}, 'csv'); records(read_rows({str(store)!r})); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
