"""Examples files are untrusted input: every bad file ends in exit 2 and one line on stderr, never a
traceback, a hang or a memory blowup — through the real command line, in a subprocess whose peak
memory is measured. A fuzz test throws random malformed JSON Lines files at ``dlps sample``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import cli

ROOT = Path(__file__).resolve().parent.parent
#: A refused file must be refused before anything big is allocated (dlps train imports torch: ~400 MB).
PEAK_LIMIT_MB = 1024


def _lines(*records: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def _rows(n: int, label: Callable[[int], int] = lambda i: i % 2, x=lambda i: [i % 7, 1]) -> str:
    return _lines(*({"x": x(i), "y": label(i)} for i in range(n)))


def _text(content: str | bytes) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        path = folder / "data.jsonl"
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return str(path)

    return make


def _fifo(folder: Path) -> str:
    path = folder / "pipe.jsonl"
    os.mkfifo(path)
    return str(path)


def _sparse(folder: Path) -> str:
    """A 3.1 GB file that takes no disk space (a hole): reading it whole would need 3.1 GB."""
    path = folder / "huge.jsonl"
    with open(path, "wb") as handle:
        handle.truncate(3 * 2**30 + 2**27)
    return str(path)


def _device(_: Path) -> str:
    return "/dev/zero"


def _directory(folder: Path) -> str:
    (folder / "dir.jsonl").mkdir()
    return str(folder / "dir.jsonl")


def _ragged(folder: Path) -> str:
    """One row of 8,000 tokens pads 20,000 one-token rows to 160 million values (1.2 GB an array)."""
    path = folder / "ragged.jsonl"
    long = {"x": [1] * 8000, "y": [1] * 8000}
    path.write_text(_lines(long) + _lines({"x": [1], "y": [1]}) * 20_000)
    return str(path)


HUGE = 2**70  # beyond int64
# (id, file maker, command given the file's path, words the one line must hold)
CASES = [
    ("int-beyond-int64", _text(_rows(10, label=lambda i: HUGE)), "sample", [":1", "label", "65535"]),
    ("token-beyond-int64", _text(_rows(10, x=lambda i: [HUGE, 1])), "sample", [":1", "token", "max_token"]),
    ("negative-huge", _text(_rows(10, label=lambda i: -HUGE)), "sample", [":1", "y must be an integer"]),
    ("5000-digit-int", _text('{"x": [1], "y": ' + "9" * 5000 + "}\n"), "sample", [":1", "malformed JSON"]),
    ("deep-nesting", _text(_rows(3) + "[" * 100_000 + "]" * 100_000 + "\n"), "sample", [":4", "nested"]),
    ("deep-unclosed", _text('{"x": ' + "[" * 100_000 + "\n"), "sample", [":1", "nested"]),
    ("fifo", _fifo, "sample", ["FIFO", "regular files"]),
    ("dev-zero", _device, "sample", ["/dev/zero", "character device"]),
    ("directory", _directory, "sample", ["directory"]),
    ("3.1-GB-file", _sparse, "sample", ["3.1 GB", "256 MB", "max_bytes="]),
    ("long-line", _text(_rows(2) + " " * (3 * 2**20) + "\n"), "sample", [":3", "max_line_bytes="]),
    ("not-utf8", _text(_rows(2).encode() + b"\xff\xfe{}\n"), "sample", [":3", "UTF-8"]),
    ("label-2e7", _text(_rows(10, label=lambda i: 2 * 10**7 if i == 4 else 1)), "sample",
     [":5", "label 20000000", "limit 65535", "max_label"]),
    ("row-100k-tokens", _text(_rows(3, x=lambda i: [1] * 100_000)), "sample", [":1", "100000", "max_row"]),
    ("ragged-padding", _ragged, "sample", [":1", "160008000", "max_cells"]),
    ("label-1e15-mlp", _text(_rows(40, label=lambda i: 10**15 if i == 7 else 1)), "train",
     [":8", "label 1000000000000000", "65535"]),
    ("row-100k-mlp", _text(_rows(3, x=lambda i: [1] * 100_000)), "train", [":1", "max_row"]),
    ("fifo-synth", _fifo, "synth", ["FIFO"]),
    ("deep-synth", _text("[" * 100_000 + "\n"), "synth", [":1", "nested"]),
]


def _argv(command: str, path: str) -> list[str]:
    if command == "sample":
        return ["sample", f"examples:train={path}"]
    if command == "train":
        return ["train", f"examples:train={path}", "--method", "mlp", "--n", "8", "--steps", "2"]
    return ["synth", "--examples", path, "--dsl", "arith:p=97"]


def _run_measured(argv: list[str]) -> tuple[int, str, int]:
    """Exit code, stderr and peak resident memory (MB) of ``python -m cli argv`` (os.wait4 gives the
    rusage of this child alone, unlike RUSAGE_CHILDREN, which is the largest child so far)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([sys.executable, "-m", "cli", *argv], cwd=ROOT, stdout=out, stderr=err)
        try:
            # A regression here may be a hang (FIFO): the alarm below turns it into a failure.
            _, status, usage = _wait4(process.pid, timeout=300)
        finally:
            if process.poll() is None:
                process.kill()
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return process.returncode, err.read().decode(errors="replace"), usage.ru_maxrss // 1024


