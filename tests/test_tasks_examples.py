"""Examples files: JSON Lines round trips, clear errors naming the line, and the examples family."""

import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tasks import (
    UNSCORED,
    BracketsTask,
    ExamplesTask,
    InductionTask,
    ModularTask,
    SpecError,
    Split,
    parse_task,
    read_examples,
    write_examples,
)
from tasks.examples_file import ExamplesFileError

TMP = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=25)


def _same(a: Split, b: Split) -> None:
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert (a.mask is None) == (b.mask is None)
    if a.mask is not None:
        np.testing.assert_array_equal(a.mask, b.mask)
    assert a.X.dtype == b.X.dtype == np.int64 and a.y.dtype == b.y.dtype


task_splits = st.one_of(
    st.builds(
        lambda s, n: ModularTask(p=11).split(s, n, 1), st.sampled_from(["train", "test"]), st.integers(1, 60)
    ),
    st.builds(
        lambda kind, s: BracketsTask(kind=kind, max_len=12, n_test=60).split(s, 40, 2),
        st.sampled_from(["dyck1", "dyck2"]),
        st.sampled_from(["train", "test", "longer"]),
    ),
    st.builds(
        lambda s: InductionTask(seq_len=24, n_test=30).split(s, 30, 3),
        st.sampled_from(["train", "test", "longer", "unseen_tokens"]),
    ),
)


@st.composite
def made_splits(draw):
    """Splits built by hand: fixed arity or right-padded rows, single or per-position labels."""
    n, width = draw(st.integers(0, 8)), draw(st.integers(1, 6))
    per_position, padded = draw(st.booleans()), draw(st.booleans())
    d_vocab = draw(st.integers(2, 9))
    pad_id = d_vocab - 1 if padded else None
    top = d_vocab - 1 if padded else d_vocab
    X = np.array(draw(st.lists(st.lists(st.integers(0, top - 1), min_size=width, max_size=width),
                               min_size=n, max_size=n)), dtype=np.int64).reshape(n, width)
    if padded:
        lengths = draw(st.lists(st.integers(1, width), min_size=n, max_size=n))
        X[np.arange(width) >= np.array(lengths, dtype=np.int64).reshape(n, 1)] = pad_id
    n_classes = draw(st.integers(1, 5))
    labels = np.array(draw(st.lists(st.integers(0, n_classes - 1), min_size=n * width, max_size=n * width)))
    if per_position:
        mask = np.array(draw(st.lists(st.booleans(), min_size=n * width, max_size=n * width)), bool)
        mask = mask.reshape(n, width) & ((X != pad_id) if padded else True)
        y = np.where(mask, labels.reshape(n, width), UNSCORED).astype(np.int64)
    else:
        mask, y = None, labels.reshape(n, width)[:, 0].astype(np.int64) if n else np.empty(0, np.int64)
    columns = tuple(f"c{i}" for i in range(width))
    return Split(X=X, y=y, d_vocab=d_vocab, n_classes=n_classes, columns=columns, mask=mask, pad_id=pad_id)


@TMP
@given(split=st.one_of(task_splits, made_splits().filter(len)))
def test_export_and_read_back_gives_the_same_arrays(split, tmp_path):
    path = tmp_path / "split.jsonl"
    write_examples(split, path)
    back = read_examples(path, like=split)
    _same(back, split)
    assert (back.d_vocab, back.n_classes, back.pad_id, back.columns) == (
        split.d_vocab, split.n_classes, split.pad_id, split.columns,
    )
    stream = io.StringIO()
    write_examples(split, stream)
    assert stream.getvalue() == path.read_text()
    for line in stream.getvalue().splitlines():
        record = json.loads(line)
        assert set(record) == {"x", "y"} and pad_not_in(record["x"], split.pad_id)


def pad_not_in(x, pad_id) -> bool:
    return pad_id is None or not x or x[-1] != pad_id


@TMP
@given(split=st.one_of(task_splits, made_splits().filter(len)))
def test_inferred_read_back_is_exact_when_nothing_is_padded(split, tmp_path):
    # Without hints the reader infers n_classes from the labels, so it needs at least one scored one
    # (a file whose every y is null is rejected: see the bad-file tests).
    assume(split.pad_id is None and (split.mask is None or split.mask.any()))
    path = tmp_path / "split.jsonl"
    write_examples(split, path)
    _same(read_examples(path), split)


