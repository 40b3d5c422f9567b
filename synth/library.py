"""A learned prior: production weights fitted from programs solved on other tasks.

The uniform prior gives every production of a type the same share. A library is what the programs
that solved other tasks say instead: each primitive's weight is its count of uses in those programs
plus a pseudocount (so that a primitive never used keeps a chance: the grammar stays complete), and
the prior normalizes weights within each return type as always. Token constants (``tok0``,
``tok1``, ...) are left uniform: which ids a task uses says nothing about another task.

The library is a JSON file the user can read and edit (``dlps synth --library F``): the DSL family,
the pseudocount, the weights, and the programs and tasks they came from. To score a task with a
learned prior without looking at it, fit the library on the *other* tasks (:func:`leave_one_out`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from synth.dsl import DSL, parse_dsl

_CONSTANT = re.compile(r"tok\d+")


@dataclass
class Library:
    """Production weights for one DSL family, and where they came from."""

    family: str
    weights: dict[str, float]
    pseudocount: float = 1.0
    #: (task, program text) pairs the weights were fitted on.
    sources: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "family": self.family,
                "pseudocount": self.pseudocount,
                "weights": self.weights,
                "sources": [{"task": t, "program": p} for t, p in self.sources],
            },
            indent=1,
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    def weights_for(self, dsl: DSL) -> dict[str, float]:
        """The weights of the primitives of ``dsl`` (others are dropped); ValueError when the
        library was fitted on another DSL family."""
        if dsl.family != self.family:
            raise ValueError(f"the library is for the {self.family} DSL, not {dsl.family}")
        return {k: w for k, w in self.weights.items() if k in dsl.by_name}


def fit_library(dsl: DSL | str, solved: Iterable[tuple[str, str]], pseudocount: float = 1.0) -> Library:
    """Weights from the programs ``solved`` ((task, program text) pairs, parsed in ``dsl``): each
    non-constant primitive gets (uses + ``pseudocount``)."""
    dsl = parse_dsl(dsl)
    if not pseudocount > 0:
        raise ValueError(
            f"pseudocount must be > 0 (a primitive never used keeps a chance), got {pseudocount}"
        )
    solved = list(solved)
    counts: Counter[str] = Counter()
    for _, text in solved:
        counts.update(node.prim.name for node in dsl.parse(text).nodes())
    weights = {
        p.name: counts[p.name] + pseudocount for p in dsl.primitives if not _CONSTANT.fullmatch(p.name)
    }
    return Library(dsl.family, weights, pseudocount, solved)


def leave_one_out(dsl: DSL | str, solved: Mapping[str, str], pseudocount: float = 1.0) -> dict[str, Library]:
    """Per task of ``solved`` (task -> program text), the library fitted on all the other tasks."""
    return {
        task: fit_library(dsl, [(t, p) for t, p in solved.items() if t != task], pseudocount)
        for task in solved
    }


def load_library(path: str | Path) -> Library:
    """A library file written by :meth:`Library.save`; ValueError naming what is wrong."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read library {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("family"), str):
        raise ValueError(f"library {path}: expected a JSON object with 'family' and 'weights'")
    weights = data.get("weights")
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and v >= 0 for k, v in weights.items()
    ):
        raise ValueError(f"library {path}: 'weights' must map primitive names to numbers >= 0")
    sources = [
        (s.get("task", ""), s.get("program", "")) for s in data.get("sources", []) if isinstance(s, dict)
    ]
    return Library(
        data["family"],
        {k: float(v) for k, v in weights.items()},
        float(data.get("pseudocount", 1.0)),
        sources,
    )
