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


def test_run_with_cache_takes_a_numpy_array_as_the_readme_shows():
    """The README's ``run_with_cache(learner.model_, tokens)`` failed deep inside torch on an array."""
    import torch

    import baselines
    from compare.evaluate import task_data
    from compare.methods import make_learner

    _, train, _ = task_data("modular:p=7", 20, 0)
    learner = make_learner("transformer", train, steps=2, d_model=16, d_mlp=32, random_state=0)
    learner.fit(train.X, train.y)
    out, cache = baselines.run_with_cache(learner.model_, train.X)
    assert out.shape[:2] == (20, 2) and cache["blocks.0.attn.hook_pattern"].shape[0] == 20
    tokens, _ = learner.encode(train.X).tensors(torch.device("cpu"))
    fed, _ = baselines.run_with_cache(learner.model_, tokens.numpy())
    assert torch.equal(fed, baselines.run_with_cache(learner.model_, tokens)[0])


def test_a_flag_given_a_value_is_one_line_with_a_hint_and_help_shows_no_bool():
    result = runner.invoke(app, ["synth", "modular:op=x*y", "--n", "2", "--posterior", "true"])
    assert result.exit_code == 2 and "╭" not in result.output
    assert result.stderr.count("\n") == 1 and "flags take no value" in result.stderr, result.stderr
    assert "<bool>" not in runner.invoke(app, ["synth", "--help"]).output


def test_synth_says_found_once_and_why_the_bound_is_below_the_programs_bits():
    result = runner.invoke(app, ["synth", "modular:op=x^3+xy,p=97", "--n", "8"])
    assert result.exit_code == 0, result.output
    (search,) = [line for line in result.stdout.splitlines() if line.startswith("search")]
    assert search.count("found") == 1 and "complete to" not in search
    assert "every cheaper program tried (all up to 17.19 bits, then its own level)" in search


def test_dsl_prints_no_negative_zero_and_tasks_no_empty_tuple_for_a_path():
    dsl = runner.invoke(app, ["dsl", "arith:p=97"]).stdout
    assert "-0.00" not in dsl and "even : int -> bool                0.00 bits" in dsl
    tasks = runner.invoke(app, ["tasks"]).stdout
    assert "train=()" not in tasks and "train=PATH" in tasks and "test=PATH" in tasks


def test_a_table_filter_that_matches_nothing_names_what_the_store_holds(tmp_path):
    store = str(tmp_path / "s.sqlite")
    grid = ["--tasks", "modular:p=7", "--methods", "lookup", "--sizes", "4", "--seeds", "0", "--jobs", "1"]
    assert runner.invoke(app, ["run", *grid, "--store", store]).exit_code == 0
    result = runner.invoke(app, ["table", "--store", store, "--task", "nosuch"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "holds tasks modular:op=x+y,p=7,test_fraction=0.5 and methods lookup" in result.stderr


def test_every_file_the_readmes_commands_read_is_made_by_a_command_before_it():
    import re
    from pathlib import Path

    text = Path(__file__).parent.parent.joinpath("README.md").read_text()
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S))
    made: set[str] = set()
    for line in blocks.splitlines():
        for name in re.findall(r"(?:--examples |--test |--library |train=)([\w.]+\.jsonl?)", line):
            assert name in made, f"the README reads {name} before any command makes it: {line}"
        made |= {name for pair in re.findall(r"> ([\w.]+\.jsonl?)|save\('([\w.]+)'\)", line)
                 for name in pair if name}
