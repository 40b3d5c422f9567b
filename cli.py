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


# --- training one learner: train (baselines/) ----------------------------------------------------

TRAIN_FORMATS = ("text", "json")


@app.command()
def train(
    spec: str = typer.Argument(..., help="Task spec, e.g. 'modular:p=59,test_fraction=0.6' (dlps tasks)."),
    method: str = typer.Option(
        "transformer", "--method", help="Method spec: transformer, mlp, lstm, lookup, knn, logistic, gbt, "
        "with parameters as in 'transformer:n_layers=2,attn_only=true'.",
    ),
    n: int = typer.Option(1000, "--n", help="Training examples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the training draw and of the learner."),
    steps: int | None = typer.Option(None, "--steps", help="Optimizer steps (networks only)."),
    plot: str | None = typer.Option(None, "--plot", help="Write the training curves to this PNG (networks)."),
    format: str = typer.Option("text", "--format", help="text or json."),
) -> None:
    """Train one learner on a task: train/test/OOD accuracy, steps to 99%, wall time."""  # fmt: skip
    import json

    from baselines.registry import canonical_spec, is_neural, make_learner, parse_method
    from baselines.report import plot_history, train_and_score
    from tasks import parse_task

    if format not in TRAIN_FORMATS:
        fail(f"unknown format {format!r}; accepted: {', '.join(TRAIN_FORMATS)}")
    overrides = {"random_state": seed} | ({} if steps is None else {"steps": steps})
    try:
        task = parse_task(spec)
        parse_method(method)  # name the bad method before any data is drawn
        train_split = task.train_split(n, seed)
        learner = make_learner(method, train_split, task.family, **overrides)
        evals = {"test": task.test_split()} | {name: task.ood_split(name) for name in task.ood_names}
        if plot is not None and not is_neural(learner):
            fail(f"--plot needs a network method (transformer, mlp, lstm), not {method!r}")
        result = train_and_score(learner, train_split, evals)
    except ValueError as exc:  # SpecError, bad parameter values, inputs a learner cannot take
        fail(str(exc))
    if plot is not None:
        try:
            plot_history(learner.history_, plot, title=f"{task.spec}  {method}  n={n} seed={seed}")
        except OSError as exc:
            fail(f"cannot write {plot}: {exc.strerror or exc}")
    method_spec = canonical_spec(method, train_split, task.family, **overrides)
    if format == "json":
        typer.echo(json.dumps({"task": task.spec, "method": method_spec, "n": n, "seed": seed, **result}))
        return
    typer.echo(f"# {task.spec} | {method_spec} | n={n} seed={seed}")
    accs = "  ".join(f"{k} {'n/a' if v is None else f'{v:.4f}'}" for k, v in result["accuracy"].items())
    typer.echo(f"accuracy   {accs}")
    if "first_step" in result:
        firsts = "  ".join(f"{k} {'never' if v is None else v}" for k, v in result["first_step"].items())
        typer.echo(f"99% at step  {firsts}   (of {result['steps']} steps; log-spaced evaluations)")
    for part, why in result.get("errors", {}).items():
        typer.echo(f"note: {part}: {why}")
    typer.echo(f"wall time  {result['seconds']:.2f} s")


if __name__ == "__main__":
    app()
