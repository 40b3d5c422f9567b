"""Size and seed lists (``--sizes``, ``--seeds``): integers and ranges, counted before they are built.

``8,16,32``, ``8..4096x2`` (geometric, factor 2), ``10..100+10`` (step 10), ``0..4`` (every integer,
or doubling where geometric is the default); both ends always included (``40..340x2`` is 40, 80, 160,
320, 340: a user who writes 340 means to train at 340); the result is sorted and deduplicated. A
range's length is known without building it (``(stop - start) // step + 1``, plus the end, or at
most :data:`MAX_VALUES` + 1 factor steps), so ``1..1000000000+1`` is refused at once, in one line naming
its count and the limit, instead of filling memory with a billion integers first.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from tasks import SpecError

#: Most values a list may hold (a grid has sizes × seeds × tasks × methods cells; a list this long is
#: already a mistake or a run of years). Counted before deduplication, so overlapping ranges count twice.
MAX_VALUES = 10_000
#: Sizes and seeds are stored as SQLite integers (64-bit).
LARGEST = 2**63 - 1

_RANGE = re.compile(r"^(\d+)\.\.(\d+)(?:([x+])(\d+(?:\.\d+)?))?$")
_INTEGER = re.compile(r"^\d+$")


@dataclass(frozen=True)
class _Item:
    """One comma-separated item: ``start..stop`` by ``op`` (``+`` step or ``x`` factor), or one value
    (``start == stop``, step 1). ``op`` is empty for a bare range until the list's default fills it."""

    start: int
    stop: int
    op: str = "+"
    step: float = 1

    def count(self, cap: int) -> tuple[int, bool]:
        """How many values the item yields, and whether that is exact (a factor range is followed for
        at most ``cap`` + 1 steps; beyond that its length is estimated from logarithms)."""
        if self.start > self.stop:
            return 0, True
        if self.op == "+":
            span, step = self.stop - self.start, int(self.step)
            return span // step + 1 + (span % step > 0), True  # the upper end, when no step lands on it
        n = sum(1 for _ in zip(range(cap + 1), self.values(), strict=False))
        if n <= cap:
            return n, True
        return int((math.log(self.stop) - math.log(self.start)) / math.log(self.step)) + 2, False

    def values(self):
        """The values, lazily: integer steps exactly, factors as the original float recurrence, then
        the upper end where no step landed on it."""
        if self.start > self.stop:
            return
        last = self.start
        if self.op == "+":
            last = self.start + (self.stop - self.start) // int(self.step) * int(self.step)
            yield from range(self.start, self.stop + 1, int(self.step))
        else:
            value = float(self.start)
            while math.isfinite(value) and round(value) <= self.stop:
                last = int(round(value))
                yield last
                value *= self.step
        if last != self.stop:
            yield self.stop


def _number(text: str, what: str, item: str) -> int:
    # Length first: int() refuses strings of over 4,300 digits, and such a value is too large anyway.
    # (int reads every digit \d matches, so ``text``, matched by \d+, always converts.)
    value = LARGEST + 1 if len(text.lstrip("0")) > len(str(LARGEST)) else int(text)
    if value > LARGEST:
        raise SpecError(f"bad {what} {_short(item)}: values above {LARGEST} (2**63 - 1) are not accepted")
    return value


def _short(text: str, limit: int = 60) -> str:
    """``text`` quoted, cut short: the message stays one readable line whatever was typed."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[: limit - 20] + "...") + f" ({len(text)} characters)"


def _parse_item(item: str, what: str) -> _Item:
    if _INTEGER.match(item):
        value = _number(item, what, item)
        return _Item(value, value)
    match = _RANGE.match(item)
    if not match:
        raise SpecError(
            f"bad {what} {_short(item)}; expected integers and ranges like 8,16,32 or 8..4096x2 or 0..4"
        )
    start_text, stop_text, op, step_text = match.groups()
    start, stop = _number(start_text, what, item), _number(stop_text, what, item)
    if op is None:  # a bare range a..b: filled in by the caller (its default depends on the list)
        return _Item(start, stop, "", 0.0)
    return _Item(start, stop, op, float(step_text))


def _parse_int_list(
    text: str, what: str, geometric_default: bool, max_values: int = MAX_VALUES
) -> list[int]:
    """Comma-separated integers and ranges ``a..b`` (every integer, or ×2 when geometric by default),
    ``a..bxF`` (geometric, factor F) and ``a..b+S`` (step S), both ends always included.

    SpecError for a bad item, an empty list, or more than ``max_values`` values (counted first)."""
    items = []
    for part in filter(None, (part.strip() for part in text.split(","))):
        item = _parse_item(part, what)
        if not item.op:
            item = _Item(item.start, item.stop, *(("x", 2.0) if geometric_default else ("+", 1)))
        bad_step = item.step <= 1 if item.op == "x" else (item.step < 1 or item.step != int(item.step))
        if bad_step:
            raise SpecError(f"bad {what} {_short(part)}: a factor must be > 1 and a step a positive integer")
        if item.op == "x" and item.start == 0:
            raise SpecError(f"bad {what} {_short(part)}: a geometric range cannot start at 0")
        items.append(item)
    total, exact = 0, True
    for item in items:
        count, item_exact = item.count(max_values)
        total, exact = total + count, exact and item_exact
    if total > max_values:
        about = "" if exact else "about "
        raise SpecError(
            f"{what} {_short(text)} holds {about}{total} values; the limit is {max_values} a list"
        )
    values = {value for item in items for value in item.values()}
    if not values:
        raise SpecError(f"no {what} in {_short(text)} (a range a..b needs a <= b): the grid would be empty")
    return sorted(values)


def parse_sizes(text: str, max_values: int = MAX_VALUES) -> list[int]:
    """Training sizes: ``8,16,32``, ``8..4096x2`` (geometric), ``10..100+10``; all ≥ 1, sorted."""
    sizes = _parse_int_list(text, "sizes", geometric_default=True, max_values=max_values)
    if any(n < 1 for n in sizes):
        raise SpecError(f"training sizes must be >= 1 (learning curves use a log axis); got {_short(text)}")
    return sizes


def parse_seeds(text: str, max_values: int = MAX_VALUES) -> list[int]:
    """Seeds: ``0,1,2`` or ``0..4`` (both ends included)."""
    return _parse_int_list(text, "seeds", geometric_default=False, max_values=max_values)
