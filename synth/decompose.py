"""Decomposition of a conjunction: a yes/no program as ``both(P1, both(P2, ...))``, parts found apart.

A language given by a conjunction of conditions (Dyck-2: the depth never dips and ends at zero,
and every closer matches its opener's type) has every part true on every positive example, and
each negative breaks at least one part. So one search enumerates the flag programs that are true on
every positive (a target whose mask scores the positives only), up to the bits bound, and records
every class of them (its values on the negatives say which negatives it rejects); a greedy weighted
set cover then picks parts, each time the one that rejects the most remaining negatives per bit
(its own bits plus the ``both`` that joins it), until every training negative is rejected or no part
helps. The result is the conjunction of the parts, with its exact bits under the same prior.

This finds conjunctions whose parts are each within the search's reach, where the whole program is
not: the cost of a search grows exponentially with the bits, and the parts' bits add up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from synth.dsl import Target
from synth.enumerate import Enumerator
from synth.prior import Prior
from synth.program import Env, Program
from synth.search import Budget


@dataclass
class Conjunction:
    """What the decomposition found: the program (None when no part helps), its parts and search."""

    program: Program | None
    bits: float
    parts: list[tuple[Program, float, int]]  # (part, bits, negatives it newly rejects)
    covered: bool  # every training negative rejected (the program is consistent)
    candidates: int
    kept: int
    seconds: float
    stop_reason: str
    bits_reached: float
    n_parts_considered: int


def search_conjunction(
    prior: Prior, env: Env, target: Target, budget: Budget, seed: int = 0, max_parts: int = 4, jobs: int = 1
) -> Conjunction:
    """The greedy conjunction of flag programs true on every positive of ``target`` (a per-sequence
    yes/no target without a mask) that rejects its negatives; see the module docstring."""
    if target.type.name != "flag" or target.mask is not None:
        raise ValueError("decomposition needs a yes/no target per sequence (a flag without a mask)")
    if "both" not in prior.qcost:
        raise ValueError("decomposition needs the 'both' primitive in the grammar")
    pos = target.values.astype(bool)
    parts_target = Target(target.type, np.ones_like(target.values), pos.copy())
    en = Enumerator(prior, env, parts_target, budget, seed=seed, collect_bits=budget.max_bits, jobs=jobs)
    en.record = False
    en.materialize_consistent = False
    result = en.run()
    rows = np.array([row for _, row in en._consistent], dtype=np.int64)
    bank = en.banks[target.type]
    neg = np.flatnonzero(~pos)
    rejects = ~bank.values[rows][:, neg].astype(bool) if len(rows) else np.zeros((0, len(neg)), bool)
    level_of = np.empty(bank.size, np.int64)
    for level, (s, e) in bank.levels.items():
        level_of[s:e] = level
    cost = prior.to_bits(1) * level_of[rows] + prior.bits["both"] if len(rows) else np.zeros(0)
    remaining = np.ones(len(neg), bool)
    chosen: list[tuple[Program, float, int]] = []
    while remaining.any() and len(chosen) < max_parts and len(rows):
        gain = rejects[:, remaining].sum(axis=1)
        if gain.max() == 0:
            break
        best = int(np.argmax(gain / cost))  # ties: the first, i.e. the cheapest
        part = en.program_at(target.type, int(rows[best]))
        chosen.append((part, prior.program_bits(part), int(gain[best])))
        remaining &= ~rejects[best]
    # A single part that rejects every negative by itself is a conjunction of one: keep it when it
    # is cheaper than the greedy cover (the greedy ratio favours cheap partial parts).
    whole = np.flatnonzero(rejects.all(axis=1)) if len(neg) else np.arange(len(rows))
    if len(whole):
        single = en.program_at(target.type, int(rows[whole[np.argmin(cost[whole])]]))
        greedy_bits = sum(b for _, b, _ in chosen) + prior.bits["both"] * max(len(chosen) - 1, 0)
        if not chosen or remaining.any() or prior.program_bits(single) <= greedy_bits:
            chosen, remaining = [(single, prior.program_bits(single), len(neg))], np.zeros(len(neg), bool)
    program = None
    for part, _, _ in reversed(chosen):
        program = part if program is None else Program(_both(prior), (part, program))
    return Conjunction(
        program=program,
        bits=math.nan if program is None else prior.program_bits(program),
        parts=chosen,
        covered=bool(chosen) and not remaining.any(),
        candidates=result.candidates,
        kept=result.kept,
        seconds=result.seconds,
        stop_reason=result.stop_reason,
        bits_reached=result.bits_reached,
        n_parts_considered=len(rows),
    )


def _both(prior: Prior):
    return next(p for p in prior.primitives if p.name == "both")
