"""The results store: round trips, skipping, WAL mode, the files it refuses, and older stores growing."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import cli
from compare.grid.cells import RESULT_FORMAT, Cell
from compare.results.store import CellResult, Store, StoreError

finite = st.floats(0, 1, allow_nan=False)
results = st.builds(
    CellResult,
    status=st.sampled_from(["ok", "failed"]),
    error=st.none() | st.text(max_size=20),
    test_accuracy=st.none() | finite,
    ood=st.dictionaries(st.sampled_from(["longer", "unseen"]), finite),
    fit_seconds=st.none() | st.floats(0, 1e4),
    program=st.none() | st.text(max_size=30),
    bits=st.none() | st.floats(0, 500),
    search=st.dictionaries(st.sampled_from(["candidates", "stop_reason"]), st.integers(0, 10**9) | st.text()),
    steps_fit=st.none() | st.integers(0, 10**6),
    artefacts=st.lists(st.text(max_size=10), max_size=2),
    # An analysis's summary is an object of its record's fields (the store refuses others); keys of
    # no analysis hold anything.
    metrics=st.dictionaries(st.sampled_from(["mechanism", "llc"]),
                            st.fixed_dictionaries({"text": st.text(max_size=20), "mean": finite}))
    | st.dictionaries(st.sampled_from(["loss", "notes"]), finite | st.text(max_size=5)),
)
cells = st.builds(Cell, st.sampled_from(["modular:p=7", "brackets"]), st.sampled_from(["lookup", "mlp"]),
                  st.sampled_from(["lookup", "mlp:steps=9"]), st.integers(1, 4096), st.integers(0, 9))


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(cells, results), max_size=6))
def test_rows_round_trip_and_one_row_per_key(tmp_path, items):
    path = tmp_path / f"s{abs(hash(str(items)))}.sqlite"
    with Store(path) as store:
        for cell, result in items:
            store.put(cell, result)
    last = {cell.key: (cell, result) for cell, result in items}
    with Store(path, create=False) as store:
        rows = store.rows()
        assert {row.key for row in rows} == set(last) == store.finished_keys()
        for row in rows:
            cell, result = last[row.key]
            assert row.cell == cell and row.result == result
        assert store.finished_keys(include_failed=False) == {
            key for key, (_, r) in last.items() if r.status == "ok"}


def test_wal_mode_and_metadata(tmp_path):
    path = tmp_path / "r.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert dict(conn.execute("SELECT name, value FROM meta")) == {
        "kind": "dlps-results", "format": str(RESULT_FORMAT)}


def test_missing_store_is_not_created_for_reading(tmp_path):
    with pytest.raises(StoreError, match="no results store at .*run `dlps run` first"):
        Store(tmp_path / "none.sqlite", create=False)
    assert not (tmp_path / "none.sqlite").exists()


def test_refuses_a_file_that_is_not_sqlite(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database\n" * 200)
    with pytest.raises(StoreError, match="not a dlps results store"):
        Store(path)
    assert path.read_text().startswith("hello")  # left untouched


def test_refuses_another_sqlite_database(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="SQLite file but not a dlps results store"):
        Store(path)


def test_refuses_a_newer_format(tmp_path):
    path = tmp_path / "new.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE name = 'format'", (str(RESULT_FORMAT + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=f"newer dlps \\(result format {RESULT_FORMAT + 1}"):
        Store(path)


def test_unwritable_locations(tmp_path):
    with pytest.raises(StoreError, match="folder .* does not exist"):
        Store(tmp_path / "missing" / "r.sqlite")
    with pytest.raises(StoreError, match="cannot write|not a dlps"):
        Store(tmp_path)  # a directory


def test_failed_row_is_replaced_not_duplicated(tmp_path):
    cell = Cell("modular:p=7", "lookup", "lookup", 8, 0)
    with Store(tmp_path / "r.sqlite") as store:
        store.put(cell, CellResult(status="failed", error="boom"))
        store.put(cell, CellResult(test_accuracy=0.5))
        (row,) = store.rows()
        assert row.result.status == "ok" and row.result.test_accuracy == 0.5


def test_a_batch_is_stored_whole_or_not_at_all(tmp_path):
    good = [(Cell("modular:p=7", "mlp", "mlp", n, 0), CellResult(test_accuracy=0.5)) for n in (2, 4)]
    broken = (Cell("modular:p=7", "mlp", "mlp", None, 0), CellResult())  # n NOT NULL fails in SQLite
    with Store(tmp_path / "r.sqlite") as store:
        with pytest.raises(StoreError):
            store.put_many([*good, broken])
        assert store.rows() == []
        store.put_many(good)
        assert len(store.rows()) == 2


# A store as the first dlps wrote it, less the columns added since (metrics) and two more, so that
# the test also covers several at once and JSON columns whose old rows must read as empty.
OLD_SCHEMA = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE cells (key TEXT PRIMARY KEY, task TEXT NOT NULL, method TEXT NOT NULL, "
    "method_spec TEXT NOT NULL, n INTEGER NOT NULL, seed INTEGER NOT NULL, status TEXT, error TEXT, "
    "train_accuracy REAL, test_accuracy REAL, ood TEXT, fit_seconds REAL, program TEXT, bits REAL, "
    "search TEXT, steps_fit INTEGER, format INTEGER NOT NULL, finished_at REAL NOT NULL)",
)


def old_store(path):
    """An older store with three rows, missing the columns steps_generalize, artefacts, extra, metrics."""
    conn = sqlite3.connect(path)
    for statement in OLD_SCHEMA:
        conn.execute(statement)
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [("kind", "dlps-results"), ("format", "1")])
    for n, acc in ((2, 0.5), (4, 0.75), (8, 1.0)):
        cell = Cell("modular:p=7", "synth", "synth", n, 0)
        conn.execute(
            "INSERT INTO cells (key, task, method, method_spec, n, seed, status, error, train_accuracy, "
            "test_accuracy, ood, fit_seconds, program, bits, search, steps_fit, format, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'ok', NULL, 1.0, ?, '{}', 0.1, 'add(x, y)', 12.5, "
            "'{\"candidates\": 9}', NULL, 1, 0)",
            (cell.key, cell.task, cell.method, cell.method_spec, cell.n, cell.seed, acc))
    conn.commit()
    conn.close()


def columns(path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {name for (_, name, *_) in conn.execute("PRAGMA table_info(cells)")}
    finally:
        conn.close()


def test_an_older_store_gains_the_missing_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    old_store(path)
    assert "metrics" not in columns(path)
    with Store(path) as store:
        rows = store.rows()
        assert [row.result.test_accuracy for row in rows] == [0.5, 0.75, 1.0]
        assert all(row.result.metrics == {} and row.result.extra == {} and row.result.artefacts == []
                   and row.result.search == {"candidates": 9} and row.result.program == "add(x, y)"
                   for row in rows)
        new = Cell("modular:p=7", "synth", "synth", 16, 0)
        store.put(new, CellResult(test_accuracy=1.0, metrics={"mechanism": {"text": "exact", "r": 1.0}}))
    assert {"metrics", "extra", "artefacts", "steps_generalize"} <= columns(path)
    with Store(path, create=False) as store:
        rows = store.rows()
        assert len(rows) == 4 and rows[-1].result.metrics == {"mechanism": {"text": "exact", "r": 1.0}}
    Store(path).close()  # opening an upgraded store again changes nothing
    assert len(Store(path, create=False).rows()) == 4


def test_dlps_table_reads_an_older_store_without_changing_it(tmp_path):
    path = tmp_path / "old.sqlite"
    old_store(path)
    before = path.read_bytes()
    result = CliRunner().invoke(cli.app, ["table", "--store", str(path), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    one_seed = "| synth | 50.0 [n/a: 1 seed] | 75.0 [n/a: 1 seed] | 100.0 [n/a: 1 seed] | 8 |"
    assert one_seed in result.output and "add(x, y) (12.5)" in result.output
    assert path.read_bytes() == before and "metrics" not in columns(path)  # reading never upgrades


def test_a_store_missing_a_key_column_is_damaged(tmp_path):
    path = tmp_path / "broken.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("CREATE TABLE cells (key TEXT PRIMARY KEY, task TEXT)")
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [("kind", "dlps-results"), ("format", "1")])
    conn.commit()
    conn.close()
    for create in (True, False):
        with pytest.raises(StoreError, match="is damaged: its cells table lacks .*method, method_spec"):
            Store(path, create=create)


def test_numpy_values_in_metrics_are_stored_as_plain_numbers(tmp_path):
    import numpy as np

    cell = Cell("modular:p=7", "mlp", "mlp", 8, 0)
    with Store(tmp_path / "r.sqlite") as store:
        store.put(cell, CellResult(metrics={"mechanism": {"text": "k=4", "r": np.float32(0.5),
                                                          "freqs": np.arange(3)}}))
        (row,) = store.rows()
    assert row.result.metrics == {"mechanism": {"text": "k=4", "r": 0.5, "freqs": [0, 1, 2]}}
