"""The arithmetic DSL over Z_p (``arith:p=97``): enough to express the 13 modular operations.

Types: ``int`` (an element of Z_p, stored as uint8 for p <= 128, else uint16) and ``bool``.
Primitives (uniform prior by default: each ``int`` production costs log2(12) = 3.58 bits, the single
``bool`` production ``even`` costs 0 bits):

- terminals ``x``, ``y`` (the two input columns) and the constants ``1`` .. ``max_const``;
- ``add``, ``sub``, ``mul``: arithmetic mod p; ``div(a, b) = a * b^(p-2)``, the modular inverse
  for b != 0 and **0 when b = 0** (what b^(p-2) gives), so division is total;
- ``sq(a) = a^2`` and ``cube(a) = a^3``;
- ``even(a)``: the representative of a in [0, p) is even (a parity test, type bool);
- ``ite(c, a, b)``: a where c holds, else b.

Semantics stay in the storage dtype where they can: with values below p and 2(p-1) < 2^bits,
``(a + b) mod p = min(a + b, a + b - p)`` in wrapping unsigned arithmetic (one add, one subtract,
one min, all SIMD), and likewise for ``sub``; ``mul`` widens to twice the bits and reduces with an
integer division by the constant p.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.dsl import DSL, Target, register_dsl, register_guesser
from synth.program import Env
from synth.types import Primitive, Type
from tasks.base import SpecError, Split, is_prime

#: Largest modulus: values are stored as uint16 and 2(p-1) must fit.
MAX_P = 32749
BOOL = Type("bool", np.bool_)



@register_dsl
@dataclass(frozen=True)
class ArithDSL(DSL):
    """Arithmetic mod a prime ``p`` on two inputs, with constants 1..``max_const``."""

    family = "arith"
    p: int = 97
    max_const: int = 2

    def __post_init__(self) -> None:
        if not (is_prime(self.p) and self.p <= MAX_P):
            raise SpecError(f"arith: p={self.p} must be a prime in [2, {MAX_P}]")
        if not 0 <= self.max_const < self.p:
            raise SpecError(f"arith: max_const={self.max_const} must be in [0, p)")

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.p <= 128 else np.uint16)

    @property
    def int_type(self) -> Type:
        return Type("int", self.dtype)

    def build_primitives(self) -> tuple[Primitive, ...]:
        p, dt = self.p, self.dtype
        wide = np.dtype(np.uint16 if dt == np.uint8 else np.uint32)
        P, Pw = dt.type(p), wide.type(p)
        inv = np.array([pow(int(b), p - 2, p) if b else 0 for b in range(p)], dtype=dt)
        INT = self.int_type

        def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            s = np.add(a, b, dtype=dt)
            return np.minimum(s, s - P, out=s)

        def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            d = np.subtract(a, b, dtype=dt)
            return np.minimum(d, d + P, out=d)

        def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            x = np.multiply(a, b, dtype=wide)
            q = x // Pw
            q *= Pw
            x -= q
            return x.astype(dt)

        def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return mul(a, inv[b])

        def sq(a: np.ndarray) -> np.ndarray:
            return mul(a, a)

        def cube(a: np.ndarray) -> np.ndarray:
            return mul(mul(a, a), a)

        def even(a: np.ndarray) -> np.ndarray:
            return (a & dt.type(1)) == 0

        def ite(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.where(c, a, b)

        def const(k: int) -> Primitive:
            return Primitive(str(k), (), INT, lambda env: np.full(env.n, k, dt), doc=f"the constant {k}")

        def var(name: str) -> Primitive:
            return Primitive(name, (), INT, lambda env: env.inputs[name], doc=f"the input {name}")

        return (
            var("x"),
            var("y"),
            *(const(k) for k in range(1, self.max_const + 1)),
            Primitive("add", (INT, INT), INT, add, commutative=True, doc="a + b mod p"),
            Primitive("sub", (INT, INT), INT, sub, doc="a - b mod p"),
            Primitive("mul", (INT, INT), INT, mul, commutative=True, doc="a * b mod p"),
            Primitive("div", (INT, INT), INT, div, doc="a * b^(p-2) mod p (0 when b = 0)"),
            Primitive("sq", (INT,), INT, sq, doc="a^2 mod p"),
            Primitive("cube", (INT,), INT, cube, doc="a^3 mod p"),
            Primitive("ite", (BOOL, INT, INT), INT, ite, doc="a if c else b"),
            Primitive("even", (INT,), BOOL, even, doc="a (in [0, p)) is even"),
        )

    def _check(self, what: str, values: np.ndarray) -> None:
        values = np.asarray(values)
        if values.size and not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"arith:p={self.p} takes integer {what}, got dtype {values.dtype}")
        bad = (values < 0) | (values >= self.p)
        if bad.any():
            first = values[bad].flat[0]
            raise ValueError(
                f"{what} value {first} does not fit arith:p={self.p}; accepted: integers in [0, {self.p})"
            )

    def env(self, X: np.ndarray) -> Env:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"arith takes inputs with 2 columns (x, y), got shape {X.shape}")
        self._check("input", X)
        return Env(len(X), {"x": X[:, 0].astype(self.dtype), "y": X[:, 1].astype(self.dtype)})

    def target(self, y: np.ndarray, mask: np.ndarray | None = None) -> Target:
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"arith predicts one label per example (y of shape (n,)), got shape {y.shape}")
        self._check("label", y)
        return Target(self.int_type, y.astype(self.dtype), None if mask is None else np.asarray(mask, bool))

    def decode(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values).astype(np.int64)

    def sample_inputs(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, self.p, size=(n, 2), dtype=np.int64)


@register_guesser
def _guess_arith(split: Split) -> str | None:
    """Two operand columns and one label per example: arithmetic mod the vocabulary size."""
    if split.X.shape[1] == 2 and not split.per_position and split.pad_id is None and is_prime(split.d_vocab):
        return f"arith:p={split.d_vocab}"
    return None
