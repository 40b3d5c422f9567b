"""Grokking modular addition on a CPU: the table that chose the modular defaults (issue 31, item 1).

For each setting × seed: the first logged step with 99% test accuracy and the wall time to it, the
lowest test accuracy logged from then on (does it hold?), the final test accuracy (what a grid cell
records) and the run's wall time. Every model is trained alone, as a grid cell is, on the whole
training pool of ``modular:op=x+y,p=P,test_fraction=1-F`` (F = 40% of the pairs by default), for its
step budget; ``--until-99`` stops each run when its test accuracy first reaches 99% (the test set is
only watched: training never reads it), for quick searches.

Settings (``--settings``, separated by ";"; a method spec works too):
  transformer, mlp   the registry's defaults for the data's shape (compare/settings/defaults.py)
  old-transformer, old-mlp   the defaults before issue 31 (1,500 steps; the MLP relu, lr 3e-3)
  nanda              Nanda et al. 2023 (presets.NANDA: full batch, lr 1e-3, 25,000 steps: hours)
  the candidates of the search (CANDIDATES below)

    python benchmarks/grokking.py                                   # defaults: transformer and mlp
    python benchmarks/grokking.py --settings 'mlp;old-mlp' --seeds 0,1   # a part of the table
    python benchmarks/grokking.py --settings 'mlp:lr=0.02' --p 97   # any method spec
    python benchmarks/grokking.py --settings candidates-mlp        # the MLP search (minutes)

Run it with ``nice`` and one thread where others share the machine (``--threads 1``, the default).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from baselines.batched import limit_threads
from baselines.learners import SingleEngine, train_group
from baselines.training import Result, first_step
from compare.methods import canonical_spec, make_learner
from compare.settings.presets import NANDA
from tasks import parse_task

OLD = {
    "old-transformer": "transformer:d_model=64,n_heads=4,d_mlp=256,use_bias=false,lr=0.003,weight_decay=1.0,"
    "steps=1500",
    "old-mlp": "mlp:d_embed=32,d_mlp=256,act=relu,lr=0.003,weight_decay=1.0,steps=1500",
}
#: The settings the search compared (see compare/settings/defaults.py for what they measured).
CANDIDATES = {
    "candidates-mlp": (
        "mlp:act=quadratic,lr=0.003,steps=3000",
        "mlp:act=relu,lr=0.01,steps=3000",
        "mlp:act=quadratic,lr=0.01,steps=3000",
    ),
    "candidates-transformer": (
        "transformer:lr=0.003,steps=3000",
        "transformer:lr=0.01,steps=3000",
    ),
}
NAMED = {"nanda": NANDA, **OLD}


def run_one(spec: str, task, seed: int, eval_points: int, until_99: bool, threshold: float = 0.99) -> dict:
    """Train ``spec`` with ``seed`` on ``task``'s whole pool for its step budget (``until_99``: only
    until test accuracy first reaches ``threshold``); what it reached, when, and how it held."""
    train, test = task.train_split(task.max_train, seed), task.test_split()
    learner = make_learner(spec, test, random_state=seed, device="cpu")
    learner.set_params(eval_points=eval_points)
    last: list[Result] = []
    reached_at: list[float] = []

    def watch(step: int, results: list[Result]) -> None:
        last[:] = results
        if not reached_at and results[0].history["test_acc"][-1] >= threshold:
            reached_at.append(time.perf_counter() - start)
            if until_99:
                raise Reached

    start = time.perf_counter()
    try:
        train_group([learner], [(train.X, train.y)], {"test": test}, SingleEngine, watch)
    except Reached:
        pass
    seconds = time.perf_counter() - start
    history = last[0].history
    step_99 = first_step(history, "test_acc", threshold)
    after = [acc for step, acc in zip(history["step"], history["test_acc"], strict=True)
             if step_99 is not None and step >= step_99]  # fmt: skip
    return {
        "step_99": step_99,
        "seconds_99": round(reached_at[0], 1) if reached_at else None,
        "min_test_after_99": round(min(after), 4) if after else None,
        "final_test": round(history["test_acc"][-1], 4),
        "last_step": history["step"][-1],
        "seconds": round(seconds, 1),
    }


class Reached(Exception):
    """Raised from the evaluation callback once test accuracy reaches the threshold (ends the run)."""


def expand(names: str) -> list[tuple[str, str]]:
    """Setting names (or method specs, or a group of candidates) → (name, method spec), in order."""
    specs: list[tuple[str, str]] = []
    for name in names.split(";"):  # not commas: a method spec has them
        if name in CANDIDATES:
            specs += [(spec, spec) for spec in CANDIDATES[name]]
        else:
            specs.append((name, NAMED.get(name, name)))
    return specs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--settings", default="transformer;mlp", help="names or method specs, ';'-separated")
    ap.add_argument("--p", type=int, default=59, help="the modulus (a prime)")
    ap.add_argument("--train-fraction", type=float, default=0.4, help="share of the pairs in the pool")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--steps", type=int, default=None, help="override every setting's step budget")
    ap.add_argument("--eval-points", type=int, default=80, help="log-spaced evaluations over the budget")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 when others share the CPU)")
    ap.add_argument("--until-99", action="store_true", help="stop each run at 99%% test (faster; no final)")
    ap.add_argument("--json", action="store_true", help="one JSON object per row instead of the table")
    args = ap.parse_args()
    limit_threads(args.threads)
    task = parse_task(f"modular:op=x+y,p={args.p},test_fraction={round(1 - args.train_fraction, 6)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    budget = {} if args.steps is None else {"steps": args.steps}
    print(f"# {task.spec}: n_train = {task.max_train} (the whole pool), n_test = {len(task.test_split())}; "
          f"{args.threads} thread(s); step: the first of {args.eval_points} log-spaced evaluations >= 99%")
    print("| setting | seed | step at 99% test | s to 99% | min test after | final test | steps | wall s |\n"
          "|---|---|---|---|---|---|---|---|", flush=True)
    for name, spec in expand(args.settings):
        spec = canonical_spec(spec, task.test_split(), **budget)
        print(f"# {name} = {spec}", flush=True)
        rows = [run_one(spec, task, seed, args.eval_points, args.until_99) for seed in seeds]
        print_rows(name, spec, task.spec, seeds, rows, args.json)


def print_rows(name: str, spec: str, task: str, seeds: list[int], rows: list[dict], as_json: bool) -> None:
    """One table row (or JSON object) per seed, then the setting's summary row."""
    for seed, row in zip(seeds, rows, strict=True):
        if as_json:
            print(json.dumps({"setting": name, "spec": spec, "task": task, "seed": seed, **row}), flush=True)
            continue
        step = row["step_99"] if row["step_99"] is not None else f"> {row['last_step']}"
        cells = (step, row["seconds_99"], row["min_test_after_99"], row["final_test"], row["last_step"])
        print(f"| {name} | {seed} | " + " | ".join(map(str, cells)) + f" | {row['seconds']} |", flush=True)
    reached = [r["step_99"] for r in rows if r["step_99"] is not None]
    if as_json or not reached:
        return
    held = sum(r["final_test"] >= 0.99 for r in rows)
    total = sum(r["seconds"] for r in rows)
    steps = f"median {statistics.median(reached)}, max {max(reached)}"
    final = f"{held}/{len(rows)} >= 0.99"
    print(f"| **{name}** | {len(reached)}/{len(rows)} | {steps} | | | {final} | | {total:.0f} |", flush=True)

if __name__ == "__main__":
    main()
