"""The mechanism analysis of a fitted sequence learner, and its progress over checkpoints.

``analyse`` dispatches on the learner and the data:

- a transformer on any token data → head scores (:mod:`mechanisms.heads`) and head ablations
  (:mod:`mechanisms.ablation`);
- bracket data (one label per word, tokens ``( ) [ ]`` then the pad) → depth probes, controls, the
  counter unit and the causal test (:mod:`mechanisms.probes`), for the transformer and the LSTM.

Bracket data is recognized from the split alone (so examples files work): one label per row, a pad id
of 2 or 4 and a vocabulary of the pad id plus one. Anything else (an MLP, a classic learner, an LSTM
on data other than brackets) raises ``ValueError`` naming what is covered.

``progress`` runs the analyses that have a single number at every checkpoint: train and test
accuracy, the best head's induction score, and (brackets) the depth probe's accuracy; ``milestones``
turns them into the emergence step (first checkpoint whose best induction score is ≥ 0.5) and the
generalization step (first checkpoint with test accuracy ≥ 0.99; for per-position copying data such
as induction, ≥ 0.95 when 0.99 is never reached; the threshold used is returned). Thresholds were
fixed before any result was seen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from baselines.architectures import Architecture, architecture
from mechanisms.ablation import ablation_table, masked_accuracy
from mechanisms.heads import best_induction_score, head_table, repeated_random_tokens
from mechanisms.probes import ProbeData, depth_analysis, depth_probe_accuracy, probe_sites
from tasks.base import Split, Task

COVERED = (
    "sequence mechanisms cover fitted transformer learners (head scores and ablations on any token data, "
    "depth probes on brackets) and fitted LSTM learners on bracket data (depth probes)"
)
EMERGENCE_SCORE = 0.5
GENERALIZATION = 0.99
GENERALIZATION_FALLBACK = 0.95  # per-position copying data (induction) only, when 0.99 is never reached


@dataclass(frozen=True)
class Brackets:
    """Which token ids open and close brackets (``open[i]`` is closed by ``close[i]``), for bracket
    words whose ids are not the suite's (an examples file): the depth probes read their labels from
    the words relabelled to the suite's ids (opener of type i: 2i, its closer 2i + 1, padding 2k, any
    other token 2k + 1, which moves no depth); the network still reads the words as they are."""

    open: tuple[int, ...]
    close: tuple[int, ...]

    def check(self, split: Split) -> None:
        """ValueError (one line) unless these ids describe bracket words like ``split``'s."""
        ids = [*self.open, *self.close]
        given = f"open={self.open} close={self.close}"
        if not self.open or len(self.open) != len(self.close):
            raise ValueError(f"give as many closing bracket ids as opening ones, got {given}")
        if len(set(ids)) != len(ids) or any(not 0 <= i < split.d_vocab for i in ids):
            raise ValueError(f"bracket ids must be distinct tokens of the vocabulary [0, {split.d_vocab}), "
                             f"got {given}")
        if split.per_position or split.pad_id is None or split.pad_id in ids:
            raise ValueError("bracket ids need words with one label each, padded with a pad id of their own")

    def relabel(self, X: np.ndarray, pad_id: int) -> np.ndarray:
        """``X`` in the suite's ids (see the class docstring)."""
        k = len(self.open)
        out = np.full(np.shape(X), 2 * k + 1, dtype=np.int64)
        out[np.asarray(X) == pad_id] = 2 * k
        for i, (a, b) in enumerate(zip(self.open, self.close, strict=True)):
            out[np.asarray(X) == a], out[np.asarray(X) == b] = 2 * i, 2 * i + 1
        return out


def bracket_types(split: Split, brackets: Brackets | None = None) -> int | None:
    """1 or 2 when ``split`` looks like Dyck-1/Dyck-2 data (one label per row, tokens below the pad
    id, pad id 2 or 4, vocabulary pad id + 1); the number of bracket types when ``brackets`` names
    their ids (ValueError where they do not fit the data); else None."""
    if brackets is not None:
        brackets.check(split)
        return len(brackets.open)
    if split.per_position or split.pad_id not in (2, 4) or split.d_vocab != split.pad_id + 1:
        return None
    if split.X.size and (split.X.min() < 0 or split.X.max() > split.pad_id):
        return None
    return split.pad_id // 2


