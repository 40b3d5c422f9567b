"""The training loop: AdamW, full batch or minibatch, log-spaced evaluation, checkpoints, early stopping.

One loop trains ``M`` models side by side through an *engine* that owns their parameters: a
:class:`SingleEngine` wraps one ordinary ``nn.Module``; :class:`baselines.batched.StackedEngine`
holds the parameters of many models stacked along a leading axis and runs them in batched matrix
products (:mod:`baselines.stacking`). AdamW acts element by element, so one optimizer over stacked
parameters is exactly one optimizer per model, and the sum of per-model losses has per-model
gradients.

Targets use one format for every model: ``T`` of shape ``(n, P)`` holds the class at each scored
output position and ``UNSCORED`` (-1) elsewhere; the loss of a model is the mean cross-entropy over
its scored entries, its accuracy the share of scored entries predicted right.

Early stopping looks at the training data or at a validation part carved from it, never at the
``eval_sets`` (which are only logged).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from baselines.allocator import keep_freed_memory

#: Evaluation runs in chunks of about this many activation floats: bounds memory on big eval sets,
#: and chunks that stay near the cache run faster (a stack of 15 modular transformers: 3.8 µs a
#: test row at 2**23, 5.1 µs at 2**25, 6 µs at 2**19 where per-op costs take over).
EVAL_BUDGET = 2**23
STOP_MODES = ("none", "train", "validation")


def eval_chunk(n_models: int, width: int) -> int:
    """Rows per evaluation chunk for ``n_models`` models on rows of ``width`` tokens (about
    ``EVAL_BUDGET`` activation floats: attention grows with the square of the width)."""
    return max(1, EVAL_BUDGET // (n_models * width * (512 + 4 * width)))


@dataclass
class TrainConfig:
    """Optimization and logging settings (the learners' parameters of the same names)."""

    steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.98
    batch_size: int | None = None  # None: full batch
    warmup_steps: int = 0
    eval_points: int = 40
    checkpoint_steps: tuple[int, ...] = ()
    checkpoint_first_99: bool = False  # also keep the weights at the first evaluation with 99% train, test
    early_stopping: str = "none"  # "train" or "validation": stop once its accuracy >= stop_accuracy
    stop_accuracy: float = 1.0
    patience: int | None = None  # also stop after this many evaluations without a better loss
    # Grokfast-EMA (Lee et al. 2024): add grokfast_lambda times an EMA of past gradients (decay
    # grokfast_alpha) to each gradient, amplifying the slow components that drive generalization;
    # lambda 0 (the default) leaves training exactly as without it.
    grokfast_alpha: float = 0.98
    grokfast_lambda: float = 0.0

    def __post_init__(self) -> None:
        if self.early_stopping not in STOP_MODES:
            accepted = ", ".join(STOP_MODES)
            raise ValueError(f"unknown early_stopping {self.early_stopping!r}; accepted: {accepted}")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None, got {self.batch_size}")
        if not 0 <= self.grokfast_alpha < 1 or self.grokfast_lambda < 0:
            raise ValueError(
                f"grokfast_alpha must be in [0, 1) and grokfast_lambda >= 0, got {self.grokfast_alpha}, "
                f"{self.grokfast_lambda}"
            )


@dataclass
class Data:
    """Inputs ``X`` (n, k) and targets ``T`` (n, P) of one model, as tensors on the training device;
    ``R`` (n,): the position each row is read out at (then P = 1), or None for every position."""

    X: torch.Tensor
    T: torch.Tensor
    R: torch.Tensor | None = None

    def rows(self, index) -> Data:
        return Data(self.X[index], self.T[index], None if self.R is None else self.R[index])

    def __len__(self) -> int:
        return int(self.X.shape[0])


@dataclass
class Result:
    """What training one model leaves: its history, checkpoints and the step it stopped at."""

    history: dict[str, list[float]] = field(default_factory=dict)
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    stopped_step: int = 0
    final_state: dict[str, torch.Tensor] | None = None


class Engine(Protocol):
    """Runs ``M`` models: ``logits(X, R)`` maps X (M, b, k) and R (M, b) — (b, k) and (b,) when
    ``shared`` by all models — to logits (M, b, P, C)."""

    n_models: int

    def parameters(self) -> list[torch.Tensor]: ...

    def logits(self, X: torch.Tensor, R: torch.Tensor | None, shared: bool = False) -> torch.Tensor: ...

    def state(self, m: int) -> dict[str, torch.Tensor]: ...


class SingleEngine:
    """One ordinary module, seen by the loop as a stack of one."""

    n_models = 1

    def __init__(self, models: list[torch.nn.Module]) -> None:
        if len(models) != 1:
            raise ValueError(f"SingleEngine runs one model, got {len(models)}")
        self.model = models[0]

    def parameters(self) -> list[torch.Tensor]:
        return list(self.model.parameters())

    def logits(self, X: torch.Tensor, R: torch.Tensor | None, shared: bool = False) -> torch.Tensor:
        if not shared:
            X, R = X[0], None if R is None else R[0]
        return self.model(X, R)[None]

    def state(self, m: int) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}


