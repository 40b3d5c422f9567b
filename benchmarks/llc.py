"""The LLC over training in the fast grokking setting, and our estimator against devinterp's.

    python benchmarks/llc.py                     # 3 seeds: LLC at every checkpoint beside accuracy
    python benchmarks/llc.py --devinterp         # also devinterp 1.3.2 on the same networks (optional)
    python benchmarks/llc.py --seeds 0 --plot llc_curve.png --json out.json

The setting is the quick preset's modular cell (``modular:op=x+y,p=59``, the whole training pool of
1,740 pairs, the transformer's modular defaults: 1,500 steps, weight decay 1): devinterp's grokking
example reports that the LLC rises while a network memorizes and falls while it groks. Each
checkpoint's estimate uses :data:`mechanisms.llc.PROGRESS`, the final network's :data:`DEFAULTS`.

devinterp is not a dependency: install it beside dlps (``pip install "devinterp>=1.3.2,<2"``, which
adds einops, pandas and tqdm) or put it on PYTHONPATH; without it ``--devinterp`` says so and stops.
Its estimate is run with the same ε, γ, nβ, chains, draws and batch size, and the initial loss of
several batches (its default is the first batch's).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

import torch

from baselines.checkpoints import checkpoint_settings
from compare.evaluate import evaluation_splits
from compare.methods import make_learner
from mechanisms import llc
from tasks import parse_task

TASK = "modular:op=x+y,p=59"


def curve(seed: int, n: int | None) -> tuple[list[dict], object, object]:
    """Train seed ``seed`` keeping the default checkpoints; per checkpoint its step, the logged train and
    test accuracy nearest to it, and the LLC."""
    task = parse_task(TASK)
    train = task.train_split(n or task.max_train, seed)
    learner = make_learner("transformer", train, random_state=seed)
    learner.set_params(**checkpoint_settings(learner.steps))
    start = time.perf_counter()
    learner.fit(train.X, train.y, eval_sets={"test": evaluation_splits(task)["test"]})
    fit = time.perf_counter() - start
    history = learner.history_
    rows = []
    start = time.perf_counter()
    for step in sorted(learner.checkpoints_):
        at = learner.model_at(step)
        est = llc.network_llc(learner, train, model=at, config=llc.PROGRESS, seed=seed)
        i = min(range(len(history["step"])), key=lambda j: abs(history["step"][j] - step))
        rows.append(
            {
                "step": step,
                "train_acc": history["train_acc"][i],
                "test_acc": history["test_acc"][i],
                "llc": est["mean"],
                "below_initial": est["below_initial"],
            }
        )
    print(
        f"seed {seed}: fit {fit:.0f} s, {len(rows)} checkpoint estimates {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    return rows, learner, train


def devinterp_estimate(learner, train, config: llc.LLCConfig, seed: int) -> dict:
    """devinterp's estimate_learning_coeff_with_summary with our loss and hyper-parameters."""
    from devinterp.optim.sgld import SGLD
    from devinterp.slt.sampler import estimate_learning_coeff_with_summary
    from torch.utils.data import DataLoader, TensorDataset

    loss, n = llc.network_batch_loss(learner, train)
    nbeta = config.nbeta or llc.default_nbeta(n)
    batch = min(config.batch_size or n, n)
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(torch.arange(n)), batch_size=batch, shuffle=True, generator=g)
    with torch.no_grad():
        init = float(
            sum(
                float(loss(learner.model_, torch.randperm(n, generator=g)[:batch]))
                for _ in range(config.init_batches)
            )
            / config.init_batches
        )
    model = __import__("copy").deepcopy(learner.model_)
    out = estimate_learning_coeff_with_summary(
        model,
        loader,
        evaluate=lambda m, data: loss(m, data[0]),
        sampling_method=SGLD,
        optimizer_kwargs=dict(lr=config.epsilon, localization=config.gamma, nbeta=nbeta),
        num_chains=config.chains,
        num_draws=config.draws,
        init_loss=init,
        seed=seed,
        verbose=False,
    )
    return {"mean": float(out["llc/mean"]), "sd": float(out["llc/std"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--devinterp", action="store_true")
    parser.add_argument("--plot", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.devinterp:
        try:
            import devinterp  # noqa: F401
        except ImportError:
            raise SystemExit("--devinterp needs devinterp: pip install 'devinterp>=1.3.2,<2'") from None
    curves, compared = {}, []
    for seed in (int(s) for s in args.seeds.split(",")):
        rows, learner, train = curve(seed, args.n)
        curves[f"seed {seed}"] = rows
        print(f"{'step':>6} {'train':>6} {'test':>6} {'llc':>8}")
        for r in rows:
            value = "diverged" if r["llc"] is None else f"{r['llc']:.2f}"
            print(f"{r['step']:>6} {r['train_acc']:>6.3f} {r['test_acc']:>6.3f} {value:>8}")
        valid = [r for r in rows if r["llc"] is not None]
        peak = max(valid, key=lambda r: r["llc"]) if valid else None
        mem = next((r["step"] for r in rows if r["train_acc"] >= 0.99), None)
        gen = next((r["step"] for r in rows if r["test_acc"] >= 0.99), None)
        if peak:
            print(
                f"seed {seed}: train ≥ 99% at step {mem}, test ≥ 99% at step {gen}; "
                f"LLC peak {peak['llc']:.1f} at step {peak['step']}, final {valid[-1]['llc']:.1f}",
                flush=True,
            )
        ours = llc.network_llc(learner, train, config=llc.DEFAULTS, seed=seed)
        line = {"seed": seed, "ours": {"mean": ours["mean"], "sd": ours["sd"]}}
        if args.devinterp:
            start = time.perf_counter()
            try:
                line["devinterp"] = devinterp_estimate(learner, train, llc.DEFAULTS, seed)
            except Exception as exc:  # noqa: BLE001 - a benchmark of an optional package: say why, go on
                line["devinterp"] = f"failed: {type(exc).__name__}: {exc}"
            line["devinterp_seconds"] = round(time.perf_counter() - start, 1)
        compared.append(line)
        print(f"final network, defaults: {json.dumps(line)}", flush=True)
    if args.plot:
        from mechanisms.plots_llc import plot_curve

        plot_curve(
            {k: [(r["step"], r["llc"], r["test_acc"]) for r in v] for k, v in curves.items()}, args.plot
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "curves": curves,
                    "final": compared,
                    "config": {"final": asdict(llc.DEFAULTS), "progress": asdict(llc.PROGRESS)},
                },
                fh,
                indent=1,
            )


if __name__ == "__main__":
    main()
