"""Bad grids and oversized tasks are refused before any work: exit 2, one line, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("args, words", [
    (["sample", "induction:n_test=100000000", "--split", "test"], ["100,000,000 rows", "GB", "limit"]),
    (["sample", "brackets:max_len=1024,n_test=10000000", "--split", "test"], ["10,000,000 rows", "GB"]),
    (["train", "induction:seq_len=4096", "--n", "1048576"], ["1,048,576 rows of 4096 tokens", "GB"]),
])
def test_oversized_splits_are_refused_up_front_with_bounded_memory(args, words):
    code = ("import sys, resource; from typer.testing import CliRunner; from cli import app; "
            f"r = CliRunner().invoke(app, {args!r}); "
            "print(r.exit_code); print(r.stderr.strip()); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    code_line, message, peak_kb = out.stdout.strip().splitlines()[-3:]
    assert code_line == "2" and message.startswith("Error: ") and "Traceback" not in out.stdout + out.stderr
    for word in words:
        assert word in message, (word, message)
    assert int(peak_kb) < 1.5 * 2**20  # well under 1.5 GB: nothing was built


def test_a_huge_grid_is_refused_and_a_large_one_needs_yes(tmp_path):
    store = str(tmp_path / "s.sqlite")
    huge = ["run", "--tasks", "modular:p=59;modular:p=61", "--methods", "lookup", "--sizes", "1..1000+1",
            "--seeds", "0..1000", "--store", store]
    assert "2,002,000 cells" in one_line_error(runner.invoke(app, huge))
    large = ["run", "--tasks", "modular:p=59", "--methods", "lookup;knn", "--sizes", "1..600+1",
             "--seeds", "0..9", "--store", store]
    message = one_line_error(runner.invoke(app, large))
    assert "12,000 cells" in message and "--yes" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_device_cuda_without_a_gpu_is_refused_in_train_and_in_a_grid(tmp_path):
    message = one_line_error(runner.invoke(app, ["train", "modular:p=7", "--method", "mlp:device=cuda",
                                                 "--n", "8"]))
    assert "no CUDA GPU" in message
    grid = ["run", "--tasks", "modular:p=7", "--methods", "mlp:device=cuda", "--sizes", "2"]
    message = one_line_error(runner.invoke(app, [*grid, "--store", str(tmp_path / "s.sqlite")]))
    assert "no CUDA GPU" in message and not (tmp_path / "s.sqlite").exists()
    message = one_line_error(runner.invoke(app, ["train", "modular:p=7", "--method", "mlp:device=bogus"]))
    assert "device='bogus'" in message
