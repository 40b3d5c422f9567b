"""The README's main command, timed: ``dlps run --preset quick`` into a fresh store.

    python benchmarks/quick_preset.py              # 2 workers (the machine's cores)
    python benchmarks/quick_preset.py --jobs 1

Prints the wall time, the CPU time estimated by the cost model against the CPU time the workers
spent (per task × method and in all), and the transformer's test accuracy per n on modular
addition (median over seeds), where its grokking threshold shows: near chance below it, ≥ 0.99 at
the full pool.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from compare.grid.cost import duration
from compare.grid.jobs import estimate
from compare.grid.runner import prepare_run
from compare.methods import Budgets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    ap.add_argument("--preset", default="quick")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = str(Path(folder) / "quick.sqlite")
        grid = dict(preset_name=args.preset, tasks=None, methods=None, sizes=None, seeds=None)
        start = time.perf_counter()
        planned = prepare_run(grid, Budgets(), store, args.jobs, None, None)
        cells = planned.cells
        workers = getattr(planned.executor, "workers", args.jobs)
        summary = planned.execute()
        wall = time.perf_counter() - start
        from compare.results.store import Store

        with Store(store, create=False) as results:
            rows = results.rows()
    est = estimate(cells)
    actual: dict[tuple[str, str], float] = defaultdict(float)
    for row in rows:
        actual[(row.cell.task, row.cell.method)] += row.result.extra.get("cpu_seconds", 0.0)
    print(f"# dlps run --preset {args.preset}: {summary.line()}")
    print(f"# wall {wall:.1f} s (estimated {duration(est.wall(workers or 2))} on {workers or 2} workers)")
    print("# task | method: CPU estimated, actual, ratio")
    for key in sorted(est.seconds):
        ratio = actual[key] / est.seconds[key] if est.seconds[key] else float("nan")
        shown = f"{duration(est.seconds[key])}, {duration(actual[key])}, {ratio:.2f}"
        print(f"{key[0][:40]} | {key[1][:40]}: {shown}")
    total = sum(actual.values())
    print(f"# all: estimated {duration(est.total)}, actual {duration(total)}, ratio {total / est.total:.2f}")
    curve: dict[int, list[float]] = defaultdict(list)
    for row in rows:
        if row.cell.task.startswith("modular") and row.cell.method.startswith("transformer"):
            curve[row.cell.n].append(row.result.test_accuracy or 0.0)
    print(
        "# modular transformer, median test accuracy by n: "
        + ", ".join(f"{n}: {statistics.median(accs):.3f}" for n, accs in sorted(curve.items()))
    )


if __name__ == "__main__":
    main()
