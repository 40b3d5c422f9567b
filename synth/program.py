"""Programs: typed trees of primitives that print as code, parse back, and evaluate on a batch.

``str(program)`` is function-call syntax, e.g. ``add(mul(x, x), y)``; :func:`parse_program`
reads it back (``parse_program(str(p), prims) == p``). ``program.evaluate(env)`` computes its
value on every example at once; ``program.trace(env)`` lists each distinct subexpression with its
value (the candidate intermediate variables that mechanism analysis looks for in networks).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from synth.types import Primitive, Type


@dataclass(frozen=True)
class Env:
    """The inputs of a batch of ``n`` examples, as the DSL's terminals read them."""

    n: int
    inputs: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, eq=True)
class Program:
    """A node: a primitive applied to child programs (none for a terminal)."""

    prim: Primitive
    children: tuple[Program, ...] = ()

    def __post_init__(self) -> None:
        if len(self.children) != self.prim.arity:
            raise ValueError(f"{self.prim.name} takes {self.prim.arity} arguments, got {len(self.children)}")
        for i, (child, want) in enumerate(zip(self.children, self.prim.args, strict=True)):
            if child.type != want:
                raise ValueError(
                    f"argument {i + 1} of {self.prim.name} must be {want}, got {child} of type {child.type}"
                )

    @property
    def type(self) -> Type:
        return self.prim.ret

    @cached_property
    def _text(self) -> str:
        if not self.children:
            return self.prim.name
        return f"{self.prim.name}({', '.join(str(c) for c in self.children)})"

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Program({self._text!r})"

    @cached_property
    def _hash(self) -> int:
        return hash((self.prim, self.children))

    def __hash__(self) -> int:
        return self._hash

    @property
    def size(self) -> int:
        """Number of nodes."""
        return 1 + sum(c.size for c in self.children)

    @property
    def depth(self) -> int:
        return 1 + max((c.depth for c in self.children), default=0)

    def nodes(self) -> Iterator[Program]:
        """Every node, children before parents (post-order), repeats included."""
        for child in self.children:
            yield from child.nodes()
        yield self

    def subexpressions(self) -> list[Program]:
        """The distinct subprograms, children before parents, the program itself last."""
        return list(dict.fromkeys(self.nodes()))

    def evaluate(self, env: Env) -> np.ndarray:
        """The value on every example of ``env``: an array of shape ``(n, ...)``."""
        return self._eval(env, {})

    def trace(self, env: Env) -> list[tuple[Program, np.ndarray]]:
        """Each distinct subexpression with its value on ``env`` (post-order, program last)."""
        memo: dict[Program, np.ndarray] = {}
        self._eval(env, memo)
        return [(sub, memo[sub]) for sub in self.subexpressions()]

    def _eval(self, env: Env, memo: dict[Program, np.ndarray]) -> np.ndarray:
        if self in memo:
            return memo[self]
        if self.children:
            value = self.prim.fn(*(c._eval(env, memo) for c in self.children))
        else:
            value = self.prim.fn(env)
        value = np.asarray(value).astype(self.type.dtype, copy=False)
        if value.shape[:1] != (env.n,):
            value = np.broadcast_to(value, (env.n, *value.shape[1:])).copy()
        memo[self] = value
        return value


_TOKEN = re.compile(r"\s*([(),]|[^\s(),]+)")


def tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # only trailing whitespace can fail to match, and it was stripped
            raise ValueError(f"cannot read program text at position {pos}: {text[pos:]!r}")
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


def parse_program(text: str, primitives: Mapping[str, Primitive]) -> Program:
    """Read a program printed by ``str``; ValueError names what is wrong (unknown name, arity, type)."""
    tokens = tokenize(text)
    if not tokens:
        raise ValueError("empty program text")
    pos = 0

    def expect(tok: str) -> None:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] != tok:
            got = tokens[pos] if pos < len(tokens) else "end of text"
            raise ValueError(f"expected {tok!r} but found {got!r} in {text!r}")
        pos += 1

    def node() -> Program:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError(f"program text ends too early: {text!r}")
        name = tokens[pos]
        if name in "(),":
            raise ValueError(f"expected a primitive name but found {name!r} in {text!r}")
        pos += 1
        if name not in primitives:
            accepted = ", ".join(sorted(primitives))
            raise ValueError(f"unknown primitive {name!r} in {text!r}; accepted: {accepted}")
        prim = primitives[name]
        children: list[Program] = []
        if prim.arity:
            expect("(")
            for i in range(prim.arity):
                if i:
                    expect(",")
                children.append(node())
            expect(")")
        return Program(prim, tuple(children))

    program = node()
    if pos != len(tokens):
        raise ValueError(f"unexpected {tokens[pos]!r} after the program in {text!r}")
    return program
