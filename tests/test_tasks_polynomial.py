"""Polynomial ops (``modular:op=2x+3y``): the parser against an independent oracle, the canonical
form, the bounds, the CLI's errors, and the synthesizer's reach."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli import app
from synth import EnumerativeSynthesizer
from synth.dsl import parse_dsl
from tasks import ModularTask, SpecError, parse_task
from tasks.modular import NAMED_POLYNOMIALS, OPS, canonical_op
from tasks.polynomial import (
    MAX_DEGREE,
    MAX_DEPTH,
    MAX_LENGTH,
    degree,
    evaluate_mod,
    format_polynomial,
    parse_polynomial,
    reduce_mod,
)

PRIMES = [3, 5, 7, 11, 31, 97]
LARGEST_PRIME = 2039  # the largest prime the modular task accepts (p <= 2048)

# --- expression trees: generated, written out as text, and evaluated by their own oracle ---------
# A node is ("num", k) | ("var", "x"|"y") | (op, left, right) for add/sub/mul | ("neg", a) | ("pow", a, k).

leaves = st.one_of(
    st.tuples(st.just("num"), st.integers(0, 30)), st.tuples(st.just("var"), st.sampled_from("xy"))
)


def _extend(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.tuples(st.sampled_from(["add", "sub", "mul"]), children, children),
        st.tuples(st.just("neg"), children),
        st.tuples(st.just("pow"), children, st.integers(0, 3)),
    )


trees = st.recursive(leaves, _extend, max_leaves=8)


def oracle(node: tuple, x: int, y: int) -> int:
    """The tree's value with Python integers (exact, no reduction): the test's own evaluator."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "var":
        return x if node[1] == "x" else y
    if kind == "neg":
        return -oracle(node[1], x, y)
    if kind == "pow":
        return oracle(node[1], x, y) ** node[2]
    a, b = oracle(node[1], x, y), oracle(node[2], x, y)
    return {"add": a + b, "sub": a - b, "mul": a * b}[kind]


def nominal_degree(node: tuple) -> int:
    """An upper bound of the degree of every intermediate result (cancellation ignored)."""
    kind = node[0]
    if kind in ("num", "var"):
        return int(kind == "var")
    if kind == "neg":
        return nominal_degree(node[1])
    if kind == "pow":
        return nominal_degree(node[1]) * node[2]
    a, b = nominal_degree(node[1]), nominal_degree(node[2])
    return a + b if kind == "mul" else max(a, b)


LEVEL = {"num": 4, "var": 4, "pow": 3, "mul": 2, "add": 1, "sub": 1, "neg": 1}


def render(node: tuple, style: st.DataObject, need: int = 1) -> str:
    """The tree as text, in parentheses only where precedence needs them, with spellings drawn by
    ``style``: '*' or an implicit product, '^' or '**', spaces, upper-case variables."""
    kind = node[0]
    if kind == "num":
        text = str(node[1])
    elif kind == "var":
        text = style.draw(st.sampled_from([node[1], node[1].upper()]))
    elif kind == "neg":
        text = "-" + render(node[1], style, 2)
    elif kind == "pow":
        text = render(node[1], style, 4) + style.draw(st.sampled_from(["^", "**", " ^ "])) + str(node[2])
    elif kind == "mul":
        left, right = render(node[1], style, 2), render(node[2], style, 3)
        # A product is implicit only before x, y or '(' (the parser refuses "x2").
        seps = ["*", " * "] + (["", " "] if right[0] in "xyXY(" else [])
        text = left + style.draw(st.sampled_from(seps)) + right
    else:
        sign = "+" if kind == "add" else "-"
        text = render(node[1], style, 1) + style.draw(st.sampled_from([sign, f" {sign} "])) + render(
            node[2], style, 2)
    return f"({text})" if LEVEL[kind] < need else text


def _depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        deepest = max(deepest, depth)
    return deepest


