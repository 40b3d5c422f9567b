"""The typed per-cell summaries of the registered analyses (:mod:`mechanisms.registry`) and their parts
of the table's mechanism column. Plain data, no torch: reading a store (tables, the report) needs
these and nothing of the analyses that wrote them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mechanisms.record import Record


@dataclass(frozen=True)
class MechanismRecord(Record):
    """A grid cell's mechanism summary: ``text`` (the table's mechanism column) and the numbers
    behind it, Fourier (key frequencies, restricted accuracy, emergence steps) or sequence (the best
    induction head and its score, the depth probe's selectivity and site). ``aligned`` and
    ``subexpressions`` are read from cells stored before the registry, which kept the alignment's
    counts here."""

    KEEP_NONE: ClassVar[tuple[str, ...]] = ()
    FOURIER_NONE: ClassVar[tuple[str, ...]] = ("emergence_step", "emergence_step_heldout")

    text: str = ""
    key_frequencies: list[int] | None = None
    restricted_accuracy: float | None = None
    heldout_restricted_accuracy: float | None = None
    emergence_step: int | None = None
    emergence_step_heldout: int | None = None
    induction_score: float | None = None
    induction_head: list[int] | None = None
    depth_selectivity: float | None = None
    depth_site: str | None = None
    aligned: int | None = None
    subexpressions: int | None = None

    @property
    def fourier(self) -> bool:
        """A Fourier summary (of modular data), not a sequence one."""
        fields = (self.key_frequencies, self.emergence_step, self.emergence_step_heldout)
        return any(value is not None for value in fields)

    def to_metrics(self) -> dict[str, Any]:
        out = super().to_metrics()
        if self.key_frequencies is not None:  # a Fourier summary: a step never reached is an answer
            out |= {key: getattr(self, key) for key in self.FOURIER_NONE}
        return out


def mechanism_column(record: MechanismRecord) -> tuple[str, dict[str, float]] | None:
    """The mechanism column's text and numbers."""
    numbers = {k: v for k, v in record.to_metrics().items() if k != "text"}
    return record.text, numbers


@dataclass(frozen=True)
class AlignmentRecord(Record):
    """A grid cell's alignment: ``aligned`` of ``of`` subexpressions of the first program with their
    ``headline`` IIA at least ``threshold`` at their best site, and per program its source, text,
    bits, headline, subexpressions and selectors (:func:`grid_alignment`); or the ``error`` that
    stopped it (no program found, a network that cannot be aligned), said and stored: the cell
    still counts.

    ``headline`` is ``iia_corrected`` (chance-corrected: over the pairs whose counterfactual also
    differs from the network's own prediction) for a program with a two-valued output, else ``iia``.
    Cells stored before it have none: their ``aligned`` counted plain IIA in a probe subspace of at
    most 16 directions at the site of best selectivity, measured on the pairs that chose it."""

    aligned: int | None = None
    of: int | None = None
    threshold: float | None = None
    programs: list[dict[str, Any]] | None = None
    error: str | None = None
    headline: str | None = None


def alignment_column(record: AlignmentRecord) -> tuple[str, dict[str, float]] | None:
    """"k of m subexpressions aligned" for the mechanism column (nothing for an error)."""
    if record.error is not None or record.of is None:
        return None
    which = "chance-corrected IIA" if record.headline == "iia_corrected" else "IIA"
    text = f"{record.aligned} of {record.of} subexpressions aligned ({which} ≥ {record.threshold})"
    return text, {"aligned": record.aligned, "subexpressions": record.of}


@dataclass(frozen=True)
class LLCRecord(Record):
    """A grid cell's local learning coefficient (``--analyses llc``): :func:`mechanisms.llc.summary`
    of the final network's estimate (``mean`` None: a chain diverged)."""

    mean: float | None = None
    sd: float | None = None
    epsilon: float | None = None
    nbeta: float | None = None
    gamma: float | None = None
    chains: int | None = None
    draws: int | None = None
    below_initial: float | None = None
    diverged: int | None = None


NETWORK_KEYS = ("side", "llc", "llc_sd", "llc_below_initial", "llc_config", "dead_units", "units",
                "weight_norm", "effective_rank", "effective_rank_mean", "text")
PROGRAM_KEYS = ("side", "bits", "found", "within_bits", "near_programs", "top_share", "complete", "text")


@dataclass(frozen=True)
class SimplicityRecord(Record):
    """A grid cell's simplicity: the network side (``side="network"``: :func:`network_simplicity`'s
    fields) or the synthesizer side (``side="synth"``: :func:`synth_simplicity`'s), each stored with
    every field of its side (None included: an LSTM has no dead units to count)."""

    side: str = "network"
    llc: float | None = None
    llc_sd: float | None = None
    llc_below_initial: float | None = None
    llc_config: dict[str, Any] | None = None
    dead_units: int | None = None
    units: int | None = None
    weight_norm: float | None = None
    effective_rank: dict[str, float] | None = None
    effective_rank_mean: float | None = None
    bits: float | None = None
    found: bool | None = None
    within_bits: float | None = None
    near_programs: int | None = None
    top_share: float | None = None
    complete: bool | None = None
    text: str = ""

    def to_metrics(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in (NETWORK_KEYS if self.side == "network" else PROGRAM_KEYS)}
