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
                    f"argument {i + 1} of {self.prim.name} must be {want}, got {quote(str(child))} of type "
                    f"{child.type}"
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

#: The longest program text read (characters). Synthesized programs are a few hundred characters at
#: most; the limit keeps a pasted file or junk from being tokenized and echoed whole.
MAX_PROGRAM_CHARS = 10_000
#: The deepest program read (nested calls). Searches find programs of depth under 10; the limit keeps
#: the recursive parser, hashing and evaluation of a program well inside Python's stack.
MAX_PROGRAM_DEPTH = 100
#: How much of a program text an error message quotes.
QUOTE_CHARS = 80


def quote(text: str, limit: int = QUOTE_CHARS, length: bool = True) -> str:
    """``repr(text)``, cut to about ``limit`` characters with its ``length`` said: errors quote the
    program they refuse, never all of a long one."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit - 3]!r}..." + (f" ({len(text):,} characters)" if length else "")


def tokenize(text: str) -> list[str]:
    """The tokens of a program text: names, ``(``, ``)`` and ``,``."""
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # only trailing whitespace can fail to match, and it was stripped
            raise ValueError(f"cannot read program text at position {pos}: {quote(text[pos:])}")
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


def _check_size(text: str, tokens: list[str]) -> None:
    """ValueError (one line) for a text longer than :data:`MAX_PROGRAM_CHARS` or nested deeper than
    :data:`MAX_PROGRAM_DEPTH`, found without recursing (before the recursive parser runs)."""
    if len(text) > MAX_PROGRAM_CHARS:
        raise ValueError(f"program text of {len(text):,} characters, more than the {MAX_PROGRAM_CHARS:,} "
                         f"a program may have: {quote(text, length=False)}")
    depth = deepest = 0
    for token in tokens:
        depth += (token == "(") - (token == ")")
        deepest = max(deepest, depth)
    if deepest + 1 > MAX_PROGRAM_DEPTH:
        raise ValueError(f"program nested {deepest + 1:,} calls deep, more than the {MAX_PROGRAM_DEPTH} a "
                         f"program may have: {quote(text, length=False)}")


def parse_program(text: str, primitives: Mapping[str, Primitive]) -> Program:
    """Read a program printed by ``str``; ValueError (one line, quoting at most about
    :data:`QUOTE_CHARS` characters of the text) names what is wrong: unknown name, arity, type,
    a text too long or nested too deep."""
    if len(text) > MAX_PROGRAM_CHARS:  # before tokenizing: a huge text is refused at once
        _check_size(text, [])
    tokens = tokenize(text)
    if not tokens:
        raise ValueError("empty program text")
    _check_size(text, tokens)
    pos = 0
    shown = quote(text)

    def expect(tok: str) -> None:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] != tok:
            got = tokens[pos] if pos < len(tokens) else "end of text"
            raise ValueError(f"expected {tok!r} but found {quote(got, 40)} in {shown}")
        pos += 1

    def node() -> Program:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError(f"program text ends too early: {shown}")
        name = tokens[pos]
        if name in "(),":
            raise ValueError(f"expected a primitive name but found {name!r} in {shown}")
        pos += 1
        if name not in primitives:
            accepted = ", ".join(sorted(primitives))
            raise ValueError(f"unknown primitive {quote(name, 40)} in {shown}; accepted: {accepted}")
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
        raise ValueError(f"unexpected {quote(tokens[pos], 40)} after the program in {shown}")
    return program