def test_brackets_read_back_without_hints_restores_the_padding(tmp_path):
    split = BracketsTask(kind="dyck1").test_split()
    write_examples(split, tmp_path / "b.jsonl")
    back = read_examples(tmp_path / "b.jsonl", pad=True)
    _same(back, split)
    assert back.pad_id == split.pad_id and back.d_vocab == split.d_vocab


def _write(tmp_path, text: str, name: str = "bad.jsonl") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"x": [1, 2], "y": 3}\n{"x": [1, 2], "y": 3\n', [":2:", "malformed JSON"]),
        ('{"x": [1, 2.5], "y": 3}\n', [":1:", "integers", "2.5"]),
        ('{"x": [1, "a"], "y": 3}\n', [":1:", "integers"]),
        ('{"x": [1, true], "y": 3}\n', [":1:", "integers"]),
        ('{"x": [1, -2], "y": 3}\n', [":1:", ">= 0"]),
        ('{"x": [], "y": 3}\n', [":1:", "non-empty"]),
        ('{"x": [1, 2], "y": 1.0}\n', [":1:", "y must be an integer"]),
        ('{"x": [1, 2], "y": [1, "a"]}\n', [":1:", "integers >= 0 or null"]),
        ("", ["holds no examples", "empty"]),
        ("\n\n  \n", ["holds no examples"]),
        ('{"x": [1, 2]}\n', [":1:", "missing key 'y'"]),
        ('{"y": 2}\n', [":1:", "missing key 'x'"]),
        ('{"x": [1], "y": 2, "z": 1}\n', [":1:", "unknown key 'z'", "accepted: x, y"]),
        ('[1, 2]\n', [":1:", "expected an object"]),
        ('{"x": [1, 2], "y": 3}\n\n{"x": [1, 2], "y": [3, 4]}\n', [":3:", "mixed label kinds", "line 1"]),
        ('{"x": [1, 2], "y": [3]}\n', [":1:", "y has 1 entries but x has 2"]),
        ('{"x": [1, 2], "y": 3}\n{"x": [1], "y": 3}\n', [":2:", "x has 1 values", "l:1 has 2", "pad=true"]),
        ('{"x": [1, 2], "y": [null, null]}\n', ["no scored target"]),
    ],
)
def test_bad_files_name_the_line(tmp_path, text, words):
    path = _write(tmp_path, text)
    with pytest.raises(ExamplesFileError) as error:
        read_examples(path)
    message = str(error.value)
    assert "\n" not in message and path in message
    for word in words:
        assert word in message


def test_missing_file_and_values_outside_a_given_vocabulary(tmp_path):
    with pytest.raises(ExamplesFileError, match="'nowhere.jsonl' not found"):
        read_examples("nowhere.jsonl")
    like = ModularTask(p=5).test_split()
    path = _write(tmp_path, '{"x": [1, 7], "y": 3}\n')
    with pytest.raises(ExamplesFileError, match=r":1: token 7 is not accepted; tokens must lie in \[0, 5\)"):
        read_examples(path, like=like)
    path = _write(tmp_path, '{"x": [1, 2], "y": 9}\n')
    with pytest.raises(ExamplesFileError, match=r":1: label 9 is not accepted"):
        read_examples(path, like=like)
    path = _write(tmp_path, '{"x": [1, 2, 3], "y": 1}\n')
    with pytest.raises(ExamplesFileError, match="more than the width 2"):
        read_examples(path, like=like)


def test_ragged_per_position_rows_are_padded(tmp_path):
    path = _write(tmp_path, '{"x": [3, 1, 3], "y": [null, 3, 1]}\n{"x": [2], "y": [0]}\n')
    split = read_examples(path)
    assert split.pad_id == 4 and split.d_vocab == 5 and split.n_classes == 4
    np.testing.assert_array_equal(split.X, [[3, 1, 3], [2, 4, 4]])
    np.testing.assert_array_equal(split.y, [[UNSCORED, 3, 1], [0, UNSCORED, UNSCORED]])
    np.testing.assert_array_equal(split.mask, [[False, True, True], [True, False, False]])
    assert split.columns == ("t0", "t1", "t2")


# --- the examples family ---------------------------------------------------------------------------


@pytest.fixture
def modular_file(tmp_path):
    task = ModularTask(p=11)
    path = tmp_path / "mod.jsonl"
    write_examples(task.train_split(task.max_train, 0), path)
    return task, str(path)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=15)
