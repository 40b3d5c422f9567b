"""The program side of alignment: every subexpression's values, and interventions on them.

A program's subexpressions are the candidate intermediate variables a network may compute
(:meth:`synth.program.Program.trace`). An *intervention* sets one subexpression's value (per example,
or per position of a sequence value) and re-evaluates the rest of the program on top of it: the
high-level half of an interchange intervention (Geiger et al. 2021, "Causal Abstractions of Neural
Networks", NeurIPS). Every occurrence of the subexpression takes the set value (a repeated
subexpression is one variable).

:func:`evaluate_with` does this with the DSL's vectorized semantics on a whole batch;
:func:`interpret_with` evaluates each example on its own (a batch of one, values passed down the
tree by hand) and is what the property tests check the vectorized version against.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from synth.program import Env, Program

#: Value types that hold one selection matrix per example (query x key): compared with attention
#: patterns, never probed or intervened on through a residual stream.
SELECTOR_TYPES = ("sel",)


def subexpression_values(program: Program, env: Env) -> dict[Program, np.ndarray]:
    """Each distinct subexpression with its value on ``env`` (post-order, the program last)."""
    return dict(program.trace(env))


def _cast(sub: Program, value: np.ndarray, n: int) -> np.ndarray:
    value = np.asarray(value).astype(sub.type.dtype, copy=False)
    if value.shape[:1] != (n,):
        value = np.broadcast_to(value, (n, *value.shape[1:])).copy()
    return value


def evaluate_with(program: Program, env: Env, overrides: Mapping[Program, np.ndarray]) -> np.ndarray:
    """The program's value on ``env`` with each subexpression in ``overrides`` replaced by the given
    value (shape ``(n, ...)`` like its own value), and everything above it recomputed."""
    memo: dict[Program, np.ndarray] = {}

    def value(node: Program) -> np.ndarray:
        if node in memo:
            return memo[node]
        if node in overrides:
            out = _cast(node, overrides[node], env.n)
        elif node.children:
            out = _cast(node, node.prim.fn(*(value(c) for c in node.children)), env.n)
        else:
            out = _cast(node, node.prim.fn(env), env.n)
        memo[node] = out
        return out

    return value(program)


def mixed(base: np.ndarray, source: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``source`` where ``where`` is True, else ``base``; ``where`` has shape ``(n,)`` (whole
    examples) or the value's leading shape ``(n, L)`` (positions), broadcast over the rest."""
    where = np.asarray(where, bool)
    if where.shape != base.shape[: where.ndim]:
        raise ValueError(f"intervention mask of shape {where.shape} does not fit a value of {base.shape}")
    return np.where(where.reshape(where.shape + (1,) * (base.ndim - where.ndim)), source, base)


def intervene(
    program: Program, env: Env, sub: Program, source: np.ndarray, where: np.ndarray | None = None
) -> np.ndarray:
    """The program's output on ``env`` with ``sub`` set to ``source`` (its value on the source inputs,
    shape ``(n, ...)``) where ``where`` is True (``(n,)`` per example or ``(n, L)`` per position; None:
    everywhere), and its base value elsewhere."""
    if sub not in set(program.subexpressions()):
        raise ValueError(f"{sub} is not a subexpression of {program}")
    base = subexpression_values(program, env)[sub]
    source = _cast(sub, source, env.n)
    if source.shape != base.shape:
        raise ValueError(f"source value of shape {source.shape} differs from {sub}'s shape {base.shape}")
    value = source if where is None else mixed(base, source, where)
    return evaluate_with(program, env, {sub: value})


def _row(env: Env, i: int) -> Env:
    return Env(1, {name: np.asarray(v)[i : i + 1] for name, v in env.inputs.items()})


def interpret_with(program: Program, env: Env, overrides: Mapping[Program, np.ndarray]) -> np.ndarray:
    """What :func:`evaluate_with` computes, one example at a time: each example's inputs alone, the
    tree walked by hand with a fresh table per example (the reference for the property tests)."""
    rows = []
    for i in range(env.n):
        one = _row(env, i)

        def walk(node: Program, one: Env = one, i: int = i) -> np.ndarray:
            if node in overrides:
                return np.asarray(overrides[node])[i : i + 1].astype(node.type.dtype)
            if not node.children:
                return _cast(node, node.prim.fn(one), 1)
            return _cast(node, node.prim.fn(*(walk(c) for c in node.children)), 1)

        rows.append(walk(program)[0])
    return np.stack(rows) if rows else evaluate_with(program, env, overrides)


def aligned_subexpressions(program: Program) -> list[Program]:
    """The subexpressions worth aligning: every distinct non-terminal except selectors (those are
    compared with attention patterns instead); the program itself last. Terminals are the inputs
    and constants, which a network is given rather than computes."""
    return [s for s in program.subexpressions() if s.children and s.type.name not in SELECTOR_TYPES]


def selectors(program: Program) -> list[Program]:
    """The selector subexpressions (``sel_tok``, ``sel_eq``, ``sel_lt``, ``sel_le``)."""
    return [s for s in program.subexpressions() if s.type.name in SELECTOR_TYPES]
