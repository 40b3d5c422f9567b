"""What the short codes of the mechanism summaries mean, for the legend under a table or in a report.

A grid cell keeps a one-line summary of its analyses (``mechanisms.report.summary_record`` and the
registry's other columns: ``k=1,17,27 r=1.00 r_held=1.00 emerge@390 held@390``,
``depth sel 0.37 @l0.cell``, ``ind 0.85 L1H0``, ``2 of 3 subexpressions aligned (IIA ≥ 0.9)``), and
the table adds ``(1/3) @1740``. Those lines are short so that a table stays narrow; this module says
in words what each code stands for. Each entry has a pattern that finds its code in a summary, so
that a legend lists only the codes that a table actually shows (a legend of everything would bury
the two lines a reader needs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: (code as printed, pattern that finds it, its meaning). Order: the order the codes appear in a line.
CODES: tuple[tuple[str, str, str], ...] = (
    ("k=a,b", r"(?:^|\s)k=", "key frequencies: the Fourier frequencies over Z_p each holding >= 70% of a "
                             "live MLP neuron's variance ('none': no neuron reaches that)"),
    ("r=x", r"(?:^|\s)r=", "restricted accuracy: the network's logits kept to the key frequencies, "
                           "scored on all p² input pairs (0..1)"),
    ("r_held=x", r"r_held=", "held-out control: the same with the key part fitted and scored on "
                             "test pairs only (a memorizer stays near chance here)"),
    ("emerge@S", r"emerge@", "emergence: the first training step from which r >= 0.99 at every later "
                             "checkpoint"),
    ("held@S", r"held@", "the same step for the held-out control r_held"),
    ("no emergence", r"no emergence", "r never stayed >= 0.99 up to the last checkpoint"),
    ("ind x LaHb", r"(?:^|\s)ind [-\d.]+ L\d+H\d+", "induction score x (0..1) of the best head, layer a, "
                                                     "head b: its attention mass on the token right after "
                                                     "an earlier occurrence of the current token"),
    ("depth sel x @site", r"depth sel", "depth probe selectivity: a linear probe's accuracy for the "
                                        "running bracket depth minus a control task's, at its best site "
                                        "(l0.cell: layer 0's cell state, b1.resid_post: block 1's "
                                        "residual stream)"),
    ("k of m subexpressions aligned", r"subexpressions aligned",
     "alignment: how many of the program's subexpressions a network site computes, by "
     "interchange-intervention accuracy (IIA) at or above the threshold shown"),
    ("none found", r"none found", "no head or probe passed its analysis"),
    ("(c/s)", r"\(\d+/\d+\)", "c of the s seeds gave this summary (the most frequent one is shown)"),
    ("@n", r"(?:^|\s)@\d+$", "the training size n the summary is from (the largest with one)"),
)


def explain(texts: Iterable[str]) -> list[tuple[str, str]]:
    """(code, meaning) for each code of :data:`CODES` found in any of ``texts``, in :data:`CODES`
    order; empty when none is found."""
    texts = [t for t in texts if t]
    return [(code, meaning) for code, pattern, meaning in CODES
            if any(re.search(pattern, text) for text in texts)]


def legend_lines(texts: Iterable[str], width: int = 100) -> list[str]:
    """:func:`explain` as plain text lines (``code: meaning``) no wider than ``width`` where words
    allow, continuation lines indented (for Markdown and piped output)."""
    import textwrap

    lines = []
    for code, meaning in explain(texts):
        lines += textwrap.wrap(f"{code}: {meaning}", width=width, subsequent_indent="    ",
                               break_long_words=False, break_on_hyphens=False)
    return lines


def markdown_legend(texts: Iterable[str]) -> list[str]:
    """:func:`explain` as Markdown lines (a ``Codes:`` line and one bullet per code, then a blank
    line), or no line where ``texts`` hold no code."""
    codes = explain(texts)
    if not codes:
        return []
    bullets = [f"- `{code}`: {meaning}" for code, meaning in codes]
    return ["Codes in the mechanism summaries:", "", *bullets, ""]