def covered(split: Split, learner, brackets: Brackets | None = None) -> None:
    """ValueError (naming what is covered) unless the sequence analyses apply to ``learner`` (fitted
    or not: its class's architecture decides) on data like ``split``: a network with positions; one
    without attention heads (an LSTM) on bracket data only. Cheap: for checks before training."""
    arch = getattr(learner, "architecture", None)
    if arch is None or not arch.has_positions:
        raise ValueError(f"{type(learner).__name__} is not covered: {COVERED}")
    if not arch.has_heads and bracket_types(split, brackets) is None:
        raise ValueError(f"an LSTM on data other than brackets is not covered: {COVERED}")


def sequence_architecture(learner) -> Architecture:
    """The architecture of a fitted sequence learner's network (one with positions: a transformer or
    an LSTM); ValueError otherwise."""
    try:
        arch = architecture(getattr(learner, "model_", None))
    except ValueError:
        arch = None
    if arch is None or not arch.has_positions:
        raise ValueError(f"{type(learner).__name__} is not covered: {COVERED}")
    return arch


def learner_kind(learner) -> str:
    """``"transformer"`` or ``"lstm"`` (the architecture's name) for a fitted sequence learner;
    ValueError otherwise."""
    return sequence_architecture(learner).name


def model_inputs(learner, split: Split) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The model's input tokens, readout positions and targets (-1 unscored) for ``split``."""
    encoded = learner.encode(split.X)
    tokens, readout = encoded.tokens, encoded.readout
    if split.per_position:
        targets = np.where(split.mask, split.y, -1)
    else:
        targets = np.asarray(split.y)[:, None]
    return tokens, readout, targets


def probe_data(learner, split: Split, brackets: Brackets | None = None) -> ProbeData:
    """``split`` as the depth probes read it: the network's inputs, and the words in the suite's
    bracket ids (relabelled where ``brackets`` names other ones)."""
    tokens, readout, targets = model_inputs(learner, split)
    if brackets is None:
        return ProbeData(X=split.X, tokens=tokens, readout=readout, targets=targets, pad_id=int(split.pad_id))
    X = brackets.relabel(split.X, int(split.pad_id))
    return ProbeData(X=X, tokens=tokens, readout=readout, targets=targets, pad_id=2 * len(brackets.open))


def _splits(task: Task | None, train: Split | None, test: Split | None, n_train: int, seed: int):
    if test is None or train is None:
        if task is None:
            raise ValueError("give a task, or both a train and a test split")
        test = task.test_split() if test is None else test
        # A fresh draw from the training distribution when the learner's own rows are not given.
        train = task.train_split(n_train, seed) if train is None else train
    return train, test


def _rows(split: Split, n: int) -> Split:
    return split if len(split) <= n else split.subset(slice(0, n))


def _pad_id(learner) -> int | None:
    return getattr(learner, "pad_id", None)


