"""The posterior's class masses against brute force: the sum of 2^-bits over every program of a class.

On small arithmetic grammars (random weights, moduli and inputs) every program up to the bound is
enumerated by a plain recursion, grouped by its outputs, and each group's total prior probability
is compared with :func:`synth.posterior.class_masses` on the enumerator's bank (pruned search,
edges recorded), with and without a target (with one, each type has its own bound).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth import Budget, EnumerativeSynthesizer, Enumerator, Prior
from synth.bank import RowKeys
from synth.dsl_arith import ArithDSL
from synth.posterior import class_masses
from synth.types import Type


def brute_masses(prior: Prior, env, bound: dict[Type, int]) -> dict[Type, dict[bytes, float]]:
    """Per type, per output row: the sum of 2^-bits (exact) over every program of quantized cost
    within the type's bound, by plain recursion (no pruning, no sharing of equal values)."""

    @functools.cache
    def progs(ty: Type, b: int) -> tuple[tuple[int, float, bytes, np.ndarray], ...]:
        out = []
        for prim in prior.primitives:
            c = prior.qcost[prim.name]
            if prim.ret != ty or c > b:
                continue
            w = 2.0 ** -prior.bits[prim.name]
            if prim.arity == 0:
                v = np.broadcast_to(np.asarray(prim.fn(env)).astype(ty.dtype), (env.n,))
                out.append((c, w, v.tobytes(), v))
                continue

            def rec(i, left, vals, cost, weight, prim=prim):
                if i == prim.arity:
                    v = np.asarray(prim.fn(*vals)).astype(prim.ret.dtype)
                    out.append((cost, weight, v.tobytes(), v))
                    return
                for kc, kw, _, kv in progs(prim.args[i], left):
                    rec(i + 1, left - kc, (*vals, kv), cost + kc, weight * kw)

            rec(0, b - c, (), c, w)
        return tuple(out)

    masses = {}
    for t, b in bound.items():
        acc: dict[bytes, float] = {}
        for _, w, key, _ in progs(t, b):
            acc[key] = acc.get(key, 0.0) + w
        masses[t] = acc
    return masses


weight_maps = st.fixed_dictionaries(
    {name: st.sampled_from([0, 1, 1, 2, 3]) for name in ["y", "1", "sub", "mul", "div", "sq", "cube", "ite"]}
)


def _compare(en: Enumerator, brute: dict[Type, dict[bytes, float]], masses, bound) -> None:
    for t, want in brute.items():
        bank = en.banks[t]
        got = {bank.values[r].tobytes(): masses[t][r] for r in range(bank.size) if masses[t][r] > 0}
        assert set(got) == set(want), t
        for key, w in want.items():
            assert math.isclose(got[key], w, rel_tol=1e-9), (t, got[key], w)


class _CollidingKeys(RowKeys):
    """Every row gets the same key: each candidate's class must come from comparing rows."""

    def __call__(self, words: np.ndarray) -> np.ndarray:
        return np.full(len(words), 12345, np.uint64)


@settings(max_examples=40, deadline=None)
@given(
    p=st.sampled_from([3, 5, 7]),
    weights=weight_maps,
    bound_bits=st.floats(6, 13),
    seed=st.integers(0, 1000),
    collide=st.booleans(),
)
def test_class_masses_equal_brute_force_without_target(p, weights, bound_bits, seed, collide):
    dsl = ArithDSL(p=p, max_const=1)
    prior = Prior(dsl.primitives, {k: w for k, w in weights.items() if k in dsl.by_name})
    X = np.random.default_rng(seed).integers(0, p, size=(3, 2))
    en = Enumerator(prior, dsl.env(X), None, Budget(max_bits=bound_bits), record=True)
    if collide:  # bool rows are 3 bytes, int rows 3 bytes (uint8): byte-wise keys
        for bank in en.banks.values():
            bank.rowkeys = _CollidingKeys(3, np.random.default_rng(0))
    en.run()
    masses, bound = class_masses(en)
    assert set(bound.values()) == {en.last_level}
    _compare(en, brute_masses(prior, dsl.env(X), bound), masses, bound)


