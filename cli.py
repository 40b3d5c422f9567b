"""The ``dlps`` command line: thin; it parses arguments and calls the packages.

A user's mistake (bad spec, bad file, bad size) ends with one line on stderr and exit code 2,
never a traceback.
"""

from __future__ import annotations

import typer

from compare import cli_options as opt
from compare import options
from compare.cli_options import FORCE, FORMAT, NETWORK_METHOD, SEED, STEPS, STORE, checked, fail, merged
from compare.output import json_text
from compare.settings.defaults import COMMAND_N, SINGLE_SYNTH_SECONDS
from compare.usage import OneLineErrors

# Plain help (rich's marks every flag ``<bool>``, as if it took a value) and one-line usage errors.
app = typer.Typer(
    name="dlps",
    help="Deep learning as program synthesis: tasks, learners and their comparison.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=OneLineErrors,
)

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

    checked(options.check_format, format, SAMPLE_FORMATS)
    checked(options.check_n, n)
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


@app.command("dsl")
def dsl_command(
    spec: str = typer.Argument(..., help="DSL spec, e.g. arith:p=97 or seq:d_vocab=3,pad=2."),
    weights: str | None = typer.Option(None, "--weights", help="Prior weights: add=2,ite=0.5 (0 drops)."),
) -> None:
    """The primitives of a DSL: signature, cost in bits under the prior, and what each computes."""
    from synth import Prior, parse_dsl
    from synth.prior import describe

    try:
        dsl = parse_dsl(spec)
        prior = Prior(dsl.primitives, checked(options.prior_weights, weights))
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"# {dsl.spec}")
    for line in describe(prior):
        typer.echo(line)


# --- the comparison grid: run, table, plot (compare/) -----------------------------------------

@app.command("analyses")
def analyses_command() -> None:
    """The registered analyses: what each reads, whether a grid runs it by default, what it measures."""
    from mechanisms.registry import describe

    typer.echo("\n".join(describe()))


@app.command()
def run(
    preset: str | None = typer.Option(None, help="A ready grid: quick, science (for dlps report) or paper."),
    tasks: list[str] | None = opt.TASKS,
    methods: list[str] | None = opt.METHODS,
    sizes: str | None = typer.Option(None, help="Training sizes: 8,16,32 or a range 8..4096x2 (geometric)."),
    seeds: str | None = typer.Option(None, help="Seeds: 0,1,2 or 0..4 (default 0..2, or the preset's)."),
    steps: int | None = typer.Option(None, help="Budget: optimizer steps of every network."),
    synth_candidates: int | None = opt.SYNTH_CANDIDATES,
    max_bits: float | None = typer.Option(None, help="Budget: the synthesizer's description-length bound."),
    synth_seconds: float | None = typer.Option(
        None, help="Budget: the synthesizer's time limit per cell (results then depend on machine speed)."
    ),
    store: str = STORE,
    jobs: int | None = typer.Option(None, help="Worker processes (default: one per core); 1: in-process."),
    scheduler: str | None = typer.Option(None, help="Run on a dask.distributed cluster at tcp://HOST:PORT."),
    artefacts: str | None = typer.Option(None, help="Save models and checkpoints here (default: not saved)."),
    retry_failed: bool = typer.Option(False, help="Run again the cells stored as failed."),
    yes: bool = typer.Option(False, "--yes", help="Run a grid of more than 10,000 cells."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the cells to run and to skip, their estimated CPU time; run none."
    ),
    device: str | None = opt.DEVICE,
    threads: int = opt.WORKER_THREADS,
    analyses: str | None = typer.Option(
        None, "--analyses", help="Also run these analyses in each cell they apply to, e.g. "
        "alignment,simplicity (dlps analyses lists them); other cells than the same ones without them."
    ),
    align: bool = typer.Option(False, "--align", help="Same as --analyses alignment."),
    simplicity: bool = typer.Option(False, "--simplicity", help="Same as --analyses simplicity."),
    task: list[str] | None = opt.hidden("--task"),
    method: list[str] | None = opt.hidden("--method"),
) -> None:
    """Run a task × method × size × seed grid into the store; finished cells are skipped."""
    from compare.grid import forkserver

    if not dry_run and scheduler is None and forkserver.local_workers(jobs) > 1:
        forkserver.start()  # local workers' imports, on another core while this one plans the grid
    from compare.grid.plan import plan_run
    from compare.grid.runner import RunStopped, prepare_run
    from compare.methods import Budgets

    tasks, methods = opt.filters(tasks, methods, task, method)
    threads = checked(options.at_least_one, threads, "--threads")  # the dry run refuses it too
    grid = dict(preset_name=preset, tasks=tasks, methods=methods, sizes=sizes, seeds=seeds)
    budgets = Budgets(steps=steps, candidates=synth_candidates, max_bits=max_bits, seconds=synth_seconds)
    flags = (("alignment",) if align else ()) + (("simplicity",) if simplicity else ())
    chosen = (*opt.analyses(analyses), *flags)
    if dry_run:
        try:
            lines = plan_run(grid, budgets, store, jobs, retry_failed, chosen, scheduler=scheduler,
                             artefacts=artefacts, yes=yes, device=device).lines()
        except (ValueError, OSError) as exc:  # what the run would refuse: SpecError, StoreError, ...
            fail(str(exc))
        typer.echo("\n".join(lines))
        return
    try:
        planned = prepare_run(grid, budgets, store, jobs, scheduler, artefacts, yes, device, analyses=chosen,
                              threads=threads)
    except (ValueError, OSError) as exc:  # SpecError, StoreError, ExecutorError, artefacts; a full disk
        fail(str(exc))
    for note in planned.notes:
        typer.echo(f"note: {note}", err=True)
    try:
        summary = planned.execute(retry_failed=retry_failed)
    except KeyboardInterrupt:
        typer.echo("Interrupted: every finished cell is stored; run the same command to go on.", err=True)
        raise typer.Exit(code=130) from None
    except RunStopped as exc:  # a full disk: not the user's mistake (exit 1), said in one line
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(summary.line())
    if summary.lost:
        raise typer.Exit(code=1)


