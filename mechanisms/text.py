"""The text form of a mechanism report (``dlps mechanisms``); ``--format json`` holds every number."""

from __future__ import annotations

from typing import Any


def _f(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _step(value: Any) -> str:
    return "never" if value is None else str(value)


#: A head is named for a pattern (previous-token, induction) only when its score on repeated random
#: tokens reaches this: at least half its attention follows the pattern (the same bar as the
#: emergence step's, fixed before any network was looked at); below it the text says "none".
HEAD_SCORE = 0.5


def describe(result: dict[str, Any]) -> list[str]:
    """Readable lines for ``result`` (:func:`compare.evaluate.mechanisms_run`)."""
    lines = [f"# {result['task']} | {result['method']} | n={result['n']} seed={result['seed']}"]
    lines.append("accuracy   " + "  ".join(f"{k} {_f(v, 4)}" for k, v in result["accuracy"].items()))
    if result["analysis"] == "fourier":
        lines += _fourier(result)
    else:
        lines += _sequence(result)
    if result.get("llc"):
        lines.append(_llc(result["llc"], result.get("llc_progress", [])))
    if "progress" in result:
        count = len(result["progress"])
        lines.append(f"progress   {count} checkpoints (every measure at each: --format json)")
        gap = None
        if result.get("emergence_step") is not None and result.get("generalization_step") is not None:
            gap = result["generalization_step"] - result["emergence_step"]
        lines.append(_steps(result, gap))
    for path in result.get("plots", []):
        lines.append(f"plot       {path}")
    return lines


def _steps(result: dict[str, Any], gap: int | None) -> str:
    """The milestones line: the emergence step only where it means something (a Fourier circuit, or
    induction scores: heads to read), and the generalization step with the test accuracy it needed
    (99%, or the 95% fallback of per-position data, said rather than silently used)."""
    parts = []
    if result.get("analysis") == "fourier" or result.get("heads"):
        emergence = f"emergence {_step(result.get('emergence_step'))}"
        if "emergence_step_heldout" in result:
            emergence += f" (held-out control {_step(result['emergence_step_heldout'])})"
        parts.append(emergence)
    threshold = result.get("generalization_threshold", 0.99)
    bar = f"test ≥ {threshold:.0%}" + ("; 99% never reached" if threshold < 0.99 else "")
    parts.append(f"generalization {_step(result.get('generalization_step'))} ({bar})")
    return "steps      " + "  ".join(parts) + ("" if gap is None else f"  (gap {gap})")


def _llc(llc: dict[str, Any], progress: list[dict[str, Any]]) -> str:
    """The LLC line: the estimate with its sd over chains, the hyper-parameters, the chains' health,
    and the per-checkpoint curve's first, largest and last value."""
    value = "diverged (lower epsilon)" if llc["mean"] is None else f"{llc['mean']:.2f} ± {llc['sd']:.2f}"
    line = (f"llc        {value} (eps {llc['epsilon']:g}, nbeta {llc['nbeta']:.1f}, gamma {llc['gamma']:g}, "
            f"{llc['chains']} chains × {llc['draws']} draws; below initial loss {_f(llc['below_initial'])})")
    curve = [(e["step"], e["llc"]) for e in progress if e.get("llc") is not None]
    if curve:
        from mechanisms.llc import PROGRESS  # the curve's cheaper settings, named beside its values

        peak = max(curve, key=lambda c: c[1])
        line += (f"; over training ({PROGRESS.chains} chain × {PROGRESS.draws} draws per checkpoint, "
                 f"a cheaper estimate than the one above: compare its points with each other, not with "
                 f"it): step {curve[0][0]} {curve[0][1]:.1f}, peak {peak[1]:.1f} at step "
                 f"{peak[0]}, step {curve[-1][0]} {curve[-1][1]:.1f}")
    return line


def _fourier(result: dict[str, Any]) -> list[str]:
    f, s = result["fourier"], result["structure"]
    keys = ", ".join(map(str, f["key_frequencies"])) or "none"
    return [
        f"fourier    key frequencies {keys}; embedding key share {_f(f['embedding_key_share'])}, "
        f"neuron key share {_f(f['neuron_key_share'])}",
        f"           restricted accuracy {_f(f['restricted_accuracy'])} loss {_f(f['restricted_loss'])} "
        f"(held-out control, test pairs alone: {_f(f.get('heldout_restricted_accuracy'))}); "
        f"excluded loss {_f(f['excluded_loss'])}; loss {_f(f['loss'])}",
        f"structure  {s['n_neurons']} neurons, {s['dead_neurons']} dead; single-frequency share "
        f"{_f(s['single_frequency_neurons'])} (random directions "
        f"{_f(s['single_frequency_random']['mean'])} ± {_f(s['single_frequency_random']['sd'])}); "
        f"kurtosis {_f(s['kurtosis'], 2)} (random rotations "
        f"{_f(s['kurtosis_random']['mean'], 2)} ± {_f(s['kurtosis_random']['sd'], 2)})",
    ]


def _sequence(result: dict[str, Any]) -> list[str]:
    lines = []
    if result.get("heads"):
        lines.append(
            "heads      layer head  previous  duplicate  induction  copying  (repeated random tokens)"
        )
        for h in result["heads"]:
            lines.append(
                f"           {h['layer']:>5} {h['head']:>4}  {_f(h['previous_token']):>8}  "
                f"{_f(h['duplicate']):>9}  {_f(h['induction']):>9}  {_f(h['copying']):>7}"
            )
        lines += _named_heads(result)
    depth = result.get("depth")
    if depth:
        lines.append("depth      site                               probe  control  selectivity")
        for site in depth["sites"]:
            lines.append(
                f"           {site['site']:<34} {_f(site['probe_accuracy'])}  "
                f"{_f(site['control_accuracy'])}    {_f(site['selectivity'])}"
            )
        a, unit = depth["ablation"], depth.get("counter_unit")
        lines.append(
            f"           best site {depth['best_site']}; accuracy {_f(a['none'])}, depth direction "
            f"removed {_f(a['depth_direction'])}, random direction removed {_f(a['random_direction'])}"
        )
        if unit:
            lines.append(f"           counter unit {unit['unit']} (correlation {_f(unit['correlation'])})")
    return lines


def _named_heads(result: dict[str, Any]) -> list[str]:
    """Which head is the previous-token head and which the induction head ("none" where the best
    score is below :data:`HEAD_SCORE`), and the ablation of each, once when both are one head."""
    named = {}
    for key, score_key, what in (("previous_token_head", "previous_token", "previous-token"),
                                 ("induction_head", "induction", "induction")):
        head = list(result[key])
        score = next((h[score_key] for h in result["heads"] if [h["layer"], h["head"]] == head), None)
        named[key] = (head, what, score)
    said = []
    for head, what, score in named.values():
        if score is not None and score >= HEAD_SCORE:
            said.append(f"{what} head {head} (score {score:.3f})")
        else:
            said.append(f"{what} head none (best {head}: {_f(score)} < {HEAD_SCORE})")
    a = result["ablation"]
    (pt, _, _), (ind, _, _) = named["previous_token_head"], named["induction_head"]
    if pt == ind:
        ablated = f"head {ind} (best at both scores) {_f(a['induction_head'])}"
    else:
        ablated = (f"best induction-score head {ind} {_f(a['induction_head'])}  best previous-token-score "
                   f"head {pt} {_f(a['previous_token_head'])}")
    return [f"           {'; '.join(said)}",
            f"ablation   none {_f(a['none'])}  {ablated}  other heads {_f(a['other_heads'])}"]
