"""Train one learner on a task's splits and summarize it (used by ``dlps train``), and plot its curves."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from baselines.learners import NeuralLearner
from baselines.training import first_step
from tasks import Split


def train_and_score(
    learner, train: Split, evals: dict[str, Split], threshold: float = 0.99
) -> dict[str, Any]:
    """Fit ``learner`` on ``train`` and score it on ``train`` and each of ``evals``.

    Networks log ``evals`` in their history (never used for stopping). ``accuracy`` maps each part to
    its masked accuracy, or None where the learner cannot take that input (a fixed-width learner on
    longer sequences); ``errors`` says why. ``first_step`` holds, for networks, the first logged step
    at which train and test accuracy reached ``threshold``.
    """
    neural = isinstance(learner, NeuralLearner)
    start = time.perf_counter()
    if neural:
        width = train.X.shape[1]
        takes = {k: s for k, s in evals.items() if not learner.fixed_width or s.X.shape[1] <= width}
        learner.fit(train.X, train.y, eval_sets=takes)
    else:
        learner.fit(train.X, train.y)
    seconds = time.perf_counter() - start
    accuracy: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for name, split in {"train": train, **evals}.items():
        try:
            accuracy[name] = learner.score(split.X, split.y)
        except ValueError as exc:
            accuracy[name], errors[name] = None, str(exc)
    out: dict[str, Any] = {"accuracy": accuracy, "seconds": round(seconds, 3)}
    if neural:
        out["steps"] = learner.stopped_step_
        out["first_step"] = {
            part: first_step(learner.history_, f"{part}_acc", threshold) for part in ("train", *evals)
        }
    if errors:
        out["errors"] = errors
    return out


def plot_history(history: dict[str, list[float]], path: str | Path, title: str = "") -> None:
    """A PNG of accuracy and loss per part against the step (symmetric-log axis, so step 0 shows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = history["step"]
    parts = [key[: -len("_acc")] for key in history if key.endswith("_acc")]
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    for part in parts:
        ax_acc.plot(steps, history[f"{part}_acc"], label=part)
        ax_loss.plot(steps, history[f"{part}_loss"], label=part)
    for ax, label in ((ax_acc, "accuracy"), (ax_loss, "loss (cross-entropy)")):
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_loss.set_yscale("log")
    ax_acc.set_ylim(-0.02, 1.02)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
