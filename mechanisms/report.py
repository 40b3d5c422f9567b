"""The mechanism analysis: what a fitted network computes, whatever the task (registered as
``mechanism`` in :mod:`mechanisms.registry`; ``dlps mechanisms`` and every network cell of a grid).

What runs is decided by the data's shape, the task's parameters and what the network's architecture
adapter says it has (:mod:`baselines.architectures`), never by a task family's or a learner's name:

- two operands mod p whose operation is a parameter with a known circuit (x+y, x−y), on a network
  with a neuron site (an MLP layer) → the Fourier analysis (:mod:`mechanisms.modular`);
- token sequences, on a network with attention heads → head scores and ablations, and on bracket
  words (:func:`mechanisms.sequences.bracket_types`) on a network with positions → depth probes
  (:mod:`mechanisms.sequences`).

Anything else is not covered: :func:`applies` says why in one line, before any training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mechanisms import modular, sequences
from mechanisms.record import Subject
from mechanisms.summaries import MechanismRecord
from tasks import Split, Task

COVERED = (
    "mechanisms cover networks only: the Fourier circuit for two operands mod p with op x+y or x-y on a "
    "network with an MLP layer (a transformer with an MLP, an mlp); head scores and ablations for a "
    "network with attention heads on token sequences; depth probes for a network with positions on "
    "bracket words (in other ids than the suite's: --analyses 'mechanism:open=(ids),close=(ids)')"
)


def _modular_data(split: Split, task: Task) -> bool:
    """Two operands mod p: ``p`` and ``op`` are parameters of the task, ``p`` the size of the
    vocabulary and of the labels, two tokens a row, one label each."""
    p, op = getattr(task, "p", None), getattr(task, "op", None)
    two_operands = not split.per_position and split.pad_id is None and split.X.shape[1] == 2
    return two_operands and op is not None and split.d_vocab == p == split.n_classes


def _fourier_data(split: Split, task: Task) -> bool:
    """Modular data whose operation has a known circuit (Nanda et al.: x+y, x−y)."""
    return _modular_data(split, task) and task.op in modular.COVERED_OPS


def _architecture(learner: Any) -> Any:
    return getattr(learner, "architecture", None)


def brackets_of(params: Mapping[str, Any] | None) -> sequences.Brackets | None:
    """The bracket ids the analysis was told (``open``/``close`` parameters), if any."""
    params = params or {}
    if "open" not in params and "close" not in params:
        return None
    return sequences.Brackets(tuple(params.get("open", ())), tuple(params.get("close", ())))


def applies(learner: Any, split: Split, task: Task, params: Mapping[str, Any] | None = None) -> str | None:
    """None when the mechanism analysis covers ``learner`` (fitted or not) on data like ``split`` of
    ``task`` (bracket words in other ids: the ``open`` and ``close`` parameters); otherwise why not,
    naming what is covered."""
    name = getattr(learner, "method_name", type(learner).__name__)
    arch = _architecture(learner)
    if arch is None:
        return f"{name} has no network to analyse; {COVERED}"
    if _modular_data(split, task):
        if task.op not in modular.COVERED_OPS or arch.neuron_site(learner) is None:
            return f"{task.spec} with {name} is not covered; {COVERED}"
        return None
    try:
        brackets = sequences.bracket_types(split, brackets_of(params))
    except ValueError as exc:  # ids that do not fit the data
        return f"{task.spec}: {exc}"
    if not (arch.has_heads or (arch.has_positions and brackets is not None)):
        return f"{task.spec} with {name} is not covered; {COVERED}"
    return None


def check_covered(learner: Any, task: Task, params: Mapping[str, Any] | None = None) -> None:
    """ValueError (:func:`applies`'s reason) when no analysis covers this learner on this task."""
    reason = applies(learner, task.test_split(), task, params)
    if reason is not None:
        raise ValueError(reason)


def uses_checkpoints(split: Split, task: Task) -> bool:
    """True when a grid cell's summary needs the network's checkpoints (the Fourier analysis's
    emergence step); the sequence summary reads the final network only."""
    return _fourier_data(split, task)


def analyse(
    learner: Any, task: Task, train: Split, *, with_progress: bool = True, seed: int = 0, fast: bool = False,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The mechanism report of ``learner`` (fitted on ``train`` of ``task``): the Fourier keys (and
    ``progress`` over its checkpoints, ``emergence_step``, ``generalization_step``) for modular data,
    the sequence keys otherwise. ``fast``: smaller samples, for a summary per grid cell; ``params``:
    the bracket ids of words in other ids than the suite's (``open``, ``close``)."""
    check_covered(learner, task, params)
    if _fourier_data(task.test_split(), task):
        out: dict[str, Any] = {"analysis": "fourier"}
        out |= modular.analyse(learner, task, train, seed=seed, n_rotations=0 if fast else 100)
        if with_progress and learner.checkpoints_:
            out |= _fourier_progress(learner, task, train, out["fourier"]["key_frequencies"])
        return out
    sizes = dict(n_probe=200, n_eval=300, n_random=50) if fast else {}
    try:
        result = sequences.analyse(
            learner, task, train=train, with_progress=with_progress, seed=seed, brackets=brackets_of(params),
            **sizes,
        )
    except ValueError as exc:
        raise ValueError(f"{task.spec} with {learner.method_name} is not covered ({exc})") from None
    return {"analysis": "sequence", **result}


def _fourier_progress(learner: Any, task: Task, train: Split, keys: list[int]) -> dict[str, Any]:
    entries = modular.progress(learner, task, train, keys)
    return {
        "progress": entries,
        "emergence_step": modular.emergence_step(entries),
        # The control: restricted accuracy over all pairs also rises in a pure memorizer (its
        # training labels vote along each line a+b=s); fitted and scored on test pairs it does not.
        "emergence_step_heldout": modular.emergence_step(entries, key="heldout_restricted_accuracy"),
        "generalization_step": modular.generalization_step(entries),
    }


# --- as a registered analysis (mechanisms.registry) ----------------------------------------------


def summary_record(report: dict[str, Any]) -> MechanismRecord:
    """The few numbers a grid cell keeps of a report, with ``text``, the short line of the table's
    ``mechanism`` column."""
    if report["analysis"] == "fourier":
        fourier = report["fourier"]
        freqs = fourier["key_frequencies"]
        keys = ",".join(map(str, freqs[:6])) + ("…" if len(freqs) > 6 else "")
        emerge, held = report.get("emergence_step"), report.get("emergence_step_heldout")
        heldout_r = fourier.get("heldout_restricted_accuracy")
        text = f"k={keys or 'none'} r={fourier['restricted_accuracy']:.2f}"
        text += f" r_held={heldout_r:.2f}" if heldout_r is not None else ""
        text += f" emerge@{emerge}" if emerge is not None else " no emergence"
        text += f" held@{held}" if held is not None else ""
        return MechanismRecord(
            text=text, key_frequencies=freqs, restricted_accuracy=fourier["restricted_accuracy"],
            heldout_restricted_accuracy=heldout_r, emergence_step=emerge, emergence_step_heldout=held,
        )
    fields: dict[str, Any] = {}
    parts = []
    if report.get("heads"):
        layer, head = report["induction_head"]
        best = next(h for h in report["heads"] if [h["layer"], h["head"]] == [layer, head])
        fields |= {"induction_score": best["induction"], "induction_head": [layer, head]}
        if best["induction"] is not None:
            parts.append(f"ind {best['induction']:.2f} L{layer}H{head}")
    depth = report.get("depth")
    if depth and depth.get("best_site"):
        site = next(s for s in depth["sites"] if s["site"] == depth["best_site"])
        fields |= {"depth_selectivity": site["selectivity"], "depth_site": depth["best_site"]}
        parts.append(f"depth sel {site['selectivity']:.2f} @{_short_site(depth['best_site'])}")
    return MechanismRecord(text=" ".join(parts) or "none found", **fields)


def grid_summary(report: dict[str, Any]) -> dict[str, Any]:
    """:func:`summary_record` as the plain dict a cell stores."""
    return summary_record(report).to_metrics()


def cell_record(subject: Subject) -> MechanismRecord | None:
    """The mechanism summary a grid cell stores (of a fast report), or None where no analysis covers
    the learner and task."""
    if applies(subject.learner, subject.task.test_split(), subject.task, subject.params) is not None:
        return None
    fourier = uses_checkpoints(subject.task.test_split(), subject.task)
    report = analyse(subject.learner, subject.task, subject.train, with_progress=fourier, fast=True,
                     params=subject.params)
    return summary_record(report)


def cell_summary(learner: Any, task: Task, train: Split) -> dict[str, Any] | None:
    """:func:`cell_record` as the plain dict a cell stores (None where not covered)."""
    record = cell_record(Subject(learner, task, train))
    return None if record is None else record.to_metrics()


def cell_cost(query: Any) -> float:
    """CPU seconds of a cell's summary (0 where not covered): the Fourier analysis runs on every
    checkpoint over all p² pairs; the sequence summary costs a constant per cell."""
    from baselines.checkpoints import DEFAULT_CHECKPOINTS
    from baselines.training import eval_schedule

    learner, split, task = query.learner, query.split, query.task
    if applies(learner, split, task) is not None:
        return 0.0
    constants = query.constants["mechanism"]
    if _fourier_data(split, task):
        checkpoints = len(eval_schedule(query.steps, DEFAULT_CHECKPOINTS))
        return constants["fourier_checkpoint"] * checkpoints * (task.p / 59) ** 2
    return constants["sequence"]


def full_report(subject: Subject) -> dict[str, Any]:
    """What ``dlps mechanisms`` prints: the full report (checkpoints' progress; the LLC is its own
    analysis, ``llc``, asked for with ``--analyses 'mechanism;llc'``)."""
    return analyse(subject.learner, subject.task, subject.train, seed=subject.seed, params=subject.params)


def plots(subject: Subject, report: dict[str, Any], folder: str) -> list:
    """The full report's pictures, written into ``folder``."""
    learner, task = subject.learner, subject.task
    if report["analysis"] == "fourier":
        from mechanisms.plots_modular import write_plots

        return write_plots(learner, task, subject.train, folder, progress=report.get("progress"))
    from mechanisms.plots_sequences import write_plots as write_sequence_plots
    from mechanisms.sequences import model_inputs

    tokens = model_inputs(learner, task.test_split().subset(slice(0, 1)))[0]
    return write_sequence_plots(learner, report, tokens, folder, task.spec)


def _short_site(site: str) -> str:
    """``blocks.1.hook_resid_post`` → ``b1.resid_post`` (the table column is narrow)."""
    return site.replace("blocks.", "b").replace("layers.", "l").replace(".hook_", ".").replace("hook_", "")
