"""The core on values with a trailing shape (sequence-valued types, as a sequence DSL will use):
a toy DSL over sequences of Z_4, per-position targets with a mask."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from synth import DSL, Budget, Enumerator, Env, Primitive, Prior, Target, Type

SEQ = Type("seq", np.uint8)


@dataclass(frozen=True)
class ToySeq(DSL):
    """Sequences over Z_4: the tokens, a right shift (0 enters), elementwise add mod 4, the
    constant 1 at every position."""

    family = "toyseq"

    def build_primitives(self) -> tuple[Primitive, ...]:
        def shift(a: np.ndarray) -> np.ndarray:
            out = np.zeros_like(a)
            out[..., 1:] = a[..., :-1]
            return out

        return (
            Primitive("tokens", (), SEQ, lambda env: env.inputs["tokens"]),
            Primitive("one", (), SEQ, lambda env: np.ones_like(env.inputs["tokens"])),
            Primitive("shift", (SEQ,), SEQ, shift),
            Primitive("add", (SEQ, SEQ), SEQ, lambda a, b: (a + b) & np.uint8(3), commutative=True),
        )

    def env(self, X: np.ndarray) -> Env:
        return Env(len(X), {"tokens": np.asarray(X, np.uint8) & np.uint8(3)})

    def target(self, y: np.ndarray, mask: np.ndarray | None = None) -> Target:
        return Target(SEQ, np.asarray(y, np.uint8), mask)

    def decode(self, values: np.ndarray) -> np.ndarray:
        return values.astype(np.int64)


@settings(max_examples=25)
@given(st.data())
def test_sequence_values_enumerate_and_match_masked_targets(data) -> None:
    dsl = ToySeq()
    n, length = data.draw(st.integers(1, 5)), data.draw(st.integers(2, 6))
    X = np.array(
        data.draw(
            st.lists(st.lists(st.integers(0, 3), min_size=length, max_size=length), min_size=n, max_size=n)
        )
    )
    env = dsl.env(X)
    program = dsl.parse(
        data.draw(
            st.sampled_from(
                [
                    "add(tokens, shift(tokens))",
                    "shift(shift(add(one, tokens)))",
                    "add(one, one)",
                    "shift(tokens)",
                ]
            )
        )
    )
    y = program.evaluate(env)
    mask = np.array(
        data.draw(st.lists(st.lists(st.booleans(), min_size=length, max_size=length), min_size=n, max_size=n))
    )
    y_masked = np.where(mask, y, 0)  # unscored entries hold junk the search must ignore
    prior = Prior(dsl.primitives)
    enum = Enumerator(
        prior, env, dsl.target(y_masked, mask), Budget(max_bits=prior.program_bits(program) + 0.01)
    )
    result = enum.run()
    assert result.found
    got = result.program.evaluate(env)
    assert got.shape == (n, length)
    assert (got[mask] == y[mask]).all()
    assert prior.program_qcost(result.program) <= prior.program_qcost(program)
    for prog, _, value in enum.bank_programs(SEQ):
        assert value.shape == (n, length)
        assert (prog.evaluate(env) == value).all()