@given(fraction=st.sampled_from([0.1, 0.3, 0.5]), seeds=st.tuples(st.integers(0, 9), st.integers(0, 9)),
       n=st.integers(0, 25))
def test_held_out_share_is_fixed_disjoint_and_training_nests(modular_file, fraction, seeds, n):
    source, path = modular_file
    task = parse_task(f"examples:train={path},test_fraction={fraction}")
    assert parse_task(task.spec) == task
    test = task.test_split()
    assert len(test) == round(fraction * source.max_train)
    big, small = task.train_split(n, seeds[0]), task.train_split(n // 2, seeds[0])
    np.testing.assert_array_equal(small.X, big.X[: n // 2])
    assert {r.tobytes() for r in big.X}.isdisjoint({r.tobytes() for r in test.X})
    task.train_split(n, seeds[1])
    _same(ExamplesTask(train=path, test_fraction=fraction).test_split(), test)
    np.testing.assert_array_equal(source.reference(big.X), big.y)
    np.testing.assert_array_equal(task.reference(big.X), big.y)
    assert task.max_train + len(test) == source.max_train


def test_test_file_and_overlap_is_dropped_from_training(tmp_path):
    source = ModularTask(p=7)
    train_path, test_path = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    pool = source.train_split(source.max_train, 0)
    write_examples(pool, train_path)
    write_examples(pool.subset(slice(0, 5)), test_path)
    task = parse_task(f"examples:train={train_path},test={test_path}")
    assert len(task.test_split()) == 5 and task.max_train == len(pool) - 5
    _same(task.test_split(), pool.subset(slice(0, 5)))
    assert task.split("test").name == "test" and task.split("train", 3).name == "train"


def test_examples_family_errors(tmp_path, modular_file):
    _, path = modular_file
    with pytest.raises(SpecError, match="train=PATH is required"):
        parse_task("examples")
    with pytest.raises(SpecError, match="train file 'missing.jsonl' not found"):
        parse_task("examples:train=missing.jsonl")
    with pytest.raises(SpecError, match="test file 'gone.jsonl' not found"):
        parse_task(f"examples:train={path},test=gone.jsonl")
    with pytest.raises(SpecError, match=r"test_fraction=1.0 is not accepted"):
        parse_task(f"examples:train={path},test_fraction=1")
    tiny = _write(tmp_path, '{"x": [1, 2], "y": 3}\n', "tiny.jsonl")
    with pytest.raises(SpecError, match="too few to hold out"):
        parse_task(f"examples:train={tiny}").test_split()
    other = _write(tmp_path, '{"x": [1, 2], "y": [3, null]}\n', "seq.jsonl")
    with pytest.raises(SpecError, match="per-position targets but .* has single labels"):
        parse_task(f"examples:train={path},test={other}").test_split()
    task = parse_task(f"examples:train={path}")
    with pytest.raises(ValueError, match="neither examples file"):
        task.reference(np.array([[99, 99]]))
    with pytest.raises(SpecError, match="accepted: train, test$"):
        task.split("longer")


# --- limits: an examples file is untrusted input -------------------------------------------------


def test_each_limit_is_stated_and_can_be_raised(tmp_path):
    path = _write(tmp_path, '{"x": [1, 2, 3], "y": 70000}\n{"x": [1, 2, 3], "y": 0}\n')
    with pytest.raises(ExamplesFileError, match=r":1: label 70000 is above the limit 65535 \(max_label="):
        read_examples(path)
    assert read_examples(path, max_label=70_000).n_classes == 70_001
    with pytest.raises(ExamplesFileError, match=r":1: x has 3 tokens; the limit is 2 a row \(max_row="):
        read_examples(path, max_row=2, max_label=70_000)
    with pytest.raises(ExamplesFileError, match=r":1: token 3 is above the limit 2 \(max_token="):
        read_examples(path, max_token=2, max_label=70_000)
    with pytest.raises(ExamplesFileError, match=r"is 54 bytes; the limit is 10 bytes \(max_bytes=10\)"):
        read_examples(path, max_bytes=10)
    with pytest.raises(ExamplesFileError, match=r":1: the line is longer than the limit 20 bytes"):
        read_examples(path, max_line_bytes=20)
    assert len(read_examples(path, max_line_bytes=28, max_label=70_000)) == 2  # 28: the longest line
    with pytest.raises(ExamplesFileError, match=r"2 rows padded to the longest \(3 tokens\) are 6 values"):
        read_examples(path, max_cells=5, max_label=70_000)


def test_the_byte_limit_holds_while_reading_a_file_that_says_it_is_empty():
    # /proc files report size 0; a file may also grow after its size was checked.
    from tasks.examples_read import _lines

    stream = io.BytesIO(b'{"x": [1], "y": 1}\n' * 10)
    with pytest.raises(ExamplesFileError, match="larger than the limit 50 bytes"):
        list(_lines(stream, "grown.jsonl", max_bytes=50, max_line_bytes=100))


def test_line_endings_blank_lines_and_a_byte_order_mark(tmp_path):
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"x": [1, 2], "y": 3}\r\n\r\n  \n{"x": [0, 2], "y": 1}\r\n')
    split = read_examples(path)
    np.testing.assert_array_equal(split.X, [[1, 2], [0, 2]])
    np.testing.assert_array_equal(split.y, [3, 1])


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"x": [1], "y": 1}\n' + b"[" * 50 + b"]" * 50 + b"\n", [":2:", "nested 50 levels"]),
        (b'{"x": [1], "y": 1}\n{"x": ' + b"[" * 20 + b"]" * 20 + b', "y": 1}\n', [":2:", "x must be"]),
        (b'{"x": [1], "y": "' + b"[" * 100 + b'"}\n', [":1:", "y must be an integer"]),
        (b'{"x": [1], "y": ' + b"7" * 5000 + b"}\n", [":1:", "malformed JSON", "4300 digits"]),
        (b'{"x": [1], "y": 1}\n{"x": [1], "y": 1}\xc3\n', [":2:", "not UTF-8"]),
        (b'{"x": [1, -' + b"9" * 80 + b'], "y": 1}\n', [":1:", "integers >= 0", "characters)"]),
    ],
)
def test_hostile_lines_are_one_short_line_naming_the_line(tmp_path, content, words):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(ExamplesFileError) as error:
        read_examples(path)
    message = str(error.value)
    assert "\n" not in message and len(message) < len(str(path)) + 160, message
    for word in words:
        assert word in message


