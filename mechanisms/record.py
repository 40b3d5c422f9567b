"""What every registered analysis (:mod:`mechanisms.registry`) shares: the :class:`Subject` it reads
and the :class:`Record` base of the typed summary it stores in a grid cell's metrics."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from tasks import Split, Task


@dataclass(frozen=True)
class Subject:
    """What an analysis reads: a fitted ``learner``, the ``task`` its data came from, the ``train``
    split it was fitted on, the ``seed`` of the cell (analyses draw their samples from it) and the
    analysis's own ``params`` (from ``--analyses NAME:key=value``)."""

    learner: Any
    task: Task
    train: Split
    seed: int = 0
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """A typed per-cell summary. Stored as a plain JSON object (:meth:`to_metrics`); read back from
    one (:meth:`from_metrics`), keeping only the fields the record declares, so that summaries
    written by older code still read. Fields in ``KEEP_NONE`` are stored even when None (a step
    never reached is an answer); others are left out when None."""

    KEEP_NONE: ClassVar[tuple[str, ...]] = ()

    def to_metrics(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None or f.name in self.KEEP_NONE}

    @classmethod
    def from_metrics(cls, stored: Mapping[str, Any]) -> Self:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in stored.items() if k in names})
