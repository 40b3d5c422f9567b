"""Bottom-up enumeration in increasing description length, with observational-equivalence pruning.

Levels are quantized costs (see :mod:`synth.prior`), processed in increasing order. At level ``c``
each primitive ``f`` of cost ``q_f`` is applied to every combination of bank levels of its argument
types whose costs sum to ``c - q_f``: the children's value rows are broadcast against each other in
blocks (``f(A[:, None], B[None])`` builds ``len(A) * len(B)`` candidates in one call), each block
is checked against the target, and its new value rows are added to the bank (one program per
class of equal outputs; :mod:`synth.bank`). Because the grammar is context-free and every level is
complete before it is used, replacing a subprogram by the bank's representative of its class never
raises a program's cost, so pruning never loses a solution; and since all candidates of a level
cost the same, the first consistent candidate found at level ``c`` is a cheapest one.

With a target, each type is enumerated only as far as it can still matter: a program of the output
type costing ``c`` can contain a subprogram of type ``T`` only if that subprogram costs at most
``c - ctx(T)``, where ``ctx(T)`` is the cost of the cheapest context that takes a ``T`` to the output
type (a fixpoint over the grammar). So when the search reaches output level ``c``, type ``T`` is at
level ``c - ctx(T)``; types that cannot reach the output are never built. Levels are complete when
they are used: an argument type's context is never dearer than its consumer's plus the production,
so arguments are built first (types go in decreasing ``ctx``, ties in zero-cost order).
"""

from __future__ import annotations

import collections
import concurrent.futures
import heapq
import itertools
import math
import time
from collections.abc import Callable, Iterator

import numpy as np

from synth.bank import RowKeys, TypeBank, rows_equal
from synth.dsl import Target
from synth.posterior import class_masses
from synth.prior import Prior
from synth.program import Env, Program
from synth.search import STOP_REASONS, Budget, SearchResult
from synth.types import Primitive, Type

