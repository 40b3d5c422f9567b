"""Example tests of the synthesizer as a learner on the arithmetic DSL."""

import numpy as np
import pytest
from sklearn.base import clone

import tasks
from synth import EnumerativeSynthesizer, parse_dsl
from synth.learner import weighted_vote
from tasks.base import SpecError


def _fit(op: str, n: int = 8, **params) -> tuple[EnumerativeSynthesizer, tasks.Split]:
    task = tasks.parse_task(f"modular:op={op},p=97")
    train = task.train_split(n, seed=0)
    return EnumerativeSynthesizer(dsl="arith:p=97", **params).fit(train.X, train.y), task.test_split()


@pytest.mark.parametrize(
    ("op", "nodes"),
    [("x+y", 3), ("x/y", 3), ("x^2+y", 4), ("x^3+xy", 6), ("x+y if x even else x*y", 9)],
)
def test_finds_the_op_from_eight_examples(op: str, nodes: int) -> None:
    model, test = _fit(op)
    assert model.found_ and model.search_stats_["stop_reason"] == "found"
    assert model.program_.size == nodes
    assert model.score(test.X, test.y) == 1.0
    assert model.bits_ == pytest.approx(model.prior_.program_bits(model.program_))
    assert model.search_stats_["candidates"] >= model.search_stats_["kept"] > 0


def test_program_does_not_depend_on_the_hash_seed() -> None:
    a, _ = _fit("x^2+y^2", random_state=0)
    b, _ = _fit("x^2+y^2", random_state=123)
    assert str(a.program_) == str(b.program_)


def test_sklearn_params_are_stored_unchanged_and_clone() -> None:
    model = EnumerativeSynthesizer(dsl="arith:p=5", weights={"add": 2.0}, max_bits=20, random_state=3)
    assert clone(model).get_params() == model.get_params()
    assert model.get_params()["weights"] == {"add": 2.0}


def test_budget_stop_returns_best_so_far_with_reason() -> None:
    model, _ = _fit("x^2+xy+y^2+x", max_candidates=500)
    assert not model.found_
    assert model.search_stats_["stop_reason"] == "max_candidates"
    assert model.search_stats_["candidates"] == 500
    assert model.program_ is not None and 0 < model.train_accuracy_ < 1
    model, _ = _fit("x^2+xy+y^2+x", max_bits=14)
    assert model.search_stats_["stop_reason"] == "max_bits" and not model.found_


def test_errors_name_the_bad_value() -> None:
    with pytest.raises(SpecError, match="p=91"):
        parse_dsl("arith:p=91")
    with pytest.raises(SpecError, match="unknown DSL"):
        parse_dsl("nope:p=3")
    with pytest.raises(SpecError, match="unknown parameter"):
        parse_dsl("arith:q=3")
    X = np.array([[1, 2], [3, 97]])
    with pytest.raises(ValueError, match="97 does not fit arith:p=97"):
        EnumerativeSynthesizer().fit(X, np.array([1, 2]))
    with pytest.raises(ValueError, match="impossible budget"):
        EnumerativeSynthesizer(max_bits=1).fit(X[:1], np.array([1]))
    with pytest.raises(ValueError, match=r"time_limit=0 is out of range; accepted: \(0, inf\)"):
        EnumerativeSynthesizer(time_limit=0).fit(X[:1], np.array([1]))
    with pytest.raises(ValueError, match="at least one training example"):
        EnumerativeSynthesizer().fit(X[:0], np.array([], np.int64))
    with pytest.raises(ValueError, match="unknown primitive"):
        EnumerativeSynthesizer(weights={"pow": 1}).fit(X[:1], np.array([1]))


def test_weights_change_the_map_program() -> None:
    X = np.array([[3, 4], [5, 1], [0, 7]])
    y = (2 * X[:, 0]) % 97
    default = EnumerativeSynthesizer().fit(X, y)
    assert default.found_ and default.predict(np.array([[10, 0]]))[0] == 20
    no_add = EnumerativeSynthesizer(weights={"add": 0}).fit(X, y)
    assert "add" not in str(no_add.program_)
    assert no_add.bits_ > default.bits_ or str(no_add.program_) != str(default.program_)


def test_posterior_votes_with_class_masses() -> None:
    X = np.array([[2, 2]])
    y = np.array([4])  # x+y, x*y, 2x, x^2, ... all agree here
    model = EnumerativeSynthesizer(posterior=True, posterior_bits=8, random_state=0).fit(X, y)
    programs = model.posterior_
    assert len(programs) > 3
    bits = [b for _, b, _ in programs]
    assert bits == sorted(bits) and str(programs[0][0]) == str(model.program_)
    weights = np.array([w for _, _, w in programs])
    assert weights.sum() == pytest.approx(1.0)
    # Each class votes with the mass of all its programs: at least its cheapest one's, often more.
    masses = np.array(model.search_masses_)
    assert weights == pytest.approx(masses / masses.sum())
    cheapest = 2.0 ** -np.array(bits)
    assert (masses >= cheapest * (1 - 1e-12)).all() and (masses > 1.5 * cheapest).any()
    assert model.search_stats_["class_mass"] == "every program"
    # every kept program is consistent with the training example, and they differ elsewhere
    X_new = np.array([[3, 5], [10, 1], [0, 0]])
    preds = np.stack([p.evaluate(model.dsl_.env(X_new)) for p, _, _ in programs]).astype(np.int64)
    assert all(int(p.evaluate(model.dsl_.env(X))[0]) == 4 for p, _, _ in programs)
    assert len({tuple(row) for row in preds}) > 1
    assert (model.predict(X_new) == weighted_vote(preds, weights)).all()


def test_weighted_vote_picks_heaviest_label_per_entry() -> None:
    preds = np.array([[1, 2, 3], [4, 2, 5], [4, 6, 5]])
    assert weighted_vote(preds, np.array([0.4, 0.35, 0.25])).tolist() == [4, 2, 5]
    assert weighted_vote(preds, np.array([0.6, 0.3, 0.1])).tolist() == [1, 2, 3]
