"""Induction heads: a 2-layer attention-only transformer against a 1-layer control.

    python benchmarks/induction.py                 # n=4000 sequences, the registry's induction defaults

Prints masked accuracy (scored positions: inside the repeated segment) on train, test and the OOD
splits ('longer' sequences, 'unseen_tokens'), with the steps at which test accuracy reached 95%.
The 2-layer model can compose a previous-token head with an induction head; one layer cannot.
"""

from __future__ import annotations

import argparse
import time

import torch

from baselines import limit_threads
from baselines.training import first_step
from compare.evaluate import fit_and_score
from compare.methods import make_learner
from tasks import parse_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="induction")
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--layers", default="2,1")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--params", default="", help="more transformer parameters, e.g. positional=rotary")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    limit_threads(args.threads)
    task = parse_task(args.task)
    train = task.train_split(args.n, args.seed)
    evals = {"test": task.test_split(), **{name: task.ood_split(name) for name in task.ood_names}}
    print(f"# {task.spec} n={args.n} seed={args.seed} threads={torch.get_num_threads()}")
    for layers in args.layers.split(","):
        overrides = {"random_state": args.seed} | ({"steps": args.steps} if args.steps else {})
        extra = f",{args.params}" if args.params else ""
        learner = make_learner(f"transformer:n_layers={layers}{extra}", train, **overrides)
        start = time.perf_counter()
        result = fit_and_score(learner, train, evals)
        accs = "  ".join(f"{k} {v:.3f}" for k, v in result.accuracy.items())
        at_95 = first_step(learner.history_, "test_acc", 0.95)
        print(
            f"{layers}-layer attn-only  {accs}  test>=95% at step {at_95}  "
            f"({learner.steps} steps, {time.perf_counter() - start:.1f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
