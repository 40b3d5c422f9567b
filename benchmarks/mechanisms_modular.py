"""The Fourier circuit of grokked modular addition: key frequencies, progress measures, named steps, per seed.

Fast setting (the default): modular:op=x+y,p=59,test_fraction=0.6 (40% train, the whole training pool),
the registry's modular defaults for the transformer (d_model 64, 4 heads, d_mlp 256, no bias, lr 3e-3,
wd 1.0, 1500 steps) and the MLP (d_embed 32, d_mlp 256, lr 3e-3, wd 1.0, 1500 steps), 5 seeds each, with
checkpoints at ~40 log-spaced steps. Each seed's models are trained together (baselines.batched.fit_many).

    nice python benchmarks/mechanisms_modular.py                     # fast setting: prints the table
    python benchmarks/mechanisms_modular.py --from out/nanda/nanda_raw.pt --plots out/nanda/plots

``--from FILE`` analyses a saved run: a torch file ``{"state_dict", "checkpoints", "history", "params",
"task", "n", "seed"}`` (loaded with weights_only=True), and times the analysis of all its checkpoints on
one core. Columns:

  key freqs      the final network's key frequencies (distinct best frequencies of its live neurons)
  restr acc      restricted accuracy at the end (key-frequency logits only, all p² pairs)
  emb share      embedding key share at the end / at the first checkpoint with train accuracy 100%
  mem/emerge/gen first checkpoint with train accuracy 100% / emergence step / generalization step
  held           emergence step by the held-out restricted accuracy (test pairs, key part fitted on them
                 alone): restricted accuracy over all p² pairs also rises in a pure memorizer, whose
                 training labels vote along each line a + b = s (mechanisms.fourier.heldout_restricted_logits)
  gap            generalization step − emergence step (positive: the circuit is there before the test
                 accuracy jumps)
  dead           dead neurons of all neurons
  1-freq         share of live neurons with ≥ 90% of their variance in one frequency, against the same
                 share for random directions (mean ± sd over 100 random rotations)
"""

from __future__ import annotations

import os

# One core: numpy's BLAS must not spread over the shared cores either (set before numpy is imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from baselines.batched import fit_many, limit_threads  # noqa: E402
from baselines.learners import MLPLearner, TransformerLearner  # noqa: E402
from baselines.training import eval_schedule  # noqa: E402
from mechanisms import modular  # noqa: E402
from tasks import parse_task  # noqa: E402

FAST_TASK = "modular:op=x+y,p=59,test_fraction=0.6"
#: The registry's modular defaults (baselines.registry.FAMILY_DEFAULTS), written out: the registry is
#: being reworked and this benchmark's numbers must stay tied to these settings.
FAST = {
    "transformer": (
        TransformerLearner,
        dict(d_model=64, n_heads=4, d_mlp=256, use_bias=False, lr=3e-3, weight_decay=1.0, steps=1500),
    ),
    "mlp": (MLPLearner, dict(d_embed=32, d_mlp=256, lr=3e-3, weight_decay=1.0, steps=1500)),
}
CHECKPOINTS = 40


