"""Everything a saved network must satisfy before a single tensor of it is built.

A checkpoint may come from anywhere (a colleague, a download, a hand-written script), so loading it
checks, in this order and before any network is allocated: the archive (a zip whose CRCs match, of
at most :data:`MAX_UNPACKED_BYTES` unpacked), the payload's fields and their types and ranges, the
config's sizes (each at most :data:`MAX_SIZE`, layers at most :data:`MAX_LAYERS`), the config against
the learner's parameters and fitted sizes, and every tensor's name, shape, dtype and finiteness
against a network built on torch's ``meta`` device (which allocates nothing). Each failure is a
:class:`CheckpointError` naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: The most a checkpoint may unpack to (sum of the zip's declared sizes), checked before reading it.
MAX_UNPACKED_BYTES = 2 * 1024**3
#: The largest size any config field may hold (vocabulary, width, context, hidden units), and the most
#: layers: bounds on what a network built from a file may ask for, far above what dlps trains.
MAX_SIZE = 2**20
MAX_LAYERS = 256
#: The fields of a checkpoint payload (:func:`baselines.checkpoints.save_learner`).
FIELDS = ("format", "version", "method", "params", "config", "fitted", "state_dict", "checkpoints",
          "history", "meta")
#: The fitted attributes a saved network carries, with their types.
FITTED = {"d_vocab_": int, "n_classes_": int, "per_position_": bool, "n_features_in_": int,
          "stopped_step_": int, "fit_seconds_": float}


class CheckpointError(ValueError):
    """A file or folder that is not a readable dlps checkpoint; the message is one line for a user."""


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_archive(path: Path) -> None:
    """The file is a zip archive (torch's format) of at most MAX_UNPACKED_BYTES whose every member
    matches its CRC-32 (``torch.load`` does not check them: a flipped bit would load as other weights)."""
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > MAX_UNPACKED_BYTES:
                raise CheckpointError(f"{path} would unpack to {unpacked:,} bytes, more than the "
                                      f"{MAX_UNPACKED_BYTES:,} a saved network may hold")
            bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a dlps checkpoint (not a readable zip archive: "
                              f"{str(exc)[:100] or type(exc).__name__})") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None
    if bad is not None:
        raise CheckpointError(f"{path} is corrupt: the checksum of its member {bad!r} does not match")


def check_fields(path: Path, payload: dict[str, Any]) -> None:
    """Every field is present and no other; the plain ones have their types."""
    missing = [f for f in FIELDS if f not in payload]
    extra = sorted(str(k) for k in payload if k not in FIELDS)
    if missing or extra:
        said = (f"missing field(s) {', '.join(missing)}" if missing else "") + (
            f"{'; ' if missing else ''}unknown field(s) {', '.join(extra)[:80]}" if extra else "")
        raise CheckpointError(f"{path}: {said}")
    for name in ("params", "config", "fitted", "state_dict", "checkpoints", "history", "meta"):
        value = payload[name]
        if not isinstance(value, dict) or not all(isinstance(k, str | int) for k in value):
            raise CheckpointError(f"{path}: field {name} must be a mapping, got {type(value).__name__}")
    for key, values in payload["history"].items():
        if not isinstance(values, list) or not all(_number(v) for v in values):
            raise CheckpointError(f"{path}: history.{key} must be a list of numbers")
    for key, value in payload["meta"].items():
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool | type(None)):
            raise CheckpointError(f"{path}: meta.{key} must be a string, a number or null")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_fitted(path: Path, fitted: dict[str, Any]) -> None:
    """The fitted attributes: each present with its type, sizes in [1, MAX_SIZE], times finite."""
    if set(fitted) != set(FITTED):
        raise CheckpointError(f"{path}: fitted must hold exactly {', '.join(FITTED)}")
    for key, kind in FITTED.items():
        value = fitted[key]
        if kind is float:
            ok = _number(value) and math.isfinite(value) and value >= 0
        elif kind is bool:
            ok = isinstance(value, bool)
        else:
            low = 0 if key == "stopped_step_" else 1
            ok = _number(value) and isinstance(value, int) and low <= value <= MAX_SIZE * 1024
            ok = ok and (key == "stopped_step_" or value <= MAX_SIZE)
        if not ok:
            raise CheckpointError(f"{path}: fitted.{key}={short(value)} is not a valid {kind.__name__}")


def config_from(path: Path, config_class: type, config: dict[str, Any]) -> Any:
    """The config dataclass from ``config``, every field of its type and sizes bounded."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(str(k) for k in config if k not in fields)
    required = [n for n, f in fields.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [n for n in required if n not in config]
    if unknown or missing:
        said = f"unknown {', '.join(unknown)[:80]}" if unknown else f"missing {', '.join(missing)}"
        raise CheckpointError(f"{path}: config field(s) {said}")
    hints = typing.get_type_hints(config_class)
    for key, value in config.items():
        kinds = _kinds(hints[key])
        if value is None and type(None) in kinds:
            continue
        if isinstance(value, bool) != (bool in kinds) or not isinstance(value, tuple(kinds)):
            raise CheckpointError(f"{path}: config.{key}={short(value)} is not a {_names(kinds)}")
        if isinstance(value, int) and not isinstance(value, bool):
            bound = MAX_LAYERS if key == "n_layers" else MAX_SIZE
            if not 0 <= value <= bound:
                raise CheckpointError(f"{path}: config.{key}={value} is out of range; accepted: [0, {bound}]")
    try:
        return config_class(**config)
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise CheckpointError(f"{path}: config: {str(exc)[:120]}") from None


def _kinds(hint: Any) -> list[type]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return [k for arg in typing.get_args(hint) for k in _kinds(arg)]
    return [hint]


def _names(kinds: list[type]) -> str:
    return " or ".join("null" if k is type(None) else k.__name__ for k in kinds)


def check_config_matches(path: Path, cfg: Any, expected: Any) -> None:
    """The saved config is the one the learner's parameters and fitted sizes build (a context at
    least as long: it also covers the evaluation sets seen in training)."""
    for field in dataclasses.fields(cfg):
        saved, wanted = getattr(cfg, field.name), getattr(expected, field.name)
        same = saved >= wanted if field.name == "n_ctx" else saved == wanted
        if not same:
            raise CheckpointError(f"{path}: config.{field.name}={short(saved)} does not match the saved "
                                  f"parameters and fitted sizes, which give {short(wanted)}")


def check_state(path: Path, where: str, state: Any, shapes: dict[str, torch.Tensor]) -> None:
    """``state`` holds exactly the tensors of ``shapes`` (a meta-device state dict), each of its
    shape and dtype, every value finite."""
    if not isinstance(state, dict) or set(state) != set(shapes):
        names = sorted(map(str, state)) if isinstance(state, dict) else []
        missing = sorted(set(shapes) - set(names))
        extra = sorted(set(names) - set(shapes))
        said = f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"
        raise CheckpointError(f"{path}: {where} does not fit the config ({said[:100]})")
    for name, wanted in shapes.items():
        tensor = state[name]
        is_tensor = isinstance(tensor, torch.Tensor)
        if not is_tensor or tensor.shape != wanted.shape or tensor.dtype != wanted.dtype:
            got = f"{tuple(tensor.shape)} {tensor.dtype}" if is_tensor else "not a tensor"
            raise CheckpointError(f"{path}: {where}.{name} is {got}; the config gives "
                                  f"{tuple(wanted.shape)} {wanted.dtype}")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: {where}.{name} holds NaN or infinite values")


def check_task_fit(learner: Any, X: np.ndarray, y: np.ndarray, where: str) -> None:
    """CheckpointError when the rows ``X`` and labels ``y`` of a task do not fit the loaded
    network: its vocabulary, label set, per-position output or width."""
    X, y = np.asarray(X), np.asarray(y)
    if learner.per_position_ != (y.ndim == 2):
        kind = "per-position targets" if learner.per_position_ else "one label per example"
        raise CheckpointError(f"{where}: the network was trained on {kind}; this task has the other kind")
    if X.size and int(X.max()) >= learner.d_vocab_:
        raise CheckpointError(f"{where}: the task has token id {int(X.max())}; the network reads "
                              f"ids below {learner.d_vocab_}")
    if y.size and int(y.max()) >= learner.n_classes_:
        raise CheckpointError(f"{where}: the task has label {int(y.max())}; the network has "
                              f"{learner.n_classes_} classes")
    if learner.fixed_width and X.shape[1] > learner.n_features_in_:
        raise CheckpointError(f"{where}: the task's rows have {X.shape[1]} tokens; the network "
                              f"reads {learner.n_features_in_}")
    n_ctx = getattr(learner.model_.cfg, "n_ctx", None)
    if n_ctx is not None and not learner.fixed_width:
        needed = X.shape[1] + (0 if learner.per_position_ else 1)  # a readout token after the row
        if needed > n_ctx:
            raise CheckpointError(f"{where}: the task's rows need a context of {needed}; the network "
                                  f"has {n_ctx}")
