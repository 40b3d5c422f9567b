"""Settings apart from machinery: the learners' default settings by the shape of the data, and the
presets of the grid. Each choice sits beside the measurement that justified it.

Defaults follow the *shape* of the data, never a task family's name, so an examples file gets the
settings of the built-in task it looks like:

- ``fixed``: a fixed number of operands, one label each (modular arithmetic);
- ``sequence``: token sequences of varying length, padded, one label each (bracket matching);
- ``per_position``: a target at each position (induction copying).
"""

from __future__ import annotations

from typing import Any

from tasks import Split

SHAPES = ("fixed", "sequence", "per_position")


def data_shape(split: Split) -> str:
    """Which of :data:`SHAPES` the data of ``split`` has."""
    if split.per_position:
        return "per_position"
    return "sequence" if split.pad_id is not None else "fixed"


#: Defaults per data shape and method (a method spec's own parameters win over these).
#: fixed: the transformer groks addition mod 59 from half the pairs (the quick preset: 99.7 ± 1.2% at n=1740,
#: 3 seeds, 1,500 steps); at 40% train only seed 0 of 5 reached 99% within 1,500 steps (step 1021;
#: seeds 3, 4 ended at 0.88, 0.98) and the MLP memorized without generalizing
#: (benchmarks/mechanisms_modular.py).
#: sequence: rotary positions generalize to longer words better than learned ones (Dyck-2 at 2x
#: length: 0.89 against 0.68); minibatches of 64.
#: per_position: the 2-layer attention-only model of Olsson et al. with relative position biases
#: (longer OOD split: 0.976 against 0.876 with rotary, whose logits at offsets never seen in
#: training drift); minibatches of 128. Measured on an examples file of 3,000 sequences of 24 tokens:
#: the generic settings (full batch, d_model 128) took 2.5 s a step, these take milliseconds.
SHAPE_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "fixed": {
        "transformer": dict(
            d_model=64, n_heads=4, d_mlp=256, use_bias=False, lr=3e-3, weight_decay=1.0, steps=1500,
        ),
        "mlp": dict(d_embed=32, d_mlp=256, lr=3e-3, weight_decay=1.0, steps=1500),
        "lstm": dict(d_embed=32, d_hidden=128, lr=3e-3, weight_decay=0.1, steps=1500),
    },
    "sequence": {
        "transformer": dict(
            n_layers=2, d_model=32, n_heads=2, d_mlp=64, normalization=True, positional="rotary", lr=3e-3,
            weight_decay=0.1, batch_size=64, steps=1500,
        ),
        "mlp": dict(d_embed=16, d_mlp=128, lr=3e-3, weight_decay=0.1, batch_size=64, steps=1500),
        "lstm": dict(d_embed=16, d_hidden=32, lr=1e-2, weight_decay=0.01, batch_size=64, steps=1000),
    },
    "per_position": {
        "transformer": dict(
            n_layers=2, attn_only=True, d_model=64, n_heads=2, positional="relative", lr=3e-3,
            weight_decay=0.01, batch_size=128, steps=3000,
        ),
        "lstm": dict(d_embed=32, d_hidden=128, lr=3e-3, weight_decay=0.01, batch_size=128, steps=1500),
    },
}  # fmt: skip


def defaults_for(method: str, split: Split | None) -> dict[str, Any]:
    """The default parameters of ``method`` for data shaped like ``split`` (none without a split)."""
    if split is None:
        return {}
    return dict(SHAPE_DEFAULTS[data_shape(split)].get(method, {}))


# --- the one-network commands ------------------------------------------------------------------

#: Training examples of the one-network commands when ``--n`` is not given: at most this many of the
#: task's pool. ``train``: 1,000 (one learner, seconds on a CPU; ``dlps synth`` draws 8: a program is
#: found from a few examples); ``mechanisms`` and ``llc-calibrate``: 4,000, so that the modular tasks'
#: networks see their whole pool (p = 59 at the default test fraction: 1,740 pairs) and generalize;
#: ``align``: 1,000 (its probes and interchange pairs read 300 rows of each split).
COMMAND_N: dict[str, int] = {
    "train": 1000, "synth": 8, "mechanisms": 4000, "align": 1000, "llc-calibrate": 4000,
}
#: The synthesizer's time limit in the one-learner commands (``dlps synth``, ``dlps train --method
#: synth``): a one-off search should end; grid cells keep none, so that a cell's result never depends
#: on the machine's speed (budgets there are candidates and bank memory).
SINGLE_SYNTH_SECONDS = 60.0
