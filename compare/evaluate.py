"""One evaluator: fit a learner and score it on train, test and every out-of-distribution split.

``dlps train``, ``dlps synth`` and every grid cell go through :func:`fit_and_score`, so a number means
the same wherever it is printed or stored. :func:`single_run` is what the two single-learner commands
run, and gives their one JSON schema (README, "Output formats").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tasks import Split, accuracy


@dataclass
class Evaluation:
    """A fitted learner's scores: ``accuracy`` per part (None where the learner cannot read that
    input, with the reason in ``errors``), fit wall time, and what it learned (``summary``)."""

    accuracy: dict[str, float | None]
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def score(learner: Any, split: Split) -> float:
    """Masked accuracy of ``learner`` on ``split``."""
    return accuracy(split.y, np.asarray(learner.predict(split.X)), split.mask)


def fit_and_score(learner: Any, train: Split, evals: dict[str, Split], fitted: bool = False,
                  seconds: float = 0.0, log: tuple[str, ...] | None = None,
                  progress: Any = None) -> Evaluation:
    """Fit ``learner`` on ``train`` (unless ``fitted``: then ``seconds`` is its fit time) and score it
    on ``train`` and each of ``evals``.

    The learner sees the evals named in ``log`` (default: all) only to log them while it trains (a
    network's history, which tells when it generalized); nothing is chosen by them. A part the
    learner cannot read (an MLP on longer rows) gets accuracy None and its reason, and the rest
    still counts. ``progress`` (a :class:`compare.progress.FitProgress`) shows a network's training.
    """
    if not fitted:
        logged = {k: v for k, v in evals.items() if log is None or k in log}
        start = time.perf_counter()
        if progress is not None and getattr(learner, "has_model", False):
            with progress.training(learner.steps) as callbacks:
                learner.fit(train.X, train.y, mask=train.mask, eval_sets=logged, **callbacks)
        else:
            learner.fit(train.X, train.y, mask=train.mask, eval_sets=logged)
        seconds = time.perf_counter() - start
    result = Evaluation(accuracy={}, seconds=round(seconds, 4), summary=learner.fitted_summary())
    for name, split in {"train": train, **evals}.items():
        try:
            result.accuracy[name] = score(learner, split)
        except ValueError as exc:  # an input this learner cannot take; recorded, not raised
            result.accuracy[name], result.errors[name] = None, str(exc)
    return result


def evaluation_splits(task: Any) -> dict[str, Split]:
    """The test split and every OOD split of ``task``, by name."""
    return {"test": task.test_split(), **{name: task.ood_split(name) for name in task.ood_names}}


def single_run(learner: Any, train: Split, evals: dict[str, Split], source: dict[str, Any],
               method_spec: str, seed: int, progress: Any = None) -> dict[str, Any]:
    """Fit and score one learner; the result in the JSON schema shared by ``dlps train`` and
    ``dlps synth``: ``task``/``examples``/``test_file`` (where the data came from), ``method`` (the
    canonical spec), ``n``, ``seed``, ``accuracy`` (part → accuracy or null), ``seconds``, ``learner``
    (what it learned: the program and its bits, or steps to 99%), and ``errors`` where a part could
    not be scored."""
    result = fit_and_score(learner, train, evals, progress=progress)
    out = {"task": None, "examples": None, "test_file": None} | source
    out |= {"method": method_spec, "n": len(train), "seed": seed, "accuracy": result.accuracy,
            "seconds": result.seconds, "learner": result.summary}
    if result.errors:
        out["errors"] = result.errors
    return out


def task_data(spec: str, n: int, seed: int) -> tuple[dict[str, Any], Split, dict[str, Split]]:
    """Where the data comes from (``{"task": spec}``), ``n`` training examples drawn with ``seed``,
    and the task's test and OOD splits."""
    from tasks import parse_task

    task = parse_task(spec)
    return {"task": task.spec}, task.train_split(n, seed), evaluation_splits(task)


def examples_data(train_file: str, test_file: str | None, pad: bool) -> tuple[dict[str, Any], Split,
                                                                               dict[str, Split]]:
    """Training (and test) splits read from examples files, sharing one vocabulary; rows of
    different lengths are right-padded token sequences when ``pad``."""
    from tasks.examples_file import build_splits, parse_examples

    files = [parse_examples(train_file)] + ([parse_examples(test_file)] if test_file else [])
    train, *rest = build_splits(files, pad=pad, names=["train", "test"][: len(files)])
    return {"examples": train_file, "test_file": test_file}, train, ({"test": rest[0]} if rest else {})


def saved_network(from_dir: str, spec: str | None) -> tuple[Any, str, int, int, str | None]:
    """The network saved in ``from_dir`` (``--save``) with the task spec, n, seed and method spec it
    was trained with (``--from`` of mechanisms, align and llc-calibrate). ValueError (one line) where
    ``spec`` names another task, or where neither the folder nor ``spec`` says which task."""
    from baselines.checkpoints import load_learner
    from tasks import parse_task

    learner = load_learner(from_dir)
    meta = learner.meta_
    if spec is not None and meta.get("task") and parse_task(spec).spec != meta["task"]:
        raise ValueError(f"{from_dir} holds a network trained on {meta['task']}, not {parse_task(spec).spec}")
    spec = meta.get("task") or spec
    if spec is None:
        raise ValueError(f"{from_dir} does not say which task it was trained on; give the TASK")
    return learner, spec, meta["n"], meta["seed"], meta.get("method")


def mechanisms_run(spec: str | None, method: str, n: int | None, seed: int, steps: int | None,
                   from_dir: str | None, save: str | None, plots: str | None,
                   device: str | None = None, progress: Any = None) -> dict[str, Any]:
    """What ``dlps mechanisms`` runs: train ``method`` on ``n`` examples of task ``spec`` keeping the
    default checkpoints (or load the network saved in ``from_dir``, whose task, n and seed are then
    used), score it, analyse what it computes (:func:`mechanisms.report.analyse`), and write its
    pictures into ``plots``. ValueError (one line) for anything not covered or not readable."""
    from baselines.checkpoints import checkpoint_settings, save_learner
    from compare.files import writable_folder
    from compare.methods import canonical_spec, make_learner
    from mechanisms.report import analyse, check_covered
    from tasks import parse_task

    if from_dir is not None:
        learner, spec, n, seed, method_spec = saved_network(from_dir, spec)
    task = parse_task(spec)
    n = min(task.max_train, 4000) if n is None else n
    for folder, what in ((save, "the saved network"), (plots, "plots")):
        if folder is not None:
            writable_folder(folder, what)
    train, evals = task.train_split(n, seed), evaluation_splits(task)
    if from_dir is None:
        overrides = {"random_state": seed} | ({} if steps is None else {"steps": steps})
        overrides |= {} if device is None else {"device": device}  # training only: analyses run on the CPU
        learner = make_learner(method, train, **overrides)
        if not learner.has_model:
            raise ValueError(f"mechanisms need a network (transformer, mlp, lstm), not {method!r}")
        check_covered(learner, task)  # before any training
        learner.set_params(**checkpoint_settings(learner.steps))
        method_spec = canonical_spec(method, train, **overrides)
        evaluation = fit_and_score(learner, train, evals, log=("test",), progress=progress)
        learner.model_.cpu()
        if save is not None:
            save_learner(learner, save, meta={"task": task.spec, "method": method_spec, "n": n, "seed": seed})
    else:
        evaluation = fit_and_score(learner, train, evals, fitted=True, seconds=learner.fit_seconds_)
    if progress is None:
        report = analyse(learner, task, train, seed=seed)
    else:
        with progress.phase("analysing"):
            report = analyse(learner, task, train, seed=seed)
    out = {"task": task.spec, "method": method_spec, "n": n, "seed": seed, "accuracy": evaluation.accuracy,
           "seconds": evaluation.seconds, **report}
    if plots is not None:
        out["plots"] = [str(p) for p in _mechanism_plots(learner, task, train, report, plots)]
    return out


def _mechanism_plots(learner: Any, task: Any, train: Split, report: dict[str, Any], folder: str) -> list:
    if report["analysis"] == "fourier":
        from mechanisms.plots_modular import write_plots

        return write_plots(learner, task, train, folder, progress=report.get("progress"))
    from mechanisms.plots_sequences import write_plots
    from mechanisms.sequences import model_inputs

    tokens = model_inputs(learner, task.test_split().subset(slice(0, 1)))[0]
    return write_plots(learner, report, tokens, folder)
