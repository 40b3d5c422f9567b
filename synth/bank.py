"""The bank: one program per observational-equivalence class, per type, in parallel arrays.

Rows are programs in the order they were found (so in non-decreasing cost): ``values[i]`` holds
the program's outputs on every example, ``cost[i]`` its quantized cost, ``prim[i]`` the index of its
root primitive and ``kids[i]`` the bank rows of its children (in the banks of the argument types).
Trees are materialized only on demand.

Equivalence is decided by value rows: a 64-bit key per row (a multilinear hash of its bytes with
random odd weights, see :class:`RowKeys`) locates the row in an open-addressing table, and every key
match is verified by comparing the rows themselves; rows whose keys collide but whose values differ
are all kept (the probe goes on past them), so a hash collision can never merge two classes.
"""

from __future__ import annotations

import numpy as np

_EMPTY = np.uint64(0)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class RowKeys:
    """64-bit keys of value rows: ``sum_i word_i * w_i (mod 2^64)`` over the row's 8-byte words
    (or bytes, when the row length is not a multiple of 8), with random odd ``w_i``. Key 0 is
    reserved for empty table slots, so it is mapped to 1 (harmless: keys are always verified)."""

    def __init__(self, row_bytes: int, rng: np.random.Generator) -> None:
        self.row_bytes = row_bytes
        self.wide = row_bytes % 8 == 0
        n_weights = row_bytes // 8 if self.wide else row_bytes
        self.weights = rng.integers(0, 2**63, size=max(n_weights, 1), dtype=np.uint64) * np.uint64(
            2
        ) + np.uint64(1)

    def words(self, flat: np.ndarray) -> np.ndarray:
        """Rows of ``flat`` (shape ``(m, ...)``, C-contiguous) as comparable words (m, w)."""
        rows = flat.reshape(len(flat), -1).view(np.uint8)
        return rows.view(np.uint64) if self.wide else rows

    def __call__(self, words: np.ndarray) -> np.ndarray:
        if self.wide:
            keys = words @ self.weights
        else:
            keys = words.astype(np.uint64) @ self.weights
        keys[keys == _EMPTY] = 1
        return keys