def eval_schedule(steps: int, points: int) -> list[int]:
    """About ``points`` log-spaced steps in ``[0, steps]``, always with 0 and ``steps``."""
    if steps <= 0:
        return [0]
    grid = np.unique(np.round(np.logspace(0, math.log10(steps), max(points - 1, 1))).astype(int))
    return sorted({0, steps, *grid.tolist()})


def first_step(history: dict[str, list[float]], key: str, threshold: float) -> int | None:
    """The first logged step at which ``history[key]`` reached ``threshold`` (None if never)."""
    for step, value in zip(history.get("step", []), history.get(key, []), strict=False):
        if value is not None and value >= threshold:
            return int(step)
    return None


def masked_loss(logits: torch.Tensor, T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per model: summed cross-entropy and number of entries over the scored entries ``T >= 0``.

    ``logits`` (M, b, P, C) and ``T`` (M, b, P); the log-softmax runs in float64 because late in
    grokking the training loss falls below float32's resolution.
    """
    scored = T >= 0
    logp = torch.log_softmax(logits.double(), dim=-1).gather(-1, T.clamp(min=0)[..., None])[..., 0]
    return -(logp * scored).sum(dim=(1, 2)), scored.sum(dim=(1, 2))


def masked_stats(logits: torch.Tensor, T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per model: summed cross-entropy, number correct and number scored (see :func:`masked_loss`)."""
    loss, count = masked_loss(logits, T)
    correct = ((logits.argmax(-1) == T) & (T >= 0)).sum(dim=(1, 2))
    return loss, correct, count


def pad_stack(datas: list[Data]) -> Data:
    """Stack the datasets of ``M`` models to (M, n_max, ...); padded rows are all unscored."""
    n_max = max(len(d) for d in datas)
    X = datas[0].X.new_zeros((len(datas), n_max, datas[0].X.shape[1]))
    T = datas[0].T.new_full((len(datas), n_max, datas[0].T.shape[1]), -1)
    R = None if datas[0].R is None else datas[0].R.new_zeros((len(datas), n_max))
    for m, d in enumerate(datas):
        X[m, : len(d)], T[m, : len(d)] = d.X, d.T
        if R is not None:
            R[m, : len(d)] = d.R
    return Data(X, T, R)


def evaluate(engine: Engine, data: Data, shared: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean loss and accuracy per model on ``data`` (stacked, or ``shared`` by all models)."""
    n = data.X.shape[-2]
    chunk = eval_chunk(engine.n_models, data.X.shape[-1])
    totals = torch.zeros(3, engine.n_models, dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            part = data.rows(rows if shared else (slice(None), rows))
            T = part.T.expand(engine.n_models, *part.T.shape) if shared else part.T
            stats = masked_stats(engine.logits(part.X, part.R, shared=shared), T)
            totals += torch.stack([s.double().cpu() for s in stats])
    count = totals[2].clamp(min=1)
    return (totals[0] / count).numpy(), (totals[1] / count).numpy()


class BatchSampler:
    """Minibatch indices for each model from its own generator (epochs of random permutations)."""

    def __init__(self, sizes: list[int], batch_size: int | None, generators: list[torch.Generator]) -> None:
        self.sizes, self.generators = sizes, generators
        n_max = max(sizes)
        self.width = n_max if batch_size is None else min(batch_size, n_max)
        self.perms: list[torch.Tensor | None] = [None] * len(sizes)
        self.pos = [0] * len(sizes)

    def full(self) -> bool:
        return all(n <= self.width for n in self.sizes)

    def next(self) -> torch.Tensor:
        rows = []
        for m, n in enumerate(self.sizes):
            if n <= self.width:  # the whole set, then padding rows (which are unscored)
                rows.append(torch.arange(self.width))
                continue
            if self.perms[m] is None or self.pos[m] + self.width > n:
                self.perms[m], self.pos[m] = torch.randperm(n, generator=self.generators[m]), 0
            rows.append(self.perms[m][self.pos[m] : self.pos[m] + self.width])
            self.pos[m] += self.width
        return torch.stack(rows)


def _record(history: dict[str, list[float]], step: int, name: str, loss: float, acc: float) -> None:
    history.setdefault("step", [])
    if not history["step"] or history["step"][-1] != step:
        history["step"].append(step)
    history.setdefault(f"{name}_loss", []).append(float(loss))
    history.setdefault(f"{name}_acc", []).append(float(acc))


def train_models(
    engine: Engine,
    datas: list[Data],
    cfg: TrainConfig,
    generators: list[torch.Generator],
    vals: list[Data | None] | None = None,
    eval_sets: dict[str, Data] | None = None,
    on_eval: Callable[[int, list[Result]], None] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> list[Result]:
    """Train the engine's ``M`` models, model ``m`` on ``datas[m]`` drawing batches from ``generators[m]``.

    ``vals[m]`` is model m's validation part (carved from its training data by the caller) and is
    what ``early_stopping="validation"`` watches; ``eval_sets`` are shared by all models and only
    logged; ``on_eval(step, results)`` is called after each evaluation and ``on_step(steps_done)``
    after each optimizer step (progress reports; neither can change training). A model
    that stops keeps its parameters of that step (``Result.final_state``), while
    the others train on.
    """
    keep_freed_memory()  # each step reallocates what the last one freed: no page faults for it
    M = engine.n_models
    vals = vals or [None] * M
    eval_sets = eval_sets or {}
    if cfg.early_stopping == "validation" and any(v is None for v in vals):
        raise ValueError("early_stopping='validation' needs a validation part for every model")
    results = [Result() for _ in range(M)]
    active = [True] * M
    best = [math.inf] * M
    waited = [0] * M
    stacked = pad_stack(datas)
    stacked_vals = pad_stack([v for v in vals if v is not None]) if vals[0] is not None else None
    sampler = BatchSampler([len(d) for d in datas], cfg.batch_size, generators)
    params = engine.parameters()
    opt = _adamw(params, cfg)
    warm = max(cfg.warmup_steps, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm)) if warm > 1 else None
    checkpoints = set(cfg.checkpoint_steps)
    schedule = set(eval_schedule(cfg.steps, cfg.eval_points))
    device = stacked.X.device
    batch = stacked if sampler.full() else None
    grokfast = GradientEMA(cfg.grokfast_alpha, cfg.grokfast_lambda) if cfg.grokfast_lambda > 0 else None
    for step in range(cfg.steps + 1):
        if step in checkpoints:
            for m in range(M):
                if active[m]:
                    results[m].checkpoints[step] = engine.state(m)
        if step in schedule:
            was_active = list(active)
            _log_and_stop(engine, step, stacked, stacked_vals, eval_sets, cfg, results, active, best, waited)
            if cfg.checkpoint_first_99:
                _checkpoint_first_99(engine, step, results, was_active)
            if on_eval is not None:
                on_eval(step, results)
            if not any(active):
                break
        if step == cfg.steps:
            break
        if not sampler.full():
            idx = sampler.next().to(device)
            batch = stacked.rows((torch.arange(M, device=device)[:, None], idx))
        loss, count = masked_loss(engine.logits(batch.X, batch.R), batch.T)
        opt.zero_grad(set_to_none=True)
        (loss / count.clamp(min=1)).sum().backward()
        if grokfast is not None:
            grokfast.filter(params)
        opt.step()
        if sched is not None:
            sched.step()
        if on_step is not None:
            on_step(step + 1)
    for m in range(M):
        if active[m]:
            results[m].stopped_step, results[m].final_state = step, engine.state(m)
    return results


class GradientEMA:
    """Grokfast-EMA's gradient filter (Lee et al. 2024, ``gradfilter_ema``): keeps ``ema``, an
    exponential moving average of each parameter's gradients (decay ``alpha``, started at the first
    gradient), and replaces each gradient ``g`` by ``g + lamb * ema``.

    It acts element by element, so on stacked parameters it is the filter of each model on its own.
    """

    def __init__(self, alpha: float, lamb: float) -> None:
        self.alpha, self.lamb = alpha, lamb
        self.ema: dict[int, torch.Tensor] = {}  # parameter index -> average (parameters without a
        # gradient at a step, such as unused embeddings with sparse paths, keep theirs untouched)

    def filter(self, params: list[torch.Tensor]) -> None:
        """Update the averages with the current ``.grad`` of ``params`` and amplify those in place."""
        with torch.no_grad():
            seen = [i for i, p in enumerate(params) if p.grad is not None and i in self.ema]
            for i, p in enumerate(params):
                if p.grad is not None and i not in self.ema:
                    self.ema[i] = p.grad.detach().clone()  # Grokfast starts the average at the first gradient
            if seen:
                ema, grads = [self.ema[i] for i in seen], [params[i].grad for i in seen]
                torch._foreach_mul_(ema, self.alpha)
                torch._foreach_add_(ema, grads, alpha=1 - self.alpha)
            present = [i for i, p in enumerate(params) if p.grad is not None]
            grads = [params[i].grad for i in present]
            torch._foreach_add_(grads, [self.ema[i] for i in present], alpha=self.lamb)


def _checkpoint_first_99(engine: Engine, step: int, results: list[Result], active: list[bool]) -> None:
    """Keep model m's weights at ``step`` when its train or test accuracy first reaches 99% there
    (mechanism analysis compares the two moments)."""
    for m, result in enumerate(results):
        if not active[m] or step in result.checkpoints:
            continue
        for part in ("train", "test"):
            accs = result.history.get(f"{part}_acc", [])
            if accs and accs[-1] >= 0.99 and all(a < 0.99 for a in accs[:-1]):
                result.checkpoints[step] = engine.state(m)
                break


def _adamw(params: list[torch.Tensor], cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; the fused kernel (one pass over each parameter, ~10% faster per step here) where this
    torch has it for the parameters' device, else the multi-tensor one."""
    kwargs = dict(lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(cfg.beta1, cfg.beta2))
    try:
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except RuntimeError:  # torch < 2.4 fuses on CUDA only
        return torch.optim.AdamW(params, foreach=True, **kwargs)


def _log_and_stop(engine, step, stacked, stacked_vals, eval_sets, cfg, results, active, best, waited) -> None:
    """Evaluate every active model at ``step``; mark those whose stopping rule fires as stopped."""
    parts = {"train": (stacked, False)}
    if stacked_vals is not None:
        parts["val"] = (stacked_vals, False)
    parts.update({name: (data, True) for name, data in eval_sets.items()})
    scores = {name: evaluate(engine, data, shared) for name, (data, shared) in parts.items()}
    watch = {"train": "train", "validation": "val"}.get(cfg.early_stopping)
    for m in range(engine.n_models):
        if not active[m]:
            continue
        for name, (loss, acc) in scores.items():
            _record(results[m].history, step, name, loss[m], acc[m])
        if watch is None:
            continue
        loss, acc = scores[watch][0][m], scores[watch][1][m]
        waited[m] = 0 if loss < best[m] else waited[m] + 1
        best[m] = min(best[m], loss)
        patience_out = cfg.patience is not None and waited[m] > cfg.patience
        if acc >= cfg.stop_accuracy or patience_out:
            active[m] = False
            results[m].stopped_step, results[m].final_state = step, engine.state(m)
