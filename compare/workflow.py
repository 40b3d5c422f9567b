"""The one-network workflow: build a learner from its spec with the settings' defaults, train it (or
load a saved one, ``--from``), score it with the one evaluator (:mod:`compare.evaluate`), run the
requested analyses (:mod:`mechanisms.registry`), and write its plots and artefacts.

``dlps train`` and ``dlps synth`` (:func:`learner_run`), ``dlps mechanisms`` (:func:`mechanisms_run`),
``dlps align`` (:func:`align_run`), ``dlps llc-calibrate`` (:func:`calibrate_run`) and every grid cell
(:func:`analyse_cell`, :func:`save_network`) come through here, so each step is written once.
Everything a user can get wrong (a bad spec, a learner no analysis covers, a folder that cannot be
written, a program that does not parse) is checked before any training, with a one-line ValueError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from baselines.checkpoint_check import CheckpointError, check_task_fit, short
from baselines.checkpoints import FILE, checkpoint_settings, load_learner, save_learner
from compare.evaluate import Evaluation, evaluation_splits, fit_and_score
from compare.files import writable_folder
from compare.methods import canonical_spec, learner_class, make_learner, parse_method
from compare.settings.defaults import COMMAND_N, SINGLE_SYNTH_SECONDS
from mechanisms import llc
from mechanisms.alignment import ROWS, alignment_report, check_alignable, programs_to_align
from mechanisms.registry import Analysis, Record, Subject, for_cell, parse
from tasks import Split, Task, parse_task
from tasks.registry import FAMILIES
from tasks.spec import param_types

#: Which tasks, methods and options a one-network command names (``meta`` of a saved network).
META_KEYS = ("task", "examples", "method", "n", "seed")


#: An output folder of a command: its path (None: not asked for), what it is for, and the names
#: (or glob patterns) of the files the command writes there.
Folder = tuple[str | None, str, tuple[str, ...]]
CALIBRATION_PLOT = "llc_calibration.png"
#: The pictures ``dlps mechanisms --plots`` may write (mechanisms/plots_modular.py, plots_sequences.py).
MECHANISM_PLOTS = ("embedding_spectrum.png", "neurons.png", "progress.png", "attention.png",
                   "head_scores.png", "probes.png")


@dataclass
class Network:
    """A trained (or loaded) network with its data: the learner, the task, the training split and
    the evaluation splits, the canonical method spec, n, the seed, and its scores."""

    learner: Any
    task: Task
    train: Split
    evals: dict[str, Split]
    method_spec: str
    n: int
    seed: int
    evaluation: Evaluation

    def subject(self, params: dict[str, Any] | None = None) -> Subject:
        return Subject(self.learner, self.task, self.train, self.seed, params or {})

    def header(self) -> dict[str, Any]:
        """The fields every one-network result starts with."""
        return {"task": self.task.spec, "method": self.method_spec, "n": self.n, "seed": self.seed,
                "accuracy": self.evaluation.accuracy}


#: The method a one-network command trains when none is given (``--method``).
DEFAULT_METHOD = "transformer"
#: The largest training size and seed a saved network's ``meta`` may name.
MAX_META_N = 10**9
MAX_META_SEED = 2**63 - 1


def saved_network(from_dir: str, spec: str | None, n: int | None = None, seed: int | None = None
                  ) -> tuple[Any, str, int, int, str]:
    """The network saved in ``from_dir`` (``--save``) with the task spec, n, seed and method spec it
    was trained with. ``n`` and ``seed`` come from the command line only where the file does not
    say them (given as well, they are a conflict). ValueError (one line naming the file) where
    ``spec`` names another task, where neither the file nor ``spec`` says the task, n or seed, or
    where a field of ``meta`` is malformed. A task spec in the file that reads files (an examples
    task) is never opened unless ``spec`` names the same one."""
    learner = load_learner(from_dir)
    path, meta = learner.checkpoint_path_, learner.meta_
    unknown = sorted(k for k in meta if k not in META_KEYS)
    if unknown:
        raise CheckpointError(f"{path}: meta.{unknown[0]} is not a field of a saved network's meta "
                              f"({', '.join(META_KEYS)})")
    task = _saved_task(path, meta.get("task"), spec)
    n = _saved_number(path, meta, "n", n, 1, MAX_META_N)
    seed = _saved_number(path, meta, "seed", seed, 0, MAX_META_SEED)
    method = meta.get("method")
    if method is not None and not isinstance(method, str):
        raise CheckpointError(f"{path}: meta.method must be a method spec (a string)")
    return learner, task, n, seed, method or learner.method_name


def _saved_task(path: str, saved: Any, spec: str | None) -> str:
    """The task spec of a saved network: the file's (checked, never opened when it reads files and
    the user did not name it), or ``spec`` where the file names none."""
    if saved is None:
        if spec is None:
            raise ValueError(f"{path} does not say which task it was trained on; give the TASK")
        return spec
    if not isinstance(saved, str):
        raise CheckpointError(f"{path}: meta.task must be a task spec (a string)")
    family = saved.partition(":")[0].strip()
    reads_files = getattr(FAMILIES.get(family), "reads_files", False)
    if spec is None and reads_files:
        raise CheckpointError(f"{path}: its task reads files ({saved[:80]}); dlps opens only files named "
                              "on the command line: give the same task spec as TASK")
    if reads_files:  # compared as text: the file's spec is never parsed, so its paths are never opened
        mine = parse_task(spec).spec
        if mine != saved:
            raise ValueError(f"{path} holds a network trained on {saved[:200]}, not {mine}")
        return mine
    try:
        saved_spec = parse_task(saved).spec
    except ValueError as exc:
        raise CheckpointError(f"{path}: meta.task: {str(exc)[:160]}") from None
    if spec is not None and parse_task(spec).spec != saved_spec:
        raise ValueError(f"{path} holds a network trained on {saved_spec}, not {parse_task(spec).spec}")
    return saved_spec


def _saved_number(path: str, meta: dict, key: str, given: int | None, low: int, high: int) -> int:
    """``meta[key]`` checked to lie in [low, high], or ``given`` (``--n``/``--seed``) where the file
    has none; both is a conflict, neither an error naming the option to give."""
    value = meta.get(key)
    if value is None:
        if given is None:
            raise ValueError(f"{path} does not say its {key}; give --{key}")
        return given
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CheckpointError(f"{path}: meta.{key}={short(value)} is out of range; accepted: "
                              f"integers in [{low}, {high}]")
    if given is not None:
        raise ValueError(f"--{key} cannot apply with --from: {path} was trained with {key}={value} "
                         f"(drop --{key})")
    return value


def network(
    spec: str | None,
    method: str | None,
    n: int | None,
    seed: int | None,
    *,
    command: str,
    steps: int | None = None,
    device: str | None = None,
    from_dir: str | None = None,
    folders: Sequence[Folder] = (),
    force: bool = False,
    check: Callable[[Any, Task, Split], None] | None = None,
    checkpoints: bool = False,
    score: bool = True,
    progress: Any = None,
) -> Network:
    """Train ``method`` (None: :data:`DEFAULT_METHOD`) on ``n`` examples of task ``spec`` (default n:
    ``COMMAND_N[command]``, at most the task's pool) drawn with ``seed`` (None: 0), or load the
    network saved in ``from_dir`` (whose task, n and seed are then used), and score it (unless
    ``score`` is False). Before any training: each of ``folders`` ((path or None, what it is for,
    the file names the command writes there)) must be writable and, unless ``force``, hold none of
    those files; ``check(learner, task, train)`` must pass; ``checkpoints`` keeps the default
    checkpoints. Networks train on ``device`` and are then moved to the CPU, where analyses run."""
    if from_dir is not None:
        learner, spec, n, seed, method_spec = saved_network(from_dir, spec, n, seed)
    method = method or DEFAULT_METHOD
    seed = 0 if seed is None else seed
    task = parse_task(spec)
    n = min(task.max_train, COMMAND_N[command]) if n is None else n
    for folder, what, names in folders:
        if folder is not None:
            writable_folder(folder, what, names, force)
    if from_dir is not None:
        return _loaded(learner, task, n, seed, method_spec, check, score)
    train = task.train_split(n, seed)
    evals = evaluation_splits(task) if score else {}
    overrides = {"random_state": seed} | ({} if steps is None else {"steps": steps})
    overrides |= {} if device is None else {"device": device}  # training only: analyses run on the CPU
    learner = make_learner(method, train, **overrides)
    if check is not None:
        check(learner, task, train)
    if not learner.has_model:
        raise ValueError(f"dlps {command}: its analyses need a network (transformer, mlp, lstm), "
                         f"not {method!r}")
    if checkpoints:
        learner.set_params(**checkpoint_settings(learner.steps))
    method_spec = canonical_spec(method, train, **overrides)
    if score:
        evaluation = fit_and_score(learner, train, evals, log=("test",), progress=progress)
    else:  # the LLC's calibration reads the trained weights only
        start = time.perf_counter()
        learner.fit(train.X, train.y, mask=train.mask)
        evaluation = Evaluation(accuracy={}, seconds=round(time.perf_counter() - start, 4))
    learner.model_.cpu()
    return Network(learner, task, train, evals, method_spec, n, seed, evaluation)


def _loaded(learner: Any, task: Task, n: int, seed: int, method_spec: str,
            check: Callable[[Any, Task, Split], None] | None, score: bool) -> Network:
    """A saved network on its task: the task's data must fit the network (vocabulary, labels,
    width) and hold n training examples, all checked before any analysis."""
    path = learner.checkpoint_path_
    if n > task.max_train:
        raise CheckpointError(f"{path}: n={n} is more than the {task.max_train} training examples "
                              f"of {task.spec}")
    train = task.train_split(n, seed)
    test = task.test_split()
    for split in (train, test):
        check_task_fit(learner, split.X, split.y, path)
    evals = evaluation_splits(task) if score else {}
    if check is not None:
        check(learner, task, train)
    evaluation = fit_and_score(learner, train, evals, fitted=True, seconds=learner.fit_seconds_)
    return Network(learner, task, train, evals, method_spec, n, seed, evaluation)


def save_network(learner: Any, folder: str | Path, meta: dict[str, Any]) -> list[str]:
    """Write a fitted network (weights, checkpoints, history) with ``meta`` (its task, method, n and
    seed) into ``folder``; the paths written."""
    return save_learner(learner, folder, meta={k: meta.get(k) for k in META_KEYS if k in meta})


# --- analyses: the registry's, on one network or one grid cell -----------------------------------


def check_analyses(learner: Any, task: Task, train: Split,
                   analyses: Sequence[tuple[Analysis, dict[str, Any]]]) -> None:
    """ValueError (the first analysis's reason, one line) when one of ``analyses`` (each with its
    parameters) does not cover ``learner`` on ``task``'s data; cheap, so it runs before any training."""
    if not learner.has_model:
        name = getattr(learner, "method_name", type(learner).__name__)
        raise ValueError(f"the analyses of one network need a network (transformer, mlp, lstm), not {name!r}")
    for analysis, params in analyses:
        reason = analysis.covers(learner, task.test_split(), task, params)
        if reason is not None:
            raise ValueError(reason)


