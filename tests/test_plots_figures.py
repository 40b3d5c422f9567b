"""Every dlps figure, built from small synthetic results: a title that names the task briefly, axis
labels, a colour bar or legend where colour carries a value, and no two texts overlapping once drawn
(issue 28 item 6)."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from baselines.report import brief, history_figure, plot_history  # noqa: E402
from compare.results.metrics import Point  # noqa: E402
from compare.results.plots import curves_figure  # noqa: E402
from compare.results.tables import Summary  # noqa: E402
from mechanisms import plots_align, plots_llc, plots_modular, plots_sequences  # noqa: E402

BRACKETS = "brackets:kind=dyck1,max_len=16,min_len=2,ood_len=32,n_test=1000,test_fraction=0.5,negatives=hard"
INDUCTION = "induction:d_vocab=16,seq_len=16,min_seg=3,max_seg=6,n_unseen=8,ood_len=32,n_test=1000"


def texts(fig) -> list[Text]:
    """The visible, non-empty texts of a drawn figure (drawn by Agg, as when saved)."""
    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    ticks, shown = set(), []
    for ax in fig.axes:  # tick labels outside the view limits exist but are not drawn
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            slack = 1e-9 * max(1.0, abs(low), abs(high))
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                for label in (tick.label1, tick.label2):
                    ticks.add(id(label))
                    if low - slack <= tick.get_loc() <= high + slack and tick.get_visible():
                        shown.append(label)
    shown += [t for t in fig.findobj(Text) if id(t) not in ticks]
    return [t for t in shown if t.get_visible() and t.get_text().strip()]


def overlapping(fig) -> list[tuple[str, str]]:
    """Pairs of texts whose drawn boxes overlap (by more than a pixel each way)."""
    shown = texts(fig)
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in shown]
    out = []
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        dx = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
        dy = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
        if dx > 1 and dy > 1:
            out.append((a, b))
    return out


def all_text(fig) -> str:
    return "\n".join(t.get_text() for t in texts(fig))


def colour_bar_labels(fig) -> list[str]:
    """The labels of the figure's colour bars (axes made by ``fig.colorbar``)."""
    return [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]


def check(fig, task_words: str) -> str:
    assert overlapping(fig) == [], overlapping(fig)
    text = all_text(fig)
    assert task_words in text
    return text


# --- sequences ---------------------------------------------------------------------------------------


def heads():
    return [{"layer": layer, "head": head, "previous_token": 0.1 * head, "duplicate": 0.4,
             "induction": 0.85 if (layer, head) == (1, 0) else 0.03, "copying": None if head else 0.9}
            for layer in range(2) for head in range(2)]


def test_head_scores_have_a_colour_bar_readable_values_and_the_task():
    fig = plots_sequences.head_scores_figure(heads(), INDUCTION)
    text = check(fig, "induction:d_vocab=16")
    assert colour_bar_labels(fig) == ["score (0..1)"]
    assert "induction score" in text and "grey: undefined" in text
    colours = {t.get_color() for t in texts(fig) if t.get_text() in ("0.85", "0.03")}
    assert colours == {"black", "white"}  # the value's colour follows its cell, never cyan on magenta


def test_attention_has_a_colour_bar_and_no_overlapping_labels():
    patterns = np.random.default_rng(0).dirichlet(np.ones(32), size=(2, 2, 32))
    fig = plots_sequences.attention_figure(patterns, list(range(32)), INDUCTION)
    text = check(fig, "attention patterns")
    assert colour_bar_labels(fig) == ["attention weight (each query row sums to 1)"]
    assert "layer 1, head 0" in text and "key (position:token)" in text


def test_sequence_progress_has_a_y_label_and_the_task():
    entries = [{"step": s, "train_accuracy": min(1, s / 100), "test_accuracy": min(1, s / 200),
                "induction_score": 0.5} for s in (0, 10, 100, 400)]
    fig = plots_sequences.progress_figure(entries, 100, 300, INDUCTION)
    check(fig, "progress over training")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "accuracy or score (0..1)" and "step" in ax.get_xlabel()


def test_probes_have_labels_and_a_colour_bar():
    sites = [{"site": name, "probe_accuracy": 0.9, "control_accuracy": 0.5, "selectivity": 0.4,
              "by_position": [0.5 + i / 40 for i in range(16)]}
             for name in ("hook_embed", "layers.0.hook_hidden", "layers.0.hook_cell")]
    fig = plots_sequences.probes_figure({"sites": sites}, BRACKETS)
    check(fig, "brackets:kind=dyck1")
    assert colour_bar_labels(fig) == ["probe accuracy (0..1)"]
    assert fig.axes[0].get_xlabel() and fig.axes[1].get_xlabel() == "position in the word"


