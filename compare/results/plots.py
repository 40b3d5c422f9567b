"""Learning-curve figures: one PNG per task, accuracy against n on a log axis, one line per method
with its 95% bootstrap band over seeds (none from one seed), and each out-of-distribution split
dashed in the method's colour."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from baselines.report import brief
from compare.files import save_figure
from compare.results.tables import Summary

_OOD_STYLES = ("--", ":", "-.")


#: Characters of a task spec kept in its file name, and the most of them kept: with the hash and
#: ``.png`` a name stays far below the 255 bytes most file systems allow.
_SLUG_CHARACTERS = r"[^A-Za-z0-9=+.-]+"
_SLUG_LENGTH = 100


def file_name(task: str) -> str:
    """A file name for a task spec: a readable slug (characters outside ``[A-Za-z0-9=+.-]`` become
    ``_``, cut to 100) and a hash of the whole spec, so that specs differing only where the slug
    cannot tell (``x*y`` and ``x/y``), or past its end, get different files."""
    slug = re.sub(_SLUG_CHARACTERS, "_", task).strip("_")[:_SLUG_LENGTH].strip("_.") or "task"
    digest = hashlib.sha256(task.encode()).hexdigest()[:10]
    return f"{slug}-{digest}.png"


def curves_figure(task: str, group: Sequence[Summary]):
    """One task's learning curves: test accuracy against n (log axis) per method with its 95%
    bootstrap band over seeds, OOD splits dashed in the method's colour; the legend sits beside the
    axes so that it never covers a curve."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(8.4, 4.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, s in enumerate(group):
        if not s.points:
            continue
        colour = colours[i % len(colours)]
        ns = [p.n for p in s.points]
        ax.plot(ns, [p.mean for p in s.points], "-o", color=colour, markersize=3, label=f"{s.method} (test)")
        # The table's interval (compare.results.stats: bootstrap over seeds, inside [0, 1] without
        # clipping); NaN ends (one seed: no interval) leave a gap in the band rather than a fake one.
        ax.fill_between(ns, [p.low for p in s.points], [p.high for p in s.points],
                        color=colour, alpha=0.2, linewidth=0)
        for j, (name, points) in enumerate(s.ood_curves.items()):
            ax.plot([p.n for p in points], [p.mean for p in points], _OOD_STYLES[j % len(_OOD_STYLES)],
                    color=colour, linewidth=1, label=f"{s.method} (OOD {name})")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training examples n (log axis)")
    ax.set_ylabel("accuracy (mean over seeds)")
    ax.set_title(f"{brief(task, 70)}\nlearning curves (bands: 95% bootstrap interval over seeds)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


def plot_summaries(summaries: Sequence[Summary], out: str | Path) -> list[Path]:
    """Write one figure per task into folder ``out`` (created if needed); return the paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tasks: dict[str, list[Summary]] = {}
    for s in summaries:
        tasks.setdefault(s.task, []).append(s)
    paths = []
    for task, group in tasks.items():
        fig = curves_figure(task, group)
        path = out / file_name(task)
        save_figure(fig, path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths
