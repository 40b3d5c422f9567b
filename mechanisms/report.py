"""One entry point for what a fitted network computes, whatever the task: ``dlps mechanisms`` and the
grid's per-cell summary both come through here.

- modular tasks whose circuit is known (x+y, x−y) → the Fourier analysis (:mod:`mechanisms.modular`);
- any other token data a transformer or an LSTM was fitted to → head scores, ablations and depth
  probes (:mod:`mechanisms.sequences`, which decides from the data what applies).

Anything else raises ``ValueError`` with one line naming what is covered.
"""

from __future__ import annotations

from typing import Any

from mechanisms import modular, sequences
from tasks import Split, Task
from tasks.modular import ModularTask

COVERED = (
    "mechanisms cover networks only: the Fourier circuit for modular:op=x+y or x-y with a transformer "
    "(with an MLP) or an mlp; head scores and ablations for a transformer on token sequences; depth "
    "probes for a transformer or an lstm on bracket data"
)


def check_covered(learner: Any, task: Task) -> None:
    """ValueError (one line naming what is covered) when no analysis applies to this learner and task;
    cheap, so that it runs before any training."""
    name = getattr(learner, "method_name", type(learner).__name__)
    if not getattr(learner, "has_model", False):
        raise ValueError(f"{name} has no network to analyse; {COVERED}")
    if isinstance(task, ModularTask):
        try:
            modular.covered(task, learner)
        except ValueError:
            raise ValueError(f"{task.spec} with {name} is not covered; {COVERED}") from None
        return
    bracket_data = sequences.bracket_types(task.test_split()) is not None
    if name not in ("transformer", "lstm") or (name == "lstm" and not bracket_data):
        raise ValueError(f"{task.spec} with {name} is not covered; {COVERED}")


def summary_uses_checkpoints(task: Task) -> bool:
    """True when a grid cell's summary of ``task`` needs the network's checkpoints (the Fourier
    analysis's emergence step); the sequence summary reads the final network only."""
    return isinstance(task, ModularTask)


def cell_summary(learner: Any, task: Task, train: Split) -> dict[str, Any] | None:
    """The mechanism summary a grid cell stores (:func:`grid_summary` of a fast report), or None
    where no analysis covers the learner and task."""
    try:
        report = analyse(learner, task, train, with_progress=summary_uses_checkpoints(task), fast=True)
    except ValueError:
        return None
    return grid_summary(report)


def analyse(
    learner: Any, task: Task, train: Split, *, with_progress: bool = True, seed: int = 0, fast: bool = False
) -> dict[str, Any]:
    """The mechanism report of ``learner`` (fitted on ``train`` of ``task``): the Fourier keys (and
    ``progress`` over its checkpoints, ``emergence_step``, ``generalization_step``) for modular data,
    the sequence keys otherwise. ``fast``: smaller samples, for a summary per grid cell."""
    check_covered(learner, task)
    if isinstance(task, ModularTask):
        out: dict[str, Any] = {"analysis": "fourier"}
        out |= modular.analyse(learner, task, train, seed=seed, n_rotations=0 if fast else 100)
        if with_progress and learner.checkpoints_:
            entries = modular.progress(learner, task, train, out["fourier"]["key_frequencies"])
            out |= {
                "progress": entries,
                "emergence_step": modular.emergence_step(entries),
                # The control: restricted accuracy over all pairs also rises in a pure memorizer (its
                # training labels vote along each line a+b=s); fitted and scored on test pairs it does not.
                "emergence_step_heldout": modular.emergence_step(entries, key="heldout_restricted_accuracy"),
                "generalization_step": modular.generalization_step(entries),
            }
        return out if fast else _with_llc(out, learner, train, seed)
    sizes = dict(n_probe=200, n_eval=300, n_random=50) if fast else {}
    try:
        result = sequences.analyse(
            learner, task, train=train, with_progress=with_progress, seed=seed, **sizes
        )
    except ValueError as exc:
        raise ValueError(f"{task.spec} with {learner.method_name} is not covered ({exc})") from None
    out = {"analysis": "sequence", **result}
    return out if fast else _with_llc(out, learner, train, seed)


def _with_llc(out: dict[str, Any], learner: Any, train: Split, seed: int) -> dict[str, Any]:
    """``out`` with ``llc`` (:func:`mechanisms.llc.summary` of the final network's estimate) and the
    mean of a cheaper estimate (:data:`mechanisms.llc.PROGRESS`) as ``llc`` in each progress entry."""
    from mechanisms import llc

    out["llc"] = llc.summary(llc.network_llc(learner, train, config=llc.DEFAULTS, seed=seed))
    for entry in out.get("progress", []):
        if entry.get("step") in learner.checkpoints_:
            at = learner.model_at(entry["step"])
            entry["llc"] = llc.network_llc(learner, train, model=at, config=llc.PROGRESS, seed=seed)["mean"]
    return out


def grid_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The few numbers a grid cell keeps of a report, with ``text``: the short line the table's
    ``mechanism`` column shows."""
    if report["analysis"] == "fourier":
        fourier = report["fourier"]
        freqs = fourier["key_frequencies"]
        keys = ",".join(map(str, freqs[:6])) + ("…" if len(freqs) > 6 else "")
        emerge, held = report.get("emergence_step"), report.get("emergence_step_heldout")
        text = f"k={keys} r={fourier['restricted_accuracy']:.2f}"
        text += f" emerge@{emerge}" if emerge is not None else " no emergence"
        text += f" held@{held}" if held is not None else ""
        return {"text": text, "key_frequencies": freqs, "restricted_accuracy": fourier["restricted_accuracy"],
                "emergence_step": emerge, "emergence_step_heldout": held}
    out: dict[str, Any] = {}
    parts = []
    if report.get("heads"):
        layer, head = report["induction_head"]
        best = next(h for h in report["heads"] if [h["layer"], h["head"]] == [layer, head])
        out |= {"induction_score": best["induction"], "induction_head": [layer, head]}
        if best["induction"] is not None:
            parts.append(f"ind {best['induction']:.2f} L{layer}H{head}")
    depth = report.get("depth")
    if depth and depth.get("best_site"):
        site = next(s for s in depth["sites"] if s["site"] == depth["best_site"])
        out |= {"depth_selectivity": site["selectivity"], "depth_site": depth["best_site"]}
        parts.append(f"depth sel {site['selectivity']:.2f} @{_short_site(depth['best_site'])}")
    out["text"] = " ".join(parts) or "none found"
    return out


def _short_site(site: str) -> str:
    """``blocks.1.hook_resid_post`` → ``b1.resid_post`` (the table column is narrow)."""
    return site.replace("blocks.", "b").replace("layers.", "l").replace(".hook_", ".").replace("hook_", "")
