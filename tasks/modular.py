"""Modular arithmetic: ``(x op y) mod p`` for the binary operations of Power et al. (2022), or for
any polynomial in x and y with integer coefficients (``2x+3y``, ``(x-y)^3``; :mod:`tasks.polynomial`).

Every valid pair ``(x, y)`` in ``[0, p)^2`` is one example (division excludes ``y = 0``). A fixed
fraction of the pairs, chosen by a hash of the spec, is the test split; training sets are the
first ``n`` pairs of the rest in an order drawn from the seed, so they are nested in ``n``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from tasks.base import SpecError, Split, Task, drawn_once, is_prime, stable_seed
from tasks.polynomial import (
    MAX_DEGREE,
    MAX_LENGTH,
    Poly,
    evaluate_mod,
    format_polynomial,
    parse_polynomial,
    reduce_mod,
)
from tasks.registry import register

#: Largest modulus accepted: the task materializes all p² pairs.
MAX_P = 2048

Op = Callable[[np.ndarray, np.ndarray, int, np.ndarray], np.ndarray]


def _poly(*terms: tuple[int, int]) -> Op:
    """Sum of monomials x^i y^j (given as (i, j)), reduced mod p after every product so that
    int64 never overflows for p < 2^31."""

    def op(x: np.ndarray, y: np.ndarray, p: int, inv: np.ndarray) -> np.ndarray:
        total = np.zeros_like(x)
        for i, j in terms:
            term = np.ones_like(x)
            for _ in range(i):
                term = term * x % p
            for _ in range(j):
                term = term * y % p
            total = (total + term) % p
        return total

    return op


def _div(x: np.ndarray, y: np.ndarray, p: int, inv: np.ndarray) -> np.ndarray:
    return x * inv[y] % p


def _div_or_sub(x: np.ndarray, y: np.ndarray, p: int, inv: np.ndarray) -> np.ndarray:
    return np.where(y % 2 == 1, x * inv[y] % p, (x - y) % p)


def _add_or_mul(x: np.ndarray, y: np.ndarray, p: int, inv: np.ndarray) -> np.ndarray:
    return np.where(x % 2 == 0, (x + y) % p, x * y % p)


#: The operations, by canonical name, in the order of Power et al.
OPS: dict[str, Op] = {
    "x+y": _poly((1, 0), (0, 1)),
    "x-y": lambda x, y, p, inv: (x - y) % p,
    "x*y": _poly((1, 1)),
    "x/y": _div,
    "x^2+y": _poly((2, 0), (0, 1)),
    "x^3+y": _poly((3, 0), (0, 1)),
    "x^2+y^2": _poly((2, 0), (0, 2)),
    "x^2+xy+y^2": _poly((2, 0), (1, 1), (0, 2)),
    "x^2+xy+y^2+x": _poly((2, 0), (1, 1), (0, 2), (1, 0)),
    "x^3+xy": _poly((3, 0), (1, 1)),
    "x^3+xy^2+y": _poly((3, 0), (1, 2), (0, 1)),
    "x/y if y odd else x-y": _div_or_sub,
    "x+y if x even else x*y": _add_or_mul,
}

#: Operations undefined at y = 0 (those pairs are not examples).
NONZERO_Y = frozenset({"x/y"})


def _key(op: str) -> str:
    """Lenient form of an op name: spaces/underscores dropped, ``**`` read as ``^``."""
    return op.replace("**", "^").replace("_", "").replace(" ", "").lower()


_BY_KEY = {_key(name): name for name in OPS}


def _named_polynomials() -> dict[str, Poly]:
    """The named operations that are polynomials (all but the divisions and the conditionals), read
    from their own spelling, so that no second copy of them is kept by hand."""
    out = {}
    for name in OPS:
        try:
            out[name] = parse_polynomial(name)
        except SpecError:
            continue
    return out


NAMED_POLYNOMIALS = _named_polynomials()

_ABOUT_POLYNOMIALS = (
    f"or a polynomial in x and y with integer coefficients (e.g. 2x+3y, (x-y)^3, 3*x^2 - y; powers ^ or **, "
    f"implicit products 2x and xy; total degree at most {MAX_DEGREE}, at most {MAX_LENGTH} characters)"
)


def canonical_op(op: str, p: int | None = None) -> str:
    """The canonical name of ``op``: a named operation by its name (``x/y_if_y_odd_else_x-y`` →
    ``x/y if y odd else x-y``, ``y+x`` → ``x+y``), any other polynomial by its expanded monomials
    (:func:`tasks.polynomial.format_polynomial`), with coefficients reduced mod ``p`` when given
    (``x+98y`` at p = 97 is ``x+y``: one polynomial over Z_p, one task)."""
    name = _BY_KEY.get(_key(op))
    if name is not None:
        return name
    try:
        poly = parse_polynomial(op)
    except SpecError as exc:
        raise SpecError(f"modular: unknown op {op!r}: {exc}; an op is one of {', '.join(OPS)}, "
                        f"{_ABOUT_POLYNOMIALS}") from None
    if p is not None:
        poly = reduce_mod(poly, p)
    for name, named in NAMED_POLYNOMIALS.items():
        if poly == (named if p is None else reduce_mod(named, p)):
            return name
    return format_polynomial(poly)


@register
@dataclass(frozen=True)
class ModularTask(Task):
    """``(x op y) mod p``; X columns ``x, y``; ``d_vocab = n_classes = p``."""

    op: str = "x+y"
    p: int = 97
    test_fraction: float = 0.5

    family = "modular"
    summary = "(x op y) mod p for the 13 binary operations of Power et al. (2022) or any polynomial"
    param_help = {
        "op": (
            "operation, one of: " + ", ".join(OPS) + " (spaces may be written as _), " + _ABOUT_POLYNOMIALS
            + "; a polynomial prints expanded (terms by descending degree, then power of x; coefficients "
            "mod p in (-p/2, p/2)) and one equal to a named operation prints as its name"
        ),
        "p": f"modulus: a prime in [3, {MAX_P}]",
        "test_fraction": "share of the valid pairs held out as the test split, in (0, 1)",
    }

    def __post_init__(self) -> None:
        if not (3 <= self.p <= MAX_P and is_prime(self.p)):
            raise SpecError(f"modular: p={self.p} is not accepted; p must be a prime in [3, {MAX_P}]")
        # Canonicalize aliases and spellings so that the spec always prints the canonical op (the
        # test split is hashed from the spec: two spellings of one operation are one task). p is
        # checked first because a polynomial's canonical form reduces its coefficients mod p.
        object.__setattr__(self, "op", canonical_op(self.op, self.p))
        if not 0.0 < self.test_fraction < 1.0:
            raise SpecError(
                f"modular: test_fraction={self.test_fraction} is not accepted; it must lie in (0, 1)"
            )
        n_test, n_valid = self._n_test(), len(self._pairs)
        if n_test == 0 or n_test == n_valid:
            raise SpecError(
                f"modular: test_fraction={self.test_fraction} leaves an empty "
                f"{'test split' if n_test == 0 else 'training pool'} of the {n_valid} pairs"
            )

    # --- data -------------------------------------------------------------------------------

    @cached_property
    def _inverse(self) -> np.ndarray:
        """inv[y] = y^(p-2) mod p, the inverse of y for y != 0 (inv[0] = 0 by the same formula)."""
        return np.array([pow(v, self.p - 2, self.p) for v in range(self.p)], dtype=np.int64)

    @cached_property
    def _polynomial(self) -> Poly | None:
        """The op as a polynomial when it is not one of the named operations (those keep their own
        code in OPS, so that their data never changes)."""
        return None if self.op in OPS else parse_polynomial(self.op)

    @cached_property
    def _pairs(self) -> np.ndarray:
        """All valid (x, y) pairs in row-major order, read-only."""
        x, y = np.divmod(np.arange(self.p * self.p, dtype=np.int64), self.p)
        pairs = np.stack([x, y], axis=1)
        if self.op in NONZERO_Y:
            pairs = pairs[pairs[:, 1] != 0]
        pairs.setflags(write=False)
        return pairs

    def _n_test(self) -> int:
        return int(round(self.test_fraction * len(self._pairs)))

    @cached_property
    def _is_test(self) -> np.ndarray:
        """Boolean over ``_pairs``: held out for the test split (a function of the spec alone)."""
        rng = np.random.default_rng(stable_seed("modular/test", self.spec))
        chosen = np.zeros(len(self._pairs), dtype=bool)
        chosen[rng.permutation(len(self._pairs))[: self._n_test()]] = True
        chosen.setflags(write=False)
        return chosen

    def _split(self, X: np.ndarray, name: str, **meta: object) -> Split:
        return Split(
            X=X,
            y=self.reference(X),
            d_vocab=self.p,
            n_classes=self.p,
            columns=("x", "y"),
            name=name,
            meta={"task": self.spec, **meta},
        )

    # --- the Task interface -----------------------------------------------------------------

    @property
    def max_train(self) -> int:
        return len(self._pairs) - self._n_test()

    @drawn_once
    def test_split(self) -> Split:
        return self._split(self._pairs[self._is_test].copy(), "test")

    def train_split(self, n: int, seed: int = 0) -> Split:
        self.check_train_size(n)
        pool = self._pairs[~self._is_test]
        # The order of the whole pool depends on the seed alone, so the first n are nested in n.
        order = np.random.default_rng(stable_seed("modular/train", self.spec, seed)).permutation(len(pool))
        return self._split(pool[order[:n]], "train", seed=seed)

    @drawn_once
    def ood_split(self, name: str) -> Split:
        raise SpecError(f"modular has no out-of-distribution splits; asked for {name!r}")

    def reference(self, X: np.ndarray) -> np.ndarray:
        """``(x op y) mod p`` for the rows ``(x, y)`` of X. For ``x/y`` at ``y = 0`` (not an example)
        the Fermat formula ``x * y^(p-2)`` gives 0."""
        X = np.asarray(X, dtype=np.int64)
        x, y = X[:, 0] % self.p, X[:, 1] % self.p
        if self._polynomial is not None:
            return evaluate_mod(self._polynomial, x, y, self.p)
        return OPS[self.op](x, y, self.p, self._inverse)
