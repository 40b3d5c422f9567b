"""Statistics the report computes from stored cells: Spearman correlations with bootstrap intervals,
and the cross-task table for modular operations (per operation: the MAP program's bits, a network's
n@99 and its LLC at the largest n).

Pure functions of plain numbers and stored rows, each random choice from an explicit seed; intervals
are percentile bootstrap intervals (:mod:`compare.results.stats`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from compare.methods import program_methods
from compare.results.metrics import THRESHOLD, first_n_at
from compare.results.stats import percentile_interval
from compare.results.store import Row
from mechanisms.registry import by_name
from tasks.spec import split_spec

#: Bootstrap resamples per interval (enough for a 95% interval's ends to settle to ~0.01).
BOOTSTRAP = 1000
#: A network that never reaches 99% gets this multiple of the largest size tried as its n@99 for the
#: rank correlation only: a censored n@99 is not a number, but a rank needs only its order, and any value
#: above the largest n tried ranks it after every operation that did, tied with the others that did not.
NOT_REACHED = 2.0


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties given their mean rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    _, inverse = np.unique(values, return_inverse=True)
    return (np.bincount(inverse, ranks) / np.bincount(inverse))[inverse]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson's on ranks, ties given mean ranks); NaN when either side is
    constant or has fewer than 3 values. (scipy's ``spearmanr`` gives the same, 50 times slower.)"""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / math.sqrt((rx**2).sum() * (ry**2).sum()))


@dataclass
class Operation:
    """One modular operation at one prime: the synthesizer's MAP bits (most frequent over seeds at its
    largest n), and for one network method its accuracy per (n, seed) and LLC per seed at its largest n."""

    task: str
    op: str
    bits: float | None
    accuracy: dict[int, dict[int, float]] = field(default_factory=dict)  # n -> seed -> test accuracy
    llc: dict[int, float] = field(default_factory=dict)  # seed -> LLC at the largest n


def n99(accuracy: dict[int, dict[int, float]], seeds: Sequence[int] | None = None) -> float:
    """The smallest n whose median test accuracy over ``seeds`` (all by default; repeats allowed) is
    ≥ 99% (:func:`compare.results.metrics.first_n_at`), or :data:`NOT_REACHED` × the largest n when
    none is."""
    medians = []
    for n, by_seed in accuracy.items():
        values = [by_seed[s] for s in (seeds if seeds is not None else by_seed) if s in by_seed]
        if values:
            medians.append((n, float(np.median(values))))
    reached = first_n_at(medians, THRESHOLD)
    if reached is not None:
        return float(reached)
    return NOT_REACHED * max(accuracy) if accuracy else math.nan


def operations(rows: Sequence[Row], network: str) -> dict[int, list[Operation]]:
    """Per prime p, the modular operations of the store that have both a synthesizer cell and cells of
    the network method named ``network`` (its method name, e.g. ``transformer``)."""
    ops: dict[str, Operation] = {}
    synth_bits: dict[str, dict[int, list[float]]] = {}
    for row in rows:
        family, params = split_spec(row.cell.task)
        if family != "modular" or row.result.status != "ok":
            continue
        method = split_spec(row.cell.method)[0]
        if method in program_methods() and row.result.bits is not None:
            synth_bits.setdefault(row.cell.task, {}).setdefault(row.cell.n, []).append(row.result.bits)
        elif method == network and row.result.test_accuracy is not None:
            op = ops.setdefault(row.cell.task, Operation(row.cell.task, str(params.get("op")), None))
            op.accuracy.setdefault(row.cell.n, {})[row.cell.seed] = row.result.test_accuracy
    out: dict[int, list[Operation]] = {}
    for task, op in sorted(ops.items()):
        if task not in synth_bits:
            continue
        top = synth_bits[task][max(synth_bits[task])]
        op.bits = float(stats.mode(np.round(top, 6), keepdims=False).mode)
        largest = max(op.accuracy)
        for row in rows:
            simple = by_name("simplicity").read(row.result.metrics)
            if (
                row.cell.task == task
                and split_spec(row.cell.method)[0] == network
                and row.cell.n == largest
                and simple is not None
                and simple.llc is not None
            ):
                op.llc[row.cell.seed] = float(simple.llc)
        out.setdefault(int(split_spec(task)[1]["p"]), []).append(op)
    return out


PAIRS = (("bits", "n99"), ("bits", "llc"), ("n99", "llc"))


def _values(
    ops: Sequence[Operation], picks: Sequence[tuple[int, list[int] | None]]
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"bits": [], "n99": [], "llc": []}
    for index, seeds in picks:
        op = ops[index]
        out["bits"].append(op.bits if op.bits is not None else math.nan)
        out["n99"].append(n99(op.accuracy, seeds))
        llcs = [op.llc[s] for s in (seeds if seeds is not None else op.llc) if s in op.llc]
        out["llc"].append(float(np.mean(llcs)) if llcs else math.nan)
    return out


def correlations(ops: Sequence[Operation], reps: int = BOOTSTRAP, seed: int = 0) -> dict[str, dict[str, Any]]:
    """For each pair of :data:`PAIRS`: Spearman's ρ over the operations, and a bootstrap 95% interval
    that resamples operations and, within each, seeds (both with replacement); ``n_ops`` and
    ``seeds`` give the sample."""
    rng = np.random.default_rng(seed)
    point = _values(ops, [(i, None) for i in range(len(ops))])
    seeds = sorted({s for op in ops for by in op.accuracy.values() for s in by})
    boot: dict[tuple[str, str], list[float]] = {pair: [] for pair in PAIRS}
    for _ in range(reps if len(ops) >= 3 else 0):
        chosen = rng.integers(len(ops), size=len(ops))
        picks = [(int(i), [int(s) for s in rng.choice(seeds, size=len(seeds))]) for i in chosen]
        values = _values(ops, picks)
        for a, b in PAIRS:
            boot[(a, b)].append(spearman(values[a], values[b]))
    # The sample of each pair is what it rests on: the operations with both values, and the seeds that
    # gave them (an LLC measured in no seed makes no sample, whatever the accuracies' seeds).
    seeds_of = {"bits": None, "n99": set(seeds), "llc": {s for op in ops for s in op.llc}}
    out = {}
    for a, b in PAIRS:
        low, high = percentile_interval(boot[(a, b)])
        both = [s for s in (seeds_of[a], seeds_of[b]) if s is not None]
        pairs = zip(point[a], point[b], strict=True)
        out[f"{a}~{b}"] = {
            "rho": spearman(point[a], point[b]),
            "low": low,
            "high": high,
            "n_ops": sum(math.isfinite(x) and math.isfinite(y) for x, y in pairs),
            "seeds": len(set.intersection(*both)) if both else 0,
        }
    return out | {"values": point}
