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
import os
import socket
import sqlite3
import time
import typing
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from compare.grid.cells import RESULT_FORMAT, Cell

# The records and their columns live in compare.results.records; CellResult and Row are re-exported
# here because callers import them together with Store.
from compare.results.records import _ALL, _CELL, _REQUIRED, _RESULT, CellResult, Row, _Column

__all__ = ["BUSY_TIMEOUT", "STORE_KIND", "CellResult", "Row", "Store", "StoreError", "lease_owner"]

#: Written into the metadata table; a SQLite file without it is not a dlps store.
STORE_KIND = "dlps-results"

#: The first 16 bytes of every SQLite 3 database file (a file with other bytes is not a store at all,
#: while one with these that SQLite cannot read is a damaged store).
_SQLITE_HEADER = b"SQLite format 3\x00"

#: Seconds a connection waits for another process's lock before giving up ("database is locked").
BUSY_TIMEOUT = 30.0


class StoreError(ValueError):
    """The store cannot be used (not a dlps store, damaged, newer format, unwritable, a hand-edited
    value); one line for a user, naming the value and what to do."""


_CREATE = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cells (key TEXT PRIMARY KEY, "
    + ", ".join(c.declaration(new_table=True) for c in _ALL[1:]) + ")",
    # A lease: ``owner`` runs ``key`` until ``expires`` (seconds since the epoch).
    "CREATE TABLE IF NOT EXISTS leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)",
)


def lease_owner() -> str:
    """A name for this process in :meth:`Store.claim`: ``host:pid:random`` (so that leases of a
    process that died on this host are recognised as dead, whatever their expiry)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_alive(owner: str) -> bool:
    """False only when ``owner`` names a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's live process; a pid out of range
        return True
    return True


# --- the store ---------------------------------------------------------------------------------


class Store:
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
        try:
            if create:
                self.conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
                self._create_or_upgrade()
            else:
                self.conn = self._open_read_only()
                self._check_meta(self._tables())
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            raise StoreError(self._explain(exc)) from None
        except StoreError:
            self._close_quietly()
            raise
        self.columns = {name for (_, name, *_) in self.conn.execute("PRAGMA table_info(cells)")}
        missing = _REQUIRED - self.columns
        if missing:
            self._close_quietly()
            raise StoreError(f"{self.path} is damaged: its cells table lacks the column(s) "
                             f"{', '.join(sorted(missing))}; restore it from a copy or use another --store")
        if create:
            self.check_writable()

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
        pages), the file is read as immutable instead."""
        uri = "file:" + quote(str(self.path.resolve()))
        conn = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=self.timeout, isolation_level=None)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            wal = self.path.with_name(self.path.name + "-wal")
            if wal.exists() or not ("readonly" in str(exc) or "unable to open" in str(exc)):
                raise
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
        if "readonly" in text or "unable to open" in text or "disk I/O" in text:
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
            try:
                value = json.loads(value)
            except (TypeError, ValueError):
                self._bad_value(record, column, value, "valid JSON")
        if isinstance(value, float) and column.sql == "INTEGER" and value.is_integer():
            value = int(value)  # SQLite keeps 3.0 typed into an INTEGER column as REAL
        if not column.check(value):
            self._bad_value(record, column, value, column.expected)
        return value

    def _bad_value(
        self, record: dict[str, Any], column: _Column, value: Any, expected: str
    ) -> typing.NoReturn:
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        key = record.get("key")
        where = (f"cell {key} ({record.get('task')}, {record.get('method_spec')}, n={record.get('n')}, "
                 f"seed={record.get('seed')})")
        raise StoreError(
            f"{self.path}: {where} holds {shown} in column {column.name}, not {expected} (hand-edited?); "
            f"fix it, or delete the row to run the cell again: sqlite3 {self.path} "
            f"\"DELETE FROM cells WHERE key='{key}'\""
        )

    # leases: two runs on one store share the work

    def claim(self, keys: Iterable[str], owner: str, ttl: float, *, include_failed: bool = True) -> list[str]:
        """Lease for ``owner`` (see :func:`lease_owner`), for ``ttl`` seconds, those of ``keys`` that it
        may run, in their order: not stored already (failed cells count as stored unless
        ``include_failed`` is False, as in :meth:`finished_keys`) and not leased by another owner whose
        lease is unexpired and whose process is alive. ``owner``'s own leases are renewed.

        Checked and taken in one transaction, so two processes claiming at once never both get a key.
        A cell may outlive ``ttl``: renew leases (:meth:`renew`) while working, and release them
        (:meth:`release`, or ``put_many(..., owner=owner)``) when done.
        """
        self._require_writable()
        now = time.time()
        claimed: list[str] = []
        try:
            with self.transaction():
                query = "SELECT key FROM cells" + ("" if include_failed else " WHERE status = 'ok'")
                stored = {key for (key,) in self.conn.execute(query)}
                leases = {key: (holder, expires) for key, holder, expires
                          in self.conn.execute("SELECT key, owner, expires FROM leases")}
                alive: dict[str, bool] = {}
                for key in dict.fromkeys(keys):
                    if key in stored:
                        continue
                    holder, expires = leases.get(key, (owner, 0.0))
                    if holder != owner and expires > now:
                        if holder not in alive:
                            alive[holder] = _owner_alive(holder)
                        if alive[holder]:
                            continue
                    claimed.append(key)
                self.conn.executemany("INSERT OR REPLACE INTO leases VALUES (?, ?, ?)",
                                      [(key, owner, now + ttl) for key in claimed])
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from None
        return claimed

    def renew(self, owner: str, ttl: float) -> int:
        """Extend every lease of ``owner`` to ``ttl`` seconds from now; the number renewed."""
        self._require_writable()
        try:
            with self.transaction():
                cursor = self.conn.execute("UPDATE leases SET expires = ? WHERE owner = ?",
                                           (time.time() + ttl, owner))
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from None
        return cursor.rowcount

    def release(self, keys: Iterable[str], owner: str) -> None:
        """Give up ``owner``'s leases on ``keys`` (others' leases are left alone): the cells finished,
        or the run stops without them (another run may then take them at once)."""
        self._require_writable()
        try:
            with self.transaction():
                self.conn.executemany("DELETE FROM leases WHERE key = ? AND owner = ?",
                                      [(key, owner) for key in dict.fromkeys(keys)])
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from None

    def leases(self) -> dict[str, tuple[str, float]]:
        """Current leases: key → (owner, expiry time); expired ones included until claimed over."""
        if "leases" not in {name for (name,) in self._query("SELECT name FROM sqlite_master")}:
            return {}  # an older store opened for reading
        return {key: (owner, expires) for key, owner, expires
                in self._query("SELECT key, owner, expires FROM leases")}

    def _require_writable(self) -> None:
        if not self.writable:
            raise StoreError(f"{self.path} was opened for reading only; open it with create=True to write")


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
