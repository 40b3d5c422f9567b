"""Program ↔ network alignment on trained networks: the figures of issue 15's "Done when".

For each case a network is trained on one core (seeded), then aligned (:mod:`mechanisms.align`) with
the synthesizer's MAP program on the same training set and with the task's reference program where
they differ. Printed per program: each subexpression's best site, probe / control accuracy,
selectivity, IIA in the probe's row space, the random-subspace and untrained-network IIAs and the
number of pairs; per selector its best head and attention share; the alignment's wall time (the
issue asks for at most 2 minutes on one core).

    python benchmarks/alignment.py                  # every case (tens of minutes on a loaded CPU)
    python benchmarks/alignment.py --only dyck1     # one case (names: see CASES)
    python benchmarks/alignment.py --das            # also the DAS IIA at each best site
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from compare.evaluate import evaluation_splits, fit_and_score
from compare.methods import make_learner
from mechanisms.alignment import alignment_report
from mechanisms.alignment_text import describe
from tasks import parse_task

INDUCTION = "induction:d_vocab=16,seq_len=16,min_seg=3,max_seg=6,ood_len=32"
#: (name, task spec or examples-file maker, method spec, n, program or None for MAP + reference).
CASES = [
    ("induction", INDUCTION, "transformer:n_layers=2,attn_only=true,steps=600", 2048),
    ("dyck1-lstm", "brackets:kind=dyck1", "lstm:steps=300", 512),
    ("dyck1-transformer", "brackets:kind=dyck1", "transformer:steps=800", 512),
    ("modular-x+y", "modular:op=x+y,p=59", "transformer", 1740),
    ("modular-x^2+y^2", "modular:op=x^2+y^2,p=59", "transformer", 1740),
    ("first-equals-last", "first_last", "transformer:steps=800", 1000),
    ("more-a-than-b", "more_a", "transformer:steps=800", 1000),
]


def _examples(kind: str, folder: Path, seed: int = 0) -> str:
    """An examples-file task of ours: token words over {0, 1, 2} (first == last) or {0, 1} (more 0s
    than 1s), lengths 2..12, written as train and test files."""
    rng = np.random.default_rng(seed)
    paths = []
    for part, n in (("train", 2000), ("test", 600)):
        path = folder / f"{kind}_{part}.jsonl"
        with path.open("w") as f:
            for _ in range(n):
                length = int(rng.integers(2, 13))
                if kind == "first_last":
                    row = rng.integers(0, 3, size=length).tolist()
                    if rng.random() < 0.5:  # half positive, else the labels would be 1/3 positive
                        row[-1] = row[0]
                    label = int(row[0] == row[-1])
                else:
                    row = rng.integers(0, 2, size=length).tolist()
                    label = int(row.count(0) > row.count(1))
                f.write(json.dumps({"x": row, "y": label}) + "\n")
        paths.append(path)
    return f"examples:train={paths[0]},test={paths[1]},pad=true"


def run_case(name: str, spec: str, method: str, n: int, folder: Path, das: bool) -> dict:
    if spec in ("first_last", "more_a"):
        spec = _examples(spec, folder)
    task = parse_task(spec)
    train = task.train_split(min(n, task.max_train), 0)
    learner = make_learner(method, train, random_state=0)
    start = time.perf_counter()
    evaluation = fit_and_score(learner, train, evaluation_splits(task), log=("test",))
    train_seconds = time.perf_counter() - start
    report = alignment_report(learner, task, train, seed=0, das=das)
    result = {
        "task": task.spec,
        "method": method,
        "n": len(train),
        "seed": 0,
        "accuracy": evaluation.accuracy,
        **report,
    }
    print(f"=== {name}: trained in {train_seconds:.0f} s, test accuracy {evaluation.accuracy['test']:.4f}")
    print("\n".join(describe(result)))
    if report["selectors"]:  # the same heads by the field's pattern scores, as a cross-check
        from mechanisms.heads import head_table
        from mechanisms.sequences import model_inputs

        tokens = model_inputs(learner, task.test_split().subset(slice(0, 300)))[0]
        heads = head_table(learner.model_, tokens, getattr(learner, "pad_id", None))
        layer, head = heads["induction_head"]
        best = next(h for h in heads["heads"] if [h["layer"], h["head"]] == [layer, head])
        print(
            f"  cross-check (mechanisms.heads): induction head L{layer}H{head}, induction score "
            f"{best['induction']:.2f} on repeated random tokens, {best['test']['induction']:.2f} on test data"
        )
    print(
        f"alignment wall time {report['seconds']:.1f} s (one core; includes the synthesizer's search "
        f"{report['search'].get('seconds', 0.0):.1f} s)\n",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="Run only these cases (repeat).")
    parser.add_argument("--das", action="store_true", help="Also learn a DAS subspace at each best site.")
    parser.add_argument("--json", help="Write every result to this JSON file.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = [c[0] for c in CASES]
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; accepted: {', '.join(names)}")
    results = {}
    # A fixed folder: an examples task's training draw depends on its spec, which holds the path.
    folder = Path(tempfile.gettempdir()) / "dlps-alignment-benchmark"
    folder.mkdir(exist_ok=True)
    for name, spec, method, n in CASES:
        if args.only and name not in args.only:
            continue
        results[name] = run_case(name, spec, method, n, folder, args.das)
    if args.json:
        Path(args.json).write_text(json.dumps(results, default=float, indent=1))


if __name__ == "__main__":
    main()
