"""``dlps run``, ``dlps table`` and ``dlps plot`` end to end on tiny grids, and every bad input."""

from __future__ import annotations

import json
import sqlite3

import torch
from typer.testing import CliRunner

import cli
from compare.grid.cells import RESULT_FORMAT

runner = CliRunner()

TINY = ["--tasks", "modular:p=7;brackets:max_len=8,n_test=10", "--methods", "lookup", "--sizes", "2..8x2",
        "--seeds", "0..1"]


def invoke(*args: str):
    return runner.invoke(cli.app, list(args))


def run_ok(store, *grid: str):
    result = invoke("run", *grid, "--store", str(store), "--jobs", "1")
    assert result.exit_code == 0, result.output
    return result


def table(store, fmt: str = "json", *filters: str) -> str:
    result = invoke("table", "--store", str(store), "--format", fmt, *filters)
    assert result.exit_code == 0, result.output
    return result.output


def test_run_table_plot(tmp_path):
    store = tmp_path / "r.sqlite"
    first = run_ok(store, *TINY)
    # Not a terminal: no progress bar, just the summary line.
    assert first.output == "12 cells: 0 already in the store, 12 run, 0 failed\n"
    again = run_ok(store, *TINY)
    assert "12 cells: 12 already in the store, 0 run" in again.output
    data = json.loads(table(store))
    assert {(d["task"].split(":")[0], d["method"]) for d in data} == {("modular", "lookup"),
                                                                      ("brackets", "lookup")}
    assert all([p["n"] for p in d["curve"]] == [2, 4, 8] and d["cells"] == 6 for d in data)
    brackets = next(d for d in data if d["task"].startswith("brackets"))
    assert set(brackets["ood"]) == {"longer", "uniform"}
    assert table(store, "csv", "--method", "lookup;knn") == table(store, "csv")
    markdown = table(store, "markdown", "--task", "brackets")
    assert "**brackets:" in markdown and "modular" not in markdown and "| lookup |" in markdown
    assert "n=8" in table(store, "rich") and "task,method" in table(store, "csv")
    assert r"\begin{tabular}" in table(store, "latex")
    plots = invoke("plot", "--store", str(store), "--out", str(tmp_path / "plots"))
    assert plots.exit_code == 0, plots.output
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(
        line.split("/")[-1] for line in plots.output.split())
    assert len(list((tmp_path / "plots").glob("*.png"))) == 2


def test_same_seed_same_table(tmp_path):
    run_ok(tmp_path / "a.sqlite", *TINY)
    run_ok(tmp_path / "b.sqlite", *TINY)
    assert table(tmp_path / "a.sqlite") == table(tmp_path / "b.sqlite")


def test_a_failing_cell_is_recorded_and_the_grid_goes_on(tmp_path):
    # A vocabulary too small for the task's tokens fails when the network is fitted: a learner's own error.
    store = tmp_path / "r.sqlite"
    result = run_ok(store, "--tasks", "modular:p=7", "--methods", "lookup;mlp:d_vocab=3,steps=2",
                    "--sizes", "8", "--seeds", "0")
    assert "2 cells: 0 already in the store, 2 run, 1 failed" in result.output
    (failed,) = sqlite3.connect(store).execute("SELECT method, error FROM cells WHERE status = 'failed'")
    assert failed[0] == "mlp:d_vocab=3,steps=2" and "outside the vocabulary" in failed[1]
    assert "1/1" in table(store, "markdown")  # the failed column
    grid = ["--tasks", "modular:p=7", "--methods", "lookup;mlp:d_vocab=3,steps=2", "--sizes", "8",
            "--seeds", "0"]
    assert "2 already in the store, 0 run" in run_ok(store, *grid).output
    assert "1 already in the store, 1 run, 1 failed" in run_ok(store, *grid, "--retry-failed").output
    assert sqlite3.connect(store).execute("SELECT COUNT(*) FROM cells").fetchone() == (2,)


