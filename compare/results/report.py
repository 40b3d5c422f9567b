"""``dlps report``: one Markdown document with its PNGs, regenerated from a results store.

Every number in it is computed here from stored cells (nothing is typed in by hand): sample
efficiency per task (the tables of ``dlps table`` and the learning curves of ``dlps plot``), the
mechanism summaries against n, emergence against generalization steps, the alignment tables,
simplicity on both sides with the cross-task correlations, out-of-distribution accuracy by method,
and the claims table (:mod:`compare.results.claims`), where each claim of the README's "Science" part gets
its number, interval, sample and what would have contradicted it, or says what to run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compare.files import save_figure, write_text_atomically
from compare.methods import network_methods
from compare.results.claims import MIN_OPERATIONS, run_advice
from compare.results.legend import markdown_legend
from compare.results.report_stats import correlations, operations
from compare.results.stats import bootstrap, censored_text, interval_text, plural
from compare.results.store import Row, Store
from compare.results.tables import Summary, render, summarize
from mechanisms.registry import by_name, column
from mechanisms.summaries import AlignmentRecord, MechanismRecord, SimplicityRecord
from tasks.spec import split_spec


def _mechanism(row: Row) -> MechanismRecord | None:
    return by_name("mechanism").read(row.result.metrics)


def _alignment(row: Row) -> AlignmentRecord | None:
    return by_name("alignment").read(row.result.metrics)


def _simplicity(row: Row) -> SimplicityRecord | None:
    return by_name("simplicity").read(row.result.metrics)


def _method(row: Row) -> str:
    return split_spec(row.cell.method)[0]


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _ci(values: Sequence[float | None], digits: int = 2, never: str | None = None) -> str:
    """``mean [low, high] (k cells)``: the 95% bootstrap interval over the finite values
    (:mod:`compare.results.stats`; ``n/a`` with the count from one value). ``never``: a None is a
    censored value (e.g. no emergence): left out of the mean and counted, ``never in 1 of 3``."""
    text = interval_text(bootstrap(values), digits, unit="cell", count=True)
    observed = sum(v is not None for v in values)
    left_out = censored_text(observed, len(values), never) if never else ""
    return f"{text}; {left_out}" if left_out and observed else left_out or text


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return []
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return out + [""]


def _write_png(fig: Any, out: Path, name: str) -> str:
    """Lay out ``fig``, write it to ``out/name`` (atomically) and free it; the name, for the Markdown."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    save_figure(fig, out / name, dpi=120)
    plt.close(fig)
    return name


def _groups(rows: Sequence[Row], keep) -> dict[tuple[str, str, int], list[Row]]:
    out: dict[tuple[str, str, int], list[Row]] = {}
    for row in rows:
        if row.result.status == "ok" and keep(row):
            out.setdefault((row.cell.task, row.cell.method, row.cell.n), []).append(row)
    return dict(sorted(out.items()))


# --- sections ------------------------------------------------------------------------------------


def sample_efficiency(summaries: Sequence[Summary], out: Path) -> list[str]:
    from compare.results.plots import plot_summaries

    lines = [
        "## Sample efficiency",
        "",
        "Test accuracy against the number of training examples n, per task and method (the table of "
        "`dlps table`; n@99: the smallest n whose median over seeds is ≥ 99%).",
        "",
    ]
    if not summaries:
        return lines + ["The store has no finished cells.", ""]
    lines += [render(summaries, "markdown"), ""]
    for path in plot_summaries(summaries, out):
        lines += [f"![learning curves]({path.name})", ""]
    return lines


