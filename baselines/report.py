"""A network's training curves as a PNG (``dlps train --plot``), and :func:`brief`, the short task
name every dlps figure is titled with."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from baselines.files import save_figure


def brief(spec: str, width: int = 60, lines: int = 2) -> str:
    """A spec for a figure title: broken after ``,`` or ``:`` into at most ``lines`` lines of about
    ``width`` characters (a spec is never cut inside a ``key=value``); what does not fit ends in
    ``…`` (titles name the task; the full spec is in the command's output)."""
    out = [""]
    for piece in re.split(r"(?<=[,:])", spec):
        if out[-1] and len(out[-1]) + len(piece) > width:
            if len(out) == lines:
                out[-1] = out[-1].rstrip(",") + ",…"
                break
            out.append("")
        out[-1] += piece
    return "\n".join(out)


def method_name(spec: str) -> str:
    """The method's name of a method spec (``transformer:n_layers=1,...`` → ``transformer``)."""
    return spec.split(":", 1)[0]


def history_figure(history: dict[str, list[float]], title: str = "") -> Any:
    """The figure of :func:`plot_history` (matplotlib ``Figure``, Agg canvas: nothing global)."""
    from matplotlib.figure import Figure

    steps = history["step"]
    parts = [key[: -len("_acc")] for key in history if key.endswith("_acc")]
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_acc, ax_loss = fig.subplots(1, 2)
    for part in parts:
        ax_acc.plot(steps, history[f"{part}_acc"], label=part)
        ax_loss.plot(steps, history[f"{part}_loss"], label=part)
    for ax, label in ((ax_acc, "accuracy (share of scored positions)"), (ax_loss, "loss (cross-entropy)")):
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("optimizer step (symlog axis)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(title="split", fontsize=8)
    ax_loss.set_yscale("log")
    ax_acc.set_ylim(-0.02, 1.02)
    ax_acc.set_title("accuracy", fontsize=10)
    ax_loss.set_title("loss", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def plot_history(history: dict[str, list[float]], path: str | Path, title: str = "") -> None:
    """A PNG of accuracy and loss per part against the step (symmetric-log axis, so step 0 shows).
    A long ``title`` (``task  method-spec``) is shortened to the task and the method's name."""
    if "  " in title:  # dlps train passes "task  method spec": the spec alone is hundreds of characters
        task, _, method = title.partition("  ")
        title = f"{brief(task)}\n{method_name(method)}: training curves"
    elif title:
        title = brief(title)
    save_figure(history_figure(history, title), path, dpi=120)
