"""Vectorized semantics of the sequence DSL (:mod:`synth.dsl_seq`) on padded batches.

Every sequence value has shape ``(..., n, L)``: leading batch axes (the enumerator broadcasts
them), the example, the position. Rows are right-padded, and **every value marks the padding
positions with its type's sentinel** (``PAD``), so that reductions know where a sequence ends and
equal programs have equal value rows. Encodings:

- token sequences (``tok``): unsigned ints; token ids ``[0, d_vocab)``, ``none = d_vocab`` (no token:
  what ``prev`` puts at position 0 and ``recent`` returns when nothing is selected), ``PAD`` = the
  dtype's maximum;
- integer sequences (``int``): int16, saturating at +-32767, ``PAD = -32768``;
- boolean sequences (``bool``): int8, 1 / 0, ``PAD = -1`` (so ``&`` and ``|`` keep the pad);
- selectors (``sel``): uint8 ``(..., n, L, L)``; entry ``[i, j]`` is 1 where query position ``i``
  selects key position ``j``, else 0; rows of padding queries hold 2;
- per-sequence values (``flag``: bool, ``num``: int16) have shape ``(..., n)``.

**Causality.** Every per-position value at position ``i`` depends only on positions ``<= i``: shifts
look back, scans run forward, and a selector only selects ``j <= i`` (a causal attention pattern).
A per-position target such as the induction task's next token is in the input one position later,
so a non-causal primitive could read the answer. Since padding comes after every real position,
causality also makes padding invariance hold for per-position values; the reductions (``all``,
``any``, ``last``, ``sum``, ``final``) skip padding by its sentinel.
"""

from __future__ import annotations

import numpy as np

INT_PAD = np.int16(-32768)
INT_MAX = 32767
BOOL_PAD = np.int8(-1)
SEL_PAD = np.uint8(2)


def _int(values: np.ndarray, pad: np.ndarray) -> np.ndarray:
    """Saturate wide integer results to int16 and put the sentinel back on padding."""
    out = np.clip(values, -INT_MAX, INT_MAX).astype(np.int16)
    out[np.broadcast_to(pad, out.shape)] = INT_PAD
    return out


def _bool(values: np.ndarray, pad: np.ndarray) -> np.ndarray:
    out = values.astype(np.int8)
    out[np.broadcast_to(pad, out.shape)] = BOOL_PAD
    return out


# -- integer sequences --------------------------------------------------------------------------------
def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _int(np.add(a, b, dtype=np.int32), a == INT_PAD)


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _int(np.subtract(a, b, dtype=np.int32), a == INT_PAD)


def shift(a: np.ndarray) -> np.ndarray:
    """The value one position back; 0 at the first position."""
    out = np.empty(a.shape, np.int16)
    out[..., 0] = 0
    out[..., 1:] = a[..., :-1]
    out[a == INT_PAD] = INT_PAD
    return out


def psum(a: np.ndarray) -> np.ndarray:
    """Prefix sums (padding counts 0; it comes after every real position)."""
    pad = a == INT_PAD
    return _int(np.where(pad, 0, a).cumsum(axis=-1, dtype=np.int32), pad)


def ind(b: np.ndarray) -> np.ndarray:
    """1 where true, 0 where false."""
    return np.where(b == BOOL_PAD, INT_PAD, b).astype(np.int16)


def tally(b: np.ndarray) -> np.ndarray:
    """Running count of true minus false so far (prefix sum of +1 / -1)."""
    pad = b == BOOL_PAD
    step = np.where(pad, 0, 2 * b.astype(np.int16) - 1)
    return _int(step.cumsum(axis=-1, dtype=np.int32), pad)


# -- token sequences ----------------------------------------------------------------------------------
def prev(a: np.ndarray, none: int, pad: int) -> np.ndarray:
    """The token one position back; ``none`` at the first position."""
    out = np.empty(a.shape, a.dtype)
    out[..., 0] = none
    out[..., 1:] = a[..., :-1]
    out[a == pad] = pad
    return out


# -- boolean sequences --------------------------------------------------------------------------------
def is_token(a: np.ndarray, c: np.ndarray, pad: int) -> np.ndarray:
    return _bool(a == c[..., None], a == pad)


def same(a: np.ndarray, b: np.ndarray, pad: int) -> np.ndarray:
    return _bool(a == b, a == pad)