def analyse_cell(learner: Any, task: Task, train: Split, seed: int, stamps: Sequence[str],
                 run: Callable[[Analysis, Subject], Record | None] | None = None) -> tuple[dict, dict]:
    """What a grid cell stores besides its scores: each analysis of the cell's learner kind that it
    runs (the unstamped ones, and those its fingerprint's ``stamps`` ask for) and that covers it, its
    record under the analysis's name in ``metrics``; its seconds (a diagnostic) in ``extra``."""
    metrics: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    subject = Subject(learner, task, train, seed)
    for analysis in for_cell(stamps, type(learner)):
        start = time.perf_counter()
        record = analysis.run(subject) if run is None else run(analysis, subject)
        if record is not None:  # its time goes with the diagnostics: tables stay deterministic
            metrics[analysis.name] = record.to_metrics()
            extra[f"{analysis.name}_seconds"] = round(time.perf_counter() - start, 3)
    return metrics, extra


def uses_checkpoints(learner: Any, task: Task, stamps: Sequence[str]) -> bool:
    """True when one of the analyses a cell runs reads the network's checkpoints."""
    split = task.test_split()
    return any(a.uses_checkpoints(split, task) for a in for_cell(stamps, type(learner)))


# --- the one-network commands ----------------------------------------------------------------------


