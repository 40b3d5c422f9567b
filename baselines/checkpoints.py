"""Saved networks: the final weights, the checkpoints and the training history, in one file.

``save_learner(learner, folder)`` writes ``folder/model.pt`` atomically; ``load_learner(folder)``
gives back a fitted learner (``model_``, ``history_``, ``checkpoints_``, ``model_at(step)``) that
predicts exactly as the saved one did. ``dlps train --save``, grid artefacts and every analysis
command's ``--from`` use this layout.

Loading uses ``torch.load(weights_only=True)``: the file holds tensors, numbers, strings, lists and
dicts only, so opening a file from elsewhere can never run code; anything else is refused in one line.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from baselines.learners import NeuralLearner
from baselines.training import eval_schedule
from tasks.learners import LEARNERS

#: Marks a dlps checkpoint file; ``VERSION`` is bumped when the layout changes.
FORMAT = "dlps-model"
VERSION = 1
FILE = "model.pt"
#: How many log-spaced checkpoints a saved network keeps by default (plus the first evaluations with
#: 99% train and test accuracy): enough to follow grokking's phases on a log axis.
DEFAULT_CHECKPOINTS = 40


class CheckpointError(ValueError):
    """A file or folder that is not a readable dlps checkpoint; the message is one line for a user."""


def checkpoint_settings(steps: int, points: int = DEFAULT_CHECKPOINTS) -> dict[str, Any]:
    """Learner parameters that make training keep the default checkpoints for ``steps`` steps."""
    return {"checkpoint_steps": tuple(eval_schedule(steps, points)), "checkpoint_first_99": True}


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively (``weights_only`` loading accepts plain containers)."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def save_learner(learner: NeuralLearner, folder: str | Path, meta: dict[str, Any] | None = None) -> list[str]:
    """Write the fitted network ``learner`` to ``folder/model.pt``; ``meta`` (task spec, n, seed,
    method spec) travels with it. Returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    params = learner.get_params(deep=False)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "method": learner.method_name,
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
        "config": _plain(dataclasses.asdict(learner.model_.cfg)),
        "fitted": {"d_vocab_": learner.d_vocab_, "n_classes_": learner.n_classes_,
                   "per_position_": learner.per_position_, "n_features_in_": learner.n_features_in_,
                   "stopped_step_": learner.stopped_step_, "fit_seconds_": learner.fit_seconds_},
        "state_dict": {k: v.detach().cpu() for k, v in learner.model_.state_dict().items()},
        "checkpoints": {int(step): state for step, state in learner.checkpoints_.items()},
        "history": learner.history_,
        "meta": meta or {},
    }
    path = folder / FILE
    tmp = path.with_suffix(".pt.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # a killed process never leaves a half-written model.pt
    return [str(path)]


def _read(path: Path) -> dict[str, Any]:
    if path.is_dir():
        path = path / FILE
    if not path.is_file():
        raise CheckpointError(f"no saved network at {path} (save one with dlps train ... --save DIR)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = first[:160]
        raise CheckpointError(f"{path} is not a dlps checkpoint (refused to load it: {reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dlps checkpoint (no {FORMAT!r} marker)")
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} was saved by a newer dlps (checkpoint version {payload['version']})")
    if payload.get("method") not in LEARNERS:
        raise CheckpointError(f"{path} names an unknown method {payload.get('method')!r}")
    return payload


def load_learner(path: str | Path) -> NeuralLearner:
    """The fitted network saved at ``path`` (a folder holding ``model.pt``, or the file itself);
    CheckpointError when it is not a dlps checkpoint. ``meta_`` holds what was saved beside it."""
    payload = _read(Path(path))
    cls = LEARNERS[payload["method"]]
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    params = {k: tuple(v) if isinstance(v, list) and "tuple" in str(types.get(k)) else v
              for k, v in payload["params"].items() if k in types}
    learner = cls(**params)
    for key, value in payload["fitted"].items():
        setattr(learner, key, value)
    cfg = learner.config_class(**payload["config"])
    model = learner.model_from_config(cfg)
    model.load_state_dict(payload["state_dict"])
    learner.model_ = model.eval()
    learner.checkpoints_ = {int(step): state for step, state in payload["checkpoints"].items()}
    learner.history_ = payload["history"]
    learner.meta_ = payload["meta"]
    return learner
