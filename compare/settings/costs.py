"""The cost model's constants (:mod:`compare.grid.cost`), as measured by ``benchmarks/cost_model.py``."""

from __future__ import annotations

from typing import Any

#: The constants of compare/grid/cost.py (CPU seconds of one worker, one torch thread), measured on this
#: project's 2-core machine by ``python benchmarks/cost_model.py`` (which prints this dict; rerun it on
#: other hardware; measured here pinned to one core with the other idle: a grid's two workers share
#: the memory bandwidth, so its actual CPU time runs above these). network: per (data shape/method),
#: seconds per dispatch unit (``op``), per weight per model (``param``), per training flop (``flop``)
#: and per forward flop of evaluation (``eval``);
#: mechanism: the Fourier summary per checkpoint at p=59, the sequence summary per cell; synth: per
#: cell by data shape (mean over the quick preset's cells: Dyck-1 dominates "sequence"); synth_budget:
#: a cell whose search runs until a budget stops it (start-up, per MB of value bank, per candidate
#: tried); classic: per
#: (data shape, learner) ``a`` and ``b`` of ``a·estimators + b·n·features`` and the reference task's
#: classes; job: building a job's task and splits; worker_start: a worker's imports.
COST_MODEL: dict[str, Any] = {
    "network": {
        "fixed/transformer": {"op": 3.513e-05, "param": 8.351e-09, "flop": 1.33e-11, "eval": 1.651e-11},
        "fixed/mlp": {"op": 0.0004461, "param": 2.029e-10, "flop": 2.69e-11, "eval": 2.934e-11},
        "fixed/lstm": {"op": 0.0003493, "param": 1.275e-09, "flop": 1.842e-11, "eval": 2.68e-11},
        "sequence/transformer": {"op": 0.0006826, "param": 6.382e-09, "flop": 4.96e-11, "eval": 3.948e-11},
        "sequence/mlp": {"op": 0.0002468, "param": 1.274e-09, "flop": 1.76e-11, "eval": 1.814e-11},
        "sequence/lstm": {"op": 0.0001071, "param": 0.0, "flop": 4.951e-11, "eval": 5.38e-11},
        "per_position/transformer": {
            "op": 0.0004183,
            "param": 8.581e-09,
            "flop": 2.442e-11,
            "eval": 3.37e-11,
        },
        "per_position/lstm": {"op": 0.0001296, "param": 1.286e-08, "flop": 2.572e-11, "eval": 2.157e-11},
    },
    "mechanism": {"fourier_checkpoint": 0.02346, "sequence": 0.1382},
    "synth": {"fixed": 0.001532, "sequence": 0.9006, "per_position": 0.005137},
    # Measured on another day than the rest, when this VM ran the quick preset 1.7x slower (150 s
    # against 81-93 s): as the most a cell costs, these err high.
    "synth_budget": {
        "fixed": {"start": 0.09312, "bank_mb": 0.01067, "candidate": 1.353e-07},
        "sequence": {"start": 0.9388, "bank_mb": 0.03668, "candidate": 9.02e-06},
        "per_position": {"start": 0.3109, "bank_mb": 0.02213, "candidate": 3.603e-05},
    },
    # Measured on the day of synth_budget, by data shape on each shape's reference task, scoring included.
    "classic": {
        "fixed/lookup": {"a": 0.002047, "b": 2.593e-06, "classes": 59},
        "fixed/knn": {"a": 0.02265, "b": 2.146e-05, "classes": 59},
        "fixed/logistic": {"a": 0.0197, "b": 8.082e-06, "classes": 59},
        "fixed/gbt": {"a": 1.814, "b": 0.001353, "classes": 59},
        "sequence/lookup": {"a": 0.001426, "b": 3.217e-07, "classes": 2},
        "sequence/knn": {"a": 0.0339, "b": 1.021e-05, "classes": 2},
        "sequence/logistic": {"a": 0.04065, "b": 1.079e-06, "classes": 2},
        "sequence/gbt": {"a": 0.05145, "b": 2.781e-06, "classes": 2},
        "per_position/lookup": {"a": 0.001373, "b": 1.348e-07, "classes": 16},
        "per_position/knn": {"a": 0.01642, "b": 3.007e-06, "classes": 16},
        "per_position/logistic": {"a": 0.02491, "b": 6.386e-07, "classes": 16},
        "per_position/gbt": {"a": 0.1022, "b": 1.318e-05, "classes": 16},
    },
    "job": 0.01138,
    "worker_start": 3.832,
    # Not from the benchmark: the synthesizer's simplicity measures per cell (a second, bounded
    # posterior search), CPU seconds measured in a quick-preset run (Dyck-1 at n=512: 19-21 s a cell).
    "synth_simplicity": {"fixed": 0.0, "sequence": 19.0, "per_position": 0.05},
    # Not from the benchmark: a network cell's alignment (the synthesizer's search for the MAP program,
    # at most 10 s, then probes and interchange pairs at every architecture site, on calibration and
    # held-out halves), the mean of the seconds stored per cell in a run of 12 network cells
    # (transformer and LSTM, n = 128 and 340, seed 0; p = 23 x+y, Dyck-1, the quick induction task) with
    # the alignment of ce05fd0: fixed 0.23-1.21 s, sequence 6.95-31.9, per_position 2.5-5.2 (the
    # alignment before it: 0.41, 16.4, 8.06).
    "alignment": {"fixed": 0.66, "sequence": 16.3, "per_position": 3.86},
}  # fmt: skip