def test_special_files_are_refused_by_the_task_and_the_reader(tmp_path):
    import os

    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(ExamplesFileError, match="is a FIFO"):
        parse_task(f"examples:train={fifo}")
    with pytest.raises(ExamplesFileError, match="is a FIFO"):
        read_examples(fifo)  # opened without blocking: this returns at once
    with pytest.raises(ExamplesFileError, match="is a directory"):
        read_examples(tmp_path)
    with pytest.raises(ExamplesFileError, match="character device"):
        read_examples("/dev/zero")


def test_the_first_bad_row_is_reported_whatever_the_kind_of_fault(tmp_path):
    like = ModularTask(p=5).test_split()
    path = _write(tmp_path, '{"x": [1, 2], "y": 1}\n{"x": [1, 2], "y": 9}\n{"x": [1, 7], "y": 1}\n')
    with pytest.raises(ExamplesFileError, match=r":2: label 9 is not accepted"):
        read_examples(path, like=like)
    path = _write(tmp_path, '{"x": [1, 2], "y": 1}\n{"x": [1, 7], "y": 9}\n')
    with pytest.raises(ExamplesFileError, match=r":2: token 7 is not accepted"):
        read_examples(path, like=like)


def test_the_same_files_in_other_folders_give_the_same_splits(tmp_path, modular_file):
    """Issue 27 item 6: the held-out rows and the training draw follow the files' content, not
    their paths; a file with other content draws otherwise."""
    _, path = modular_file
    text = open(path, encoding="utf-8").read()
    copies = []
    for name in ("a", "b/c"):
        folder = tmp_path / name
        folder.mkdir(parents=True)
        (folder / "data.jsonl").write_text(text, encoding="utf-8")
        copies.append(parse_task(f"examples:train={folder / 'data.jsonl'}"))
    first, second = copies
    assert first.spec != second.spec
    _same(first.test_split(), second.test_split())
    for seed in (0, 3):
        _same(first.train_split(30, seed), second.train_split(30, seed))
    lines = text.splitlines()
    other = tmp_path / "other.jsonl"
    other.write_text("\n".join(lines[1:] + lines[:1]) + "\n", encoding="utf-8")  # same rows, other order
    moved = parse_task(f"examples:train={other}")
    assert not np.array_equal(moved.train_split(30, 0).X, first.train_split(30, 0).X)
