"""`dlps tasks` and `dlps sample`: output for every family, and one-line errors (exit 2) on bad input."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from tasks import parse_task, read_examples

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_tasks_lists_every_family_with_parameters_defaults_and_ood_splits():
    result = invoke("tasks")
    assert result.exit_code == 0, result.output
    out = result.output
    for text in (
        "modular:", "op=x+y", "p=97", "test_fraction=0.5", "x+y if x even else x*y",
        "brackets:", "kind=dyck1", "max_len=16", "ood_len=0", "longer (",
        "induction:", "d_vocab=32", "n_unseen=8", "unseen_tokens (",
        "examples:", "train=", "pad=false",
    ):
        assert text in out, text


@pytest.mark.parametrize(
    ("spec", "split"),
    [
        ("modular:op=x/y,p=113", "train"),
        ("modular:op=x^3+xy^2+y,p=7", "test"),
        ("brackets:kind=dyck2", "train"),
        ("brackets", "longer"),
        ("induction", "test"),
        ("induction:seq_len=24,max_seg=6", "unseen_tokens"),
    ],
)
def test_sample_jsonl_is_an_examples_file_of_the_split(tmp_path, spec, split):
    result = invoke("sample", spec, "--n", "7", "--seed", "3", "--split", split, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 7 and all(set(json.loads(line)) == {"x", "y"} for line in lines)
    path = tmp_path / "sample.jsonl"
    path.write_text(result.output)
    expected = parse_task(spec).split(split, 7, 3).subset(slice(0, 7))
    back = read_examples(path, like=expected)
    np.testing.assert_array_equal(back.X, expected.X)
    np.testing.assert_array_equal(back.y, expected.y)


def test_sample_text_shows_each_family_readably(tmp_path):
    modular = invoke("sample", "modular:op=x*y,p=7", "--n", "3", "--seed", "1")
    assert modular.exit_code == 0
    lines = modular.output.splitlines()
    assert lines[0].startswith("# modular:op=x*y,p=7,test_fraction=0.5 | train: 3 examples, seed 1")
    for line in lines[1:]:
        x, y, label = (int(part.split("=")[-1]) for part in line.replace("->", "").split())
        assert label == x * y % 7

    brackets = invoke("sample", "brackets:kind=dyck2", "--split", "test", "--n", "4")
    assert brackets.exit_code == 0 and len(brackets.output.splitlines()) == 5
    for line in brackets.output.splitlines()[1:]:
        word, label = line.split("->")
        assert set(word.strip()) <= set("()[]") and label.strip() in {"0", "1"}

    induction = invoke("sample", "induction", "--n", "2")
    rows = induction.output.splitlines()[1:]
    assert induction.exit_code == 0 and len(rows) == 4
    assert rows[0].startswith("x ") and rows[1].startswith("y ") and "." in rows[1]

    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps({"x": [i, i + 1], "y": (2 * i + 1) % 5}) + "\n" for i in range(20)))
    own = invoke("sample", f"examples:train={path}", "--split", "test", "--n", "2")
    assert own.exit_code == 0, own.output
    assert own.output.splitlines()[1].startswith("x0=") and len(own.output.splitlines()) == 3


def test_same_seed_same_sample_and_test_split_ignores_seed():
    a = invoke("sample", "brackets", "--n", "5", "--seed", "4")
    b = invoke("sample", "brackets", "--n", "5", "--seed", "4")
    c = invoke("sample", "brackets", "--n", "5", "--seed", "5")
    assert a.output == b.output != c.output
    t1 = invoke("sample", "induction", "--split", "test", "--seed", "1", "--format", "jsonl")
    t2 = invoke("sample", "induction", "--split", "test", "--seed", "2", "--format", "jsonl")
    assert t1.output == t2.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sample", "sorting"], ["unknown task family 'sorting'", "brackets, examples, induction, modular"]),
        (["sample", "modular:op=x%y"], ["unknown op 'x%y'", "x+y"]),
        (["sample", "modular:p=91"], ["p=91", "prime"]),
        (["sample", "modular:p=seven"], ["p='seven'", "int"]),
        (["sample", "modular:size=3"], ["unknown parameter 'size'", "op, p, test_fraction"]),
        (["sample", "modular:p"], ["bad parameter 'p'", "key=value"]),
        (["sample", "brackets:max_len=2"], ["max_len=2", "[4, 1024]"]),
        (["sample", "brackets:kind=dyck9"], ["'dyck9'", "dyck1, dyck2"]),
        (["sample", "induction:seq_len=10"], ["seq_len=10", "2 * max_seg"]),
        (["sample", "brackets", "--split", "middle"], ["unknown split 'middle'", "train, test, longer"]),
        (["sample", "modular", "--split", "longer"], ["unknown split 'longer'", "train, test"]),
        (["sample", "modular:p=5", "--n", "100"], ["has 13 training examples", "asked for 100"]),
        (["sample", "modular", "--n", "0"], ["--n must be >= 1"]),
        (["sample", "modular", "--format", "xml"], ["unknown format 'xml'", "text, jsonl"]),
        (["sample", "examples:train=missing.jsonl"], ["train file 'missing.jsonl' not found"]),
        (["sample", "examples"], ["train=PATH is required"]),
    ],
)
def test_bad_input_exits_2_with_one_line(args, words):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.stderr, word


def test_malformed_examples_file_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"x": [1, 2], "y": 1}\n{"x": [1, 2], "y": "one"}\n')
    result = invoke("sample", f"examples:train={path}")
    assert result.exit_code == 2 and f"{path}:2:" in result.stderr and "Traceback" not in result.output
