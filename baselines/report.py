"""A network's training curves as a PNG (``dlps train --plot``)."""

from __future__ import annotations

from pathlib import Path

from baselines.files import save_figure


def plot_history(history: dict[str, list[float]], path: str | Path, title: str = "") -> None:
    """A PNG of accuracy and loss per part against the step (symmetric-log axis, so step 0 shows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = history["step"]
    parts = [key[: -len("_acc")] for key in history if key.endswith("_acc")]
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    for part in parts:
        ax_acc.plot(steps, history[f"{part}_acc"], label=part)
        ax_loss.plot(steps, history[f"{part}_loss"], label=part)
    for ax, label in ((ax_acc, "accuracy"), (ax_loss, "loss (cross-entropy)")):
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_loss.set_yscale("log")
    ax_acc.set_ylim(-0.02, 1.02)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
