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
from mechanisms.heads import SCORES, attention_patterns

SCORE_PANELS = (*SCORES, "copying")


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=110, bbox_inches="tight")
    return path


def plot_attention(patterns: np.ndarray, tokens: list[int], path: str | Path, title: str = "") -> Path:
    """Every head's attention on one example: ``patterns`` (layers, heads, q, k), ``tokens`` the
    example's tokens (axis labels)."""
    n_layers, n_heads = patterns.shape[:2]
    fig = Figure(figsize=(3.2 * n_heads, 3.0 * n_layers))
    axes = fig.subplots(n_layers, n_heads, squeeze=False)
    labels = [str(t) for t in tokens]
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer][head]
            ax.imshow(patterns[layer, head], vmin=0, vmax=1, cmap="viridis")
            ax.set_title(f"L{layer}H{head}", fontsize=9)
            ax.set_xticks(range(len(labels)), labels, fontsize=6, rotation=90)
            ax.set_yticks(range(len(labels)), labels, fontsize=6)
            ax.set_xlabel("key", fontsize=7)
            ax.set_ylabel("query", fontsize=7)
    fig.suptitle(title or "attention patterns")
    return _save(fig, path)


def plot_head_scores(heads: list[dict], path: str | Path) -> Path:
    """Each score as a layer × head grid (values printed; blank where undefined)."""
    n_layers = max(h["layer"] for h in heads) + 1
    n_heads = max(h["head"] for h in heads) + 1
    fig = Figure(figsize=(2.6 * len(SCORE_PANELS), 0.7 * n_layers + 1.6))
    axes = fig.subplots(1, len(SCORE_PANELS), squeeze=False)[0]
    for ax, name in zip(axes, SCORE_PANELS, strict=True):
        grid = np.full((n_layers, n_heads), np.nan)
        for h in heads:
            if h.get(name) is not None:
                grid[h["layer"], h["head"]] = h[name]
        ax.imshow(grid, vmin=0, vmax=1, cmap="magma")
        for (layer, head), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(head, layer, f"{value:.2f}", ha="center", va="center", color="tab:cyan", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(n_heads))
        ax.set_yticks(range(n_layers))
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
    return _save(fig, path)


def plot_progress(
    entries: list[dict],
    path: str | Path,
    emergence_step: int | None = None,
    generalization_step: int | None = None,
) -> Path:
    """Train/test accuracy and the mechanism measures against the step (log axis, step + 1)."""
    fig = Figure(figsize=(7, 4))
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
            ax.axvline(step + 1, color=color, linestyle=":", label=f"{label} ({step})")
    ax.set_xscale("log")
    ax.set_xlabel("step + 1")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_probes(depth: dict, path: str | Path) -> Path:
    """Depth probe and control accuracy per site, and the probe's accuracy by site and position."""
    sites = depth["sites"]
    fig = Figure(figsize=(11, 0.5 * len(sites) + 2.5))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    y = np.arange(len(sites))
    for offset, key in ((-0.2, "probe_accuracy"), (0.0, "control_accuracy"), (0.2, "selectivity")):
        left.barh(y + offset, [s[key] for s in sites], height=0.2, label=key.replace("_", " "))
    left.set_yticks(y, [s["site"] for s in sites], fontsize=7)
    left.set_xlim(min(0.0, *[s["selectivity"] for s in sites]) - 0.02, 1.0)
    left.legend(fontsize=7)
    left.set_title("depth probe by site")
    width = max(len(s["by_position"]) for s in sites)
    grid = np.full((len(sites), width), np.nan)
    for i, s in enumerate(sites):
        grid[i, : len(s["by_position"])] = [np.nan if v is None else v for v in s["by_position"]]
    image = right.imshow(grid, vmin=0, vmax=1, aspect="auto", cmap="viridis")
    right.set_yticks(y, [s["site"] for s in sites], fontsize=7)
    right.set_xlabel("position")
    right.set_title("depth probe accuracy by position")
    fig.colorbar(image, ax=right)
    return _save(fig, path)


def write_plots(learner, result: dict, tokens: np.ndarray, out_dir: str | Path) -> list[Path]:
    """Every picture that ``result`` (from :func:`mechanisms.sequences.analyse`) supports, into
    ``out_dir``; ``tokens``: the model's input tokens of one example (n ≥ 1 rows; the first is drawn)."""
    out_dir = Path(out_dir)
    paths = []
    if "heads" in result:
        row = np.asarray(tokens)[:1]
        pad = getattr(learner, "pad_id", None)
        length = int((row[0] != pad).sum()) if pad is not None else row.shape[1]
        patterns = attention_patterns(learner.model_, row[:, :length])[:, 0]
        paths.append(plot_attention(patterns, row[0, :length].tolist(), out_dir / "attention.png"))
        paths.append(plot_head_scores(result["heads"], out_dir / "head_scores.png"))
    if result.get("progress"):
        paths.append(
            plot_progress(
                result["progress"],
                out_dir / "progress.png",
                result.get("emergence_step"),
                result.get("generalization_step"),
            )
        )
    if "depth" in result:
        paths.append(plot_probes(result["depth"], out_dir / "probes.png"))
    return paths
