"""One evaluator: fit a learner and score it on train, test and every out-of-distribution split.

``dlps train``, ``dlps synth``, the other one-network commands and every grid cell go through
:func:`fit_and_score` (by way of :mod:`compare.workflow`), so a number means the same wherever it is
printed or stored. :func:`task_data` and :func:`examples_data` load a one-learner command's data.
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