def _summaries(store: str, tasks: list[str] | None, methods: list[str] | None, task: list[str] | None,
               method: list[str] | None):
    """The stored summaries the filters select (``--tasks``, or the old ``--task``, both taken)."""
    tasks, methods = opt.filters(tasks, methods, task, method)
    return checked(options.stored_summaries, store, tasks, methods)


@app.command()
def table(
    store: str = STORE,
    tasks: list[str] | None = opt.TASKS,
    methods: list[str] | None = opt.METHODS,
    format: str = typer.Option("rich", "--format", help="rich, markdown, csv, latex or json."),
    task: list[str] | None = opt.hidden("--task"),
    method: list[str] | None = opt.hidden("--method"),
) -> None:
    """Per task × method: accuracy at each n (mean ± 95% CI), n@99, AULC, OOD accuracy, program."""
    from compare.results.tables import show

    checked(show, _summaries(store, tasks, methods, task, method), format)  # an unknown format: exit 2


@app.command()
def export(store: str = STORE, force: bool = FORCE,
           format: str = typer.Option("csv", "--format", help="csv, jsonl, parquet (frames extra)."),
           out: str | None = typer.Option(None, "--out", help="File to write (default: stdout).")) -> None:
    """The store as data: one row per cell, metrics as dotted keys (Python: frame.load_frame)."""
    from compare.results.frame import export_store

    typer.echo(checked(export_store, store, format, out, force), nl=False)


@app.command()
def plot(
    out: str = opt.out_option("Folder for the PNGs (one per task).", "dlps-plots"),
    store: str = STORE,
    tasks: list[str] | None = opt.TASKS,
    methods: list[str] | None = opt.METHODS,
    task: list[str] | None = opt.hidden("--task"),
    method: list[str] | None = opt.hidden("--method"),
) -> None:
    """Learning curves: one PNG per task, accuracy against n (log axis), CI bands, OOD dashed."""
    from compare.results.plots import plot_summaries

    summaries = _summaries(store, tasks, methods, task, method)
    try:
        paths = plot_summaries(summaries, out)
    except OSError as exc:
        fail(f"cannot write plots into {out}: {exc.strerror or exc}")
    for path in paths:
        typer.echo(str(path))


# --- one learner on one data set: train, synth ---------------------------------------------------


