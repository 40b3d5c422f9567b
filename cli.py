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


# --- the comparison grid: run, table, plot (compare/) -----------------------------------------

STORE_OPTION = typer.Option("dlps-results.sqlite", "--store", help="The results store (SQLite file).")
TASK_FILTER = typer.Option(None, "--task", help="Only these tasks (spec, family or glob; repeat or use ;).")
METHOD_FILTER = typer.Option(None, "--method", help="Only these methods (name, spec, glob; repeat or use ;).")


@app.command()
def run(
    preset: str | None = typer.Option(None, help="A ready grid: quick (minutes on a CPU) or paper."),
    tasks: list[str] | None = typer.Option(None, "--tasks", help="Task specs (repeat, or separate by ;)."),
    methods: list[str] | None = typer.Option(None, "--methods", help="Method specs (repeat, or use ;)."),
    sizes: str | None = typer.Option(None, help="Training sizes: 8,16,32 or a range 8..4096x2 (geometric)."),
    seeds: str | None = typer.Option(None, help="Seeds: 0,1,2 or 0..4 (default 0..2, or the preset's)."),
    steps: int | None = typer.Option(None, help="Budget: optimizer steps of every network."),
    synth_candidates: int | None = typer.Option(None, help="Budget: programs synth tries per cell."),
    max_bits: float | None = typer.Option(None, help="Budget: the synthesizer's description-length bound."),
    synth_seconds: float | None = typer.Option(
        None, help="Budget: the synthesizer's time limit per cell (results then depend on machine speed)."
    ),
    store: str = STORE_OPTION,
    jobs: int | None = typer.Option(None, help="Worker processes (default: one per core); 1: in-process."),
    scheduler: str | None = typer.Option(None, help="Run on a dask.distributed cluster at tcp://HOST:PORT."),
    artefacts: str | None = typer.Option(None, help="Save models and checkpoints here (default: not saved)."),
    retry_failed: bool = typer.Option(False, help="Run again the cells stored as failed."),
) -> None:
    """Run a task × method × size × seed grid into the store; finished cells are skipped."""
    import os

    from compare.cells import CellOptions
    from compare.executors import make_executor
    from compare.grid import build_cells, grid_parts
    from compare.methods import Budgets
    from compare.runner import run_grid
    from compare.store import Store

    try:
        parts = grid_parts(preset, tasks, methods, sizes, seeds)
        budgets = Budgets(steps=steps, candidates=synth_candidates, max_bits=max_bits, seconds=synth_seconds)
        cells, notes = build_cells(parts, budgets, skip_unfit=preset is not None)
        workers = jobs if jobs is not None else len(os.sched_getaffinity(0))
        executor = make_executor(workers, scheduler, CellOptions(artefacts=artefacts))
    except ValueError as exc:  # SpecError, ExecutorError
        fail(str(exc))
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    try:
        results = Store(store)
    except ValueError as exc:  # StoreError
        executor.close()
        fail(str(exc))
    try:
        summary = run_grid(cells, results, executor, retry_failed=retry_failed)
    except KeyboardInterrupt:
        executor.close(abort=True)
        typer.echo("Interrupted: every finished cell is stored; run the same command to go on.", err=True)
        raise typer.Exit(code=130) from None
    finally:
        executor.close()
        results.close()
    typer.echo(summary.line())
    if summary.lost:
        raise typer.Exit(code=1)


def _summaries(store: str, task: list[str] | None, method: list[str] | None):
    from compare.grid import split_specs
    from compare.store import Store
    from compare.tables import summarize

    try:
        with Store(store, create=False) as results:
            rows = results.rows()
    except ValueError as exc:
        fail(str(exc))
    summaries = summarize(rows, split_specs(task), split_specs(method))
    if not summaries:
        fail(f"no finished cells in {store} match the filters" if rows else f"{store} holds no cells yet")
    return summaries


@app.command()
def table(
    store: str = STORE_OPTION,
    task: list[str] | None = TASK_FILTER,
    method: list[str] | None = METHOD_FILTER,
    format: str = typer.Option("rich", "--format", help="rich, markdown, csv, latex or json."),
) -> None:
    """Per task × method: accuracy at each n (mean ± 95% CI), n@99, AULC, OOD accuracy, program."""
    from compare.tables import FORMATS, render

    if format not in FORMATS:
        fail(f"unknown format {format!r}; accepted: {', '.join(FORMATS)}")
    output = render(_summaries(store, task, method), format)
    if format == "rich":
        from rich.console import Console

        console = Console()
        for rich_table in output:
            console.print(rich_table)
    else:
        typer.echo(output, nl=False)


@app.command()
def plot(
    out: str = typer.Option("dlps-plots", "--out", help="Folder for the PNGs (one per task)."),
    store: str = STORE_OPTION,
    task: list[str] | None = TASK_FILTER,
    method: list[str] | None = METHOD_FILTER,
) -> None:
    """Learning curves: one PNG per task, accuracy against n (log axis), CI bands, OOD dashed."""
    from compare.plots import plot_summaries

    summaries = _summaries(store, task, method)
    try:
        paths = plot_summaries(summaries, out)
    except OSError as exc:
        fail(f"cannot write plots into {out}: {exc.strerror or exc}")
    for path in paths:
        typer.echo(str(path))


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



# --- the synthesizer: synth (synth/) -------------------------------------------------------------

SYNTH_FORMATS = ("text", "json")


def _parse_weights(text: str | None) -> dict[str, float] | None:
    """``add=2,mul=0.5`` -> {"add": 2.0, "mul": 0.5}."""
    if not text:
        return None
    weights: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            fail(f"bad --weights item {item!r}; expected primitive=number, e.g. add=2,mul=0.5")
    return weights