class TypeBank:
    """The programs of one type found so far, with their value rows and a hash index on them."""

    def __init__(self, keys: RowKeys | None = None) -> None:
        self.size = 0
        self.values: np.ndarray | None = None  # (capacity, n, ...) of the type's dtype
        self.keys = np.zeros(0, np.uint64)
        self.cost = np.zeros(0, np.int64)
        self.prim = np.zeros(0, np.int16)
        self.kids = np.zeros((0, 0), np.int64)
        self.rowkeys = keys
        #: Level (quantized cost) -> (start, end) rows of that level.
        self.levels: dict[int, tuple[int, int]] = {}
        self._tkeys = np.zeros(0, np.uint64)
        self._trows = np.zeros(0, np.int64)
        self._shift = np.uint64(64)

    # -- storage -----------------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        stored = 0 if self.values is None else self.values.nbytes
        return (
            stored
            + self.keys.nbytes
            + self.cost.nbytes
            + self.prim.nbytes
            + self.kids.nbytes
            + (self._tkeys.nbytes + self._trows.nbytes)
        )

    def words(self, start: int = 0, end: int | None = None) -> np.ndarray:
        assert self.values is not None and self.rowkeys is not None
        end = self.size if end is None else end
        return self.rowkeys.words(self.values[start:end])

    def _grow(self, need: int, sample: np.ndarray, arity: int) -> None:
        cap = len(self.keys)
        if self.values is None:
            self.values = np.empty((0, *sample.shape[1:]), sample.dtype)
        if need <= cap and arity <= self.kids.shape[1]:
            return
        new_cap = max(need, 2 * cap, 64)
        width = max(arity, self.kids.shape[1])

        def grown(a: np.ndarray) -> np.ndarray:
            b = np.zeros((new_cap, *a.shape[1:]), a.dtype)
            b[: self.size] = a[: self.size]
            return b

        self.values = grown(self.values)
        self.keys = grown(self.keys)
        self.cost = grown(self.cost)
        self.prim = grown(self.prim)
        kids = np.zeros((new_cap, width), np.int64)
        kids[: self.size, : self.kids.shape[1]] = self.kids[: self.size]
        self.kids = kids

    # -- hash index --------------------------------------------------------------------------------
    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * _GOLDEN) >> self._shift).astype(np.intp)

    def _reserve(self, n_rows: int) -> None:
        """Keep the table at most half full, rebuilding it at twice the size when needed."""
        if 2 * n_rows <= len(self._tkeys):
            return
        cap = 1 << max(10, int(np.ceil(np.log2(max(2 * n_rows, 2)))) + 1)
        self._tkeys = np.zeros(cap, np.uint64)
        self._trows = np.zeros(cap, np.int64)
        self._shift = np.uint64(64 - int(np.log2(cap)))
        if self.size:
            self._place(self.keys[: self.size], np.arange(self.size))

    def _place(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Put rows known to be distinct into empty slots (linear probing)."""
        mask = len(self._tkeys) - 1
        slot = self._slots(keys)
        todo = np.arange(len(keys))
        while todo.size:
            s = slot[todo]
            free = self._tkeys[s] == _EMPTY
            cand = todo[free]
            self._tkeys[s[free]] = keys[cand]
            self._trows[s[free]] = rows[cand]
            won = np.zeros(len(todo), bool)
            won[free] = self._trows[s[free]] == rows[cand]
            lost = todo[~won]
            moved = ~free[~won]  # occupied by someone else before this round: probe on
            slot[lost[moved]] = (slot[lost[moved]] + 1) & mask
            todo = lost

    def add(self, flat: np.ndarray, words: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Insert the candidate rows ``flat`` (m, n, ...) that are new; return their indices in
        ``flat`` (increasing). Duplicates of bank rows or of earlier new rows are dropped. The
        caller then calls :meth:`commit` with those rows' metadata."""
        m = len(keys)
        self._reserve(self.size + m)
        base = self.size
        mask = len(self._tkeys) - 1
        tent = base + np.arange(m)  # tentative row ids of candidates while they compete
        slot = self._slots(keys)
        is_new = np.zeros(m, bool)
        final = np.zeros(m, np.intp)
        bank_words = None if base == 0 else self.words(0, base)
        todo = np.arange(m)
        while todo.size:
            s = slot[todo]
            g = self._tkeys[s]
            free = g == _EMPTY
            retry = np.zeros(0, np.intp)
            if free.any():
                cand, sc = todo[free], s[free]
                self._tkeys[sc] = keys[cand]
                self._trows[sc] = tent[cand]
                won = self._trows[sc] == tent[cand]
                is_new[cand[won]] = True
                final[cand[won]] = sc[won]
                retry = cand[~won]  # someone took the slot in the same round: look at it again
            same = ~free & (g == keys[todo])
            advance = todo[~free & ~same]
            if same.any():
                cand = todo[same]
                rid = self._trows[s[same]]
                equal = np.empty(len(cand), bool)
                old = rid < base
                if old.any():
                    equal[old] = (bank_words[rid[old]] == words[cand[old]]).all(axis=1)
                if (~old).any():
                    equal[~old] = (words[rid[~old] - base] == words[cand[~old]]).all(axis=1)
                advance = np.concatenate([advance, cand[~equal]])  # a true key collision: probe on
            slot[advance] = (slot[advance] + 1) & mask
            todo = np.concatenate([retry, advance])
        winners = np.flatnonzero(is_new)
        self._trows[final[winners]] = base + np.arange(len(winners))
        return winners

    def commit(self, flat: np.ndarray, keys: np.ndarray, cost: int, prim: int, kids: np.ndarray) -> None:
        """Append rows returned by :meth:`add` (in that order) with their metadata."""
        k = len(keys)
        self._grow(self.size + k, flat, kids.shape[1])
        sl = slice(self.size, self.size + k)
        self.values[sl] = flat
        self.keys[sl] = keys
        self.cost[sl] = cost
        self.prim[sl] = prim
        if kids.shape[1]:
            self.kids[sl, : kids.shape[1]] = kids
        self.size += k

    def close_level(self, level: int, start: int) -> None:
        if self.size > start:
            self.levels[level] = (start, self.size)