def _run_single(load, method: str, seed: int, overrides: dict, format: str, save: str | None = None,
                plot: str | None = None, force: bool = False) -> None:
    """Load the data, build the learner, fit, score, save and print (the body of train and synth)."""
    from compare.progress import FitProgress
    from compare.results.text import describe_single
    from compare.workflow import learner_run

    checked(options.check_format, format)
    try:
        with FitProgress() as bar:
            result, _ = learner_run(load, method, seed, overrides, save, plot, bar, force)
    except ValueError as exc:  # SpecError, ExamplesFileError, values a learner cannot take, budgets, folders
        fail(str(exc))
    typer.echo(json_text(result) if format == "json" else "\n".join(describe_single(result)))


@app.command()
def train(
    spec: str = typer.Argument(..., help="Task spec, e.g. 'modular:p=59,test_fraction=0.6' (dlps tasks)."),
    method: str = typer.Option(
        "transformer", "--method", help="Method spec: transformer, mlp, lstm, lookup, knn, logistic, gbt, "
        "synth, with parameters as in 'transformer:n_layers=2,attn_only=true'.",
    ),
    n: int = typer.Option(COMMAND_N["train"], "--n", help="Training examples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the training draw and of the learner."),
    steps: int | None = typer.Option(None, "--steps", help="Optimizer steps (networks only)."),
    save: str | None = typer.Option(None, "--save", help="Save the network (weights, checkpoints, history)."),
    out: str | None = opt.out_option("Write the training curves into this folder (training.png; networks)."),
    format: str = FORMAT,
    device: str | None = opt.DEVICE,
    threads: int = opt.THREADS,
    force: bool = FORCE,
    plot: str | None = opt.hidden("--plot"),
) -> None:
    """Train one learner on a task: train/test/OOD accuracy, steps to 99%, wall time."""  # fmt: skip
    from compare.evaluate import task_data

    checked(options.check_n, n)
    opt.use_threads(threads)
    plot = merged(opt.as_folder(out), plot, "--out", "--plot")
    overrides: dict = {} if steps is None else {"steps": steps}
    overrides |= {} if device is None else {"device": opt.device(device)}
    _run_single(lambda: task_data(spec, n, seed), method, seed, overrides, format, save, plot, force)


@app.command()
def synth(
    spec: str | None = typer.Argument(None, help="Task spec, e.g. 'modular:op=x^2+y,p=97' (see dlps tasks)."),
    examples: str | None = typer.Option(None, "--examples", help="Training examples file (JSON Lines)."),
    test: str | None = typer.Option(None, "--test", help="Test examples file (with --examples)."),
    dsl: str | None = typer.Option(
        None, "--dsl", help="DSL spec, e.g. arith:p=97 or seq (default: the one that fits the data; missing "
        "parameters are inferred from it)."
    ),
    n: int = typer.Option(COMMAND_N["synth"], "--n", help="Training examples drawn from the task."),
    seed: int = typer.Option(0, "--seed", help="Seed of the training draw (and of the search's hashing)."),
    max_bits: float = typer.Option(64.0, "--max-bits", help="Budget: description-length bound in bits."),
    synth_candidates: int | None = opt.SYNTH_CANDIDATES,
    synth_seconds: float | None = typer.Option(SINGLE_SYNTH_SECONDS, help="Budget: seconds."),
    max_bank_mb: float | None = typer.Option(1024.0, "--max-bank-mb", help="Budget: bank memory (MB)."),
    weights: str | None = typer.Option(None, "--weights", help="Prior weights: add=2,ite=0.5 (0 drops)."),
    posterior: bool = typer.Option(False, "--posterior", help="Predict by the posterior vote (2^-bits)."),
    format: str = typer.Option("text", "--format", help="text, or json (one object)."),
    library: str | None = typer.Option(
        None, "--library", help="Prior weights learned on other tasks (a JSON file; --weights override)."
    ),
    decompose: bool = typer.Option(
        False, "--decompose", help="Yes/no labels: a conjunction of parts found apart (synth/decompose.py)."
    ),
    jobs: int = typer.Option(1, "--jobs", help="Threads computing candidates ahead (same search; >= 1)."),
    threads: int = opt.THREADS,
    max_candidates: int | None = opt.hidden("--max-candidates"),
    time_limit: float | None = opt.hidden("--time-limit"),
) -> None:
    """Find the simplest program consistent with training examples; print it with its scores."""
    from compare.evaluate import examples_data, task_data

    checked(options.check_synth_sources, spec, examples, test, dsl)
    checked(options.check_n, n)
    opt.use_threads(threads, torch=False)
    max_candidates = merged(synth_candidates, max_candidates, "--synth-candidates", "--max-candidates")
    time_limit = merged(synth_seconds, time_limit, "--synth-seconds", "--time-limit", SINGLE_SYNTH_SECONDS)
    overrides = dict(weights=checked(options.prior_weights, weights), max_bits=max_bits,
                     max_candidates=max_candidates, time_limit=time_limit, max_bank_mb=max_bank_mb,
                     posterior=posterior)
    overrides |= {"dsl": dsl} if dsl else {}
    overrides |= {} if library is None else {"library": checked(options.library_file, library)}
    overrides |= {"decompose": True} if decompose else {}
    overrides |= {"jobs": jobs} if checked(options.at_least_one, jobs, "--jobs") != 1 else {}
    # The seq DSL reads token sequences: rows of different lengths are right-padded.
    sequences = dsl is not None and dsl.partition(":")[0].strip() == "seq"
    load = (lambda: task_data(spec, n, seed)) if spec else (lambda: examples_data(examples, test, sequences))
    _run_single(load, "synth", seed, overrides, format)


