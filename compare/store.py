"""The results store: one SQLite file in WAL mode, one row per finished cell.

Only the coordinating process writes; each finished cell is one transaction committed at once, so
a run killed at any moment (SIGKILL included) loses at most the cells still running, and a re-run
skips every key already present. Rows are keyed by :attr:`compare.grid.Cell.key`, so a cell is
never counted twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from compare.grid import RESULT_FORMAT, Cell

#: Written into the metadata table; a SQLite file without it is not a dlps store.
STORE_KIND = "dlps-results"


class StoreError(ValueError):
    """The store cannot be used (not a dlps store, newer format, unwritable); one line for a user."""


@dataclass
class CellResult:
    """Everything measured in one cell. Plain types only: it crosses process boundaries.

    ``ood`` maps each out-of-distribution split to its accuracy. ``program``/``bits``/``search``
    come from the synthesizer; ``steps_fit``/``steps_generalize`` (first evaluated step with train,
    resp. test, accuracy ≥ 0.99) from networks; ``artefacts`` lists saved files (checkpoints).
    """

    status: str = "ok"  # "ok" or "failed"
    error: str | None = None
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    ood: dict[str, float] = field(default_factory=dict)
    fit_seconds: float | None = None
    program: str | None = None
    bits: float | None = None
    search: dict[str, Any] = field(default_factory=dict)
    steps_fit: int | None = None
    steps_generalize: int | None = None
    artefacts: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


_JSON_FIELDS = {"ood", "search", "artefacts", "extra"}
_RESULT_COLUMNS = [f.name for f in fields(CellResult)]
_CELL_COLUMNS = ["key", "task", "method", "method_spec", "n", "seed"]

_REAL = {"train_accuracy", "test_accuracy", "fit_seconds", "bits"}
_INTEGER = {"steps_fit", "steps_generalize"}
_SCHEMA = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE cells (key TEXT PRIMARY KEY, task TEXT NOT NULL, method TEXT NOT NULL, "
    "method_spec TEXT NOT NULL, n INTEGER NOT NULL, seed INTEGER NOT NULL, "
    + ", ".join(f"{name} {'REAL' if name in _REAL else 'INTEGER' if name in _INTEGER else 'TEXT'}"
                for name in _RESULT_COLUMNS)
    + ", format INTEGER NOT NULL, finished_at REAL NOT NULL)",
)


@dataclass(frozen=True)
class Row:
    """A stored cell with its result."""

    cell: Cell
    result: CellResult
    key: str


class Store:
    """A dlps results store at ``path``; created when missing (unless ``create`` is False)."""

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise StoreError(f"no results store at {self.path} (run `dlps run` first)")
            if not self.path.parent.is_dir():
                raise StoreError(f"cannot create store {self.path}: folder {self.path.parent} does not exist")
        try:
            self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._check_and_init(create)
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from None

    def _explain(self, exc: sqlite3.DatabaseError) -> str:
        text = str(exc)
        if "not a database" in text or "malformed" in text:
            return f"{self.path} is not a dlps results store (not an SQLite database)"
        if "readonly" in text or "unable to open" in text or "disk I/O" in text:
            return f"cannot write the results store {self.path}: {text}"
        return f"results store {self.path}: {text}"

    def _check_and_init(self, create: bool) -> None:
        tables = {name for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables:
            if "meta" not in tables or "cells" not in tables:
                raise StoreError(f"{self.path} is an SQLite file but not a dlps results store")
            meta = dict(self.conn.execute("SELECT name, value FROM meta"))
            if meta.get("kind") != STORE_KIND:
                raise StoreError(f"{self.path} is an SQLite file but not a dlps results store")
            version = int(meta.get("format", "0"))
            if version > RESULT_FORMAT:
                raise StoreError(
                    f"{self.path} was written by a newer dlps (result format {version}; this dlps reads "
                    f"up to {RESULT_FORMAT}); upgrade dlps or use another --store"
                )
        if create:
            # WAL: readers (dlps table) never block the writer, and a commit is one append.
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")  # durable against process kills
        if not tables:
            if not create:
                raise StoreError(f"{self.path} is an empty file, not a dlps results store")
            with self.transaction():
                for statement in _SCHEMA:
                    self.conn.execute(statement)
                self.conn.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [("kind", STORE_KIND), ("format", str(RESULT_FORMAT))],
                )

    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def finished_keys(self, include_failed: bool = True) -> set[str]:
        """Keys of stored cells (ok ones, and failed ones unless ``include_failed`` is False)."""
        query = "SELECT key FROM cells" + ("" if include_failed else " WHERE status = 'ok'")
        return {key for (key,) in self.conn.execute(query)}

    def put(self, cell: Cell, result: CellResult) -> None:
        """Store one finished cell, committed before returning (replaces a failed row of that key)."""
        self.put_many([(cell, result)])

    def put_many(self, items: Sequence[tuple[Cell, CellResult]]) -> None:
        """Store finished cells in one transaction: all of them or, if anything fails, none.

        A batched job is committed this way, so that a killed run never keeps part of a batch: the
        re-run then trains the same batch again, and batched learners (whose last digits may depend
        on which models trained together) reproduce the uninterrupted run exactly.
        """
        columns = _CELL_COLUMNS + _RESULT_COLUMNS + ["format", "finished_at"]
        names, marks = ", ".join(columns), ", ".join("?" * len(columns))
        rows = []
        for cell, result in items:
            values = asdict(result)
            row = [cell.key, cell.task, cell.method, cell.method_spec, cell.n, cell.seed]
            row += [json.dumps(values[name], sort_keys=True) if name in _JSON_FIELDS else values[name]
                    for name in _RESULT_COLUMNS]
            rows.append(row + [RESULT_FORMAT, time.time()])
        try:
            with self.transaction():
                self.conn.executemany(f"INSERT OR REPLACE INTO cells ({names}) VALUES ({marks})", rows)
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from None

    def rows(self, status: str | None = None) -> list[Row]:
        """Every stored cell in a stable order (task, method spec, n, seed)."""
        columns = _CELL_COLUMNS + _RESULT_COLUMNS
        query = f"SELECT {', '.join(columns)} FROM cells"
        args: tuple = ()
        if status is not None:
            query += " WHERE status = ?"
            args = (status,)
        query += " ORDER BY task, method_spec, n, seed"
        out = []
        for values in self.conn.execute(query, args):
            record = dict(zip(columns, values, strict=True))
            cell = Cell(**{name: record[name] for name in _CELL_COLUMNS[1:]})
            result = CellResult(**{
                name: json.loads(record[name]) if name in _JSON_FIELDS else record[name]
                for name in _RESULT_COLUMNS
            })
            out.append(Row(cell=cell, result=result, key=record["key"]))
        return out


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
