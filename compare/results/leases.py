"""Leases: how two runs on one results store share the work (:class:`Leases`, mixed into
:class:`compare.results.store.Store`). A run claims cells before running them (:meth:`Leases.claim`),
renews its claims while working and releases them when done; a claim of a process that died on this
host, or one past its expiry, no longer counts."""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable
from typing import Any


class StoreError(ValueError):
    """The store cannot be used (not a dlps store, damaged, newer format, unwritable, a hand-edited
    value); one line for a user, naming the value and what to do."""


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


class Leases:
    """The lease methods of a store: they use its connection (``conn``), its error wording
    (``_explain``) and ``transaction``, ``_query`` and ``_require_writable``."""

    conn: sqlite3.Connection

    def _explain(self, exc: sqlite3.DatabaseError) -> str:
        raise NotImplementedError

    def _query(self, sql: str, args: Any = ()) -> list[tuple]:
        raise NotImplementedError

    def _require_writable(self) -> None:
        raise NotImplementedError

    def transaction(self) -> Any:
        raise NotImplementedError


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