def learner_run(load: Callable[[], tuple[dict, Split, dict]], method: str, seed: int, overrides: dict,
                save: str | None = None, plot: str | None = None, progress: Any = None,
                force: bool = False) -> tuple[dict[str, Any], Any]:
    """``dlps train`` and ``dlps synth``: load the data (``load()``: its source, the training split,
    the evaluation splits), build ``method`` with ``overrides``, fit and score it, save the network
    into ``save`` and its training curves into ``plot`` (existing files replaced only with ``force``,
    checked before training). Returns the result in the JSON schema the two
    commands share (README, "Output formats") and the fitted learner."""
    overrides = _single_defaults(method, overrides)
    make_learner(method, None, random_state=seed, **overrides)  # a bad method stops before any data
    source, train, evals = load()
    learner = make_learner(method, train, random_state=seed, **overrides)
    if (save or plot) and not learner.has_model:
        raise ValueError(f"--save and --out need a network method (transformer, mlp, lstm), not {method!r}")
    if save is not None:
        writable_folder(save, "the saved network", (FILE,), force)
        learner.set_params(**checkpoint_settings(learner.steps))
    plot_file = None if plot is None else _plot_path(plot, force)
    spec = canonical_spec(method, train, **overrides)
    evaluation = fit_and_score(learner, train, evals, progress=progress)
    result = {"task": None, "examples": None, "test_file": None} | source
    result |= {"method": spec, "n": len(train), "seed": seed, "accuracy": evaluation.accuracy,
               "seconds": evaluation.seconds, "learner": evaluation.summary}
    if "first_step" in evaluation.summary:  # a network: the step key every command and export share
        result["generalization_step"] = evaluation.summary["first_step"].get("test")
    if evaluation.errors:
        result["errors"] = evaluation.errors
    if save is not None:
        _written(lambda: save_network(learner, save, result), save)
    if plot_file is not None:
        from baselines.report import plot_history  # matplotlib: only when a plot is asked for

        title = f"{result['task'] or result['examples']}  {spec}"
        _written(lambda: plot_history(learner.history_, plot_file, title=title), plot_file)
    return result, learner