#: The search's terms live in :mod:`synth.search`; they stay importable from here.
__all__ = ["STOP_REASONS", "Budget", "Enumerator", "SearchResult"]


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class Enumerator:
    """One bottom-up search over ``prior``'s grammar on the examples of ``env``.

    ``target`` None enumerates without a goal (to measure throughput or inspect the bank).
    ``collect_bits`` (posterior mode) keeps going after the first consistent program until levels
    ``collect_bits`` above it, recording every consistent class found.
    """

    def __init__(
        self,
        prior: Prior,
        env: Env,
        target: Target | None = None,
        budget: Budget | None = None,
        seed: int = 0,
        collect_bits: float | None = None,
        block_bytes: int = 1 << 21,
        on_block: Callable[[int, Primitive, int], None] | None = None,
        record: bool | None = None,
        max_edges: int = 1 << 23,
        jobs: int = 1,
    ) -> None:
        self.prior = prior
        self.env = env
        self.target = target
        self.budget = budget or Budget()
        self.budget.validate(prior, None if target is None else target.type)
        self.rng = np.random.default_rng(seed)
        self.collect_q = None if collect_bits is None else prior.to_qcost(collect_bits)
        self.block_bytes = block_bytes
        self.on_block = on_block
        #: Record every candidate's children and class (posterior mode by default), so that
        #: :mod:`synth.posterior` can sum the prior mass of every program of a class.
        self.record = self.collect_q is not None if record is None else record
        #: Per primitive index: blocks of (kid rows..., class row) per candidate, int32. Recording
        #: stops (``record`` turns False, ``edges_capped`` True) past ``max_edges`` candidates.
        self.edges: dict[int, list[np.ndarray]] = {}
        self.max_edges = max_edges
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        #: Threads computing candidate blocks ahead of the (serial, ordered) bank insertion.
        self.jobs = jobs
        self._pool = None if jobs == 1 else concurrent.futures.ThreadPoolExecutor(jobs)
        #: Posterior mode: materialize every consistent class's program in the result (a caller
        #: that reads the consistent bank rows itself, like :mod:`synth.decompose`, turns it off).
        self.materialize_consistent = True
        self.edges_capped = False
        self._n_edges = 0
        self.prims = list(prior.primitives)
        types = {t for p in self.prims for t in (*p.args, p.ret)}
        order = prior.zero_cost_order(sorted(types, key=lambda t: t.name))
        #: Quantized cost of the cheapest context from each type to the output (None: unreachable).
        self.ctx = self._contexts(order, None if target is None else target.type)
        rank = {t: i for i, t in enumerate(order)}
        self.types = sorted(order, key=lambda t: (-(self.ctx[t] if self.ctx[t] is not None else -1), rank[t]))
        self.banks = {t: TypeBank() for t in self.types}
        self.levels: dict[Type, list[int]] = {t: [] for t in self.types}
        self.by_ret = {t: [(i, p) for i, p in enumerate(self.prims) if p.ret == t] for t in self.types}
        self.tried = 0
        self._goal_words: np.ndarray | None = None
        self._goal_key: np.uint64 | None = None
        self._found: tuple[int, list[int]] | None = None
        self._found_level: int | None = None
        self._consistent: list[tuple[Type, int]] = []
        self._t0 = 0.0
        self._last_level = -1

    # -- public -------------------------------------------------------------------------------------
    def run(self) -> SearchResult:
        self._t0 = time.perf_counter()
        max_q = self.prior.to_qcost(self.budget.max_bits)
        terminals = [p for p in self.prims if p.arity == 0 and self.reaches(p.ret)]
        heap: list[int] = sorted({self.prior.qcost[p.name] + self.ctx[p.ret] for p in terminals})
        pushed = set(heap)
        reason = "exhausted"
        try:
            while heap:
                c = heapq.heappop(heap)
                if c <= self._last_level:
                    continue
                if c > max_q:
                    reason = "max_bits"
                    break
                if self._found_level is not None and c > self._found_level + (self.collect_q or 0):
                    reason = "found"
                    break
                self._level(c, heap, pushed)
                self._last_level = c
            if self._found_level is not None:
                reason = "found"
        except _Stop as stop:
            reason = stop.reason
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
        return self._result(reason)

    def program_at(self, t: Type, row: int) -> Program:
        """Materialize the bank's program of type ``t`` at ``row``."""
        bank = self.banks[t]
        prim = self.prims[int(bank.prim[row])]
        kids = bank.kids[row, : prim.arity]
        return Program(prim, tuple(self.program_at(a, int(k)) for a, k in zip(prim.args, kids, strict=True)))

    @property
    def last_level(self) -> int:
        """The last output level completed (quantized): every program up to it was enumerated."""
        return self._last_level

    def bank_programs(self, t: Type) -> Iterator[tuple[Program, int, np.ndarray]]:
        """The bank of type ``t`` in order: (program, quantized cost, values)."""
        bank = self.banks[t]
        for row in range(bank.size):
            yield self.program_at(t, row), bank.cost_of(row), bank.values[row]

    @property
    def kept(self) -> int:
        return sum(b.size for b in self.banks.values())

    def reaches(self, t: Type) -> bool:
        """Can a program of type ``t`` be part of a program of the output type?"""
        return self.ctx[t] is not None

    # -- levels -------------------------------------------------------------------------------------
    def _contexts(self, types: list[Type], output: Type | None) -> dict[Type, int | None]:
        """Per type, the quantized cost of the cheapest context taking it to ``output`` (0 for every
        type without a target: then all types are enumerated level by level)."""
        if output is None:
            return {t: 0 for t in types}
        ctx: dict[Type, float] = {t: math.inf for t in types}
        ctx[output] = 0
        low = self.prior.min_qcost
        changed = True
        while changed:
            changed = False
            for p in self.prims:
                if ctx[p.ret] == math.inf:
                    continue
                for i, a in enumerate(p.args):
                    others = sum(low.get(b, math.inf) for j, b in enumerate(p.args) if j != i)
                    c = ctx[p.ret] + self.prior.qcost[p.name] + others
                    if c < ctx[a]:
                        ctx[a] = c
                        changed = True
        return {t: None if c == math.inf else int(c) for t, c in ctx.items()}

    def _level(self, c: int, heap: list[int], pushed: set[int]) -> None:
        """Output level ``c``: every type at its own level ``c - ctx(type)``."""
        for t in self.types:
            if self.ctx[t] is None or c < self.ctx[t]:
                continue
            lt = c - self.ctx[t]
            bank = self.banks[t]
            start = bank.size
            try:
                for pi, prim in self.by_ret[t]:
                    for combo in self._combos(prim, lt - self.prior.qcost[prim.name]):
                        self._build(pi, prim, combo, c)
            finally:  # a search stopped inside a level still records where its rows are
                bank.close_level(lt, start)
            if bank.size > start:
                self.levels[t].append(lt)
                self._push_sums(t, lt, heap, pushed)

    def _combos(self, prim: Primitive, total: int) -> Iterator[tuple[int, ...]]:
        """Tuples of existing levels of the argument types that sum to ``total``."""
        if total < 0:
            return
        if prim.arity == 0:
            if total == 0:
                yield ()
            return
        for combo in self._sums(prim.args, total):
            if prim.commutative and combo[0] > combo[1]:
                continue
            yield combo

    def _sums(self, args: tuple[Type, ...], total: int) -> Iterator[tuple[int, ...]]:
        levels = self.levels[args[0]]
        if len(args) == 1:
            if total in levels:
                yield (total,)
            return
        rest_min = sum(self.levels[a][0] if self.levels[a] else math.inf for a in args[1:])
        for lv in levels:
            if lv + rest_min > total:
                break
            for tail in self._sums(args[1:], total - lv):
                yield (lv, *tail)

    def _push_sums(self, t: Type, c: int, heap: list[int], pushed: set[int]) -> None:
        """Output levels that the new level ``c`` of type ``t`` makes reachable."""
        for prim in self.prims:
            if self.ctx[prim.ret] is None:
                continue
            for i, a in enumerate(prim.args):
                if a != t:
                    continue
                # The distinct sums of the other arguments' levels, built one argument at a time
                # (their product would repeat each sum many times over).
                rests = {0}
                for j, b in enumerate(prim.args):
                    if j != i:
                        rests = {r + lv for r in rests for lv in self.levels[b]}
                base = self.prior.qcost[prim.name] + c + self.ctx[prim.ret]
                for rest in rests:
                    if base + rest not in pushed:
                        pushed.add(base + rest)
                        heapq.heappush(heap, base + rest)

    # -- blocks -------------------------------------------------------------------------------------
    def _build(self, pi: int, prim: Primitive, combo: tuple[int, ...], c: int) -> None:
        if prim.arity == 0:
            value = np.asarray(prim.fn(self.env)).astype(prim.ret.dtype, copy=False)
            value = np.broadcast_to(value, (self.env.n, *value.shape[1:]))
            self._consume(pi, prim, np.ascontiguousarray(value[None]), (), (1,), None, c)
            return
        ranges = [self.banks[a].levels[lv] for a, lv in zip(prim.args, combo, strict=True)]
        arrays = [self.banks[a].values[s:e] for a, (s, e) in zip(prim.args, ranges, strict=True)]
        sizes = [len(a) for a in arrays]
        row_bytes = max(a[0].nbytes for a in arrays) * max(1, prim.ret.dtype.itemsize)
        per_block = max(64, self.block_bytes // max(row_bytes, 1))
        shape = []
        for n in reversed(sizes):
            b = max(1, min(n, per_block))
            shape.append(b)
            per_block = max(1, per_block // b)
        shape.reverse()
        tri = prim.commutative and combo[0] == combo[1]
        k = prim.arity

        def block(starts: tuple[int, ...]) -> tuple:
            """The candidates of one block (their values, origin, sizes and triangle subset)."""
            stops = [min(s + b, n) for s, b, n in zip(starts, shape, sizes, strict=True)]
            bsizes = tuple(e - s for s, e in zip(starts, stops, strict=True))
            args = []
            for i, (arr, s, e) in enumerate(zip(arrays, starts, stops, strict=True)):
                part = arr[s:e]
                args.append(part.reshape((1,) * i + (e - s,) + (1,) * (k - 1 - i) + part.shape[1:]))
            out = np.asarray(prim.fn(*args))
            vshape = out.shape[k:]
            if out.shape[:k] != bsizes:
                out = np.broadcast_to(out, (*bsizes, *vshape))
            flat = np.ascontiguousarray(out.reshape(-1, *vshape), dtype=prim.ret.dtype)
            subset = None
            if tri and starts[1] < stops[0]:
                i = np.arange(starts[0], stops[0])[:, None]
                j = np.arange(starts[1], stops[1])[None, :]
                subset = np.flatnonzero((i <= j).ravel())
                flat = flat[subset]
            origin = tuple(r[0] + s for r, s in zip(ranges, starts, strict=True))
            return flat, origin, bsizes, subset

        todo = (
            starts
            for starts in itertools.product(*(range(0, n, b) for n, b in zip(sizes, shape, strict=True)))
            if not (tri and starts[1] + shape[1] <= starts[0])  # below the diagonal: f(b, a) is f(a, b)
        )
        if self._pool is None:
            for starts in todo:
                self._consume(pi, prim, *block(starts), c)
            return
        # jobs > 1: blocks are computed ahead on the pool's threads (numpy releases the GIL in
        # the primitives' array code) and consumed here in order, so the search is the same.
        ahead: collections.deque = collections.deque()
        for starts in itertools.chain(todo, [None]):
            if starts is not None:
                ahead.append(self._pool.submit(block, starts))
                if len(ahead) <= 2 * self.jobs:
                    continue
            while ahead and (starts is None or len(ahead) > 2 * self.jobs):
                self._consume(pi, prim, *ahead.popleft().result(), c)

    def _consume(
        self,
        pi: int,
        prim: Primitive,
        flat: np.ndarray,
        origin: tuple[int, ...],
        bsizes: tuple[int, ...],
        subset: np.ndarray | None,
        c: int,
    ) -> None:
        """Check a block of candidates against the target and add its new classes to the bank."""
        stop_after = None
        if self.budget.max_candidates is not None:
            left = self.budget.max_candidates - self.tried
            if len(flat) >= left:
                flat = flat[:left]
                subset = None if subset is None else subset[:left]
                stop_after = "max_candidates"
        self.tried += len(flat)
        if self.on_block is not None:
            self.on_block(c, prim, len(flat))
        bank = self.banks[prim.ret]
        if bank.rowkeys is None:
            bank.rowkeys = RowKeys(flat[0].nbytes, self.rng)
            if self.budget.max_bank_mb is not None:  # reserve (virtually) what the cap allows
                rows = int(self.budget.max_bank_mb * 2**20) // (flat[0].nbytes + 14)
                bank.reserve_rows = min(rows, 2**31 - 1)
        words = bank.rowkeys.words(flat)
        keys = bank.rowkeys(words)

        def kids_of(idx: np.ndarray) -> np.ndarray:
            pos = idx if subset is None else subset[idx]
            if not bsizes or prim.arity == 0:
                return np.zeros((len(idx), 0), np.int32)
            parts = np.unravel_index(pos, bsizes)
            return np.stack([o + p for o, p in zip(origin, parts, strict=True)], axis=1).astype(np.int32)

        goal = self.target is not None and prim.ret == self.target.type
        if goal and self.collect_q is None:
            hits = self._hits(flat, words, keys)
            if hits.size:
                self._found = (pi, [int(k) for k in kids_of(hits[:1])[0]])
                self._found_level = c
                raise _Stop("found")
        if self.record and self._n_edges + len(flat) > self.max_edges:
            self.record, self.edges_capped, self.edges = False, True, {}
        rows_all = np.empty(len(flat), np.int64) if self.record else None
        new = bank.add(flat, words, keys, rows_all)
        start = bank.size
        if rows_all is not None:
            kids = kids_of(np.arange(len(flat)))
            self.edges.setdefault(pi, []).append(np.column_stack([kids, rows_all]).astype(np.int32))
            self._n_edges += len(flat)
        bank.commit(flat, new, pi, kids_of(new))
        if goal and self.collect_q is not None and len(new):
            hits = self._hits(flat[new], words[new], keys[new])
            self._consistent.extend((prim.ret, start + int(h)) for h in hits)
            if hits.size and self._found_level is None:
                self._found_level = c
        if stop_after:
            raise _Stop(stop_after)
        if self.budget.time_limit is not None and time.perf_counter() - self._t0 > self.budget.time_limit:
            raise _Stop("time_limit")
        if self.budget.max_bank_mb is not None:
            if sum(b.nbytes for b in self.banks.values()) > self.budget.max_bank_mb * 2**20:
                raise _Stop("memory")

    def _hits(self, flat: np.ndarray, words: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Indices of the rows of ``flat`` consistent with the target."""
        target = self.target
        assert target is not None
        if target.mask is not None:
            return np.flatnonzero(target.consistent(flat))
        if self._goal_key is None:
            rk = self.banks[target.type].rowkeys
            tv = np.ascontiguousarray(target.values[None], dtype=target.type.dtype)
            self._goal_words = rk.words(tv)
            self._goal_key = rk(self._goal_words)[0]
        maybe = np.flatnonzero(keys == self._goal_key)
        if maybe.size:
            maybe = maybe[
                rows_equal(words[maybe], np.broadcast_to(self._goal_words, (len(maybe), words.shape[1])))
            ]
        return maybe

    # -- result -------------------------------------------------------------------------------------
    def _result(self, reason: str) -> SearchResult:
        seconds = time.perf_counter() - self._t0
        bits_reached = self.prior.to_bits(max(self._last_level, 0))
        common = dict(
            stop_reason=reason,
            candidates=self.tried,
            kept=self.kept,
            seconds=seconds,
            bits_reached=bits_reached,
        )
        if self._found is not None:
            pi, kids = self._found
            prim = self.prims[pi]
            program = Program(
                prim, tuple(self.program_at(a, k) for a, k in zip(prim.args, kids, strict=True))
            )
            return SearchResult(program, self.prior.program_bits(program), True, train_accuracy=1.0, **common)
        if self._consistent and not self.materialize_consistent:
            return SearchResult(None, math.nan, True, train_accuracy=1.0, **common)
        consistent = [(self.program_at(t, row), row) for t, row in self._consistent]
        ranked = [(p, self.prior.program_bits(p), row) for p, row in consistent]
        ranked.sort(key=lambda pbr: (self.prior.program_qcost(pbr[0]), pbr[1]))
        if ranked:
            program, bits, _ = ranked[0]
            # Without recorded edges (capped), each class weighs what its cheapest member does; a
            # class first found in a level the search did not complete has no mass within the
            # bound: it too counts its cheapest member.
            masses = [2.0**-b for _, b, _ in ranked]
            if self.record:
                mass = class_masses(self)[0][self.target.type]
                masses = [max(float(mass[row]), m) for (_, _, row), m in zip(ranked, masses, strict=True)]
            return SearchResult(
                program, bits, True, train_accuracy=1.0, consistent=[(p, b) for p, b, _ in ranked],
                masses=masses, masses_exact=self.record, **common,
            )
        program, acc = self._best_so_far()
        bits = math.nan if program is None else self.prior.program_bits(program)
        return SearchResult(program, bits, False, train_accuracy=acc, **common)

    def _best_so_far(self) -> tuple[Program | None, float]:
        """The bank program of the output type with the highest training accuracy (cheapest first)."""
        if self.target is None or self.banks.get(self.target.type) is None:
            return None, math.nan
        bank = self.banks[self.target.type]
        best_row, best = -1, -1.0
        for s in range(0, bank.size, 1 << 16):
            scores = self.target.score(bank.values[s : min(s + (1 << 16), bank.size)])
            i = int(np.argmax(scores))
            if scores[i] > best:
                best_row, best = s + i, float(scores[i])
        if best_row < 0:
            return None, math.nan
        return self.program_at(self.target.type, best_row), best
