"""The option declarations the ``dlps`` commands share, the old spellings they still accept, and
the per-process thread setting: here so that ``cli.py`` stays a thin list of commands (one
vocabulary, issue 28 item 4) and under its size limit.

One name per thing in every command: ``--out`` for what a command writes, ``--tasks``/``--methods``
for the grid's filters, ``--synth-candidates``/``--synth-seconds`` for the synthesizer's budget,
``--device``, ``--threads``. The spellings of the previous release (``--plot``, ``--plots``,
``--task``, ``--method`` as a filter, ``--max-candidates``, ``--time-limit``) stay for one release as
hidden options (not in ``--help``) that :func:`merged` folds into the new name.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

import typer

from compare.options import at_least_one
from compare.settings.defaults import COMMAND_N

#: Torch/BLAS threads of a one-network command (and of each grid worker) unless ``--threads`` says
#: otherwise: 1, because on this 2-core machine one thread was at most ~2 s slower and two were up
#: to 10x slower (issue 28 item 2). Wall seconds, two runs each, 1 vs 2 threads; "idle": another
#: engineer's training sweep on one core; "loaded": a CPU hog (python -c 'while True: pass') on the
#: other core as well:
#:   command                                                        idle 1    idle 2    loaded 1  loaded 2
#:   dlps train 'modular:op=x+y,p=59,test_fraction=0.6' --n 1392    8.3, 8.4  86, 70    7.3, 8.5  >90, >90
#:     --steps 150
#:   dlps mechanisms 'modular:op=x+y,p=23' --n 250 --steps 150      9.4, 8.4  7.4, 7.3  14, 15    54, 50
#:   dlps run --tasks modular:p=23 --methods transformer:steps=150  7.6, 6.6  5.5, 5.3  12, 12    50, 7.0
#:     --sizes 100 --seeds 0 --jobs 1 (a grid worker's job)
#: Two threads gain a second on small jobs when the second core is free, and lose badly whenever it
#: is not: each of torch's parallel regions waits for the thread the other process has descheduled.
DEFAULT_THREADS = 1

FORCE = typer.Option(False, "--force", help="Replace output files that already exist.")
NETWORK_METHOD = typer.Option(None, "--method", help="Network spec: transformer (default), mlp, lstm.")
SEED = typer.Option(None, "--seed", help="Seed of the training draw, the network, its analyses (default 0).")
STEPS = typer.Option(None, "--steps", help="Optimizer steps.")
FORMAT = typer.Option("text", "--format", help="text or json.")
STORE = typer.Option("dlps-results.sqlite", "--store", help="The results store (SQLite file).")
TASKS = typer.Option(None, "--tasks", help="Task specs, families or globs (repeat, or separate by ;).")
METHODS = typer.Option(None, "--methods", help="Method specs, names or globs (repeat, or separate by ;).")
DEVICE = typer.Option(
    None, "--device", help="Train the networks on cpu or cuda (default: each spec's device, auto = CUDA "
    "when present)."
)
THREADS = typer.Option(
    DEFAULT_THREADS, "--threads", help=f"Torch/BLAS threads of this process (default {DEFAULT_THREADS}: "
    "faster on a shared machine, see README 'Threads')."
)
WORKER_THREADS = typer.Option(
    DEFAULT_THREADS, "--threads", help=f"Torch/BLAS threads of each worker (default {DEFAULT_THREADS})."
)
SYNTH_CANDIDATES = typer.Option(None, "--synth-candidates", help="Budget: programs the synthesizer tries.")


def hidden(name: str, default: Any = None) -> Any:
    """An old spelling kept for one release: accepted, not shown in ``--help``."""
    return typer.Option(default, name, hidden=True)


def out_option(what: str, default: str | None = None) -> Any:
    """``--out``: the folder (or file) a command writes ``what`` into."""
    return typer.Option(default, "--out", help=what)


def as_folder(out: str | None) -> str | None:
    """``train --out DIR`` as the folder form of the old ``--plot`` (a trailing ``/``: the training
    curves go to ``DIR/training.png``); empty stays empty, so that it is refused in one line."""
    return out if not out else out.rstrip("/") + "/"


def n_option(command: str) -> Any:
    """``--n`` of a one-network command: its default comes from ``COMMAND_N``."""
    default = f"the pool, at most {COMMAND_N[command]}"
    return typer.Option(None, "--n", help=f"Training examples (default: {default}).")


def fail(message: str) -> NoReturn:
    """Report a user's mistake in one line and exit with code 2."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=2)


def checked(check, *args, **kwargs):
    """``check(*args, **kwargs)``; its ValueError (a user's mistake, said in one line) exits 2."""
    try:
        return check(*args, **kwargs)
    except ValueError as exc:
        fail(str(exc))


def merged(new: Any, old: Any, new_name: str, old_name: str, default: Any = None) -> Any:
    """The value of option ``new_name`` given either as itself or by its old spelling ``old_name``
    (a hidden alias); both given with different values is a mistake (exit 2). Repeatable options
    (lists: ``--tasks``/``--task``) take the values of both."""
    if isinstance(new, list | tuple) or isinstance(old, list | tuple):
        return [*(new or ()), *(old or ())] or None
    if old is None or old == default:
        return new
    if new is not None and new != default and new != old:
        fail(f"{old_name} is the old name of {new_name}; give only {new_name}")
    return old


def filters(tasks: list[str] | None, methods: list[str] | None, task: list[str] | None,
            method: list[str] | None) -> tuple[list[str] | None, list[str] | None]:
    """The grid's filters given by ``--tasks``/``--methods`` or their old spellings (all taken)."""
    return merged(tasks, task, "--tasks", "--task"), merged(methods, method, "--methods", "--method")


def device(value: str | None) -> str | None:
    """``--device`` checked (a device this machine has); exit 2 naming the accepted ones otherwise."""
    from compare.grid.runner import check_device_option

    return checked(check_device_option, value)


def analyses(text: str | None) -> tuple[str, ...]:
    """``dlps run --analyses a,b``: registered analysis names (checked: exit 2 naming the accepted
    ones; parameters are for the one-network commands, where one network is analysed)."""
    from mechanisms.registry import parse

    chosen = checked(parse, text) if text else []
    if any(params for _, params in chosen):
        fail("analysis parameters (NAME:key=value) are for dlps mechanisms; a grid runs each analysis as is")
    return tuple(analysis.name for analysis, _ in chosen)


def use_threads(threads: int, torch: bool = True) -> int:
    """Set this process's torch and BLAS threads once, at the start of a command (``--threads``).

    The environment variables reach libraries loaded later (torch reads ``OMP_NUM_THREADS`` when it
    starts its pool), threadpoolctl the BLAS already loaded (numpy's), and torch is set directly.
    ``torch=False`` (``dlps synth``) leaves torch unimported: the synthesizer does not need it."""
    checked(at_least_one, threads, "--threads")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    if torch:
        import torch as torch_module

        torch_module.set_num_threads(threads)
    return threads
