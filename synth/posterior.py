"""The prior mass of every observational-equivalence class: the sum over all of its programs.

The bank keeps one program per class (its cheapest), but the posterior predictive weighs a class by
the probability of every program in it, ``sum 2^-bits(p)``. A program ``f(p1, ..., pk)`` falls in
the class of ``f(r1, ..., rk)`` where ``ri`` is the representative of ``pi``'s class (outputs are
computed from values alone), so the candidate the enumerator built from the representatives (one
*edge* ``f(A1, ..., Ak) -> C``, recorded by :class:`synth.enumerate.Enumerator` with ``record``)
stands for all of them. With ``W_T[l]`` the mass of class ``T`` at quantized cost exactly ``l``::

    W_C[l] = sum over edges f(A1..Ak) -> C of  w_f * sum over l1+..+lk = l - q_f of  prod W_Ai[li]

This is a dynamic program over levels, computed here after the search from the recorded edges.
Every program of cost up to the bound has its edge recorded (its children's representatives are
no dearer than the children), so the masses are exact sums over **every program of the class up to
the bound**: the last output level the search completed, minus the type's context cost (a
subprogram of type T in an output program of cost c costs at most c - ctx(T)). A commutative
primitive's mirror ``f(b, a)`` is a different program of the same class: it counts too.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from synth.bank import TypeBank
from synth.prior import Prior
from synth.types import Primitive, Type


class RecordedSearch(Protocol):
    """What the masses are computed from: a finished search that recorded its edges (a
    :class:`synth.enumerate.Enumerator` run with ``record``). Declared here, not imported, because
    the enumerator calls :func:`class_masses` on itself when it builds its result."""

    prior: Prior
    prims: list[Primitive]
    types: list[Type]
    #: Per type, the quantized cost of its cheapest context to the output (None: unreachable).
    ctx: dict[Type, int | None]
    banks: dict[Type, TypeBank]
    #: Per primitive index: blocks of (kid rows..., class row), int32.
    edges: dict[int, list[np.ndarray]]
    record: bool

    @property
    def last_level(self) -> int: ...


def row_levels(en: RecordedSearch, t: Type) -> np.ndarray:
    """The quantized cost of each bank row of type ``t`` (its representative's)."""
    bank = en.banks[t]
    out = np.empty(bank.size, np.int64)
    for level, (s, e) in bank.levels.items():
        out[s:e] = level
    return out


def class_masses(en: RecordedSearch) -> tuple[dict[Type, np.ndarray], dict[Type, int]]:
    """Per type, the prior mass of each bank row's class: the sum of ``2^-bits`` over every program
    of the class whose quantized cost is within the type's bound; and the bounds (quantized). The
    enumerator must have run with ``record``."""
    if not en.record:
        raise ValueError("class_masses needs an Enumerator run with record=True")
    prior = en.prior
    bound = {t: en.last_level - en.ctx[t] for t in en.types if en.ctx[t] is not None and en.last_level >= 0}
    levels = {t: row_levels(en, t) for t in bound}
    edges = _edges(en, bound, levels)
    weight = {pi: 2.0 ** -prior.bits[p.name] for pi, p in enumerate(en.prims)}
    order = [t for t in prior.zero_cost_order(en.types) if t in bound]
    entries: dict[Type, dict[int, tuple[np.ndarray, np.ndarray]]] = {t: {} for t in bound}
    sorted_levels: dict[Type, list[int]] = {t: [] for t in bound}
    by_ret = {t: [pi for pi, p in enumerate(en.prims) if p.ret == t and pi in edges] for t in bound}
    heap = sorted({prior.qcost[p.name] for pi, p in enumerate(en.prims) if p.arity == 0 and pi in edges})
    done: set[int] = set()
    while heap:
        level = heapq.heappop(heap)
        if level in done:
            continue
        done.add(level)
        for t in order:
            if level > bound[t]:
                continue
            outs, ws = [], []
            for pi in by_ret[t]:
                for out, w in _contributions(en, pi, level, edges[pi], entries, sorted_levels):
                    outs.append(out)
                    ws.append(w * weight[pi])
            if not outs:
                continue
            out, w = np.concatenate(outs), np.concatenate(ws)
            rows, inv = np.unique(out, return_inverse=True)
            entries[t][level] = (rows, np.bincount(inv, weights=w, minlength=len(rows)))
            sorted_levels[t].append(level)
            for nxt in _reachable(en, t, level, sorted_levels):
                if nxt not in done:
                    heapq.heappush(heap, nxt)
    masses = {}
    for t in bound:
        mass = np.zeros(en.banks[t].size)
        for rows, w in entries[t].values():
            np.add.at(mass, rows, w)
        masses[t] = mass
    return masses, bound


class _Edges:
    """A primitive's recorded edges (kid rows, class row), sorted by the first kid with an index."""

    def __init__(self, table: np.ndarray, n_rows0: int) -> None:
        order = np.argsort(table[:, 0], kind="stable") if table.shape[1] > 1 else np.arange(len(table))
        self.table = table[order]
        self.indptr = (
            np.searchsorted(self.table[:, 0], np.arange(n_rows0 + 1)) if table.shape[1] > 1 else None
        )

    def incident(self, rows0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The edges whose first kid is in ``rows0``, and for each the index into ``rows0``."""
        starts, ends = self.indptr[rows0], self.indptr[rows0 + 1]
        counts = ends - starts
        owner = np.repeat(np.arange(len(rows0)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return starts[owner] + offsets, owner


def _edges(en: RecordedSearch, bound: dict[Type, int], levels: dict[Type, np.ndarray]) -> dict[int, _Edges]:
    """Each primitive's edges within the bound of its return type (mirrors added for commutative
    primitives: ``f(b, a)`` is another program of the same class)."""
    out = {}
    for pi, blocks in en.edges.items():
        prim = en.prims[pi]
        if prim.ret not in bound or not blocks:
            continue
        if any(a not in bound for a in prim.args):
            continue
        table = np.concatenate(blocks)
        cost = np.full(len(table), en.prior.qcost[prim.name], np.int64)
        for j, a in enumerate(prim.args):
            cost += levels[a][table[:, j]]
        table = table[cost <= bound[prim.ret]]
        del cost
        if prim.commutative:
            mirror = table[table[:, 0] != table[:, 1]][:, [1, 0, 2]]
            table = np.concatenate([table, mirror])
        n0 = en.banks[prim.args[0]].size if prim.args else 0
        out[pi] = _Edges(table, n0)
    return out


def _contributions(en, pi, level, edges, entries, sorted_levels) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(class rows, masses before w_f) that primitive ``pi`` adds at ``level``, from the children's
    entries at levels summing to ``level - q_f``."""
    prim = en.prims[pi]
    rest = level - en.prior.qcost[prim.name]
    if rest < 0:
        return
    if prim.arity == 0:
        if rest == 0:
            yield edges.table[:, -1], np.ones(len(edges.table))
        return
    args = prim.args
    for combo in _level_tuples(args, rest, sorted_levels):
        rows0, w0 = entries[args[0]][combo[0]]
        idx, owner = edges.incident(rows0)
        w = w0[owner]
        for j in range(1, len(args)):
            rows_j, w_j = entries[args[j]][combo[j]]
            kid = edges.table[idx, j]
            pos = np.minimum(np.searchsorted(rows_j, kid), len(rows_j) - 1)
            hit = rows_j[pos] == kid
            idx, w = idx[hit], w[hit] * w_j[pos[hit]]
        if len(idx):
            yield edges.table[idx, -1], w


def _level_tuples(args: tuple[Type, ...], total: int, sorted_levels) -> Iterator[tuple[int, ...]]:
    """Tuples of levels with entries, one per argument type, summing to ``total``."""
    levels = sorted_levels[args[0]]
    if len(args) == 1:
        if total in levels:
            yield (total,)
        return
    for lv in levels:
        if lv > total:
            break
        for tail in _level_tuples(args[1:], total - lv, sorted_levels):
            yield (lv, *tail)


def _reachable(en: RecordedSearch, t: Type, level: int, sorted_levels) -> Iterator[int]:
    """Levels at which the new entries of type ``t`` at ``level`` can contribute."""
    for prim in en.prims:
        for i, a in enumerate(prim.args):
            if a != t:
                continue
            others = [sorted_levels.get(b, []) for j, b in enumerate(prim.args) if j != i]
            for rest in itertools.product(*others):
                yield en.prior.qcost[prim.name] + level + sum(rest)