# --- what a trained network computes: mechanisms (mechanisms/) -----------------------------------


def _print_analysis(result: dict, format: str, describe) -> None:
    """A one-network command's result: strict JSON (non-finite values as null), or ``describe``'s lines."""
    typer.echo(json_text(result) if format == "json" else "\n".join(describe(result)))


@app.command()
def mechanisms(
    spec: str | None = typer.Argument(None, help="Task spec, e.g. 'modular:p=59,test_fraction=0.6'."),
    method: str | None = NETWORK_METHOD,
    n: int | None = opt.n_option("mechanisms"),
    seed: int | None = SEED,
    steps: int | None = STEPS,
    from_dir: str | None = typer.Option(None, "--from", help="Analyse the network saved here (--save)."),
    save: str | None = typer.Option(None, "--save", help="Save the trained network (weights, checkpoints)."),
    out: str | None = opt.out_option("Write the pictures (PNG) into this folder."),
    format: str = FORMAT,
    device: str | None = opt.DEVICE,
    threads: int = opt.THREADS,
    analyses: str | None = typer.Option(
        None, "--analyses", help="The analyses to run, with parameters (default: mechanism; dlps analyses "
        "lists them; separated by ;), e.g. 'mechanism:open=(0,2),close=(1,3)' for bracket words in other ids."
    ),
    force: bool = FORCE,
    plots: str | None = opt.hidden("--plots"),
) -> None:
    """Train (or load) a network and report what it computes: Fourier circuit, heads, depth probes."""
    from compare.progress import FitProgress
    from compare.workflow import mechanisms_run
    from mechanisms.text import describe

    checked(options.check_network_options, format, spec, from_dir, n, seed, method, steps, save)
    plots, _ = merged(out, plots, "--out", "--plots"), opt.use_threads(threads)
    try:
        with FitProgress() as bar:
            result = mechanisms_run(spec, method, n, seed, steps, from_dir, save, plots, opt.device(device),
                                    bar, analyses=analyses or "mechanism", force=force)
    except ValueError as exc:  # SpecError, CheckpointError, a task or learner not covered
        fail(str(exc))
    _print_analysis(result, format, describe)


# --- program <-> network alignment: align (mechanisms/alignment.py) ----------------------------------