def _wait4(pid: int, timeout: float):
    import signal

    def expire(*_):
        os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"the command ran for over {timeout} s (a hang?)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(int(timeout))
    try:
        return os.wait4(pid, 0)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(("make", "command", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_examples_file_is_one_line_exit_2_and_bounded(tmp_path, make, command, words):
    path = make(tmp_path)
    code, stderr, peak_mb = _run_measured(_argv(command, path))
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    for word in words:
        assert word in lines[0]
    assert peak_mb < PEAK_LIMIT_MB, f"peak {peak_mb} MB"


# --- fuzz: random malformed JSON Lines files ---------------------------------------------------------

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**80), 2**80), st.integers(0, 5),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["x", "y", "z", ""]), inner, max_size=3)
    ),
    max_leaves=12,
)
_targets = st.lists(st.one_of(st.none(), st.integers(0, 3)), max_size=4)
_good_row = st.builds(lambda x, y: {"x": x, "y": y}, st.lists(st.integers(0, 6), min_size=1, max_size=4),
                      st.one_of(st.integers(0, 3), _targets))
_KINDS = ["good", "value", "bytes", "truncated", "nested", "empty", "unicode", "huge"]


@st.composite
def _line(draw) -> bytes:
    kind = draw(st.sampled_from(_KINDS))
    if kind == "good":
        return json.dumps(draw(_good_row)).encode()
    if kind == "value":
        return json.dumps({"x": draw(_json_values), "y": draw(_json_values)}).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=40)).replace(b"\n", b" ")
    if kind == "truncated":
        text = json.dumps(draw(_good_row)).encode()
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    if kind == "nested":
        depth = draw(st.sampled_from([3, 40, 5000]))
        return b'{"x": ' + b"[" * depth + b"1" + b"]" * draw(st.integers(0, depth)) + b', "y": 1}'
    if kind == "empty":
        return draw(st.sampled_from([b"", b"   ", b"\t", b"\r"]))
    if kind == "unicode":
        return draw(st.text(max_size=20)).replace("\n", " ").encode("utf-8", errors="surrogatepass")
    return b'{"x": [1, %d], "y": %d}' % (draw(st.integers(2**62, 2**200)), draw(st.integers(-(2**70), 2**70)))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line(), max_size=12), split=st.sampled_from(["train", "test"]))
def test_random_malformed_files_exit_0_or_2_never_a_traceback(tmp_path, lines, split):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = CliRunner().invoke(cli.app, ["sample", f"examples:train={path}", "--n", "1", "--split", split])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert len(result.stderr.strip("\n").split("\n")) == 1, result.stderr
