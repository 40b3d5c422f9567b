"""One spec grammar: nesting and tuples in parentheses, ``none``, values typed from the hints."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import SpecError
from tasks.spec import coerce, format_value, join_spec, split_spec, typed_params

words = st.text(st.sampled_from("abcxyz0123456789+-*^._/"), min_size=1, max_size=6).filter(
    lambda w: w.lower() != "none")
keys = st.text(st.sampled_from("abcdefgh_"), min_size=1, max_size=5)


def specs(depth: int = 2):
    """Random specs: bare values, tuples and nested specs in parentheses."""
    value = words
    if depth:
        value = st.one_of(words, st.tuples(words, words).map(lambda t: f"({t[0]},{t[1]})"),
                          specs(depth - 1).map(lambda s: f"({s})"))
    return st.builds(lambda fam, params: join_raw(fam, params), keys,
                     st.dictionaries(keys, value, max_size=3))


def join_raw(family: str, params: dict[str, str]) -> str:
    return f"{family}:{','.join(f'{k}={v}' for k, v in params.items())}" if params else family


@settings(max_examples=200)
@given(specs())
def test_split_spec_round_trips_nested_specs_and_tuples(spec):
    family, params = split_spec(spec)
    assert join_raw(family, params) == spec
    for value in params.values():
        if value.startswith("(") and ":" in value:  # a nested spec splits the same way
            inner_family, inner = split_spec(value[1:-1])
            assert join_raw(inner_family, inner) == value[1:-1]


@dataclass
class Example:
    count: int = 1
    rate: float = 0.5
    flag: bool = False
    name: str = "x"
    inner: str = "arith:p=7"
    steps: tuple[int, ...] = ()
    limit: int | None = None
    weights: dict[str, float] | None = None


values = st.fixed_dictionaries({}, optional={
    "count": st.integers(-10**6, 10**6),
    "rate": st.floats(allow_nan=False, allow_infinity=False, width=32),
    "flag": st.booleans(),
    "name": words,
    "inner": specs(1),
    "steps": st.lists(st.integers(0, 10**6), max_size=4).map(tuple),
    "limit": st.one_of(st.none(), st.integers(0, 99)),
    "weights": st.one_of(st.none(), st.dictionaries(keys, st.floats(0, 10, width=32), max_size=3)),
})


@settings(max_examples=200)
@given(values)
def test_typed_values_round_trip_through_their_text(params):
    spec = join_spec("example", params)
    family, raw = split_spec(spec)
    assert family == "example"
    typed = typed_params(Example, family, raw)
    expected = {k: tuple(v) if k == "steps" else v for k, v in params.items()}
    if "rate" in expected:
        expected["rate"] = float(expected["rate"])
    assert typed == expected


def test_examples_of_the_grammar():
    family, raw = split_spec("synth:dsl=(arith:p=97,max_const=3),weights=(add=2,ite=0.5)")
    assert raw == {"dsl": "(arith:p=97,max_const=3)", "weights": "(add=2,ite=0.5)"}
    assert coerce(raw["dsl"], str, "dsl", family) == "arith:p=97,max_const=3"
    assert coerce(raw["weights"], dict[str, float], "weights", family) == {"add": 2.0, "ite": 0.5}
    assert coerce("(0,100,1000)", tuple[int, ...], "checkpoint_steps", "t") == (0, 100, 1000)
    assert coerce("5", tuple[int, ...], "checkpoint_steps", "t") == (5,)
    assert coerce("none", int | None, "batch_size", "t") is None
    assert format_value(None) == "none" and format_value((1, 2)) == "(1,2)"


@pytest.mark.parametrize("spec, message", [
    ("a:b=(1,2", "unbalanced '('"),
    ("a:b=1)", "unbalanced ')'"),
    ("a:b", "expected key=value"),
    ("a:b=1,b=2", "given twice"),
])
def test_malformed_specs_say_what_is_wrong(spec, message):
    with pytest.raises(SpecError) as error:
        split_spec(spec)
    assert message in str(error.value)
