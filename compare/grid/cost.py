"""What a grid will cost before it runs: CPU seconds per cell from a per-step cost model.

A network cell's cost is what its training loop does, step by step, in the stacks the runner will
form (:func:`compare.runner.make_jobs`, :func:`baselines.batched.plan_stacks`):

    step(stack of M models, r rows each) = c_op · ops + c_param · M · params + c_flop · M · r · 3 · flops

``ops`` counts the model's per-step units of op dispatch (one per layer, and per position for a
recurrence), ``params`` its weights (each product and AdamW pass reads every model's weights),
``flops`` its multiply-adds per row forward (backward is about twice that). Each evaluation runs
every model on its training rows and the test split (``c_eval`` per forward flop), and each
network cell then computes its mechanism summary. The synthesizer's cost depends on the program it
finds, which no formula knows up front, so it is a per-cell figure by data shape measured on the
quick preset's tasks, beside what a cell costs when no program fits within its budget and the
search runs until a budget stops it (start-up plus a cost per MB of value bank or per candidate,
or its time limit); classic learners cost ``a + b · n · width`` per cell, and on per-position
targets (one estimator per position j, on the first j + 1 tokens) ``L · a + b · n · L(L + 1)/2``,
with ``a`` and ``b`` by data shape, scaled by the number of classes for learners that fit a model
per class (boosted trees, logistic regression).

The constants (:data:`compare.settings.costs.COST_MODEL`) were measured on this project's 2-core machine
by ``python benchmarks/cost_model.py``, which re-measures them; all figures are CPU seconds of one
worker with one torch thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from baselines.training import eval_schedule
from compare.grid.cells import Cell
from compare.methods import build, learner_class
from compare.settings.defaults import data_shape
from mechanisms.registry import CostQuery, for_cell
from tasks import parse_task
from tasks.spec import split_spec

#: Parameters looked up (embeddings, position tables, relative biases), not multiplied: no flops.
LOOKUP_PARAMS = ("W_E", "W_pos", "W_rel")


@dataclass(frozen=True)
class NetworkShape:
    """What the cost of training one network depends on (see the module docstring)."""

    key: str  # "<data shape>/<method>": which constants apply
    ops: float
    params: int
    flops: float  # multiply-adds x 2 per row, forward
    batch_size: int | None
    steps: int
    evals: int
    device: str = "auto"
    tokens_per_row: int = 1  # what a stack's token cap counts (baselines.batched.row_tokens)


def constants() -> dict[str, Any]:
    from compare.settings.costs import COST_MODEL

    return COST_MODEL


def _network_constants(key: str) -> dict[str, float]:
    table = constants()["network"]
    if key in table:
        return table[key]
    method = key.split("/")[1]
    same_method = [k for k in table if k.endswith("/" + method)]
    return table[same_method[0]] if same_method else table["fixed/transformer"]


@cache
def _learner(task_spec: str, method_spec: str) -> Any:
    """An unfitted learner of a cell's spec (seed 0: the cost does not depend on it)."""
    return build(method_spec, parse_task(task_spec), 0)


@cache
def network_shape(task_spec: str, method_spec: str) -> NetworkShape:
    """The cost-relevant shape of the network a cell of ``method_spec`` on ``task_spec`` trains, from
    the architecture's adapter (:mod:`baselines.architectures`)."""
    split = parse_task(task_spec).test_split()
    learner = _learner(task_spec, method_spec)
    learner.d_vocab_ = learner.d_vocab if learner.d_vocab is not None else split.d_vocab
    learner.n_classes_ = learner.n_classes if learner.n_classes is not None else split.n_classes
    learner.per_position_ = split.per_position
    learner.n_features_in_ = split.X.shape[1]
    model = learner.build_model(split.X.shape[1])
    cfg, arch = model.cfg, learner.architecture
    tokens = arch.tokens_per_row(split.X.shape[1], split.per_position)
    readouts = tokens if split.per_position else 1
    flops = 0.0
    for name, p in model.named_parameters():
        leaf = name.rpartition(".")[2]
        if p.dim() < 2 or leaf in LOOKUP_PARAMS:
            continue
        flops += 2 * p.numel() * (readouts if leaf == "W_U" else tokens)
    flops += arch.attention_flops(cfg, tokens)
    params = sum(p.numel() for p in model.parameters())
    evals = len(eval_schedule(learner.steps, learner.eval_points))
    key = f"{data_shape(split)}/{learner.method_name}"
    ops = arch.step_ops(cfg, tokens)
    return NetworkShape(key, ops, params, flops, learner.batch_size, learner.steps, evals, learner.device,
                        tokens)


def step_seconds(shape: NetworkShape, models: int, rows: int) -> float:
    """CPU seconds of one training step of a stack of ``models`` models with ``rows`` rows each."""
    c = _network_constants(shape.key)
    work = c["param"] * models * shape.params + c["flop"] * models * rows * 3 * shape.flops
    return c["op"] * shape.ops + work


