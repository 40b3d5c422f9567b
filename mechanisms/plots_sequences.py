"""Pictures of the sequence mechanisms (PNG): attention patterns, head scores, progress, probes.

Each function takes the plain results of :mod:`mechanisms.sequences` (or the attention array of
:func:`mechanisms.heads.attention_patterns`) and writes one PNG. Figures are built with
``matplotlib.figure.Figure`` (the Agg canvas), not pyplot, so nothing global is touched and no display
is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from baselines.files import save_figure
from baselines.report import brief
from mechanisms.heads import SCORES, attention_patterns

SCORE_PANELS = (*SCORES, "copying")


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=110)
    return path


def _named(task: str, what: str) -> str:
    return f"{brief(task)}\n{what}" if task else what


def _tick_labels(n: int, most: int = 24) -> list[int]:
    """Positions to label on an axis of ``n`` tokens: all up to ``most``, else every k-th, so that
    labels never overlap."""
    step = max(1, -(-n // most))
    return list(range(0, n, step))


def attention_figure(patterns: np.ndarray, tokens: list[int], task: str = "") -> Figure:
    """Every head's attention on one example: ``patterns`` (layers, heads, q, k), ``tokens`` the
    example's tokens (axis labels: position and token, on the outer panels only)."""
    n_layers, n_heads = patterns.shape[:2]
    fig = Figure(figsize=(3.4 * n_heads + 1.2, 3.3 * n_layers + 0.9), layout="constrained")
    axes = fig.subplots(n_layers, n_heads, squeeze=False, sharex=True, sharey=True)
    ticks = _tick_labels(len(tokens))
    labels = [f"{i}:{tokens[i]}" for i in ticks]
    image = None
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer][head]
            image = ax.imshow(patterns[layer, head], vmin=0, vmax=1, cmap="viridis")
            ax.set_title(f"layer {layer}, head {head}", fontsize=9)
            ax.set_xticks(ticks, labels, fontsize=6, rotation=90)
            ax.set_yticks(ticks, labels, fontsize=6)
            ax.tick_params(labelbottom=layer == n_layers - 1, labelleft=head == 0)
            if layer == n_layers - 1:
                ax.set_xlabel("key (position:token)", fontsize=8)
            if head == 0:
                ax.set_ylabel("query (position:token)", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.8, label="attention weight (each query row sums to 1)")
    fig.suptitle(_named(task, "attention patterns on one test example"), fontsize=10)
    return fig


def plot_attention(patterns: np.ndarray, tokens: list[int], path: str | Path, title: str = "") -> Path:
    """:func:`attention_figure` as a PNG (``title``: the task spec)."""
    return _save(attention_figure(patterns, tokens, title), path)


#: What each head score measures, for the panel titles.
SCORE_TITLES = {"previous_token": "previous-token score", "duplicate": "duplicate-token score",
                "induction": "induction score", "copying": "copying score (OV circuit)"}


