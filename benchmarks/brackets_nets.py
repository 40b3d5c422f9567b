"""The LSTM and the transformer on Dyck-1 and Dyck-2: test and longer-sequence (OOD) accuracy.

    python benchmarks/brackets_nets.py                     # n=2000, the registry's brackets defaults
    python benchmarks/brackets_nets.py --n 500 --methods "lstm;transformer:positional=rotary"

Prints one line per (kind, method): train, test and OOD ('longer') accuracy, and the wall time.
"""

from __future__ import annotations

import argparse
import time

import torch

from baselines import limit_threads
from compare.evaluate import fit_and_score
from compare.methods import make_learner
from tasks import parse_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--kinds", default="dyck1,dyck2")
    ap.add_argument("--task-params", default="", help="extra task parameters, e.g. max_len=24")
    ap.add_argument("--methods", default="lstm;transformer", help="method specs separated by ;")
    ap.add_argument("--steps", type=int, default=None, help="override the defaults' steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    limit_threads(args.threads)
    print(f"# n={args.n} seed={args.seed} threads={torch.get_num_threads()}")
    for kind in args.kinds.split(","):
        extra = f",{args.task_params}" if args.task_params else ""
        task = parse_task(f"brackets:kind={kind}{extra}")
        train = task.train_split(args.n, args.seed)
        evals = {"test": task.test_split(), "longer": task.ood_split("longer")}
        for method in args.methods.split(";"):
            overrides = {"random_state": args.seed} | ({"steps": args.steps} if args.steps else {})
            learner = make_learner(method, train, **overrides)
            start = time.perf_counter()
            acc = fit_and_score(learner, train, evals).accuracy
            print(
                f"{task.spec:60s} {method:32s} train {acc['train']:.3f}  test {acc['test']:.3f}  "
                f"longer {acc['longer']:.3f}  ({learner.steps} steps, {time.perf_counter() - start:.1f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
