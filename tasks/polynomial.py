"""Polynomials in ``x`` and ``y`` with integer coefficients: a small parser of their own (recursive
descent over the characters, never ``eval``), arithmetic on expanded monomials, a canonical text
and evaluation mod p.

Grammar (spaces, and ``_`` for spaces as in op names, are skipped; ``X``/``Y`` read as ``x``/``y``)::

    expr  := ['+' | '-'] term (('+' | '-') term)*
    term  := power (['*'] power)*       # implicit product only before x, y or '(': 2x, xy, 2(x+y)
    power := atom [('^' | '**') INT]    # one exponent, 0..MAX_DEGREE: x^2^3 is refused, (x^2)^3 is not
    atom  := INT | 'x' | 'y' | '(' expr ')'

A number right after a factor (``x2``) is refused rather than read as a product: it is more likely a
mistyped power. Bounds keep a crafted expression cheap: at most :data:`MAX_LENGTH` characters,
parentheses nested at most :data:`MAX_DEPTH` deep (the parser recurses), and no exponent and no
intermediate product of total degree above :data:`MAX_DEGREE` (so at most 91 monomials, each
expansion step at most 91 × 91 products).
"""

from __future__ import annotations

import numpy as np

from tasks.errors import SpecError

#: A polynomial: coefficient of ``x^i y^j`` by ``(i, j)``; zero coefficients are never stored.
Poly = dict[tuple[int, int], int]

#: Longest expression accepted, in characters. Large enough for the canonical form of any polynomial
#: of degree MAX_DEGREE with coefficients reduced mod a prime below 2^11 (the modular task's p), so
#: that every canonical spec parses back.
MAX_LENGTH = 1200
#: Highest total degree of the polynomial and of every intermediate result, and largest exponent.
MAX_DEGREE = 12
#: Deepest nesting of parentheses.
MAX_DEPTH = 16


def degree(poly: Poly) -> int:
    """Total degree (0 for constants, including the zero polynomial)."""
    return max((i + j for i, j in poly), default=0)


def _add(a: Poly, b: Poly, sign: int = 1) -> Poly:
    out = dict(a)
    for mono, c in b.items():
        out[mono] = out.get(mono, 0) + sign * c
    return {m: c for m, c in out.items() if c}


def _mul(a: Poly, b: Poly) -> Poly:
    out: Poly = {}
    for (i, j), c in a.items():
        for (k, m), d in b.items():
            out[i + k, j + m] = out.get((i + k, j + m), 0) + c * d
    return {m: c for m, c in out.items() if c}