@settings(max_examples=30, deadline=None)
@given(p=st.sampled_from([3, 5, 7]), weights=weight_maps, seed=st.integers(0, 1000), extra=st.floats(0, 6))
def test_class_masses_equal_brute_force_in_posterior_mode(p, weights, seed, extra):
    """With a target each type has its own bound (the output level minus its context cost)."""
    dsl = ArithDSL(p=p, max_const=1)
    prior = Prior(dsl.primitives, {k: w for k, w in weights.items() if k in dsl.by_name})
    rng = np.random.default_rng(seed)
    X = rng.integers(0, p, size=(3, 2))
    target = dsl.target((X[:, 0] * X[:, 0] + 1) % p)
    en = Enumerator(prior, dsl.env(X), target, Budget(max_bits=14), collect_bits=extra)
    result = en.run()
    masses, bound = class_masses(en)
    assert all(b == en.last_level - en.ctx[t] for t, b in bound.items())
    _compare(en, brute_masses(prior, dsl.env(X), bound), masses, bound)
    # The masses the search reports for its consistent classes are those of the bank rows.
    if result.consistent:
        assert len(result.masses) == len(result.consistent)
        pairs = zip(result.consistent, result.masses, strict=True)
        assert all(m >= 2.0**-b * (1 - 1e-12) for (_, b), m in pairs)


def test_duplicates_raise_a_class_mass_above_its_cheapest_member():
    """x+y and y+x and x+y+0-style variants: the class of add(x, y) weighs more than 2^-bits."""
    dsl = ArithDSL(p=7, max_const=1)
    prior = Prior(dsl.primitives)
    X = np.array([[1, 2], [3, 5], [6, 6]])
    en = Enumerator(
        prior, dsl.env(X), dsl.target((X[:, 0] + X[:, 1]) % 7), Budget(max_bits=20), collect_bits=4
    )
    result = en.run()
    (program, bits), mass = result.consistent[0], result.masses[0]
    assert str(program) == "add(x, y)"
    assert mass >= 2 * 2.0**-bits  # add(y, x) is another program of the class, as cheap


def test_posterior_vote_uses_class_masses():
    dsl = "arith:p=7"
    X = np.array([[1, 2], [3, 5]])
    y = (X[:, 0] + X[:, 1]) % 7
    model = EnumerativeSynthesizer(dsl=dsl, posterior=True, posterior_bits=3, n_probe=8).fit(X, y)
    w = np.array([w for _, _, w in model.posterior_])
    assert w.sum() == pytest.approx(1.0)
    masses = np.array(model.search_masses_)
    np.testing.assert_allclose(w, masses / masses.sum())


@settings(max_examples=8, deadline=None)
@given(p=st.sampled_from([5, 7, 11]), weights=weight_maps, seed=st.integers(0, 1000))
def test_jobs_give_the_same_search(p, weights, seed):
    """Blocks computed ahead on threads are consumed in order: the same candidates, bank and masses
    (small blocks, so that a level has many)."""
    dsl = ArithDSL(p=p, max_const=1)
    prior = Prior(dsl.primitives, {k: w for k, w in weights.items() if k in dsl.by_name})
    X = np.random.default_rng(seed).integers(0, p, size=(4, 2))
    target = dsl.target((X[:, 0] * X[:, 1] + X[:, 0]) % p)
    runs = [
        Enumerator(prior, dsl.env(X), target, Budget(max_bits=16), collect_bits=2, block_bytes=64, jobs=j)
        for j in (1, 2)
    ]
    results = [en.run() for en in runs]
    assert [r.candidates for r in results] == [results[0].candidates] * 2
    assert [str(p) for p, _ in results[0].consistent] == [str(p) for p, _ in results[1].consistent]
    assert results[0].masses == results[1].masses
    for t in runs[0].types:
        a, b = runs[0].banks[t], runs[1].banks[t]
        assert a.size == b.size and (a.size == 0 or (a.values[: a.size] == b.values[: b.size]).all())


def test_jobs_must_be_positive():
    dsl = ArithDSL(p=5)
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        Enumerator(Prior(dsl.primitives), dsl.env(np.array([[1, 2]])), None, jobs=0)