def _written(write: Callable[[], Any], where: str | Path) -> Any:
    """``write()``, whose OSError (a full disk, a folder removed meanwhile) is one line naming
    ``where``; atomic writes leave the old file (or none) behind, never a partial or empty one."""
    try:
        return write()
    except OSError as exc:
        raise ValueError(f"cannot write {where}: {exc.strerror or exc}; nothing was written there") from None


def _single_defaults(method: str, overrides: dict) -> dict:
    """A one-off search ends: the synthesizer's time limit in the one-learner commands, unless the
    spec or the command line sets one (grid cells keep none, so that their results do not depend on
    the machine's speed)."""
    name, params = parse_method(method)
    searches = learner_class(name).finds_programs and "time_limit" in param_types(learner_class(name))
    if searches and "time_limit" not in params and "time_limit" not in overrides:
        return overrides | {"time_limit": SINGLE_SYNTH_SECONDS}
    return overrides


def _plot_path(plot: str, force: bool) -> str:
    """``--plot``: a PNG file, or a folder (existing, or written with a trailing ``/``) that gets
    ``training.png``; its folder checked writable and the file absent (unless ``force``) before
    training."""
    if plot.endswith("/") or Path(plot).is_dir():
        writable_folder(plot, "the training plot", ("training.png",), force)
        return str(Path(plot) / "training.png")
    if not plot:
        raise ValueError("--out: give a folder name (got an empty one)")
    writable_folder(str(Path(plot).parent), "the training plot", (Path(plot).name,), force)
    return plot


