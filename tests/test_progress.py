"""The training progress bar of ``dlps train`` / ``dlps mechanisms``: drawn on a terminal (or when
forced) after a delay, with step, loss, test accuracy and ETA; nothing in pipes and tests."""

from __future__ import annotations

import io

from rich.console import Console
from typer.testing import CliRunner

import cli
from compare.evaluate import fit_and_score, task_data
from compare.methods import make_learner
from compare.progress import FitProgress


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=160, color_system=None), out


def train_with(bar: FitProgress, steps: int = 30):
    _, train, evals = task_data("modular:p=7", 20, 0)
    learner = make_learner("transformer", train, steps=steps, d_model=16, d_mlp=32, random_state=0)
    with bar:
        return fit_and_score(learner, train, evals, progress=bar), learner


def test_bar_shows_step_loss_test_accuracy_and_eta_on_a_terminal():
    screen, out = console(terminal=True)
    evaluation, learner = train_with(FitProgress(screen, delay=0.0))
    text = out.getvalue()
    assert "training" in text and "step 30/30" in text and "ETA" in text
    loss = learner.history_["train_loss"][-1]
    assert f"loss {loss:.3g}" in text and f"test acc {learner.history_['test_acc'][-1]:.4f}" in text
    assert evaluation.accuracy["test"] is not None


def test_no_bar_in_a_pipe_or_before_the_delay():
    pipe, out = console(terminal=False)
    train_with(FitProgress(pipe, delay=0.0))
    assert out.getvalue() == ""
    screen, out = console(terminal=True)
    train_with(FitProgress(screen, delay=3600.0))  # a short job finishes before the bar would appear
    assert out.getvalue() == ""
    forced, out = console(terminal=False)
    train_with(FitProgress(forced, force=True, delay=0.0))
    assert "step 30/30" in out.getvalue()


def test_the_bar_never_changes_what_is_learned():
    plain, _ = train_with(FitProgress(console(terminal=False)[0]))
    shown, _ = train_with(FitProgress(console(terminal=True)[0], delay=0.0))
    assert plain.accuracy == shown.accuracy


def test_a_phase_shows_a_spinner_after_the_delay():
    screen, out = console(terminal=True)
    with FitProgress(screen, delay=0.0) as bar, bar.phase("analysing"):
        import time

        time.sleep(0.3)
    assert "analysing" in out.getvalue()
    screen, out = console(terminal=True)
    with FitProgress(screen, delay=3600.0) as bar, bar.phase("analysing"):
        pass
    assert out.getvalue() == ""


def test_cli_train_prints_no_bar_when_not_a_terminal():
    result = CliRunner().invoke(cli.app, ["train", "modular:p=7", "--n", "20", "--steps", "5"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# modular:op=x+y,p=7") and "step 5/5" not in result.output
