"""The task suite: what to learn. Data, ground truth and out-of-distribution splits."""

from tasks.base import UNSCORED, SpecError, Split, Task, accuracy, stable_seed
from tasks.registry import FAMILIES, parse_task, register

# Importing the family modules registers them (after base and registry above, which they use).
from tasks.modular import ModularTask  # noqa: E402  isort: skip
from tasks.brackets import BracketsTask  # noqa: E402  isort: skip
from tasks.induction import InductionTask  # noqa: E402  isort: skip
from tasks.examples_file import ExamplesTask, read_examples, write_examples  # noqa: E402  isort: skip

__all__ = [
    "BracketsTask",
    "ExamplesTask",
    "FAMILIES",
    "InductionTask",
    "UNSCORED",
    "ModularTask",
    "SpecError",
    "Split",
    "Task",
    "accuracy",
    "parse_task",
    "read_examples",
    "register",
    "stable_seed",
    "write_examples",
]
