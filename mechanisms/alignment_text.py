"""The text form of an alignment (``dlps align``); ``--format json`` holds every number."""

from __future__ import annotations

from typing import Any

from mechanisms.align import ALIGNED_IIA, aligned_count


def describe(result: dict[str, Any]) -> list[str]:
    """The text form: a header, then per program a table of its subexpressions and its selectors."""
    lines = []
    if "task" in result:
        acc = result.get("accuracy", {})
        lines.append(
            f"task {result['task']}  method {result['method']}  n {result['n']}  seed {result['seed']}"
            f"  test accuracy {_num(acc.get('test'), '.4f')}"
        )
    lines.append(
        f"rows: {result['rows']['train']} train (probes fit), {result['rows']['test']} test (probes "
        f"scored; interchange pairs: sites and DAS dimensions picked on one half, IIAs measured on the "
        f"other); aligned = headline IIA >= {ALIGNED_IIA} at the best site; IIA* = chance-corrected "
        "(pairs whose counterfactual also differs from the network's own answer), the headline for a "
        "two-valued output; random and untrained: the headline IIA at the same site and dimension"
    )
    for a in result["alignments"]:
        lines += _program_lines(a)
    lines.append(f"wall time {result['seconds']:.1f} s")
    return lines


def _num(v: Any, fmt: str = ".2f") -> str:
    return "-" if v is None else format(v, fmt)


def _program_lines(a: dict[str, Any]) -> list[str]:
    """One program's block: a blank line, its header, its subexpression table, DAS and selectors."""
    k, m = aligned_count(a)
    headline = "IIA*" if a.get("headline") == "iia_corrected" else "IIA"
    lines = [
        "",
        f"{a['source']} program  {a['program']}  ({a['bits']:.1f} bits): {k} of {m} subexpressions aligned"
        f" (headline {headline})",
    ]
    lines += _subexpression_table(a["subexpressions"])
    if any(s.get("iia_das") is not None for s in a["subexpressions"]):
        suffix = "_corrected" if headline == "IIA*" else ""
        das = ", ".join(
            f"{s['expression']} {_num(s.get('iia_das' + suffix))} at k={s.get('dimension_das')} "
            f"(untrained {_num(s.get('iia_das_untrained' + suffix))})"
            for s in a["subexpressions"]
        )
        lines.append(f"  DAS {headline} at the best site (k picked on the calibration half): {das}")
    for s in a["selectors"]:
        head_text = "no head" if s["head"] is None else f"head L{s['head'][0]}H{s['head'][1]}"
        lines.append(
            f"  selector {s['expression']}: best {head_text}, attention on selected keys "
            f"{_num(s['attention_on_selected'])}"
        )
    if a.get("skipped"):
        lines.append(f"  not aligned (an MLP has no positions): {', '.join(a['skipped'])}")
    return lines


#: The columns of a program's subexpression table.
_HEAD = (
    "subexpression",
    "bits",
    "type",
    "site",
    "probe",
    "control",
    "select",
    "dim",
    "IIA",
    "IIA*",
    "random",
    "untrained",
    "pairs",
    "max IIA @site",
)


def _subexpression_table(subexpressions: list[dict[str, Any]]) -> list[str]:
    """The table of a program's subexpressions, indented, with the expression column cut at 48."""
    rows = [_HEAD]
    for s in subexpressions:
        rows.append(
            (
                s["expression"],
                f"{s['bits']:.1f}",
                s["type"] + ("/pos" if s["per_position"] else ""),
                s["site"],
                _num(s["probe_accuracy"]),
                _num(s["control_accuracy"]),
                _num(s["selectivity"]),
                str(s.get("dimension", "-")),
                _num(s["iia"]),
                _num(s.get("iia_corrected")),
                _num(s.get(_baseline_key(s, "iia_random"))),
                _num(s.get(_baseline_key(s, "iia_untrained"))),
                f"{s['pairs']}/{s.get('pairs_corrected', '-')}",
                _most_causal_text(s.get("iia_site")),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEAD))]
    widths[0] = min(widths[0], 48)
    lines = []
    for r in rows:
        first = r[0] if len(r[0]) <= 48 else r[0][:45] + "..."
        lines.append(
            "  "
            + "  ".join(
                [first.ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
            )
        )
    return lines


def _baseline_key(s: dict[str, Any], key: str) -> str:
    """The baseline's field matching the subexpression's headline IIA."""
    return key + "_corrected" if s.get("headline") == "iia_corrected" else key


def _short_site(site: str) -> str:
    return site.replace("blocks.", "L").replace("layers.", "L").replace("hook_", "").replace("resid_", "")


def _most_causal_text(entry: dict | None) -> str:
    return "-" if entry is None else f"{entry['iia']:.2f}@{_short_site(entry['site'])}"