def eq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _bool(a == b, a == INT_PAD)


def lt(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _bool(a < b, a == INT_PAD)


def eq0(a: np.ndarray) -> np.ndarray:
    return _bool(a == 0, a == INT_PAD)


def gt0(a: np.ndarray) -> np.ndarray:
    return _bool(a > 0, a == INT_PAD)


def ge0(a: np.ndarray) -> np.ndarray:
    return _bool(a >= 0, a == INT_PAD)


def and_(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a & b  # 1 & 1, 0 & x as booleans; -1 & -1 = -1 keeps the pad


def or_(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a | b


def not_(a: np.ndarray) -> np.ndarray:
    return a ^ (a >= 0).view(np.int8)  # flips 0 and 1, leaves -1


# -- selectors and aggregation --------------------------------------------------------------------------
def select(keys: np.ndarray, queries: np.ndarray, pred: str, pad: int) -> np.ndarray:
    """``sel[i, j] = pred(keys[j], queries[i])`` for real ``j <= i``; padding query rows hold 2."""
    k, q = keys[..., None, :], queries[..., :, None]
    length = keys.shape[-1]
    causal = np.tri(length, dtype=bool)
    if pred == "eq":
        hit = k == q
    elif pred == "lt":
        hit = k < q
    else:
        hit = k <= q
    hit &= causal
    hit &= k != pad
    out = hit.view(np.uint8)
    out[np.broadcast_to(q == pad, out.shape)] = SEL_PAD
    return out


def _pad_rows(sel: np.ndarray) -> np.ndarray:
    return sel[..., 0] == SEL_PAD


def recent(sel: np.ndarray, values: np.ndarray, default: int, pad: int) -> np.ndarray:
    """The value at the most recent selected position (the largest selected ``j <= i``);
    ``default`` where nothing is selected."""
    length = sel.shape[-1]
    # 1 + the index of the last selected key (0: none), read as a maximum over the key axis.
    pos = np.arange(1, length + 1, dtype=np.int16 if length < INT_MAX else np.int32)
    last = np.where(sel == 1, pos, pos.dtype.type(0)).max(axis=-1)
    ext = np.empty((*values.shape[:-1], length + 1), values.dtype)
    ext[..., 0] = default
    ext[..., 1:] = values
    out = np.take_along_axis(ext, last, axis=-1)
    out[np.broadcast_to(_pad_rows(sel), out.shape)] = pad
    return out


def count(sel: np.ndarray) -> np.ndarray:
    """How many positions each query selects."""
    return _int((sel == 1).sum(axis=-1, dtype=np.int32), _pad_rows(sel))


def mean(sel: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The mean of the selected values, rounded down (floor division); 0 where nothing is selected."""
    hit = sel == 1
    total = np.where(hit, values[..., None, :], 0).sum(axis=-1, dtype=np.int32)
    n = hit.sum(axis=-1, dtype=np.int32)
    return _int(total // np.maximum(n, 1), _pad_rows(sel))


# -- reductions to one value per sequence ------------------------------------------------------------
def all_(b: np.ndarray) -> np.ndarray:
    """Every real position is true (padding counts as true; an empty sequence is all true)."""
    return (b != 0).all(axis=-1)


def any_(b: np.ndarray) -> np.ndarray:
    return (b == 1).any(axis=-1)


def _last_index(real: np.ndarray) -> np.ndarray:
    return np.maximum(real.sum(axis=-1, keepdims=True) - 1, 0)


def last(b: np.ndarray) -> np.ndarray:
    """The value at the last real position (false for an empty sequence)."""
    return np.take_along_axis(b, _last_index(b != BOOL_PAD), axis=-1)[..., 0] == 1


def total(a: np.ndarray) -> np.ndarray:
    """The sum over real positions."""
    s = np.where(a == INT_PAD, 0, a).sum(axis=-1, dtype=np.int32)
    return np.clip(s, -INT_MAX, INT_MAX).astype(np.int16)


def final(a: np.ndarray) -> np.ndarray:
    """The value at the last real position (0 for an empty sequence)."""
    real = a != INT_PAD
    out = np.take_along_axis(a, _last_index(real), axis=-1)[..., 0]
    return np.where(real.any(axis=-1), out, 0).astype(np.int16)
