"""Grokking modular addition on a CPU: steps to 100% train accuracy and to 99% test accuracy, and time.

Settings:
  fast   the default (the registry's modular defaults with more steps): groks in well under a minute
  paper  Nanda et al. 2023: p=113, 30% train, 1 layer, d_model 128, 4 heads, d_mlp 512, ReLU, no
         LayerNorm, AdamW lr 1e-3, wd 1.0, betas (0.9, 0.98), full batch (tens of minutes on a CPU)

    python benchmarks/grokking.py                       # fast
    nohup nice -n 10 python benchmarks/grokking.py --setting paper > grok_paper.log &

Every ``--every`` evaluations a progress line is printed; the last line is a summary.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from baselines.batched import limit_threads
from baselines.learners import TransformerLearner
from baselines.training import first_step
from compare.methods import make_learner
from tasks import parse_task

PAPER = dict(
    n_layers=1, d_model=128, n_heads=4, d_mlp=512, act="relu", normalization=False, use_bias=False,
    lr=1e-3, weight_decay=1.0, beta1=0.9, beta2=0.98, batch_size=None, warmup_steps=10, steps=25000,
    eval_points=300,
)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setting", choices=["fast", "paper"], default="fast")
    ap.add_argument("--p", type=int, help=f"modulus (fast: {FAST_P}, paper: 113)")
    ap.add_argument("--train-fraction", type=float, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 when others share the CPU)")
    ap.add_argument("--every", type=int, default=10, help="print progress every this many evaluations")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args()
    limit_threads(args.threads)

    paper = args.setting == "paper"
    p = args.p or (113 if paper else FAST_P)
    frac = args.train_fraction or (0.3 if paper else FAST_FRACTION)
    task = parse_task(f"modular:op=x+y,p={p},test_fraction={1 - frac}")
    train, test = task.train_split(task.max_train, args.seed), task.test_split()
    if paper:
        learner = TransformerLearner(d_vocab=p, n_classes=p, random_state=args.seed, **PAPER)
    else:
        learner = make_learner("transformer", train).set_params(
            steps=FAST_STEPS, eval_points=200, random_state=args.seed
        )
    overrides = {k: v for k, v in (("steps", args.steps), ("lr", args.lr)) if v is not None}
    learner.set_params(**overrides)
    threads = torch.get_num_threads()
    print(f"# {args.setting}: {task.spec}, n_train={len(train)}, n_test={len(test)}, threads={threads}")
    print(f"# learner: {learner!r}", flush=True)
    count = [0]

    def progress(step: int, m: dict) -> None:
        count[0] += 1
        if count[0] % args.every == 0:
            print(
                f"step {step:6d}  {time.perf_counter() - start:7.1f}s  train loss {m['train_loss']:.3g} "
                f"acc {m['train_acc']:.3f}  test loss {m['test_loss']:.3g} acc {m['test_acc']:.3f}",
                flush=True,
            )

    start = time.perf_counter()
    learner.fit(train.X, train.y, eval_sets={"test": test}, progress=progress)
    seconds = time.perf_counter() - start
    summary = {
        "setting": args.setting,
        "task": task.spec,
        "n_train": len(train),
        "steps": learner.stopped_step_,
        "train_100_step": first_step(learner.history_, "train_acc", 1.0),
        "test_99_step": first_step(learner.history_, "test_acc", 0.99),
        "final_test_acc": learner.history_["test_acc"][-1],
        "seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(" ".join(f"{k}={v}" for k, v in summary.items()))


#: The fast setting: a small modulus and a large training share grok within seconds on a CPU.
FAST_P = 59
FAST_FRACTION = 0.4
FAST_STEPS = 1500

if __name__ == "__main__":
    main()
