"""The synthesizer's sequence DSL on bracket matching and induction copying.

    nice -n 10 taskset -c 0 python benchmarks/synth_sequences.py              # everything (a few minutes)
    nice -n 10 taskset -c 0 python benchmarks/synth_sequences.py --parts main --dyck2-seconds 60

Parts:

1. **main**: Dyck-1, induction and Dyck-2 from ``--n`` training sequences (seed 0): the MAP program,
   its bits, the bits of the hand-written reference program (``synth.dsl_seq.REFERENCES``),
   candidates tried, seconds, why the search stopped, and accuracy on the test split and on every
   out-of-distribution split. For brackets also ``exhaustive``: agreement with the true language on
   every string of up to ``--exhaustive`` tokens (a check beyond the task's distribution, whose
   negatives are hard but not arbitrary). Dyck-2 reports the bits the search completed before its
   budget stopped it (a time limit, ``--dyck2-seconds``, and the bank's memory cap, ``--dyck2-mb``).
2. **dyck2**: Dyck-2 from ``--dyck2-n`` (64) training sequences, by the approaches tried: the MAP
   search (one program; its bits reached when the budget stops it), and the decomposition of a
   conjunction (``decompose=True``: flag programs true on every positive up to ``--parts-bits``,
   greedy cover of the negatives), each with candidates, seconds and accuracy on test, ``longer`` and
   ``uniform`` (random words of the training lengths, half balanced).
3. **relabel**: Dyck-1 from 32 sequences with the bracket ids 0/1 (pad 2) and relabelled 7/3 (pad 8,
   d_vocab 9): the same program up to renaming, and its accuracy on test, ``longer`` and ``uniform``.
4. **grid**: the synthesizer's cells of the ``quick`` grid preset (Dyck-1 at n = 2..512, induction
   at n = 8..2048, seeds 0, 1, 2) with the learner's defaults: seconds and candidates per cell, and
   for n >= 128 the same search on all n examples at once (``subset=None``) for comparison.

Times are wall-clock seconds of one process; numpy runs single-threaded here. On a shared machine
they are noisy: the candidate counts are the deterministic measure of work.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import numpy as np

from synth import EnumerativeSynthesizer, default_dsl
from synth.dsl_seq import REFERENCES
from tasks import accuracy, parse_task
from tasks.brackets import balanced

DYCK1 = "brackets:kind=dyck1"
DYCK2 = "brackets:kind=dyck2"
INDUCTION = "induction"
#: The induction task of the ``quick`` grid preset (compare/settings/presets.py).
QUICK_INDUCTION = "induction:d_vocab=16,seq_len=16,min_seg=3,max_seg=6,ood_len=32"
GRID = {DYCK1: (2, 8, 32, 128, 512), QUICK_INDUCTION: (8, 32, 128, 512, 2048)}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def fit(spec: str, n: int, seed: int = 0, **kwargs) -> tuple[EnumerativeSynthesizer, object, float]:
    task = parse_task(spec)
    train = task.train_split(n, seed)
    model = EnumerativeSynthesizer(dsl=default_dsl(train), random_state=seed, **kwargs)
    start = time.perf_counter()
    model.fit(train.X, train.y, mask=train.mask)
    return model, task, time.perf_counter() - start


def scores(model: EnumerativeSynthesizer, task) -> dict[str, float]:
    if model.program_ is None:
        return {}
    splits = {"test": task.test_split(), **{name: task.ood_split(name) for name in task.ood_names}}
    return {name: accuracy(s.y, model.predict(s.X), s.mask) for name, s in splits.items()}


def exhaustive(model: EnumerativeSynthesizer, n_types: int, max_len: int) -> float:
    """Agreement with Dyck-``n_types`` membership on every bracket string of 1..max_len tokens."""
    if model.program_ is None:
        return float("nan")
    right = total = 0
    for length in range(1, max_len + 1):
        X = np.array(list(itertools.product(range(2 * n_types), repeat=length)), dtype=np.int64)
        for rows in np.array_split(X, max(1, len(X) // 65536)):
            right += int((model.predict(rows) == balanced(rows, n_types)).sum())
        total += len(X)
    return right / total


def reference_bits(model: EnumerativeSynthesizer, name: str) -> float:
    """The reference program's bits under the prior the search used (token constants over the
    ids in the training data; NaN when the reference names an id the data lacks)."""
    try:
        return model.prior_.program_bits(model.dsl_.parse(REFERENCES[name]))
    except ValueError:
        return float("nan")


def main_part(n: int, dyck2_seconds: float, dyck2_mb: float, max_len: int) -> None:
    print(f"## main: MAP program from n={n} training sequences (seed 0); {load()}\n")
    rows = [
        ("Dyck-1", DYCK1, "dyck1", {"time_limit": 60.0}, 1),
        ("induction", INDUCTION, "induction", {"time_limit": 60.0}, 0),
        ("induction (quick)", QUICK_INDUCTION, "induction", {"time_limit": 60.0}, 0),
        ("Dyck-2", DYCK2, "dyck2", {"time_limit": dyck2_seconds, "max_bank_mb": dyck2_mb}, 2),
    ]
    print(
        "| task | program | bits | reference bits | candidates | kept | seconds | stop | bits reached "
        "| train | test | OOD | exhaustive |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, spec, ref, kwargs, n_types in rows:
        model, task, seconds = fit(spec, n, **kwargs)
        stats, acc = model.search_stats_, scores(model, task)
        ood = ", ".join(f"{k} {v:.3f}" for k, v in acc.items() if k != "test") or "-"
        test = acc.get("test", float("nan"))
        exact = f"{exhaustive(model, n_types, max_len - 2 * (n_types - 1)):.4f}" if n_types else "-"
        print(
            f"| {label} | `{model.program_}` | {model.bits_:.2f} | {reference_bits(model, ref):.2f} "
            f"| {stats['candidates']:,} | {stats['kept']:,} | {seconds:.2f} | {stats['stop_reason']} "
            f"| {stats['bits_reached']:.2f} | {model.train_accuracy_:.3f} | {test:.3f} "
            f"| {ood} | {exact} |",
            flush=True,
        )
    print(f"\nexhaustive: Dyck-1 strings of 1..{max_len} tokens, Dyck-2 of 1..{max_len - 2} tokens.\n")


def dyck2_part(n: int, seconds: float, mb: float, parts_bits: float) -> None:
    print(f"## dyck2: Dyck-2 from n={n} training sequences (seed 0); {load()}\n")
    print(
        "| approach | program | bits | candidates | kept | seconds | stop | bits reached | train | test "
        "| longer | uniform |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    runs = [
        ("MAP search", {"time_limit": seconds, "max_bank_mb": mb}),
        (
            f"decomposition (parts <= {parts_bits:g} bits)",
            {"decompose": True, "max_bits": parts_bits, "time_limit": seconds, "max_bank_mb": mb},
        ),
    ]
    for label, kwargs in runs:
        model, task, took = fit(DYCK2, n, **kwargs)
        stats, acc = model.search_stats_, scores(model, task)
        print(
            f"| {label} | `{model.program_}` | {model.bits_:.2f} | {stats['candidates']:,} "
            f"| {stats['kept']:,} | {took:.1f} | {stats['stop_reason']} | {stats['bits_reached']:.2f} "
            f"| {model.train_accuracy_:.3f} "
            f"| {acc.get('test', float('nan')):.3f} | {acc.get('longer', float('nan')):.3f} "
            f"| {acc.get('uniform', float('nan')):.3f} |",
            flush=True,
        )
        for part in stats.get("parts", []):
            print(
                f"|  part | `{part['program']}` | {part['bits']:.2f} "
                f"| rejects {part['rejects']} new negatives | | | | | | | | |"
            )
    print(
        f"\nreference (one program, uniform prior over the data's 4 ids): "
        f"{reference_bits(model, 'dyck2'):.2f} bits\n"
    )


def relabel_part() -> None:
    print(f"## relabel: Dyck-1 from 32 sequences, bracket ids relabelled; {load()}\n")
    print("| ids ( ) pad | program | bits | candidates | seconds | test | longer | uniform |")
    print("|---|---|---|---|---|---|---|---|")
    task = parse_task(DYCK1)
    train = task.train_split(32, 0)
    for ids in ((0, 1, 2), (7, 3, 8)):
        lut = np.array(ids)
        model = EnumerativeSynthesizer(dsl=f"seq:d_vocab={max(ids) + 1},pad={ids[2]}", time_limit=60.0)
        start = time.perf_counter()
        model.fit(lut[train.X], train.y)
        took = time.perf_counter() - start
        acc = {"test": task.test_split(), **{k: task.ood_split(k) for k in task.ood_names}}
        acc = {k: accuracy(v.y, model.predict(lut[v.X])) for k, v in acc.items()}
        print(
            f"| {' '.join(map(str, ids))} | `{model.program_}` | {model.bits_:.2f} "
            f"| {model.search_stats_['candidates']:,} | {took:.2f} | {acc['test']:.4f} | {acc['longer']:.4f} "
            f"| {acc['uniform']:.4f} |",
            flush=True,
        )
    print()


def grid_part(seeds: tuple[int, ...]) -> None:
    print(f"## grid: the quick preset's synth cells (learner defaults, subset=32); {load()}\n")
    print(
        "| task | n | seed | found | bits | candidates | rounds | seconds | test | OOD (min) "
        "| all-n search: candidates | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    worst = {"candidates": 0, "seconds": 0.0}
    for spec, sizes in GRID.items():
        for n, seed in itertools.product(sizes, seeds):
            model, task, seconds = fit(spec, n, seed)
            stats, acc = model.search_stats_, scores(model, task)
            worst["candidates"] = max(worst["candidates"], stats["candidates"])
            worst["seconds"] = max(worst["seconds"], seconds)
            full = "- | -"
            if n >= 128:
                whole, _, whole_seconds = fit(spec, n, seed, subset=None)
                full = f"{whole.search_stats_['candidates']:,} | {whole_seconds:.2f}"
            ood = min((v for k, v in acc.items() if k != "test"), default=float("nan"))
            print(
                f"| {spec} | {n} | {seed} | {model.found_} | {model.bits_:.2f} | {stats['candidates']:,} "
                f"| {stats['rounds']} | {seconds:.2f} | {acc.get('test', float('nan')):.3f} | {ood:.3f} "
                f"| {full} |",
                flush=True,
            )
    print(f"\nmost candidates in one cell: {worst['candidates']:,}; slowest cell: {worst['seconds']:.2f} s\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--parts", default="main,dyck2,relabel,grid", help="comma-separated: main, dyck2, relabel, grid"
    )
    ap.add_argument("--dyck2-n", type=int, default=64, help="training sequences of the dyck2 part")
    ap.add_argument(
        "--parts-bits", type=float, default=34.0, help="dyck2: bits bound of the conjunction's parts"
    )
    ap.add_argument("--n", type=int, default=32, help="training sequences in the main part")
    ap.add_argument("--dyck2-seconds", type=float, default=600.0, help="time limit of the Dyck-2 search")
    ap.add_argument("--dyck2-mb", type=float, default=1024.0, help="bank memory cap of the Dyck-2 search")
    ap.add_argument("--exhaustive", type=int, default=14, help="longest string of the exhaustive check")
    ap.add_argument("--seeds", default="0,1,2", help="seeds of the grid part")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    print(f"# synth_sequences: {time.strftime('%Y-%m-%d %H:%M')}; {load()}\n")
    if "main" in parts:
        main_part(args.n, args.dyck2_seconds, args.dyck2_mb, args.exhaustive)
    if "dyck2" in parts:
        dyck2_part(args.dyck2_n, args.dyck2_seconds, args.dyck2_mb, args.parts_bits)
    if "relabel" in parts:
        relabel_part()
    if "grid" in parts:
        grid_part(tuple(int(s) for s in args.seeds.split(",")))


if __name__ == "__main__":
    main()
