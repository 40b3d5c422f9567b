"""The bank: one program per observational-equivalence class, per type, in parallel arrays.

Rows are programs in the order they were found (so in non-decreasing cost): ``values[i]`` holds
the program's outputs on every example, ``cost[i]`` its quantized cost, ``prim[i]`` the index of its
root primitive and ``kids[i]`` the bank rows of its children (in the banks of the argument types).
Trees are materialized only on demand.

Equivalence is decided by value rows: a 64-bit key per row (a multilinear hash of its bytes with
random odd weights, see :class:`RowKeys`) locates the row in an open-addressing table, and every
match is verified by comparing the rows themselves; rows whose keys collide but whose values differ
are all kept (the probe goes on past them), so a hash collision can never merge two classes.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LOW = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)


class RowKeys:
    """64-bit keys of value rows: ``sum_i word_i * w_i (mod 2^64)`` over the row's 8-byte words
    (or bytes, when the row length is not a multiple of 8), with random odd ``w_i``."""

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
        return keys


_ONES = np.uint64(0x0101010101010101)


def rows_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise equality of two (m, w) arrays. The (m, w) booleans are read 8 at a time as one
    64-bit word (all True = 0x0101...01), which is several times faster than ``all(axis=1)``."""
    eq = a == b
    w = eq.shape[1]
    if w == 1:
        return eq[:, 0]
    if w % 8:
        return eq.all(axis=1)
    words = eq.view(np.uint64)
    return words[:, 0] == _ONES if w == 8 else (words == _ONES).all(axis=1)