# --- modular ---------------------------------------------------------------------------------------


def test_neurons_explain_their_share_and_have_a_colour_bar():
    p = 11
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    acts = np.stack([np.cos(2 * np.pi * k * (a + b) / p).ravel() for k in (1, 2, 3, 4)], axis=1)
    fig = plots_modular.neuron_grids_figure(acts, p, [0, 1, 2, 3], title="modular:p=11\ntop 4 neurons")
    text = check(fig, "modular:p=11")
    assert "of variance" in text and "a (first operand)" in text
    assert colour_bar_labels(fig) == ["activation (0 = neuron's min, 1 = its max)"]


def test_spectrum_has_a_legend_for_its_colours():
    fig = plots_modular.spectrum_figure(np.linspace(0.1, 0.2, 6), [2, 4], title="modular:p=11\nspectrum")
    text = check(fig, "modular:p=11")
    assert "key frequency" in text and fig.axes[0].get_ylabel()


# --- alignment, LLC -----------------------------------------------------------------------------------


def test_alignment_explains_boxes_and_blanks():
    subs = [{"expression": "tally(is(tokens, tok1))", "site": "layers.0.cell",
             "by_site": [{"site": "embed", "iia": 0.1}, {"site": "layers.0.cell", "iia": 0.9}]},
            {"expression": "last(eq0(tally(is(tokens, tok1))))", "site": "layers.0.cell",
             "by_site": [{"site": "embed", "iia": None}, {"site": "layers.0.cell", "iia": 0.4}]}]
    alignment = {"source": "synthesizer", "program": "last(eq0(tally(is(tokens, tok1)))) " * 4,
                 "sites": ["embed", "layers.0.cell"], "subexpressions": subs}
    fig = plots_align.iia_figure(alignment, BRACKETS)
    text = check(fig, "brackets:kind=dyck1")
    assert "best probe site" in text and "not measured at this site" in text
    assert colour_bar_labels(fig) == ["IIA (interchange-intervention accuracy, 0..1)"]


def test_llc_calibration_draws_a_diverged_run_off_the_value_axis():
    rows = [{"nbeta": 47.5, "epsilon": e, "mean": m, "sd": 1.0}
            for e, m in ((1e-5, 1.0), (1e-4, 6.0), (1e-3, None))]
    fig = plots_llc.calibration_figure(rows, "modular:p=23")
    text = check(fig, "modular:p=23")
    assert "diverged (no estimate)" in text
    ax = fig.axes[0]
    cross = next(line for line in ax.get_lines() if line.get_label() == "diverged (no estimate)")
    assert cross.get_transform() != ax.transData  # at the axes' edge, not at an estimate of 0


# --- training and learning curves -------------------------------------------------------------------


def test_training_curves_title_names_the_task_and_method_briefly(tmp_path):
    history = {"step": [0, 10, 100], "train_acc": [0.1, 0.5, 1.0], "train_loss": [4.0, 1.0, 0.1],
               "test_acc": [0.1, 0.2, 0.9], "test_loss": [4.0, 3.0, 0.5]}
    spec = "transformer:" + ",".join(f"option_{i}={i}" for i in range(40))
    path = tmp_path / "curves.png"
    plot_history(history, path, title=f"modular:p=59,test_fraction=0.6  {spec}")
    assert path.stat().st_size > 0
    fig = history_figure(history, "modular:p=59,test_fraction=0.6\ntransformer: training curves")
    text = check(fig, "transformer: training curves")
    assert "option_3" not in text and fig.axes[0].get_ylabel() and fig.axes[1].get_xlabel()


def test_learning_curves_legend_beside_the_axes():
    def point(n, mean):
        return Point(n=n, mean=mean, low=mean - 0.1, high=mean + 0.1, median=mean, seeds=3)

    points = [point(n, 0.5 + n / 1000) for n in (2, 8, 32)]
    group = [Summary(task=BRACKETS, method=m, method_spec=m, points=points, n99=None, aulc=0.5, ood={},
                     ood_curves={"longer": [point(32, 0.4)]}, program=None,
                     cells=9, failed=0)
             for m in ("lookup", "lstm", "synth")]
    fig = curves_figure(BRACKETS, group)
    text = check(fig, "brackets:kind=dyck1")
    ax = fig.axes[0]
    assert ax.get_ylabel() and "log" in ax.get_xlabel() and "95% bootstrap" in text
    assert ax.get_legend().get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1  # outside the axes


@pytest.mark.parametrize("spec", [BRACKETS, "modular:p=59", "x" * 90])
def test_brief_breaks_specs_after_commas_into_two_lines(spec):
    lines = brief(spec, 60).split("\n")
    assert len(lines) <= 2 and "".join(lines).replace("…", "") in spec.replace(",…", "")
