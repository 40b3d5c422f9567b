"""The claims table of ``dlps report``: each claim of the README's "Science" part, with the number the
store gives it, its 95% interval, the sample it rests on, what result would have contradicted it, and
a verdict (supported: the interval lies on the claimed side; contradicted: on the other; undecided:
it straddles). A claim the store cannot support yet says what to run.

The claims and their contradicting results were written before the science run was looked at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compare.methods import network_methods, program_methods
from compare.results.report_stats import NOT_REACHED, bootstrap_mean
from compare.results.tables import Summary
from tasks.spec import split_spec

RUN = "run `dlps run --preset science` (then `dlps report`)"


@dataclass
class Claim:
    """One row of the claims table."""

    name: str
    claim: str
    contradicted_by: str
    number: float | None = None
    low: float | None = None
    high: float | None = None
    sample: str = ""
    todo: str | None = None
    #: The claim says "≥ 0" rather than "> 0".
    inclusive: bool = False

    @property
    def verdict(self) -> str:
        """supported: the interval lies above 0 (at or above, for an inclusive claim); contradicted:
        below 0; undecided: it straddles 0."""
        if self.todo is not None or self.low is None or self.high is None or math.isnan(self.low):
            return "not supported yet"
        if self.low > 0 or (self.inclusive and self.low >= 0):
            return "supported"
        if self.high < 0:
            return "contradicted"
        return "undecided"


def _log_ratios(summaries: Sequence[Summary]) -> list[tuple[float, bool, bool]]:
    """Per modular task: log2(best network n@99 / the synthesizer's n@99); a network that never
    reached 99% counts as :data:`NOT_REACHED` × its largest n (so the ratio is then a lower bound).
    With each ratio: whether no network reached 99%, and whether the synthesizer did at the smallest
    size tried (its true n@99 may be smaller: a lower bound again)."""
    by_task: dict[str, list[Summary]] = {}
    for s in summaries:
        if split_spec(s.task)[0] == "modular":
            by_task.setdefault(s.task, []).append(s)
    out = []
    for group in by_task.values():
        synth = [s for s in group if split_spec(s.method)[0] in program_methods() and s.n99 is not None]
        nets = [s for s in group if split_spec(s.method)[0] in network_methods() and s.points]
        if synth and nets:
            best = min(s.n99 if s.n99 is not None else NOT_REACHED * s.points[-1].n for s in nets)
            censored = all(s.n99 is None for s in nets)
            out.append((math.log2(best / synth[0].n99), censored, synth[0].n99 == synth[0].points[0].n))
    return out


def _ood_gaps(summaries: Sequence[Summary]) -> list[float]:
    """Per task and OOD split: the synthesizer's accuracy at its largest n minus the best network's."""
    by_task: dict[str, list[Summary]] = {}
    for s in summaries:
        by_task.setdefault(s.task, []).append(s)
    out = []
    for group in by_task.values():
        synth = [s for s in group if split_spec(s.method)[0] in program_methods()]
        nets = [s for s in group if split_spec(s.method)[0] in network_methods()]
        for name, point in synth[0].ood.items() if synth else []:
            others = [s.ood[name].mean for s in nets if name in s.ood]
            if others:
                out.append(point.mean - max(others))
    return out


def _pick(found: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """The cross-task study to cite: the transformer's if present, then the one with most operations."""
    if not found:
        return None
    return max(found.items(), key=lambda kv: (kv[0].startswith("transformer"), kv[1]["bits~n99"]["n_ops"]))


def _sample_efficiency(summaries: Sequence[Summary]) -> Claim:
    """The synthesizer reaches 99% from fewer examples than the best network (modular tasks)."""
    ratios = _log_ratios(summaries)
    c = Claim(
        "sample efficiency",
        "On modular arithmetic the synthesizer reaches 99% test accuracy from fewer examples than the "
        "best network: log2(network n@99 / synthesizer n@99) > 0 (median over operations).",
        "an interval entirely ≤ 0 (a network as sample-efficient as the synthesizer)",
    )
    if ratios:
        c.number, c.low, c.high = bootstrap_mean([r for r, _, _ in ratios], statistic=np.median)
        c.sample = (f"{len(ratios)} modular tasks with synthesizer and network cells; no network at 99% in "
                    f"{sum(r[1] for r in ratios)} (counted as {NOT_REACHED:g}× the largest n), the "
                    f"synthesizer at 99% from the smallest n in {sum(r[2] for r in ratios)}: lower bounds")
    else:
        c.todo = RUN
    return c


#: The two cross-task rank correlations: (key in a study, claim name, claim text).
_CORRELATIONS = (
    (
        "bits~n99",
        "simple programs, less data",
        "Operations whose MAP program is shorter need fewer examples for the network: Spearman ρ(bits, "
        "n@99) > 0.",
    ),
    (
        "bits~llc",
        "simple programs, simple networks",
        "Operations whose MAP program is shorter end in networks with a lower LLC: "
        "Spearman ρ(bits, LLC) > 0.",
    ),
)


def _correlation(key: str, name: str, text: str, study: tuple[str, dict[str, Any]] | None) -> Claim:
    """One rank-correlation claim, read from the cross-task ``study`` (see :func:`_pick`)."""
    c = Claim(name, text, "an interval entirely below 0")
    if study is not None and math.isfinite(study[1][key]["low"]):
        r = study[1][key]
        c.number, c.low, c.high = r["rho"], r["low"], r["high"]
        c.sample = f"{study[0]}: {r['n_ops']} operations × {r['seeds']} seeds"
    elif study is not None and study[1][key]["n_ops"] >= 3:
        # ρ is undefined when one side is constant: typically no operation reached 99%
        r = study[1][key]
        c.sample = f"{study[0]}: {r['n_ops']} operations × {r['seeds']} seeds"
        c.todo = ("no ranking: one side is the same for every operation (n@99 not reached by any?); "
                  "train longer (`--steps`) or on more of the pairs")
    else:
        c.todo = RUN + " (≥ 3 modular operations with synthesizer and network cells)"
    return c


def _circuit_first(pairs: Sequence[tuple[float, float]]) -> Claim:
    """The Fourier circuit emerges no later than generalization; ``pairs`` are (emergence, 99%) steps."""
    gaps = [g - e for e, g in pairs]
    c = Claim(
        "circuit before generalization",
        "In networks that learn modular addition, the Fourier circuit (held-out control) emerges no later "
        "than test accuracy reaches 99%: median(generalization step − emergence step) ≥ 0.",
        "an interval entirely below 0 (the circuit appears after the network generalizes)",
    )
    if gaps:
        c.number, c.low, c.high = bootstrap_mean(gaps, statistic=np.median)
        c.inclusive = True
        c.sample = f"{len(gaps)} network cells with both steps"
    else:
        c.todo = RUN + " (modular x+y or x-y network cells that generalize: none in this store did)"
    return c


def _extrapolation(summaries: Sequence[Summary]) -> Claim:
    """Out of distribution the synthesizer's program keeps more accuracy than the best network."""
    ood_gaps = _ood_gaps(summaries)
    c = Claim(
        "programs extrapolate",
        "Out of distribution (longer or unseen inputs) the synthesizer's program keeps more accuracy than "
        "the best network: mean(synthesizer − best network) > 0 over tasks and OOD splits.",
        "an interval entirely below 0",
    )
    if ood_gaps:
        c.number, c.low, c.high = bootstrap_mean(ood_gaps)
        c.sample = f"{len(ood_gaps)} task × OOD split pairs at the largest n"
    else:
        c.todo = RUN + " (tasks with OOD splits: brackets, induction)"
    return c


def _programs_inside(shares: Sequence[float]) -> Claim:
    """Trained networks hold the MAP program's intermediate values; ``shares`` per aligned cell."""
    c = Claim(
        "programs inside networks",
        "Trained networks hold the MAP program's intermediate values: the share of its subexpressions "
        "aligned (IIA at the threshold) is above 0.",
        "an interval that reaches 0 (no subexpression aligned)",
    )
    if shares:
        c.number, c.low, c.high = bootstrap_mean(shares)
        c.sample = f"{len(shares)} aligned network cells"
    else:
        c.todo = "run `dlps run --preset science --align` (then `dlps report`)"
    return c


def claims(
    summaries: Sequence[Summary],
    pairs: Sequence[tuple[float, float]],
    shares: Sequence[float],
    found: dict[str, dict[str, Any]],
) -> list[Claim]:
    """The claims, each filled from the store where it can be."""
    # In the table's order.
    out = [_sample_efficiency(summaries)]
    study = _pick(found)
    out += [_correlation(key, name, text, study) for key, name, text in _CORRELATIONS]
    out += [_circuit_first(pairs), _extrapolation(summaries), _programs_inside(shares)]
    return out


def _f(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.2f}"


def claims_section(
    summaries: Sequence[Summary],
    pairs: Sequence[tuple[float, float]],
    shares: Sequence[float],
    found: dict[str, dict[str, Any]],
) -> list[str]:
    """The Markdown of the claims table."""
    lines = [
        "## Claims",
        "",
        'Each claim of the README\'s "Science" part, as this store measures it: the number, its 95% '
        "bootstrap interval, the sample, what would have contradicted it, and the verdict.",
        "",
        "| claim | number | 95% interval | sample | contradicted by | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for c in claims(summaries, pairs, shares, found):
        number = c.todo if c.todo else _f(c.number)
        interval = "" if c.todo else f"[{_f(c.low)}, {_f(c.high)}]"
        text = f"**{c.name}**: {c.claim}".replace("|", "\\|")
        lines.append(f"| {text} | {number} | {interval} | {c.sample} | {c.contradicted_by} | {c.verdict} |")
    return lines + [""]
