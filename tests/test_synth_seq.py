"""The sequence DSL on the task suite: reference programs, data conversion, the DSL guess, the
learner on brackets and induction, and ``dlps synth`` with sequences (CliRunner)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from synth import EnumerativeSynthesizer, Prior, complete_dsl, default_dsl, parse_dsl
from synth.dsl_seq import FLAG, INT, NUM, REFERENCES, SeqDSL
from tasks import SpecError, accuracy
from tasks.brackets import balanced
from tasks.induction import induction_rule

runner = CliRunner()
SMALL_DYCK1 = "brackets:kind=dyck1,n_test=200"
SMALL_INDUCTION = "induction:d_vocab=12,seq_len=12,min_seg=3,max_seg=4,n_unseen=4,n_test=100"


def all_strings(n_tokens: int, max_len: int) -> np.ndarray:
    """Every string of 1..max_len tokens, right-padded with the pad id n_tokens."""
    rows = [s for k in range(1, max_len + 1) for s in itertools.product(range(n_tokens), repeat=k)]
    X = np.full((len(rows), max_len), n_tokens, np.int64)
    for i, s in enumerate(rows):
        X[i, : len(s)] = s
    return X


# -- reference programs --------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "n_types", "max_len"), [("dyck1", 1, 12), ("dyck2", 2, 8)])
def test_bracket_references_are_exactly_the_language(kind: str, n_types: int, max_len: int) -> None:
    dsl = SeqDSL(d_vocab=2 * n_types + 1, pad=2 * n_types)
    X = all_strings(2 * n_types, max_len)
    got = dsl.decode(dsl.parse(REFERENCES[kind]).evaluate(dsl.env(X)))
    assert (got == balanced(X, n_types)).all()


def test_induction_reference_is_the_rule_wherever_it_is_defined() -> None:
    dsl = SeqDSL(d_vocab=6)
    X = np.random.default_rng(0).integers(0, 6, size=(500, 14))
    want = induction_rule(X)
    got = dsl.decode(dsl.parse(REFERENCES["induction"]).evaluate(dsl.env(X)))
    defined = want >= 0
    assert (got[defined] == want[defined]).all()
    assert (got[~defined] == -1).all()  # nothing selected: 'no token'


def test_reference_bits_are_what_the_report_says() -> None:
    bits = {
        name: Prior(dsl.primitives).program_bits(dsl.parse(REFERENCES[name]))
        for name, dsl in [("dyck1", SeqDSL(3, 2)), ("dyck2", SeqDSL(5, 4)), ("induction", SeqDSL(32))]
    }
    assert bits == pytest.approx({"dyck1": 32.86, "dyck2": 185.23, "induction": 9.92}, abs=0.01)


# -- data conversion -----------------------------------------------------------------------------------
def test_env_marks_padding_and_rejects_what_does_not_fit() -> None:
    dsl = SeqDSL(d_vocab=3, pad=2)
    env = dsl.env(np.array([[0, 1, 2], [1, 2, 2]]))
    assert env.inputs["tokens"].tolist() == [[0, 1, 255], [1, 255, 255]]
    assert env.inputs["indices"].tolist() == [[0, 1, -32768], [0, -32768, -32768]]
    with pytest.raises(ValueError, match=r"token 3 does not fit seq:d_vocab=3,pad=2.*\[0, 3\)"):
        dsl.env(np.array([[0, 3]]))
    with pytest.raises(ValueError, match="row 1 has the pad id 2 before a token"):
        dsl.env(np.array([[0, 1], [2, 0]]))
    with pytest.raises(ValueError, match="shape"):
        dsl.env(np.array([0, 1]))


def test_output_type_follows_the_labels() -> None:
    dsl = SeqDSL(d_vocab=4)
    assert dsl.target(np.array([0, 1, 1])).type == FLAG
    assert dsl.target(np.array([0, 5, 1])).type == NUM
    per_position = dsl.target(np.array([[3, -1]]), np.array([[True, False]]))
    assert per_position.type == dsl.tok and per_position.values.tolist() == [[3, 0]]
    assert SeqDSL(d_vocab=4, out="int").target(np.array([[7, -2]])).type == INT
    with pytest.raises(ValueError, match=r"label 4 does not fit .*accepted: \[0, 4\)"):
        dsl.target(np.array([[4]]), np.array([[True]]))
    with pytest.raises(ValueError, match="out=flag is per sequence, y per position"):
        SeqDSL(d_vocab=4, out="flag").target(np.array([[1]]))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("seq", "d_vocab=0 must lie in"),
        ("seq:d_vocab=3,pad=3", r"pad=3 must be a token id in \[0, d_vocab=3\)"),
        ("seq:d_vocab=3,out=list", "unknown out='list'; accepted: auto, flag"),
        ("seq:d_vocab=3,size=2", "unknown parameter 'size'"),
    ],
)
def test_bad_specs_name_the_value(spec: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_dsl(spec)


def test_the_guess_reads_the_data_not_the_task_name() -> None:
    brackets = tasks.parse_task("brackets:kind=dyck2").test_split()
    induction = tasks.parse_task(SMALL_INDUCTION).test_split()
    assert default_dsl(brackets) == "seq:d_vocab=5,pad=4,out=auto"
    assert default_dsl(induction) == "seq:d_vocab=12,pad=-1,out=auto"
    assert default_dsl(tasks.parse_task("modular:p=7").test_split()).startswith("arith")
    assert complete_dsl("seq:out=bool", brackets) == "seq:d_vocab=5,pad=4,out=bool"
    assert complete_dsl("seq:d_vocab=9", brackets) == "seq:d_vocab=9,pad=4,out=auto"


# -- the learner ---------------------------------------------------------------------------------------
def test_induction_is_found_from_a_few_sequences_and_generalizes() -> None:
    task = tasks.parse_task(SMALL_INDUCTION)
    train = task.train_split(8, 0)
    model = EnumerativeSynthesizer(dsl=default_dsl(train)).fit(train.X, train.y, mask=train.mask)
    assert str(model.program_) == REFERENCES["induction"]
    for name in ("test", *task.ood_names):
        split = task.test_split() if name == "test" else task.ood_split(name)
        assert accuracy(split.y, model.predict(split.X), split.mask) == 1.0


def test_dyck1_from_32_sequences_scores_on_test_and_longer() -> None:
    task = tasks.parse_task(SMALL_DYCK1)
    train = task.train_split(32, 0)
    model = EnumerativeSynthesizer(dsl=default_dsl(train), max_candidates=1_000_000).fit(train.X, train.y)
    assert model.found_ and model.bits_ <= 32.87  # never dearer than the reference program
    for split in (task.test_split(), task.ood_split("longer")):
        assert accuracy(split.y, model.predict(split.X)) >= 0.99


def test_posterior_probes_are_sequences_shaped_like_the_training_rows() -> None:
    dsl = SeqDSL(d_vocab=4, pad=3)
    X = np.array([[0, 1, 3, 3], [2, 2, 2, 0]])
    probes = dsl.probe_inputs(X, 50, np.random.default_rng(0))
    assert probes.shape == (50, 4)
    dsl.env(probes)  # right-padded, tokens in range
    lengths = (probes != 3).sum(axis=1)
    assert set(lengths) <= {2, 4}
    model = EnumerativeSynthesizer(dsl=dsl, posterior=True, posterior_bits=2.0, max_bits=12)
    model.fit(X, np.array([1, 0]))
    assert model.predict(X).tolist() == [1, 0]


# -- the command line ----------------------------------------------------------------------------------
def _json(*args: str) -> dict:
    result = runner.invoke(app, ["synth", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_on_brackets_and_induction() -> None:
    out = _json(SMALL_DYCK1, "--n", "32")
    learned = out["learner"]
    assert learned["found"] and out["accuracy"]["test"] >= 0.99 and out["accuracy"]["longer"] >= 0.99
    assert learned["dsl"] == "seq:d_vocab=3,pad=2,out=auto" and learned["bits"] <= 32.87
    text = runner.invoke(app, ["synth", SMALL_INDUCTION, "--n", "16"])
    assert text.exit_code == 0, text.output
    assert REFERENCES["induction"] in text.stdout and "unseen_tokens 1.0000" in text.stdout


def test_cli_on_an_examples_file_with_other_token_ids(tmp_path) -> None:
    """Ragged rows with single labels (is there a 7 after a 3?), token ids the tasks never use;
    --dsl seq with no parameters takes them from the file."""
    rng = np.random.default_rng(1)
    rows = [rng.choice([3, 5, 7], size=rng.integers(2, 7)).tolist() for _ in range(40)]
    label = [int(any(a == 3 and b == 7 for a, b in itertools.pairwise(r))) for r in rows]
    lines = [json.dumps({"x": r, "y": y}) for r, y in zip(rows, label, strict=True)]
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train.write_text("\n".join(lines[:24]) + "\n")
    test.write_text("\n".join(lines[24:]) + "\n")
    out = _json("--examples", str(train), "--test", str(test), "--dsl", "seq")
    assert out["learner"]["dsl"] == "seq:d_vocab=9,pad=8,out=auto"
    assert out["learner"]["found"] and out["accuracy"] == {"train": 1.0, "test": 1.0}
    assert "tok7" in out["learner"]["program"] and "tok3" in out["learner"]["program"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([SMALL_DYCK1, "--dsl", "seq:d_vocab=2"], "pad=2 must be a token id in [0, d_vocab=2)"),
        ([SMALL_DYCK1, "--dsl", "seq:out=list"], "unknown out='list'"),
        ([SMALL_DYCK1, "--dsl", "seq:pad=0"], "row 0 has the pad id 0 before a token"),
        ([SMALL_INDUCTION, "--dsl", "seq:out=flag"], "out=flag is per sequence, y per position"),
    ],
)
def test_cli_bad_seq_dsl_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["synth", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
