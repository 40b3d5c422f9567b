"""Decomposition of a conjunction, and the learned prior (library files)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from synth import Budget, EnumerativeSynthesizer, Enumerator, Prior, parse_dsl
from synth.decompose import search_conjunction
from synth.library import fit_library, leave_one_out, load_library

SEQ = "seq:d_vocab=4,pad=3"


def _data(seed: int, n: int = 60) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 7, size=n)
    X = rng.integers(0, 3, size=(n, 6))
    return np.where(np.arange(6) < lengths[:, None], X, 3)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 500))
def test_decomposition_finds_a_planted_conjunction_beyond_a_single_search(seed):
    dsl = parse_dsl(SEQ)
    X = _data(seed)
    labels = "both(any(is(tokens, tok2)), all(not(same(tokens, prev(tokens)))))"
    y = dsl.decode(dsl.parse(labels).evaluate(dsl.env(X)))
    assume(y.any() and not y.all())
    prior, env, target = Prior(dsl.primitives), dsl.env(X), dsl.target(y)
    bits = prior.program_bits(dsl.parse(labels))
    budget = Budget(max_bits=bits - 4)  # the whole program is out of reach, its parts are not
    # Data where some single cheaper program happens to fit (rare) do not test the decomposition.
    assume(not Enumerator(prior, env, target, budget).run().found)
    conj = search_conjunction(prior, env, target, budget)
    assert conj.covered and conj.program is not None
    np.testing.assert_array_equal(dsl.decode(conj.program.evaluate(env)), y)
    assert conj.bits == pytest.approx(prior.program_bits(conj.program))
    assert len(conj.parts) >= 2 and all(g > 0 for _, _, g in conj.parts)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 500))
def test_decomposition_is_sound_on_random_labels(seed):
    """Random labels (a null): whatever it returns rejects only what its parts reject, keeps every
    positive, and claims consistency only when it is."""
    dsl = parse_dsl(SEQ)
    X = _data(seed, 30)
    y = np.random.default_rng(seed).integers(0, 2, size=len(X))
    env = dsl.env(X)
    conj = search_conjunction(Prior(dsl.primitives), env, dsl.target(y), Budget(max_bits=14))
    if conj.program is None:
        return
    pred = dsl.decode(conj.program.evaluate(env))
    assert (pred[y == 1] == 1).all()
    assert conj.covered == bool((pred == y).all())


def test_learner_decompose_option_and_its_single_part_case():
    dsl = parse_dsl(SEQ)
    X = _data(3)
    y = dsl.decode(dsl.parse("any(is(tokens, tok2))").evaluate(dsl.env(X)))
    model = EnumerativeSynthesizer(dsl=SEQ, decompose=True, max_bits=20).fit(X, y)
    # One part rejects every negative by itself: the conjunction of one is the MAP program.
    assert str(model.program_) == str(EnumerativeSynthesizer(dsl=SEQ, max_bits=20).fit(X, y).program_)
    assert model.found_ and len(model.search_stats_["parts"]) == 1


# -- the learned prior ---------------------------------------------------------------------------------
def test_library_counts_uses_with_a_pseudocount_and_skips_token_constants(tmp_path):
    lib = fit_library(SEQ, [("a", "any(is(tokens, tok2))"), ("b", "all(is(prev(tokens), tok0))")])
    assert lib.weights["is"] == 3 and lib.weights["tokens"] == 3 and lib.weights["prev"] == 2
    assert lib.weights["sum"] == 1 and "tok0" not in lib.weights and "tok2" not in lib.weights
    path = tmp_path / "lib.json"
    lib.save(path)
    data = json.loads(path.read_text())
    assert data["family"] == "seq" and data["sources"][0] == {"task": "a", "program": "any(is(tokens, tok2))"}
    again = load_library(path)
    assert again.weights == lib.weights and again.sources == lib.sources
    # The learned prior makes the programs it has seen cheaper than the uniform prior does.
    dsl = parse_dsl(SEQ)
    prog = dsl.parse("any(is(tokens, tok1))")
    assert Prior(dsl.primitives, lib.weights_for(dsl)).program_bits(prog) < Prior(
        dsl.primitives
    ).program_bits(prog)


def test_leave_one_out_never_sees_the_held_out_task():
    solved = {"a": "any(is(tokens, tok2))", "b": "last(eq0(tally(is(tokens, tok0))))", "c": "final(indices)"}
    libs = leave_one_out(SEQ, solved)
    for task, lib in libs.items():
        assert task not in {t for t, _ in lib.sources} and len(lib.sources) == 2
    assert libs["c"].weights["tally"] == 2 and libs["b"].weights["tally"] == 1


def test_bad_libraries_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"family": "seq", "weights": {"is": -1}}')
    with pytest.raises(ValueError, match="numbers >= 0"):
        load_library(bad)
    with pytest.raises(ValueError, match="cannot read library"):
        load_library(tmp_path / "missing.json")
    lib = fit_library(SEQ, [])
    with pytest.raises(ValueError, match="for the seq DSL, not arith"):
        lib.weights_for(parse_dsl("arith:p=7"))
    with pytest.raises(ValueError, match="pseudocount must be > 0"):
        fit_library(SEQ, [], pseudocount=0)