def mechanism_columns(rows: Sequence[Row]) -> list[str]:
    lines = [
        "## Mechanisms against n",
        "",
        "Per network cell, the grid's mechanism summary (`dlps mechanisms`, fast form): the most frequent "
        "text over seeds at each n, with the mean of each number stored beside it.",
        "",
    ]
    table = []
    columns = {id(r): c for r in rows if (c := column(r.result.metrics)) is not None}  # each row read once
    for (task, method, n), group in _groups(rows, lambda r: id(r) in columns).items():
        entries = [columns[id(r)] for r in group]
        texts = [e.get("text") for e in entries if e.get("text")]
        common = max(sorted(set(texts)), key=texts.count) if texts else "n/a"
        numbers = sorted(
            {
                k
                for e in entries
                for k, v in e.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
        )
        # A number stored by only some cells (an emergence step where others never emerged) says so, so
        # that its mean is not read as the group's.
        shown = "; ".join(
            f"{k} {_fmt(float(np.mean(held)))}"
            + ("" if len(held) == len(group) else f" ({len(held)} of {len(group)})")
            for k in numbers
            if (held := [e[k] for e in entries if e.get(k) is not None])
        )
        table.append([task, method, n, f"{common} ({texts.count(common)}/{len(group)})", shown or "-"])
    if not table:
        return lines + [
            "No cell in this store has a mechanism summary (network cells of `dlps run` store one).",
            "",
        ]
    return (lines + _table(["task", "method", "n", "most frequent summary", "means"], table)
            + markdown_legend(row[3] for row in table))


def emergence(
    rows: Sequence[Row], out: Path
) -> tuple[list[str], list[tuple[float, float]], dict[str, int]]:
    """The emergence-against-generalization table and plot; also the (emergence, generalization)
    pairs of every cell that has both, and the counts of cells with one of them censored (for the
    claims: ``never_generalized``, ``never_emerged``)."""
    lines = [
        "## Emergence against generalization",
        "",
        "Per network cell with a Fourier summary: the emergence step (restricted logits classify ≥ 99% "
        "of all pairs from then on), its held-out control, and the generalization step (first logged "
        "step with test accuracy ≥ 99%). Mean [95% bootstrap interval] over the cells with the step; a "
        "cell where it never happened within training is censored: left out of the mean and counted "
        "(never in k of m).",
        "",
    ]
    table, pairs = [], []
    censored = {"never_generalized": 0, "never_emerged": 0}
    fourier = {id(r): m for r in rows if (m := _mechanism(r)) is not None and m.fourier}
    for (task, method, n), group in _groups(rows, lambda r: id(r) in fourier).items():
        mech = [fourier[id(r)] for r in group]
        gen = [r.result.steps_generalize for r in group]
        for m, g in zip(mech, gen, strict=True):
            held = m.emergence_step_heldout
            if held is not None and g is not None:
                pairs.append((float(held), float(g)))
            elif held is not None or g is not None:  # one step censored: counted for the claims
                censored["never_generalized" if g is None else "never_emerged"] += 1
        table.append(
            [
                task,
                method,
                n,
                _ci([m.emergence_step for m in mech], 0, never="never"),
                _ci([m.emergence_step_heldout for m in mech], 0, never="never"),
                _ci(gen, 0),
                f"{sum(g is None for g in gen)}/{len(gen)}",
            ]
        )
    if not table:
        return lines + [
            "No cell in this store has an emergence step (modular x+y or x-y network cells).",
            "",
        ], pairs, censored
    lines += _table(
        ["task", "method", "n", "emergence", "held-out control", "generalization", "never generalized"], table
    )
    if pairs:
        lines += [f"![emergence against generalization]({_scatter(pairs, out)})", ""]
    return lines, pairs, censored


def _scatter(pairs: Sequence[tuple[float, float]], out: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    x, y = zip(*pairs, strict=True)
    ax.scatter(x, y, s=12)
    top = max(max(x), max(y)) * 1.05 + 1
    ax.plot([0, top], [0, top], "k--", linewidth=0.8, label="emergence = generalization")
    ax.set_xlabel("emergence step (held-out control)")
    ax.set_ylabel("generalization step (test ≥ 99%)")
    ax.legend(fontsize=7)
    return _write_png(fig, out, "emergence.png")


def proper_share(record: AlignmentRecord) -> tuple[int, int] | None:
    """(aligned, of) over the first program's *proper* subexpressions: the whole program is the
    network's output, which any network that fits the data computes, not an intermediate value, so
    counting it (as the stored ``aligned``/``of`` do) would inflate the share. Each is judged by the
    IIA the cell's ``aligned`` counted (:func:`_iia_key`). None without programs."""
    if not record.programs or record.threshold is None:
        return None
    program = record.programs[0]
    key = _iia_key(record, program)
    subs = [s for s in program.get("subexpressions", []) if s.get("expression") != program.get("program")]
    aligned = sum(s.get(key) is not None and s[key] >= record.threshold for s in subs)
    return aligned, len(subs)


def _iia_key(record: AlignmentRecord, program: dict[str, Any]) -> str:
    """The IIA a stored alignment counts as aligned: its ``headline`` (e.g. chance-corrected), plain
    ``iia`` for cells stored before there was one."""
    return program.get("headline") or getattr(record, "headline", None) or "iia"


def alignment(rows: Sequence[Row]) -> tuple[list[str], list[float], int]:
    """The alignment tables; also the per-cell share of aligned proper subexpressions, and the number
    of aligned cells whose program has none (for the claims)."""
    lines = ["## Program ↔ network alignment", ""]
    table, shares, no_proper = [], [], 0
    aligned = {id(r): a for r in rows if (a := _alignment(r)) is not None and a.aligned is not None}
    for (task, method, n), group in _groups(rows, lambda r: id(r) in aligned).items():
        aligns = [aligned[id(r)] for r in group]
        counts = [c for a in aligns if (c := proper_share(a)) is not None]
        share = [k / m for k, m in counts if m]
        no_proper += sum(m == 0 for _, m in counts)
        shares += share
        best: dict[str, float] = {}
        for a in aligns:
            program = (a.programs or [{}])[0]
            for sub in program.get("subexpressions", []):
                iia = sub.get(_iia_key(a, program))
                whole = sub["expression"] == program.get("program")
                name = sub["expression"] + (" (output)" if whole else "")
                if iia is not None:
                    best[name] = max(best.get(name, -1.0), float(iia))
        shown = ", ".join(f"{e} {v:.2f}" for e, v in sorted(best.items(), key=lambda kv: -kv[1])[:4])
        threshold = "n/a" if aligns[0].threshold is None else f"{aligns[0].threshold}"
        proper = max((m for _, m in counts), default=0)
        share_text = _ci(share) if proper else "n/a (none)"
        table.append([task, method, n, proper, share_text, threshold, shown or "-"])
    if not table:
        return lines + [
            f"No cell in this store has an alignment: {run_advice('alignment')}.",
            "",
        ], shares, no_proper
    lines += [
        "Per network cell: the share of the program's proper subexpressions aligned (interchange-"
        "intervention accuracy at or above the threshold; the whole program, the network's output, is "
        "left out), mean [95% bootstrap interval] over cells, and the best IIA per subexpression over "
        "seeds (the whole program marked \"(output)\").",
        "",
    ]
    return lines + _table(
        ["task", "method", "n", "proper subexpressions", "aligned share", "IIA threshold", "best IIA"], table
    ), shares, no_proper


def simplicity(rows: Sequence[Row], out: Path) -> list[str]:
    lines = [
        "## Simplicity on both sides",
        "",
        "Synthesizer: the MAP program's bits and the number of distinct programs consistent with the "
        "training data within 2 bits of it. Networks: the local learning coefficient (SGLD; its "
        "hyper-parameters are stored per cell), dead units, the weight norm and the mean effective "
        "rank of the weight matrices. Mean [95% bootstrap interval] (cells).",
        "",
    ]
    synth, nets = [], []
    simple = {id(r): x for r in rows if (x := _simplicity(r)) is not None}
    for (task, method, n), group in _groups(rows, lambda r: id(r) in simple).items():
        s = [simple[id(r)] for r in group]
        if s[0].side == "synth":
            synth.append([task, method, n, _ci([x.bits for x in s], 1), _ci([x.near_programs for x in s], 1)])
        else:
            dead = [x.dead_units / x.units for x in s if x.units]
            nets.append(
                [
                    task,
                    method,
                    n,
                    _ci([x.llc for x in s], 1),
                    _ci([x.llc_below_initial for x in s], 3),
                    _ci(dead, 3),
                    _ci([x.weight_norm for x in s], 1),
                    _ci([x.effective_rank_mean for x in s], 1),
                ]
            )
    if not synth and not nets:
        return lines + [
            f"No cell in this store has simplicity measures: {run_advice('simplicity')}.",
            "",
        ]
    lines += _table(["task", "method", "n", "bits", "programs within 2 bits"], synth)
    lines += _table(
        [
            "task",
            "method",
            "n",
            "LLC",
            "draws below initial loss",
            "dead units (share)",
            "weight norm",
            "effective rank (mean)",
        ],
        nets,
    )
    plot = _llc_plot(rows, out)
    return lines + ([f"![LLC against n]({plot})", ""] if plot else [])


def _llc_plot(rows: Sequence[Row], out: Path) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, dict[int, list[float]]] = {}
    for row in rows:
        record = _simplicity(row)
        llc = None if record is None else record.llc
        if row.result.status == "ok" and llc is not None:
            label = f"{row.cell.task} | {row.cell.method}"
            series.setdefault(label, {}).setdefault(row.cell.n, []).append(float(llc))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, by_n in sorted(series.items()):
        ns = sorted(by_n)
        ax.plot(ns, [np.mean(by_n[n]) for n in ns], "-o", markersize=3, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training examples n")
    ax.set_ylabel("LLC (mean over seeds)")
    ax.legend(fontsize=6)
    return _write_png(fig, out, "llc.png")


def cross_task(rows: Sequence[Row]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The cross-task table per prime and network method, and its correlations (for the claims)."""
    lines = [
        "## Across modular operations",
        "",
        "Per operation at one prime: the synthesizer's MAP bits, the network's n@99 (operations it "
        "never brought to 99% are ranked last, tied: a censored n@99 enters only as a rank), and its LLC "
        "at the largest n (mean over seeds), each with the seeds it rests on. Spearman's ρ with "
        "bootstrap 95% intervals over operations and seeds; each pair's sample is the operations with "
        f"both values, and under {MIN_OPERATIONS} of them ρ decides nothing (the claims' minimum).",
        "",
    ]
    found: dict[str, dict[str, Any]] = {}
    for network in network_methods():
        for p, ops in sorted(operations(rows, network).items()):
            corr = correlations(ops)
            found[f"{network} p={p}"] = corr
            values = corr["values"]
            table = [
                [
                    op.op,
                    _fmt(values["bits"][i], 1),
                    "not reached" if values["n99"][i] > max(op.accuracy) else _fmt(values["n99"][i], 0),
                    len({seed for by_seed in op.accuracy.values() for seed in by_seed}),
                    _fmt(values["llc"][i], 1),
                    len(op.llc),
                ]
                for i, op in enumerate(ops)
            ]
            lines += [f"**{network}, p = {p}** ({plural(len(ops), 'operation')})", ""]
            header = ["operation", "MAP bits", "n@99", "seeds (n@99)", "LLC at largest n", "seeds (LLC)"]
            lines += _table(header, table)
            lines += _table(
                ["pair", "ρ", "95% interval", "operations", "seeds", "decides"],
                [
                    [
                        k.replace("~", " ~ "),
                        _fmt(v["rho"]),
                        f"[{_fmt(v['low'])}, {_fmt(v['high'])}]" if math.isfinite(v["low"]) else "n/a",
                        v["n_ops"],
                        v["seeds"],
                        "yes" if v["n_ops"] >= MIN_OPERATIONS else f"too few to decide (≥ {MIN_OPERATIONS})",
                    ]
                    for k, v in corr.items()
                    if k != "values"
                ],
            )
    if not found:
        lines += [
            "The store has no modular operations with both synthesizer and network cells: run "
            "`dlps run --preset science`.",
            "",
        ]
    return lines, found


def ood(summaries: Sequence[Summary]) -> list[str]:
    lines = [
        "## Out-of-distribution accuracy by method",
        "",
        "Accuracy on each OOD split at the largest n (mean [95% bootstrap interval] over seeds).",
        "",
    ]
    table = [
        [s.task, s.method, name, f"{p.n}", interval_text(p.interval.scaled(100), 1, unit="seed", count=True)]
        for s in summaries
        for name, p in s.ood.items()
    ]
    if not table:
        return lines + ["No task in this store has an OOD split.", ""]
    return lines + _table(["task", "method", "split", "n", "accuracy %"], table)


def build(store_path: str | Path, out: str | Path) -> Path:
    """Write ``out/report.md`` and its PNGs from the store at ``store_path``; return the report's path.
    The store is only read (StoreError, one line, for anything that is not a readable store)."""
    from compare.results.claims import claims_section

    out = Path(out)
    with Store(store_path, create=False) as store:
        rows = store.rows()
    out.mkdir(parents=True, exist_ok=True)
    summaries = summarize(rows)
    ok = sum(r.result.status == "ok" for r in rows)
    tasks = sorted({r.cell.task for r in rows})
    lines = [
        "# dlps report",
        "",
        f"Regenerated by `dlps report` from `{Path(store_path).name}`: {len(rows)} cells ({ok} finished, "
        f"{len(rows) - ok} failed) over {plural(len(tasks), 'task')}. Every number below is computed from "
        "the stored cells.",
        "",
    ]
    emerge_lines, pairs, censored = emergence(rows, out)
    align_lines, shares, no_proper = alignment(rows)
    cross_lines, found = cross_task(rows)
    body = (
        sample_efficiency(summaries, out)
        + mechanism_columns(rows)
        + emerge_lines
        + align_lines
        + simplicity(rows, out)
        + cross_lines
        + ood(summaries)
    )
    lines += claims_section(summaries, pairs, shares, found, censored | {"no_proper": no_proper}) + body
    path = out / "report.md"
    write_text_atomically(path, "\n".join(lines).rstrip() + "\n")
    return path