def analyse(
    learner,
    task: Task | None = None,
    *,
    train: Split | None = None,
    test: Split | None = None,
    n_probe: int = 500,
    n_eval: int = 1000,
    n_random: int = 200,
    seed: int = 0,
    with_progress: bool = True,
    brackets: Brackets | None = None,
) -> dict:
    """The mechanism report of a fitted transformer or LSTM learner on a sequence task (bracket
    words in other ids than the suite's: ``brackets``).

    ``train``/``test``: the splits (default: the task's test split, and ``n_probe`` fresh training
    rows); probes fit on up to ``n_probe`` training rows and score on up to ``n_probe`` test rows;
    accuracies and head scores use up to ``n_eval`` test rows; ``n_random`` rows of repeated random
    tokens (``seed``) give the head scores. Returns (as applicable) ``learner``, ``data``; ``heads``,
    ``previous_token_head``, ``induction_head``, ``random_tokens``, ``ablation`` (transformers);
    ``depth`` (bracket data); ``progress``, ``emergence_step``, ``generalization_step``,
    ``generalization_threshold`` (``with_progress``, when the learner kept checkpoints); ``seconds``.
    """
    arch = sequence_architecture(learner)
    train, test = _splits(task, train, test, n_probe, seed)
    n_types = bracket_types(test, brackets)
    if not arch.has_heads and n_types is None:  # depth probes alone: brackets only
        raise ValueError(f"an LSTM on data other than brackets is not covered: {COVERED}")
    start = time.perf_counter()
    model = learner.model_
    evaluated = _rows(test, n_eval)
    tokens, readout, targets = model_inputs(learner, evaluated)
    out: dict = {
        "learner": arch.name,
        "data": {"per_position": test.per_position, "bracket_types": n_types, "n_eval": len(evaluated)},
    }
    if arch.has_heads:
        table = head_table(model, tokens, _pad_id(learner), n_random=n_random, seed=seed)
        out |= table
        out["ablation"] = ablation_table(
            model,
            tokens,
            targets,
            readout,
            table["induction_head"],
            table["previous_token_head"],
            _pad_id(learner),
        )
    if n_types is not None:
        depth = depth_analysis(
            model,
            probe_data(learner, _rows(train, n_probe), brackets),
            probe_data(learner, _rows(test, n_probe), brackets),
            n_types,
            seed,
        )
        out["depth"] = depth
        out["data"]["n_probe"] = depth["labels"]["n_train_samples"]
    seconds = {"analysis": time.perf_counter() - start}
    if with_progress and getattr(learner, "checkpoints_", None):
        start = time.perf_counter()
        site = out["depth"]["best_site"] if "depth" in out else None
        entries = progress(learner, train=train, test=test, site=site, n_eval=n_eval, seed=seed,
                           brackets=brackets)
        out["progress"] = entries
        out |= milestones(entries, per_position=test.per_position)
        seconds["progress"] = time.perf_counter() - start
    out["seconds"] = seconds
    return out


def progress(
    learner,
    task: Task | None = None,
    *,
    train: Split | None = None,
    test: Split | None = None,
    site: str | None = None,
    n_eval: int = 1000,
    n_probe: int = 150,
    n_random: int = 100,
    seed: int = 0,
    brackets: Brackets | None = None,
) -> list[dict]:
    """One entry per checkpoint (in step order): ``step``, ``train_accuracy``, ``test_accuracy`` (up
    to ``n_eval`` rows each), and ``induction_score`` (transformers: the best head's, on ``n_random``
    repeated random tokens drawn once) and ``depth_probe_accuracy`` (bracket data: at ``site``,
    default the last probed site; probes on ``n_probe`` rows of each split)."""
    arch = sequence_architecture(learner)
    train, test = _splits(task, train, test, n_probe, seed)
    n_types = bracket_types(test, brackets)
    parts = {name: model_inputs(learner, _rows(s, n_eval)) for name, s in (("train", train), ("test", test))}
    random = None
    if arch.has_heads:
        X = parts["test"][0]
        pad = _pad_id(learner)
        pool = np.unique(X if pad is None else X[X != pad])
        random = repeated_random_tokens(pool, n_random, max(2, X.shape[1] // 2), seed)
    if n_types is not None:
        probes = tuple(probe_data(learner, _rows(s, n_probe), brackets) for s in (train, test))
        site = site or probe_sites(learner.model_)[-1]
    entries = []
    for step in sorted(learner.checkpoints_):
        model = learner.model_at(step)
        entry: dict = {"step": int(step)}
        for name, (tokens, readout, targets) in parts.items():
            entry[f"{name}_accuracy"] = masked_accuracy(model, tokens, targets, readout)
        if random is not None:
            entry["induction_score"] = best_induction_score(model, random)
        if n_types is not None:
            entry["depth_probe_accuracy"] = depth_probe_accuracy(model, site, *probes, n_types)
        entries.append(entry)
    return entries


def milestones(entries: list[dict], per_position: bool) -> dict:
    """``emergence_step`` (first entry whose ``induction_score`` ≥ 0.5; None without scores or if
    never), ``generalization_step`` (first with ``test_accuracy`` ≥ 0.99; for ``per_position`` data
    ≥ 0.95 when 0.99 is never reached) and the ``generalization_threshold`` used."""

    def first(key: str, threshold: float) -> int | None:
        return next((e["step"] for e in entries if (e.get(key) or 0.0) >= threshold), None)

    threshold = GENERALIZATION
    step = first("test_accuracy", threshold)
    if step is None and per_position:
        threshold = GENERALIZATION_FALLBACK
        step = first("test_accuracy", threshold)
    return {
        "emergence_step": first("induction_score", EMERGENCE_SCORE),
        "generalization_step": step,
        "generalization_threshold": threshold,
    }
