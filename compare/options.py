"""The command line's values that need more than a type: checked here, each with a one-line
ValueError that names what is accepted (the CLI turns it into exit code 2)."""

from __future__ import annotations

import math

from tasks.spec import coerce

#: Output formats of the one-learner and one-network commands.
SINGLE_FORMATS = ("text", "json")


def check_format(format: str, accepted: tuple[str, ...] = SINGLE_FORMATS) -> None:
    if format not in accepted:
        raise ValueError(f"unknown format {format!r}; accepted: {', '.join(accepted)}")


def check_n(n: int | None) -> None:
    if n is not None and n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")


def check_network_options(format: str, spec: str | None, from_dir: str | None, n: int | None,
                          seed: int | None = None, method: str | None = None, steps: int | None = None,
                          save: str | None = None) -> None:
    """The options every command on one trained network shares (mechanisms, align, llc-calibrate),
    checked before any work. ``method``, ``steps`` and ``save`` only apply to training (None where
    not given): each is a conflict with ``--from``, which analyses the
    saved network as it is. (``--n``/``--seed`` with ``--from`` are allowed only for a file that does
    not say them: :func:`compare.workflow.saved_network` decides.)"""
    check_format(format)
    if spec is None and from_dir is None:
        raise ValueError("give a task SPEC, or --from DIR with a saved network")
    check_n(n)
    if seed is not None and seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    training = {"method": method, "steps": steps, "save": save}
    given = [name for name, value in training.items() if value is not None]
    if from_dir is not None and given:
        why = "is already saved" if given[0] == "save" else "is analysed as it was trained"
        raise ValueError(f"--{given[0]} cannot apply with --from: the network in {from_dir} {why} "
                         f"(drop one of them)")


def output_folder(path: str, what: str, names: tuple[str, ...], force: bool) -> None:
    """An output folder checked before any work (:func:`compare.files.writable_folder`): writable,
    named (``--out ''`` is refused), and holding none of ``names`` unless ``force``."""
    from compare.files import writable_folder

    writable_folder(path, what, names, force)


def prior_weights(text: str | None) -> dict[str, float] | None:
    """``add=2,mul=0.5`` as prior weights (None when not given)."""
    try:
        return coerce(f"({text})", dict[str, float], "--weights", "synth") if text else None
    except ValueError as exc:
        expected = "expected primitive=number, e.g. add=2,mul=0.5"
        raise ValueError(f"bad --weights {text!r} ({exc}); {expected}") from None


def positive_floats(text: str, what: str, allow_auto: bool = False) -> tuple[float | None, ...]:
    """``1e-4,3e-4`` as positive floats (``auto``: None, where allowed)."""
    values: list[float | None] = []
    for part in (p.strip() for p in text.split(",")):
        if allow_auto and part == "auto":
            values.append(None)
            continue
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            accepted = "positive numbers" + (" or auto" if allow_auto else "")
            raise ValueError(f"{what} {part!r} is not accepted; give {accepted}, separated by commas")
        values.append(value)
    return tuple(values)


def check_synth_sources(spec: str | None, examples: str | None, test: str | None, dsl: str | None) -> None:
    """``dlps synth`` reads a task or an examples file (and a test file only with one), and an
    examples file names its DSL."""
    if (spec is None) == (examples is None):
        raise ValueError("give either a task SPEC or --examples FILE (not both)")
    if test is not None and examples is None:
        raise ValueError("--test needs --examples (a task brings its own test split)")
    if examples is not None and dsl is None:
        raise ValueError("--examples needs --dsl (e.g. --dsl arith:p=97, or --dsl seq for token sequences)")


def library_file(path: str) -> str:
    """``--library``: a readable library file (:mod:`synth.library`), checked before any search."""
    from synth.library import load_library  # the synthesizer's modules: only when a library is given

    try:
        load_library(path)
    except ValueError as exc:
        raise ValueError(f"--library: {exc}") from None
    return path


def at_least_one(value: int, name: str) -> int:
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def stored_summaries(store: str, tasks: list[str] | None, methods: list[str] | None) -> list:
    """The table's summaries of ``store`` filtered by ``--task``/``--method`` (``dlps table``,
    ``dlps plot``). ValueError (StoreError) for a store that cannot be read, holds nothing, or has no
    cell the filters match: then the message names the tasks and methods it holds, so a typo shows."""
    from compare.results.store import Store
    from compare.results.tables import summarize
    from tasks.spec import split_specs

    with Store(store, create=False) as results:
        rows = results.rows()
    if not rows:
        raise ValueError(f"{store} holds no cells yet")
    summaries = summarize(rows, split_specs(tasks), split_specs(methods))
    if not summaries:
        held_tasks = sorted({row.cell.task for row in rows})
        held_methods = sorted({row.cell.method for row in rows})
        raise ValueError(f"no finished cells in {store} match the filters; it holds tasks "
                         f"{_few(held_tasks)} and methods {_few(held_methods)}")
    return summaries


def _few(names: list[str], most: int = 8) -> str:
    """Up to ``most`` names (the rest counted): one line even for a store of many tasks."""
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
