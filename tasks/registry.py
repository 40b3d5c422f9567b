"""The task families by name, and spec parsing into task instances."""

from __future__ import annotations

from tasks.base import SpecError, Task
from tasks.spec import build, split_spec

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
