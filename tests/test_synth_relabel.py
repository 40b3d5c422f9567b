"""The seq prior ignores token ids: renaming the ids of the same data renames the program found.

Token constants range over the ids that occur in the training data (first occurrence first), so a
bijective relabelling of the ids (into a vocabulary of any size, pad included) must give the same
bits, the same search and the same program with its constants renamed; and every primitive that
mentions tokens must commute with the renaming.
"""

import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from synth import EnumerativeSynthesizer, parse_dsl
from synth.learner import _data_prior
from synth.seq_ops import INT_PAD

#: Programs over the token ids 0, 1, 2 that use every seq primitive mentioning tokens: the token
#: input and constants, prev, recent, is, same and sel_tok, in each output type that holds tokens.
PROGRAMS = [
    "tokens",
    "prev(tokens)",
    "recent(sel_tok(prev(tokens), tokens), tokens)",
    "is(prev(tokens), tok1)",
    "same(tokens, prev(prev(tokens)))",
    "count(sel_tok(tokens, tokens))",
    "recent_i(sel_tok(tokens, prev(tokens)), indices)",
    "any(is(tokens, tok2))",
    "both(all(ge0(tally(is(tokens, tok0)))), last(eq0(tally(is(tokens, tok0)))))",
    "final(tally(same(tokens, recent(sel_tok(tokens, tokens), prev(tokens)))))",
]
#: Labelling programs for the search (flag outputs), each cheap enough to find within the budget.
TARGETS = [
    "any(is(tokens, tok2))",
    "last(is(tokens, tok0))",
    "last(same(tokens, prev(tokens)))",
    "all(or(is(tokens, tok1), is(prev(tokens), tok1)))",
    "last(eq0(tally(is(tokens, tok0))))",
]


def rename(program: str, perm: dict[int, int]) -> str:
    return re.sub(r"\btok(\d+)\b", lambda m: f"tok{perm[int(m.group(1))]}", program)


@st.composite
def relabelled(draw, n_max: int = 24):
    """Random padded sequences over ids 0..2 (pad 3) and a random injection of 0..3 into a vocabulary
    of 4..9 ids (the pad goes along)."""
    seed = draw(st.integers(0, 2**16))
    n = draw(st.integers(2, n_max))
    d_vocab = draw(st.integers(4, 9))
    image = draw(st.permutations(range(d_vocab)))[:4]
    rng = np.random.default_rng(seed)
    width = 8
    lengths = rng.integers(1, width + 1, size=n)
    X = np.where(np.arange(width) < lengths[:, None], rng.integers(0, 3, size=(n, width)), 3)
    perm = dict(enumerate(int(t) for t in image))
    return X, perm, d_vocab


def _values_match(a: np.ndarray, b: np.ndarray, perm: dict[int, int], dsl_a, dsl_b) -> None:
    """``b`` is ``a`` with token ids renamed by ``perm``, the 'no token' value mapped to its own."""
    if a.dtype == dsl_a.tok_dtype and a.dtype.kind == "u":
        lut = np.full(int(np.iinfo(a.dtype).max) + 1, -1, np.int64)
        for old, new in perm.items():
            lut[old] = new
        lut[dsl_a.none] = dsl_b.none
        lut[dsl_a.tok_pad] = dsl_b.tok_pad
        np.testing.assert_array_equal(lut[a.astype(np.int64)], b.astype(np.int64))
    else:
        np.testing.assert_array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(data=relabelled(), program=st.sampled_from(PROGRAMS))
def test_token_primitives_commute_with_relabelling(data, program):
    X, perm, d_vocab = data
    dsl_a, dsl_b = parse_dsl("seq:d_vocab=4,pad=3"), parse_dsl(f"seq:d_vocab={d_vocab},pad={perm[3]}")
    Xb = np.vectorize(perm.get)(X)
    a = dsl_a.parse(program).evaluate(dsl_a.env(X))
    b = dsl_b.parse(rename(program, perm)).evaluate(dsl_b.env(Xb))
    assert a.shape == b.shape and (a == INT_PAD).sum() == (b == INT_PAD).sum()
    _values_match(a, b, perm, dsl_a, dsl_b)


@settings(max_examples=20, deadline=None)
@given(data=relabelled())
def test_data_prior_is_the_same_up_to_renaming(data):
    X, perm, d_vocab = data
    dsl_a, dsl_b = parse_dsl("seq:d_vocab=4,pad=3"), parse_dsl(f"seq:d_vocab={d_vocab},pad={perm[3]}")
    pa, pb = _data_prior(dsl_a, X, None), _data_prior(dsl_b, np.vectorize(perm.get)(X), None)
    assert [rename(p.name, perm) for p in pa.primitives] == [p.name for p in pb.primitives]
    assert [pa.bits[p.name] for p in pa.primitives] == [pb.bits[p.name] for p in pb.primitives]
    # Only ids in the data are constants: one per distinct token, first occurrence first.
    seen = list(dict.fromkeys(int(t) for t in X[X != 3]))
    assert [p.name for p in pa.primitives if re.fullmatch(r"tok\d+", p.name)] == [f"tok{t}" for t in seen]


@settings(max_examples=12, deadline=None)
@given(data=relabelled(n_max=20), target=st.sampled_from(TARGETS))
def test_search_finds_the_same_program_up_to_renaming(data, target):
    X, perm, d_vocab = data
    dsl_a = parse_dsl("seq:d_vocab=4,pad=3")
    y = dsl_a.decode(dsl_a.parse(target).evaluate(dsl_a.env(X)))
    Xb = np.vectorize(perm.get)(X)

    def fit(spec, X):
        return EnumerativeSynthesizer(dsl=spec, max_bits=22, max_candidates=300_000, subset=None).fit(X, y)

    a, b = fit("seq:d_vocab=4,pad=3", X), fit(f"seq:d_vocab={d_vocab},pad={perm[3]}", Xb)
    assert a.found_ == b.found_
    assert a.bits_ == b.bits_
    assert rename(str(a.program_), perm) == str(b.program_)
    assert a.search_stats_["candidates"] == b.search_stats_["candidates"]
    assert a.search_stats_["kept"] == b.search_stats_["kept"]
    np.testing.assert_array_equal(a.predict(X), b.predict(Xb))


def test_dyck1_relabelled_finds_the_same_program():
    """The case of the issue: brackets as ids 7 and 3 (pad 8, d_vocab 9) give ids 0/1's program."""
    from tasks import parse_task

    task = parse_task("brackets:kind=dyck1,max_len=12,n_test=40")
    train = task.train_split(24, 0)
    perm = {0: 7, 1: 3, 2: 8}
    lut = np.array([7, 3, 8])
    a = EnumerativeSynthesizer(dsl="seq:d_vocab=3,pad=2", max_bits=40).fit(train.X, train.y)
    b = EnumerativeSynthesizer(dsl="seq:d_vocab=9,pad=8", max_bits=40).fit(lut[train.X], train.y)
    assert a.found_ and b.found_ and a.bits_ == b.bits_
    assert rename(str(a.program_), perm) == str(b.program_)
