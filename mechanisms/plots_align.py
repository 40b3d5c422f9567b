"""Pictures of an alignment (PNG): IIA over subexpressions × sites, one heatmap per program.

Built with ``matplotlib.figure.Figure`` (the Agg canvas), not pyplot, so nothing global is touched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from baselines.files import save_figure


def iia_grid(alignment: dict) -> np.ndarray:
    """IIA (probe row space) per subexpression (rows) and site (columns); NaN where undefined."""
    sites = alignment["sites"]
    grid = np.full((len(alignment["subexpressions"]), len(sites)), np.nan)
    for i, sub in enumerate(alignment["subexpressions"]):
        for row in sub["by_site"]:
            if row["iia"] is not None:
                grid[i, sites.index(row["site"])] = row["iia"]
    return grid


def plot_iia(alignment: dict, path: str | Path, title: str = "") -> Path:
    """A heatmap of :func:`iia_grid`, the best probe site of each subexpression outlined."""
    grid = iia_grid(alignment)
    subs = [s["expression"] for s in alignment["subexpressions"]]
    labels = [s if len(s) <= 40 else s[:37] + "..." for s in subs]
    sites = alignment["sites"]
    fig = Figure(
        figsize=(
            1.6 + 1.1 * len(sites) + 0.06 * max((len(s) for s in labels), default=10),
            1.2 + 0.45 * max(len(subs), 1),
        )
    )
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(grid), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i, sub in enumerate(alignment["subexpressions"]):
        j = sites.index(sub["site"])
        ax.add_patch(_box(j, i))
        for jj in range(len(sites)):
            if np.isfinite(grid[i, jj]):
                ax.text(
                    jj,
                    i,
                    f"{grid[i, jj]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if grid[i, jj] > 0.6 else "white",
                )
    ax.set_xticks(
        range(len(sites)), [s.replace("hook_", "") for s in sites], fontsize=7, rotation=30, ha="right"
    )
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    fig.colorbar(image, ax=ax, label="IIA")
    ax.set_title(title or f"{alignment['source']}: {alignment['program'][:60]}", fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=110, bbox_inches="tight")
    return path


def _box(x: int, y: int):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.5)


def write_plots(result: dict, folder: str | Path) -> list[Path]:
    """One heatmap per aligned program: ``folder/alignment_{source}.png``."""
    folder = Path(folder)
    return [plot_iia(a, folder / f"alignment_{a['source']}.png") for a in result["alignments"]]