pairs = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, style=st.data(), p=st.sampled_from(PRIMES), xy=pairs)
def test_parser_matches_the_oracle_and_its_canonical_form_round_trips(tree, style, p, xy):
    assume(nominal_degree(tree) <= MAX_DEGREE)
    text = render(tree, style)
    assume(_depth(text) <= MAX_DEPTH)
    poly = parse_polynomial(text)
    assert parse_polynomial(format_polynomial(poly)) == poly
    xs, ys = (np.array(v, dtype=np.int64) % p for v in zip(*xy, strict=True))
    task = ModularTask(op=text, p=p, test_fraction=0.5)
    expected = [oracle(tree, x, y) % p for x, y in zip(xs.tolist(), ys.tolist(), strict=True)]
    assert task.reference(np.stack([xs, ys], axis=1)).tolist() == expected
    again = parse_task(task.spec)
    assert again == task and again.spec == task.spec
    assert ModularTask(op=format_polynomial(poly), p=p).op == task.op  # two spellings, one task
    big = LARGEST_PRIME  # int64 arithmetic at the largest modulus (the task itself is too big to build)
    xs, ys = (np.array(v, dtype=np.int64) % big for v in zip(*xy, strict=True))
    expected = [oracle(tree, x, y) % big for x, y in zip(xs.tolist(), ys.tolist(), strict=True)]
    assert evaluate_mod(reduce_mod(poly, big), xs, ys, big).tolist() == expected


monomials = st.tuples(st.integers(0, MAX_DEGREE), st.integers(0, MAX_DEGREE)).filter(
    lambda m: sum(m) <= MAX_DEGREE
)
polys = st.dictionaries(monomials, st.integers(-(10**6), 10**6).filter(bool), max_size=20)


@settings(max_examples=150, deadline=None)
@given(poly=polys, p=st.sampled_from([*PRIMES, LARGEST_PRIME]))
def test_canonical_form_parses_back_to_the_same_polynomial(poly, p):
    assert parse_polynomial(format_polynomial(poly)) == poly
    reduced = reduce_mod(poly, p)
    assert all(-p // 2 < c <= p // 2 for c in reduced.values())
    op = canonical_op(format_polynomial(poly), p)
    assert canonical_op(op, p) == op  # canonical is a fixed point
    if op not in OPS:
        assert op == format_polynomial(reduced)


def test_canonical_form_orders_terms_by_degree_then_power_of_x():
    text = "y + 1 + x*y^2 + x^3 - 2(x-y)^2"
    assert format_polynomial(parse_polynomial(text)) == "x^3+xy^2-2x^2+4xy-2y^2+y+1"
    assert format_polynomial(parse_polynomial("x-x")) == "0"
    assert canonical_op("(x-y)^3", 97) == "x^3-3x^2y+3xy^2-y^3"
    assert canonical_op("2x + 100y", 97) == "2x+3y" and canonical_op("x - 50y", 97) == "x+47y"


@pytest.mark.parametrize(
    ("spelling", "name", "p"),
    [("y+x", "x+y", 97), ("x*x*x+x*y", "x^3+xy", 97), ("(x+y)^2-xy", "x^2+xy+y^2", 97),
     ("yx", "x*y", 7), ("x+98y", "x+y", 97), ("x+2y", "x-y", 3), ("Y**2 + X**2", "x^2+y^2", 31),
     ("x^3+xy^2+y", "x^3+xy^2+y", 5)],
)
def test_a_spelling_of_a_named_polynomial_resolves_to_its_name(spelling, name, p):
    task = parse_task(f"modular:op={spelling},p={p}")
    assert task.op == name and f"op={name}," in task.spec


def test_named_polynomials_are_read_from_the_names():
    assert set(OPS) - set(NAMED_POLYNOMIALS) == {"x/y", "x/y if y odd else x-y", "x+y if x even else x*y"}


def test_the_thirteen_named_ops_give_the_same_data_as_before():
    """Pinned before polynomial ops existed: specs, test splits and training sets of every named op."""
    import hashlib

    digest = hashlib.sha256()
    for p in (5, 31, 97):
        for op in OPS:
            task = ModularTask(op=op, p=p)
            for split in (task.test_split(), task.train_split(min(50, task.max_train), 1)):
                digest.update(split.X.tobytes() + split.y.tobytes() + task.spec.encode())
    assert digest.hexdigest() == "48f620d4ee528b7d47eab1dfb0ae84b93c2ec1b8cf798856eb90eee829b81c43"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("x^^2", ["unexpected '^' at character 3", "a number"]),
        ("x2", ["unexpected '2' at character 2"]),
        ("x+", ["unexpected end at character 3"]),
        ("2*-x", ["unexpected '-' at character 3"]),
        ("x^2^3", ["unexpected '^' at character 4"]),
        ("x/y+1", ["unexpected '/' at character 2"]),
        ("xé", ["unexpected 'é' at character 2"]),
        ("x^13", ["exponent 13", f"up to {MAX_DEGREE}"]),
        ("2**70", ["exponent 70"]),
        ("(x+y)^7(x+y)^6", ["degree 13", "character 8"]),
        ("(x^2+y)^7", ["degree 14"]),
        ("(" * 17 + "x" + ")" * 17, [f"deeper than {MAX_DEPTH}", "character 17"]),
        ("x+" * 700 + "y", [f"at most {MAX_LENGTH}"]),
    ],
)
def test_malformed_or_oversized_expressions_name_what_is_wrong(text, words):
    with pytest.raises(SpecError) as info:
        parse_polynomial(text)
    for word in words:
        assert word in str(info.value)
    assert "\n" not in str(info.value)


