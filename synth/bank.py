"""The bank: one program per observational-equivalence class, per type, in parallel arrays.

Rows are programs in the order they were found (so in non-decreasing cost, one contiguous range per
cost level): ``values[i]`` holds the program's outputs on every example, ``prim[i]`` the index of
its root primitive and ``kids[i]`` the bank rows of its children (in the banks of the argument
types). Trees are materialized only on demand.

Equivalence is decided by value rows: a 64-bit key per row (a multilinear hash of its bytes with
random odd weights, see :class:`RowKeys`) locates the row in an open-addressing table, and every
match is verified by comparing the rows themselves; rows whose keys collide but whose values differ
are all kept (the probe goes on past them), so a hash collision can never merge two classes.
"""

from __future__ import annotations

import numpy as np

_31 = np.uint64(31)
_ONE = np.uint64(1)
_ROW = np.uint64((1 << 31) - 1)


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
        self.prim = np.zeros(0, np.int16)
        self.kids = np.zeros((0, 0), np.int32)
        self.rowkeys = keys
        self.reserve_rows = min(reserve_rows, 2**31 - 1)
        #: Level (quantized cost) -> (start, end) rows of that level.
        self.levels: dict[int, tuple[int, int]] = {}
        self._table = self._buffer = np.zeros(0, np.uint64)
        self._bits = 0  # the table has 2**_bits home slots, then a tail for runs that overflow

    # -- storage -----------------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Bytes in use: the stored rows with their metadata, and the hash table."""
        row = 0 if self.values is None else self.values[0].nbytes
        return self.size * (row + self.prim.itemsize + 4 * self.kids.shape[1]) + self._table.nbytes

    def words(self, start: int = 0, end: int | None = None) -> np.ndarray:
        assert self.values is not None and self.rowkeys is not None
        end = self.size if end is None else end
        return self.rowkeys.words(self.values[start:end])

    def cost_of(self, row: int) -> int:
        """The quantized cost (level) of ``row``."""
        return next(level for level, (s, e) in self.levels.items() if s <= row < e)

    def _grow(self, need: int, sample: np.ndarray, arity: int) -> None:
        cap = len(self.prim)
        if self.values is None:
            self.values = np.empty((0, *sample.shape[1:]), sample.dtype)
        if need <= cap and arity <= self.kids.shape[1]:
            return
        new_cap = cap if need <= cap else max(need, 2 * cap, 64, self.reserve_rows)
        values = np.empty((new_cap, *self.values.shape[1:]), self.values.dtype)
        values[: self.size] = self.values[: self.size]
        prim = np.empty(new_cap, np.int16)
        prim[: self.size] = self.prim[: self.size]
        kids = np.empty((new_cap, max(arity, self.kids.shape[1])), np.int32)
        kids[: self.size, : self.kids.shape[1]] = self.kids[: self.size]
        self.values, self.prim, self.kids = values, prim, kids

    # -- hash index --------------------------------------------------------------------------------
    # Open addressing with linear probing. A slot holds ``tag << 31 | row`` (0 = empty), where the
    # 33-bit tag is the top of the key with its lowest bit set (so never 0) and the home slot of a
    # key is the top ``_bits`` bits of its tag: the table can be rebuilt from its own entries. A tag
    # match is only a hint, confirmed by comparing the value rows themselves.
    def _home(self, tags: np.ndarray) -> np.ndarray:
        return (tags >> np.uint64(33 - self._bits)).view(np.int64)

    def _reserve(self, n_rows: int) -> None:
        """Keep the table at most half full; when it would not be, rebuild it a quarter full."""
        if self._bits and 2 * n_rows <= 1 << self._bits:
            return
        self._bits = max(12, int(np.ceil(np.log2(4 * n_rows))))
        if self._bits > 33:
            raise MemoryError("the bank's hash table cannot address more than 2^33 slots")
        # Entries of the old table come almost sorted by their new home (both are top bits of the
        # tag), so their stable sort is nearly linear. Placed in one pass without wrap-around:
        # entry i goes to max(home_i, position_{i-1} + 1), a running maximum; runs that overflow
        # the home range go into the tail.
        entries = self._table[np.flatnonzero(self._table)]
        home = self._home(entries >> _31)
        order = np.argsort(home, kind="stable")
        home, entries = home[order], entries[order]
        ar = np.arange(len(entries))
        pos = np.maximum.accumulate(home - ar) + ar if len(entries) else home
        length = max(1 << self._bits, int(pos[-1]) + 1 if len(pos) else 0) + 1024
        # Rebuild inside one buffer sized for the reserve hint when it is big enough: memory
        # touched for the first time is slow to map, so old tables are not thrown away.
        if len(self._buffer) < length:
            hint = 1 << int(np.ceil(np.log2(4 * max(self.reserve_rows, 1))))
            self._buffer = np.zeros(max(length, hint + 4096), np.uint64)
        else:
            self._buffer[: len(self._table)] = 0
        self._table = self._buffer[:length]
        self._table[pos] = entries

    def add(
        self, flat: np.ndarray, words: np.ndarray, keys: np.ndarray, rows_out: np.ndarray | None = None
    ) -> np.ndarray:
        """Insert the candidate rows ``flat`` (m, n, ...) that are new; return their indices in
        ``flat`` (increasing). Duplicates of bank rows or of earlier new rows are dropped. The
        caller then calls :meth:`commit` with them. ``rows_out`` (m,), if given, receives every
        candidate's class: the bank row it equals, or the row it gets once committed."""
        m = len(keys)
        self._reserve(self.size + m)
        base = self.size
        tags = (keys >> _31) | _ONE
        slot = self._home(tags)
        # Each candidate's entry with a tentative row id (base + its index) while they compete.
        mine = (tags << _31) | np.arange(base, base + m, dtype=np.uint64)
        is_new = np.zeros(m, bool)
        final = np.empty(m, np.int64)
        todo = None  # None: all candidates (the first round needs no gathers)
        wrap = len(self._table)
        while todo is None or len(todo):
            s = slot if todo is None else slot[todo]
            e = mine if todo is None else mine[todo]
            g = np.take(self._table, s)
            free = g == 0
            same = (g ^ e) <= _ROW  # same tag; never true for a free slot (tags are not 0)
            # Claim the empty slots; where several candidates claim one slot the last write wins,
            # and the others look at it again next round (it then holds a tag to compare with).
            fi = np.flatnonzero(free)
            sc, em = s[fi], e[fi]
            self._table[sc] = em
            won = np.take(self._table, sc) == em
            ids = fi if todo is None else todo[fi]
            is_new[ids[won]] = True
            final[ids[won]] = sc[won]
            busy = np.flatnonzero(~(free | same))
            advance = busy if todo is None else todo[busy]
            hit = np.flatnonzero(same)
            if len(hit):
                cand = hit if todo is None else todo[hit]
                rows = (g[hit] & _ROW).view(np.int64)
                equal = self._equal(words, cand, rows, base)
                if rows_out is not None:
                    rows_out[cand[equal]] = rows[equal]  # rows >= base are tentative: renumbered below
                advance = np.concatenate([advance, cand[~equal]])  # a collision: probe on
            nxt = slot[advance] + 1
            nxt[nxt == wrap] = 0
            slot[advance] = nxt
            todo = np.concatenate([ids[~won], advance])
        winners = np.flatnonzero(is_new)
        rows = np.arange(base, base + len(winners), dtype=np.uint64)
        self._table[final[winners]] = (tags[winners] << _31) | rows
        if rows_out is not None:
            # A tentative row base + i belongs to candidate i, a winner (only winners stay in the
            # table), whose committed row is base + its rank among the winners.
            rank = np.empty(m, np.int64)
            rank[winners] = np.arange(base, base + len(winners))
            rows_out[winners] = rank[winners]
            dup = np.flatnonzero(~is_new)
            tentative = dup[rows_out[dup] >= base]
            rows_out[tentative] = rank[rows_out[tentative] - base]
        return winners

    def _equal(self, words: np.ndarray, cand: np.ndarray, rows: np.ndarray, base: int) -> np.ndarray:
        """Do candidates ``cand`` have the same values as rows ``rows`` (bank rows below ``base``,
        else tentative rows of this block)?"""
        old = rows < base
        if old.all():
            return rows_equal(np.take(self.words(0, base), rows, axis=0), words[cand])
        equal = np.empty(len(cand), bool)
        if old.any():
            equal[old] = rows_equal(np.take(self.words(0, base), rows[old], axis=0), words[cand[old]])
        equal[~old] = rows_equal(words[rows[~old] - base], words[cand[~old]])
        return equal

    def commit(self, flat: np.ndarray, new: np.ndarray, prim: int, kids: np.ndarray) -> None:
        """Append the rows ``flat[new]`` (``new`` as returned by :meth:`add`) with their metadata."""
        k = len(new)
        self._grow(self.size + k, flat, kids.shape[1])
        sl = slice(self.size, self.size + k)
        np.take(flat, new, axis=0, out=self.values[sl])
        self.prim[sl] = prim
        if kids.shape[1]:
            self.kids[sl, : kids.shape[1]] = kids
        self.size += k

    def close_level(self, level: int, start: int) -> None:
        if self.size > start:
            self.levels[level] = (start, self.size)