def mechanisms_run(spec: str | None, method: str | None, n: int | None, seed: int | None, steps: int | None,
                   from_dir: str | None, save: str | None, plots: str | None, device: str | None = None,
                   progress: Any = None, analyses: str = "mechanism", force: bool = False) -> dict[str, Any]:
    """``dlps mechanisms``: train ``method`` keeping the default checkpoints (or load the network
    saved in ``from_dir``), score it, run each of ``analyses`` (registry names, each with its
    parameters: ``mechanism:open=(0,2),close=(1,3),simplicity``; those with a full report merge it
    into the result, the others add their record under their name), and write their pictures into
    ``plots``."""
    chosen = parse(analyses)

    def check(learner: Any, task: Task, train: Split) -> None:
        check_analyses(learner, task, train, chosen)

    net = network(spec, method, n, seed, command="mechanisms", steps=steps, device=device, from_dir=from_dir,
                  folders=((save, "the saved network", (FILE,)), (plots, "plots", MECHANISM_PLOTS)),
                  force=force, check=check, checkpoints=True, progress=progress)
    if save is not None and from_dir is None:
        _written(lambda: save_network(net.learner, save, net.header()), save)
    out = net.header() | {"seconds": net.evaluation.seconds}
    reports: list[tuple[Analysis, dict, dict]] = []
    for analysis, params in chosen:
        with _phase(progress, f"analysis {analysis.name}"):  # one stage each: the LLC can take minutes
            if analysis.report is not None:
                report = analysis.report(net.subject(params))
                reports.append((analysis, params, report))
                out |= report
            else:
                record = analysis.run(net.subject(params))
                out[analysis.name] = None if record is None else record.to_metrics()
    if plots is not None:
        with _phase(progress, "plots"):
            paths = [path for a, params, r in reports if a.plots is not None
                     for path in a.plots(net.subject(params), r, plots)]
        out["plots"] = [str(p) for p in paths]
    return out


def _phase(progress: Any, name: str) -> AbstractContextManager:
    return nullcontext() if progress is None else progress.phase(name)


def align_run(spec: str | None, method: str | None, n: int | None, seed: int | None, steps: int | None,
              from_dir: str | None, program_text: str | None, plots: str | None, das: bool = False,
              rows: int = ROWS, device: str | None = None, force: bool = False,
              progress: Any = None) -> dict[str, Any]:
    """``dlps align``: train (or load) a network, score it, and align it with the task's programs
    (:func:`mechanisms.alignment.alignment_report` on ``rows`` rows of each split); write the IIA
    heatmaps into ``plots``. ``progress`` (a :class:`compare.progress.FitProgress`) shows each stage."""

    def check(learner: Any, task: Task, train: Split) -> None:
        check_alignable(learner)
        if program_text is not None:  # a bad program stops before training
            programs_to_align(task, train, program_text, 0 if seed is None else seed)

    net = network(spec, method, n, seed, command="align", steps=steps, device=device, from_dir=from_dir,
                  folders=((plots, "plots", ("alignment_*.png",)),), force=force, check=check,
                  progress=progress)
    with _phase(progress, "alignment (probes, interchange interventions)"):
        report = alignment_report(net.learner, net.task, net.train, program_text=program_text,
                                  seed=net.seed, das=das, rows=rows)
    out = net.header() | report
    if plots is not None:
        from mechanisms.plots_align import write_plots  # matplotlib: only when plots are asked for

        with _phase(progress, "plots"):
            out["plots"] = [str(p) for p in _written(lambda: write_plots(out, plots), plots)]
    return out


def calibrate_run(spec: str | None, method: str | None, n: int | None, seed: int | None, steps: int | None,
                  from_dir: str | None, epsilons: tuple[float, ...], nbetas: tuple[float | None, ...],
                  chains: int, draws: int, out: str | None, device: str | None = None,
                  force: bool = False, progress: Any = None) -> dict[str, Any]:
    """``dlps llc-calibrate``: the LLC estimator over an ε × nβ grid on one network (nβ None: n / log
    n), with the plot written into ``out``; ``progress`` shows each stage."""
    net = network(spec, method, n, seed, command="llc-calibrate", steps=steps, device=device,
                  from_dir=from_dir, folders=((out, "the calibration plot", (CALIBRATION_PLOT,)),),
                  force=force, score=False)
    default = llc.default_nbeta(len(net.train))
    config = replace(llc.DEFAULTS, chains=chains, draws=draws)
    grid = tuple(default if b is None else b for b in nbetas)
    with _phase(progress, f"LLC over {len(epsilons)} × {len(grid)} settings"):
        rows = llc.calibrate(net.learner, net.train, epsilons, grid, config, seed=net.seed)
    result = {"task": net.task.spec, "method": net.method_spec, "n": net.n, "seed": net.seed,
              "default_nbeta": default, "grid": rows}
    if out is not None:
        from mechanisms.plots_llc import plot_calibration  # matplotlib: only when a plot is asked for

        target = Path(out) / CALIBRATION_PLOT
        result["plot"] = str(_written(lambda: plot_calibration(rows, target, net.task.spec), target))
    return result