@app.command()
def align(
    spec: str | None = typer.Argument(None, help="Task spec, e.g. brackets:kind=dyck1 or examples:train=F."),
    method: str | None = NETWORK_METHOD,
    n: int | None = opt.n_option("align"),
    seed: int | None = SEED,
    steps: int | None = STEPS,
    program: str | None = typer.Option(
        None, "--program", help="Align this program (default: the synthesizer's MAP program on the same "
        "training set, and the task's reference program where it differs)."
    ),
    from_dir: str | None = typer.Option(None, "--from", help="Align the network saved here (--save)."),
    das: bool = typer.Option(False, "--das", help="Also learn a DAS rotation at each best site (slower)."),
    rows: int = typer.Option(300, "--rows", help="Rows of each split for probes and interchange pairs."),
    out: str | None = opt.out_option("Write the IIA heatmaps (PNG) into this folder."),
    format: str = FORMAT,
    device: str | None = opt.DEVICE,
    threads: int = opt.THREADS,
    force: bool = FORCE,
    plots: str | None = opt.hidden("--plots"),
) -> None:
    """Does the network compute the program's subexpressions, where, and does it use them (IIA)?"""
    from compare.progress import FitProgress
    from compare.workflow import align_run
    from mechanisms.alignment_text import describe

    checked(options.check_network_options, format, spec, from_dir, n, seed, method, steps)
    plots, _ = merged(out, plots, "--out", "--plots"), opt.use_threads(threads)
    if rows < 2:
        fail(f"--rows must be >= 2, got {rows}")
    try:
        with FitProgress() as bar:
            result = align_run(spec, method, n, seed, steps, from_dir, program, plots, das, rows,
                               opt.device(device), force, bar)
    except ValueError as exc:  # SpecError, CheckpointError, a program or learner that cannot be aligned
        fail(str(exc))
    _print_analysis(result, format, describe)


# --- the report and the LLC's calibration: report, llc-calibrate (compare/results, workflow) ----------


@app.command()
def report(
    store: str = STORE,
    out: str = opt.out_option("Folder for report.md and its PNGs.", "dlps-report"),
    force: bool = FORCE,
) -> None:
    """Write a Markdown report with PNGs, regenerated from the store: sample efficiency, mechanisms,
    alignment, simplicity on both sides, cross-task correlations, OOD accuracy, and the claims table."""
    from compare.progress import FitProgress
    from compare.results.report import build
    from compare.results.store import StoreError

    checked(options.output_folder, out, "the report", ("report.md",), force)
    try:
        with FitProgress() as bar, bar.stage("report (tables, plots, claims)"):
            path = build(store, out)
    except (StoreError, OSError) as exc:  # a store that cannot be read; a full disk
        fail(str(exc) if isinstance(exc, StoreError) else f"cannot write the report into {out}: {exc}")
    typer.echo(str(path))


@app.command("llc-calibrate")
def llc_calibrate(
    spec: str | None = typer.Argument(None, help="Task spec, e.g. 'modular:op=x+y,p=59'."),
    method: str | None = NETWORK_METHOD,
    n: int | None = opt.n_option("llc-calibrate"),
    seed: int | None = SEED,
    steps: int | None = STEPS,
    from_dir: str | None = typer.Option(None, "--from", help="Calibrate on the network saved here (--save)."),
    epsilons: str = typer.Option("3e-5,1e-4,3e-4,1e-3", "--epsilons", help="SGLD steps ε to try."),
    nbetas: str = typer.Option("auto", "--nbetas", help="Inverse temperatures nβ to try (auto: n/log n)."),
    chains: int = typer.Option(2, "--chains", help="Chains per estimate."),
    draws: int = typer.Option(200, "--draws", help="Draws per chain."),
    out: str | None = opt.out_option("Write llc_calibration.png into this folder."),
    format: str = FORMAT,
    device: str | None = opt.DEVICE,
    threads: int = opt.THREADS,
    force: bool = FORCE,
) -> None:
    """Run the LLC estimator over an ε × nβ grid on one network: pick ε where the estimate is flat."""
    from compare.progress import FitProgress
    from compare.results.text import describe_calibration as describe
    from compare.workflow import calibrate_run

    checked(options.check_network_options, format, spec, from_dir, n, seed, method, steps)
    checked(options.at_least_one, chains, "--chains")
    opt.use_threads(threads)
    checked(options.at_least_one, draws, "--draws")
    grid_eps = checked(options.positive_floats, epsilons, "--epsilons")
    grid_nbeta = checked(options.positive_floats, nbetas, "--nbetas", allow_auto=True)
    try:
        with FitProgress() as bar:
            result = calibrate_run(spec, method, n, seed, steps, from_dir, grid_eps, grid_nbeta, chains,
                                   draws, out, opt.device(device), force, bar)
    except ValueError as exc:  # SpecError, CheckpointError, not a network, an unwritable folder
        fail(str(exc))
    _print_analysis(result, format, describe)


if __name__ == "__main__":
    app()
