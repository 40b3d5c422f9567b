"""Random specs, well formed or not, never give a traceback: exit 0 or exit 2 with one line."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli import app
from compare.methods import make_learner, method_names
from tasks import SpecError, parse_task

runner = CliRunner()
pieces = st.sampled_from(["modular", "brackets", "induction", "examples", "synth", "mlp", "transformer",
                          "arith", "seq", "p", "op", "kind", "n_test", "d_model", "steps", "dsl", "lr",
                          "x+y", "x/y", "dyck2", "none", "true", "-1", "0", "1e309", "nan", "97", "2**70",
                          "99999999999999999999", ":", ",", "=", "(", ")", "/", ";", " ", "é", "\x00"])
specs = st.lists(pieces, min_size=1, max_size=12).map("".join)


def assert_clean(result) -> None:
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 2:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs)
def test_random_task_specs_sample_or_exit_2(spec):
    try:  # keep the fuzz cheap: only specs whose test split is small get to the CLI
        task = parse_task(spec)
        if getattr(task, "n_test", 0) > 2000 or getattr(task, "p", 0) > 200:
            return
    except (SpecError, ValueError):
        pass
    assert_clean(runner.invoke(app, ["sample", "--n", "1", "--split", "test", "--", spec]))


@settings(max_examples=150, deadline=None)
@given(specs)
def test_random_dsl_specs_list_or_exit_2(spec):
    assert_clean(runner.invoke(app, ["dsl", "--", spec]))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(method_names()), specs)
def test_random_method_specs_build_or_raise_a_spec_error(name, rest):
    try:
        make_learner(f"{name}:{rest}")
    except SpecError as exc:
        assert "\n" not in str(exc)
