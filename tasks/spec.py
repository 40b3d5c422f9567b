"""Spec strings: ``family:key=value,key=value``, shared by tasks and methods.

A spec names a family and overrides some of its parameters; the parameters are the fields of
a dataclass, and values are coerced to the field's declared type (int, float, bool, str).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from tasks.base import SpecError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def split_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"fam:a=1,b=x"`` → ``("fam", {"a": "1", "b": "x"})``, without interpreting values."""
    spec = spec.strip()
    family, _, rest = spec.partition(":")
    family = family.strip()
    if not family:
        raise SpecError(f"empty family name in spec {spec!r}; expected family:key=value,...")
    params: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise SpecError(f"bad parameter {item!r} in spec {spec!r}; expected key=value")
        key = key.strip()
        if key in params:
            raise SpecError(f"parameter {key!r} given twice in spec {spec!r}")
        params[key] = value.strip()
    return family, params


def coerce(value: str, kind: Any, key: str, family: str) -> Any:
    """Turn the text ``value`` into ``kind`` (int, float, bool or str), or raise SpecError."""
    try:
        if kind is bool:
            low = value.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
    except ValueError:
        raise SpecError(
            f"{family}: {key}={value!r} is not a valid {kind.__name__}"
        ) from None
    return value


def field_types(cls: type) -> dict[str, Any]:
    """The parameters of a dataclass with their resolved types (``from __future__`` safe)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def build(cls: type, family: str, params: dict[str, str]) -> Any:
    """Instantiate the dataclass ``cls`` from text parameters, naming unknown keys."""
    types = field_types(cls)
    unknown = sorted(set(params) - set(types))
    if unknown:
        accepted = ", ".join(types) or "(none)"
        raise SpecError(f"{family}: unknown parameter {unknown[0]!r}; accepted: {accepted}")
    kwargs = {key: coerce(value, types[key], key, family) for key, value in params.items()}
    return cls(**kwargs)


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def format_spec(obj: Any, family: str | None = None) -> str:
    """The canonical spec of a dataclass instance: every parameter, in field order."""
    family = family or obj.family
    parts = [f"{f.name}={format_value(getattr(obj, f.name))}" for f in dataclasses.fields(obj) if f.init]
    return f"{family}:{','.join(parts)}" if parts else family
