"""The results store: one SQLite file in WAL mode, one row per finished cell.

Only the coordinating process writes; each finished cell is one transaction committed at once, so
a run killed at any moment (SIGKILL included) loses at most the cells still running, and a re-run
skips every key already present. Rows are keyed by :attr:`compare.grid.Cell.key`, so a cell is
never counted twice.

The columns are declared once, by the fields of :class:`~compare.grid.Cell` and :class:`CellResult`
(in :mod:`compare.results.records`; their type hints give each column's SQL type and how a stored
value is checked). So the store grows with them: opening an older store for writing adds the columns
it lacks (existing rows read the field's default), and reading one fills them in without writing.
Metrics without a column of their own go in the JSON column ``metrics``.

Opening for reading (``create=False``) never writes: the file is opened read-only, so ``dlps table``
works in a folder the user cannot write. Several processes may open (and create) one store at once:
creation and upgrade run inside one ``BEGIN IMMEDIATE`` transaction. Two runs on one store share
the work through leases (:meth:`Store.claim`, :meth:`Store.release`).

Every problem a user can meet (not a store, damaged, newer, read-only, a hand-edited value) is a
:class:`StoreError` of one line naming the file, and the cell and column where there is one.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import typing
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from compare.grid.cells import RESULT_FORMAT, Cell
from compare.results.leases import Leases, StoreError, lease_owner

# The records and their columns live in compare.results.records; CellResult and Row are re-exported
# here because callers import them together with Store.
from compare.results.records import (
    _ALL,
    _CELL,
    _REQUIRED,
    _RESULT,
    MAX_JSON_DEPTH,
    CellResult,
    Row,
    _Column,
    json_depth,
)
from mechanisms.record import short

__all__ = ["BUSY_TIMEOUT", "STORE_KIND", "CellResult", "Row", "Store", "StoreError", "lease_owner"]

#: Written into the metadata table; a SQLite file without it is not a dlps store.
STORE_KIND = "dlps-results"

#: The first 16 bytes of every SQLite 3 database file (a file with other bytes is not a store at all,
#: while one with these that SQLite cannot read is a damaged store).
_SQLITE_HEADER = b"SQLite format 3\x00"

#: Seconds a connection waits for another process's lock before giving up ("database is locked").
BUSY_TIMEOUT = 30.0


_CREATE = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cells (key TEXT PRIMARY KEY, "
    + ", ".join(c.declaration(new_table=True) for c in _ALL[1:]) + ")",
    # A lease: ``owner`` runs ``key`` until ``expires`` (seconds since the epoch).
    "CREATE TABLE IF NOT EXISTS leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)",
)


# --- the store ---------------------------------------------------------------------------------


class Store(Leases):
    """A dlps results store at ``path``.

    ``create=True`` opens it for writing: a missing file is created, an older store gains the columns
    it lacks, and a store that cannot be written is refused at once (StoreError), before any cell
    runs. ``create=False`` opens an existing store read-only and never writes to it.
    """

    def __init__(self, path: str | Path, create: bool = True, *, timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.writable = create
        self.timeout = timeout
        self._check_file(create)
        shm_before = self._side_file("shm").exists()
        try:
            self._open(create)
        except StoreError:
            self._close_quietly()
            if create and not shm_before:
                self._drop_broken_shm()
            raise

    def _open(self, create: bool) -> None:
        try:
            if create:
                self.conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
                self._create_or_upgrade()
            else:
                self.conn = self._open_read_only()
                self._check_meta(self._tables())
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from None
        self.columns = {name for (_, name, *_) in self.conn.execute("PRAGMA table_info(cells)")}
        missing = _REQUIRED - self.columns
        if missing:
            raise StoreError(f"{self.path} is damaged: its cells table lacks the column(s) "
                             f"{', '.join(sorted(missing))}; restore it from a copy or use another --store")
        if create:
            self.check_writable()

    def _side_file(self, kind: str) -> Path:
        """The ``-wal`` or ``-shm`` file SQLite keeps beside a WAL store."""
        return self.path.with_name(f"{self.path.name}-{kind}")

    def _wal_empty(self) -> bool:
        """No committed transaction waits in the ``-wal`` file (none, or empty): the main file alone
        holds every cell, and reading it as immutable misses nothing."""
        wal = self._side_file("wal")
        try:
            return wal.stat().st_size == 0
        except FileNotFoundError:
            return True

    def _drop_broken_shm(self) -> None:
        """Remove a ``-shm`` this failed opening left half-written (on a full disk SQLite may leave 3
        bytes): readers would need to rebuild it, which a full disk forbids. Only one smaller than
        the 32 KiB every live connection maps, beside an empty ``-wal``: then no process uses it."""
        shm = self._side_file("shm")
        try:
            if shm.stat().st_size < _SHM_MIN and self._wal_empty():
                shm.unlink()
        except OSError:
            pass

    # opening

    def _check_file(self, create: bool) -> None:
        """Refuse what is not a store before SQLite sees it (SQLite would call a text file "not a
        database", and create a file where a reader asked for none)."""
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a dlps results store; give a file for --store")
        if not self.path.exists():
            if not create:
                raise StoreError(f"no results store at {self.path} (run `dlps run` first)")
            if not self.path.parent.is_dir():
                raise StoreError(f"cannot create store {self.path}: folder {self.path.parent} does not exist")
            return
        try:
            with self.path.open("rb") as handle:
                head = handle.read(len(_SQLITE_HEADER))
        except OSError as exc:
            raise StoreError(f"cannot read the results store {self.path}: {exc.strerror or exc}") from None
        if head and head != _SQLITE_HEADER:
            raise StoreError(f"{self.path} is not a dlps results store (not an SQLite database)")
        if not head and not create:
            raise StoreError(f"{self.path} is an empty file, not a dlps results store")

    def _open_read_only(self) -> sqlite3.Connection:
        """A read-only connection. SQLite reads a WAL store through a ``-shm`` file beside it; where
        the folder forbids creating one and no ``-wal`` file exists (so no writer holds uncommitted
        pages), or where the ``-shm`` cannot be made (a full disk) and the ``-wal`` is empty, the file is
        read as immutable instead."""
        uri = "file:" + quote(str(self.path.resolve()))
        shm_before = self._side_file("shm").exists()
        conn = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=self.timeout, isolation_level=None)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            # "disk I/O error": the -shm cannot be made or grown (a full disk); then too, with nothing
            # in the -wal, the main file holds every cell.
            if not self._wal_empty() or not any(w in str(exc) for w in ("readonly", "unable to open", "I/O")):
                raise
            if not shm_before:
                self._drop_broken_shm()  # what SQLite just left of its attempt
        conn = sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, isolation_level=None)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn

    def _tables(self) -> set[str]:
        return {name for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def _check_meta(self, tables: set[str]) -> None:
        """Refuse SQLite files that are not dlps stores, and stores of a newer format."""
        if not tables:
            if not self.writable:
                raise StoreError(f"{self.path} is an empty database, not a dlps results store")
            return
        if "meta" not in tables or "cells" not in tables:
            raise StoreError(f"{self.path} is an SQLite file but not a dlps results store")
        meta = dict(self.conn.execute("SELECT name, value FROM meta"))
        if meta.get("kind") != STORE_KIND:
            raise StoreError(f"{self.path} is an SQLite file but not a dlps results store")
        version = self._format(meta)
        if version > RESULT_FORMAT:
            raise StoreError(
                f"{self.path} was written by a newer dlps (result format {version}; this dlps reads "
                f"up to {RESULT_FORMAT}); upgrade dlps or use another --store"
            )

    def _format(self, meta: dict[str, Any]) -> int:
        text = meta.get("format", "0")
        try:
            return int(text)
        except (TypeError, ValueError):
            raise StoreError(
                f"{self.path}: the meta table's format is {text!r}, not a result format number "
                f"(hand-edited or damaged); set it back, e.g. sqlite3 {self.path} "
                f"\"UPDATE meta SET value='{RESULT_FORMAT}' WHERE name='format'\""
            ) from None

    def _create_or_upgrade(self) -> None:
        """Create the tables, or add what an older store lacks, in one ``BEGIN IMMEDIATE``
        transaction: of several processes creating one store at once, one creates it and the others
        wait for it (busy timeout) and then find it made."""
        with self.transaction():
            tables = self._tables()
            self._check_meta(tables)
            for statement in _CREATE:
                self.conn.execute(statement)
            present = {name for (_, name, *_) in self.conn.execute("PRAGMA table_info(cells)")}
            for column in _ALL:
                if column.name not in present and column.name not in _REQUIRED:
                    self.conn.execute(f"ALTER TABLE cells ADD COLUMN {column.declaration(new_table=False)}")
            meta = dict(self.conn.execute("SELECT name, value FROM meta"))
            wanted = {"kind": STORE_KIND, "format": str(max(self._format(meta), RESULT_FORMAT))}
            changed = [(name, value) for name, value in wanted.items() if meta.get(name) != value]
            if changed:
                self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", changed)
        self._use_wal()
        self.conn.execute("PRAGMA synchronous=NORMAL")  # durable against process kills

    def _use_wal(self) -> None:
        """Switch the file to WAL: readers (dlps table) never block the writer, and a commit is one
        append. The mode is kept in the file, so this is a no-op after the first time (and is never
        needed to read). SQLite answers "database is locked" at once, without waiting, while another
        connection holds the file during the switch; so wait here, as the busy timeout would."""
        deadline = time.monotonic() + self.timeout
        while self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                if self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal":
                    return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError("database is locked")
            time.sleep(0.01)

    def check_writable(self) -> None:
        """Raise StoreError unless a cell could be committed now. ``Store(path)`` calls it; call it
        again before starting work on a store held open for a while. Nothing is written: the probe
        write is rolled back."""
        if not self.writable:
            raise StoreError(f"{self.path} was opened for reading only; open it with create=True to write")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute("UPDATE meta SET value = value WHERE name = 'kind'")
            finally:
                self.conn.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from None

    def _explain(self, exc: sqlite3.DatabaseError) -> str:
        text = str(exc)
        if "not a database" in text or "malformed" in text or "encrypted" in text:
            return (f"{self.path} is damaged (not a readable SQLite database: {text}); restore it from a "
                    "copy or use another --store")
        if "locked" in text or "busy" in text:
            return (f"results store {self.path} stayed locked by another process for {self.timeout:g} s "
                    f"({text}); try again when it is done")
        if "full" in text or "disk I/O" in text:  # SQLite's words for ENOSPC, and for a -shm it cannot grow
            what = "read" if not self.writable else "write"
            return (f"cannot {what} the results store {self.path}: {text}{_free_space(self.path)}; free "
                    "space on the disk, or give another --store")
        if "readonly" in text or "unable to open" in text:
            if not self.writable:
                return f"cannot read the results store {self.path}: {text}"
            return (f"cannot write the results store {self.path}: {text}; make the file and its folder "
                    "writable or give another --store")
        return f"results store {self.path}: {text}"

    def _close_quietly(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()

    # use

    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from None

    def finished_keys(self, include_failed: bool = True) -> set[str]:
        """Keys of stored cells (ok ones, and failed ones unless ``include_failed`` is False)."""
        query = "SELECT key FROM cells" + ("" if include_failed else " WHERE status = 'ok'")
        return {key for (key,) in self._query(query)}

    def put(self, cell: Cell, result: CellResult, *, owner: str | None = None) -> None:
        """Store one finished cell, committed before returning (replaces a failed row of that key)."""
        self.put_many([(cell, result)], owner=owner)

    def put_many(self, items: Sequence[tuple[Cell, CellResult]], *, owner: str | None = None) -> None:
        """Store finished cells in one transaction: all of them or, if anything fails, none. With
        ``owner``, that owner's leases on these cells are released in the same transaction.

        A batched job is committed this way, so that a killed run never keeps part of a batch: the
        re-run then trains the same batch again, and batched learners (whose last digits may depend
        on which models trained together) reproduce the uninterrupted run exactly.
        """
        self._require_writable()
        names, marks = ", ".join(c.name for c in _ALL), ", ".join("?" * len(_ALL))
        rows = []
        for cell, result in items:
            values = {"key": cell.key, **asdict(cell), **asdict(result), "format": RESULT_FORMAT,
                      "finished_at": time.time()}
            rows.append([c.encode(values[c.name]) for c in _ALL])
        try:
            with self.transaction():
                self.conn.executemany(f"INSERT OR REPLACE INTO cells ({names}) VALUES ({marks})", rows)
                if owner is not None:
                    self.conn.executemany("DELETE FROM leases WHERE key = ? AND owner = ?",
                                          [(row[0], owner) for row in rows])
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from None

    def rows(self, status: str | None = None) -> list[Row]:
        """Every stored cell in a stable order (task, method spec, n, seed). Columns an older store
        lacks read as the field's default. A value that does not fit its column (a hand edit) is a
        StoreError naming the cell and the column."""
        present = [c for c in _ALL[:-2] if c.name in self.columns]
        query = f"SELECT {', '.join(c.name for c in present)} FROM cells"
        args: tuple = ()
        if status is not None:
            query += " WHERE status = ?"
            args = (status,)
        query += " ORDER BY task, method_spec, n, seed"
        out = []
        for values in self._query(query, args):
            record = dict(zip((c.name for c in present), values, strict=True))
            decoded = {c.name: self._decode(c, record) for c in present}
            for c in _ALL[:-2]:
                if c.name not in decoded:
                    decoded[c.name] = c.default() if c.default is not None else None
            cell = Cell(**{c.name: decoded[c.name] for c in _CELL})
            result = CellResult(**{c.name: decoded[c.name] for c in _RESULT})
            out.append(Row(cell=cell, result=result, key=decoded["key"]))
        return out

    def _decode(self, column: _Column, record: dict[str, Any]) -> Any:
        """The value of ``column`` in ``record``, checked; a NULL where the column has a default (a row
        from before the column existed) reads as the default."""
        value = record[column.name]
        if value is None and column.default is not None:
            return column.default()
        if column.json:
            deep = f"valid JSON nested at most {MAX_JSON_DEPTH} deep"
            try:
                value = json.loads(value)
            except RecursionError:  # the decoder's own stack limit, far deeper than ours
                self._bad_value(record, column, value, deep)
            except (TypeError, ValueError):
                self._bad_value(record, column, value, "valid JSON")
            if json_depth(value) > MAX_JSON_DEPTH:
                self._bad_value(record, column, value, deep)
        if isinstance(value, float) and column.sql == "INTEGER" and value.is_integer():
            value = int(value)  # SQLite keeps 3.0 typed into an INTEGER column as REAL
        if not column.check(value):
            self._bad_value(record, column, value, column.expected)
        if column.inside is not None and (found := column.inside(value)) is not None:
            path, inner, expected = found
            self._bad_value(record, column, inner, expected, at=path)
        return value

    def _bad_value(
        self, record: dict[str, Any], column: _Column, value: Any, expected: str, at: str | None = None
    ) -> typing.NoReturn:
        shown = short(value)
        if isinstance(value, str) and len(value) > 1000:  # raw JSON text: its size says enough
            shown = f"{len(value):,} characters of text"
        key = record.get("key")
        # The cell's own columns may be the bad value: shown short, like the value.
        where = (f"cell {key} ({_cut(record.get('task'))}, {_cut(record.get('method_spec'))}, "
                 f"n={_cut(record.get('n'))}, seed={_cut(record.get('seed'))})")
        place = f"column {column.name}" + (f" at key {at}" if at else "")
        raise StoreError(
            f"{self.path}: {where} holds {shown} in {place}, not {expected} (hand-edited?); "
            f"fix it, or delete the row to run the cell again: sqlite3 {self.path} "
            f"\"DELETE FROM cells WHERE key='{key}'\""
        )

    def _require_writable(self) -> None:
        if not self.writable:
            raise StoreError(f"{self.path} was opened for reading only; open it with create=True to write")


#: The smallest ``-shm`` file a live WAL connection has (SQLite maps it in 32 KiB regions).
_SHM_MIN = 32768


def _free_space(path: Path) -> str:
    """`` (N bytes free on its disk)`` where that is little (the likely cause), else nothing."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return ""
    return f" ({free:,} bytes free on its disk)" if free < 2**20 else ""


def _cut(value: Any, limit: int = 60) -> str:
    """``str(value)`` cut to ``limit`` characters (a hand-edited spec may be long)."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
