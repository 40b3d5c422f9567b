"""Size and seed lists: the lazy parser gives what the original one gave, and a list too long to be
meant is refused from its count, before any of it is built."""

from __future__ import annotations

import re
import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compare.grid.ranges import MAX_VALUES, _parse_int_list, parse_seeds, parse_sizes
from tasks import SpecError

_RANGE = re.compile(r"^(\d+)\.\.(\d+)(?:([x+])(\d+(?:\.\d+)?))?$")


def reference(text: str, what: str, geometric_default: bool) -> list[int]:
    """The parser as compare/grid.py (now compare/grid/ranges.py) had it (builds every value, then
    sorts): the semantics to keep, but for the upper end, now always included (issue 28 item 8)."""
    values: list[int] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        if item.isdigit():
            values.append(int(item))
            continue
        match = _RANGE.match(item)
        if not match:
            raise SpecError("bad item")
        start, stop, op, step_text = match.groups()
        start, stop = int(start), int(stop)
        if op is None:
            op, step_text = ("x", "2") if geometric_default else ("+", "1")
        step = float(step_text)
        if (op == "x" and step <= 1) or (op == "+" and (step < 1 or step != int(step))):
            raise SpecError("bad step")
        if op == "x" and start == 0:
            raise SpecError("geometric from 0")
        value = float(start)
        while round(value) <= stop:
            values.append(int(round(value)))
            value = value * step if op == "x" else value + step
        if start <= stop:
            values.append(stop)
    if not values:
        raise SpecError("empty")
    return sorted(set(values))


def _outcome(parse, *args):
    try:
        return parse(*args)
    except SpecError:
        return SpecError


_small = st.integers(0, 300)
_step = st.one_of(st.none(), st.sampled_from(["x2", "x3", "x1.5", "x1.1", "x1", "x0.5", "+1", "+3", "+0",
                                              "+2.0", "+2.5", "x10"]))
_item = st.one_of(
    st.builds(str, _small),
    st.builds(lambda a, b, s: f"{a}..{b}{s or ''}", _small, _small, _step),
    st.sampled_from(["", " ", "abc", "1..", "..4", "-3", "1.5"]),
)


@settings(max_examples=300, deadline=None)
@given(items=st.lists(_item, min_size=0, max_size=5), geometric=st.booleans())
def test_small_lists_parse_as_the_original_parser_did(items, geometric):
    text = ",".join(items)
    expected = _outcome(reference, text, "sizes", geometric)
    assert _outcome(_parse_int_list, text, "sizes", geometric) == expected


def test_the_documented_forms():
    assert parse_sizes("8,16,32") == [8, 16, 32]
    assert parse_sizes("8..4096x2") == [2**k for k in range(3, 13)]
    assert parse_sizes("10..100+10") == list(range(10, 101, 10))
    assert parse_sizes("4..20") == [4, 8, 16, 20]  # sizes double by default; the upper end is included


def test_both_ends_are_included_as_the_readme_says():
    """Issue 28 item 8: ``40..340x2`` gave 40, 80, 160, 320 (the 340 asked for was dropped)."""
    assert parse_sizes("40..340x2") == [40, 80, 160, 320, 340]
    assert parse_sizes("10..95+10") == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    assert parse_sizes("8..64x2") == [8, 16, 32, 64]  # a step that lands on the end adds nothing
    with pytest.raises(SpecError, match="holds 10 values; the limit is 9"):
        parse_sizes("10..95+10", max_values=9)  # the end counts before the list is built
    assert parse_seeds("0..4") == [0, 1, 2, 3, 4]
    assert parse_seeds("3,1,3") == [1, 3]


@pytest.mark.parametrize(
    ("parse", "text", "words"),
    [
        (parse_sizes, "1..1000000000+1", ["holds 1000000000 values", f"limit is {MAX_VALUES}"]),
        (parse_seeds, "0..100000000", ["holds 100000001 values", f"limit is {MAX_VALUES}"]),
        (parse_sizes, "1..1000000000000000000x1.0001", ["holds about 414", f"limit is {MAX_VALUES}"]),
        (parse_seeds, "0..6000,0..6000", ["holds 12002 values"]),  # counted before deduplication
        (parse_sizes, "1.." + "9" * 5000, ["(5003 characters)", "above 9223372036854775807"]),
        (parse_seeds, "9" * 20, ["above 9223372036854775807"]),
        (parse_sizes, "1..10x" + "9" * 400, None),  # an infinite factor: the list is [1, 10]
        (parse_sizes, "²", ["bad sizes '²'"]),
    ],
)
def test_long_or_huge_lists_are_refused_at_once_in_one_line(parse, text, words):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        if words is None:
            assert parse(text) == [1, 10]
            return
        with pytest.raises(SpecError) as error:
            parse(text)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    message = str(error.value)
    assert "\n" not in message and len(message) < 200, message
    for word in words:
        assert word in message
    # Nothing of the list was built: a billion ints would be ~36 GB; the parse allocates next to nothing.
    assert peak < 2**20, f"{peak} bytes"
    assert time.perf_counter() - started < 60  # a hang guard, not a speed figure


def test_the_limit_is_a_parameter_and_exact_at_the_edge():
    assert len(parse_seeds(f"1..{MAX_VALUES}")) == MAX_VALUES
    with pytest.raises(SpecError, match=f"holds {MAX_VALUES + 1} values"):
        parse_seeds(f"0..{MAX_VALUES}")
    assert parse_seeds("0..20", max_values=21) == list(range(21))
    with pytest.raises(SpecError, match="holds 21 values; the limit is 20"):
        parse_seeds("0..20", max_values=20)
    # A factor range is counted by following it: 2**0 .. 2**62 is 63 values, well inside the limit.
    assert parse_sizes(f"1..{2**62}x2") == [2**k for k in range(63)]
    assert parse_sizes("1..1000x1.001") == reference("1..1000x1.001", "sizes", True)  # 6,911 steps
