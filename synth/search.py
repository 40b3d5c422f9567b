"""The terms of one search: what it may spend (:class:`Budget`), why it stopped
(:data:`STOP_REASONS`) and what it found (:class:`SearchResult`).

Shared by every search over a grammar (:mod:`synth.enumerate`'s bottom-up enumerator, the decomposed
search of :mod:`synth.decompose`) and by the learner that reports them (:mod:`synth.learner`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from synth.prior import Prior
from synth.program import Program
from synth.types import Type

#: Why a search stopped.
STOP_REASONS = {
    # said after "found" or "stopped:" in the text forms: a clause, never a second "found (...)"
    "found": "the cheapest consistent program (or, with a posterior, its bound) was reached",
    "max_bits": "every program within the max_bits bound was enumerated",
    "exhausted": "the grammar has no more programs",
    "max_candidates": "the max_candidates budget was used up",
    "time_limit": "the time limit was reached",
    "memory": "the bank reached its memory cap",
}


@dataclass(frozen=True)
class Budget:
    """Limits of one search. ``None`` means unlimited."""

    max_bits: float = 64.0
    max_candidates: int | None = None
    time_limit: float | None = None
    max_bank_mb: float | None = 1024.0

    def validate(self, prior: Prior | None = None, output: Type | None = None) -> None:
        """ValueError when a budget is impossible (a bound below the cheapest program, a
        non-positive limit)."""
        if not (isinstance(self.max_bits, int | float) and self.max_bits >= 0):
            raise ValueError(f"impossible budget: max_bits must be >= 0, got {self.max_bits!r}")
        if self.max_candidates is not None and self.max_candidates < 1:
            raise ValueError(f"impossible budget: max_candidates must be >= 1, got {self.max_candidates}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"impossible budget: time_limit must be > 0 seconds, got {self.time_limit}")
        if self.max_bank_mb is not None and not self.max_bank_mb > 0:
            raise ValueError(f"impossible budget: max_bank_mb must be > 0, got {self.max_bank_mb}")
        if prior is not None and output is not None:
            if output not in prior.min_qcost:
                raise ValueError(f"the grammar has no program of type {output}")
            cheapest = prior.min_bits[output]
            if prior.to_qcost(self.max_bits) < prior.min_qcost[output]:
                raise ValueError(
                    f"impossible budget: max_bits={self.max_bits:g} is below the cheapest program "
                    f"of type {output} ({cheapest:.2f} bits)"
                )


@dataclass
class SearchResult:
    """What a search found and what it cost."""

    program: Program | None
    bits: float
    found: bool
    stop_reason: str
    candidates: int
    kept: int
    seconds: float
    #: Every program of cost up to this many bits was enumerated (or the search stopped at it).
    bits_reached: float
    train_accuracy: float
    #: Posterior mode: every consistent class found, as (program, bits), cheapest first.
    consistent: list[tuple[Program, float]] = field(default_factory=list)
    #: Posterior mode: each consistent class's prior mass, the sum of 2^-bits over every program
    #: of the class within the bound (:mod:`synth.posterior`), in the order of ``consistent``.
    masses: list[float] = field(default_factory=list)
    #: Whether ``masses`` sum every program of each class (False: cheapest members, edges capped).
    masses_exact: bool = False
