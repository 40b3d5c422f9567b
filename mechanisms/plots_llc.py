"""Pictures of the LLC: the ε × nβ calibration grid (``dlps llc-calibrate``) and the LLC over training."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from baselines.files import save_figure
from baselines.report import brief


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    return plt


def calibration_figure(rows: Sequence[dict[str, Any]], task: str = "") -> Any:
    """The estimate against ε, one line per nβ, error bars the sd over chains. A diverged pair has no
    estimate: it is a cross on the bottom edge of the plot (not a value of 0), listed in the legend."""
    plt = _plt()
    from matplotlib.transforms import blended_transform_factory

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    at_bottom = blended_transform_factory(ax.transData, ax.transAxes)  # x in ε, y in axes units
    diverged_shown = False
    for nbeta in sorted({r["nbeta"] for r in rows}):
        line = sorted((r for r in rows if r["nbeta"] == nbeta), key=lambda r: r["epsilon"])
        ok = [r for r in line if r["mean"] is not None and math.isfinite(r["mean"])]
        shown = ax.errorbar(
            [r["epsilon"] for r in ok],
            [r["mean"] for r in ok],
            yerr=[r["sd"] for r in ok],
            marker="o",
            markersize=3,
            capsize=2,
            label=f"nβ = {nbeta:.3g}",
        )
        bad = [r["epsilon"] for r in line if r not in ok]
        if bad:
            ax.plot(bad, [0.0] * len(bad), "x", markersize=8, color=shown[0].get_color(), clip_on=False,
                    transform=at_bottom, label=None if diverged_shown else "diverged (no estimate)")
            diverged_shown = True
    ax.set_xscale("log")
    ax.set_xlabel("SGLD step size ε")
    ax.set_ylabel("LLC estimate λ̂ (mean ± sd over chains)")
    head = f"{brief(task)}\n" if task else ""
    ax.set_title(f"{head}LLC calibration: pick ε where the line is flat", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def plot_calibration(rows: Sequence[dict[str, Any]], path: str | Path, task: str = "") -> Path:
    """:func:`calibration_figure` as a PNG."""
    plt = _plt()
    fig = calibration_figure(rows, task)
    path = Path(path)
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def plot_curve(curves: dict[str, Sequence[tuple[int, float | None, float | None]]], path: str | Path) -> Path:
    """LLC (left axis) and test accuracy (right axis, dashed) against the training step (log axis), one
    colour per run; ``curves`` maps a label to (step, llc, test accuracy) triples."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    acc_ax = ax.twinx()
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, points) in enumerate(sorted(curves.items())):
        colour = colours[i % len(colours)]
        llc = [(s, v) for s, v, _ in points if v is not None and s > 0]
        acc = [(s, a) for s, _, a in points if a is not None and s > 0]
        if llc:
            ax.plot(*zip(*llc, strict=True), "-o", markersize=2, color=colour, label=f"{label} LLC")
        if acc:
            acc_ax.plot(*zip(*acc, strict=True), "--", linewidth=1, color=colour, label=f"{label} test acc")
    ax.set_xscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("LLC")
    acc_ax.set_ylabel("test accuracy (dashed)")
    acc_ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path
