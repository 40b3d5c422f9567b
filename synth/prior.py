"""The prior: a probabilistic grammar over a DSL and description lengths in bits.

Each primitive has a weight (its own default, 1.0 = uniform, or an override); weights are
normalized among the primitives that return the same type, so a program's probability is the
product of its nodes' probabilities and its description length is ``-log2`` of that (bits). The
grammar is context-free on purpose: a subprogram's cost does not depend on where it is used, which
is what keeps observational-equivalence pruning complete (any program's subprogram can be
replaced by a cheaper equivalent without raising the cost).

The enumerator works on costs quantized to ``quantum`` bits (1/32 by default, each primitive's
cost rounded down), so cost levels are exact integers; "cheapest" is exact in quantized cost (within
``size * quantum`` bits of the exact optimum), and ``bits`` reports the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from synth.program import Program
from synth.types import Primitive, Type


class Prior:
    """Per-primitive costs (bits and quantized units) over a set of primitives."""

    def __init__(
        self,
        primitives: Iterable[Primitive],
        weights: Mapping[str, float] | None = None,
        quantum: float = 1 / 32,
    ) -> None:
        prims = tuple(primitives)
        names = {p.name for p in prims}
        weights = dict(weights or {})
        unknown = sorted(set(weights) - names)
        if unknown:
            raise ValueError(
                f"weight for unknown primitive {unknown[0]!r}; accepted: {', '.join(sorted(names))}"
            )
        for name, w in weights.items():
            if not (isinstance(w, int | float) and math.isfinite(w) and w >= 0):
                raise ValueError(f"weight of {name!r} must be a finite number >= 0, got {w!r}")
        if not quantum > 0:
            raise ValueError(f"quantum must be > 0 bits, got {quantum}")
        self.quantum = float(quantum)
        self.weights = {p.name: float(weights.get(p.name, p.weight)) for p in prims}
        #: Primitives with a positive weight (weight 0 removes a primitive from the grammar).
        self.primitives = tuple(p for p in prims if self.weights[p.name] > 0)
        totals: dict[Type, float] = {}
        for p in self.primitives:
            totals[p.ret] = totals.get(p.ret, 0.0) + self.weights[p.name]
        self.bits = {p.name: -math.log2(self.weights[p.name] / totals[p.ret]) for p in self.primitives}
        # Rounded down, so that a program of at most B exact bits is within the quantized bound B.
        self.qcost = {name: math.floor(b / self.quantum + 1e-9) for name, b in self.bits.items()}
        self._check_zero_cycles()
        #: The cheapest program of each type (quantized units, and exact bits); absent = none.
        self.min_qcost = self._min_costs(self.qcost)
        self.min_bits = self._min_costs(self.bits)

    def _check_zero_cycles(self) -> None:
        """A cycle of zero-cost productions (T -> ... -> T) would make infinitely many programs
        of the same cost; reject it (give one of the primitives a smaller weight share)."""
        edges: dict[Type, set[Type]] = {}
        for p in self.primitives:
            if self.qcost[p.name] == 0:
                edges.setdefault(p.ret, set()).update(p.args)
        state: dict[Type, int] = {}

        def visit(t: Type) -> None:
            state[t] = 1
            for u in edges.get(t, ()):
                if state.get(u) == 1:
                    raise ValueError(f"zero-cost cycle through type {t} in the grammar; lower a weight share")
                if u not in state:
                    visit(u)
            state[t] = 2

        for t in list(edges):
            if t not in state:
                visit(t)

    def _min_costs(self, cost: Mapping[str, float]) -> dict[Type, float]:
        """The cheapest program of each type under ``cost``, by fixpoint; absent = no finite program."""
        best: dict[Type, float] = {}
        changed = True
        while changed:
            changed = False
            for p in self.primitives:
                if all(a in best for a in p.args):
                    c = cost[p.name] + sum(best[a] for a in p.args)
                    if c < best.get(p.ret, math.inf):
                        best[p.ret] = c
                        changed = True
        return best

    def zero_cost_order(self, types: Iterable[Type]) -> list[Type]:
        """``types`` ordered so that a zero-cost production's argument types come before its
        return type (within one cost level those arguments must be complete first)."""
        types = list(dict.fromkeys(types))
        deps = {t: set() for t in types}
        for p in self.primitives:
            if self.qcost[p.name] == 0:
                deps.setdefault(p.ret, set()).update(a for a in p.args if a != p.ret)
        order: list[Type] = []
        done: set[Type] = set()

        def visit(t: Type) -> None:
            if t in done:
                return
            done.add(t)
            for u in sorted(deps.get(t, ()), key=lambda u: u.name):
                visit(u)
            order.append(t)

        for t in types:
            visit(t)
        return order

    def program_bits(self, program: Program) -> float:
        """Description length of ``program`` in bits (exact, not quantized)."""
        try:
            return sum(self.bits[node.prim.name] for node in program.nodes())
        except KeyError as err:
            raise ValueError(f"primitive {err.args[0]!r} has weight 0 in this prior") from None

    def program_qcost(self, program: Program) -> int:
        """Description length of ``program`` in quantized units (what the enumerator orders by)."""
        try:
            return sum(self.qcost[node.prim.name] for node in program.nodes())
        except KeyError as err:
            raise ValueError(f"primitive {err.args[0]!r} has weight 0 in this prior") from None

    def to_bits(self, qcost: int) -> float:
        return qcost * self.quantum

    def to_qcost(self, bits: float) -> int:
        """The largest quantized cost within ``bits`` (a bound in bits, rounded down)."""
        return math.floor(bits / self.quantum + 1e-9)


def describe(prior: Prior) -> list[str]:
    """One line per primitive the prior keeps: its signature, its cost in bits, and what it computes."""
    width = max(len(str(p)) for p in prior.primitives)
    # + 0.0: the only primitive of its type costs -log2(1) = -0.0 bits, which would print as "-0.00"
    return [f"{str(p):<{width}}  {prior.bits[p.name] + 0.0:5.2f} bits  {p.doc}".rstrip()
            for p in prior.primitives]
