"""Alignment of a fitted network with programs for its task: which programs, on which rows.

:func:`alignment_report` aligns a fitted network learner (:mod:`mechanisms.align`) with the MAP
program the synthesizer finds on the same training set, and with the task's reference program where
that differs (or with one given program). :func:`align_run` is what ``dlps align`` runs (train or
load, score, align, plot); :func:`grid_alignment` is the small form a grid cell stores.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mechanisms.align import ALIGNED_IIA, AlignData, align, aligned_count
from synth.dsl import DSL, complete_dsl, default_dsl, parse_dsl
from synth.dsl_seq import REFERENCES
from synth.program import Program
from tasks import Split, Task

#: Reference programs of the modular operations the arith DSL writes plainly (the others are left to
#: the synthesizer).
MODULAR_REFERENCES = {
    "x+y": "add(x, y)",
    "x-y": "sub(x, y)",
    "x*y": "mul(x, y)",
    "x/y": "div(x, y)",
    "x^2+y": "add(sq(x), y)",
    "x^3+y": "add(cube(x), y)",
    "x^2+y^2": "add(sq(x), sq(y))",
    "x^2+xy+y^2": "add(add(sq(x), mul(x, y)), sq(y))",
    "x^3+xy": "add(cube(x), mul(x, y))",
}
#: The synthesizer's budget when it looks for the MAP program to align (seconds).
SYNTH_SECONDS = 30.0
#: The same in a grid cell (``dlps run --align``), where every network cell searches once.
GRID_SYNTH_SECONDS = 10.0
ROWS = 300
PAIRS = 256


def align_data(learner: Any, split: Split) -> AlignData:
    """``split`` as alignment reads it through ``learner``'s input encoding."""
    from mechanisms.sequences import model_inputs

    tokens, readout, _ = model_inputs(learner, split)
    if split.per_position:
        scored = np.asarray(split.mask, bool)
    else:
        scored = np.ones((len(split), 1), bool)
    return AlignData(
        X=np.asarray(split.X), tokens=tokens, readout=readout, scored=scored, pad_id=split.pad_id
    )


def task_dsl(split: Split) -> DSL:
    """The DSL the synthesizer would choose for ``split`` (parameters from the data)."""
    return parse_dsl(complete_dsl(default_dsl(split), split))


def reference_program(task: Task) -> str | None:
    """The task's reference program in its DSL's syntax, where one is known."""
    spec = task.spec
    family = spec.partition(":")[0]
    if family == "brackets":
        return REFERENCES.get(getattr(task, "kind", ""))
    if family == "induction":
        return REFERENCES["induction"]
    if family == "modular":
        return MODULAR_REFERENCES.get(getattr(task, "op", ""))
    return None


def map_program(
    train: Split, dsl: DSL, seed: int, seconds: float = SYNTH_SECONDS
) -> tuple[Program | None, dict]:
    """The synthesizer's MAP program on ``train`` (None when the search finds nothing), and its search
    statistics."""
    from synth.learner import EnumerativeSynthesizer

    synth = EnumerativeSynthesizer(dsl=dsl, time_limit=seconds, random_state=seed)
    synth.fit(train.X, train.y, mask=train.mask if train.per_position else None)
    stats = dict(synth.search_stats_) | {"found": bool(synth.found_)}
    return synth.program_, stats


def programs_to_align(
    task: Task, train: Split, program_text: str | None, seed: int, synth_seconds: float = SYNTH_SECONDS
) -> tuple[DSL, list[tuple[str, Program]], dict]:
    """The DSL and the (source, program) pairs to align: the given program alone, or the MAP program
    and the reference where it differs. ValueError for a program that does not parse."""
    dsl = task_dsl(train)
    if program_text is not None:
        try:
            return dsl, [("given", dsl.parse(program_text))], {}
        except ValueError as exc:
            raise ValueError(f"--program {program_text!r} is not a program of {dsl.spec}: {exc}") from None
    found, stats = map_program(train, dsl, seed, synth_seconds)
    out = [] if found is None else [("synthesizer", found)]
    ref_text = reference_program(task)
    if ref_text is not None:
        ref = dsl.parse(ref_text)
        if found is None or str(ref) != str(found):
            out.append(("reference", ref))
    if not out:
        raise ValueError(
            f"the synthesizer found no program for {task.spec} within {synth_seconds:g} s and the "
            "task has no reference program; give one with --program"
        )
    return dsl, out, stats


