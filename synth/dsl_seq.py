"""The sequence DSL (``seq:d_vocab=3,pad=2``): RASP-style programs over padded token sequences.

Types (value encodings and the causality rule in :mod:`synth.seq_ops`):

- ``tok`` token sequences, ``int`` integer sequences, ``bool`` boolean sequences (one value per
  position); ``sel`` selection matrices (query position x key position); ``flag`` and ``num`` one
  boolean / integer per sequence; ``tokc`` a token constant (one of the data's token ids).

Primitives (uniform prior within each type: a production of a type with k productions costs
log2(k) bits; the token constants ``tok0``, ``tok1``, ... are uniform over the token ids that
occur in the training data, see :meth:`SeqDSL.data_primitives`):

- ``tok``: ``tokens``; ``prev(t)`` (one position back); ``recent(s, t)`` (RASP aggregate: the value at
  the most recent selected position).
- ``int``: ``indices``; ``shift(a)``; ``psum(a)`` (prefix sums); ``ind(b)`` (1/0) and ``tally(b)``
  (running count of true minus false); ``add``, ``sub``; ``count(s)`` (RASP selector width),
  ``mean(s, a)`` (rounded down) and ``recent_i(s, a)``.
- ``bool``: ``is(t, c)`` (token equals a constant); ``same(t, u)``; ``eq(a, b)``, ``lt(a, b)``;
  ``eq0``, ``gt0``, ``ge0`` (sign tests); ``and``, ``or``, ``not``.
- ``sel``: ``sel_tok(keys, queries)`` (equal tokens), ``sel_eq``, ``sel_lt``, ``sel_le`` (integer keys
  compared with queries: ``key < query`` etc.), always causal (key position <= query position).
- ``flag``: reductions ``all``, ``any``, ``last`` of a boolean sequence; ``both``, ``either``, ``negate``.
- ``num``: reductions ``sum`` and ``final`` (last value) of an integer sequence.

The output type follows the labels (``out=auto``): one label per sequence is a ``flag`` when the
labels are 0/1, else a ``num``; per-position targets are tokens (``tok``). ``out=int`` or
``out=bool`` asks for integer or boolean per-position outputs instead.

Nothing here knows a task: which token ids open or close a bracket comes from the constants, so the
same search runs on any vocabulary. Reference programs (see ``REFERENCES``) show what the DSL
reaches: Dyck-1, induction copying and Dyck-2.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np

import synth.seq_ops as ops
from synth.dsl import DSL, Target, complete_dsl, register_dsl, register_guesser
from synth.program import Env
from synth.types import Primitive, Type
from tasks.base import SpecError, Split

MAX_VOCAB = 65534
OUTPUTS = ("auto", "flag", "num", "tok", "int", "bool")
PER_SEQUENCE = ("flag", "num")

INT = Type("int", np.int16)
BOOL = Type("bool", np.int8)
SEL = Type("sel", np.uint8)
FLAG = Type("flag", np.bool_)
NUM = Type("num", np.int16)

#: Reference programs (token ids as in the task suite: ( ) [ ] = 0 1 2 3).
REFERENCES = {
    "dyck1": "both(all(ge0(tally(is(tokens, tok0)))), last(eq0(tally(is(tokens, tok0)))))",
    "induction": "recent(sel_tok(prev(tokens), tokens), tokens)",
    # D: depth after each token (O: opener). M: the matched opener of a closer at i, the token at the
    # most recent j <= i whose depth before it (shift D) equals D_i. Balanced: depth 0 at the end, and
    # at every closer the matched opener is its partner (an unmatched closer matches nothing).
    "dyck2": (
        "both(last(eq0({D})), all(or({O}, or(and(is(tokens, tok1), is({M}, tok0)), "
        "and(is(tokens, tok3), is({M}, tok2))))))"
    )
    .replace("{M}", "recent(sel_eq(shift({D}), {D}), tokens)")
    .replace("{D}", "tally({O})")
    .replace("{O}", "or(is(tokens, tok0), is(tokens, tok2))"),
}


@register_dsl
@dataclass(frozen=True)
class SeqDSL(DSL):
    """Programs over right-padded token sequences with ids in ``[0, d_vocab)``; ``pad`` is the pad
    id (-1: rows are not padded); ``out`` the output type (``auto``: from the labels)."""

    family = "seq"
    d_vocab: int = 0
    pad: int = -1
    out: str = "auto"

    def __post_init__(self) -> None:
        if not 1 <= self.d_vocab <= MAX_VOCAB:
            raise SpecError(
                f"seq: d_vocab={self.d_vocab} must lie in [1, {MAX_VOCAB}] (token ids are 0..d_vocab-1); "
                "pass it, e.g. seq:d_vocab=3,pad=2 (dlps synth infers both from the data)"
            )
        if not -1 <= self.pad < self.d_vocab:
            raise SpecError(
                f"seq: pad={self.pad} must be a token id in [0, d_vocab={self.d_vocab}) or -1 (no padding)"
            )
        if self.out not in OUTPUTS:
            raise SpecError(f"seq: unknown out={self.out!r}; accepted: {', '.join(OUTPUTS)}")
        if self.pad >= 0 and self.d_vocab == 1:
            raise SpecError("seq: d_vocab=1 with a pad id leaves no token")

    # -- types ----------------------------------------------------------------------------------------
    @property
    def tok_dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.d_vocab < 255 else np.uint16)

    @property
    def none(self) -> int:
        """The token value meaning 'no token' (before the first position, nothing selected)."""
        return self.d_vocab

    @property
    def tok_pad(self) -> int:
        return int(np.iinfo(self.tok_dtype).max)

    @cached_property
    def tok(self) -> Type:
        return Type("tok", self.tok_dtype)

    @cached_property
    def tokc(self) -> Type:
        return Type("tokc", self.tok_dtype)

    @property
    def token_ids(self) -> list[int]:
        """The real token ids (the pad id is not a token)."""
        return [t for t in range(self.d_vocab) if t != self.pad]

    def build_primitives(self) -> tuple[Primitive, ...]:
        TOK, TOKC, pad, none = self.tok, self.tokc, self.tok_pad, self.none

        def prim(name, args, ret, fn, doc, commutative=False) -> Primitive:
            return Primitive(name, args, ret, fn, commutative=commutative, doc=doc)

        def const(t: int) -> Primitive:
            return prim(f"tok{t}", (), TOKC, lambda env: np.full(env.n, t, TOKC.dtype), f"the token id {t}")

        return (
            prim("tokens", (), TOK, lambda env: env.inputs["tokens"], "the input tokens"),
            prim("indices", (), INT, lambda env: env.inputs["indices"], "the positions 0, 1, ..."),
            *(const(t) for t in self.token_ids),
            prim("prev", (TOK,), TOK, partial(ops.prev, none=none, pad=pad), "the token one position back"),
            prim("recent", (SEL, TOK), TOK, partial(ops.recent, default=none, pad=pad),
                 "the token at the most recent selected position"),
            prim("shift", (INT,), INT, ops.shift, "the value one position back (0 first)"),
            prim("psum", (INT,), INT, ops.psum, "prefix sums"),
            prim("ind", (BOOL,), INT, ops.ind, "1 where true, else 0"),
            prim("tally", (BOOL,), INT, ops.tally, "running count of true minus false"),
            prim("add", (INT, INT), INT, ops.add, "a + b", commutative=True),
            prim("sub", (INT, INT), INT, ops.sub, "a - b"),
            prim("count", (SEL,), INT, ops.count, "how many positions are selected"),
            prim("mean", (SEL, INT), INT, ops.mean, "mean of the selected values, rounded down"),
            prim("recent_i", (SEL, INT), INT, partial(ops.recent, default=0, pad=ops.INT_PAD),
                 "the value at the most recent selected position"),
            prim("is", (TOK, TOKC), BOOL, partial(ops.is_token, pad=pad), "token equals the constant"),
            prim("same", (TOK, TOK), BOOL, partial(ops.same, pad=pad), "equal tokens", commutative=True),
            prim("eq", (INT, INT), BOOL, ops.eq, "a == b", commutative=True),
            prim("lt", (INT, INT), BOOL, ops.lt, "a < b"),
            prim("eq0", (INT,), BOOL, ops.eq0, "a == 0"),
            prim("gt0", (INT,), BOOL, ops.gt0, "a > 0"),
            prim("ge0", (INT,), BOOL, ops.ge0, "a >= 0"),
            prim("and", (BOOL, BOOL), BOOL, ops.and_, "a and b", commutative=True),
            prim("or", (BOOL, BOOL), BOOL, ops.or_, "a or b", commutative=True),
            prim("not", (BOOL,), BOOL, ops.not_, "not a"),
            prim("sel_tok", (TOK, TOK), SEL, partial(ops.select, pred="eq", pad=pad),
                 "select earlier keys equal to the query"),
            prim("sel_eq", (INT, INT), SEL, partial(ops.select, pred="eq", pad=ops.INT_PAD),
                 "select earlier keys equal to the query"),
            prim("sel_lt", (INT, INT), SEL, partial(ops.select, pred="lt", pad=ops.INT_PAD),
                 "select earlier keys below the query"),
            prim("sel_le", (INT, INT), SEL, partial(ops.select, pred="le", pad=ops.INT_PAD),
                 "select earlier keys at most the query"),
            prim("all", (BOOL,), FLAG, ops.all_, "true at every position"),
            prim("any", (BOOL,), FLAG, ops.any_, "true at some position"),
            prim("last", (BOOL,), FLAG, ops.last, "the value at the last position"),
            prim("both", (FLAG, FLAG), FLAG, np.logical_and, "f and g", commutative=True),
            prim("either", (FLAG, FLAG), FLAG, np.logical_or, "f or g", commutative=True),
            prim("negate", (FLAG,), FLAG, np.logical_not, "not f"),
            prim("sum", (INT,), NUM, ops.total, "the sum over the sequence"),
            prim("final", (INT,), NUM, ops.final, "the value at the last position"),
        )

    # -- data -----------------------------------------------------------------------------------------
    def data_tokens(self, X: np.ndarray) -> list[int]:
        """The token ids that occur in ``X`` (padding excluded), in order of first occurrence (row
        by row): an order that a relabelling of the ids carries along, unlike the ids' own order."""
        X = np.asarray(X)
        flat = X[self.real_positions(X)] if X.size else np.zeros(0, np.int64)
        ids, first = np.unique(flat, return_index=True)
        return [int(t) for t in ids[np.argsort(first, kind="stable")] if 0 <= t < self.d_vocab]

    def data_primitives(self, X: np.ndarray) -> tuple[Primitive, ...]:
        """The token constants of the ids that occur in ``X`` (first occurrence first), the other
        primitives as they are: a constant costs log2(ids in the data) bits, so renaming the ids,
        or a vocabulary larger than the data uses, changes neither the bits nor the program found."""
        present = self.data_tokens(X)
        consts = {f"tok{t}": t for t in self.token_ids}
        prims = list(self.primitives)
        first = next(i for i, p in enumerate(prims) if p.name in consts)
        rest = [p for p in prims if p.name not in consts]
        return (*rest[:first], *(self.by_name[f"tok{t}"] for t in present), *rest[first:])

    def real_positions(self, X: np.ndarray) -> np.ndarray:
        """Where ``X`` holds tokens (not padding)."""
        X = np.asarray(X)
        return np.ones(X.shape, bool) if self.pad < 0 else X != self.pad

    def env(self, X: np.ndarray) -> Env:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] == 0:
            raise ValueError(f"seq takes token sequences, an array of shape (n, length), got shape {X.shape}")
        if X.size and not np.issubdtype(X.dtype, np.integer):
            raise ValueError(f"seq takes integer token ids, got dtype {X.dtype}")
        bad = (X < 0) | (X >= self.d_vocab)
        if bad.any():
            raise ValueError(
                f"token {X[bad].flat[0]} does not fit {self.spec}; accepted: token ids in [0, {self.d_vocab})"
            )
        real = self.real_positions(X)
        inner = ~real[:, :-1] & real[:, 1:]
        if inner.any():
            row = int(np.flatnonzero(inner.any(axis=1))[0])
            raise ValueError(
                f"row {row} has the pad id {self.pad} before a token; {self.spec} takes right-padded rows"
            )
        tokens = np.where(real, X, self.tok_pad).astype(self.tok_dtype)
        indices = np.where(real, np.arange(X.shape[1]), ops.INT_PAD).astype(np.int16)
        return Env(len(X), {"tokens": tokens, "indices": indices})

    def output_type(self, y: np.ndarray, mask: np.ndarray | None) -> Type:
        y = np.asarray(y)
        scored = y if mask is None else y[np.asarray(mask, bool)]
        if y.ndim == 1:
            if self.out == "auto":
                return FLAG if scored.size == 0 or ((scored == 0) | (scored == 1)).all() else NUM
            if self.out not in PER_SEQUENCE:
                raise ValueError(f"{self.spec}: out={self.out} is per position, y per sequence")
        elif y.ndim == 2:
            if self.out == "auto":
                return self.tok
            if self.out in PER_SEQUENCE:
                raise ValueError(f"{self.spec}: out={self.out} is per sequence, y per position")
        else:
            raise ValueError(f"seq takes labels of shape (n,) or (n, length), got shape {y.shape}")
        return {"flag": FLAG, "num": NUM, "tok": self.tok, "int": INT, "bool": BOOL}[self.out]

    def target(self, y: np.ndarray, mask: np.ndarray | None = None) -> Target:
        y = np.asarray(y)
        if y.size and not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"seq takes integer labels, got dtype {y.dtype}")
        if mask is not None:
            mask = np.asarray(mask, bool)
            if mask.shape != y.shape:
                raise ValueError(f"mask shape {mask.shape} differs from labels {y.shape}")
        t = self.output_type(y, mask)
        lo, hi = {
            "flag": (0, 2), "bool": (0, 2), "num": (-ops.INT_MAX, ops.INT_MAX + 1),
            "int": (-ops.INT_MAX, ops.INT_MAX + 1), "tok": (0, self.d_vocab),
        }[t.name]
        scored = y if mask is None else y[mask]
        bad = (scored < lo) | (scored >= hi)
        if bad.any():
            raise ValueError(
                f"label {scored[bad].flat[0]} does not fit {self.spec} (output {t}); accepted: [{lo}, {hi})"
            )
        values = y if mask is None else np.where(mask, y, 0)
        return Target(t, values.astype(t.dtype), mask)

    def decode(self, values: np.ndarray) -> np.ndarray:
        """Program values back to int64 labels; positions without a value (padding, 'no token')
        become -1 (``tasks.UNSCORED``)."""
        values = np.asarray(values)
        wide = values.astype(np.int64)
        if values.dtype == self.tok_dtype and values.dtype.kind == "u":
            wide[values >= self.none] = -1
        elif values.dtype == np.int16:
            wide[values == ops.INT_PAD] = -1
        return wide

    @classmethod
    def params_for(cls, split: Split) -> dict[str, str]:
        """The vocabulary size and pad id of ``split`` (its token ids lie in [0, d_vocab))."""
        return {"d_vocab": str(split.d_vocab), "pad": str(-1 if split.pad_id is None else split.pad_id)}

    def probe_inputs(self, X: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Random token sequences with the lengths and width of the rows of ``X``."""
        X = np.asarray(X)
        lengths = self.real_positions(X).sum(axis=1)
        length = rng.choice(lengths, size=n) if len(lengths) else np.zeros(n, int)
        ids = self.data_tokens(X) or self.token_ids  # the data's ids: probes relabel with the data
        tokens = np.array(ids)[rng.integers(0, len(ids), size=(n, X.shape[1]))]
        live = np.arange(X.shape[1]) < length[:, None]
        return np.where(live, tokens, max(self.pad, 0)).astype(np.int64)


@register_guesser
def _guess_seq(split: Split) -> str | None:
    """Token sequences: padded rows, per-position targets, or columns named t0, t1, ..."""
    tokens = bool(split.columns) and all(c == f"t{i}" for i, c in enumerate(split.columns))
    if split.per_position or split.pad_id is not None or tokens:
        return complete_dsl("seq", split)
    return None
