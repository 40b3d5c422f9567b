"""The alignment analysis: a fitted network against programs for its task (registered as
``alignment`` in :mod:`mechanisms.registry`; ``dlps align`` and ``dlps run --analyses alignment``).

:func:`alignment_report` aligns a fitted network learner (:mod:`mechanisms.align`) with the MAP
program the synthesizer finds on the same training set, and with the task's reference program where
that differs (or with one given program); :class:`AlignmentRecord` is the small form a grid cell
stores (:func:`cell_record`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mechanisms.align import ALIGNED_IIA, AlignData, align, aligned_count
from mechanisms.record import Subject
from mechanisms.summaries import AlignmentRecord
from synth.dsl import DSL, complete_dsl, default_dsl, parse_dsl
from synth.dsl_seq import REFERENCES
from synth.program import Program, quote
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
            given = dsl.parse(program_text)  # its errors quote the text (shortened): not repeated here
        except ValueError as exc:
            raise ValueError(f"--program is not a program of {dsl.spec}: {exc}") from None
        # A program of another output type matches no label: it would align nothing ("0 of 0").
        want = dsl.target(train.y).type
        if given.type != want:
            raise ValueError(f"--program {quote(str(given))} outputs {given.type}, but {task.spec} needs "
                             f"{want}: give a program whose result is the task's output")
        return dsl, [("given", given)], {}
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
    """What a grid cell keeps: per program its source, text, bits, headline, and per subexpression
    the expression, site and its kind, selectivity, dimension and IIAs (held-out, chance-corrected
    too, with the baselines'); ``aligned``/``of`` count the first program's by its headline IIA."""
    k, m = aligned_count(report)
    keep = ("expression", "site", "site_kind", "selectivity", "dimension", "iia", "iia_corrected",
            "iia_headline", "iia_random", "iia_random_corrected", "iia_untrained", "iia_untrained_corrected",
            "pairs", "pairs_corrected")  # fmt: skip
    return {
        "aligned": k,
        "of": m,
        "threshold": ALIGNED_IIA,
        "headline": report.get("headline", "iia"),
        "programs": [
            {
                "source": a["source"],
                "program": a["program"],
                "bits": a["bits"],
                "headline": a.get("headline", "iia"),
                "subexpressions": [{key: s.get(key) for key in keep} for s in a["subexpressions"]],
                "selectors": [
                    {key: s[key] for key in ("expression", "head", "attention_on_selected")}
                    for s in a["selectors"]
                ],
            }
            for a in report["alignments"]
        ],
    }




def applies(learner: Any, split: Split, task: Task, params: Any = None) -> str | None:
    """None when ``learner`` is a network whose sites alignment can read, else why not."""
    try:
        check_alignable(learner)
    except ValueError as exc:
        return str(exc)
    return None


def cell_record(subject: Subject) -> AlignmentRecord:
    """What a grid cell stores: :func:`grid_alignment` of the report with the grid's search budget
    (``GRID_SYNTH_SECONDS``), or the error where the network or task cannot be aligned."""
    try:
        report = alignment_report(subject.learner, subject.task, subject.train, seed=subject.seed,
                                  synth_seconds=GRID_SYNTH_SECONDS)
    except Exception as exc:  # noqa: BLE001 - no program found, an unexpected failure: said, the cell counts
        return AlignmentRecord(error=f"{type(exc).__name__}: {exc}")
    return AlignmentRecord(**grid_alignment(report))


def cell_cost(query: Any) -> float:
    """CPU seconds of a cell's alignment: the synthesizer's search for the MAP program (at most
    ``GRID_SYNTH_SECONDS``) and the probes and interventions, per data shape (measured: see
    ``alignment`` in compare/settings/costs.py)."""
    return float(query.constants["alignment"][query.data_shape])
