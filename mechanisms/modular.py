"""The Fourier circuit of a network fitted to modular addition or subtraction, and its progress over training.

Entry points, each on a fitted :class:`~baselines.learners.TransformerLearner` or
:class:`~baselines.learners.MLPLearner` and its :class:`~tasks.modular.ModularTask`:

* :func:`analyse`: the final network's Fourier summary (key frequencies, embedding and neuron shares,
  restricted and excluded loss) and structure summary (dead neurons, privileged-basis tests), as JSON-able
  dicts;
* :func:`progress`: the progress measures at every checkpoint, and :func:`emergence_step` /
  :func:`generalization_step`, the two named steps of the mechanism stage.

The neurons are the MLP's post-activations read where the answer is read out: ``blocks.{last}.mlp.hook_post``
at the ``=`` position for the transformer, ``blocks.{last}.hook_post`` for the MLP. Every input pair is
evaluated (p² rows, row ``a * p + b``), since the Fourier transform needs the whole grid.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from baselines.architectures import architecture
from baselines.hooks import run_with_cache
from baselines.learners import NeuralLearner
from mechanisms import fourier, structure
from tasks.base import Split
from tasks.modular import ModularTask

#: Operations whose circuit is known (Nanda et al.: logits built from cos(w(a ± b − c))).
COVERED_OPS = tuple(fourier.OP_SIGN)
#: The named steps' threshold; fixed before any result was seen (the issue's 99%).
STEP_THRESHOLD = 0.99
#: Rows per forward pass over the p² pairs (bounds memory for large p).
CHUNK = 8192


def covered(task, learner) -> None:
    """Raise ValueError (one line naming what is covered) unless the analysis applies to this pair."""
    ok_task = isinstance(task, ModularTask) and task.op in COVERED_OPS
    # The circuit is read from the neurons: networks whose architecture has a neuron site (a
    # transformer with an MLP, an MLP with a hidden layer) qualify; the learner carries the config
    # fields that decide it.
    arch = getattr(learner, "architecture", None)
    ok_learner = arch is not None and arch.neuron_site(learner) is not None
    if not (ok_task and ok_learner):
        spec = getattr(task, "spec", repr(task))
        raise ValueError(
            f"the Fourier analysis covers modular tasks with op {' or '.join(COVERED_OPS)} on transformer "
            f"(with an MLP) and mlp learners; got {spec} with {type(learner).__name__}"
        )


def neuron_hook(model: nn.Module) -> str:
    """The hook point holding the neurons: the last block's MLP post-activation (the architecture's
    :meth:`~baselines.architectures.Architecture.neuron_site`); ValueError for a network without one."""
    site = architecture(model).neuron_site(model.cfg)
    if site is None:
        raise ValueError(f"{type(model).__name__} of this config has no neurons (no MLP layer)")
    return site


def all_pairs(p: int) -> np.ndarray:
    """Every input pair (p², 2) in row-major order: row ``a * p + b`` is ``(a, b)``."""
    a, b = np.divmod(np.arange(p * p, dtype=np.int64), p)
    return np.stack([a, b], axis=1)


def pair_rows(X: np.ndarray, p: int) -> np.ndarray:
    """Row indices into :func:`all_pairs` of the pairs ``X`` (n, 2)."""
    return np.asarray(X[:, 0], dtype=np.int64) * p + np.asarray(X[:, 1], dtype=np.int64)


def run_pairs(
    learner: NeuralLearner, p: int, model: nn.Module | None = None, neurons: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits (p², C) and, with ``neurons``, the neuron activations (p², N) over all pairs, from ``model``
    (the learner's final model by default) on inputs encoded as the learner encodes them."""
    model = learner.model_ if model is None else model
    device = next(model.parameters()).device
    tokens, readout = learner.encode(all_pairs(p)).tensors(device)
    hook = neuron_hook(model)
    logits, acts = [], []
    with torch.no_grad():
        for i in range(0, len(tokens), CHUNK):
            X = tokens[i : i + CHUNK]
            R = None if readout is None else readout[i : i + CHUNK]
            if neurons:
                out, cache = run_with_cache(model, X, R, names=[hook])
                acts.append(cache[hook].reshape(len(X), -1).double().cpu().numpy())
            else:
                out = model(X, R)
            logits.append(out[:, 0].double().cpu().numpy())
    return np.concatenate(logits), np.concatenate(acts) if neurons else None