def check_alignable(learner: Any) -> None:
    """ValueError (one line) for a learner alignment cannot read: no network, or none with hooks."""
    from mechanisms.align import alignment_sites

    name = getattr(learner, "method_name", type(learner).__name__)
    if not getattr(learner, "has_model", False):
        raise ValueError(f"alignment needs a network with hooks (transformer, mlp, lstm), not {name!r}")
    model = getattr(learner, "model_", None)
    if model is not None:
        alignment_sites(model)


def alignment_report(
    learner: Any,
    task: Task,
    train: Split,
    *,
    program_text: str | None = None,
    rows: int = ROWS,
    n_pairs: int = PAIRS,
    seed: int = 0,
    das: bool = False,
    baselines: bool = True,
    synth_seconds: float = SYNTH_SECONDS,
) -> dict[str, Any]:
    """The alignment of fitted ``learner`` with each program for ``task`` (:func:`programs_to_align`):
    probes fitted on up to ``rows`` of ``train``, scored on up to ``rows`` test rows, ``n_pairs``
    interchange pairs. The first alignment's fields are at the top (``program``, ``bits``,
    ``subexpressions``, ``selectors``, ``source``); ``alignments`` holds every one."""
    check_alignable(learner)
    start = time.perf_counter()
    dsl, programs, stats = programs_to_align(task, train, program_text, seed, synth_seconds)
    test = task.test_split()
    tr, te = (align_data(learner, s if len(s) <= rows else s.subset(slice(0, rows))) for s in (train, test))
    alignments = []
    for source, program in programs:
        result = align(
            learner.model_, program, dsl, tr, te, n_pairs=n_pairs, seed=seed, das=das, baselines=baselines
        )
        alignments.append({"source": source, **result})
    out = {
        **alignments[0],
        "dsl": dsl.spec,
        "alignments": alignments,
        "search": stats,
        "rows": {"train": len(tr), "test": len(te)},
        "seconds": round(time.perf_counter() - start, 2),
    }
    return out


def grid_alignment(report: dict[str, Any]) -> dict[str, Any]:
    """What a grid cell keeps: per program its source, text, bits, and per subexpression the
    expression, site, selectivity and IIAs; ``aligned``/``of`` count the first program's."""
    k, m = aligned_count(report)
    keep = ("expression", "site", "selectivity", "iia", "iia_random", "iia_untrained", "pairs")
    return {
        "aligned": k,
        "of": m,
        "threshold": ALIGNED_IIA,
        "programs": [
            {
                "source": a["source"],
                "program": a["program"],
                "bits": a["bits"],
                "subexpressions": [{key: s[key] for key in keep} for s in a["subexpressions"]],
                "selectors": [
                    {key: s[key] for key in ("expression", "head", "attention_on_selected")}
                    for s in a["selectors"]
                ],
            }
            for a in report["alignments"]
        ],
    }


