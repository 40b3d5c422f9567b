"""Batched training (one vmapped stack of models) against one-by-one training, same steps, same run.

    python benchmarks/batched_training.py                         # modular, the registry's defaults
    python benchmarks/batched_training.py --task brackets:kind=dyck1 --method lstm --sizes 8,16,32,64,128

Trains every (size, seed) cell of one task and method twice: with ``fit_many`` (all cells in one
stack) and with ``fit`` one cell at a time; prints both wall times, the speed-up, and the largest
difference in test accuracy between the two (they follow the same path up to float rounding).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from baselines import fit_many, limit_threads
from baselines.registry import make_learner
from tasks import parse_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="modular:p=59,test_fraction=0.6")
    ap.add_argument("--method", default="transformer")
    ap.add_argument("--sizes", default="64,128,256,512,1024")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--eval-points", type=int, default=5, help="test-set evaluations per model (cost the same either way)"
    )
    args = ap.parse_args()
    limit_threads(args.threads)
    task = parse_task(args.task)
    sizes = [int(s) for s in args.sizes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    cells = [(n, seed) for n in sizes for seed in seeds]
    splits = [task.train_split(n, seed) for n, seed in cells]
    test = task.test_split()
    settings = dict(steps=args.steps, eval_points=args.eval_points)
    template = make_learner(args.method, splits[0], task.family, **settings)
    threads = torch.get_num_threads()
    print(f"# {task.spec} | {args.method} | sizes {sizes} x seeds {seeds} = {len(cells)} models, "
          f"{args.steps} steps, batch_size={template.batch_size}, {args.eval_points} evaluations, "
          f"threads={threads}")  # fmt: skip

    # Warm up both paths (first calls pay one-off costs that would be charged to whichever runs first).
    fit_many(template.set_params(steps=2), splits[:2], seeds=[0, 1])
    make_learner(args.method, splits[0], task.family, steps=2).fit(splits[0].X, splits[0].y)
    template.set_params(steps=args.steps)

    start, cpu = time.perf_counter(), time.process_time()
    together = fit_many(template, splits, seeds=[s for _, s in cells], eval_sets={"test": test})
    batched, batched_cpu = time.perf_counter() - start, time.process_time() - cpu

    start, cpu = time.perf_counter(), time.process_time()
    alone = [
        make_learner(args.method, split, task.family, random_state=seed, **settings).fit(
            split.X, split.y, eval_sets={"test": test}
        )
        for split, (_, seed) in zip(splits, cells, strict=True)
    ]
    one_by_one, one_by_one_cpu = time.perf_counter() - start, time.process_time() - cpu

    final = [a.history_["test_acc"][-1] for a in alone]
    diffs = [abs(a.history_["test_acc"][-1] - b) for a, b in zip(together, final, strict=True)]
    accs = {n: np.mean([acc for acc, (m, _) in zip(final, cells, strict=True) if m == n]) for n in sizes}
    print("mean test accuracy by n: " + ", ".join(f"{n}: {acc:.3f}" for n, acc in accs.items()))
    print(
        f"wall: batched {batched:.1f} s, one-by-one {one_by_one:.1f} s: {one_by_one / batched:.1f}x | "
        f"CPU: {batched_cpu:.1f} s vs {one_by_one_cpu:.1f} s, {one_by_one_cpu / batched_cpu:.1f}x | "
        f"max |test acc difference| {max(diffs):.4f}"
    )


if __name__ == "__main__":
    main()
