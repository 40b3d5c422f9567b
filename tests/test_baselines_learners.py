"""The classic baselines, and method specs (parsing, defaults, canonical specs)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baselines import fit_many
from baselines.classic import GBTLearner, KNNLearner, LogisticLearner, LookupTableLearner
from compare.methods import canonical_spec, make_learner, method_names, parse_method
from compare.settings.defaults import SHAPE_DEFAULTS
from tasks import SpecError, Split


def modular_split(n: int = 40, p: int = 7) -> Split:
    rng = np.random.default_rng(0)
    X = rng.integers(0, p, size=(n, 2))
    return Split(X=X, y=(X[:, 0] + X[:, 1]) % p, d_vocab=p, n_classes=p, columns=("x", "y"))


def per_position_split(n: int = 30) -> Split:
    rng = np.random.default_rng(1)
    X = rng.integers(0, 6, size=(n, 6))
    y = np.full(X.shape, -1)
    y[:, 2:5] = X[:, 3:6]  # a later token: only a causal learner must not see it
    y[:, 1] = X[:, 0]
    return Split(X=X, y=y, d_vocab=6, n_classes=6, columns=tuple("abcdef"), mask=y >= 0)


@settings(max_examples=20)
@given(n=st.integers(1, 40), seed=st.integers(0, 1000))
def test_lookup_table_memorizes_and_falls_back_to_the_most_common_label(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3, size=(n, 3))
    y = rng.integers(0, 4, size=n)
    table = LookupTableLearner().fit(X, y)
    pred = table.predict(X)
    for i in range(n):  # the majority (smallest on ties) label among exact duplicates
        labels = y[(X == X[i]).all(axis=1)]
        counts = np.bincount(labels, minlength=4)
        assert pred[i] == np.argmax(counts)
    unseen = np.full((2, 3), 9)
    assert (table.predict(unseen) == np.argmax(np.bincount(y))).all()


def test_one_nearest_neighbour_memorizes_distinct_rows():
    split = modular_split()
    X, index = np.unique(split.X, axis=0, return_index=True)
    knn = KNNLearner().fit(X, split.y[index])
    assert knn.score(X, split.y[index]) == 1.0


@pytest.mark.parametrize("cls", [LookupTableLearner, KNNLearner, LogisticLearner, GBTLearner])
def test_classic_per_position_targets_see_only_the_prefix(cls):
    """Targets at positions 2..4 are the next token: a learner that saw later tokens would copy
    them; one that sees the prefix only must stay near chance on fresh rows."""
    split = per_position_split(60)
    kwargs = {"max_iter": 5} if cls is GBTLearner else {}
    learner = cls(**kwargs).fit(split.X, split.y)
    pred = learner.predict(split.X)
    assert pred.shape == split.y.shape
    fresh = per_position_split(200)
    fresh_y = fresh.y.copy()
    fresh_y[:, 1] = -1  # position 1 (copy of token 0) is learnable from the prefix; leave it out
    assert learner.score(fresh.X, fresh_y) < 0.5


def test_lookup_table_keys_each_position_by_its_prefix():
    split = per_position_split()
    table = LookupTableLearner().fit(split.X, split.y)
    row = split.X[:1].copy()
    row[0, 3:] = (row[0, 3:] + 1) % 6  # same first three tokens, different later ones
    assert table.predict(row)[0, 1:3].tolist() == split.y[0, 1:3].tolist()


def test_classic_learners_handle_one_class_and_width_mismatch():
    X = np.array([[0, 1], [1, 0], [1, 1]])
    y = np.array([2, 2, 2])
    for cls in (KNNLearner, LogisticLearner, GBTLearner):
        learner = cls(pad_id=0).fit(X, y)
        assert (learner.predict(X) == 2).all()
        assert learner.predict(X[:, :1]).shape == (3,)  # narrower rows are padded
        with pytest.raises(ValueError, match="fitted on 2 tokens"):
            learner.predict(np.zeros((1, 3), dtype=int))
    assert LookupTableLearner().fit(X, y).predict(np.zeros((1, 5), dtype=int)).tolist() == [2]


def test_fit_many_fits_classic_learners_one_by_one():
    split = modular_split()
    fitted = fit_many(KNNLearner(), [(split.X[:10], split.y[:10]), split], seeds=[1, 2])
    assert [f.random_state for f in fitted] == [1, 2]
    assert fitted[1].score(split.X, split.y) > fitted[0].score(split.X, split.y)


# --- method specs -------------------------------------------------------------------------


def test_parse_method_coerces_types_none_and_tuples():
    spec = "transformer:n_layers=2,attn_only=true,batch_size=none,checkpoint_steps=(0,10)"
    name, params = parse_method(spec)
    assert name == "transformer"
    assert params == {"n_layers": 2, "attn_only": True, "batch_size": None, "checkpoint_steps": (0, 10)}
    assert parse_method("knn")[1] == {}
    assert parse_method("synth:weights=(add=2,mul=0.5)")[1] == {"weights": {"add": 2.0, "mul": 0.5}}


@pytest.mark.parametrize(
    "spec, message",
    [
        ("perceptron", "unknown method 'perceptron'; accepted: gbt, knn, logistic, lookup, lstm, mlp, synth"),
        ("transformer:n_layer=2", "unknown parameter 'n_layer'; accepted: .*n_layers"),
        ("mlp:d_mlp=wide", "d_mlp='wide' is not a valid int"),
        ("lstm:steps", "expected key=value"),
        ("transformer:checkpoint_steps=0/10", r"tuples are written in parentheses now: .*=\(0,10\)"),
        ("synth:dsl=arith:p=97/max_const=3", r"synth:dsl=\(arith:p=97,max_const=3\)"),
        ("knn:random_state=3", "random_state comes from the seed"),
    ],
)
def test_bad_method_specs_name_what_is_accepted(spec, message):
    with pytest.raises(SpecError, match=message):
        make_learner(spec)


def test_defaults_come_from_the_data_shape_then_the_spec_then_overrides():
    split = modular_split()
    learner = make_learner("transformer:d_model=32", split, steps=9)
    assert (learner.d_vocab, learner.n_classes, learner.pad_id) == (7, 7, None)
    assert learner.d_mlp == SHAPE_DEFAULTS["fixed"]["transformer"]["d_mlp"]
    assert learner.d_model == 32 and learner.steps == 9
    induction = make_learner("transformer", per_position_split())  # defaults follow the data's shape
    assert induction.attn_only and induction.n_layers == 2
    with pytest.raises(SpecError, match="unknown parameter 'steps'"):
        make_learner("knn", split, steps=3)


@pytest.mark.parametrize("name", method_names())
def test_canonical_spec_round_trips(name):
    split = modular_split()
    spec = canonical_spec(name, split)
    assert canonical_spec(spec, split) == spec
    assert make_learner(spec, split).get_params() == make_learner(name, split).get_params()
