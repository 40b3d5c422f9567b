"""Train many small models of one architecture at once: parameters stacked by hand.

A grid trains hundreds of tiny models (sizes × seeds × methods) and a CPU runs one large batched
matrix product much faster than many small ones. :class:`StackedEngine` holds the parameters of
``M`` models stacked along a leading axis (:func:`baselines.stacking.stack_modules`) and runs all of
them in one forward pass of batched products; the training loop
(:func:`baselines.training.train_models`) is the same as for a single model, so each model follows
the path it would follow alone (up to floating-point summation order).

When several worker processes train side by side, give each one torch thread
(:func:`limit_threads`): threads of different processes on a shared core slow each other down by
3–80× (measured on this project's 2-core machine).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.base import clone
from torch import nn

from baselines.base import as_pair, infer_sizes
from baselines.learners import NeuralLearner, train_group
from baselines.stacking import stack_modules
from tasks.learners import LEARNERS


class StackedEngine:
    """``M`` models of one architecture, run together as one stacked module."""

    def __init__(self, models: list[nn.Module]) -> None:
        self.n_models = len(models)
        self.module = stack_modules(models)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.module.parameters())

    def logits(self, X: torch.Tensor, R: torch.Tensor | None, shared: bool = False) -> torch.Tensor:
        if shared:
            X = X.expand(self.n_models, *X.shape)
            R = None if R is None else R.expand(self.n_models, *R.shape)
        return self.module(X, R)

    def state(self, m: int) -> dict[str, torch.Tensor]:
        return {n: p[m].detach().cpu().clone() for n, p in self.module.state_dict().items()}


def limit_threads(n: int = 1) -> None:
    """Use ``n`` torch threads in this process (call once per worker when processes run side by side)."""
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # interop threads can only be set before the first parallel work
        pass


#: Per-step cost of running one stack, beyond its models' rows and weights, in units of the cost of
#: one training row: measured here at 120-170 rows for the family defaults (modular transformer:
#: 1.6 ms against 10 µs a row; MLP 0.8 ms against 4.6 µs; brackets LSTM 3.4 ms against 29 µs).
OVERHEAD_ROWS = 150


def stack_overhead(device: str) -> float:
    """:data:`OVERHEAD_ROWS` for models trained on ``device``: on a GPU a step's fixed cost (kernel
    launches, tens of microseconds each) dwarfs the rows of these tiny models, so all of them form
    one stack (up to ``max_models``)."""
    from baselines.learners import resolve_device

    return OVERHEAD_ROWS if resolve_device(device).type == "cpu" else math.inf


#: On a CPU, a stack's step touches at most about this many tokens (models × batch rows × tokens a
#: row): past it the step's activations spill out of the cache, and this VM's memory streams only ~3
#: GB/s. Measured here (CPU s, 3 seeds, best of 2): induction transformers at n = 128..2048, 150
#: steps: 9 models a stack 15.6, 5 12.1, 3 12.2; Dyck-1 LSTMs 11.0 / 10.3 / 9.9; addition mod 59 at
#: batch 256 (12 models): 14.1 / 13.7 (6) / 14.4 (4); tiny modular sets (n = 2..32, 15 models,
#: ~100 tokens a model) are unaffected.
STACK_TOKENS = 5000


def row_tokens(learner: str | type | NeuralLearner, width: int, per_position: bool) -> int:
    """Tokens one training row puts through a network (what :data:`STACK_TOKENS` counts), as its
    architecture says (:meth:`baselines.architectures.Architecture.tokens_per_row`): the MLP reads a
    row as one input; sequence models read its ``width`` tokens, plus the separator where one label is
    read out. ``learner``: a network learner, its class, or its method name."""
    cls = LEARNERS[learner] if isinstance(learner, str) else learner
    return cls.architecture.tokens_per_row(width, per_position)


def plan_stacks(
    sizes: list[int],
    batch_size: int | None,
    max_models: int | None = None,
    overhead_rows: float = OVERHEAD_ROWS,
    tokens_per_row: int | None = None,
) -> list[list[int]]:
    """Split models (training-set ``sizes``) into stacks that train fastest together.

    A stack pads every model to its largest batch, so one stack for sizes 64 and 4096 would do 64×
    the work of the small model. Per training step a stack costs about ``overhead_rows + M × rows``
    (rows: its largest batch, ``min(n, batch_size)``); the plan that minimizes the sum over stacks is
    found exactly by dynamic programming over the models sorted by size (optimal stacks are
    contiguous there). ``max_models`` caps the models in one stack; with ``tokens_per_row``
    (:func:`row_tokens`), a CPU stack also keeps ``M × rows × tokens_per_row`` within
    :data:`STACK_TOKENS` (a single model may exceed it).
    """
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    cap = max_models or len(order)
    if math.isinf(overhead_rows):  # one stack (of at most cap models) whatever the sizes
        return [order[i : i + cap] for i in range(0, len(order), cap)]
    rows = [min(sizes[i], batch_size) if batch_size else sizes[i] for i in order]
    best = [0.0] + [float("inf")] * len(order)  # best[j]: cheapest plan for the first j models
    cut = [0] * (len(order) + 1)
    for j in range(1, len(order) + 1):
        for i in range(max(0, j - cap), j):  # stack = models i..j-1, the largest is j-1
            if tokens_per_row and j - i > 1 and (j - i) * rows[j - 1] * tokens_per_row > STACK_TOKENS:
                continue
            # Ties go to even stacks (the ε term): they balance the workers that run them.
            cost = best[i] + overhead_rows + (j - i) * rows[j - 1] + 1e-6 * (j - i) ** 2
            if cost < best[j]:
                best[j], cut[j] = cost, i
    stacks, j = [], len(order)
    while j > 0:
        stacks.append([order[k] for k in range(cut[j], j)])
        j = cut[j]
    return stacks[::-1]


def fit_many(
    learner,
    datasets: list[tuple],
    seeds: list[int | None] | None = None,
    eval_sets: dict | None = None,
    max_models: int | None = None,
) -> list:
    """Fit one clone of ``learner`` per dataset in a single vectorized training run.

    ``datasets``: a list of ``(X, y)`` (or ``tasks.Split``); ``seeds``: the ``random_state`` of each
    clone (default: the learner's own for all); ``eval_sets``: name → ``(X, y)`` or Split, shared by
    all clones and only logged. Returns the fitted clones, in order. Each clone matches
    ``clone(learner).set_params(random_state=seed).fit(X, y, eval_sets)`` within float tolerance;
    its ``fit_seconds_`` is its share of the run's wall time.

    ``d_vocab`` and ``n_classes`` left as None are inferred once over all datasets (so that the
    models can be stacked). Models are split into stacks by :func:`plan_stacks` (similar sizes
    together); ``max_models`` caps the models of one stack (memory). Learners that are not neural
    networks are fitted one by one.
    """
    pairs = [tuple(map(np.asarray, as_pair(d))) for d in datasets]
    seeds = [learner.random_state] * len(pairs) if seeds is None else list(seeds)
    if len(seeds) != len(pairs):
        raise ValueError(f"got {len(pairs)} datasets but {len(seeds)} seeds")
    clones = [clone(learner).set_params(random_state=s) for s in seeds]
    if not isinstance(learner, NeuralLearner):
        return [c.fit(X, y) for c, (X, y) in zip(clones, pairs, strict=True)]
    if learner.d_vocab is None or learner.n_classes is None:
        every = pairs + [tuple(map(np.asarray, as_pair(v))) for v in (eval_sets or {}).values()]
        d_vocab, n_classes = infer_sizes(learner.d_vocab, learner.n_classes, learner.pad_id, every)
        for c in clones:
            c.set_params(d_vocab=d_vocab, n_classes=n_classes)
    # Models can share a stack only with inputs of one width (the architecture may depend on it).
    groups: dict[tuple, list[int]] = {}
    for i, (X, y) in enumerate(pairs):
        groups.setdefault((X.shape[1:], y.shape[1:]), []).append(i)
    overhead = stack_overhead(learner.device)
    for (width, target), members in groups.items():
        sizes = [len(pairs[i][0]) for i in members]
        tokens = learner.architecture.tokens_per_row(width[0] if width else 1, len(target) > 0)
        for stack in plan_stacks(sizes, learner.batch_size, max_models, overhead, tokens):
            part = [members[k] for k in stack]
            train_group([clones[i] for i in part], [pairs[i] for i in part], eval_sets, StackedEngine)
    return clones
