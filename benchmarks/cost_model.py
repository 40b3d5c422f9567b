"""Measure the constants of the grid's cost model (:mod:`compare.grid.cost`) on this machine.

    python benchmarks/cost_model.py              # prints a COST_MODEL dict for compare/settings/costs.py
    taskset -c 1 python benchmarks/cost_model.py # one core, as one worker of a grid sees it

For every (data shape, network) of ``compare.settings.defaults.SHAPE_DEFAULTS``, on the quick preset's task of
that shape, it times training steps through the grid's own path (``fit_many``: stacks, AdamW, the
loop), as the difference between runs of ``2s`` and ``s`` steps (start-up and evaluations cancel),
at three points: one model with 2 rows, one model with many rows, 8 models with 2 rows. These three
fix the three constants of ``step = c_op·ops + c_param·M·params + c_flop·M·rows·3·flops``. A
prediction over the test split gives ``c_eval`` (CPU seconds per forward flop). It also times the
mechanism summary of one network cell (Fourier analysis over checkpoints; the sequence summary),
the synthesizer on the quick preset's cells (by data shape) and when it spends its whole budget
(start-up, per MB of value bank, per candidate), the classic learners (``a + b·n·width``
from two sizes, by data shape), the fixed cost of a job (task and splits built) and a worker's start-up.

All times are CPU seconds of this process (one torch thread), so that other load on the machine
counts less than in wall time. Paste the printed dict over ``COST_MODEL`` in compare/settings/costs.py.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

import numpy as np
from scipy.optimize import nnls

from baselines import fit_many, limit_threads
from compare.evaluate import evaluation_splits, fit_and_score
from compare.grid.cost import classic_terms, network_shape
from compare.methods import canonical_spec, make_learner
from compare.settings.defaults import SHAPE_DEFAULTS
from compare.settings.presets import QUICK_INDUCTION
from tasks import parse_task

REFERENCE_TASKS = {
    "fixed": "modular:op=x+y,p=59",
    "sequence": "brackets:kind=dyck1",
    "per_position": QUICK_INDUCTION,
}


def cpu(run) -> float:
    """CPU seconds of ``run()`` in this thread (best of 2)."""
    best = float("inf")
    for _ in range(2):
        start = time.thread_time()
        run()
        best = min(best, time.thread_time() - start)
    return best


def step_time(task, method: str, models: int, n: int, steps: int) -> float:
    """CPU seconds of one training step of a stack of ``models`` models with ``n`` rows each."""
    splits = [task.train_split(n, seed) for seed in range(models)]
    template = make_learner(method, task.test_split(), eval_points=1)

    def train(s: int):
        return lambda: fit_many(template.set_params(steps=s), splits, seeds=list(range(models)))

    return max(cpu(train(2 * steps)) - cpu(train(steps)), 1e-9) / steps


def network_constants(shape: str, method: str, steps: int) -> dict[str, float]:
    """The four constants of one (data shape, network), fitted (non-negative least squares, relative
    errors) to steps timed at 1 and 8 models with 2 and many rows."""
    task = parse_task(REFERENCE_TASKS[shape])
    spec = canonical_spec(method, task.test_split())
    net = network_shape(task.spec, spec)
    big = min(net.batch_size or 512, 512, task.max_train)
    points = [(models, rows) for models in (1, 8) for rows in (2, big)]
    times = np.array([step_time(task, method, models, rows, steps) for models, rows in points])
    design = np.array(
        [[net.ops, models * net.params, models * rows * 3 * net.flops] for models, rows in points]
    )
    (op, param, flop), _ = nnls(design / times[:, None], np.ones(len(points)))
    test = task.test_split()
    fitted = make_learner(method, test, steps=1, eval_points=1).fit(test.X[:2], test.y[:2])
    reps = max(1, int(2e8 // (net.flops * len(test))))
    evaluation = cpu(lambda: [fitted.predict(test.X) for _ in range(reps)]) / reps
    timed = ", ".join(f"{t * 1e3:.2f} ms ({m} x {r} rows)" for t, (m, r) in zip(times, points, strict=True))
    print(
        f"# {shape}/{method}: steps {timed}; {net.params} params, {net.flops:.0f} flops/row",
        file=sys.stderr,
        flush=True,
    )
    return {"op": op, "param": param, "flop": flop, "eval": evaluation / (len(test) * net.flops)}


def mechanism_seconds() -> dict[str, float]:
    """The mechanism summary of one network cell: the Fourier analysis per checkpoint it reads (at
    p=59), the sequence summary (final network only) per cell."""
    from baselines.checkpoints import checkpoint_settings
    from mechanisms.report import cell_summary

    out = {}
    analyses = (("fourier_checkpoint", "fixed", "transformer"), ("sequence", "per_position", "transformer"))
    for name, shape, method in analyses:
        task = parse_task(REFERENCE_TASKS[shape])
        train = task.train_split(min(512, task.max_train), 0)
        learner = make_learner(method, task.test_split(), steps=200, eval_points=5)
        learner.set_params(**checkpoint_settings(learner.steps))
        learner.fit(train.X, train.y, mask=train.mask)
        seconds = cpu(lambda: cell_summary(learner, task, train))  # noqa: B023 - called at once
        out[name] = seconds / len(learner.checkpoints_) if name == "fourier_checkpoint" else seconds
    return out


def synth_seconds() -> dict[str, float]:
    from compare.settings.presets import PRESETS

    out = {}
    for part in PRESETS["quick"]:
        task = parse_task(part.tasks[0])
        spec = next((m for m in part.methods if m.startswith("synth")), None)
        if spec is None:  # a part of networks only
            continue
        shape = next(s for s, t in REFERENCE_TASKS.items() if parse_task(t).spec == task.spec)
        times = []
        for n in part.sizes:
            train = task.train_split(n, 0)
            learner = make_learner(spec, task.test_split(), random_state=0)
            times.append(cpu(lambda: learner.fit(train.X, train.y, mask=train.mask)))  # noqa: B023
        out[shape] = float(np.mean(times))
    return out


def synth_budget_constants() -> dict[str, dict[str, float]]:
    """What the synthesizer costs when it spends its whole budget, per data shape: its start-up
    (``start``), and CPU seconds per MB of value bank filled (``bank_mb``) and per candidate tried
    (``candidate``). Measured on the reference task with its labels shuffled (no short program fits
    them, so every budget runs out): bank caps of 32 and 128 MB fix the line ``start + bank_mb · MB``,
    and a cap of 300,000 candidates the cost of one."""
    out = {}
    for shape, spec in REFERENCE_TASKS.items():
        task = parse_task(spec)
        train = task.train_split(256, 0)
        y = train.y.copy()
        given = train.mask if train.mask is not None else np.ones(y.shape, dtype=bool)
        y[given] = np.random.default_rng(0).permutation(y[given])

        def spend(task=task, train=train, y=y, shape=shape, **budget) -> float:
            learner = make_learner("synth", task.test_split(), random_state=0, **budget)
            seconds = cpu(lambda: learner.fit(train.X, y, mask=train.mask))
            stop = learner.search_stats_["stop_reason"]
            if stop not in ("memory", "max_candidates"):
                raise RuntimeError(f"{shape}: the search stopped by {stop}, not its budget")
            return seconds

        small, large = spend(max_bank_mb=32), spend(max_bank_mb=128)
        per_mb = max(large - small, 0.0) / 96
        start = max(small - 32 * per_mb, 0.0)
        candidates = 300_000
        per_candidate = max(spend(max_candidates=candidates, max_bank_mb=None) - start, 0.0) / candidates
        out[shape] = {"start": start, "bank_mb": per_mb, "candidate": per_candidate}
    return out


def classic_constants() -> dict[str, dict[str, float]]:
    """Per (data shape, classic learner), on that shape's reference task: ``a`` and ``b`` of
    ``a · estimators + b · n · features`` (:func:`compare.cost.classic_terms`) from a fit and its
    scoring (training, test and OOD splits, as a grid cell does) at two sizes, and the task's
    classes (what the cost of a learner that fits a model per class is scaled by on other tasks)."""
    out = {}
    for shape, spec in REFERENCE_TASKS.items():
        task = parse_task(spec)
        test = task.test_split()
        estimators, features = classic_terms(test)
        evals = evaluation_splits(task)
        sizes = (256, min(4096, task.max_train))
        for method in ("lookup", "knn", "logistic", "gbt"):
            times = {}
            for n in sizes:
                train = task.train_split(n, 0)

                def fit_score(method=method, train=train, test=test, evals=evals):  # as a grid cell does
                    fit_and_score(make_learner(method, test, random_state=0), train, evals)

                times[n] = cpu(fit_score)
            small, large = sizes
            b = max((times[large] - times[small]) / ((large - small) * features), 0.0)
            a = max(times[small] - b * small * features, 0.0) / estimators
            out[f"{shape}/{method}"] = {"a": a, "b": b, "classes": test.n_classes}
    return out


def job_seconds() -> float:
    from compare.evaluate import evaluation_splits

    times = []
    for spec in REFERENCE_TASKS.values():
        times.append(cpu(lambda: evaluation_splits(parse_task(spec))))  # noqa: B023
    return float(np.mean(times))


def worker_start() -> float:
    """CPU seconds a worker process spends importing what it runs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-c", "import compare.grid.worker, baselines, synth, mechanisms.report"], check=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def literal(value, indent: str = "    ") -> list[str]:
    """``value`` (nested dicts) as lines of a Python dict literal, one entry of numbers a line."""
    lines = []
    for key, item in value.items():
        if isinstance(item, dict) and any(isinstance(v, dict) for v in item.values()):
            lines += [f'{indent}"{key}": {{', *literal(item, indent + "    "), f"{indent}}},"]
        elif isinstance(item, dict):
            line = f'{indent}"{key}": {{{", ".join(f"{k!r}: {v!r}" for k, v in item.items())}}},'
            if len(line) <= 110:
                lines.append(line)
            else:  # one entry a line
                entries = [f"{indent}    {k!r}: {v!r}," for k, v in item.items()]
                lines += [f'{indent}"{key}": {{', *entries, f"{indent}}},"]
        else:
            lines.append(f'{indent}"{key}": {item!r},')
    return [line.replace("'", '"') for line in lines]


def rounded(value):
    """Floats to 4 significant digits, recursively (the measurements are not more precise)."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30, help="training steps per timing (and twice that)")
    args = ap.parse_args()
    limit_threads(1)
    network = {
        f"{shape}/{method}": network_constants(shape, method, args.steps)
        for shape, methods in SHAPE_DEFAULTS.items()
        for method in methods
    }
    model = {
        "network": network,
        "mechanism": mechanism_seconds(),
        "synth": synth_seconds(),
        "synth_budget": synth_budget_constants(),
        "classic": classic_constants(),
        "job": job_seconds(),
        "worker_start": worker_start(),
    }
    print("COST_MODEL: dict[str, Any] = {", *literal(rounded(model)), "}  # fmt: skip", sep="\n")


if __name__ == "__main__":
    main()