def align_run(
    spec: str | None,
    method: str,
    n: int | None,
    seed: int,
    steps: int | None,
    from_dir: str | None,
    program_text: str | None,
    plots: str | None,
    das: bool = False,
    rows: int = ROWS,
) -> dict[str, Any]:
    """What ``dlps align`` runs: train ``method`` on ``n`` examples of ``spec`` (or load the network
    saved in ``from_dir``), score it, and align it (:func:`alignment_report` on ``rows`` rows of each
    split); write the IIA heatmaps into ``plots``. ValueError (one line) for anything that cannot be
    aligned."""
    from compare.evaluate import evaluation_splits, fit_and_score, saved_network
    from compare.files import writable_folder
    from compare.methods import canonical_spec, make_learner
    from tasks import parse_task

    method_spec = method
    if from_dir is not None:
        learner, spec, n, seed, method_spec = saved_network(from_dir, spec)
    task = parse_task(spec)
    n = min(task.max_train, 1000) if n is None else n
    if plots is not None:
        writable_folder(plots, "plots")
    train, evals = task.train_split(n, seed), evaluation_splits(task)
    if from_dir is None:
        overrides = {"random_state": seed} | ({} if steps is None else {"steps": steps})
        learner = make_learner(method, train, **overrides)
        check_alignable(learner)  # before any training
        if program_text is not None:
            programs_to_align(task, train, program_text, seed)  # a bad program stops before training
        method_spec = canonical_spec(method, train, **overrides)
        evaluation = fit_and_score(learner, train, evals, log=("test",))
    else:
        evaluation = fit_and_score(learner, train, evals, fitted=True, seconds=learner.fit_seconds_)
    report = alignment_report(learner, task, train, program_text=program_text, seed=seed, das=das, rows=rows)
    out = {
        "task": task.spec,
        "method": method_spec,
        "n": n,
        "seed": seed,
        "accuracy": evaluation.accuracy,
        **report,
    }
    if plots is not None:
        from mechanisms.plots_align import write_plots

        out["plots"] = [str(p) for p in write_plots(out, plots)]
    return out


def describe(result: dict[str, Any]) -> list[str]:
    """The text form: a header, then per program a table of its subexpressions and its selectors."""

    def num(v: Any, fmt: str = ".2f") -> str:
        return "-" if v is None else format(v, fmt)

    lines = []
    if "task" in result:
        acc = result.get("accuracy", {})
        lines.append(
            f"task {result['task']}  method {result['method']}  n {result['n']}  seed {result['seed']}"
            f"  test accuracy {num(acc.get('test'), '.4f')}"
        )
    lines.append(
        f"rows: {result['rows']['train']} train (probes fit), {result['rows']['test']} test (probes "
        f"scored, interchange pairs); aligned = IIA >= {ALIGNED_IIA} at the best site"
    )
    for a in result["alignments"]:
        k, m = aligned_count(a)
        lines.append("")
        lines.append(
            f"{a['source']} program  {a['program']}  ({a['bits']:.1f} bits): {k} of {m} "
            "subexpressions aligned"
        )
        head = (
            "subexpression",
            "bits",
            "type",
            "site",
            "probe",
            "control",
            "select",
            "IIA",
            "random",
            "untrained",
            "pairs",
            "max IIA @site",
        )
        rows = [head]
        for s in a["subexpressions"]:
            rows.append(
                (
                    s["expression"],
                    f"{s['bits']:.1f}",
                    s["type"] + ("/pos" if s["per_position"] else ""),
                    s["site"],
                    num(s["probe_accuracy"]),
                    num(s["control_accuracy"]),
                    num(s["selectivity"]),
                    num(s["iia"]),
                    num(s["iia_random"]),
                    num(s["iia_untrained"]),
                    str(s["pairs"]),
                    _most_causal_text(s.get("iia_site")),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        widths[0] = min(widths[0], 48)
        for r in rows:
            first = r[0] if len(r[0]) <= 48 else r[0][:45] + "..."
            lines.append(
                "  "
                + "  ".join(
                    [first.ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
                )
            )
        if any(s.get("iia_das") is not None for s in a["subexpressions"]):
            das = ", ".join(
                f"{s['expression']} {num(s['iia_das'])} (untrained {num(s.get('iia_das_untrained'))})"
                for s in a["subexpressions"]
            )
            lines.append(f"  DAS IIA at the best site: {das}")
        for s in a["selectors"]:
            head_text = "no head" if s["head"] is None else f"head L{s['head'][0]}H{s['head'][1]}"
            lines.append(
                f"  selector {s['expression']}: best {head_text}, attention on selected keys "
                f"{num(s['attention_on_selected'])}"
            )
        if a.get("skipped"):
            lines.append(f"  not aligned (an MLP has no positions): {', '.join(a['skipped'])}")
    lines.append(f"wall time {result['seconds']:.1f} s")
    return lines


def _short_site(site: str) -> str:
    return site.replace("blocks.", "L").replace("layers.", "L").replace("hook_", "").replace("resid_", "")


def _most_causal_text(entry: dict | None) -> str:
    return "-" if entry is None else f"{entry['iia']:.2f}@{_short_site(entry['site'])}"
