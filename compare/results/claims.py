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
from compare.results.stats import bootstrap, number_text, plural
from compare.results.tables import Summary
from compare.settings.presets import PRESET_ANALYSES
from mechanisms.registry import by_name
from tasks.spec import split_spec

RUN = "run `dlps run --preset science` (then `dlps report`)"

# The smallest samples a claim decides from; below them it reads "too few to decide". Fixed from what a
# sample of that size can show at all, not from what any store gives:
#: a median or a mean over independent units (operations, cells, task × OOD split pairs): 6, the fewest
#: for which even unanimous units reach two-sided 95% (sign test: 2 × 0.5^6 = 0.031; 5 units: 0.0625).
#: The bootstrap would call 1 unit's zero-width interval "supported".
MIN_UNITS = 6
#: a Spearman correlation over operations: 5, the fewest for which even a perfect ranking reaches
#: two-sided 95% (exact permutation test: 2 / 5! = 0.017; 4 operations: 2 / 4! = 0.083).
MIN_OPERATIONS = 5


def run_advice(analysis: str) -> str:
    """What to run for cells with ``analysis`` (a registered analysis name): the science preset alone
    when its cells run it already (``PRESET_ANALYSES``), else with ``--analyses``."""
    name = by_name(analysis).name
    if any(by_name(a).name == name for a in PRESET_ANALYSES.get("science", ())):
        return (f"run `dlps run --preset science` (its cells run {name}; "
                f"on another grid add `--analyses {name}`)")
    return f"run `dlps run --preset science --analyses {name}`"


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
    #: The sample it rests on (``count`` units) and the least it decides from (:data:`MIN_UNITS`).
    count: int = 0
    minimum: int = MIN_UNITS
    #: "below": contradicted by an interval entirely below 0; "reaches": by one that reaches 0.
    contradiction: str = "below"
    #: Where censored values entered as bounds: "lower" (the number and interval are lower bounds, so
    #: they can support the claim but not contradict it), "upper" (the reverse), "mixed" (neither).
    bound: str | None = None
    #: What ``count`` counts (operations, cells, ...).
    unit: str = "value"

    @property
    def verdict(self) -> str:
        """supported: the interval lies above 0 (at or above, for an inclusive claim); contradicted:
        below 0 (or reaching it, for ``contradiction="reaches"``); undecided: it straddles 0; too few to
        decide: a sample under ``minimum``. Bounds only decide the way they bound."""
        if self.todo is not None:
            return "not supported yet"
        if self.count < self.minimum:
            return "too few to decide"
        if not _finite(self.low) or not _finite(self.high):
            return "undecided"
        supported = self.low > 0 or (self.inclusive and self.low >= 0)
        contradicted = self.low <= 0 if self.contradiction == "reaches" else self.high < 0
        if supported and self.bound in (None, "lower"):
            return "supported"
        if contradicted and self.bound in (None, "upper"):
            return "contradicted"
        return "undecided"

    def set_interval(self, values: Sequence[float], statistic: Any = np.mean) -> None:
        """The number, interval and count from ``values`` (:func:`compare.results.stats.bootstrap`)."""
        interval = bootstrap(values, statistic)
        self.number, self.low, self.high, self.count = (interval.estimate, interval.low, interval.high,
                                                        interval.count)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _needs(claim: Claim, unit: str, detail: str = "") -> str:
    """``"1 modular operation with ... (decides from ≥ 6)"``: the sample, in ``unit``s (kept in the
    claim, for its interval's ``n/a``), and the least it decides from."""
    claim.unit = unit
    return f"{plural(claim.count, unit)}{detail} (decides from ≥ {claim.minimum})"


@dataclass(frozen=True)
class Ratio:
    """One modular task's log2(best network n@99 / synthesizer n@99), exact or a bound (``bound``:
    "lower" or "upper") where an n@99 is censored, and why."""

    value: float
    bound: str | None
    why: tuple[str, ...]


def _side(summaries: Sequence[Summary]) -> tuple[float, str | None]:
    """The best n@99 of ``summaries`` (one method kind) and whether it is exact (None), a lower bound
    (none reached 99%: n@99 > each one's largest n) or an upper bound (one reached, but another that
    did not was tried only below it)."""
    reached = [s.n99 for s in summaries if s.n99 is not None]
    tried = [s.points[-1].n for s in summaries if s.n99 is None]
    if not reached:
        return float(min(tried)), "lower"
    if tried and min(tried) < min(reached):
        return float(min(reached)), "upper"
    return float(min(reached)), None


