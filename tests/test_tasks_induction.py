"""Induction: targets checked against a plain re-implementation of the rule, splits, OOD, specs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import UNSCORED, InductionTask, SpecError, parse_task


def plain_rule(row: list[int]) -> list[int]:
    """The token after the most recent earlier occurrence of the current token (-1 if none)."""
    out = []
    for i, token in enumerate(row):
        earlier = [j for j in range(i) if row[j] == token]
        out.append(row[earlier[-1] + 1] if earlier else -1)
    return out


@st.composite
def small_tasks(draw):
    min_seg = draw(st.integers(2, 5))
    max_seg = draw(st.integers(min_seg, 8))
    seq_len = draw(st.integers(2 * max_seg, 24))
    n_unseen = draw(st.integers(2, 6))
    d_vocab = draw(st.integers(max_seg + n_unseen + 1, 40))
    n_test = draw(st.integers(1, 60))
    return InductionTask(
        d_vocab=d_vocab, seq_len=seq_len, min_seg=min_seg, max_seg=max_seg, n_unseen=n_unseen, n_test=n_test
    )


def _rows(X: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in X}


def _check_targets(task: InductionTask, split, seg_lo: int, seg_hi: int) -> None:
    assert split.per_position and split.y.shape == split.X.shape == split.mask.shape
    assert split.X.dtype == np.int64 and split.y.dtype == np.int64 and split.mask.dtype == bool
    assert split.d_vocab == split.n_classes == task.d_vocab and split.pad_id is None
    assert ((split.X >= 0) & (split.X < task.d_vocab)).all()
    assert (split.y[~split.mask] == UNSCORED).all()
    reference = task.reference(split.X)
    for i, row in enumerate(split.X.tolist()):
        rule = plain_rule(row)
        assert reference[i].tolist() == rule
        scored = np.flatnonzero(split.mask[i])
        # One contiguous run of s - 1 scored positions: the second copy of a segment of s tokens.
        assert seg_lo - 1 <= len(scored) <= seg_hi - 1
        assert scored.tolist() == list(range(scored[0], scored[-1] + 1))
        for p in scored:
            assert split.y[i, p] == row[p + 1] == rule[p]
        b, s = int(scored[0]), len(scored) + 1
        a = row.index(row[b])
        assert a + s <= b and row[a : a + s] == row[b : b + s]
        assert len(set(row[b : b + s])) == s


@settings(max_examples=20)
@given(task=small_tasks(), seed=st.integers(0, 50), n=st.integers(0, 80))
def test_targets_follow_the_induction_rule(task, seed, n):
    seen = task.d_vocab - task.n_unseen
    for split in (task.test_split(), task.train_split(n, seed), task.ood_split("longer")):
        _check_targets(task, split, task.min_seg, task.max_seg)
        assert (split.X < seen).all()  # held-out ids never appear outside their split
    assert task.ood_split("longer").X.shape[1] == task.ood_len == 2 * task.seq_len

    unseen = task.ood_split("unseen_tokens")
    top = min(task.max_seg, task.n_unseen)
    _check_targets(task, unseen, min(task.min_seg, top), top)
    positions = unseen.mask.copy()
    positions[:, 1:] |= unseen.mask[:, :-1]  # the scored tokens and the ones they predict
    assert (unseen.X[positions] >= seen).all()
    assert (unseen.y[unseen.mask] >= seen).all()


def test_offsets_are_random_not_fixed():
    test = InductionTask().test_split()
    starts = test.mask.argmax(axis=1)
    lengths = test.mask.sum(axis=1) + 1
    assert len(set(starts.tolist())) > 10 and len(set(lengths.tolist())) == 12 - 4 + 1


@settings(max_examples=15)
@given(task=small_tasks(), seeds=st.tuples(st.integers(0, 9), st.integers(0, 9)), n=st.integers(0, 2500))
def test_splits_are_disjoint_nested_and_fixed(task, seeds, n):
    test = task.test_split()
    big = task.train_split(n, seeds[0])
    small = task.train_split(n // 3, seeds[0])
    for key in ("X", "y", "mask"):
        np.testing.assert_array_equal(getattr(small, key), getattr(big, key)[: n // 3])
    assert _rows(big.X).isdisjoint(_rows(test.X))
    task.train_split(n // 2, seeds[1])
    again = parse_task(task.spec)
    for name in ("test", "longer", "unseen_tokens"):
        a, b = again.split(name), task.split(name)
        for key in ("X", "y", "mask"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    np.testing.assert_array_equal(again.train_split(n, seeds[0]).X, big.X)


@settings(max_examples=30)
@given(task=small_tasks())
def test_spec_round_trips(task):
    again = parse_task(task.spec)
    assert again == task and again.spec == task.spec


def test_defaults():
    task = parse_task("induction")
    assert task.spec == (
        "induction:d_vocab=32,seq_len=32,min_seg=4,max_seg=12,n_unseen=8,ood_len=64,n_test=1000"
    )
    assert task.ood_names == ("longer", "unseen_tokens")
    assert not np.array_equal(task.train_split(20, 0).X, task.train_split(20, 1).X)


def test_bad_split_name():
    with pytest.raises(SpecError, match="accepted: train, test, longer, unseen_tokens"):
        InductionTask().split("shuffled")
