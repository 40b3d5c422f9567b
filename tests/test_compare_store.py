"""The results store: round trips, skipping, WAL mode, and the files it refuses."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compare.grid import RESULT_FORMAT, Cell
from compare.store import CellResult, Store, StoreError

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
