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
    assert result.stdout.startswith("# modular:op=x+y,p=7") and "step 5/5" not in result.output


# --- stages: a spinner without an empty ETA, and one line per finished stage on a pipe (issue 28) ---


def test_a_spinner_shows_no_eta_without_a_value():
    screen, out = console(terminal=True)
    with FitProgress(screen, delay=0.0) as bar, bar.stage("analysis mechanism"):
        import time

        time.sleep(0.3)
    assert "analysis mechanism" in out.getvalue() and "ETA" not in out.getvalue()


def test_on_a_pipe_each_long_enough_stage_is_one_line():
    pipe, out = console(terminal=False)
    train_with(FitProgress(pipe, pipe_delay=0.0))
    with FitProgress(pipe, pipe_delay=0.0) as bar, bar.stage("alignment"):
        pass
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("dlps: training done in 0:00:0") and "step 30/30" in lines[0]
    assert lines[1].startswith("dlps: alignment done in 0:00:00")
    quiet, out = console(terminal=False)
    with FitProgress(quiet, pipe_delay=3600.0) as bar, bar.stage("alignment"):
        pass  # a quick stage adds nothing to a log
    assert out.getvalue() == ""


def test_mechanisms_and_align_report_their_stages_on_a_pipe(monkeypatch, tmp_path):
    import compare.progress

    monkeypatch.setattr(compare.progress, "PIPE_DELAY", 0.0)
    result = CliRunner().invoke(cli.app, ["mechanisms", "modular:p=11,test_fraction=0.4", "--method", "mlp",
                                          "--steps", "20", "--format", "json"])
    assert result.exit_code == 0, result.output
    stages = [line.split(" done in ")[0] for line in result.stderr.splitlines()]
    assert stages == ["dlps: training", "dlps: analysis mechanism"], result.stderr
    args = ["align", "brackets:kind=dyck1,n_test=40", "--method", "transformer:d_model=16,n_heads=2,"
            "d_mlp=32", "--n", "32", "--steps", "5", "--rows", "20",
            "--program", "last(eq0(tally(is(tokens, tok0))))"]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    stages = [line.split(" done in ")[0] for line in result.stderr.splitlines()]
    assert stages == ["dlps: training", "dlps: alignment (probes, interchange interventions)"], result.stderr
