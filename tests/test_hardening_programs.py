"""Program text has a length and a depth limit, and every refusal is one line quoting at most about 80
characters of it (issue 29 item 9); ``dlps align --program`` refuses a program whose output type is not
the task's before training, instead of aligning nothing ("0 of 0 aligned", item 12)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli import app
from synth.dsl import parse_dsl
from synth.program import MAX_PROGRAM_CHARS, MAX_PROGRAM_DEPTH, QUOTE_CHARS, quote

runner = CliRunner()
DSL = parse_dsl("arith:p=7")


def nested(depth: int) -> str:
    return "sq(" * (depth - 1) + "x" + ")" * (depth - 1)


def test_programs_up_to_the_depth_limit_parse_and_hash():
    program = DSL.parse(nested(MAX_PROGRAM_DEPTH))
    assert program.depth == MAX_PROGRAM_DEPTH and hash(program) == hash(DSL.parse(str(program)))


@pytest.mark.parametrize("depth", [MAX_PROGRAM_DEPTH + 1, 500, 2_000])
def test_a_deeper_program_is_refused_in_one_short_line(depth):
    text = nested(depth)
    if len(text) > MAX_PROGRAM_CHARS:
        pytest.skip("refused for its length (next test)")
    expected = f"nested {depth:,} calls deep, more than the {MAX_PROGRAM_DEPTH}"
    with pytest.raises(ValueError, match=expected) as caught:
        DSL.parse(text)
    assert len(str(caught.value)) < 250 and "\n" not in str(caught.value)


@pytest.mark.parametrize("text", [
    nested(10_000),                                   # deep and long
    "add(x, " * 20_000 + "y" + ")" * 20_000,          # 160 KB
    "junk " * 24_000,                                 # 120 KB of names
    "(" * 120_000,
])
def test_a_long_program_text_is_refused_in_one_short_line(text):
    with pytest.raises(ValueError, match=f"more than the {MAX_PROGRAM_CHARS:,}") as caught:
        DSL.parse(text)
    assert len(str(caught.value)) < 250


@pytest.mark.parametrize("text", [
    "add(" + "x" * 5_000 + ", y)",      # an unknown name of 5,000 characters
    "add(x, y) " + "z" * 5_000,         # trailing junk
    "add(x, " + "y, " * 2_000,          # too many arguments, too early an end
    "sq(even(x))",                      # a type error deep inside
    "add(" * 50 + "x",
])
def test_parse_errors_quote_at_most_80_characters_of_the_text(text):
    with pytest.raises(ValueError) as caught:
        DSL.parse(text)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 2 * QUOTE_CHARS + 200, message


def test_quote_keeps_short_texts_whole():
    assert quote("add(x, y)") == "'add(x, y)'"
    assert len(quote("x" * 10_000)) < QUOTE_CHARS + 30 and "10,000 characters" in quote("x" * 10_000)


def _one_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(("program", "needle"), [
    (nested(500), "500 calls deep"),
    ("add(x, " * 20_000 + "y" + ")" * 20_000, "160,001 characters, more than the 10,000"),
    ("add(" + "x" * 120_000 + ", y)", "more than the 10,000"),
    ("even(x)", "outputs bool, but modular:op=x+y,p=7"),
])
def test_align_refuses_a_bad_program_in_one_short_line_before_training(program, needle):
    result = runner.invoke(app, ["align", "modular:p=7", "--method", "mlp:steps=1", "--n", "8",
                                 "--program", program])
    line = _one_line(result)
    assert needle in line and len(line) < 400, line
