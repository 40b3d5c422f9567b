"""The task suite: what to learn. Data, ground truth and out-of-distribution splits."""

from tasks.base import UNSCORED, Split, SpecError, Task, accuracy, stable_seed
from tasks.registry import FAMILIES, parse_task, register

__all__ = [
    "FAMILIES",
    "UNSCORED",
    "SpecError",
    "Split",
    "Task",
    "accuracy",
    "parse_task",
    "register",
    "stable_seed",
]