def network_job_seconds(cells: Sequence[Cell], test_rows: int) -> float:
    """CPU seconds of one network job (one stack, :func:`compare.grid.jobs.make_jobs`): its training
    and evaluations, scoring and every cell's analyses."""
    shape = network_shape(cells[0].task, cells[0].method_spec)
    c = _network_constants(shape.key)
    n_max = max(cell.n for cell in cells)
    rows = min(n_max, shape.batch_size) if shape.batch_size else n_max
    total = shape.steps * step_seconds(shape, len(cells), rows)
    total += shape.evals * len(cells) * (n_max + test_rows) * shape.flops * c["eval"]
    scoring = sum(cell.n + 2 * test_rows for cell in cells) * shape.flops * c["eval"]
    return total + scoring + sum(analyses_seconds(cell) for cell in cells)


def analyses_seconds(cell: Cell) -> float:
    """CPU seconds of the analyses a cell runs (:mod:`mechanisms.registry`), each by its own cost."""
    task = parse_task(cell.task)
    split = task.test_split()
    learner = _learner(cell.task, cell.method_spec)
    query = CostQuery(learner, task, split, cell.n, None, constants(), data_shape(split))
    if learner.has_model:
        shape = network_shape(cell.task, cell.method_spec)
        forward = shape.flops * _network_constants(shape.key)["eval"]
        query = replace(query, steps=shape.steps, step_seconds=lambda rows: step_seconds(shape, 1, rows),
                        forward_seconds=lambda rows: rows * forward)
    return sum(analysis.cost(query) for analysis in for_cell(cell.stamps, type(learner)))


def cell_seconds(cell: Cell, task: Any, method: str, spent: bool = False) -> float:
    """CPU seconds of a cell that runs on its own (the synthesizer, classic learners) and its
    analyses; ``spent``: of a synthesizer cell that spends its whole budget (:func:`synth_budget_seconds`)."""
    c = constants()
    if learner_class(method).finds_programs:
        shape = data_shape(task.test_split())
        bound = synth_budget_seconds(cell.method_spec, shape)
        seconds = bound if spent else min(c["synth"][shape], bound)
        return seconds + analyses_seconds(cell)
    return classic_seconds(task.test_split(), method, cell.n) + analyses_seconds(cell)


def classic_terms(split: Any) -> tuple[float, float]:
    """How a classic learner's work grows on data like ``split``: ``(estimators, features)``, its
    cost being ``a · estimators + b · n · features`` for ``n`` training rows. One estimator on the
    row's tokens; on per-position targets, one per position j on the first j + 1 tokens."""
    if split.per_position:  # baselines.classic: one estimator per position, on its prefix
        positions = split.y.shape[1]
        return positions, positions * (positions + 1) / 2
    return 1, split.X.shape[1]


def classic_seconds(split: Any, method: str, n: int) -> float:
    """CPU seconds of a classic learner's cell of ``n`` rows on data like ``split``: the constants
    of its data shape (measured on that shape's reference task), times the models it fits per class
    against the reference task's classes where it fits one a class (``fits_per_class``)."""
    from compare.methods import learner_class
    from compare.settings.defaults import data_shape

    table = constants()["classic"]
    shape = data_shape(split)
    c = table.get(f"{shape}/{method}", table[f"{shape}/lookup"])
    scale = 1.0
    if getattr(learner_class(method), "fits_per_class", False):
        scale = _per_class_models(split.n_classes) / _per_class_models(c["classes"])
    estimators, features = classic_terms(split)
    return scale * (c["a"] * estimators + c["b"] * n * features)


def _per_class_models(classes: int) -> int:
    return 1 if classes <= 2 else classes


@cache
def _defaults(name: str) -> Any:
    """A learner of method ``name`` with its default parameters (what a spec that leaves one out gets)."""
    return learner_class(name)()


def synth_budget_seconds(method_spec: str, shape: str) -> float:
    """CPU seconds of a synthesizer cell (``method_spec``, data of ``shape``) whose search runs until
    a budget stops it: the first of its value bank filled (``max_bank_mb``), its candidates tried
    (``max_candidates``) and its time limit; ``inf`` when none of them is set. (``max_bits`` bounds
    the search too, at a cost no formula knows, so this is the most a cell costs on this model.)"""
    c = constants()["synth_budget"][shape]
    method, params = split_spec(method_spec)

    def budget(name: str) -> float:
        value = params.get(name, getattr(_defaults(method), name))
        return math.inf if value in (None, "none") else float(value)

    return min(
        c["start"] + c["bank_mb"] * budget("max_bank_mb"),
        c["start"] + c["candidate"] * budget("max_candidates"),
        budget("time_limit"),
    )


def duration(seconds: float) -> str:
    """``seconds`` for a person: 0.4 s, 12 s, 3.5 min, 2.1 h."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