#: Checkpoints run together in one stack: one batched pass instead of a pass each (3x fewer ops), in
#: stacks small enough that their activations stay in cache (this VM's memory streams ~3 GB/s).
CHECKPOINT_STACK = 12


def checkpoint_logits(learner: NeuralLearner, p: int, states: list[dict[str, torch.Tensor]]) -> np.ndarray:
    """Logits (len(states), p², C) over all pairs of the learner's network with each of ``states`` (its
    checkpoints), run as stacks of :data:`CHECKPOINT_STACK` models (:mod:`baselines.stacking`)."""
    from baselines.batched import StackedEngine
    from baselines.training import eval_chunk

    template = learner.model_.eval()
    device = next(template.parameters()).device
    tokens, readout = learner.encode(all_pairs(p)).tensors(device)
    out = []
    for first in range(0, len(states), CHECKPOINT_STACK):
        group = states[first : first + CHECKPOINT_STACK]
        engine = StackedEngine([template] * len(group))  # then each slot takes its checkpoint's weights
        engine.module.load_state_dict({name: torch.stack([st[name] for st in group]) for name in group[0]})
        chunk = eval_chunk(engine.n_models, tokens.shape[-1])
        parts = []
        with torch.no_grad():
            for i in range(0, len(tokens), chunk):
                R = None if readout is None else readout[i : i + chunk]
                parts.append(engine.logits(tokens[i : i + chunk], R, shared=True)[:, :, 0].double().cpu())
        out.append(torch.cat(parts, dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, p * p, 0))


def operand_embedding(state: dict[str, torch.Tensor], p: int) -> np.ndarray:
    """The embedding rows (p, d) of the p operand tokens (the transformer's ``=`` row left out)."""
    return state["W_E"][:p].detach().double().cpu().numpy()


def weight_norm(state: dict[str, torch.Tensor]) -> float:
    """The L2 norm of all parameters together (what weight decay shrinks)."""
    return float(
        torch.sqrt(sum((t.detach().double() ** 2).sum() for t in state.values() if t.is_floating_point()))
    )


def _key_frequencies(acts: np.ndarray, p: int, alive: np.ndarray) -> list[int]:
    return fourier.key_frequencies(acts, p, alive) if alive.any() else []


def final_key_frequencies(learner: NeuralLearner, p: int) -> list[int]:
    """The key frequencies of the learner's final network (distinct best frequencies of its live neurons)."""
    _, acts = run_pairs(learner, p)
    return _key_frequencies(acts, p, ~structure.dead_neurons(acts))


def analyse(
    learner: NeuralLearner,
    task: ModularTask,
    train_split: Split,
    *,
    model: nn.Module | None = None,
    n_rotations: int = 100,
    seed: int = 0,
) -> dict:
    """The mechanism summary of the learner's final network (or of ``model``, one of its checkpoints).

    ``{"fourier": {key_frequencies, embedding_key_share, neuron_key_share, restricted_accuracy,
    restricted_loss, excluded_loss, loss, heldout_restricted_accuracy, heldout_restricted_loss},
    "structure": {n_neurons, dead_neurons, single_frequency_neurons,
    single_frequency_random: {mean, sd}, kurtosis, kurtosis_random: {mean, sd}}}``.

    Key frequencies: the distinct best frequencies of the non-dead neurons that hold at least
    :data:`mechanisms.fourier.KEY_SHARE` of their variance; ``heldout_restricted_*``: the restricted
    logits of the test pairs fitted on them alone (:func:`mechanisms.fourier.heldout_restricted_logits`);
    ``neuron_key_share``: the share
    of those neurons' variance in the key frequencies' terms; ``embedding_key_share``: the share of the
    operand embedding's squared norm in them. ``loss`` and the restricted measures are over all p² pairs,
    ``excluded_loss`` over the training pairs (:func:`mechanisms.fourier.logit_measures`). ``seed`` seeds the
    random rotations of the structure baselines (``n_rotations`` of them).
    """
    covered(task, learner)
    model = learner.model_ if model is None else model
    p = task.p
    logits, acts = run_pairs(learner, p, model)
    labels = task.reference(all_pairs(p))
    alive = ~structure.dead_neurons(acts)
    freqs = _key_frequencies(acts, p, alive)
    # The held-out control from the final network alone (test pairs, key part fitted on them only), so
    # that a network saved without checkpoints is never read as a circuit: a memorizer's training labels
    # vote along each line a ± b = s and lift the restricted accuracy over all pairs, never this one.
    test_rows = pair_rows(task.test_split().X, p)
    measures = fourier.logit_measures(
        logits, labels, pair_rows(train_split.X, p), p, freqs, task.op, heldout_rows=test_rows
    )
    summary = {
        "key_frequencies": freqs,
        "embedding_key_share": fourier.embedding_key_share(
            operand_embedding(model.state_dict(), p), p, freqs
        ),
        "neuron_key_share": fourier.key_variance_share(acts, p, freqs, alive),
        **{k: measures[k] for k in ("restricted_accuracy", "restricted_loss", "excluded_loss", "loss",
                                    "heldout_restricted_accuracy", "heldout_restricted_loss")},
    }
    return {"fourier": summary, "structure": structure.structure(acts, p, seed=seed, n_rotations=n_rotations)}