class TypeBank:
    """The programs of one type found so far, with their value rows and a hash index on them.

    ``reserve_rows`` (a hint, e.g. what the memory cap allows) sizes the arrays up front: they are
    allocated uninitialized, so the operating system only backs the rows actually written, and the
    bank never copies itself to grow while the hint holds.
    """

    def __init__(self, keys: RowKeys | None = None, reserve_rows: int = 0) -> None:
        self.size = 0
        self.values: np.ndarray | None = None  # (capacity, n, ...) of the type's dtype
        self.keys = np.zeros(0, np.uint64)
        self.cost = np.zeros(0, np.int32)
        self.prim = np.zeros(0, np.int16)
        self.kids = np.zeros((0, 0), np.int32)
        self.rowkeys = keys
        self.reserve_rows = reserve_rows
        #: Level (quantized cost) -> (start, end) rows of that level.
        self.levels: dict[int, tuple[int, int]] = {}
        self._table = self._buffer = np.zeros(0, np.uint64)
        self._home = 0  # home slots are [0, _home); the table has a tail for overflowing runs
        self._shift = np.uint64(64)

    # -- storage -----------------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Bytes in use: the stored rows with their metadata, and the hash table."""
        row = 0 if self.values is None else self.values[0].nbytes
        meta = self.keys.itemsize + self.cost.itemsize + self.prim.itemsize + self.kids.shape[1] * 4
        return self.size * (row + meta) + self._table.nbytes

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
        new_cap = cap if need <= cap else max(need, 2 * cap, 64, self.reserve_rows)
        width = max(arity, self.kids.shape[1])

        def grown(a: np.ndarray) -> np.ndarray:
            b = np.empty((new_cap, *a.shape[1:]), a.dtype)
            b[: self.size] = a[: self.size]
            return b

        self.values = grown(self.values)
        self.keys = grown(self.keys)
        self.cost = grown(self.cost)
        self.prim = grown(self.prim)
        kids = np.empty((new_cap, width), np.int32)
        kids[: self.size, : self.kids.shape[1]] = self.kids[: self.size]
        self.kids = kids

    # -- hash index --------------------------------------------------------------------------------
    # Open addressing with linear probing. A slot holds ``row << 32 | tag`` (0 = empty): the bank
    # row and a 32-bit tag of the key (never 0); a tag match is only a hint, confirmed by comparing
    # the value rows themselves. One 64-bit word per slot: one random access reads both.
    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * _GOLDEN) >> self._shift).astype(np.intp)

    @staticmethod
    def _tags(keys: np.ndarray) -> np.ndarray:
        tags = keys & _LOW
        tags[tags == 0] = 1
        return tags

    def _reserve(self, n_rows: int) -> None:
        """Keep the table at most half full; when it would not be, rebuild it a third full."""
        if 2 * n_rows <= self._home:
            return
        cap = 1 << max(12, int(np.ceil(np.log2(3 * n_rows))))
        self._home = cap
        self._shift = np.uint64(64 - int(np.log2(cap)))
        # Entries of the old table come almost sorted by their new home slot (both are top bits of
        # one hash), so their stable sort is nearly linear. Placed in one pass without wrap-around:
        # entry i goes to max(home_i, position_{i-1} + 1), a running maximum; runs that overflow
        # the home range go into a tail.
        entries = self._table[np.flatnonzero(self._table)]
        home = self._slots(np.take(self.keys, (entries >> _32).astype(np.intp)))
        order = np.argsort(home, kind="stable")
        home, entries = home[order], entries[order]
        ar = np.arange(len(entries))
        pos = np.maximum.accumulate(home - ar) + ar if len(entries) else home
        length = max(cap, int(pos[-1]) + 1 if len(pos) else 0) + 1024
        # Rebuild inside one buffer sized for the reserve hint when it is big enough: memory
        # touched for the first time is slow to map, so old tables are not thrown away.
        if len(self._buffer) < length:
            hint = 1 << int(np.ceil(np.log2(3 * max(self.reserve_rows, 1))))
            self._buffer = np.zeros(max(length, hint + 4096), np.uint64)
        else:
            self._buffer[: len(self._table)] = 0
        self._table = self._buffer[:length]
        self._table[pos] = entries

    def _next(self, slot: np.ndarray) -> np.ndarray:
        slot += 1
        slot[slot == len(self._table)] = 0
        return slot

    def add(self, flat: np.ndarray, words: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Insert the candidate rows ``flat`` (m, n, ...) that are new; return their indices in
        ``flat`` (increasing). Duplicates of bank rows or of earlier new rows are dropped. The
        caller then calls :meth:`commit` with them."""
        m = len(keys)
        self._reserve(self.size + m)
        base = self.size
        slot = self._slots(keys)
        tags = self._tags(keys)
        is_new = np.zeros(m, bool)
        final = np.zeros(m, np.intp)
        todo = np.arange(m)
        first = True  # the first round looks at every candidate: no gathers by ``todo`` needed
        while todo.size:
            s = slot if first else slot[todo]
            tg = tags if first else tags[todo]
            g = np.take(self._table, s)
            free = g == 0
            same = (g & _LOW) == tg  # never true for a free slot: tags are not 0
            # Claim the empty slots; where several candidates claim one slot the last write wins,
            # and the others look at it again next round (it then holds a tag to compare with).
            ids = np.flatnonzero(free) if first else todo[free]
            sc = s[free]
            mine = ((base + ids).astype(np.uint64) << _32) | tg[free]  # tentative row ids
            self._table[sc] = mine
            won = np.take(self._table, sc) == mine
            is_new[ids[won]] = True
            final[ids[won]] = sc[won]
            busy = ~(free | same)
            advance = np.flatnonzero(busy) if first else todo[busy]
            if same.any():
                cand = np.flatnonzero(same) if first else todo[same]
                equal = self._equal(words, cand, (g[same] >> _32).astype(np.intp), base)
                advance = np.concatenate([advance, cand[~equal]])  # a collision: probe on
            slot[advance] = self._next(slot[advance])
            todo = np.concatenate([ids[~won], advance])
            first = False
        winners = np.flatnonzero(is_new)
        rows = np.arange(base, base + len(winners), dtype=np.uint64)
        self._table[final[winners]] = (rows << _32) | tags[winners]
        return winners

    def _equal(self, words: np.ndarray, cand: np.ndarray, rows: np.ndarray, base: int) -> np.ndarray:
        """Do candidates ``cand`` have the same values as rows ``rows`` (bank rows below ``base``,
        else tentative rows of this block)?"""
        equal = np.empty(len(cand), bool)
        old = rows < base
        if old.any():
            stored = np.take(self.words(0, base), rows[old], axis=0)
            equal[old] = rows_equal(stored, words[cand[old]])
        if not old.all():
            equal[~old] = rows_equal(words[rows[~old] - base], words[cand[~old]])
        return equal

    def commit(
        self, flat: np.ndarray, new: np.ndarray, keys: np.ndarray, cost: int, prim: int, kids: np.ndarray
    ) -> None:
        """Append the rows ``flat[new]`` (``new`` as returned by :meth:`add`) with their metadata."""
        k = len(new)
        self._grow(self.size + k, flat, kids.shape[1])
        sl = slice(self.size, self.size + k)
        np.take(flat, new, axis=0, out=self.values[sl])
        np.take(keys, new, out=self.keys[sl])
        self.cost[sl] = cost
        self.prim[sl] = prim
        if kids.shape[1]:
            self.kids[sl, : kids.shape[1]] = kids
        self.size += k

    def close_level(self, level: int, start: int) -> None:
        if self.size > start:
            self.levels[level] = (start, self.size)
