"""The posterior predictive against the MAP program, and the learned prior against the uniform one.

    nice -n 10 taskset -c 1 python benchmarks/synth_posterior.py                  # both parts
    nice -n 10 taskset -c 1 python benchmarks/synth_posterior.py --parts prior --out /tmp/libs

Parts:

1. **posterior**: test accuracy of the MAP program and of the posterior vote (every consistent class
   within ``posterior_bits`` = 4 bits of the cheapest, each weighted by its class mass: the sum of
   2^-bits over every program of the class, ``synth/posterior.py``) at small n: the 13 modular
   operations (p = 97, n = 1..8) and Dyck-1 (n = 2..32), seed 0; with the classes found and
   whether the masses are exact sums (``class_mass``).
2. **prior**: sample efficiency, n@99 (the smallest n of a fixed ladder whose MAP program scores
   >= 99% on the test split), with the uniform prior and with a prior learned leave-one-task-out:
   production weights fitted (``synth/library.py``) on the programs the uniform prior found from
   ``--solve-n`` examples on the *other* tasks of the same DSL. The libraries are written to
   ``--out`` (one JSON file per held-out task), to read or pass back with ``dlps synth --library``.

Every search has a time limit (``--seconds``); a search stopped by it counts as not reaching 99%.
Times are wall-clock seconds on a shared machine: candidate counts are the deterministic measure.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from synth import EnumerativeSynthesizer, default_dsl
from synth.library import leave_one_out
from tasks import accuracy, parse_task
from tasks.modular import OPS

DYCK1 = "brackets:kind=dyck1"
INDUCTION = "induction"
MODULAR = [f"modular:op={op.replace(' ', '_')},p=97" for op in OPS]
LADDER = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32)
SEQ_LADDER = (2, 4, 8, 12, 16, 24, 32, 48, 64)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def fit(spec: str, n: int, seconds: float, **kwargs) -> tuple[EnumerativeSynthesizer, float]:
    """The learner fitted on n training examples of ``spec`` (seed 0), and its test accuracy."""
    task = parse_task(spec)
    train = task.train_split(n, 0)
    model = EnumerativeSynthesizer(dsl=default_dsl(train), time_limit=seconds, **kwargs)
    model.fit(train.X, train.y, mask=train.mask)
    if model.program_ is None:
        return model, float("nan")
    test = task.test_split()
    return model, accuracy(test.y, model.predict(test.X), test.mask)


def posterior_part(seconds: float) -> None:
    print(f"## posterior vote vs MAP program (test accuracy, seed 0); {load()}\n")
    print("| task | n | MAP | posterior | classes | class mass | MAP program | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    rows = [(spec, n) for spec in MODULAR for n in range(1, 9)] + [(DYCK1, n) for n in (2, 4, 8, 16, 32)]
    wins = ties = losses = 0
    for spec, n in rows:
        start = time.perf_counter()
        m_map, a_map = fit(spec, n, seconds)
        m_post, a_post = fit(spec, n, seconds, posterior=True)
        took = time.perf_counter() - start
        post = m_post.search_stats_
        if a_post > a_map + 1e-9:
            wins += 1
        elif a_post < a_map - 1e-9:
            losses += 1
        else:
            ties += 1
        print(
            f"| {spec} | {n} | {a_map:.3f} | {a_post:.3f} | {len(getattr(m_post, 'posterior_', []))} "
            f"| {post.get('class_mass', '-')} ({post['stop_reason']}) | `{m_map.program_}` | {took:.1f} |",
            flush=True,
        )
    print(f"\nposterior better than MAP in {wins} rows, equal in {ties}, worse in {losses}\n")


def n_at_99(
    spec: str, ladder: tuple[int, ...], seconds: float, library: str | None
) -> tuple[int | None, int]:
    """The smallest n of ``ladder`` whose MAP program scores >= 0.99 on test; candidates there."""
    for n in ladder:
        model, acc = fit(spec, n, seconds, library=library)
        if acc >= 0.99 and model.found_:
            return n, model.search_stats_["candidates"]
    return None, 0


def prior_part(seconds: float, solve_n: int, out: Path) -> None:
    print(f"## learned prior (leave-one-task-out) vs uniform: n@99; {load()}\n")
    out.mkdir(parents=True, exist_ok=True)
    groups = {"arith:p=97": (MODULAR, LADDER, solve_n), "seq": ([DYCK1, INDUCTION], SEQ_LADDER, 32)}
    print(
        "| task | program found (uniform, solve n) | n@99 uniform | candidates | n@99 learned | candidates |"
    )
    print("|---|---|---|---|---|---|")
    total = {"uniform": 0, "learned": 0, "missing": 0}
    for dsl_spec, (specs, ladder, n_solve) in groups.items():
        solved = {}
        for spec in specs:
            model, acc = fit(spec, n_solve, seconds)
            if model.found_ and acc >= 0.99:
                solved[spec] = str(model.program_)
        dsl = default_dsl(parse_task(specs[0]).train_split(4, 0)) if dsl_spec == "seq" else dsl_spec
        libraries = leave_one_out(dsl, solved)
        for spec in specs:
            lib = libraries.get(spec)
            if lib is None:  # a task not solved still gets the library of all the solved ones
                lib = leave_one_out(dsl, {**solved, spec: "tokens" if dsl_spec == "seq" else "x"})[spec]
            path = out / f"library-{spec.replace(':', '_').replace(',', '_').replace('/', 'div')}.json"
            lib.save(path)
            uniform = n_at_99(spec, ladder, seconds, None)
            learned = n_at_99(spec, ladder, seconds, str(path))
            for key, (n, _) in (("uniform", uniform), ("learned", learned)):
                total[key] += n if n is not None else 0
                total["missing"] += n is None
            show = lambda r: ("-", "-") if r[0] is None else (str(r[0]), f"{r[1]:,}")  # noqa: E731
            print(
                f"| {spec} | `{solved.get(spec, '(not solved)')}` | {' | '.join(show(uniform))} "
                f"| {' | '.join(show(learned))} |",
                flush=True,
            )
    print(
        f"\nsum of n@99: uniform {total['uniform']}, learned {total['learned']} "
        f"(searches that never reached 99%: {total['missing']}); libraries in {out}\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="posterior,prior", help="comma-separated: posterior, prior")
    ap.add_argument("--seconds", type=float, default=20.0, help="time limit of each search")
    ap.add_argument(
        "--solve-n", type=int, default=32, help="examples the programs of the library are found from"
    )
    ap.add_argument("--out", default="/tmp/dlps-libraries", help="folder for the learned library files")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    print(f"# synth_posterior: {time.strftime('%Y-%m-%d %H:%M')}; {load()}\n")
    if "posterior" in parts:
        posterior_part(args.seconds)
    if "prior" in parts:
        prior_part(args.seconds, args.solve_n, Path(args.out))


if __name__ == "__main__":
    main()