def test_network_cells_record_steps_and_save_artefacts(tmp_path):
    store = tmp_path / "r.sqlite"
    run_ok(store, "--tasks", "modular:p=5,test_fraction=0.2", "--methods", "mlp", "--sizes", "20", "--seeds",
           "0", "--steps", "300", "--artefacts", str(tmp_path / "models"))
    (row,) = sqlite3.connect(store).execute("SELECT method_spec, steps_fit, artefacts, extra FROM cells")
    assert "steps=300" in row[0] and 0 <= row[1] <= 300  # 20 pairs are memorized within 300 steps
    (path,) = json.loads(row[2])
    assert path.startswith(str(tmp_path / "models")) and path.endswith("model.pt")
    saved = torch.load(path, weights_only=True)
    assert {"state_dict", "checkpoints", "history", "params", "meta"} <= set(saved)
    assert len(saved["checkpoints"]) >= 20  # the default log-spaced checkpoints of a saved network
    assert json.loads(row[3])["history"]["step"][-1] == 300


def bad(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output
    return lines[0]


def test_bad_grids(tmp_path):
    store = str(tmp_path / "r.sqlite")
    grid = ["--methods", "lookup", "--sizes", "4", "--store", store]
    assert "unknown task family 'nope'" in bad("run", "--tasks", "nope", *grid)
    assert "unknown parameter 'q'" in bad("run", "--tasks", "modular:q=3", *grid)
    assert "unknown method 'magic'; accepted:" in bad("run", "--tasks", "modular", "--methods", "magic",
                                                      "--sizes", "4", "--store", store)
    assert "unknown parameter" in bad("run", "--tasks", "modular", "--methods", "lookup:colour=red",
                                      "--sizes", "4", "--store", store)
    assert "has 23 training examples in its pool; asked for 64" in bad(
        "run", "--tasks", "modular:p=5,test_fraction=0.1", "--methods", "lookup", "--sizes", "64",
        "--store", store)
    assert "grid would be empty" in bad("run", "--tasks", "modular", *grid[:2], "--sizes", "64..8",
                                        "--store", store)
    assert "missing --methods" in bad("run", "--tasks", "modular", "--sizes", "4", "--store", store)
    assert "unknown preset 'huge'" in bad("run", "--preset", "huge", "--store", store)
    assert "bad scheduler address" in bad("run", "--tasks", "modular", *grid, "--scheduler", "localhost")
    assert "--jobs must be >= 1" in bad("run", "--tasks", "modular", *grid, "--jobs", "0")
    assert not (tmp_path / "r.sqlite").exists()  # a bad grid never creates the store


def test_bad_stores(tmp_path):
    grid = ["run", "--tasks", "modular:p=5", "--methods", "lookup", "--sizes", "2", "--seeds", "0", "--store"]
    assert "does not exist" in bad(*grid, str(tmp_path / "no" / "r.sqlite"))
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    assert "is not a dlps results store" in bad(*grid, str(text))
    assert "is not a dlps results store" in bad("table", "--store", str(text))
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    assert "not a dlps results store" in bad(*grid, str(other))
    newer = tmp_path / "newer.sqlite"
    run_ok(newer, *grid[1:-1])
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE meta SET value = ? WHERE name = 'format'", (str(RESULT_FORMAT + 1),))
    conn.commit()
    conn.close()
    assert "written by a newer dlps" in bad(*grid, str(newer))
    assert "written by a newer dlps" in bad("table", "--store", str(newer))
    assert "no results store at" in bad("table", "--store", str(tmp_path / "missing.sqlite"))
    assert "no results store at" in bad("plot", "--store", str(tmp_path / "missing.sqlite"))


def test_bad_table_requests(tmp_path):
    store = tmp_path / "r.sqlite"
    run_ok(store, "--tasks", "modular:p=5", "--methods", "lookup", "--sizes", "2", "--seeds", "0")
    assert "unknown format 'html'; accepted: rich, markdown" in bad("table", "--store", str(store),
                                                                   "--format", "html")
    assert "match the filters" in bad("table", "--store", str(store), "--task", "induction")
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert "cannot write plots" in bad("plot", "--store", str(store), "--out", str(blocker / "sub"))