def _log_ratios(summaries: Sequence[Summary]) -> tuple[list[Ratio], int]:
    """Per modular task with synthesizer and network cells, the log ratio (:class:`Ratio`); and the
    number of tasks left out because both sides are censored the opposite way (no bound at all)."""
    by_task: dict[str, list[Summary]] = {}
    for s in summaries:
        if split_spec(s.task)[0] == "modular" and s.points:
            by_task.setdefault(s.task, []).append(s)
    out, left_out = [], 0
    for group in by_task.values():
        synth = [s for s in group if split_spec(s.method)[0] in program_methods()]
        nets = [s for s in group if split_spec(s.method)[0] in network_methods()]
        if not synth or not nets:
            continue
        net, net_bound = _side(nets)
        program, program_bound = _side(synth)
        why = []
        if net_bound == "lower":
            why.append("no network at 99%")
        # The synthesizer at 99% from the smallest n tried: its n@99 may be smaller still.
        if program_bound is None and program == min(s.points[0].n for s in synth):
            program_bound = "upper"
            why.append("the synthesizer at 99% from the smallest n")
        elif program_bound == "lower":
            why.append("the synthesizer never at 99%")
        # A lower bound on the network's n@99 or an upper one on the synthesizer's bounds the ratio from
        # below, and the reverse from above.
        ratio_bounds = {b for b in (net_bound, {"lower": "upper", "upper": "lower"}.get(program_bound or ""))
                        if b is not None}
        if len(ratio_bounds) > 1:
            left_out += 1
            continue
        out.append(Ratio(math.log2(net / program), next(iter(ratio_bounds), None), tuple(why)))
    return out, left_out


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


def _bound_word(bound: str | None) -> str:
    return {"lower": "≥ ", "upper": "≤ ", "mixed": "bounds: "}.get(bound or "", "")


def _sample_efficiency(summaries: Sequence[Summary]) -> Claim:
    """The synthesizer reaches 99% from fewer examples than the best network (modular tasks). A
    censored n@99 enters as its bound (n@99 > the largest n tried, or ≤ the smallest), never as an
    invented number; the claim then says which way its number is a bound."""
    ratios, left_out = _log_ratios(summaries)
    c = Claim(
        "sample efficiency",
        "On modular arithmetic the synthesizer reaches 99% test accuracy from fewer examples than the "
        "best network: log2(network n@99 / synthesizer n@99) > 0 (median over operations).",
        "an interval entirely ≤ 0 (a network as sample-efficient as the synthesizer)",
    )
    if not ratios and not left_out:
        c.todo = RUN
        return c
    c.set_interval([r.value for r in ratios], np.median)
    bounds = {r.bound for r in ratios} - {None}
    c.bound = None if not bounds else bounds.pop() if len(bounds) == 1 else "mixed"
    parts = [_needs(c, "modular operation", " with synthesizer and network cells")]
    for why in dict.fromkeys(w for r in ratios for w in r.why):
        parts.append(f"{why} in {sum(why in r.why for r in ratios)} of {c.count}")
    if c.bound:
        what = "no" if c.bound == "mixed" else f"a {c.bound}"
        parts.append(f"censored n@99 enter as bounds: the number is {what} bound")
    if left_out:
        parts.append(f"{plural(left_out, 'operation')} left out (censored both ways: no bound)")
    c.sample = "; ".join(parts)
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
    """One rank-correlation claim, read from the cross-task ``study`` (see :func:`_pick`); its sample
    is the operations with both values (:data:`MIN_OPERATIONS` at least)."""
    c = Claim(name, text, "an interval entirely below 0", minimum=MIN_OPERATIONS)
    if study is None or study[1][key]["n_ops"] == 0:
        c.todo = RUN + f" (≥ {MIN_OPERATIONS} modular operations with synthesizer and network cells)"
        return c
    r = study[1][key]
    c.number, c.low, c.high, c.count = r["rho"], r["low"], r["high"], r["n_ops"]
    c.sample = f"{study[0]}: {_needs(c, 'operation', ' × ' + plural(r['seeds'], 'seed'))}"
    if c.count >= c.minimum and not math.isfinite(r["rho"]):
        # ρ is undefined when one side is constant: typically no operation reached 99%
        c.todo = ("no ranking: one side is the same for every operation (n@99 not reached by any?); "
                  "train longer (`--steps`) or on more of the pairs")
    return c


