"""The ``dlps`` command line: thin; it parses arguments and calls the packages.

A user's mistake (bad spec, bad file, bad size) ends with one line on stderr and exit code 2,
never a traceback.
"""

from __future__ import annotations

from typing import NoReturn

import typer

app = typer.Typer(
    name="dlps",
    help="Deep learning as program synthesis: tasks, learners and their comparison.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str) -> NoReturn:
    """Report a user's mistake in one line and exit with code 2."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=2)


# --- the task suite: tasks, sample (tasks/) ------------------------------------------------------

SAMPLE_FORMATS = ("text", "jsonl")


@app.command("tasks")
def tasks_command() -> None:
    """The task families: their parameters with defaults, and their out-of-distribution splits."""
    import tasks
    from tasks.registry import describe_families

    typer.echo(describe_families(), nl=False)
    example = tasks.ModularTask().spec
    typer.echo(f"\nA task spec is family:key=value,... (e.g. {example}); see examples with dlps sample SPEC.")


@app.command()
def sample(
    spec: str = typer.Argument(..., help="Task spec, e.g. 'modular:op=x*y,p=113' (see dlps tasks)."),
    n: int = typer.Option(5, "--n", help="How many examples (the first n of a test or OOD split)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the training draw."),
    split: str = typer.Option("train", "--split", help="train, test, or an OOD split name."),
    format: str = typer.Option("text", "--format", help="text, or jsonl (the examples-file format)."),
) -> None:
    """Show examples of a task with their labels; jsonl output is an examples file."""
    import sys

    from tasks import parse_task, write_examples

    if format not in SAMPLE_FORMATS:
        fail(f"unknown format {format!r}; accepted: {', '.join(SAMPLE_FORMATS)}")
    if n < 1:
        fail(f"--n must be >= 1, got {n}")
    try:
        task = parse_task(spec)
        examples = task.split(split, n, seed)
    except ValueError as exc:  # SpecError, ExamplesFileError
        fail(str(exc))
    examples = examples.subset(slice(0, n))
    if format == "jsonl":
        write_examples(examples, sys.stdout)
        return
    drawn = f", seed {seed}" if split == "train" else ""
    typer.echo(f"# {task.spec} | {split}: {len(examples)} examples{drawn}")
    for i in range(len(examples)):
        typer.echo(task.format_example(examples, i))


if __name__ == "__main__":
    app()
