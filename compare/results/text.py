"""The text forms of the one-learner commands' results: ``dlps train`` / ``dlps synth`` (the JSON
schema of the README) and ``dlps llc-calibrate``; ``--format json`` holds every number."""

from __future__ import annotations

from typing import Any

from synth.enumerate import STOP_REASONS


def describe_single(result: dict[str, Any]) -> list[str]:
    """The text form of a ``dlps train`` / ``dlps synth`` result, line by line."""
    lines = []
    source = result["task"] or result["examples"]
    lines.append(f"# {source} | {result['method']} | n={result['n']} seed={result['seed']}")
    learned = result["learner"]
    if "program" in learned:
        lines.append(f"program    {learned['program'] or '(none of the output type within the budget)'}")
        if learned["bits"] is not None:
            lines.append(f"bits       {learned['bits']:.2f}")
    accs = "  ".join(f"{k} {'n/a' if v is None else f'{v:.4f}'}" for k, v in result["accuracy"].items())
    lines.append(f"accuracy   {accs}")
    if "first_step" in learned:
        firsts = "  ".join(f"{k} {'never' if v is None else v}" for k, v in learned["first_step"].items())
        lines.append(f"99% at step  {firsts}   (of {learned['steps']} steps; log-spaced evaluations)")
    if "search" in learned:
        lines.append(f"search     {search_text(learned)}")
    if "posterior_programs" in learned:
        lines.append(f"posterior  {learned['posterior_programs']} consistent programs vote (weight 2^-bits)")
    for part, why in result.get("errors", {}).items():
        lines.append(f"note: {part}: {why}")
    lines.append(f"wall time  {result['seconds']:.2f} s")
    return lines


def search_text(learned: dict[str, Any]) -> str:
    """What the synthesizer's search did, said once: whether it found a consistent program, why it
    stopped where that was a budget, how far its enumeration is complete and what it cost.

    ``bits_reached`` is the last cost level enumerated in full; a found program lies on the next
    level, where the search stops at the first consistent candidate, so the bound sits below the
    program's bits without contradicting that the program is the cheapest."""
    search, bits = learned["search"], learned["bits"]
    reason, reached = search["stop_reason"], search["bits_reached"]
    head = "found a consistent program" if learned["found"] else "no consistent program; the best so far"
    if reason != "found":
        head += f"; stopped: {STOP_REASONS[reason]}"
    if learned["found"] and bits is not None and reached < bits:
        tried = f"every cheaper program tried (all up to {reached:.2f} bits, then its own level)"
    else:
        tried = f"every program up to {reached:.2f} bits tried"
    return f"{head}; {tried}; {search['candidates']:,} candidates, {search['kept']:,} kept"


def describe_calibration(result: dict[str, Any]) -> list[str]:
    """``dlps llc-calibrate``'s grid as a text table."""
    lines = [
        f"# {result['task']} | {result['method']} | n={result['n']} seed={result['seed']} "
        f"(n/log n = {result['default_nbeta']:.1f})",
        f"{'epsilon':>9} {'nbeta':>9} {'llc':>10} {'sd':>8} {'below initial':>14}",
    ]
    for r in result["grid"]:
        value = "diverged" if r["mean"] is None else f"{r['mean']:.3f}"
        sd = "" if r["sd"] is None else f"{r['sd']:.3f}"
        below = "" if r["below_initial"] is None else f"{r['below_initial']:.3f}"
        lines.append(f"{r['epsilon']:>9.2g} {r['nbeta']:>9.3g} {value:>10} {sd:>8} {below:>14}")
    if "plot" in result:
        lines.append(f"plot {result['plot']}")
    return lines
