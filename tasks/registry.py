"""The task families by name, and spec parsing into task instances."""

from __future__ import annotations

import dataclasses
import textwrap

from tasks.base import SpecError, Task
from tasks.spec import build, format_value, split_spec

FAMILIES: dict[str, type[Task]] = {}


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: make a task family reachable by its ``family`` name in specs."""
    FAMILIES[cls.family] = cls
    return cls


def parse_task(spec: str) -> Task:
    """The task named by ``spec`` (``family:key=value,...``); SpecError names what is wrong."""
    family, params = split_spec(spec)
    if family not in FAMILIES:
        raise SpecError(f"unknown task family {family!r}; accepted: {', '.join(sorted(FAMILIES))}")
    return build(FAMILIES[family], family, params)


def describe_families(width: int = 100) -> str:
    """Every family with its parameters (default and meaning) and OOD splits, as plain text."""
    lines: list[str] = []
    fill = textwrap.fill
    for name, cls in FAMILIES.items():
        lines.append(f"{name}: {cls.summary}")
        params = [f for f in dataclasses.fields(cls) if f.init]
        shown = {f.name: f"{f.name}={_default(f, cls.param_help.get(f.name, ''))}" for f in params}
        column = max(map(len, shown.values())) + 2
        for f in params:
            text = fill(
                cls.param_help.get(f.name, ""),
                width=width,
                initial_indent=f"  {shown[f.name]:<{column}}",
                subsequent_indent=" " * (column + 2),
            )
            lines.append(text)
        ood = "; ".join(f"{key} ({about})" for key, about in cls.ood_descriptions.items()) or "none"
        lines.append(fill(f"OOD splits: {ood}", width, initial_indent="  ", subsequent_indent="    "))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _default(field: dataclasses.Field, about: str) -> str:
    """A parameter's default as ``dlps tasks`` shows it: an empty text is no value, so a path to give
    reads ``PATH`` (the grammar writes "" as ``()``, which read as an empty tuple to give)."""
    if field.default == "":
        return "PATH" if "path" in about else "(none)"
    return format_value(field.default)
