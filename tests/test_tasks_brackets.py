"""Bracket matching: labels checked by an independent stack machine, hard negatives, splits, specs."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import BracketsTask, SpecError, parse_task
from tasks.brackets import count_balanced

PAIRS = {")": "(", "]": "["}


def word(split, i) -> str:
    return "".join("()[]"[t] for t in split.X[i] if t != split.pad_id)


def stack_check(text: str) -> tuple[bool, bool]:
    """(balanced, valid prefix): a plain stack machine, written apart from the task's code."""
    stack = []
    for ch in text:
        if ch in "([":
            stack.append(ch)
        elif not stack or stack.pop() != PAIRS[ch]:
            return False, False
    return not stack, True


# Small tasks keep hypothesis fast; n_test is bounded by the number of balanced words.
@st.composite
def small_tasks(draw):
    kind = draw(st.sampled_from(["dyck1", "dyck2"]))
    max_len = draw(st.integers(8 if kind == "dyck2" else 12, 20))
    min_len = draw(st.integers(2, 6))
    fraction = draw(st.sampled_from([0.3, 0.5, 0.7]))
    room = int(count_balanced(min_len, max_len, 2 if kind == "dyck2" else 1) * fraction)
    n_test = draw(st.integers(2, min(room, 300)))
    return BracketsTask(kind=kind, max_len=max_len, min_len=min_len, n_test=n_test, test_fraction=fraction)


def _rows(X: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in X}


def _check_labels(task: BracketsTask, split, lo: int, hi: int) -> None:
    assert split.X.dtype == np.int64 and split.y.dtype == np.int64
    assert split.d_vocab == task.pad_id + 1 and split.n_classes == 2 and split.pad_id == task.pad_id
    assert ((split.X >= 0) & (split.X < split.d_vocab)).all()
    np.testing.assert_array_equal(task.reference(split.X), split.y)
    for i in range(len(split)):
        text = word(split, i)
        row = split.X[i]
        assert (row[len(text):] == task.pad_id).all()  # padding only on the right
        assert lo <= len(text) <= hi
        assert set(text) <= set("()" if task.kind == "dyck1" else "()[]")
        assert stack_check(text)[0] == bool(split.y[i])


@settings(max_examples=20)
@given(task=small_tasks(), seed=st.integers(0, 50), n=st.integers(0, 1500))
def test_labels_match_an_independent_stack_checker(task, seed, n):
    _check_labels(task, task.test_split(), task.min_len, task.max_len)
    _check_labels(task, task.train_split(n, seed), task.min_len, task.max_len)
    longer = task.ood_split("longer")
    _check_labels(task, longer, task.max_len + 1, task.ood_len)
    assert longer.X.shape[1] == task.ood_len == 2 * task.max_len


@settings(max_examples=20)
@given(task=small_tasks(), seed=st.integers(0, 50))
def test_test_split_is_half_balanced_distinct_and_disjoint_from_training(task, seed):
    test = task.test_split()
    assert len(test) == task.n_test and test.y.sum() == task.n_test // 2
    assert len(_rows(test.X)) == len(test)
    train = task.train_split(2000, seed)
    assert _rows(train.X).isdisjoint(_rows(test.X))
    assert 0.45 <= train.y.mean() <= 0.55


@settings(max_examples=15)
@given(kind=st.sampled_from(["dyck1", "dyck2"]), seed=st.integers(0, 100))
def test_negatives_are_hard(kind, seed):
    task = BracketsTask(kind=kind, max_len=16, n_test=400)
    split = task.train_split(1000, seed)
    kinds = Counter()
    for i in np.flatnonzero(split.y == 0):
        text = word(split, i)
        counts = Counter(text)
        if counts["("] == counts[")"] and counts["["] == counts["]"]:
            # Right counts: either the order is wrong or (Dyck-2) the types cross.
            shape = text.replace("[", "(").replace("]", ")")
            kinds["crossed" if stack_check(shape)[0] else "order"] += 1
        else:
            balanced, prefix = stack_check(text)
            assert prefix and not balanced, text  # a valid prefix that does not close
            kinds["prefix"] += 1
    negatives = sum(kinds.values())
    assert 0.4 <= (kinds["order"] + kinds["crossed"]) / negatives <= 0.6
    if kind == "dyck2":
        assert kinds["crossed"] >= 0.15 * negatives and kinds["order"] >= 0.15 * negatives
    else:
        assert kinds["crossed"] == 0
    # Both parities of length occur in training.
    assert {0, 1} <= set((split.lengths % 2).tolist())


