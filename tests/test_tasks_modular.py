"""Modular arithmetic: labels, splits and specs, checked against plain-Python arithmetic."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import ModularTask, SpecError, parse_task
from tasks.modular import OPS


def _inv(y: int, p: int) -> int:
    return pow(y, -1, p)  # Python's own modular inverse, not the task's Fermat formula


# Written out independently of tasks.modular, from the operations of Power et al. 2022, "Grokking"
# (openai/grok, grok/data.py).
PLAIN = {
    "x+y": lambda x, y, p: (x + y) % p,
    "x-y": lambda x, y, p: (x - y) % p,
    "x*y": lambda x, y, p: (x * y) % p,
    "x/y": lambda x, y, p: (x * _inv(y, p)) % p,
    "x^2+y": lambda x, y, p: (x**2 + y) % p,
    "x^3+y": lambda x, y, p: (x**3 + y) % p,
    "x^2+y^2": lambda x, y, p: (x**2 + y**2) % p,
    "x^2+xy+y^2": lambda x, y, p: (x**2 + x * y + y**2) % p,
    "x^2+xy+y^2+x": lambda x, y, p: (x**2 + x * y + y**2 + x) % p,
    "x^3+xy": lambda x, y, p: (x**3 + x * y) % p,
    "x^3+xy^2+y": lambda x, y, p: (x**3 + x * y**2 + y) % p,
    "x/y if y odd else x-y": lambda x, y, p: (x * _inv(y, p)) % p if y % 2 else (x - y) % p,
    "x+y if x even else x*y": lambda x, y, p: (x + y) % p if x % 2 == 0 else (x * y) % p,
}

PRIMES = [3, 5, 7, 11, 13, 31, 97, 113]
ops = st.sampled_from(sorted(PLAIN))
primes = st.sampled_from(PRIMES)
fractions = st.sampled_from([0.1, 0.3, 0.5, 0.8])


def _rows(X: np.ndarray) -> set[tuple[int, ...]]:
    return set(map(tuple, X.tolist()))


def test_all_thirteen_ops_are_offered():
    assert list(OPS) == list(PLAIN)


@settings(max_examples=40)
@given(op=ops, p=primes, n=st.integers(0, 50), seed=st.integers(0, 3))
def test_labels_equal_plain_arithmetic(op, p, n, seed):
    task = ModularTask(op=op, p=p)
    for split in (task.test_split(), task.train_split(min(n, task.max_train), seed)):
        expected = [PLAIN[op](x, y, p) for x, y in split.X.tolist()]
        assert split.y.tolist() == expected
        assert split.X.dtype == np.int64 and split.y.dtype == np.int64
        assert split.columns == ("x", "y") and split.d_vocab == p and split.n_classes == p
        assert ((split.X >= 0) & (split.X < p)).all()
        np.testing.assert_array_equal(task.reference(split.X), split.y)


@settings(max_examples=30)
@given(op=ops, p=primes, fraction=fractions)
def test_test_and_training_pool_partition_the_valid_pairs(op, p, fraction):
    task = ModularTask(op=op, p=p, test_fraction=fraction)
    test = _rows(task.test_split().X)
    pool = _rows(task.train_split(task.max_train, seed=1).X)
    valid = {(x, y) for x in range(p) for y in range(p) if not (op == "x/y" and y == 0)}
    assert test.isdisjoint(pool)
    assert test | pool == valid
    assert len(test) == round(fraction * len(valid)) == len(task.test_split())
    assert task.max_train == len(valid) - len(test)


@settings(max_examples=25)
@given(op=ops, p=primes, seeds=st.tuples(st.integers(0, 100), st.integers(0, 100)), n=st.integers(0, 40))
def test_test_split_ignores_seed_and_n(op, p, seeds, n):
    task = ModularTask(op=op, p=p)
    before = task.test_split()
    task.train_split(min(n, task.max_train), seeds[0])
    again = ModularTask(op=op, p=p).test_split()
    np.testing.assert_array_equal(before.X, again.X)
    np.testing.assert_array_equal(before.y, again.y)


@settings(max_examples=25)
@given(op=ops, p=primes, seed=st.integers(0, 1000), sizes=st.tuples(st.integers(0, 60), st.integers(0, 60)))
def test_training_sets_are_nested_and_seeded(op, p, seed, sizes):
    task = ModularTask(op=op, p=p)
    small, large = sorted(min(s, task.max_train) for s in sizes)
    a, b = task.train_split(small, seed), task.train_split(large, seed)
    np.testing.assert_array_equal(a.X, b.X[:small])
    np.testing.assert_array_equal(a.y, b.y[:small])
    again = ModularTask(op=op, p=p).train_split(large, seed)
    np.testing.assert_array_equal(again.X, b.X)
    assert len(_rows(b.X)) == large  # drawn without replacement


def test_different_seeds_give_different_training_orders():
    task = ModularTask(p=97)
    assert not np.array_equal(task.train_split(50, 0).X, task.train_split(50, 1).X)


@settings(max_examples=30)
@given(op=ops, p=primes, fraction=fractions)
def test_spec_round_trips(op, p, fraction):
    task = ModularTask(op=op, p=p, test_fraction=fraction)
    again = parse_task(task.spec)
    assert again == task and again.spec == task.spec


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("x/y_if_y_odd_else_x-y", "x/y if y odd else x-y"), ("x**2+y**2", "x^2+y^2"), ("X*Y", "x*y")],
)
def test_aliases_print_the_canonical_op(alias, canonical):
    task = parse_task(f"modular:op={alias},p=7")
    assert task.op == canonical and f"op={canonical}," in task.spec


def test_division_excludes_zero_divisor_and_nanda_setting_works():
    task = ModularTask(op="x/y", p=113)
    assert task.max_train + len(task.test_split()) == 113 * 112
    assert (task.test_split().X[:, 1] != 0).all()
    nanda = ModularTask(op="x+y", p=113, test_fraction=0.7)
    assert len(nanda.train_split(nanda.max_train).X) == round(0.3 * 113 * 113)


def test_too_many_training_examples_is_a_clear_error():
    task = ModularTask(p=7)
    with pytest.raises(SpecError, match=f"{task.max_train} training examples"):
        task.train_split(task.max_train + 1)
    with pytest.raises(SpecError, match="no out-of-distribution"):
        task.ood_split("longer")
    with pytest.raises(SpecError, match="accepted: train, test"):
        task.split("longer")