@app.command()
def synth(
    spec: str | None = typer.Argument(None, help="Task spec, e.g. 'modular:op=x^2+y,p=97' (see dlps tasks)."),
    examples: str | None = typer.Option(None, "--examples", help="Training examples file (JSON Lines)."),
    test: str | None = typer.Option(None, "--test", help="Test examples file (with --examples)."),
    dsl: str | None = typer.Option(
        None, "--dsl", help="DSL spec, e.g. arith:p=97 or seq (default: the one that fits the data; missing "
        "parameters are inferred from it)."
    ),
    n: int = typer.Option(8, "--n", help="Training examples drawn from the task."),
    seed: int = typer.Option(0, "--seed", help="Seed of the training draw (and of the search's hashing)."),
    max_bits: float = typer.Option(64.0, "--max-bits", help="Budget: description-length bound in bits."),
    max_candidates: int | None = typer.Option(None, "--max-candidates", help="Budget: programs to try."),
    time_limit: float | None = typer.Option(60.0, "--time-limit", help="Budget: seconds of search."),
    max_bank_mb: float | None = typer.Option(1024.0, "--max-bank-mb", help="Budget: bank memory (MB)."),
    weights: str | None = typer.Option(None, "--weights", help="Prior weights: add=2,ite=0.5 (0 drops)."),
    posterior: bool = typer.Option(False, "--posterior", help="Predict by the posterior vote (2^-bits)."),
    format: str = typer.Option("text", "--format", help="text, or json (one object)."),
) -> None:
    """Find the simplest program consistent with training examples; print it with its scores."""
    import json
    import math

    from synth import EnumerativeSynthesizer, complete_dsl, default_dsl
    from tasks import accuracy, parse_task
    from tasks.examples_file import build_splits, parse_examples

    if format not in SYNTH_FORMATS:
        fail(f"unknown format {format!r}; accepted: {', '.join(SYNTH_FORMATS)}")
    if (spec is None) == (examples is None):
        fail("give either a task SPEC or --examples FILE (not both)")
    if test is not None and examples is None:
        fail("--test needs --examples (a task brings its own test split)")
    if n < 1:
        fail(f"--n must be >= 1, got {n}")
    try:
        if spec is not None:
            task = parse_task(spec)
            train, evals = task.train_split(n, seed), {"test": task.test_split()}
            evals |= {name: task.ood_split(name) for name in task.ood_names}
        else:
            if dsl is None:
                fail("--examples needs --dsl (e.g. --dsl arith:p=97, or --dsl seq for token sequences)")
            files = [parse_examples(examples)] + ([parse_examples(test)] if test else [])
            # The seq DSL takes token sequences: rows of different lengths are right-padded.
            sequences = dsl.partition(":")[0] == "seq"
            train, *rest = build_splits(files, pad=sequences, names=["train", "test"][: len(files)])
            evals = {"test": rest[0]} if rest else {}
        model = EnumerativeSynthesizer(
            dsl=complete_dsl(dsl, train) if dsl else default_dsl(train),
            weights=_parse_weights(weights),
            max_bits=max_bits,
            max_candidates=max_candidates,
            time_limit=time_limit,
            max_bank_mb=max_bank_mb,
            posterior=posterior,
            random_state=seed,
        )
        model.fit(train.X, train.y, mask=train.mask)
        scores: dict[str, float | None] = {"train": None}
        if model.program_ is not None:
            for name, split in {"train": train, **evals}.items():
                scores[name] = accuracy(split.y, model.predict(split.X), split.mask)
    except ValueError as exc:  # SpecError, ExamplesFileError, values that do not fit the DSL, budgets
        fail(str(exc))
    stats = model.search_stats_
    result = {
        "task": task.spec if spec is not None else None,
        "examples": examples,
        "test_file": test,
        "dsl": model.dsl_.spec,
        "n": len(train),
        "seed": seed,
        "program": None if model.program_ is None else str(model.program_),
        "bits": None if math.isnan(model.bits_) else round(float(model.bits_), 4),
        "found": bool(model.found_),
        "train_accuracy": scores["train"],
        "test_accuracy": scores.get("test"),
        "ood_accuracy": {k: v for k, v in scores.items() if k not in ("train", "test")},
        "seconds": round(float(stats["seconds"]), 4),
        "candidates": int(stats["candidates"]),
        "kept": int(stats["kept"]),
        "stop_reason": stats["stop_reason"],
        "bits_reached": round(float(stats["bits_reached"]), 4),
    }
    if posterior:
        result["posterior_programs"] = len(model.posterior_)
    if format == "json":
        typer.echo(json.dumps(result))
        return
    source = task.spec if spec is not None else examples
    typer.echo(f"# {source} | {result['dsl']} | n={result['n']} seed={seed}")
    typer.echo(f"program    {result['program'] or '(none of the output type within the budget)'}")
    if result["bits"] is not None:
        typer.echo(f"bits       {result['bits']:.2f}")
    accs = "  ".join(f"{k} {'n/a' if v is None else f'{v:.4f}'}" for k, v in scores.items())
    typer.echo(f"accuracy   {accs}")
    verdict = "consistent with every training example" if result["found"] else "best so far (not consistent)"
    typer.echo(
        f"search     {result['stop_reason']}: {verdict}; {result['candidates']:,} candidates, "
        f"{result['kept']:,} kept, {result['seconds']:.2f} s; complete to {result['bits_reached']:.2f} bits"
    )
    if posterior:
        typer.echo(f"posterior  {result['posterior_programs']} consistent programs vote (weight 2^-bits)")

if __name__ == "__main__":
    app()
