"""Saved networks: the final weights, the checkpoints and the training history, in one file.

``save_learner(learner, folder)`` writes ``folder/model.pt`` atomically; ``load_learner(folder)``
gives back a fitted learner (``model_``, ``history_``, ``checkpoints_``, ``model_at(step)``) that
predicts exactly as the saved one did. ``dlps train --save``, grid artefacts and every analysis
command's ``--from`` use this layout.

Loading uses ``torch.load(weights_only=True)``: the file holds tensors, numbers, strings, lists and
dicts only, so opening a file from elsewhere can never run code; anything else is refused in one line.
Before anything is built, :mod:`baselines.checkpoint_check` checks the archive's checksums, every
field, the config's sizes and the tensors' shapes and values (README, "Saved networks").
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any

import torch

from baselines import checkpoint_check as check
from baselines.checkpoint_check import CheckpointError
from baselines.files import write_atomically
from baselines.learners import NeuralLearner
from baselines.training import eval_schedule
from tasks.learners import LEARNERS

__all__ = ["CheckpointError", "load_learner", "save_learner", "checkpoint_settings"]

#: Marks a dlps checkpoint file; ``VERSION`` is bumped when the layout changes.
FORMAT = "dlps-model"
VERSION = 1
FILE = "model.pt"
#: How many log-spaced checkpoints a saved network keeps by default (plus the first evaluations with
#: 99% train and test accuracy): enough to follow grokking's phases on a log axis.
DEFAULT_CHECKPOINTS = 40


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
    # A fresh temporary name renamed into place: a killed process or a full disk never leaves a
    # half-written (or 0-byte) model.pt, and a symlink planted in the folder is never written through.
    write_atomically(path, lambda fh: torch.save(payload, fh))
    return [str(path)]


def _read(path: Path) -> tuple[Path, dict[str, Any]]:
    if path.is_dir():
        path = path / FILE
    if not path.is_file():
        raise CheckpointError(f"no saved network at {path} (save one with dlps train ... --save DIR)")
    check.check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError,
            KeyError, IndexError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = first[:160]
        raise CheckpointError(f"{path} is not a dlps checkpoint (refused to load it: {reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dlps checkpoint (no {FORMAT!r} marker)")
    version = payload.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise CheckpointError(f"{path} was saved by a newer dlps (checkpoint version {version})")
    if version != VERSION or isinstance(version, bool):
        raise CheckpointError(f"{path}: version={check.short(version)} is not a known checkpoint version "
                              f"(this dlps reads {VERSION})")
    check.check_fields(path, payload)
    method = payload["method"]
    networks = [name for name, cls in LEARNERS.items() if issubclass(cls, NeuralLearner)]
    if not isinstance(method, str) or method not in networks:
        raise CheckpointError(f"{path}: method={check.short(method)} is not a network method "
                              f"({', '.join(networks)})")
    return path, payload


def _learner(path: Path, payload: dict[str, Any]) -> NeuralLearner:
    """The learner of the saved parameters and fitted sizes, checked; no network yet."""
    cls = LEARNERS[payload["method"]]
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in payload["params"] if k not in types)
    if unknown:
        raise CheckpointError(f"{path}: params.{unknown[0]} is not a parameter of {payload['method']}")
    params = {k: tuple(v) if isinstance(v, list) and "tuple" in str(types.get(k)) else v
              for k, v in payload["params"].items()}
    try:
        learner = cls(**params)
        learner.check()
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: params: {str(exc).splitlines()[0][:140]}") from None
    check.check_fitted(path, payload["fitted"])
    for key, value in payload["fitted"].items():
        setattr(learner, key, value)
    return learner


def load_learner(path: str | Path) -> NeuralLearner:
    """The fitted network saved at ``path`` (a folder holding ``model.pt``, or the file itself);
    CheckpointError (one line naming the file and the field) when it is not a valid dlps checkpoint:
    everything is checked before the network is built. ``meta_`` holds what was saved beside it."""
    path, payload = _read(Path(path))
    learner = _learner(path, payload)
    cfg = check.config_from(path, learner.config_class, payload["config"])
    try:
        expected = learner._model_config(learner.n_features_in_, [])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: params and fitted sizes give no network: {str(exc)[:100]}") from None
    check.check_config_matches(path, cfg, expected)
    with torch.device("meta"):  # shapes only: nothing is allocated before the weights are checked
        shapes = learner.model_from_config(cfg).state_dict()
    check.check_state(path, "state_dict", payload["state_dict"], shapes)
    for step, state in payload["checkpoints"].items():
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise CheckpointError(f"{path}: checkpoints: step {check.short(step)} is not a step number")
        check.check_state(path, f"checkpoints[{step}]", state, shapes)
    model = learner.model_from_config(cfg)
    model.load_state_dict(payload["state_dict"])
    learner.model_ = model.eval()
    learner.checkpoints_ = {int(step): state for step, state in payload["checkpoints"].items()}
    learner.history_ = payload["history"]
    learner.meta_ = payload["meta"]
    learner.checkpoint_path_ = str(path)
    return learner
