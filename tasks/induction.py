"""Induction: copy what followed the earlier occurrence of the current token.

Each sequence is random filler tokens with a segment of distinct tokens written twice, at random
offsets (fixed positions would let a model memorize positions; Olsson et al. 2022). The target at
position i is the next token ``x[i+1]``, scored only inside the second copy (all but its last
position), where it is determined by the rule *"the token that followed the most recent earlier
occurrence of the current token"*. Generation makes the rule exact there: segment tokens are
distinct and never appear in the filler, so a segment token's most recent earlier occurrence is its
twin in the first copy. Elsewhere ``y`` holds ``UNSCORED`` and ``mask`` is False.

The last ``n_unseen`` token ids are never used by the training and test splits; the
``unseen_tokens`` split copies segments made of them (filler from the other tokens). The ``longer``
split has sequences of ``ood_len`` tokens. All splits share one ``d_vocab``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from tasks.base import UNSCORED, SpecError, Split, Task, drawn_once, stable_seed
from tasks.registry import register

#: Training sequences are fresh draws; this caps a single training set (memory), not a finite pool.
MAX_TRAIN = 2**20
MAX_LEN = 4096
MAX_VOCAB = 65536
_BLOCK = 1024


def induction_rule(X: np.ndarray) -> np.ndarray:
    """For each position, the token that followed the most recent earlier occurrence of the current
    token; ``UNSCORED`` where the token has not occurred before. Vectorized: a stable sort of each
    row by token puts every occurrence right after the previous occurrence of the same token."""
    X = np.asarray(X, dtype=np.int64)
    out = np.full(X.shape, UNSCORED, dtype=np.int64)
    if X.shape[1] < 2:
        return out
    order = np.argsort(X, axis=1, kind="stable")
    tokens = np.take_along_axis(X, order, axis=1)
    repeat = tokens[:, 1:] == tokens[:, :-1]
    rows, k = np.nonzero(repeat)
    out[rows, order[rows, k + 1]] = X[rows, order[rows, k] + 1]
    return out


def repeated_segments(
    rng: np.random.Generator,
    n: int,
    length: int,
    seg_range: tuple[int, int],
    segment_tokens: np.ndarray,
    filler_tokens: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` sequences of ``length`` tokens with a segment of distinct ``segment_tokens`` written at
    random offsets a < b (b >= a + s, no overlap); the filler avoids the row's segment tokens.
    Returns X, y (next token inside the second copy, else UNSCORED) and the mask."""
    s = rng.integers(seg_range[0], seg_range[1] + 1, size=n)
    a = rng.integers(0, length - 2 * s + 1)
    b = rng.integers(a + s, length - s + 1)
    # A random order of the segment pool per row; the segment is its first s tokens.
    order = segment_tokens[np.argsort(rng.random((n, len(segment_tokens))), axis=1)]
    if np.array_equal(segment_tokens, filler_tokens):
        # Filler drawn from the rest of the row's order, so it never repeats a segment token.
        pick = s[:, None] + (rng.random((n, length)) * (len(segment_tokens) - s)[:, None]).astype(np.int64)
        X = np.take_along_axis(order, pick, axis=1)
    else:
        X = filler_tokens[rng.integers(0, len(filler_tokens), size=(n, length))]
    pos = np.arange(length)
    for start in (a, b):
        offset = pos - start[:, None]
        inside = (offset >= 0) & (offset < s[:, None])
        copied = np.take_along_axis(order, np.clip(offset, 0, None) % order.shape[1], axis=1)
        X = np.where(inside, copied, X)
    mask = (pos >= b[:, None]) & (pos < (b + s - 1)[:, None])
    following = np.concatenate([X[:, 1:], np.full((n, 1), UNSCORED)], axis=1)
    y = np.where(mask, following, UNSCORED)
    return X.astype(np.int64), y.astype(np.int64), mask


