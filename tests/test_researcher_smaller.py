"""Issue 28 item 8: the smaller things a new researcher tripped over (ranges, the dry run, flags,
wording, the task list, the table's filters, the README's examples)."""

from __future__ import annotations

from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def test_the_dry_run_lists_the_sizes_a_range_expands_to(tmp_path):
    store = tmp_path / "none.sqlite"
    grid = ["--tasks", "modular:p=31", "--methods", "lookup", "--sizes", "40..340x2", "--seeds", "0..1"]
    result = runner.invoke(app, ["run", *grid, "--store", str(store), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "for n = 40, 80, 160, 320, 340 × seeds 0, 1; about" in result.stdout
    assert "10 cells" in result.stdout