def test_bounds_keep_the_largest_inputs_cheap_and_every_canonical_form_parses():
    worst = {(i, j): -(LARGEST_PRIME // 2) for i in range(MAX_DEGREE + 1) for j in range(MAX_DEGREE + 1 - i)}
    text = format_polynomial(worst)  # every monomial, the longest coefficients at the largest prime
    assert len(text) <= MAX_LENGTH and parse_polynomial(text) == worst
    piece = "(x+y+1)^6(x-y+2)^6"  # two 28-term expansions and their 784 products, repeated
    crafted = "+".join([piece] * ((MAX_LENGTH + 1) // (len(piece) + 1)))
    start = time.perf_counter()
    poly = parse_polynomial(crafted)
    assert degree(poly) <= MAX_DEGREE and time.perf_counter() - start < 5
    task = ModularTask(op=crafted, p=LARGEST_PRIME)
    assert len(task.train_split(100).y) == 100


runner = CliRunner()


def test_cli_rejects_a_malformed_op_naming_the_character():
    result = runner.invoke(app, ["sample", "modular:op=x^^2"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "unknown op 'x^^2'" in result.stderr and "'^' at character 3" in result.stderr


@pytest.mark.parametrize(
    "spec", ["modular:op=(x-y)^3,p=7", "modular:op=((x-y)^3),p=7", "modular:op=x^3-3x^2y+3xy^2-y^3,p=7"]
)
def test_cli_samples_a_polynomial_op_written_as_it_comes(spec):
    result = runner.invoke(app, ["sample", spec, "--n", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# modular:op=x^3-3x^2y+3xy^2-y^3,p=7,test_fraction=0.5 |")


def _program(poly: dict, max_const: int) -> str:
    """An arith program for ``poly`` (coefficients in [0, p)), constants above max_const as sums."""

    def const(c: int) -> str:
        terms = [str(max_const)] * (c // max_const) + ([str(c % max_const)] if c % max_const else [])
        text = terms[0]
        for term in terms[1:]:
            text = f"add({text}, {term})"
        return text

    def monomial(i: int, j: int, c: int) -> str:
        factors = [const(c)] + ["x"] * i + ["y"] * j
        text = factors[0]
        for factor in factors[1:]:
            text = f"mul({text}, {factor})"
        return text

    parts = [monomial(i, j, c) for (i, j), c in poly.items()] or ["sub(x, x)"]
    text = parts[0]
    for part in parts[1:]:
        text = f"add({text}, {part})"
    return text


@settings(max_examples=30, deadline=None)
@given(poly=st.dictionaries(monomials.filter(lambda m: sum(m) <= 4), st.integers(1, 30), max_size=5),
       p=st.sampled_from([5, 11, 31]))
def test_the_arith_dsl_expresses_every_polynomial_op(poly, p):
    task = ModularTask(op=format_polynomial(poly) if poly else "0", p=p)
    dsl = parse_dsl(f"arith:p={p},max_const=2")
    reduced = {m: c % p for m, c in reduce_mod(poly, p).items()}
    X = task.test_split().X
    values = dsl.decode(dsl.parse(_program(reduced, 2)).evaluate(dsl.env(X)))
    np.testing.assert_array_equal(values, task.reference(X))


@pytest.mark.parametrize(("op", "n"), [("2x+3y", 8), ("(x-y)^3", 6), ("3*x^2 - y", 8)])
def test_the_synthesizer_finds_a_consistent_program_for_polynomial_ops(op, n):
    task = ModularTask(op=op, p=11)
    train = task.train_split(n, seed=0)
    model = EnumerativeSynthesizer(dsl="arith:p=11", max_bits=40, time_limit=20).fit(train.X, train.y)
    np.testing.assert_array_equal(model.predict(train.X), train.y)
    assert model.program_ is not None and model.bits_ < 40


def test_dlps_tasks_describes_polynomial_ops_and_their_bounds():
    out = " ".join(runner.invoke(app, ["tasks"]).output.split())  # the help is wrapped to the width
    for text in ("a polynomial in x and y", "(x-y)^3", f"total degree at most {MAX_DEGREE}", "by descending"):
        assert text in out, text
