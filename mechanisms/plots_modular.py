"""Pictures of the Fourier circuit (PNG, matplotlib's Agg backend: no display needed).

* :func:`plot_embedding_spectrum`: each frequency's share of the embedding's squared norm, key ones marked;
* :func:`plot_neuron_grids`: the activation of the top neurons over the p × p input grid (the discrete-input
  analogue of a feature visualization);
* :func:`plot_progress`: the progress measures against the step on a symlog axis, with train/test accuracy
  and the emergence and generalization steps marked;
* :func:`write_plots`: all three for a fitted learner.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from baselines.files import save_figure  # noqa: E402
from baselines.report import brief  # noqa: E402
from mechanisms import fourier, modular, structure  # noqa: E402

#: Progress series (key, line style): losses on a log axis, accuracies and shares on [0, 1].
LOSSES = (("train_loss", "C0-"), ("test_loss", "C1-"), ("restricted_loss", "C2--"), ("excluded_loss", "C3--"))
SHARES = (("train_accuracy", "C0-"), ("test_accuracy", "C1-"), ("restricted_accuracy", "C2--"),
          ("embedding_key_share", "C4:"))  # fmt: skip


def plot_embedding_spectrum(
    spectrum: np.ndarray, key_frequencies: list[int], path: str | Path, title: str = ""
) -> Path:
    """Bars of ``spectrum`` (K + 1,) (:func:`mechanisms.fourier.embedding_spectrum`), key frequencies red."""
    return _save(spectrum_figure(spectrum, key_frequencies, title), path)


def spectrum_figure(spectrum: np.ndarray, key_frequencies: list[int], title: str = ""):
    """The figure of :func:`plot_embedding_spectrum` (``title`` replaces the default one)."""
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(9, 3.4))
    colors = ["tab:red" if k in set(key_frequencies) else "tab:gray" for k in range(len(spectrum))]
    ax.bar(np.arange(len(spectrum)), spectrum, color=colors)
    ax.set_xlabel("frequency k (0: constant)")
    ax.set_ylabel("share of ||W_E||²")
    key = sum(spectrum[k] for k in key_frequencies)
    ax.set_title(title or f"embedding spectrum: key frequencies {_short(key_frequencies)} hold {key:.1%}")
    ax.legend(handles=[Patch(color="tab:red", label="key frequency"), Patch(color="tab:gray", label="other")],
              fontsize=8, loc="best")
    return fig


def top_neurons(acts: np.ndarray, n: int) -> list[int]:
    """The ``n`` neurons of largest variance over the inputs (the ones the output leans on most)."""
    return [int(i) for i in np.argsort(-acts.var(axis=0))[:n]]


def neuron_grids_figure(acts: np.ndarray, p: int, neurons: list[int], title: str = ""):
    """One heat map per neuron of ``acts`` (p², N) over the input grid (rows a, columns b), each scaled
    to its own range (one colour bar for all), titled with its best frequency k and the share of its
    variance that k holds (the key-frequency criterion: :func:`mechanisms.fourier.key_frequencies`)."""
    best, share = fourier.neuron_frequencies(acts[:, neurons], p) if neurons else ([], [])
    cols = min(len(neurons), 4) or 1
    rows = max(1, -(-len(neurons) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols + 1.0, 3 * rows + 1.0), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    image = None
    for ax, n, k, s in zip(axes.flat, neurons, best, share, strict=False):
        grid = acts[:, n].reshape(p, p)
        span = float(grid.max() - grid.min()) or 1.0
        # Scaled per neuron: their ranges differ by orders of magnitude, and the pattern is the point.
        image = ax.imshow((grid - grid.min()) / span, cmap="RdBu_r", origin="lower", vmin=0, vmax=1)
        ax.set_title(f"neuron {n}: k={k}, {s:.0%} of variance", fontsize=9)
        ax.axis("on")
        ax.set_xticks([0, p - 1])
        ax.set_yticks([0, p - 1])
        ax.tick_params(labelsize=7)
        ax.set_xlabel("b (second operand)", fontsize=8)
        ax.set_ylabel("a (first operand)", fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.7, label="activation (0 = neuron's min, 1 = its max)")
    fig.suptitle(title or "top neurons (largest variance) over all input pairs (a, b)")
    return fig


def plot_neuron_grids(
    acts: np.ndarray, p: int, neurons: list[int], path: str | Path, title: str = ""
) -> Path:
    """:func:`neuron_grids_figure` as a PNG."""
    return _save(neuron_grids_figure(acts, p, neurons, title), path, tight=False)


def plot_progress(
    progress: list[dict],
    path: str | Path,
    emergence: int | None = None,
    generalization: int | None = None,
    title: str = "",
    memorization: int | None = None,
) -> Path:
    """Losses (train, test, restricted, excluded; log scale) above accuracies and embedding key share, against
    the step on a symlog axis; the memorization (train accuracy 100%), emergence and generalization steps as
    vertical lines: the phase boundaries of Nanda et al. (memorization, circuit formation, cleanup)."""
    steps = [e["step"] for e in progress]
    fig, (top, mid, low) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for key, style in LOSSES:
        top.plot(steps, [max(e[key], 1e-12) for e in progress], style, label=key.replace("_", " "))
    top.set_yscale("log")
    top.set_ylabel("loss")
    for key, style in SHARES:
        mid.plot(steps, [e[key] for e in progress], style, label=key.replace("_", " "))
    mid.set_ylabel("accuracy / share")
    mid.set_ylim(-0.02, 1.02)
    low.plot(steps, [e["weight_norm"] for e in progress], "k-", label="weight norm")
    low.set_ylabel("weight norm")
    low.set_xlabel("step")
    low.set_xscale("symlog", linthresh=max(1, min((s for s in steps if s > 0), default=1)))
    marks = ((memorization, "train 100%", "C0"), (emergence, "emergence", "C2"),
             (generalization, "generalization", "C1"))  # fmt: skip
    for ax in (top, mid, low):
        for step, name, color in marks:
            if step is not None:
                ax.axvline(
                    step, color=color, lw=1, alpha=0.7, label=f"{name} step {step}" if ax is top else None
                )
        ax.legend(fontsize=8, loc="best")
    top.set_title(title or "progress measures")
    return _save(fig, path)


def write_plots(
    learner, task, train_split, directory: str | Path, progress: list[dict] | None = None, top: int = 8
) -> list[Path]:
    """The three pictures of a fitted learner into ``directory``: ``embedding_spectrum.png``,
    ``neurons.png`` and, when ``progress`` (:func:`mechanisms.modular.progress`) is given, ``progress.png``.
    """
    modular.covered(task, learner)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    p = task.p
    _, acts = modular.run_pairs(learner, p)
    alive = ~structure.dead_neurons(acts)
    freqs = fourier.key_frequencies(acts, p, alive) if alive.any() else []
    spectrum = fourier.embedding_spectrum(modular.operand_embedding(learner.model_.state_dict(), p), p)
    key = sum(spectrum[k] for k in freqs)
    name = brief(task.spec)
    spectrum_title = f"{name}\nembedding spectrum: key frequencies {_short(freqs)} hold {key:.1%}"
    paths = [
        plot_embedding_spectrum(spectrum, freqs, directory / "embedding_spectrum.png", title=spectrum_title),
        plot_neuron_grids(acts, p, top_neurons(acts, top), directory / "neurons.png",
                          title=f"{name}\ntop {top} neurons (largest variance) over all input pairs (a, b)"),
    ]
    if progress:
        paths.append(
            plot_progress(
                progress,
                directory / "progress.png",
                modular.emergence_step(progress),
                modular.generalization_step(progress),
                title=f"{name}\nprogress (final key frequencies: {_short(freqs)})",
                memorization=modular.memorization_step(progress),
            )
        )
    return paths


def _short(freqs: list[int], most: int = 10) -> str:
    return ", ".join(map(str, freqs)) if len(freqs) <= most else f"{len(freqs)} of them"


def _save(fig, path: str | Path, tight: bool = True) -> Path:
    path = Path(path)
    if tight:  # figures with a colour bar lay themselves out (constrained layout)
        fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path
