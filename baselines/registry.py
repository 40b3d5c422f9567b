"""Learners by method name, method specs, and per-task-family default settings.

A method spec uses the task-spec syntax: ``transformer:n_layers=2,attn_only=true``. Its parameters
are the learner's constructor parameters (``None`` is written ``none``; tuples as ``a/b/c``).
:func:`make_learner` builds a learner for a training split: the split's ``d_vocab``, ``n_classes``
and ``pad_id``, then the defaults for the task family, then the spec's own parameters (the spec wins).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from baselines.classic import GBTLearner, KNNLearner, LogisticLearner, LookupTableLearner
from baselines.learners import LSTMLearner, MLPLearner, NeuralLearner, TransformerLearner
from tasks import SpecError, Split
from tasks.spec import coerce, field_types, format_value, split_spec

METHODS: dict[str, type] = {
    "transformer": TransformerLearner,
    "mlp": MLPLearner,
    "lstm": LSTMLearner,
    "lookup": LookupTableLearner,
    "knn": KNNLearner,
    "logistic": LogisticLearner,
    "gbt": GBTLearner,
}

#: Parameters taken from the training split, not from specs or defaults.
DATA_PARAMS = ("d_vocab", "n_classes", "pad_id")
#: Parameters a canonical spec leaves out: the data's, the seed (a grid axis) and the device.
NOT_CANONICAL = (*DATA_PARAMS, "random_state", "device")

#: Quick CPU defaults per task family (what a grid cell uses unless its spec says otherwise).
#: modular: groks addition mod 59 at 40% train in about 1,000 steps. brackets: rotary positions
#: generalize to longer words better than learned ones (Dyck-2 at 2x length: 0.89 against 0.68).
#: induction: the 2-layer attention-only model of Olsson et al. with relative position biases (longer
#: OOD split: 0.976 against 0.876 with rotary, whose logits at offsets never seen in training drift).
FAMILY_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "modular": {
        "transformer": dict(
            d_model=64, n_heads=4, d_mlp=256, use_bias=False, lr=3e-3, weight_decay=1.0, steps=1500,
        ),
        "mlp": dict(d_embed=32, d_mlp=256, lr=3e-3, weight_decay=1.0, steps=1500),
        "lstm": dict(d_embed=32, d_hidden=128, lr=3e-3, weight_decay=0.1, steps=1500),
    },
    "brackets": {
        "transformer": dict(
            n_layers=2, d_model=32, n_heads=2, d_mlp=64, normalization=True, positional="rotary", lr=3e-3,
            weight_decay=0.1, batch_size=64, steps=1500,
        ),
        "mlp": dict(d_embed=16, d_mlp=128, lr=3e-3, weight_decay=0.1, batch_size=64, steps=1500),
        "lstm": dict(d_embed=16, d_hidden=32, lr=1e-2, weight_decay=0.01, batch_size=64, steps=1000),
    },
    "induction": {
        "transformer": dict(
            n_layers=2, attn_only=True, d_model=64, n_heads=2, positional="relative", lr=3e-3,
            weight_decay=0.01, batch_size=128, steps=3000,
        ),
        "lstm": dict(d_embed=32, d_hidden=128, lr=3e-3, weight_decay=0.01, batch_size=128, steps=1500),
    },
}  # fmt: skip


def method_names() -> list[str]:
    return list(METHODS)


def method_class(name: str) -> type:
    """The learner class of method ``name``; SpecError naming the accepted methods."""
    if name not in METHODS:
        raise SpecError(f"unknown method {name!r}; accepted: {', '.join(METHODS)}")
    return METHODS[name]


def method_params(name: str) -> dict[str, Any]:
    """The parameters method ``name`` accepts, with their types."""
    return field_types(method_class(name))


def _coerce(value: str, kind: Any, key: str, family: str) -> Any:
    """Text → ``kind``, also for ``X | None`` (``none``) and ``tuple[int, ...]`` (``a/b/c``)."""
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        if value.lower() == "none":
            return None
        return _coerce(value, next(a for a in args if a is not type(None)), key, family)
    if typing.get_origin(kind) is tuple:
        return tuple(coerce(part, args[0], key, family) for part in filter(None, value.split("/")))
    return coerce(value, kind, key, family)


def parse_method(spec: str) -> tuple[str, dict[str, Any]]:
    """``"transformer:n_layers=2"`` → ``("transformer", {"n_layers": 2})``; SpecError for unknown names."""
    name, raw = split_spec(spec)
    types_ = method_params(name)
    unknown = sorted(set(raw) - set(types_))
    if unknown:
        raise SpecError(f"{name}: unknown parameter {unknown[0]!r}; accepted: {', '.join(types_)}")
    return name, {key: _coerce(value, types_[key], key, name) for key, value in raw.items()}


def guess_family(split: Split | None) -> str | None:
    """The task family a split looks like, from its ``meta['task']`` spec or its shape."""
    if split is None:
        return None
    task = split.meta.get("task") if split.meta else None
    if isinstance(task, str) and task:
        return task.partition(":")[0]
    if split.per_position:
        return "induction"
    return "brackets" if split.pad_id is not None else "modular"


def defaults_for(name: str, split: Split | None = None, family: str | None = None) -> dict[str, Any]:
    """Constructor parameters for method ``name`` before the spec's own: data, then family defaults."""
    cls = method_class(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    params: dict[str, Any] = {}
    if split is not None:
        params.update({k: getattr(split, k) for k in DATA_PARAMS if k in fields})
    params.update(FAMILY_DEFAULTS.get(family or guess_family(split) or "", {}).get(name, {}))
    return params


def make_learner(spec: str, split: Split | None = None, family: str | None = None, **overrides: Any):
    """A configured, unfitted learner for ``spec`` on a task like ``split`` (family hint optional).

    ``overrides`` (e.g. ``steps=...`` from a run's budget) win over everything; unknown ones raise
    SpecError like unknown spec parameters.
    """
    name, params = parse_method(spec)
    accepted = method_params(name)
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise SpecError(f"{name}: unknown parameter {unknown[0]!r}; accepted: {', '.join(accepted)}")
    return METHODS[name](**{**defaults_for(name, split, family), **params, **overrides})


def canonical_spec(spec: str, split: Split | None = None, family: str | None = None, **overrides: Any) -> str:
    """The spec with every setting written out (defaults included; data parameters, seed and device
    left out), so that equal specs mean equal learners; ``make_learner`` turns it back into the
    same learner (given the same split, seed and device)."""
    learner = make_learner(spec, split, family, **overrides)
    name = split_spec(spec)[0]
    params = learner.get_params(deep=False)
    parts = []
    for key in method_params(name):
        if key in NOT_CANONICAL:
            continue
        value = params[key]
        text = (
            "none"
            if value is None
            else "/".join(map(format_value, value))
            if isinstance(value, tuple)
            else format_value(value)
        )
        parts.append(f"{key}={text}")
    return f"{name}:{','.join(parts)}"


def is_neural(learner: Any) -> bool:
    """True for the torch learners (they have ``history_``, ``model_`` and train in steps)."""
    return isinstance(learner, NeuralLearner)