@settings(max_examples=15)
@given(task=small_tasks(), seeds=st.tuples(st.integers(0, 9), st.integers(0, 9)), n=st.integers(0, 3000))
def test_test_split_ignores_seed_and_n_and_training_sets_nest(task, seeds, n):
    test = task.test_split()
    small, large = sorted((n, n // 3))[0], n
    a = task.train_split(small, seeds[0])
    b = task.train_split(large, seeds[0])
    np.testing.assert_array_equal(a.X, b.X[:small])
    np.testing.assert_array_equal(a.y, b.y[:small])
    task.train_split(large // 2, seeds[1])
    again = parse_task(task.spec)
    np.testing.assert_array_equal(again.test_split().X, test.X)
    np.testing.assert_array_equal(again.test_split().y, test.y)
    np.testing.assert_array_equal(again.train_split(large, seeds[0]).X, b.X)
    np.testing.assert_array_equal(again.ood_split("longer").X, task.ood_split("longer").X)


def test_different_seeds_differ():
    task = BracketsTask()
    assert not np.array_equal(task.train_split(100, 0).X, task.train_split(100, 1).X)


@settings(max_examples=30)
@given(task=small_tasks())
def test_spec_round_trips(task):
    again = parse_task(task.spec)
    assert again == task and again.spec == task.spec
    assert "ood_len=" + str(2 * task.max_len) in task.spec


def test_defaults_and_vocabulary():
    task = parse_task("brackets")
    assert task.spec == (
        "brackets:kind=dyck1,max_len=16,min_len=2,ood_len=32,n_test=1000,test_fraction=0.5,negatives=hard"
    )
    assert task.pad_id == 2 and parse_task("brackets:kind=dyck2").pad_id == 4
    assert task.ood_names == ("longer", "uniform")
    np.testing.assert_array_equal(
        task.reference(np.array([[0, 1, 2, 2], [1, 0, 2, 2], [0, 0, 1, 2]])), [1, 0, 0]
    )
    dyck2 = parse_task("brackets:kind=dyck2")
    np.testing.assert_array_equal(
        dyck2.reference(np.array([[0, 2, 3, 1], [0, 2, 1, 3], [2, 3, 0, 1], [0, 3, 2, 1]])), [1, 0, 1, 0]
    )


def test_bad_split_names_are_clear_errors():
    task = BracketsTask()
    with pytest.raises(SpecError, match="accepted: train, test, longer, uniform"):
        task.split("shorter")
    with pytest.raises(SpecError, match="training examples in its pool"):
        task.train_split(task.max_train + 1)


@pytest.mark.parametrize(("kind", "digest"), [("dyck1", "51373e378108736a"), ("dyck2", "e86686df3383c449")])
def test_default_negatives_draw_what_the_spec_drew_before_the_parameter(kind, digest):
    """Digests of train (64, seed 0), test and longer taken from the generator before ``negatives``
    existed: a spec with the default draws the same examples (its seeds skip the new parameter)."""
    import hashlib

    task = parse_task(f"brackets:kind={kind}")
    assert task == parse_task(f"brackets:kind={kind},negatives=hard") and "negatives" not in task.seed_spec
    h = hashlib.sha256()
    for split in (task.train_split(64, 0), task.test_split(), task.ood_split("longer")):
        h.update(split.X.tobytes())
        h.update(split.y.tobytes())
    assert h.hexdigest()[:16] == digest


@settings(max_examples=10, deadline=None)
@given(task=small_tasks(), negatives=st.sampled_from(["hard", "easy", "mixed"]))
def test_uniform_split_is_random_words_of_the_training_lengths(task, negatives):
    from dataclasses import replace

    task = replace(task, negatives=negatives)
    uniform = task.ood_split("uniform")
    _check_labels(task, uniform, task.min_len, task.max_len)
    assert len(uniform) == task.n_test and uniform.y.sum() == task.n_test // 2
    assert uniform.X.shape[1] == task.max_len
    # Drawn from the test share (never a training word), the same words whatever the negatives.
    assert _rows(uniform.X).isdisjoint(_rows(task.train_split(500, 0).X))
    np.testing.assert_array_equal(replace(task, negatives="hard").ood_split("uniform").X, uniform.X)
    np.testing.assert_array_equal(parse_task(task.spec).ood_split("uniform").X, uniform.X)


@pytest.mark.parametrize(("n_types", "length", "words"), [(1, 6, 5), (1, 8, 14), (2, 6, 40)])
def test_uniform_balanced_words_are_uniform(n_types, length, words):
    """The cycle-lemma sampler: every balanced word of the length occurs, each about equally often
    (all counts within 5 standard deviations of n / words)."""
    from tasks.brackets import _uniform_balanced

    n = 400 * words
    X = _uniform_balanced(np.random.default_rng(0), np.full(n, length), length, n_types)
    assert balanced_all(X, n_types)
    counts = Counter(row.tobytes() for row in X)
    assert len(counts) == words
    mean = n / words
    assert all(abs(c - mean) <= 5 * np.sqrt(mean) for c in counts.values())


def balanced_all(X, n_types) -> bool:
    symbols = "()[]"
    return all(stack_check("".join(symbols[t] for t in row if t < 2 * n_types))[0] for row in X)


@settings(max_examples=10, deadline=None)
@given(kind=st.sampled_from(["dyck1", "dyck2"]), seed=st.integers(0, 100))
def test_easy_and_mixed_negatives(kind, seed):
    """Easy negatives are random unbalanced words: most are neither valid prefixes nor of right
    counts (hard negatives are always one of the two); mixed has about half of each kind."""
    def hard_share(split) -> float:
        hard = 0
        negatives = np.flatnonzero(split.y == 0)
        for i in negatives:
            text = word(split, i)
            counts = Counter(text)
            right_counts = counts["("] == counts[")"] and counts["["] == counts["]"]
            assert not stack_check(text)[0]
            hard += right_counts or stack_check(text)[1]
        return hard / len(negatives)

    splits = {neg: BracketsTask(kind=kind, negatives=neg, n_test=200).train_split(600, seed)
              for neg in ("hard", "easy", "mixed")}
    for split in splits.values():
        assert 0.45 <= split.y.mean() <= 0.55
    shares = {neg: hard_share(split) for neg, split in splits.items()}
    assert shares["hard"] == 1.0 and shares["easy"] < 0.6
    assert abs(shares["mixed"] - (1 + shares["easy"]) / 2) < 0.15


def test_unknown_negatives_is_a_clear_error():
    with pytest.raises(SpecError, match="negatives='medium'; accepted: hard, easy, mixed"):
        parse_task("brackets:negatives=medium")
