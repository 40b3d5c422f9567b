"""Program-side interventions: vectorized semantics against the one-example interpreter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth.dsl import parse_dsl
from synth.dsl_seq import REFERENCES
from synth.intervene import (
    aligned_subexpressions,
    evaluate_with,
    interpret_with,
    intervene,
    mixed,
    selectors,
    subexpression_values,
)

SEQ = parse_dsl("seq:d_vocab=5,pad=4")
ARITH = parse_dsl("arith:p=13")
SEQ_PROGRAMS = [
    REFERENCES["dyck1"],
    REFERENCES["induction"],
    "recent(sel_eq(shift(tally(is(tokens, tok0))), tally(is(tokens, tok0))), tokens)",
    "final(add(psum(ind(is(tokens, tok1))), count(sel_lt(indices, indices))))",
]
ARITH_PROGRAMS = ["add(sq(x), sq(y))", "ite(even(x), mul(x, y), sub(cube(y), 2))", "div(add(x, 1), y)"]


def _padded(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    X = rng.integers(0, 4, size=(n, width))
    lengths = rng.integers(1, width + 1, size=n)
    return np.where(np.arange(width) < lengths[:, None], X, 4)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(SEQ_PROGRAMS + ARITH_PROGRAMS), st.integers(1, 6))
def test_vectorized_interventions_equal_the_interpreter(seed, text, n):
    rng = np.random.default_rng(seed)
    seq = text in SEQ_PROGRAMS
    dsl = SEQ if seq else ARITH
    program = dsl.parse(text)
    X = _padded(rng, n, 7) if seq else rng.integers(0, 13, size=(n, 2))
    Xs = _padded(rng, n, 7) if seq else rng.integers(0, 13, size=(n, 2))
    env, env_s = dsl.env(X), dsl.env(Xs)
    values, source = subexpression_values(program, env), subexpression_values(program, env_s)
    subs = list(values)
    sub = subs[rng.integers(len(subs))]
    base = values[sub]
    shape = base.shape[:2] if seq and base.ndim >= 2 else base.shape[:1]
    where = rng.random(shape) < 0.5
    value = mixed(base, source[sub], where)
    fast = evaluate_with(program, env, {sub: value})
    assert np.array_equal(fast, interpret_with(program, env, {sub: value}))
    assert np.array_equal(fast, intervene(program, env, sub, source[sub], where))
    # Setting a subexpression to its own value changes nothing.
    assert np.array_equal(evaluate_with(program, env, {sub: base}), program.evaluate(env))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_a_per_position_intervention_leaves_earlier_positions_alone(seed, t):
    rng = np.random.default_rng(seed)
    program = SEQ.parse(REFERENCES["induction"])
    X = rng.integers(0, 4, size=(5, 7))
    env, env_s = SEQ.env(X), SEQ.env(rng.integers(0, 4, size=(5, 7)))
    prev = SEQ.parse("prev(tokens)")
    where = np.zeros((5, 7), bool)
    where[:, t] = True
    out = intervene(program, env, prev, subexpression_values(program, env_s)[prev], where)
    assert np.array_equal(out[:, :t], program.evaluate(env)[:, :t])


def test_an_intervention_on_prev_moves_the_induction_copy():
    program = SEQ.parse(REFERENCES["induction"])
    X = np.array([[0, 1, 2, 0, 3]])
    env = SEQ.env(X)
    assert program.evaluate(env)[0, 3] == 1  # the token after the earlier 0
    prev = SEQ.parse("prev(tokens)")
    source = np.array([[4, 0, 0, 0, 0]], dtype=np.uint8)  # pretend the token before 2 was 0
    where = np.array([[False, False, True, False, False]])
    out = intervene(program, env, prev, source, where)
    assert out[0, 3] == 2  # now the most recent key after a 0 is position 2


def test_subexpression_lists():
    program = SEQ.parse(REFERENCES["induction"])
    assert [str(s) for s in aligned_subexpressions(program)] == ["prev(tokens)", REFERENCES["induction"]]
    assert [str(s) for s in selectors(program)] == ["sel_tok(prev(tokens), tokens)"]
    dyck = SEQ.parse(REFERENCES["dyck1"])
    assert "tally(is(tokens, tok0))" in [str(s) for s in aligned_subexpressions(dyck)]


def test_bad_interventions_are_refused():
    program = ARITH.parse("add(x, y)")
    env = ARITH.env(np.array([[1, 2]]))
    with pytest.raises(ValueError, match="not a subexpression"):
        intervene(program, env, ARITH.parse("sq(x)"), np.array([3]))
    with pytest.raises(ValueError, match="does not fit"):
        mixed(np.zeros((2, 3)), np.ones((2, 3)), np.ones(3, bool))
