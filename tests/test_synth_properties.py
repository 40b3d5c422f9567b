"""Property tests of the synthesizer core on the arithmetic DSL (hypothesis).

(1) soundness, (2) optimality against brute force on small grammars, (3) completeness of the
equivalence pruning (no solution lost, also when every hash key collides), (4) non-decreasing cost
order, (5) parse(print(p)) == p, (6) vectorized semantics == a plain scalar interpreter.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth import Budget, Enumerator, Prior, Program, parse_dsl
from synth.bank import RowKeys
from synth.dsl_arith import ArithDSL
from synth.types import Type

PRIMES = [2, 3, 5, 7, 11, 97, 131]


# -- a plain scalar interpreter, independent of the vectorized semantics ------------------------------
def scalar_eval(prog: Program, x: int, y: int, p: int) -> int | bool:
    name = prog.prim.name
    a = [scalar_eval(c, x, y, p) for c in prog.children]
    if name == "x":
        return x
    if name == "y":
        return y
    if name.isdigit():
        return int(name)
    if name == "add":
        return (a[0] + a[1]) % p
    if name == "sub":
        return (a[0] - a[1]) % p
    if name == "mul":
        return (a[0] * a[1]) % p
    if name == "div":
        return (a[0] * pow(a[1], p - 2, p)) % p if a[1] else 0
    if name == "sq":
        return a[0] * a[0] % p
    if name == "cube":
        return a[0] ** 3 % p
    if name == "even":
        return a[0] % 2 == 0
    if name == "ite":
        return a[1] if a[0] else a[2]
    raise AssertionError(f"the test interpreter does not know {name}")


# -- strategies --------------------------------------------------------------------------------------
@st.composite
def programs(draw, dsl: ArithDSL, t: Type | None = None, depth: int = 3, allowed: frozenset | None = None):
    t = t or dsl.int_type
    prims = [p for p in dsl.primitives if p.ret == t and (allowed is None or p.name in allowed)]
    if depth <= 0:
        prims = [p for p in prims if p.arity == 0] or [p for p in prims if all(a != t for a in p.args)]
    prim = draw(st.sampled_from(prims))
    kids = tuple(draw(programs(dsl, a, depth - 1, allowed)) for a in prim.args)
    return Program(prim, kids)


@st.composite
def inputs(draw, p: int, max_n: int = 6) -> np.ndarray:
    n = draw(st.integers(1, max_n))
    pair = st.tuples(st.integers(0, p - 1), st.integers(0, p - 1))
    return np.array(draw(st.lists(pair, min_size=n, max_size=n)))


dsls = st.sampled_from(PRIMES).flatmap(
    lambda p: st.builds(ArithDSL, p=st.just(p), max_const=st.integers(0, min(2, p - 1)))
)


# -- brute force -------------------------------------------------------------------------------------
def brute_force(prior: Prior, env, t: Type, bound: int) -> dict[bytes, tuple[int, Program]]:
    """Every program of type ``t`` with quantized cost <= bound, by value: the cheapest one."""

    @functools.cache
    def progs(ty: Type, b: int) -> tuple[tuple[int, Program, np.ndarray], ...]:
        out = []
        for prim in prior.primitives:
            c = prior.qcost[prim.name]
            if prim.ret != ty or c > b:
                continue
            if prim.arity == 0:
                out.append((c, Program(prim), Program(prim).evaluate(env)))
                continue

            def rec(prim, i: int, left: int, kids: tuple, vals: tuple, cost: int) -> None:
                if i == prim.arity:
                    value = np.asarray(prim.fn(*vals)).astype(prim.ret.dtype)
                    out.append((cost, Program(prim, kids), value))
                    return
                for kc, kp, kv in progs(prim.args[i], left):
                    rec(prim, i + 1, left - kc, (*kids, kp), (*vals, kv), cost + kc)

            rec(prim, 0, b - c, (), (), c)
        return tuple(out)

    best: dict[bytes, tuple[int, Program]] = {}
    for cost, prog, value in progs(t, bound):
        key = value.tobytes()
        if key not in best or cost < best[key][0]:
            best[key] = (cost, prog)
    return best


def small_prior(dsl: ArithDSL, weights: dict[str, int]) -> Prior:
    return Prior(dsl.primitives, {k: w for k, w in weights.items() if k in dsl.by_name})


weight_maps = st.fixed_dictionaries(
    {name: st.sampled_from([0, 1, 1, 2, 3]) for name in ["y", "1", "sub", "mul", "div", "sq", "ite"]}
)


# -- (6) semantics -----------------------------------------------------------------------------------
@settings(max_examples=60)
@given(st.data())
def test_vectorized_semantics_match_scalar_interpreter(data) -> None:
    dsl = data.draw(dsls)
    prog = data.draw(programs(dsl, depth=4))
    X = data.draw(inputs(dsl.p, max_n=8))
    got = prog.evaluate(dsl.env(X))
    want = [scalar_eval(prog, int(x), int(y), dsl.p) for x, y in X]
    assert got.tolist() == want
    assert got.dtype == dsl.dtype


@settings(max_examples=30)
@given(st.data())
def test_commutative_primitives_commute(data) -> None:
    dsl = data.draw(dsls)
    n = data.draw(st.integers(1, 20))
    a, b = (
        np.array(data.draw(st.lists(st.integers(0, dsl.p - 1), min_size=n, max_size=n)), dsl.dtype)
        for _ in "ab"
    )
    for prim in dsl.primitives:
        if prim.commutative:
            assert (prim.fn(a, b) == prim.fn(b, a)).all()


# -- (5) round trip ----------------------------------------------------------------------------------
@settings(max_examples=60)
@given(st.data())
def test_parse_print_round_trip(data) -> None:
    dsl = data.draw(dsls)
    prog = data.draw(programs(dsl, depth=5))
    text = str(prog)
    assert dsl.parse(text) == prog
    assert dsl.parse(" " + text.replace(", ", " ,") + " ") == prog


def test_parse_errors_name_the_problem() -> None:
    dsl = ArithDSL(p=7)
    with pytest.raises(ValueError, match="unknown primitive 'pow'"):
        dsl.parse("pow(x, 2)")
    with pytest.raises(ValueError, match="expected ','"):
        dsl.parse("add(x)")
    with pytest.raises(ValueError, match="must be bool"):
        dsl.parse("ite(x, x, y)")
    with pytest.raises(ValueError, match="after the program"):
        dsl.parse("x y")


def test_trace_lists_subexpressions_with_values() -> None:
    dsl = ArithDSL(p=97)
    prog = dsl.parse("add(mul(x, x), mul(x, x))")
    env = dsl.env(np.array([[3, 1], [10, 2]]))
    trace = dict((str(s), v.tolist()) for s, v in prog.trace(env))
    assert list(trace) == ["x", "mul(x, x)", "add(mul(x, x), mul(x, x))"]
    assert trace["mul(x, x)"] == [9, 3] and trace["add(mul(x, x), mul(x, x))"] == [18, 6]


# -- (1) soundness, (3) completeness -------------------------------------------------------------------
@settings(max_examples=40)
@given(st.data())
def test_returns_a_consistent_program_no_costlier_than_the_target(data) -> None:
    dsl = data.draw(dsls)
    prior = Prior(dsl.primitives)
    target_prog = data.draw(programs(dsl, depth=3))
    X = data.draw(inputs(dsl.p))
    env = dsl.env(X)
    y = target_prog.evaluate(env).astype(np.int64)
    bound = prior.program_bits(target_prog) + 0.01
    seed = data.draw(st.integers(0, 9))
    result = Enumerator(prior, env, dsl.target(y), Budget(max_bits=bound), seed=seed).run()
    assert result.found and result.stop_reason == "found"
    assert (result.program.evaluate(env).astype(np.int64) == y).all()  # soundness
    assert prior.program_qcost(result.program) <= prior.program_qcost(target_prog)  # completeness
    assert result.bits == pytest.approx(prior.program_bits(result.program))


@settings(max_examples=25)
@given(st.data())
def test_soundness_on_arbitrary_labels(data) -> None:
    dsl = ArithDSL(p=data.draw(st.sampled_from([3, 5, 7])))
    X = data.draw(inputs(dsl.p, max_n=4))
    y = np.array(data.draw(st.lists(st.integers(0, dsl.p - 1), min_size=len(X), max_size=len(X))))
    result = Enumerator(Prior(dsl.primitives), dsl.env(X), dsl.target(y), Budget(max_bits=24)).run()
    if result.found:
        assert (result.program.evaluate(dsl.env(X)) == y).all()
    else:
        assert result.stop_reason in {"max_bits", "exhausted"}


# -- (2) optimality and exact bank contents against brute force ----------------------------------------
@settings(max_examples=30)
@given(st.data())
def test_bank_is_exactly_the_cheapest_program_per_class(data) -> None:
    """Enumerating without a target up to a bound, the bank holds one program per class of equal
    outputs, at the cheapest cost any program of the class has within the bound; pruning loses
    nothing. Checked also with a hash under which every row collides (verification must hold)."""
    dsl = ArithDSL(p=data.draw(st.sampled_from([3, 5, 7])), max_const=1)
    prior = small_prior(dsl, data.draw(weight_maps))
    X = data.draw(inputs(dsl.p, max_n=4))
    env = dsl.env(X)
    bound_bits = data.draw(st.sampled_from([8.0, 11.0, 14.0]))
    bound = prior.to_qcost(bound_bits)
    collide = data.draw(st.booleans())
    enum = Enumerator(prior, env, None, Budget(max_bits=bound_bits))
    if collide:
        for bank in enum.banks.values():
            bank.rowkeys = _CollidingKeys(env.n * bank_itemsize(bank, dsl))
    result = enum.run()
    assert result.stop_reason in {"max_bits", "exhausted"}
    for t in enum.types:
        want = brute_force(prior, env, t, bound)
        got: dict[bytes, int] = {}
        last = -1
        for prog, cost, value in enum.bank_programs(t):
            assert cost >= last  # (4) the bank fills in non-decreasing cost
            last = cost
            assert cost == prior.program_qcost(prog)
            assert prog.evaluate(env).tobytes() == value.tobytes()
            assert value.tobytes() not in got  # one program per class
            got[value.tobytes()] = cost
        assert got == {key: cost for key, (cost, _) in want.items()}


def bank_itemsize(bank, dsl: ArithDSL) -> int:
    return 1 if dsl.p <= 128 else 2


class _CollidingKeys(RowKeys):
    """Every row gets the same key: only the verification on collision tells classes apart."""

    def __init__(self, row_bytes: int) -> None:
        super().__init__(row_bytes, np.random.default_rng(0))

    def __call__(self, words: np.ndarray) -> np.ndarray:
        return np.full(len(words), 7, np.uint64)


@settings(max_examples=30)
@given(st.data())
def test_optimal_against_brute_force(data) -> None:
    dsl = ArithDSL(p=data.draw(st.sampled_from([5, 7, 11])), max_const=1)
    prior = small_prior(dsl, data.draw(weight_maps))
    X = data.draw(inputs(dsl.p, max_n=4))
    env = dsl.env(X)
    bound_bits = 13.0
    bound = prior.to_qcost(bound_bits)
    if data.draw(st.booleans()):
        y = np.array(data.draw(st.lists(st.integers(0, dsl.p - 1), min_size=len(X), max_size=len(X))))
    else:
        allowed = frozenset(prior.qcost)
        y = data.draw(programs(dsl, depth=2, allowed=allowed)).evaluate(env).astype(np.int64)
    result = Enumerator(prior, env, dsl.target(y), Budget(max_bits=bound_bits)).run()
    classes = brute_force(prior, env, dsl.int_type, bound)
    match = classes.get(y.astype(dsl.dtype).tobytes())
    if match is None:
        assert not result.found
    else:
        assert result.found
        assert prior.program_qcost(result.program) == match[0]


# -- (4) order of candidates ---------------------------------------------------------------------------
@settings(max_examples=20)
@given(st.data())
def test_candidates_come_out_in_non_decreasing_cost(data) -> None:
    dsl = data.draw(dsls)
    prior = small_prior(dsl, data.draw(weight_maps))
    X = data.draw(inputs(dsl.p))
    seen: list[int] = []
    counts: list[int] = []
    enum = Enumerator(
        prior,
        dsl.env(X),
        None,
        Budget(max_candidates=data.draw(st.integers(1, 3000))),
        on_block=lambda c, prim, n: (seen.append(c), counts.append(n)),
    )
    result = enum.run()
    assert seen == sorted(seen)
    assert sum(counts) == result.candidates
    assert result.stop_reason in {"max_candidates", "max_bits", "exhausted"}


def test_max_candidates_is_exact_and_deterministic() -> None:
    dsl = parse_dsl("arith:p=97")
    X = np.array([[1, 2], [3, 4], [5, 6]])
    target = dsl.target(np.array([0, 0, 1]))
    runs = [
        Enumerator(Prior(dsl.primitives), dsl.env(X), target, Budget(max_candidates=4321)).run() for _ in "ab"
    ]
    assert runs[0].candidates == 4321 and runs[0].stop_reason == "max_candidates"
    assert str(runs[0].program) == str(runs[1].program) and runs[0].kept == runs[1].kept
