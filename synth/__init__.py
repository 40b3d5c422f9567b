"""Learner 1: enumerative program synthesis with a simplicity prior.

``EnumerativeSynthesizer(dsl="arith:p=97").fit(X, y)`` returns the cheapest program (in bits under
the DSL's prior) consistent with the examples; see :mod:`synth.dsl` for how to add a DSL.
"""

from synth import dsl_arith, dsl_seq  # noqa: F401  (register the arith and seq DSLs)
from synth.dsl import DSL, DSLS, Target, complete_dsl, default_dsl, parse_dsl, register_dsl, register_guesser
from synth.enumerate import Enumerator
from synth.learner import EnumerativeSynthesizer
from synth.prior import Prior
from synth.program import Env, Program, parse_program
from synth.search import STOP_REASONS, Budget, SearchResult
from synth.types import Primitive, Type

__all__ = [
    "DSL",
    "DSLS",
    "STOP_REASONS",
    "Budget",
    "EnumerativeSynthesizer",
    "Enumerator",
    "Env",
    "Prior",
    "Primitive",
    "Program",
    "SearchResult",
    "Target",
    "Type",
    "complete_dsl",
    "default_dsl",
    "parse_dsl",
    "parse_program",
    "register_dsl",
    "register_guesser",
]
