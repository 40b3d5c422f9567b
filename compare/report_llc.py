"""``dlps llc-calibrate``: train (or load) one network and run the LLC estimator over an ε × nβ grid,
writing the table and its picture (:func:`mechanisms.plots_llc.plot_calibration`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any


def calibrate_run(
    spec: str | None,
    method: str,
    n: int | None,
    seed: int,
    steps: int | None,
    from_dir: str | None,
    epsilons: tuple[float, ...],
    nbetas: tuple[float | None, ...],
    chains: int,
    draws: int,
    out: str | None,
) -> dict[str, Any]:
    """The grid's rows (``mechanisms.llc.calibrate``; nβ None: n / log n) with the task, method, n and
    seed, and the plot written into ``out``. ValueError (one line) for a bad task, method or folder."""
    from compare.evaluate import saved_network
    from compare.files import writable_folder
    from compare.methods import canonical_spec, make_learner
    from mechanisms import llc
    from tasks import parse_task

    if from_dir is not None:
        learner, spec, n, seed, method_spec = saved_network(from_dir, spec)
    task = parse_task(spec)
    n = min(task.max_train, 4000) if n is None else n
    if out is not None:
        writable_folder(out, "the calibration plot")
    train = task.train_split(n, seed)
    if from_dir is None:
        overrides = {"random_state": seed} | ({} if steps is None else {"steps": steps})
        learner = make_learner(method, train, **overrides)
        if not learner.has_model:
            raise ValueError(f"llc-calibrate needs a network (transformer, mlp, lstm), not {method!r}")
        method_spec = canonical_spec(method, train, **overrides)
        learner.fit(train.X, train.y, mask=train.mask)
    default = llc.default_nbeta(len(train))
    config = replace(llc.DEFAULTS, chains=chains, draws=draws)
    rows = llc.calibrate(
        learner, train, epsilons, tuple(default if b is None else b for b in nbetas), config, seed=seed
    )
    result = {
        "task": task.spec,
        "method": method_spec,
        "n": n,
        "seed": seed,
        "default_nbeta": default,
        "grid": rows,
    }
    if out is not None:
        from mechanisms.plots_llc import plot_calibration

        result["plot"] = str(plot_calibration(rows, Path(out) / "llc_calibration.png"))
    return result


def describe(result: dict[str, Any]) -> list[str]:
    """The grid as a text table."""
    lines = [
        f"# {result['task']} | {result['method']} | n={result['n']} seed={result['seed']} "
        f"(n/log n = {result['default_nbeta']:.1f})",
        f"{'epsilon':>9} {'nbeta':>9} {'llc':>10} {'sd':>8} {'below initial':>14}",
    ]
    for r in result["grid"]:
        value = "diverged" if r["mean"] is None else f"{r['mean']:.3f}"
        sd = "" if r["sd"] is None else f"{r['sd']:.3f}"
        below = "" if r["below_initial"] is None else f"{r['below_initial']:.3f}"
        lines.append(f"{r['epsilon']:>9.2g} {r['nbeta']:>9.3g} {value:>10} {sd:>8} {below:>14}")
    if "plot" in result:
        lines.append(f"plot {result['plot']}")
    return lines