def _circuit_first(pairs: Sequence[tuple[float, float]], never_generalized: int = 0,
                   never_emerged: int = 0) -> Claim:
    """The Fourier circuit emerges no later than generalization; ``pairs`` are (emergence, 99%) steps
    of the cells with both. Cells with one step censored are left out and counted: the circuit without
    generalization (a gap > 0 at the end of training), generalization without the circuit (< 0)."""
    gaps = [g - e for e, g in pairs]
    c = Claim(
        "circuit before generalization",
        "In networks that learn modular addition, the Fourier circuit (held-out control) emerges no later "
        "than test accuracy reaches 99%: median(generalization step − emergence step) ≥ 0.",
        "an interval entirely below 0 (the circuit appears after the network generalizes)",
        inclusive=True,
    )
    if not gaps:
        c.todo = RUN + " (modular x+y or x-y network cells that generalize: none in this store did)"
        return c
    c.set_interval(gaps, np.median)
    parts = [_needs(c, "network cell", " with both steps")]
    if never_generalized:
        parts.append(f"left out, censored: {never_generalized} with the circuit that never reached 99%")
    if never_emerged:
        parts.append(f"left out, censored: {never_emerged} at 99% whose circuit never emerged")
    c.sample = "; ".join(parts)
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
        c.set_interval(ood_gaps)
        c.sample = _needs(c, "task × OOD split pair", " at the largest n")
    else:
        c.todo = RUN + " (tasks with OOD splits: brackets, induction)"
    return c


def _programs_inside(shares: Sequence[float], no_proper: int = 0) -> Claim:
    """Trained networks hold the MAP program's intermediate values; ``shares`` per aligned cell, of
    its proper subexpressions (the whole program is its output, not an intermediate value: counting
    it would credit every network that fits the data); ``no_proper`` cells had none to align."""
    c = Claim(
        "programs inside networks",
        "Trained networks hold the MAP program's intermediate values: the share of its proper "
        "subexpressions (the whole program left out) aligned (IIA at the threshold) is above 0.",
        "an interval that reaches 0 (no subexpression aligned)",
        contradiction="reaches",
    )
    if shares:
        c.set_interval(shares)
        c.sample = _needs(c, "aligned network cell", ", proper subexpressions only")
        if no_proper:
            c.sample += f"; {no_proper} left out: the program has no proper subexpression"
    else:
        c.todo = run_advice("alignment") + " (then `dlps report`)"
        if no_proper:
            c.todo += f"; {plural(no_proper, 'aligned cell')} here, with no proper subexpression to align"
    return c


def claims(
    summaries: Sequence[Summary],
    pairs: Sequence[tuple[float, float]],
    shares: Sequence[float],
    found: dict[str, dict[str, Any]],
    censored: dict[str, int] | None = None,
) -> list[Claim]:
    """The claims, each filled from the store where it can be. ``censored`` counts what the report's
    sections left out: ``never_generalized`` and ``never_emerged`` cells (claim 4), ``no_proper``
    aligned cells whose program has no proper subexpression (claim 6)."""
    censored = censored or {}
    # In the table's order.
    out = [_sample_efficiency(summaries)]
    study = _pick(found)
    out += [_correlation(key, name, text, study) for key, name, text in _CORRELATIONS]
    out += [
        _circuit_first(pairs, censored.get("never_generalized", 0), censored.get("never_emerged", 0)),
        _extrapolation(summaries),
        _programs_inside(shares, censored.get("no_proper", 0)),
    ]
    return out


def claims_section(
    summaries: Sequence[Summary],
    pairs: Sequence[tuple[float, float]],
    shares: Sequence[float],
    found: dict[str, dict[str, Any]],
    censored: dict[str, int] | None = None,
) -> list[str]:
    """The Markdown of the claims table."""
    lines = [
        "## Claims",
        "",
        'Each claim of the README\'s "Science" part, as this store measures it: the number, its 95% '
        "percentile bootstrap interval (none from fewer than 2 values), the sample with the least it "
        "decides from (below it: too few to decide), what would have contradicted it, and the verdict. "
        "A value never observed (n@99 not reached, no emergence) is censored: left out and counted, or "
        "entered as a bound where one is known (≥: the number is a lower bound).",
        "",
        "| claim | number | 95% interval | sample | contradicted by | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for c in claims(summaries, pairs, shares, found, censored):
        if c.todo:
            number, interval = c.todo, ""
        else:
            number = _bound_word(c.bound) + number_text(c.number)
            interval = (f"[{number_text(c.low)}, {number_text(c.high)}]" if _finite(c.low)
                        else f"n/a ({plural(c.count, c.unit)})")
        text = f"**{c.name}**: {c.claim}".replace("|", "\\|")
        lines.append(f"| {text} | {number} | {interval} | {c.sample} | {c.contradicted_by} | {c.verdict} |")
    return lines + [""]
