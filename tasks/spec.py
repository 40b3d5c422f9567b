"""Spec strings: one grammar for tasks, methods and DSLs.

``family:key=value,key=value``. A value is a bare word (``97``, ``x+y``, ``true``, ``none``) or a
group in parentheses, which holds either a nested spec (``synth:dsl=(arith:p=97,max_const=3)``),
a tuple (``checkpoint_steps=(0,100,1000)``) or a mapping (``weights=(add=2,ite=0.5)``).

What a value means comes from the type of the parameter it sets: the dataclass field, or the
``__init__`` type hint, of the class the spec builds (:func:`param_types`). No list of parameters is
kept by hand anywhere: adding a field to a task, a learner or a DSL makes it settable in specs.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import math
import types
import typing
from typing import Any

from tasks.errors import SpecError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NONE = "none"


def _split_top(text: str, sep: str, whole: str) -> list[str]:
    """``text`` split at ``sep`` outside parentheses; SpecError for unbalanced parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SpecError(f"unbalanced ')' in spec {whole!r}")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise SpecError(f"unbalanced '(' in spec {whole!r}")
    parts.append(text[start:])
    return parts


def split_specs(values: collections.abc.Sequence[str] | None) -> tuple[str, ...]:
    """Specs given by repeating an option and/or separated by ``;``. Commas belong to specs, except
    between bare names (``lookup,synth``): a name without ``:`` has no parameters to separate."""
    out = []
    for value in values or ():
        for spec in (s.strip() for s in value.split(";")):
            bare = ":" not in spec and "(" not in spec
            if bare:
                out += [part.strip() for part in spec.split(",") if part.strip()]
            elif spec:
                out.append(spec)
    return tuple(out)


def _items(text: str, whole: str) -> dict[str, str]:
    """``a=1,b=(x,y)`` → ``{"a": "1", "b": "(x,y)"}`` (values unparsed, groups kept whole)."""
    params: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in _split_top(text, ",", whole))):
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or "(" in key:
            raise SpecError(f"bad parameter {item!r} in spec {whole!r}; expected key=value")
        if key in params:
            raise SpecError(f"parameter {key!r} given twice in spec {whole!r}")
        params[key] = value
    return params


def split_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"fam:a=1,b=(x,y)"`` → ``("fam", {"a": "1", "b": "(x,y)"})``, values left uninterpreted."""
    spec = spec.strip()
    family, _, rest = spec.partition(":")
    family = family.strip()
    if not family:
        raise SpecError(f"empty family name in spec {spec!r}; expected family:key=value,...")
    if any(ch in family for ch in "(),="):
        raise SpecError(f"bad family name {family!r} in spec {spec!r}; expected family:key=value,...")
    return family, _items(rest, spec)


def _ungroup(value: str) -> str | None:
    """The inside of a parenthesized value, or None when ``value`` is not one group."""
    if value.startswith("(") and value.endswith(")"):
        inner = value[1:-1]
        try:
            _split_top(inner, ",", value)
        except SpecError:
            return None  # "(a)(b)": two groups, not one
        return inner
    return None


def _optional(kind: Any) -> tuple[Any, bool]:
    """``X | None`` → ``(X, True)``; anything else → ``(kind, False)`` (a union picks its first type)."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(kind))
    return kind, False


def coerce(value: str, kind: Any, key: str, family: str) -> Any:
    """The spec text ``value`` as a value of type ``kind``, or SpecError naming key and type.

    Handles int, float, bool, str, ``X | None`` (``none``), ``tuple[X, ...]`` (``(a,b,c)``; one
    element may be written bare) and ``Mapping[str, X]`` (``(k=v,...)``).
    """
    kind, optional = _optional(kind)
    if optional and value.lower() == _NONE:
        return None
    origin = typing.get_origin(kind)
    if origin is tuple:
        if "/" in value and _ungroup(value) is None:
            new = "(" + value.replace("/", ",") + ")"
            raise SpecError(f"{family}: {key}={value!r}: tuples are written in parentheses now: {key}={new}")
        inner = _ungroup(value)
        parts = [value] if inner is None else [p.strip() for p in _split_top(inner, ",", value) if p.strip()]
        element = typing.get_args(kind)[0]
        return tuple(coerce(p, element, key, family) for p in parts)
    if origin in (dict, collections.abc.Mapping):
        inner = _ungroup(value)
        if inner is None:
            raise SpecError(f"{family}: {key}={value!r}: expected a mapping in parentheses, e.g. (a=1,b=2)")
        element = typing.get_args(kind)[1]
        return {k: coerce(v, element, f"{key}.{k}", family) for k, v in _items(inner, value).items()}
    inner = _ungroup(value)
    text = value if inner is None else inner
    try:
        if kind is bool:
            low = text.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        name = getattr(kind, "__name__", str(kind))
        raise SpecError(f"{family}: {key}={value!r} is not a valid {name}") from None
    return text


def param_types(cls: type) -> dict[str, Any]:
    """The parameters ``cls`` is built from, with their resolved types: the fields of a dataclass,
    else the keyword parameters of ``__init__`` (``from __future__`` annotations resolved)."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls.__init__)
    params = inspect.signature(cls.__init__).parameters
    return {name: hints.get(name, str) for name, p in params.items()
            if name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def typed_params(
    cls: type, family: str, params: dict[str, str], skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``params`` (spec text) typed for ``cls``; SpecError for a key ``cls`` does not take (or one in
    ``skip``: parameters that come from elsewhere, such as the data or the seed)."""
    kinds = {k: v for k, v in param_types(cls).items() if k not in skip}
    unknown = sorted(set(params) - set(kinds))
    if unknown:
        accepted = ", ".join(kinds) or "(none)"
        raise SpecError(f"{family}: unknown parameter {unknown[0]!r}; accepted: {accepted}")
    return {key: coerce(value, kinds[key], key, family) for key, value in params.items()}


def build(cls: type, family: str, params: dict[str, str]) -> Any:
    """Instantiate ``cls`` from text parameters, naming unknown keys."""
    return cls(**typed_params(cls, family, params))


def format_value(value: Any) -> str:
    """The spec text of a parameter value; :func:`coerce` turns it back into an equal value."""
    if value is None:
        return _NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, tuple | list):
        return "(" + ",".join(map(format_value, value)) + ")"
    if isinstance(value, collections.abc.Mapping):
        return "(" + ",".join(f"{k}={format_value(v)}" for k, v in value.items()) + ")"
    if hasattr(value, "spec") and not isinstance(value, str):
        value = value.spec  # a nested object with a spec of its own (a DSL)
    text = str(value)
    needs_group = any(ch in text for ch in ",()=:") or not text
    return f"({text})" if needs_group else text


def join_spec(family: str, params: dict[str, Any]) -> str:
    """``family:key=value,...`` from typed values (``family`` alone when there are none)."""
    parts = [f"{k}={format_value(v)}" for k, v in params.items()]
    return f"{family}:{','.join(parts)}" if parts else family


def format_spec(obj: Any, family: str | None = None) -> str:
    """The canonical spec of a dataclass instance: every parameter, in field order."""
    family = family or obj.family
    return join_spec(family, {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init})
