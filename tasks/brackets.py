"""Bracket matching: is a Dyck-1 or Dyck-2 word balanced?

Tokens: ``0 "("``, ``1 ")"`` and, for Dyck-2, ``2 "["``, ``3 "]"``; the pad id follows them. Rows are
right-padded to the longest length of their split. Labels: 1 balanced, 0 not.

Negatives are hard (Friedman et al. 2023 style): half of them have the right count of every bracket
but close too early (or, for Dyck-2, half of those pair the wrong types: ``([)]``); the other half are
valid prefixes that never close. Positives and prefixes are random walks folded at zero (``|S|``),
so depths look alike in both classes. ``negatives=easy`` draws uniformly random unbalanced words
instead, and ``negatives=mixed`` half of each; a spec with the default ``hard`` draws exactly what it
drew before the parameter existed (its seeds come from the spec without it).

OOD splits: ``longer`` (lengths above max_len, hard negatives) and ``uniform``: random words of the
training lengths over the bracket alphabet, drawn from the test share and labelled by the checker,
half of them conditioned on being balanced (each length equally likely, then a uniformly random
word of that length, accepted or rejected). A program right only on hard negatives shows there.

A ``test_fraction`` of all sequences, chosen by a hash of the sequence and the spec, is reserved for
the test split; training examples are i.i.d. draws from the rest (they may repeat), so train and test
never overlap and the test split depends on the parameters alone. Training sets are nested: blocks of
a stream drawn from the seed, of which the first ``n`` rows are taken.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import comb

import numpy as np

from tasks.base import SpecError, Split, Task, drawn_once, stable_seed
from tasks.registry import register

KINDS = {"dyck1": 1, "dyck2": 2}
SYMBOLS = "()[]"
#: Training examples are fresh draws; this caps a single training set (memory), not a finite pool.
MAX_TRAIN = 2**20
MAX_LEN = 1024
_BLOCK = 1024
_MAX_ROUNDS = 200
NEGATIVES = ("hard", "easy", "mixed")


def matching_open(steps: np.ndarray) -> np.ndarray:
    """For each closing step (-1), the index of the opening step it closes; -1 where none does
    (also at non-closing positions). ``steps`` is +1 open, -1 close, 0 skip (pad), shape (n, L).

    Vectorized over rows, one pass per depth: a close that brings the depth from d to d-1 closes the
    latest open before it that raised the depth from d-1 to d.
    """
    after = np.cumsum(steps, axis=1)
    before = after - steps
    match = np.full(steps.shape, -1, dtype=np.int64)
    index = np.arange(steps.shape[1])
    for depth in range(1, int(after.max(initial=0)) + 1):
        opens = np.where((steps > 0) & (after == depth), index, -1)
        latest = np.maximum.accumulate(opens, axis=1)
        closes = (steps < 0) & (before == depth)
        match[closes] = latest[closes]
    return match


def token_steps(X: np.ndarray, n_types: int) -> np.ndarray:
    """+1 for openers (even ids), -1 for closers (odd ids), 0 for the pad and anything above it."""
    tokens = X < 2 * n_types
    return np.where(tokens, np.where(X % 2 == 0, 1, -1), 0)


def balanced(X: np.ndarray, n_types: int) -> np.ndarray:
    """Dyck-``n_types`` membership of each row of token ids (pads skipped): never closes below
    depth zero, ends at depth zero and, with two types, every closer matches its opener's type."""
    steps = token_steps(X, n_types)
    depth = np.cumsum(steps, axis=1)
    ok = (depth.min(axis=1, initial=0) >= 0) & (depth[:, -1] == 0 if depth.shape[1] else True)
    if n_types > 1:
        match = matching_open(steps)
        opener = np.take_along_axis(X, np.maximum(match, 0), axis=1)
        ok &= ~((steps < 0) & (opener // 2 != X // 2)).any(axis=1)
    return ok


def count_balanced(lo: int, hi: int, n_types: int) -> int:
    """How many balanced words have a length in [lo, hi] (Catalan numbers times type choices)."""
    return sum(comb(2 * m, m) // (m + 1) * n_types**m for m in range((lo + 1) // 2, hi // 2 + 1))


# --- generation ------------------------------------------------------------------------------------


def _live(lengths: np.ndarray, width: int) -> np.ndarray:
    return np.arange(width) < lengths[:, None]


def _ranks(rng: np.random.Generator, eligible: np.ndarray) -> np.ndarray:
    """A random order (0, 1, ...) among the eligible positions of each row; ineligible rank last."""
    keys = np.where(eligible, rng.random(eligible.shape), 2.0)
    return np.argsort(np.argsort(keys, axis=1), axis=1)


def _even_lengths(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    return 2 * rng.integers((lo + 1) // 2, hi // 2 + 1, size=n)


def _balanced_count_walk(rng: np.random.Generator, lengths: np.ndarray, width: int) -> np.ndarray:
    """Steps with exactly length/2 opens and length/2 closes in random order (0 beyond the length)."""
    live = _live(lengths, width)
    opens = _ranks(rng, live) < (lengths // 2)[:, None]
    return np.where(live, np.where(opens, 1, -1), 0)


def _fold(steps: np.ndarray) -> np.ndarray:
    """The walk reflected at zero, |S|: a valid prefix, and a balanced word when S ends at zero."""
    folded = np.abs(np.cumsum(steps, axis=1))
    return np.diff(folded, axis=1, prepend=0)


def _pair_types(rng: np.random.Generator, steps: np.ndarray, n_types: int) -> np.ndarray:
    """Random opener types; every closer takes the type of the opener it closes."""
    types = rng.integers(0, n_types, size=steps.shape)
    if n_types > 1:
        match = matching_open(steps)
        types = np.where(match >= 0, np.take_along_axis(types, np.maximum(match, 0), axis=1), types)
    return types


def _tokens(steps: np.ndarray, types: np.ndarray, n_types: int) -> np.ndarray:
    return np.where(steps == 0, 2 * n_types, 2 * types + (steps < 0)).astype(np.int64)


def _positives(rng, n, lo, hi, width, n_types):
    steps = _fold(_balanced_count_walk(rng, _even_lengths(rng, n, lo, hi), width))
    return _tokens(steps, _pair_types(rng, steps, n_types), n_types)


def _prefixes(rng, n, lo, hi, width, n_types):
    """Valid prefixes that never close: a folded random walk that does not end at depth zero."""
    lengths = rng.integers(lo, hi + 1, size=n)
    live = _live(lengths, width)
    steps = np.where(live, rng.choice(np.array([-1, 1]), size=(n, width)), 0)
    # A walk back at zero (even lengths only) gets its last step flipped, so it ends at depth 2.
    last = np.arange(width) == (lengths - 1)[:, None]
    steps = np.where(last & (steps.sum(axis=1) == 0)[:, None], -steps, steps)
    steps = _fold(steps)
    return _tokens(steps, _pair_types(rng, steps, n_types), n_types)


def _wrong_order(rng, lengths, width, n_types):
    """Right counts of each bracket, wrong order: the walk dips below zero somewhere."""
    steps = _balanced_count_walk(rng, lengths, width)
    # A walk that happens to stay balanced is mirrored: it then starts with a closer.
    never_below = np.cumsum(steps, axis=1).min(axis=1) >= 0
    steps = np.where(never_below[:, None], -steps, steps)
    pairs = (lengths // 2)[:, None]
    squares = rng.integers(0, pairs[:, 0] + 1)[:, None] if n_types > 1 else np.zeros_like(pairs)
    # The same number of openers and closers become square, so every bracket's count stays right.
    types = np.where(steps > 0, _ranks(rng, steps > 0) < squares, _ranks(rng, steps < 0) < squares)
    return _tokens(steps, types.astype(np.int64), n_types)


def _crossed_types(rng, lengths, width):
    """Dyck-2, right shape and counts but crossed types: two pairs get types ( ) and [ ], then the
    two closers swap types, so each closes an opener of the other type. Needs length >= 4."""
    steps = _fold(_balanced_count_walk(rng, lengths, width))
    types = _pair_types(rng, steps, 2)
    match = matching_open(steps)
    order = _ranks(rng, steps < 0)
    rows = np.arange(len(lengths))
    first, second = np.argmax(order == 0, axis=1), np.argmax(order == 1, axis=1)
    types[rows, match[rows, first]], types[rows, first] = 0, 1
    types[rows, match[rows, second]], types[rows, second] = 1, 0
    return _tokens(steps, types, 2)


def _negatives(rng, n, lo, hi, width, n_types):
    """Half with right counts (wrong order, or for Dyck-2 half crossed types), half open prefixes."""
    n_counts = n // 2
    lengths = _even_lengths(rng, n_counts, lo, hi)
    crossed = (rng.random(n_counts) < 0.5) & (lengths >= 4) if n_types > 1 else np.zeros(n_counts, bool)
    X = np.empty((n, width), dtype=np.int64)
    X[:n_counts][~crossed] = _wrong_order(rng, lengths[~crossed], width, n_types)
    if crossed.any():
        X[:n_counts][crossed] = _crossed_types(rng, lengths[crossed], width)
    X[n_counts:] = _prefixes(rng, n - n_counts, lo, hi, width, n_types)
    return X


def _uniform_balanced(rng: np.random.Generator, lengths: np.ndarray, width: int, n_types: int) -> np.ndarray:
    """Uniformly random balanced words of the given even lengths: by the cycle lemma, exactly one
    rotation of a random arrangement of m+1 openers and m closers keeps every prefix sum positive;
    without its first step it is a uniformly random Dyck path. Pair types are then uniform."""
    n = len(lengths)
    steps = np.zeros((n, width), np.int64)
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        m = int(length) // 2
        seq = np.where(_ranks(rng, np.ones((len(rows), 2 * m + 1), bool)) <= m, 1, -1)
        prefix = np.concatenate([np.zeros((len(rows), 1), np.int64), np.cumsum(seq, axis=1)[:, :-1]], axis=1)
        # The last index of the minimum prefix sum among S_0..S_{2m}: the rotation starts after it.
        start = 2 * m - np.argmin(prefix[:, ::-1], axis=1)
        order = (start[:, None] + np.arange(2 * m + 1)) % (2 * m + 1)
        steps[rows, :length] = np.take_along_axis(seq, order, axis=1)[:, 1:]
    return _tokens(steps, _pair_types(rng, steps, n_types), n_types)


def _uniform_words(rng: np.random.Generator, lengths: np.ndarray, width: int, n_types: int) -> np.ndarray:
    """Uniformly random words (any bracket at any position) of the given lengths, padded."""
    X = rng.integers(0, 2 * n_types, size=(len(lengths), width))
    return np.where(_live(lengths, width), X, 2 * n_types).astype(np.int64)


def _easy_negatives(rng, n, lo, hi, width, n_types):
    """Uniformly random unbalanced words, each length in [lo, hi] equally likely (by rejection)."""
    rows, have = [], 0
    while have < n:
        X = _uniform_words(rng, rng.integers(lo, hi + 1, size=2 * (n - have) + 16), width, n_types)
        X = X[~balanced(X, n_types)][: n - have]
        rows.append(X)
        have += len(X)
    return np.concatenate(rows) if rows else np.empty((0, width), np.int64)


def _mixed_negatives(rng, n, lo, hi, width, n_types):
    """Half hard negatives, half easy ones."""
    X = np.concatenate([_negatives(rng, n // 2, lo, hi, width, n_types),
                        _easy_negatives(rng, n - n // 2, lo, hi, width, n_types)])
    return X[rng.permutation(n)]


def _uniform_positives(rng, n, lo, hi, width, n_types):
    return _uniform_balanced(rng, _even_lengths(rng, n, lo, hi), width, n_types)


def region_hash(X: np.ndarray, salt: int) -> np.ndarray:
    """A hash of each row, uniform in [0, 1): a fixed random linear form, then splitmix64 mixing."""
    weights = np.random.default_rng(salt).integers(1, 2**63, size=X.shape[1], dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        z = ((X.astype(np.uint64) + np.uint64(1)) * weights).sum(axis=1, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0**53


_GENERATORS = {True: _positives, False: _negatives}
_NEGATIVES = {"hard": _negatives, "easy": _easy_negatives, "mixed": _mixed_negatives}


@register
@dataclass(frozen=True)
class BracketsTask(Task):
    """Dyck-1 / Dyck-2 membership; X = tokens right-padded with ``pad_id``; y = 1 balanced, 0 not."""

    kind: str = "dyck1"
    max_len: int = 16
    min_len: int = 2
    ood_len: int = 0
    n_test: int = 1000
    test_fraction: float = 0.5
    negatives: str = "hard"

    family = "brackets"
    summary = "is a bracket word balanced? Dyck-1 ( ) or Dyck-2 ( ) [ ], hard or random negatives"
    param_help = {
        "kind": "dyck1 (tokens ( ) then pad) or dyck2 (tokens ( ) [ ] then pad)",
        "max_len": f"longest training/test sequence, in [4, {MAX_LEN}]",
        "min_len": "shortest sequence, in [2, max_len]",
        "ood_len": "longest sequence of the 'longer' split, > max_len (0 = twice max_len)",
        "n_test": "size of the test split and of each OOD split, half positive (>= 2)",
        "test_fraction": "share of all sequences (chosen by hash) reserved for testing, in (0, 1)",
        "negatives": "unbalanced words of train/test: hard (right counts in the wrong order, crossed "
                     "types, open prefixes), easy (uniformly random), or mixed (half each)",
    }
    ood_descriptions = {
        "longer": "lengths max_len+1 to ood_len, half balanced",
        "uniform": "uniformly random words of the training lengths (test share), half balanced",
    }

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SpecError(f"brackets: unknown kind {self.kind!r}; accepted: {', '.join(KINDS)}")
        if self.negatives not in NEGATIVES:
            raise SpecError(
                f"brackets: unknown negatives={self.negatives!r}; accepted: {', '.join(NEGATIVES)}"
            )
        if not 4 <= self.max_len <= MAX_LEN:
            raise SpecError(
                f"brackets: max_len={self.max_len} is not accepted; it must lie in [4, {MAX_LEN}]"
            )
        if not 2 <= self.min_len <= self.max_len:
            raise SpecError(f"brackets: min_len={self.min_len} is not accepted; it must lie in [2, max_len]")
        if self.ood_len == 0:
            object.__setattr__(self, "ood_len", 2 * self.max_len)  # the spec then prints the value
        if not self.max_len + 2 <= self.ood_len <= 2 * MAX_LEN:
            raise SpecError(
                f"brackets: ood_len={self.ood_len} is not accepted; it must lie in "
                f"[max_len+2, {2 * MAX_LEN}] (0 = twice max_len)"
            )
        if self.n_test < 2:
            raise SpecError(f"brackets: n_test={self.n_test} is not accepted; it must be >= 2")
        self.check_split_memory(self.n_test, self.ood_len, "test/OOD")
        if not 0.0 < self.test_fraction < 1.0:
            raise SpecError(
                f"brackets: test_fraction={self.test_fraction} is not accepted; it must lie in (0, 1)"
            )
        # Distinct test positives are drawn by rejection: ask for at most half of those available.
        in_test = int(count_balanced(self.min_len, self.max_len, self.n_types) * self.test_fraction)
        if in_test < self.n_test:
            raise SpecError(
                f"brackets: n_test={self.n_test} is too large for {self.kind} with lengths "
                f"{self.min_len}..{self.max_len}: about {in_test} balanced words fall in the test share "
                f"and its n_test/2 positives may take at most half of them; lower n_test or raise max_len"
            )
        if count_balanced(self.max_len + 1, self.ood_len, self.n_types) < self.n_test:
            raise SpecError(
                f"brackets: ood_len={self.ood_len} leaves too few longer words for n_test={self.n_test}"
            )

    @property
    def n_types(self) -> int:
        return KINDS[self.kind]

    @property
    def pad_id(self) -> int:
        return 2 * self.n_types

    @property
    def max_train(self) -> int:
        return MAX_TRAIN

    @property
    def seed_spec(self) -> str:
        """The spec the seeds derive from: without ``negatives`` when it is the default, so every
        spec written before the parameter existed draws the same examples as it did."""
        return self.spec.replace(",negatives=hard", "")

    @property
    def _base_spec(self) -> str:
        """The seed spec with hard negatives: what the test share and the OOD splits derive from."""
        return replace(self, negatives="hard").seed_spec

    def _in_test(self, X: np.ndarray) -> np.ndarray:
        # The test share does not depend on the negatives, so every setting scores on disjoint words.
        return region_hash(X, stable_seed("brackets/region", self._base_spec)) < self.test_fraction

    def _in_train(self, X: np.ndarray) -> np.ndarray:
        return ~self._in_test(X)

    def _generator(self, positive: bool, longer: bool, uniform: bool):
        if uniform:
            return _uniform_positives if positive else _easy_negatives
        if positive or longer:
            return _GENERATORS[positive]
        return _NEGATIVES[self.negatives]

    def _collect(self, rng, positive, n, longer, keep, distinct, uniform=False) -> np.ndarray:
        """``n`` rows of one class, drawn in batches, kept where ``keep`` says (and new if ``distinct``);
        lengths up to max_len, or above it up to ood_len when ``longer``."""
        lo, hi = (self.max_len + 1, self.ood_len) if longer else (self.min_len, self.max_len)
        rows, seen, have = [], set(), 0
        for _ in range(_MAX_ROUNDS):
            if have >= n:
                break
            X = self._generator(positive, longer, uniform)(rng, 2 * (n - have) + 64, lo, hi, hi, self.n_types)
            X = X[keep(X)]
            if distinct:
                fresh = []
                for i, row in enumerate(X):
                    key = row.tobytes()
                    if key not in seen:
                        seen.add(key)
                        fresh.append(i)
                X = X[fresh]
            rows.append(X[: n - have])
            have += len(rows[-1])
        if have < n:
            label = "balanced" if positive else "unbalanced"
            raise SpecError(f"{self.spec}: could not draw {n} distinct {label} words; lower n_test")
        return np.concatenate(rows)

    def _draw(self, rng, n, keep, distinct, longer=False, uniform=False) -> tuple[np.ndarray, np.ndarray]:
        """``n`` rows, ``n // 2`` of them balanced, in random order."""
        n_pos = n // 2
        X = np.concatenate(
            [
                self._collect(rng, True, n_pos, longer, keep, distinct, uniform),
                self._collect(rng, False, n - n_pos, longer, keep, distinct, uniform),
            ]
        )
        y = np.repeat(np.array([1, 0], dtype=np.int64), [n_pos, n - n_pos])
        order = rng.permutation(n)
        return X[order], y[order]

    def _split(self, X: np.ndarray, y: np.ndarray, name: str, **meta: object) -> Split:
        return Split(
            X=X,
            y=y,
            d_vocab=self.pad_id + 1,
            n_classes=2,
            columns=tuple(f"t{i}" for i in range(X.shape[1])),
            pad_id=self.pad_id,
            name=name,
            meta={"task": self.spec, **meta},
        )

    @drawn_once
    def test_split(self) -> Split:
        rng = np.random.default_rng(stable_seed("brackets/test", self.seed_spec))
        X, y = self._draw(rng, self.n_test, self._in_test, distinct=True)
        return self._split(X, y, "test")

    def train_split(self, n: int, seed: int = 0) -> Split:
        self.check_train_size(n)
        self.check_split_memory(n, self.max_len, "training")
        base = stable_seed("brackets/train", self.seed_spec, seed)
        blocks = []
        # Block b depends on (spec, seed, b) alone, so the first n rows are nested in n.
        for b in range(-(-n // _BLOCK)):
            rng = np.random.default_rng([base, b])
            blocks.append(self._draw(rng, _BLOCK, self._in_train, distinct=False))
        X = np.concatenate([X for X, _ in blocks]) if blocks else np.empty((0, self.max_len), np.int64)
        y = np.concatenate([y for _, y in blocks]) if blocks else np.empty(0, np.int64)
        return self._split(X[:n], y[:n], "train", seed=seed)

    @drawn_once
    def ood_split(self, name: str) -> Split:
        if name == "uniform":
            # The same words whatever the negatives of train/test: one yardstick for every setting.
            rng = np.random.default_rng(stable_seed("brackets/uniform", self._base_spec))
            X, y = self._draw(rng, self.n_test, self._in_test, distinct=False, uniform=True)
            y = balanced(X, self.n_types).astype(np.int64)  # the checker's labels, by construction equal
            return self._split(X, y, "uniform")
        if name != "longer":
            raise SpecError(f"unknown split {name!r} for brackets; accepted: {', '.join(self.ood_names)}")
        rng = np.random.default_rng(stable_seed("brackets/longer", self._base_spec))
        everything = lambda X: np.ones(len(X), dtype=bool)  # noqa: E731  longer words are never trained on
        X, y = self._draw(rng, self.n_test, everything, distinct=True, longer=True)
        return self._split(X, y, "longer")

    def reference(self, X: np.ndarray) -> np.ndarray:
        return balanced(np.asarray(X, dtype=np.int64), self.n_types).astype(np.int64)

    def format_example(self, split: Split, i: int) -> str:
        row = split.X[i]
        word = "".join(SYMBOLS[t] for t in row[row != self.pad_id])
        return f"{word:<{split.X.shape[1]}}  -> {int(split.y[i])}"