def progress(
    learner: NeuralLearner,
    task: ModularTask,
    train_split: Split,
    key_frequencies: list[int] | None = None,
    test_split: Split | None = None,
) -> list[dict]:
    """The progress measures at every checkpoint in ``learner.checkpoints_``, in step order.

    Each entry: ``step``, ``train_accuracy``, ``test_accuracy``, ``train_loss``, ``test_loss``,
    ``restricted_accuracy``, ``restricted_loss`` (all p² pairs), ``excluded_loss`` (training pairs),
    ``heldout_restricted_accuracy`` (test pairs, key part fitted on them alone: the control for training
    labels leaking into the restricted logits, see :func:`mechanisms.fourier.heldout_restricted_logits`),
    ``embedding_key_share`` and ``weight_norm``. Every checkpoint is measured against the FINAL network's key
    frequencies (as Nanda et al. do: the measures then track how much of the circuit the final network uses
    is present), unless ``key_frequencies`` is given. ``test_split``: the task's test split by default.
    """
    covered(task, learner)
    p = task.p
    if key_frequencies is None:
        key_frequencies = final_key_frequencies(learner, p)
    X = all_pairs(p)
    labels = task.reference(X)
    train_rows = pair_rows(train_split.X, p)
    test_rows = pair_rows((task.test_split() if test_split is None else test_split).X, p)
    steps = sorted(learner.checkpoints_)
    heldout = fourier.heldout_basis(test_rows, p, key_frequencies, task.op)
    every = checkpoint_logits(learner, p, [learner.checkpoints_[step] for step in steps])
    out = []
    for step, logits in zip(steps, every, strict=True):
        state = learner.checkpoints_[step]
        m = fourier.logit_measures(
            logits, labels, train_rows, p, key_frequencies, task.op, test_rows, heldout=heldout
        )
        out.append(
            {
                "step": int(step),
                "train_accuracy": fourier.accuracy(logits[train_rows], labels[train_rows]),
                "test_accuracy": fourier.accuracy(logits[test_rows], labels[test_rows]),
                "train_loss": fourier.cross_entropy(logits[train_rows], labels[train_rows]),
                "test_loss": fourier.cross_entropy(logits[test_rows], labels[test_rows]),
                "restricted_accuracy": m["restricted_accuracy"],
                "restricted_loss": m["restricted_loss"],
                "excluded_loss": m["excluded_loss"],
                "heldout_restricted_accuracy": m["heldout_restricted_accuracy"],
                "embedding_key_share": fourier.embedding_key_share(
                    operand_embedding(state, p), p, key_frequencies
                ),
                "weight_norm": weight_norm(state),
            }
        )
    return out


def emergence_step(
    progress: list[dict], threshold: float = STEP_THRESHOLD, key: str = "restricted_accuracy"
) -> int | None:
    """The first checkpoint from which the restricted logits classify ≥ ``threshold`` of all p² pairs at
    every later checkpoint too (None when the last one does not). ``key="heldout_restricted_accuracy"``:
    the same on the held-out pairs, fitted on them alone (free of the training labels' leak)."""
    step = None
    for entry in reversed(progress):
        if entry[key] < threshold:
            break
        step = entry["step"]
    return step


def generalization_step(progress: list[dict], threshold: float = STEP_THRESHOLD) -> int | None:
    """The first checkpoint with test accuracy ≥ ``threshold`` (None when never)."""
    return next((e["step"] for e in progress if e["test_accuracy"] >= threshold), None)


def memorization_step(progress: list[dict]) -> int | None:
    """The first checkpoint with train accuracy 100% (None when never)."""
    return next((e["step"] for e in progress if e["train_accuracy"] >= 1.0), None)
