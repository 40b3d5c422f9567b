"""Speed and results of the enumerative synthesizer on the arithmetic DSL (p = 97).

    nice -n 10 python benchmarks/synth_throughput.py                  # everything (a few minutes)
    python benchmarks/synth_throughput.py --parts throughput --candidates 5000000

Three parts:

1. **throughput**: candidates evaluated per second with observational-equivalence checking (each
   candidate built, hashed, looked up, verified on a hash match, and kept when new), on 64 random
   examples, one process (numpy's ufuncs are single-threaded), as wall time and as CPU time of this
   process (less sensitive to other load on the machine). The search runs twice: the cold run pays
   for mapping fresh memory for its bank (slow on some virtual machines), the warm run reuses it.
   Next to it, a plain reference implementation in the same run: a bottom-up enumerator by the
   same cost levels and vectorized primitives that deduplicates rows one by one in a Python set.
2. **ops**: the 13 modular operations from 8 training examples (seed 0): the program found, its
   bits, candidates tried, seconds, test accuracy.
3. **min-n**: per operation, the smallest number of training examples n = 1, 2, 3, ... at which
   the MAP program reaches 100% test accuracy (training sets are nested in n), for seeds 0, 1, 2.
4. **jobs**: the speed-up of ``jobs=2`` (candidate blocks computed ahead on a second thread, consumed
   in order: the same search) on a long search, Dyck-2 from 64 training sequences (all at once,
   ``--jobs-candidates`` candidates), and on the arithmetic throughput search; wall and CPU time,
   with the load average (other processes on the machine share the cores; pin the process to two
   cores with ``taskset -c 0,1``). Each runs twice, alternating; speed-up: against the jobs=1 run
   just before.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os
import time

import numpy as np

from synth import Budget, EnumerativeSynthesizer, Enumerator, Prior, parse_dsl
from tasks import parse_task
from tasks.modular import OPS


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def reference_enumerate(prior: Prior, env, max_candidates: int) -> tuple[int, int]:
    """A plain bottom-up enumerator: same cost levels and primitives, but every candidate row is
    checked against a Python set of bytes. Returns (candidates tried, classes kept)."""
    prims = list(prior.primitives)
    types = prior.zero_cost_order({t for p in prims for t in (*p.args, p.ret)})
    levels = {t: {} for t in types}  # type -> cost -> array of value rows
    seen = {t: set() for t in types}
    heap = sorted({prior.qcost[p.name] for p in prims if not p.args})
    done, tried = -1, 0
    while heap and tried < max_candidates:
        c = heapq.heappop(heap)
        if c <= done:
            continue
        for t in types:
            kept = []
            for p in (p for p in prims if p.ret == t):
                rest = c - prior.qcost[p.name]
                if not p.args:
                    if rest == 0:
                        kept += _dedupe(np.asarray(p.fn(env))[None], seen[t])
                        tried += 1
                    continue
                for combo in itertools.product(*(sorted(levels[a]) for a in p.args)):
                    if sum(combo) != rest:
                        continue
                    arrays = [levels[a][lv] for a, lv in zip(p.args, combo, strict=True)]
                    k = len(arrays)
                    args = [
                        a.reshape((1,) * i + (len(a),) + (1,) * (k - 1 - i) + a.shape[1:])
                        for i, a in enumerate(arrays)
                    ]
                    out = np.asarray(p.fn(*args)).astype(t.dtype)
                    rows = out.reshape(-1, *out.shape[k:])
                    tried += len(rows)
                    kept += _dedupe(rows, seen[t])
            if kept:
                levels[t][c] = np.stack(kept)
                for p in prims:
                    for combo in itertools.product(*(sorted(levels[a]) for a in p.args)):
                        heapq.heappush(heap, prior.qcost[p.name] + sum(combo))
        done = c
    return tried, sum(len(s) for s in seen.values())


def _dedupe(rows: np.ndarray, seen: set) -> list[np.ndarray]:
    out = []
    for row in rows:
        key = row.tobytes()
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def throughput(candidates: int, ref_candidates: int) -> None:
    dsl = parse_dsl("arith:p=97")
    prior = Prior(dsl.primitives)
    env = dsl.env(np.random.default_rng(0).integers(0, 97, size=(64, 2)))
    budget = Budget(max_bits=64, max_candidates=candidates, max_bank_mb=16384)
    runs = [timed(lambda: Enumerator(prior, env, None, budget).run()) for _ in ("cold", "warm")]
    (ref_tried, ref_kept), ref_wall, ref_cpu = timed(lambda: reference_enumerate(prior, env, ref_candidates))
    (result, _, cpu), ref = runs[1], ref_tried / ref_cpu
    ours = result.candidates / cpu
    print(f"## Throughput: arith p=97, 64 examples, one process ({load()})\n")
    print(
        "| implementation | candidates | kept | wall s | CPU s | candidates/s (wall) | candidates/s (CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (res, w, c) in zip(("cold", "warm"), runs, strict=True):
        print(
            f"| synth, {name} run | {res.candidates:,} | {res.kept:,} | {w:.2f} "
            f"| {c:.2f} | {res.candidates / w:,.0f} | {res.candidates / c:,.0f} |"
        )
    print(
        f"| reference (Python set of rows) | {ref_tried:,} | {ref_kept:,} | {ref_wall:.2f} | {ref_cpu:.2f} "
        f"| {ref_tried / ref_wall:,.0f} | {ref:,.0f} |"
    )
    print(f"\nratio (CPU): {ours / ref:.1f}x; levels complete up to {result.bits_reached:.2f} bits\n")


def jobs_table(candidates: int, arith_candidates: int) -> None:
    from synth import default_dsl

    print(
        f"## jobs: the same search on 1 and 2 threads ({load()}; "
        f"affinity {sorted(os.sched_getaffinity(0))})\n"
    )
    print("| search | jobs | candidates | kept | wall s | CPU s | candidates/s (wall) | speed-up (wall) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    task = parse_task("brackets:kind=dyck2")
    train = task.train_split(64, 0)
    seq = parse_dsl(default_dsl(train))
    arith = parse_dsl("arith:p=97")
    searches = {
        "Dyck-2, 64 sequences": (Prior(seq.primitives), seq.env(train.X), seq.target(train.y), candidates),
        "arith p=97, 64 examples": (
            Prior(arith.primitives),
            arith.env(np.random.default_rng(0).integers(0, 97, size=(64, 2))),
            None,
            arith_candidates,
        ),
    }
    for name, (prior, env, target, n) in searches.items():
        base = None
        for jobs in (1, 2, 1, 2):  # twice each: the first run also pays for mapping fresh memory
            budget = Budget(max_bits=64, max_candidates=n, max_bank_mb=4096)
            res, wall, cpu = timed(lambda: Enumerator(prior, env, target, budget, jobs=jobs).run())  # noqa: B023
            base = wall if jobs == 1 else base
            print(
                f"| {name} | {jobs} | {res.candidates:,} | {res.kept:,} | {wall:.2f} | {cpu:.2f} "
                f"| {res.candidates / wall:,.0f} | {base / wall:.2f}x |",
                flush=True,
            )
    print()


def ops_table(time_limit: float) -> None:
    print(f"## The 13 modular ops from 8 examples (seed 0, time limit {time_limit:g} s; {load()})\n")
    print("| op | program | bits | candidates | seconds | test accuracy |")
    print("|---|---|---:|---:|---:|---:|")
    for op in OPS:
        task = parse_task(f"modular:op={op},p=97")
        train, test = task.train_split(8, 0), task.test_split()
        model = EnumerativeSynthesizer(dsl="arith:p=97", time_limit=time_limit).fit(train.X, train.y)
        stats = model.search_stats_
        note = "" if model.found_ else f" ({stats['stop_reason']})"
        print(
            f"| `{op}` | `{model.program_}`{note} | {model.bits_:.2f} | {stats['candidates']:,} "
            f"| {stats['seconds']:.2f} | {model.score(test.X, test.y):.4f} |"
        )
    print()


def min_n(seeds: list[int], max_n: int, time_limit: float) -> None:
    print(f"## Smallest n with 100% test accuracy (MAP program; seeds {seeds}; {load()})\n")
    print("| op | " + " | ".join(f"seed {s}" for s in seeds) + " |")
    print("|---|" + "---:|" * len(seeds))
    for op in OPS:
        task = parse_task(f"modular:op={op},p=97")
        test = task.test_split()
        cells = []
        for seed in seeds:
            found = None
            for n in range(1, max_n + 1):
                train = task.train_split(n, seed)
                model = EnumerativeSynthesizer(dsl="arith:p=97", time_limit=time_limit).fit(train.X, train.y)
                if model.score(test.X, test.y) == 1.0:
                    found = n
                    break
            cells.append(str(found) if found else f"> {max_n}")
        print(f"| `{op}` | " + " | ".join(cells) + " |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="throughput,ops,min-n,jobs")
    ap.add_argument("--candidates", type=int, default=10_000_000, help="throughput: candidates to time")
    ap.add_argument("--ref-candidates", type=int, default=500_000, help="throughput: for the reference")
    ap.add_argument("--time-limit", type=float, default=10.0, help="seconds per fit (ops, min-n)")
    ap.add_argument("--max-n", type=int, default=16)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--jobs-candidates", type=int, default=2_000_000, help="jobs: Dyck-2 candidates")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if "throughput" in parts:
        throughput(args.candidates, args.ref_candidates)
    if "ops" in parts:
        ops_table(args.time_limit)
    if "min-n" in parts:
        min_n([int(s) for s in args.seeds.split(",")], args.max_n, args.time_limit)
    if "jobs" in parts:
        jobs_table(args.jobs_candidates, args.candidates)


if __name__ == "__main__":
    main()