def summarize(learner, task, train, method: str, seed: int) -> dict:
    """Analysis, progress and named steps of one fitted learner, with the seconds (CPU, one core) taken."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = modular.analyse(learner, task, train, seed=seed)
    analyse_cpu = time.process_time() - cpu
    progress = modular.progress(learner, task, train, result["fourier"]["key_frequencies"])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    mem = modular.memorization_step(progress)
    by_step = {e["step"]: e for e in progress}
    emerge, gen = modular.emergence_step(progress), modular.generalization_step(progress)
    return {
        "method": method,
        "seed": seed,
        **result,
        "test_accuracy": progress[-1]["test_accuracy"],
        "memorization_step": mem,
        "emergence_step": emerge,
        "heldout_emergence_step": modular.emergence_step(progress, key="heldout_restricted_accuracy"),
        "generalization_step": gen,
        "gap": None if emerge is None or gen is None else gen - emerge,
        "embedding_key_share_at_memorization": None if mem is None else by_step[mem]["embedding_key_share"],
        "checkpoints": len(progress),
        "analyse_cpu_seconds": analyse_cpu,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "progress": progress,
    }


def _fmt(v, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[dict]) -> str:
    head = (
        f"{'method':<12}{'seed':>4}  {'key freqs':<26}{'restr acc':>9}  {'emb share end/mem':>17}  "
        f"{'mem':>5}{'emerge':>7}{'held':>6}{'gen':>6}{'gap':>6}  {'test':>6}  {'dead':>8}  "
        f"{'1-freq: neurons vs random':>26}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        f, s = r["fourier"], r["structure"]
        rnd = s["single_frequency_random"]
        freqs = ",".join(map(str, f["key_frequencies"]))
        freqs = freqs if len(freqs) <= 24 else f"{len(f['key_frequencies'])} freqs"
        share = f"{f['embedding_key_share']:.3f}/{_fmt(r['embedding_key_share_at_memorization'], '.3f')}"
        lines.append(
            f"{r['method']:<12}{r['seed']:>4}  {freqs:<26}{f['restricted_accuracy']:>9.3f}  {share:>17}  "
            f"{_fmt(r['memorization_step']):>5}{_fmt(r['emergence_step']):>7}"
            f"{_fmt(r['heldout_emergence_step']):>6}{_fmt(r['generalization_step']):>6}"
            f"{_fmt(r['gap']):>6}  {r['test_accuracy']:>6.3f}  {s['dead_neurons']:>4}/{s['n_neurons']:<3}  "
            f"{s['single_frequency_neurons']:>8.3f} vs {rnd['mean']:.3f} ± {rnd['sd']:.3f}"
        )
    return "\n".join(lines)


def run_fast(args) -> list[dict]:
    task = parse_task(FAST_TASK)
    test = task.test_split()
    seeds = list(range(args.seeds))
    trains = [task.train_split(task.max_train, s) for s in seeds]
    rows = []
    for method in args.methods:
        cls, params = FAST[method]
        params = {**params, "steps": args.steps or params["steps"]}
        learner = cls(
            d_vocab=task.p, n_classes=task.p, device="cpu", **params,
            checkpoint_steps=tuple(eval_schedule(params["steps"], CHECKPOINTS)),
        )  # fmt: skip
        start = time.perf_counter()
        fitted = fit_many(learner, trains, seeds=seeds, eval_sets={"test": test})
        print(f"# trained {len(seeds)} {method} models in {time.perf_counter() - start:.0f}s", flush=True)
        for seed, fit, train in zip(seeds, fitted, trains, strict=True):
            rows.append(summarize(fit, task, train, method, seed))
            if args.plots and seed == seeds[0]:
                _plots(fit, task, train, rows[-1], Path(args.plots) / method)
    return rows


def load_run(path: str):
    """A fitted learner rebuilt from a saved run, with its task, training split, method and seed. A file that
    is not such a run exits 2 with one line."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file gets the same one-line refusal
        first = (str(err).splitlines() or [""])[0]
        _refuse(f"{path}: not a dlps run file ({type(err).__name__}: {first})")
    keys = {"state_dict", "checkpoints", "history", "params", "task", "n", "seed"}
    if not isinstance(saved, dict) or not keys <= set(saved):
        _refuse(f"{path}: not a dlps run file (needs the keys {', '.join(sorted(keys))})")
    params = dict(saved["params"])
    cls = TransformerLearner if "n_heads" in params else MLPLearner
    task = parse_task(saved["task"])
    train = task.train_split(int(saved["n"]), int(saved["seed"]))
    learner = cls(**params).set_params(steps=0, device="cpu", checkpoint_steps=())
    learner.fit(train.X, train.y)  # builds the fitted attributes; the weights come from the file
    learner.model_.load_state_dict(saved["state_dict"])
    learner.checkpoints_ = dict(saved["checkpoints"])
    learner.history_ = saved["history"]
    return learner, task, train, "transformer" if cls is TransformerLearner else "mlp", int(saved["seed"])


def _refuse(line: str) -> None:
    print(f"error: {line}", file=sys.stderr)
    sys.exit(2)


def run_from(args) -> list[dict]:
    learner, task, train, name, seed = load_run(args.from_file)
    modular.covered(task, learner)
    steps = sorted(learner.checkpoints_)
    print(f"# {args.from_file}: {task.spec}, n={len(train)}, {name}, {len(steps)} checkpoints", flush=True)
    row = summarize(learner, task, train, name, seed)
    if len(steps) > CHECKPOINTS:
        # The speed figure is for ~40 log-spaced checkpoints; this run saved denser ones, all analysed above.
        wanted = eval_schedule(steps[-1], CHECKPOINTS)
        keep = sorted({min(steps, key=lambda s, w=w: abs(s - w)) for w in wanted})
        thinned = copy.copy(learner)
        thinned.checkpoints_ = {s: learner.checkpoints_[s] for s in keep}
        timed = summarize(thinned, task, train, name, seed)
        print(
            f"# speed: {len(keep)} log-spaced checkpoints + final network: "
            f"{timed['cpu_seconds']:.1f}s CPU on one core ({timed['wall_seconds']:.1f}s wall)"
        )
    if args.plots:
        _plots(learner, task, train, row, Path(args.plots))
    return [row]


def _plots(learner, task, train, row, directory: Path) -> None:
    from mechanisms.plots_modular import write_plots

    for path in write_plots(learner, task, train, directory, progress=row["progress"]):
        print(f"# wrote {path}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="from_file", help="analyse a saved run file instead of training")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--methods", default="transformer,mlp", help="comma-separated: transformer, mlp")
    ap.add_argument("--steps", type=int, help="training steps (default: the setting's 1500; for smoke runs)")
    ap.add_argument("--plots", help="write PNGs (the first seed of each method) into this directory")
    ap.add_argument("--json", help="write every row, progress included, to this file")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args()
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in FAST]
    if unknown or args.seeds < 1:
        ap.error(f"--methods takes {', '.join(FAST)} (got {unknown}); --seeds must be ≥ 1")
    limit_threads(args.threads)
    try:
        rows = run_from(args) if args.from_file else run_fast(args)
    except ValueError as err:  # not covered (covered() names what is)
        _refuse(str(err))
    print(table(rows))
    for r in rows:
        print(
            f"# {r['method']} seed {r['seed']}: analysis of {r['checkpoints']} checkpoints + final network "
            f"{r['cpu_seconds']:.1f}s CPU on one core ({r['analyse_cpu_seconds']:.1f}s of it the final "
            f"analysis; {r['wall_seconds']:.1f}s wall), test accuracy {r['test_accuracy']:.3f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
        print(f"# wrote {args.json}")


if __name__ == "__main__":
    main()
