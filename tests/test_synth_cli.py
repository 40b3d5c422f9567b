"""`dlps synth` on tasks and on examples files, with one-line exit-2 errors."""

import json

import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def _json(*args: str) -> dict:
    result = runner.invoke(app, ["synth", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_synth_on_a_task_prints_program_bits_and_scores() -> None:
    out = _json("modular:op=x^2+y,p=97", "--n", "8", "--seed", "0")
    learned, search = out["learner"], out["learner"]["search"]
    assert learned["program"] == "add(y, sq(x))"
    assert learned["found"] and search["stop_reason"] == "found"
    assert out["accuracy"]["train"] == 1.0 and out["accuracy"]["test"] == 1.0
    assert learned["bits"] == pytest.approx(4 * 3.4594, abs=1e-3)
    assert search["candidates"] >= search["kept"] > 0 and out["seconds"] >= 0
    assert learned["dsl"] == "arith:p=97,max_const=2" and out["n"] == 8
    assert out["method"].startswith("synth:dsl=(arith:p=97,max_const=2),")
    text = runner.invoke(app, ["synth", "modular:op=x^2+y,p=97"])
    assert text.exit_code == 0
    assert "add(y, sq(x))" in text.stdout and "test 1.0000" in text.stdout


def test_synth_on_examples_files(tmp_path) -> None:
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    rows = [(1, 2), (3, 4), (10, 20), (50, 60), (7, 7), (90, 3)]
    train.write_text("".join(json.dumps({"x": [x, y], "y": (x * y + x) % 101}) + "\n" for x, y in rows))
    test.write_text(
        "".join(json.dumps({"x": [x, y], "y": (x * y + x) % 101}) + "\n" for x, y in [(5, 9), (100, 100)])
    )
    out = _json("--examples", str(train), "--test", str(test), "--dsl", "arith:p=101")
    assert out["learner"]["found"] and out["accuracy"] == {"train": 1.0, "test": 1.0}
    assert out["n"] == 6 and out["examples"] == str(train)
    assert out["learner"]["bits"] is not None and out["learner"]["program"].count("(") >= 2
    alone = _json("--examples", str(train), "--dsl", "arith:p=101")
    assert "test" not in alone["accuracy"] and alone["learner"]["program"] == out["learner"]["program"]


def test_budget_stop_is_reported() -> None:
    out = _json("modular:op=x^2+xy+y^2+x,p=97", "--max-candidates", "1000")
    assert out["learner"]["search"]["stop_reason"] == "max_candidates" and not out["learner"]["found"]
    assert out["learner"]["search"]["candidates"] == 1000 and out["learner"]["program"] is not None
    assert out["accuracy"]["train"] < 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["modular:op=x+y", "--dsl", "arith:p=91"], "p=91 must be a prime"),
        (["modular:op=x+y", "--dsl", "nope"], "unknown DSL 'nope'"),
        (["modular:op=x+y", "--dsl", "arith:p=5"], "does not fit arith:p=5"),
        (["modular:op=x+y", "--max-bits", "1"], "impossible budget: max_bits=1"),
        (["modular:op=x+y", "--max-candidates", "0"], "max_candidates=0 is out of range"),
        (["modular:op=x+y", "--time-limit", "-1"], "time_limit=-1.0 is out of range"),
        (["modular:op=x+y", "--weights", "add=two"], "bad --weights 'add=two'"),
        (["modular:op=x+y", "--weights", "pow=1"], "unknown primitive 'pow'"),
        (["modular:op=x+y", "--format", "xml"], "unknown format 'xml'"),
        (["modular:op=x+y", "--n", "0"], "--n must be >= 1"),
        (["nope:op=x+y"], "unknown task family"),
        ([], "give either a task SPEC or --examples"),
        (["--examples", "missing.jsonl", "--dsl", "arith"], "not found"),
        (["--test", "t.jsonl", "modular:op=x+y"], "--test needs --examples"),
    ],
)
def test_mistakes_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["synth", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_examples_values_above_p_are_rejected(tmp_path) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"x": [1, 200], "y": 3}) + "\n")
    result = runner.invoke(app, ["synth", "--examples", str(train), "--dsl", "arith:p=97"])
    assert result.exit_code == 2
    assert "input value 200 does not fit arith:p=97; accepted: integers in [0, 97)" in result.stderr


def test_synth_library_and_decompose_options(tmp_path) -> None:
    from synth.library import fit_library

    lib = tmp_path / "lib.json"
    fit_library("seq:d_vocab=3,pad=2", [("other", "last(eq0(tally(is(tokens, tok0))))")]).save(lib)
    uniform = _json("brackets:kind=dyck1,max_len=12,n_test=40", "--n", "16")
    learned = _json("brackets:kind=dyck1,max_len=12,n_test=40", "--n", "16", "--library", str(lib))
    assert "library=" in learned["method"] and learned["learner"]["bits"] < uniform["learner"]["bits"]
    parts = _json("brackets:kind=dyck1,max_len=12,n_test=40", "--n", "16", "--decompose", "--max-bits", "24")
    assert parts["learner"]["search"]["parts"] and "decompose=true" in parts["method"]
    for bad, message in [(str(tmp_path / "missing.json"), "cannot read library"),
                         (str(lib), "the library is for the seq DSL, not arith")]:
        task = "modular:op=x+y,p=7" if "arith" in message else "brackets"
        result = runner.invoke(app, ["synth", task, "--library", bad])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_synth_jobs_option_gives_the_same_program() -> None:
    one = _json("brackets:kind=dyck1,max_len=12,n_test=40", "--n", "16")
    two = _json("brackets:kind=dyck1,max_len=12,n_test=40", "--n", "16", "--jobs", "2")
    assert one["learner"]["program"] == two["learner"]["program"]
    assert one["learner"]["search"]["candidates"] == two["learner"]["search"]["candidates"]
    bad = runner.invoke(app, ["synth", "brackets", "--jobs", "0"])
    assert bad.exit_code == 2 and "--jobs must be >= 1, got 0" in bad.output
