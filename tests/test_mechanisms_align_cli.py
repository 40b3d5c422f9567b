"""dlps align and dlps run --align: the JSON schema, the text table, pictures, refusals, the grid."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from synth.dsl_seq import REFERENCES

runner = CliRunner()
LSTM = "lstm:d_embed=8,d_hidden=8"
TRANSFORMER = "transformer:d_model=16,n_heads=2,d_mlp=32"
SUB_KEYS = {
    "expression",
    "bits",
    "site",
    "probe_accuracy",
    "control_accuracy",
    "selectivity",
    "iia",
    "iia_random",
    "iia_untrained",
    "pairs",
}


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_align_json_schema_and_plots(tmp_path):
    args = [
        "align",
        "brackets:kind=dyck1",
        "--method",
        TRANSFORMER,
        "--n",
        "64",
        "--steps",
        "5",
        "--seed",
        "1",
        "--rows",
        "80",
        "--program",
        REFERENCES["dyck1"],
        "--format",
        "json",
        "--plots",
        str(tmp_path),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["program"] == REFERENCES["dyck1"] and out["bits"] > 0
    assert [a["source"] for a in out["alignments"]] == ["given"]
    subs = out["subexpressions"]
    assert "tally(is(tokens, tok0))" in [s["expression"] for s in subs]
    for s in subs:
        assert SUB_KEYS <= set(s)
        assert isinstance(s["pairs"], int) and s["site"] in out["sites"]
        assert s["iia"] is None or 0.0 <= s["iia"] <= 1.0
    assert out["selectors"] == []  # no selector in this program
    assert (tmp_path / "alignment_given.png").stat().st_size > 1000


def test_align_text_shows_map_and_reference(tmp_path):
    """Without --program: the synthesizer's program, and the reference where it differs."""
    result = runner.invoke(
        app,
        [
            "align",
            "induction:seq_len=12,d_vocab=8,min_seg=3,max_seg=5,n_unseen=2",
            "--method",
            "transformer:n_layers=2,attn_only=true,d_model=16",
            "--n",
            "32",
            "--steps",
            "5",
            "--rows",
            "60",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "synthesizer program  recent(sel_tok(prev(tokens), tokens), tokens)" in result.stdout
    assert "reference program" not in result.stdout  # the same program: shown once
    assert "selector sel_tok(prev(tokens), tokens): best head L" in result.stdout


def test_align_on_an_examples_file(tmp_path):
    """More a's than b's, as an examples file, the program given."""
    rng = np.random.default_rng(0)
    path = tmp_path / "more_a.jsonl"
    with path.open("w") as f:
        for _ in range(120):
            row = rng.integers(0, 2, size=rng.integers(2, 9)).tolist()
            f.write(json.dumps({"x": row, "y": int(row.count(0) > row.count(1))}) + "\n")
    program = "last(gt0(tally(is(tokens, tok0))))"
    result = runner.invoke(
        app,
        [
            "align",
            f"examples:train={path},pad=true",
            "--method",
            TRANSFORMER,
            "--n",
            "60",
            "--steps",
            "5",
            "--rows",
            "60",
            "--program",
            program,
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    subs = json.loads(result.stdout)["subexpressions"]
    assert [s["expression"] for s in subs] == [
        "is(tokens, tok0)",
        "tally(is(tokens, tok0))",
        "gt0(tally(is(tokens, tok0)))",
        program,
    ]
    assert [s["per_position"] for s in subs] == [True, True, True, False]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["brackets:kind=dyck1", "--method", LSTM, "--program", "both(all("], ["--program", "seq:"]),
        (["brackets:kind=dyck1", "--method", LSTM, "--program", "nosuch(tokens)"], ["unknown primitive"]),
        (["brackets:kind=dyck1", "--method", "knn"], ["network with hooks", "knn"]),
        (["brackets:kind=dyck1", "--format", "xml"], ["xml", "text, json"]),
        ([], ["give a task SPEC"]),
        (["brackets:kind=dyck1", "--n", "0"], ["--n must be >= 1"]),
        (["--from", "/nonexistent/dlps-model"], ["no saved network"]),
    ],
)
def test_align_refusals_are_one_line(args, needles):
    _one_line_error(runner.invoke(app, ["align", *args]), *needles)


def test_run_align_stores_the_alignment_and_the_table_shows_it(tmp_path):
    store = str(tmp_path / "s.sqlite")
    grid = [
        "run",
        "--tasks",
        "brackets:kind=dyck1",
        "--methods",
        f"{LSTM};lookup",
        "--sizes",
        "32",
        "--seeds",
        "0",
        "--steps",
        "5",
        "--store",
        store,
        "--jobs",
        "1",
    ]
    assert runner.invoke(app, grid).exit_code == 0
    again = runner.invoke(app, [*grid, "--align"])
    assert again.exit_code == 0, again.output
    # The network cell is another cell with --align (it aligns); the lookup table is the same cell.
    assert "2 cells: 1 already in the store, 1 run" in again.stdout
    from compare.results.store import Store

    with Store(store, create=False) as results:
        rows = {r.cell.method: r for r in results.rows()}
        aligned = [r for r in results.rows() if "alignment" in r.result.metrics]
    assert len(aligned) == 1 and aligned[0].cell.method == LSTM
    summary = aligned[0].result.metrics["alignment"]
    assert summary["of"] >= 1 and 0 <= summary["aligned"] <= summary["of"]
    assert summary["programs"][0]["subexpressions"][0]["expression"]
    assert "lookup" in rows
    table = runner.invoke(app, ["table", "--store", store, "--format", "json"])
    assert table.exit_code == 0
    entries = json.loads(table.stdout)
    lstm = next(e for e in entries if e["method"] == "lstm")
    assert lstm["cells"] == 1  # the aligned cell replaces the plain one in the table
    text = runner.invoke(app, ["table", "--store", store]).stdout
    assert "subexpressions aligned" in text and "(chance-corrected IIA ≥" in text  # a yes/no output


def test_align_a_saved_network(tmp_path):
    saved = tmp_path / "net"
    trained = runner.invoke(
        app,
        [
            "train",
            "brackets:kind=dyck1",
            "--method",
            TRANSFORMER,
            "--n",
            "32",
            "--steps",
            "3",
            "--save",
            str(saved),
        ],
    )
    assert trained.exit_code == 0, trained.output
    program = "last(eq0(tally(is(tokens, tok0))))"
    result = runner.invoke(
        app, ["align", "--from", str(saved), "--program", program, "--rows", "40", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["task"].startswith("brackets:kind=dyck1") and out["n"] == 32
    assert out["program"] == program
    other = runner.invoke(app, ["align", "induction", "--from", str(saved), "--program", program])
    _one_line_error(other, "holds a network trained on brackets")