def head_scores_figure(heads: list[dict], task: str = "") -> Figure:
    """Each score as a layer × head grid, values printed in a colour that reads on their cell, one
    colour bar for all (every score is in [0, 1]); blank (grey) where a score is undefined."""
    n_layers = max(h["layer"] for h in heads) + 1
    n_heads = max(h["head"] for h in heads) + 1
    fig = Figure(figsize=(2.7 * len(SCORE_PANELS) + 1.0, 0.7 * n_layers + 2.4), layout="constrained")
    axes = fig.subplots(1, len(SCORE_PANELS), squeeze=False)[0]
    image = None
    for i, (ax, name) in enumerate(zip(axes, SCORE_PANELS, strict=True)):
        grid = np.full((n_layers, n_heads), np.nan)
        for h in heads:
            if h.get(name) is not None:
                grid[h["layer"], h["head"]] = h[name]
        ax.set_facecolor("0.85")  # undefined scores (NaN) show as grey, not as a low value
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
        for (layer, head), value in np.ndenumerate(grid):
            if np.isfinite(value):
                # viridis is dark below ~0.6 and light above: the text takes the other end.
                ax.text(head, layer, f"{value:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if value < 0.6 else "black")
        ax.set_title(SCORE_TITLES.get(name, name), fontsize=9)
        ax.set_xticks(range(n_heads))
        ax.set_yticks(range(n_layers))
        ax.set_xlabel("head")
        if i == 0:
            ax.set_ylabel("layer")
    fig.colorbar(image, ax=axes, shrink=0.9, label="score (0..1)")
    fig.suptitle(_named(task, "attention-head scores (attention mass on each pattern; grey: undefined)"),
                 fontsize=10)
    return fig


def plot_head_scores(heads: list[dict], path: str | Path, title: str = "") -> Path:
    """:func:`head_scores_figure` as a PNG (``title``: the task spec)."""
    return _save(head_scores_figure(heads, title), path)


def progress_figure(entries: list[dict], emergence_step: int | None = None,
                    generalization_step: int | None = None, task: str = "") -> Figure:
    """Train/test accuracy and the mechanism measures against the step (log axis, step + 1)."""
    fig = Figure(figsize=(7.5, 4.4), layout="constrained")
    ax = fig.subplots()
    steps = np.array([e["step"] for e in entries]) + 1
    for key, style in (
        ("train_accuracy", "-"),
        ("test_accuracy", "-"),
        ("induction_score", "--"),
        ("depth_probe_accuracy", "--"),
    ):
        if any(e.get(key) is not None for e in entries):
            values = [np.nan if e.get(key) is None else e[key] for e in entries]
            ax.plot(steps, values, style, marker=".", label=key.replace("_", " "))
    for step, label, color in (
        (emergence_step, "emergence", "tab:purple"),
        (generalization_step, "generalization", "tab:green"),
    ):
        if step is not None:
            ax.axvline(step + 1, color=color, linestyle=":", label=f"{label} step {step}")
    ax.set_xscale("log")
    ax.set_xlabel("optimizer step + 1 (log axis)")
    ax.set_ylabel("accuracy or score (0..1)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(_named(task, "progress over training (checkpoints)"), fontsize=10)
    return fig


def plot_progress(
    entries: list[dict],
    path: str | Path,
    emergence_step: int | None = None,
    generalization_step: int | None = None,
    title: str = "",
) -> Path:
    """:func:`progress_figure` as a PNG (``title``: the task spec)."""
    return _save(progress_figure(entries, emergence_step, generalization_step, title), path)


def probes_figure(depth: dict, task: str = "") -> Figure:
    """Depth probe and control accuracy and selectivity per site (bars), and the probe's accuracy by
    site and position (heat map, with its colour bar); the sites share one axis, labelled once."""
    sites = depth["sites"]
    fig = Figure(figsize=(11, 0.5 * len(sites) + 3.0), layout="constrained")
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]}, sharey=True)
    y = np.arange(len(sites))
    for offset, key in ((-0.2, "probe_accuracy"), (0.0, "control_accuracy"), (0.2, "selectivity")):
        left.barh(y + offset, [s[key] for s in sites], height=0.2, label=key.replace("_", " "))
    left.set_yticks(y, [s["site"].replace("hook_", "") for s in sites], fontsize=8)
    left.set_ylabel("network site")
    left.set_xlim(min(0.0, *[s["selectivity"] for s in sites]) - 0.02, 1.0)
    left.set_xlabel("accuracy (selectivity = probe − control)")
    left.legend(fontsize=7, loc="lower right")
    left.set_title("depth probe by site", fontsize=10)
    width = max(len(s["by_position"]) for s in sites)
    grid = np.full((len(sites), width), np.nan)
    for i, s in enumerate(sites):
        grid[i, : len(s["by_position"])] = [np.nan if v is None else v for v in s["by_position"]]
    image = right.imshow(grid, vmin=0, vmax=1, aspect="auto", cmap="viridis")
    right.tick_params(labelleft=False)
    right.set_xlabel("position in the word")
    right.set_title("depth probe accuracy by position", fontsize=10)
    fig.colorbar(image, ax=right, label="probe accuracy (0..1)")
    fig.suptitle(_named(task, "linear probes of the running bracket depth"), fontsize=10)
    return fig


def plot_probes(depth: dict, path: str | Path, title: str = "") -> Path:
    """:func:`probes_figure` as a PNG (``title``: the task spec)."""
    return _save(probes_figure(depth, title), path)


def write_plots(learner, result: dict, tokens: np.ndarray, out_dir: str | Path, task: str = "") -> list[Path]:
    """Every picture that ``result`` (from :func:`mechanisms.sequences.analyse`) supports, into
    ``out_dir``; ``tokens``: the model's input tokens of one example (n ≥ 1 rows; the first is drawn);
    ``task``: the task spec the titles name."""
    out_dir = Path(out_dir)
    paths = []
    if "heads" in result:
        row = np.asarray(tokens)[:1]
        pad = getattr(learner, "pad_id", None)
        length = int((row[0] != pad).sum()) if pad is not None else row.shape[1]
        patterns = attention_patterns(learner.model_, row[:, :length])[:, 0]
        paths.append(plot_attention(patterns, row[0, :length].tolist(), out_dir / "attention.png", task))
        paths.append(plot_head_scores(result["heads"], out_dir / "head_scores.png", task))
    if result.get("progress"):
        paths.append(
            plot_progress(
                result["progress"],
                out_dir / "progress.png",
                result.get("emergence_step"),
                result.get("generalization_step"),
                task,
            )
        )
    if "depth" in result:
        paths.append(plot_probes(result["depth"], out_dir / "probes.png", task))
    return paths
