"""The text form of a mechanism report (``dlps mechanisms``); ``--format json`` holds every number."""

from __future__ import annotations

from typing import Any


def _f(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _step(value: Any) -> str:
    return "never" if value is None else str(value)


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
        steps = f"steps      emergence {_step(result.get('emergence_step'))}"
        if "emergence_step_heldout" in result:
            steps += f" (held-out control {_step(result['emergence_step_heldout'])})"
        steps += f"  generalization {_step(result.get('generalization_step'))}"
        lines.append(steps + ("" if gap is None else f"  (gap {gap})"))
    for path in result.get("plots", []):
        lines.append(f"plot       {path}")
    return lines


def _llc(llc: dict[str, Any], progress: list[dict[str, Any]]) -> str:
    """The LLC line: the estimate with its sd over chains, the hyper-parameters, the chains' health,
    and the per-checkpoint curve's first, largest and last value."""
    value = "diverged (lower epsilon)" if llc["mean"] is None else f"{llc['mean']:.2f} ± {llc['sd']:.2f}"
    line = (f"llc        {value} (eps {llc['epsilon']:g}, nbeta {llc['nbeta']:.1f}, gamma {llc['gamma']:g}, "
            f"{llc['chains']} chains × {llc['draws']} draws; below initial loss {_f(llc['below_initial'])})")
    curve = [(e["step"], e["llc"]) for e in progress if e.get("llc") is not None]
    if curve:
        peak = max(curve, key=lambda c: c[1])
        line += (f"; over training: step {curve[0][0]} {curve[0][1]:.1f}, peak {peak[1]:.1f} at step "
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
        lines.append(
            f"           previous-token head {result['previous_token_head']}, "
            f"induction head {result['induction_head']}"
        )
        a = result["ablation"]
        lines.append(
            f"ablation   none {_f(a['none'])}  induction head {_f(a['induction_head'])}  "
            f"previous-token head {_f(a['previous_token_head'])}  "
            f"other heads {_f(a['other_heads'])}"
        )
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
