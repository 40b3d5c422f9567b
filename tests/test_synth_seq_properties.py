"""Property tests of the sequence DSL (hypothesis): the vectorized semantics equal a plain
per-sequence interpreter (which never sees padding); padding and later tokens never change a value
at a real position; soundness; pruning never loses a solution (also through the counterexample-
guided subsets of the learner); parse(print(p)) == p."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from synth import Budget, EnumerativeSynthesizer, Enumerator, Prior, Program
from synth.dsl_seq import BOOL, FLAG, INT, NUM, SEL, SeqDSL
from synth.types import Type

LIMIT = 32767


def sat(x: int) -> int:
    return max(-LIMIT, min(LIMIT, x))


# -- a plain interpreter on one unpadded sequence ------------------------------------------------------
def interpret(prog: Program, seq: list[int], none: int):
    """Per-position values as lists (booleans as 0/1), selectors as lists of lists, per-sequence
    values as Python scalars."""
    name = prog.prim.name
    a = [interpret(c, seq, none) for c in prog.children]
    m = len(seq)
    pos = range(m)
    if name == "tokens":
        return list(seq)
    if name == "indices":
        return list(pos)
    if name.startswith("tok"):
        return int(name[3:])
    if name in ("prev", "shift"):
        return [none if name == "prev" else 0] + a[0][:-1]
    if name == "psum":
        return [sat(sum(a[0][: i + 1])) for i in pos]
    if name == "ind":
        return list(a[0])
    if name == "tally":
        return [sat(sum(1 if b else -1 for b in a[0][: i + 1])) for i in pos]
    if name in ("add", "sub"):
        return [sat(x + y if name == "add" else x - y) for x, y in zip(a[0], a[1], strict=True)]
    if name in ("recent", "recent_i", "count", "mean"):
        sel = a[0]
        chosen = [[j for j in range(i + 1) if sel[i][j]] for i in pos]
        if name == "count":
            return [len(js) for js in chosen]
        if name == "mean":
            return [sum(a[1][j] for j in js) // len(js) if js else 0 for js in chosen]
        default = none if name == "recent" else 0
        return [a[1][max(js)] if js else default for js in chosen]
    tests = {
        "is": lambda x, c: x == c, "same": lambda x, y: x == y, "eq": lambda x, y: x == y,
        "lt": lambda x, y: x < y, "and": lambda x, y: x and y, "or": lambda x, y: x or y,
    }
    if name == "is":
        return [int(x == a[1]) for x in a[0]]
    if name in tests:
        return [int(bool(tests[name](x, y))) for x, y in zip(a[0], a[1], strict=True)]
    signs = {"eq0": lambda x: x == 0, "gt0": lambda x: x > 0, "ge0": lambda x: x >= 0, "not": lambda x: not x}
    if name in signs:
        return [int(signs[name](x)) for x in a[0]]
    if name.startswith("sel_"):
        pred = {"sel_tok": tests["eq"], "sel_eq": tests["eq"], "sel_lt": tests["lt"]}
        pred["sel_le"] = lambda k, q: k <= q
        keys, queries = a
        return [[int(j <= i and pred[name](keys[j], queries[i])) for j in pos] for i in pos]
    reductions = {
        "all": lambda v: all(v), "any": lambda v: any(v), "last": lambda v: bool(v and v[-1]),
        "sum": lambda v: sat(sum(v)), "final": lambda v: v[-1] if v else 0,
    }
    if name in reductions:
        return reductions[name](a[0])
    flags = {"both": lambda f, g: f and g, "either": lambda f, g: f or g}
    if name in flags:
        return flags[name](a[0], a[1])
    if name == "negate":
        return not a[0]
    raise AssertionError(f"the test interpreter does not know {name}")


# -- strategies --------------------------------------------------------------------------------------
dsls = st.builds(
    lambda v, padded: SeqDSL(d_vocab=v, pad=v - 1 if padded else -1),
    st.integers(2, 6),
    st.booleans(),
)


@st.composite
def programs(draw, dsl: SeqDSL, t: Type, depth: int = 3):
    prims = [p for p in dsl.primitives if p.ret == t]
    if depth <= 0:
        prims = [p for p in prims if p.arity == 0] or [p for p in prims if all(a != t for a in p.args)]
    prim = draw(st.sampled_from(prims))
    return Program(prim, tuple(draw(programs(dsl, a, depth - 1)) for a in prim.args))


@st.composite
def batches(draw, dsl: SeqDSL, max_n: int = 5, max_len: int = 7) -> tuple[np.ndarray, list[list[int]]]:
    """Padded rows (n, width) and the unpadded sequences; without a pad id every row is full."""
    n, width = draw(st.integers(1, max_n)), draw(st.integers(1, max_len))
    lengths = [draw(st.integers(1, width)) if dsl.pad >= 0 else width for _ in range(n)]
    seqs = [draw(st.lists(st.sampled_from(dsl.token_ids), min_size=k, max_size=k)) for k in lengths]
    X = np.full((n, width), max(dsl.pad, 0), np.int64)
    for row, s in zip(X, seqs, strict=True):
        row[: len(s)] = s
    return X, seqs


TYPES = ("tok", INT, BOOL, SEL, FLAG, NUM)


def type_of(dsl: SeqDSL, name) -> Type:
    return dsl.tok if name == "tok" else name


def sentinel(t: Type, dsl: SeqDSL) -> int:
    return {"tok": dsl.tok_pad, "int": -32768, "bool": -1, "sel": 2}[t.name]


# -- semantics ---------------------------------------------------------------------------------------
@settings(max_examples=120)
@given(st.data())
def test_vectorized_semantics_match_the_per_sequence_interpreter(data) -> None:
    dsl = data.draw(dsls)
    t = type_of(dsl, data.draw(st.sampled_from(TYPES)))
    prog = data.draw(programs(dsl, t, depth=data.draw(st.integers(1, 4))))
    X, seqs = data.draw(batches(dsl))
    got = prog.evaluate(dsl.env(X))
    assert got.dtype == t.dtype
    for row, s in enumerate(seqs):
        want, m = interpret(prog, s, dsl.none), len(s)
        if t in (FLAG, NUM):
            assert got[row] == want
        elif t == SEL:
            assert got[row, :m, :m].tolist() == want
            assert (got[row, :m, m:] == 0).all() and (got[row, m:] == 2).all()
        else:
            assert got[row, :m].tolist() == want
            assert (got[row, m:] == sentinel(t, dsl)).all()


@settings(max_examples=60)
@given(st.data())
def test_padding_and_later_tokens_never_change_earlier_values(data) -> None:
    """Appending padding changes nothing; cutting rows short keeps every earlier position's value
    (causality), which is what makes per-position predictions unable to read ahead."""
    dsl = data.draw(dsls)
    t = type_of(dsl, data.draw(st.sampled_from(TYPES)))
    prog = data.draw(programs(dsl, t, depth=data.draw(st.integers(1, 4))))
    X, _ = data.draw(batches(dsl))
    base = prog.evaluate(dsl.env(X))
    if dsl.pad >= 0:
        extra = data.draw(st.integers(1, 4))
        wider = prog.evaluate(dsl.env(np.concatenate([X, np.full((len(X), extra), dsl.pad)], axis=1)))
        width = X.shape[1]
        if t in (FLAG, NUM):
            assert (wider == base).all()
        elif t == SEL:
            assert (wider[:, :width, :width] == base).all()
        else:
            assert (wider[:, :width] == base).all()
    if t not in (FLAG, NUM) and X.shape[1] > 1:
        k = data.draw(st.integers(1, X.shape[1] - 1))
        cut = prog.evaluate(dsl.env(X[:, :k]))
        assert (cut == (base[:, :k, :k] if t == SEL else base[:, :k])).all()


@settings(max_examples=40)
@given(st.data())
def test_commutative_primitives_commute(data) -> None:
    dsl = data.draw(dsls)
    X, _ = data.draw(batches(dsl))
    env = dsl.env(X)
    for prim in dsl.primitives:
        if prim.commutative:
            a, b = (data.draw(programs(dsl, prim.args[0], depth=2)).evaluate(env) for _ in "ab")
            assert (prim.fn(a, b) == prim.fn(b, a)).all()


@settings(max_examples=60)
@given(st.data())
def test_parse_print_round_trip(data) -> None:
    dsl = data.draw(dsls)
    prog = data.draw(programs(dsl, type_of(dsl, data.draw(st.sampled_from(TYPES))), depth=5))
    assert dsl.parse(str(prog)) == prog


# -- search ------------------------------------------------------------------------------------------
OUTPUTS = ("tok", INT, BOOL, FLAG)


def labels(dsl: SeqDSL, t: Type, values: np.ndarray) -> np.ndarray:
    return dsl.decode(values) if t != FLAG else values.astype(np.int64)


@settings(max_examples=40)
@given(st.data())
def test_search_returns_a_consistent_program_no_costlier_than_the_target(data) -> None:
    """Soundness and completeness of the pruning: for a random target program within the bound, the
    search finds a consistent program that costs no more (masked per-position targets included)."""
    dsl = data.draw(dsls)
    out = type_of(dsl, data.draw(st.sampled_from(OUTPUTS)))
    prior = Prior(dsl.primitives)
    target_prog = data.draw(programs(dsl, out, depth=3))
    assume(prior.program_bits(target_prog) <= 20)
    X, _ = data.draw(batches(dsl, max_n=4, max_len=5))
    env = dsl.env(X)
    y = labels(dsl, out, target_prog.evaluate(env))
    mask = None
    if out != FLAG:
        real = dsl.real_positions(X) & (y >= 0 if out == dsl.tok else True)  # 'no token' is no label
        mask = real & np.array(data.draw(st.lists(st.booleans(), min_size=X.size, max_size=X.size))).reshape(
            X.shape
        )
        y = np.where(mask, y, -1)
    dsl_out = SeqDSL(d_vocab=dsl.d_vocab, pad=dsl.pad, out={"tok": "tok", "int": "int", "bool": "bool"}.get(
        out.name, "flag"))
    target = dsl_out.target(y, mask)
    bound = prior.program_bits(target_prog) + 0.01
    result = Enumerator(prior, env, target, Budget(max_bits=bound), seed=data.draw(st.integers(0, 9))).run()
    assert result.found and result.stop_reason == "found"
    got = result.program.evaluate(env)
    assert target.consistent(got[None])[0]  # soundness
    assert prior.program_qcost(result.program) <= prior.program_qcost(target_prog)  # nothing lost


@settings(max_examples=25)
@given(st.data())
def test_counterexample_guided_subsets_find_a_program_as_cheap_as_the_whole_search(data) -> None:
    dsl = data.draw(dsls)
    prior = Prior(dsl.primitives)
    target_prog = data.draw(programs(dsl, FLAG, depth=3))
    assume(prior.program_bits(target_prog) <= 18)
    X, _ = data.draw(batches(dsl, max_n=12, max_len=5))
    y = target_prog.evaluate(dsl.env(X)).astype(np.int64)
    flip = data.draw(st.booleans())  # labels no program may fit within the bound, too
    if flip:
        y[data.draw(st.integers(0, len(y) - 1))] ^= 1
    kwargs = dict(dsl=SeqDSL(d_vocab=dsl.d_vocab, pad=dsl.pad, out="flag"), max_bits=18.0)
    whole = EnumerativeSynthesizer(subset=None, **kwargs).fit(X, y)
    parts = EnumerativeSynthesizer(subset=data.draw(st.integers(1, 4)), **kwargs).fit(X, y)
    assert parts.found_ == whole.found_
    if whole.found_:
        assert prior.program_qcost(parts.program_) == prior.program_qcost(whole.program_)
        assert (parts.predict(X) == y).all()
    else:
        assert parts.search_stats_["stop_reason"] == whole.search_stats_["stop_reason"]
