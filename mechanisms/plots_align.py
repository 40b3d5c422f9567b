"""Pictures of an alignment (PNG): IIA over subexpressions × sites, one heatmap per program.

Built with ``matplotlib.figure.Figure`` (the Agg canvas), not pyplot, so nothing global is touched.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from baselines.files import save_figure
from baselines.report import brief


def iia_grid(alignment: dict) -> np.ndarray:
    """IIA (probe row space) per subexpression (rows) and site (columns); NaN where undefined."""
    sites = alignment["sites"]
    grid = np.full((len(alignment["subexpressions"]), len(sites)), np.nan)
    for i, sub in enumerate(alignment["subexpressions"]):
        for row in sub["by_site"]:
            if row["iia"] is not None:
                grid[i, sites.index(row["site"])] = row["iia"]
    return grid


def iia_figure(alignment: dict, task: str = "") -> Figure:
    """A heatmap of :func:`iia_grid` with its colour bar, the best probe site of each subexpression
    outlined, and a legend for the outline and the blanks (pairs where no IIA was measured)."""
    from matplotlib.patches import Patch

    grid = iia_grid(alignment)
    subs = [s["expression"] for s in alignment["subexpressions"]]
    labels = [s if len(s) <= 40 else s[:37] + "..." for s in subs]
    sites = alignment["sites"]
    fig = Figure(
        figsize=(
            3.2 + 1.1 * len(sites) + 0.06 * max((len(s) for s in labels), default=10),
            2.6 + 0.45 * max(len(subs), 1),
        ),
        layout="constrained",
    )
    ax = fig.subplots()
    ax.set_facecolor("0.85")  # no IIA measured: grey, never a colour of the scale
    image = ax.imshow(np.ma.masked_invalid(grid), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i, sub in enumerate(alignment["subexpressions"]):
        ax.add_patch(_box(sites.index(sub["site"]), i))
        for jj in range(len(sites)):
            if np.isfinite(grid[i, jj]):
                ax.text(jj, i, f"{grid[i, jj]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if grid[i, jj] > 0.6 else "white")
    ax.set_xticks(
        range(len(sites)), [s.replace("hook_", "") for s in sites], fontsize=7, rotation=30, ha="right"
    )
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("network site")
    ax.set_ylabel("subexpression of the program")
    fig.colorbar(image, ax=ax, label="IIA (interchange-intervention accuracy, 0..1)")
    fig.legend(handles=[Patch(fill=False, edgecolor="red", linewidth=1.5, label="best probe site"),
                        Patch(facecolor="0.85", label="not measured at this site")],
               fontsize=7, loc="outside lower center", ncol=2, frameon=False)
    program = "\n".join(textwrap.wrap(alignment["program"], 90, break_long_words=False)[:2])
    head = f"{brief(task)}\n" if task else ""
    ax.set_title(f"{head}{alignment['source']}'s program: {program}", fontsize=8)
    return fig


def plot_iia(alignment: dict, path: str | Path, title: str = "") -> Path:
    """:func:`iia_figure` as a PNG (``title``: the task spec)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(iia_figure(alignment, title), path, dpi=110)
    return path


def _box(x: int, y: int):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.5)


def write_plots(result: dict, folder: str | Path) -> list[Path]:
    """One heatmap per aligned program: ``folder/alignment_{source}.png``."""
    folder = Path(folder)
    task = result.get("task") or ""
    return [plot_iia(a, folder / f"alignment_{a['source']}.png", task) for a in result["alignments"]]
