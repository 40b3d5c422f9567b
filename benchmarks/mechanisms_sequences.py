"""Mechanisms of sequence models: induction heads, and bracket depth in LSTMs and transformers.

    nice python benchmarks/mechanisms_sequences.py                 # the settings printed first
    python benchmarks/mechanisms_sequences.py --plots out/mech_seq # also the PNGs, one folder per model

Trains, then analyses (:func:`mechanisms.sequences.analyse`, progress over ~40 log-spaced
checkpoints included):

- induction, 2-layer attention-only transformer, several seeds: the previous-token and induction
  heads with their scores, accuracy with the induction head / the previous-token head / each other
  head ablated (mean ablation; zero ablation in brackets), emergence vs generalization step;
- induction, 1-layer control: the best induction score and the accuracy;
- Dyck-1 LSTM and transformer, Dyck-2 LSTM: depth probe, control and selectivity per site, the
  accuracy with the depth direction projected out against random directions, the counter unit;
- seconds per analysis (heads/ablations/probes, and the progress over checkpoints, separately).

The induction task has a larger vocabulary than the smallest one that trains (d_vocab=16 leaves 8
seen tokens, and a 2-layer model there solved the task by eliminating tokens already copied instead of
with an induction head, which this script would report as such).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from baselines import LSTMLearner, TransformerLearner, limit_threads
from baselines.training import eval_schedule
from mechanisms.plots_sequences import write_plots
from mechanisms.sequences import analyse
from tasks import parse_task

INDUCTION = "induction:d_vocab=40,seq_len=20,min_seg=3,max_seg=8,n_unseen=8"
INDUCTION_PARAMS = dict(
    attn_only=True, d_model=64, n_heads=2, positional="relative", lr=3e-3, weight_decay=0.01, batch_size=128,
)  # fmt: skip
BRACKETS_TRANSFORMER = dict(
    n_layers=2, d_model=32, n_heads=2, d_mlp=64, normalization=True, positional="rotary", lr=3e-3,
    weight_decay=0.1, batch_size=64,
)  # fmt: skip
BRACKETS_LSTM = dict(d_embed=16, d_hidden=32, lr=1e-2, weight_decay=0.01, batch_size=64)


def fit(learner, task, n: int, seed: int):
    train = task.train_split(n, seed)
    start = time.perf_counter()
    torch.manual_seed(seed)
    learner.fit(train.X, train.y)
    return train, time.perf_counter() - start


def fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def plots(args, learner, result, test, name: str) -> None:
    if args.plots:
        tokens = learner.encode(test.X[:1]).tokens
        write_plots(learner, result, tokens, Path(args.plots) / name)


def head_line(result: dict, key: str) -> str:
    layer, head = result[key]
    entry = next(h for h in result["heads"] if [h["layer"], h["head"]] == [layer, head])
    score = entry["induction" if key == "induction_head" else "previous_token"]
    return f"L{layer}H{head} {fmt(score, 2)}"


def induction(args) -> None:
    task = parse_task(INDUCTION)
    test = task.test_split()
    steps = args.induction_steps
    print(f"\n## {task.spec}, n={args.n_induction}, steps={steps}, {INDUCTION_PARAMS}")
    print(
        "scores: on repeated random tokens (test data in brackets); ablations: masked test accuracy, mean "
        "ablation (zero ablation in brackets); other = mean over the other heads, each ablated alone"
    )
    header = (
        f"{'model':9s} {'prev head':>10s} {'ind head':>10s} {'copy':>5s} {'acc':>6s} "
        f"{'-ind':>13s} {'-prev':>13s} {'-other':>13s} {'emerge':>7s} {'general':>12s} {'fit s':>6s} "
        f"{'anal s':>6s} {'prog s':>6s}"
    )
    print(header)
    for n_layers, seeds in ((2, range(args.seeds)), (1, range(1))):
        for seed in seeds:
            learner = TransformerLearner(
                n_layers=n_layers, steps=steps, d_vocab=task.d_vocab, n_classes=task.d_vocab,
                checkpoint_steps=tuple(eval_schedule(steps, 40)), eval_points=2, random_state=seed,
                device="cpu", **INDUCTION_PARAMS,
            )  # fmt: skip
            train, fit_s = fit(learner, task, args.n_induction, seed)
            r = analyse(learner, task, train=train, test=test, seed=seed)
            ab, zero = r["ablation"], r["ablation"]["zero"]
            by_head = {(h["layer"], h["head"]): h for h in r["heads"]}
            ind = by_head[tuple(r["induction_head"])]
            general = f"{r['generalization_step']}@{r['generalization_threshold']}"
            print(
                f"{n_layers}L s{seed:<6d} {head_line(r, 'previous_token_head'):>10s} "
                f"{head_line(r, 'induction_head'):>10s} {fmt(ind['copying'], 2):>5s} {ab['none']:6.3f} "
                f"{ab['induction_head']:6.3f} ({zero['induction_head']:.3f}) "
                f"{ab['previous_token_head']:6.3f} ({zero['previous_token_head']:.3f}) "
                f"{fmt(ab['other_heads'], 3):>6s} ({fmt(zero['other_heads'], 3)}) "
                f"{str(r['emergence_step']):>7s} {general:>12s} {fit_s:6.1f} {r['seconds']['analysis']:6.1f} "
                f"{r['seconds']['progress']:6.1f}",
                flush=True,
            )
            layers = "  ".join(f"L{e['layer']} {e['mean']:.3f} ({e['zero']:.3f})" for e in ab["per_layer"])
            print(f"    whole layer ablated: {layers}")
            for h in r["heads"]:
                both = "  ".join(
                    f"{short} {fmt(h[key], 2)} ({fmt(h['test'][key], 2)})"
                    for short, key in (("prev", "previous_token"), ("dup", "duplicate"), ("ind", "induction"))
                )
                print(f"    L{h['layer']}H{h['head']}  {both}  copy {fmt(h['copying'], 2)}")
            plots(args, learner, r, test, f"induction_{n_layers}L_s{seed}")


def brackets(args) -> None:
    runs = (
        ("dyck1", "lstm", LSTMLearner, BRACKETS_LSTM, args.lstm_steps),
        ("dyck1", "transformer", TransformerLearner, BRACKETS_TRANSFORMER, args.transformer_steps),
        ("dyck2", "lstm", LSTMLearner, BRACKETS_LSTM, args.lstm_steps),
    )
    print(f"\n## brackets, n={args.n_brackets}, seed 0 (default task parameters: lengths 2..16)")
    print(
        "probe/control/selectivity on test positions; causal test at the most selective site that reaches "
        "the output: accuracy with the depth direction projected out vs random directions (mean of 5)"
    )
    for kind, name, cls, params, steps in runs:
        task = parse_task(f"brackets:kind={kind}")
        test = task.test_split()
        learner = cls(
            steps=steps, d_vocab=task.pad_id + 1, n_classes=2, pad_id=task.pad_id,
            checkpoint_steps=tuple(eval_schedule(steps, 40)), eval_points=2, random_state=0, device="cpu",
            **params,
        )  # fmt: skip
        train, fit_s = fit(learner, task, args.n_brackets, 0)
        r = analyse(learner, task, train=train, test=test)
        d = r["depth"]
        last = r["progress"][-1]
        print(
            f"\n{task.spec} {name} ({steps} steps, {params}): train {last['train_accuracy']:.3f} "
            f"test {last['test_accuracy']:.3f}  generalization step {r['generalization_step']}"
            f"@{r['generalization_threshold']}  fit {fit_s:.1f} s, analysis "
            f"{r['seconds']['analysis']:.1f} s, progress {r['seconds']['progress']:.1f} s"
        )
        for s in d["sites"]:
            extra = ""
            if "type_probe_accuracy" in s:
                extra = (
                    f"   type: probe {s['type_probe_accuracy']:.3f} control {s['type_control_accuracy']:.3f} "
                    f"selectivity {s['type_selectivity']:+.3f}"
                )
            print(
                f"    {s['site']:26s} probe {s['probe_accuracy']:.3f} control {s['control_accuracy']:.3f} "
                f"selectivity {s['selectivity']:+.3f}{extra}"
            )
        a = d["ablation"]
        print(
            f"    best site {d['best_site']}; causal test at {a['site']}: accuracy {a['none']:.3f}, depth "
            f"direction removed {fmt(a['depth_direction'])}, random direction {fmt(a['random_direction'])} "
            f"(draws {', '.join(fmt(v) for v in a.get('random_directions', []))}), depth R² "
            f"{fmt(a.get('depth_r2'))}"
        )
        sub = a.get("subspace", {})
        print(
            f"    the probe's whole subspace removed ({sub.get('dimension')} dims): "
            f"{fmt(sub.get('depth_subspace'))}, random subspaces of that size: "
            f"{fmt(sub.get('random_subspace'))}"
        )
        c = d["counter_unit"]
        counter = "none" if c is None else f"{c['site']} unit {c['unit']}, r = {c['correlation']:+.3f}"
        curve = "  ".join(f"{e['step']}:{e['depth_probe_accuracy']:.2f}" for e in r["progress"][::6])
        print(f"    counter unit: {counter}\n    depth probe over checkpoints (step:acc): {curve}")
        plots(args, learner, r, test, f"{kind}_{name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the 2-layer induction model")
    ap.add_argument("--n-induction", type=int, default=4000)
    ap.add_argument("--induction-steps", type=int, default=1000)
    ap.add_argument("--n-brackets", type=int, default=2000)
    ap.add_argument("--lstm-steps", type=int, default=1000)
    ap.add_argument("--transformer-steps", type=int, default=1000)
    ap.add_argument("--only", choices=("all", "induction", "brackets"), default="all")
    ap.add_argument("--plots", default="", help="write the PNGs under this folder")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    limit_threads(args.threads)
    np.set_printoptions(precision=3)
    print(f"# threads={torch.get_num_threads()} settings: {vars(args)}")
    start = time.perf_counter()
    if args.only in ("all", "induction"):
        induction(args)
    if args.only in ("all", "brackets"):
        brackets(args)
    print(f"\n# total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