@register
@dataclass(frozen=True)
class InductionTask(Task):
    """Next-token targets on a repeated segment; X = tokens, y per position with a mask."""

    d_vocab: int = 32
    seq_len: int = 32
    min_seg: int = 4
    max_seg: int = 12
    n_unseen: int = 8
    ood_len: int = 0
    n_test: int = 1000

    family = "induction"
    summary = "predict the next token inside a repeated segment of random tokens (induction heads)"
    param_help = {
        "d_vocab": f"vocabulary size, in [max_seg + n_unseen + 1, {MAX_VOCAB}]",
        "seq_len": f"tokens per sequence, in [2 * max_seg, {MAX_LEN}]",
        "min_seg": "shortest repeated segment, >= 2 (a segment of s tokens scores s - 1 positions)",
        "max_seg": "longest repeated segment, in [min_seg, seq_len / 2]",
        "n_unseen": "token ids (the last ones) held out of train/test for 'unseen_tokens', >= 2",
        "ood_len": "tokens per sequence of the 'longer' split, > seq_len (0 = twice seq_len)",
        "n_test": "size of the test split and of each OOD split, >= 1",
    }
    ood_descriptions = {
        "longer": "sequences of ood_len tokens, same segment lengths",
        "unseen_tokens": "segments made of the n_unseen token ids that training never uses",
    }

    def __post_init__(self) -> None:
        if not 2 <= self.min_seg <= self.max_seg:
            raise SpecError(
                f"induction: min_seg={self.min_seg}, max_seg={self.max_seg} are not accepted; "
                "need 2 <= min_seg <= max_seg"
            )
        if not 2 * self.max_seg <= self.seq_len <= MAX_LEN:
            raise SpecError(
                f"induction: seq_len={self.seq_len} is not accepted; it must lie in "
                f"[2 * max_seg = {2 * self.max_seg}, {MAX_LEN}]"
            )
        if self.n_unseen < 2:
            raise SpecError(f"induction: n_unseen={self.n_unseen} is not accepted; it must be >= 2")
        # Training segments need max_seg distinct seen tokens plus at least one other for filler.
        need = self.max_seg + 1 + self.n_unseen
        if not need <= self.d_vocab <= MAX_VOCAB:
            raise SpecError(
                f"induction: d_vocab={self.d_vocab} is not accepted; it must lie in "
                f"[max_seg + n_unseen + 1 = {need}, {MAX_VOCAB}]"
            )
        if self.ood_len == 0:
            object.__setattr__(self, "ood_len", 2 * self.seq_len)  # the spec then prints the value
        if not self.seq_len < self.ood_len <= 2 * MAX_LEN:
            raise SpecError(
                f"induction: ood_len={self.ood_len} is not accepted; it must lie in "
                f"(seq_len, {2 * MAX_LEN}] (0 = twice seq_len)"
            )
        if self.n_test < 1:
            raise SpecError(f"induction: n_test={self.n_test} is not accepted; it must be >= 1")
        self.check_split_memory(self.n_test, max(self.seq_len, self.ood_len or 2 * self.seq_len), "test/OOD")

    @property
    def seen_tokens(self) -> np.ndarray:
        return np.arange(self.d_vocab - self.n_unseen)

    @property
    def unseen_tokens(self) -> np.ndarray:
        return np.arange(self.d_vocab - self.n_unseen, self.d_vocab)

    @property
    def max_train(self) -> int:
        return MAX_TRAIN

    def _draw(self, rng: np.random.Generator, n: int, name: str) -> Split:
        seen = self.seen_tokens
        if name == "unseen_tokens":
            top = min(self.max_seg, self.n_unseen)
            seg_range, pool = (min(self.min_seg, top), top), self.unseen_tokens
        else:
            seg_range, pool = (self.min_seg, self.max_seg), seen
        length = self.ood_len if name == "longer" else self.seq_len
        X, y, mask = repeated_segments(rng, n, length, seg_range, pool, seen)
        return self._split(X, y, mask, name)

    def _split(self, X, y, mask, name: str, **meta: object) -> Split:
        return Split(
            X=X,
            y=y,
            mask=mask,
            d_vocab=self.d_vocab,
            n_classes=self.d_vocab,
            columns=tuple(f"t{i}" for i in range(X.shape[1])),
            name=name,
            meta={"task": self.spec, **meta},
        )

    @cached_property
    def _test(self) -> Split:
        rng = np.random.default_rng(stable_seed("induction/test", self.spec))
        return self._draw(rng, self.n_test, "test")

    @drawn_once
    def test_split(self) -> Split:
        test = self._test
        return self._split(test.X.copy(), test.y.copy(), test.mask.copy(), "test")

    def train_split(self, n: int, seed: int = 0) -> Split:
        self.check_train_size(n)
        self.check_split_memory(n, self.seq_len, "training")
        test_rows = {row.tobytes() for row in self._test.X}
        base = stable_seed("induction/train", self.spec, seed)
        parts, have, b = [], 0, 0
        # Block b depends on (spec, seed, b) alone, so the first n rows are nested in n.
        while have < n:
            block = self._draw(np.random.default_rng([base, b]), _BLOCK, "train")
            fresh = np.array([row.tobytes() not in test_rows for row in block.X], dtype=bool)
            parts.append(block.subset(fresh))
            have, b = have + int(fresh.sum()), b + 1
        if not parts:
            parts.append(self._draw(np.random.default_rng(base), 0, "train"))
        X, y, mask = (np.concatenate([getattr(p, key) for p in parts])[:n] for key in ("X", "y", "mask"))
        return self._split(X, y, mask, "train", seed=seed)

    @drawn_once
    def ood_split(self, name: str) -> Split:
        if name not in self.ood_descriptions:
            raise SpecError(f"unknown split {name!r} for induction; accepted: {', '.join(self.ood_names)}")
        return self._draw(np.random.default_rng(stable_seed("induction", name, self.spec)), self.n_test, name)

    def reference(self, X: np.ndarray) -> np.ndarray:
        """The induction rule at every position where the current token occurred before
        (``UNSCORED`` elsewhere); on the generated splits it equals ``y`` wherever ``mask`` is True."""
        return induction_rule(X)