class _Parser:
    """One pass over ``text``; each method consumes what it reads and returns the polynomial."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.depth = text, 0, 0

    def fail(self, expected: str, at: int | None = None) -> SpecError:
        at = self.pos if at is None else at
        found = f"{self.text[at]!r}" if at < len(self.text) else "end"
        return SpecError(f"unexpected {found} at character {at + 1} of {self.text!r}; expected {expected}")

    def peek(self) -> str:
        """The next significant character ('' at the end), after skipping spaces and ``_``."""
        while self.pos < len(self.text) and (self.text[self.pos].isspace() or self.text[self.pos] == "_"):
            self.pos += 1
        return self.text[self.pos].lower() if self.pos < len(self.text) else ""

    def take(self, token: str) -> bool:
        """Consume ``token`` if it comes next (after :meth:`peek`)."""
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def integer(self) -> tuple[int, int]:
        """An unsigned decimal integer and the position where it starts."""
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in "0123456789":
            self.pos += 1
        if start == self.pos:
            raise self.fail("a number")
        return int(self.text[start : self.pos]), start

    def expr(self) -> Poly:
        sign = -1 if self.peek() == "-" else 1
        if self.peek() in ("+", "-"):
            self.pos += 1
        total = _add({}, self.term(), sign)
        while self.peek() in ("+", "-"):
            sign = 1 if self.text[self.pos] == "+" else -1
            self.pos += 1
            total = _add(total, self.term(), sign)
        return total

    def term(self) -> Poly:
        product = self.power()
        while True:
            # A '*' here is a product: power() has already taken any '**' that follows a factor.
            at = self.pos if self.peek() else len(self.text)
            if not self.take("*") and self.peek() not in ("x", "y", "("):
                return product
            factor = self.power()
            if degree(product) + degree(factor) > MAX_DEGREE:
                raise SpecError(f"the product at character {at + 1} of {self.text!r} has degree "
                                f"{degree(product) + degree(factor)}; at most {MAX_DEGREE} is accepted")
            product = _mul(product, factor)

    def power(self) -> Poly:
        base = self.atom()
        self.peek()
        if not (self.take("^") or self.take("**")):
            return base
        self.peek()
        k, at = self.integer()
        if k > MAX_DEGREE:
            raise SpecError(f"exponent {k} at character {at + 1} of {self.text!r}; exponents up to "
                            f"{MAX_DEGREE} are accepted")
        if degree(base) * k > MAX_DEGREE:
            raise SpecError(f"the power ^{k} at character {at + 1} of {self.text!r} gives degree "
                            f"{degree(base) * k}; at most {MAX_DEGREE} is accepted")
        result: Poly = {(0, 0): 1}
        for _ in range(k):
            result = _mul(result, base)
        return result

    def atom(self) -> Poly:
        ch = self.peek()
        if ch in ("x", "y"):
            self.pos += 1
            return {(1, 0) if ch == "x" else (0, 1): 1}
        if ch.isdigit() and ch.isascii():
            value, _ = self.integer()
            return {(0, 0): value} if value else {}
        if ch == "(":
            if self.depth == MAX_DEPTH:
                raise SpecError(f"parentheses nested deeper than {MAX_DEPTH} at character {self.pos + 1} "
                                f"of {self.text!r}")
            self.pos, self.depth = self.pos + 1, self.depth + 1
            inner = self.expr()
            if self.peek() != ")":
                raise self.fail("an operator (+ - * ^) or ')'")
            self.pos, self.depth = self.pos + 1, self.depth - 1
            return inner
        raise self.fail("x, y, a number or '('")


def parse_polynomial(text: str) -> Poly:
    """The expanded polynomial written by ``text`` (integer coefficients, not reduced).

    SpecError, in one line, names the offending character and its position (1-based), or the bound
    that was passed (:data:`MAX_LENGTH`, :data:`MAX_DEPTH`, :data:`MAX_DEGREE`).
    """
    if len(text) > MAX_LENGTH:
        raise SpecError(f"expression of {len(text)} characters; at most {MAX_LENGTH} are accepted")
    parser = _Parser(text)
    poly = parser.expr()
    if parser.peek():
        unmatched = parser.peek() == ")"
        raise parser.fail("no ')': it has no '(' to close" if unmatched else "an operator (+ - * ^)")
    return poly


def reduce_mod(poly: Poly, p: int) -> Poly:
    """Coefficients reduced mod ``p`` to the representatives of least magnitude (in ``(-p/2, p/2]``),
    zeros dropped: one polynomial over Z_p has one reduced form, and ``x-y`` stays ``x-y``."""
    out = {}
    for mono, c in poly.items():
        r = c % p
        if r > p // 2:
            r -= p
        if r:
            out[mono] = r
    return out


def _monomial(i: int, j: int) -> str:
    return "".join(v if e == 1 else f"{v}^{e}" for v, e in (("x", i), ("y", j)) if e)


def format_polynomial(poly: Poly) -> str:
    """The canonical text: expanded monomials by descending total degree, then descending power of
    x (``x^3+xy^2+y``, ``x^2-2xy+y^2``, ``3x-1``); coefficients ±1 are not written, ``0`` for zero.
    :func:`parse_polynomial` reads it back to the same polynomial."""
    parts = []
    for i, j in sorted(poly, key=lambda m: (-(m[0] + m[1]), -m[0])):
        c, mono = poly[i, j], _monomial(i, j)
        digits = str(abs(c)) if abs(c) != 1 or not mono else ""
        parts.append(("-" if c < 0 else "+") + digits + mono)
    return "".join(parts).removeprefix("+") or "0"


def evaluate_mod(poly: Poly, x: np.ndarray, y: np.ndarray, p: int) -> np.ndarray:
    """``poly(x, y) mod p`` elementwise for int64 arrays of values in ``[0, p)``, reduced after every
    product so that int64 never overflows for p < 2^31 (the reduction of ``tasks.modular._poly``);
    powers of x and y are computed once and shared by the monomials."""
    x_pows, y_pows = [np.ones_like(x)], [np.ones_like(y)]
    for _ in range(max((i for i, _ in poly), default=0)):
        x_pows.append(x_pows[-1] * x % p)
    for _ in range(max((j for _, j in poly), default=0)):
        y_pows.append(y_pows[-1] * y % p)
    total = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.int64)
    for (i, j), c in poly.items():
        total = (total + (c % p) * (x_pows[i] * y_pows[j] % p)) % p
    return total
