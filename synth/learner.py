"""``EnumerativeSynthesizer``: the synthesizer as a scikit-learn style learner."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from synth.decompose import search_conjunction
from synth.dsl import DSL, Target, check_dsl_spec, complete_dsl, default_dsl, parse_dsl
from synth.enumerate import Enumerator
from synth.library import load_library
from synth.prior import Prior
from synth.program import Program
from synth.search import Budget, SearchResult
from tasks.base import UNSCORED, SpecError, Split
from tasks.learners import (
    AT_LEAST_1,
    NON_NEGATIVE,
    POSITIVE,
    LearnerInfo,
    NotApplicable,
    Range,
    check_params,
    register_learner,
)

#: What the search does beyond the primitives (part of the fingerprint, so stored cells of an older
#: search are not reused): constants over the data's token ids, posterior votes by class mass.
SEARCH_RULES = "data-constants;class-mass-posterior"


@register_learner("synth")
class EnumerativeSynthesizer(LearnerInfo, BaseEstimator):
    """Bottom-up enumerative synthesis with a simplicity prior (minimum description length).

    ``fit(X, y)`` enumerates the DSL's programs in increasing description length and keeps the
    cheapest one that reproduces every training example (``program_``, ``bits_``). A search stopped
    by a budget keeps the program with the highest training accuracy found so far (``found_`` is
    then False) and says which budget stopped it (``search_stats_["stop_reason"]``).

    Parameters
    ----------
    dsl: a DSL spec (``"arith:p=97"``) or a :class:`synth.dsl.DSL` instance.
    weights: prior weight per primitive name (others keep their default; 0 removes a primitive).
    max_bits, max_candidates, time_limit (seconds), max_bank_mb: search budgets (None = unlimited).
    posterior: predict with the posterior predictive instead of the MAP program: every
        consistent program found up to ``posterior_bits`` bits above the cheapest one votes with
        weight 2^-bits. Programs are told apart by their outputs on the training inputs plus
        ``n_probe`` unlabeled probe inputs (``fit(..., X_unlabeled=...)``, else sampled by the
        DSL), so that programs that agree on the training set but differ elsewhere both vote.
        Each class of programs equal on those inputs votes with its prior mass: the sum of
        2^-bits over every program of the class up to the search's bound (:mod:`synth.posterior`).
    subset: counterexample-guided search: search on the first ``subset`` training examples, and
        while the program found misses some of the others, add (at most as many again of) the
        first ones it misses and search again. The result is the same cheapest program (a program
        consistent with all examples is consistent with every subset, so each round's optimum is
        never dearer than the full optimum; the last round's is consistent with all), found on
        fewer examples: smaller value rows, and more programs fall together. None: all at once.
        Budgets count all rounds together. Not used with ``posterior``.
    decompose: for a yes/no label per sequence, search a conjunction ``both(P1, both(P2, ...))`` of
        at most ``max_parts`` parts found apart (:mod:`synth.decompose`: every flag program true on
        all positives, up to ``max_bits``, then a greedy cover of the negatives), instead of one
        program; a conjunction of one part is the MAP program when it is cheapest.
    jobs: threads that compute candidate blocks ahead of the bank (the same search, faster where
        blocks are large; 1 = none).
    library: a library file (:mod:`synth.library`, JSON): its production weights, learned from
        programs solved on other tasks, replace the uniform prior (``weights`` still override them).
    random_state: seed of the hash weights and the probe inputs (the MAP program does not depend
        on it).
    """

    finds_programs: ClassVar[bool] = True
    budget_params: ClassVar[dict[str, str]] = {
        "candidates": "max_candidates", "max_bits": "max_bits", "seconds": "time_limit",
    }
    param_ranges: ClassVar[dict[str, Range]] = {
        "max_bits": NON_NEGATIVE, "max_candidates": AT_LEAST_1, "time_limit": POSITIVE,
        "max_bank_mb": POSITIVE, "posterior_bits": NON_NEGATIVE, "n_probe": NON_NEGATIVE,
        "subset": AT_LEAST_1, "max_parts": AT_LEAST_1, "jobs": AT_LEAST_1,
    }  # fmt: skip

    def __init__(
        self,
        *,
        dsl: str | DSL = "arith:p=97",
        weights: Mapping[str, float] | None = None,
        max_bits: float = 64.0,
        max_candidates: int | None = None,
        time_limit: float | None = None,
        max_bank_mb: float | None = 1024.0,
        posterior: bool = False,
        posterior_bits: float = 4.0,
        n_probe: int = 32,
        subset: int | None = 32,
        decompose: bool = False,
        max_parts: int = 4,
        library: str | None = None,
        jobs: int = 1,
        random_state: int | None = 0,
    ) -> None:
        self.dsl = dsl
        self.weights = weights
        self.max_bits = max_bits
        self.max_candidates = max_candidates
        self.time_limit = time_limit
        self.max_bank_mb = max_bank_mb
        self.posterior = posterior
        self.posterior_bits = posterior_bits
        self.n_probe = n_probe
        self.subset = subset
        self.decompose = decompose
        self.max_parts = max_parts
        self.library = library
        self.jobs = jobs
        self.random_state = random_state

    def _budget(self) -> Budget:
        return Budget(
            max_bits=self.max_bits,
            max_candidates=self.max_candidates,
            time_limit=self.time_limit,
            max_bank_mb=self.max_bank_mb,
        )

    # --- the learner contract (tasks.learners) -------------------------------------------------
    @classmethod
    def data_params(cls, split: Split, params: dict[str, Any]) -> dict[str, Any]:
        """The DSL: the spec's, with parameters it leaves out inferred from the data, or the one
        that fits the data; NotApplicable when none does."""
        dsl = params.get("dsl")
        if isinstance(dsl, DSL):
            return {}
        if dsl is None:
            try:
                dsl = default_dsl(split)
            except SpecError as exc:
                raise NotApplicable(f"{exc}; name one with synth:dsl=...") from None
        return {"dsl": complete_dsl(dsl, split)}

    @classmethod
    def fingerprint(cls, params: dict[str, Any]) -> str:
        """A hash of the DSL's primitives as the search sees them: names, types, prior weights
        (after ``weights``), symmetry and the bytecode of their semantics."""
        dsl = parse_dsl(params.get("dsl", cls().dsl))
        weights = _merged_weights(dsl, params.get("library"), params.get("weights"))
        digest = hashlib.sha256(SEARCH_RULES.encode())
        for prim in dsl.primitives:
            code = getattr(prim.fn, "__code__", None)
            digest.update(repr((
                prim.name, [str(t) for t in prim.args], str(prim.ret), weights.get(prim.name, prim.weight),
                prim.commutative, None if code is None else (code.co_code, code.co_consts),
                [getattr(c, "cell_contents", None) for c in getattr(prim.fn, "__closure__", None) or ()
                 if isinstance(getattr(c, "cell_contents", None), int | float | str)],
            )).encode())
        return f"dsl-{digest.hexdigest()[:16]}"

    def check(self) -> None:
        """SpecError for a parameter out of range or a DSL spec that does not parse (its family and
        parameter names and types; values a DSL infers from the data are checked when it is built)."""
        check_params(self)
        if isinstance(self.dsl, str):
            check_dsl_spec(self.dsl)

    def fitted_summary(self) -> dict[str, Any]:
        """The program, its bits, whether it is consistent, and the search's statistics."""
        return {
            "program": None if self.program_ is None else str(self.program_),
            "bits": None if math.isnan(self.bits_) else round(float(self.bits_), 4),
            "found": bool(self.found_),
            "dsl": self.dsl_.spec,
            "search": {k: v.item() if hasattr(v, "item") else v for k, v in self.search_stats_.items()},
            **({"posterior_programs": len(self.posterior_)} if self.posterior else {}),
        }

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        mask: np.ndarray | None = None,
        eval_sets: dict | None = None,
        X_unlabeled: np.ndarray | None = None,
    ) -> EnumerativeSynthesizer:
        """Search for the cheapest program mapping ``X`` to ``y`` (where ``mask``, if given, is True;
        ``eval_sets`` is accepted and ignored: nothing but the training data guides the search)."""
        self.check()
        dsl = parse_dsl(self.dsl)
        X, y = np.asarray(X), np.asarray(y)
        prior = _data_prior(dsl, X, _merged_weights(dsl, self.library, self.weights))
        if mask is None and y.ndim == 2:
            mask = y != UNSCORED
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        if len(X) == 0:
            raise ValueError("fit needs at least one training example")
        rng = np.random.default_rng(self.random_state)
        hash_seed = int(rng.integers(2**63))
        target = dsl.target(y, mask)
        if self.posterior:
            if X_unlabeled is None:
                X_unlabeled = dsl.probe_inputs(X, self.n_probe, rng)
            X_all = np.concatenate([X, np.asarray(X_unlabeled, dtype=X.dtype).reshape(-1, *X.shape[1:])])
            env = dsl.env(X_all)
            target = _with_free_rows(target, len(X_all) - len(X))
        else:
            env = dsl.env(X)
        budget = self._budget()
        budget.validate(prior, target.type)
        rounds, used, parts = 1, len(X), None
        if self.decompose and not self.posterior and target.type.name == "flag" and target.mask is None:
            result, parts = _search_conjunction(
                prior, env, target, budget, hash_seed, self.max_parts, self.jobs
            )
        elif self.posterior or self.subset is None or self.subset >= len(X):
            result = Enumerator(
                prior,
                env,
                target,
                budget,
                seed=hash_seed,
                collect_bits=self.posterior_bits if self.posterior else None,
                jobs=self.jobs,
            ).run()
        else:
            result, rounds, used = _search_subsets(
                prior, dsl, X, target, budget, hash_seed, self.subset, self.jobs
            )
        self.dsl_ = dsl
        self.prior_ = prior
        self.program_: Program | None = result.program
        self.bits_ = result.bits
        self.found_ = result.found
        self.train_accuracy_ = result.train_accuracy
        self.search_stats_ = {
            "candidates": result.candidates,
            "kept": result.kept,
            "seconds": result.seconds,
            "stop_reason": result.stop_reason,
            "bits_reached": result.bits_reached,
            "found": result.found,
            "rounds": rounds,
            "examples_searched": used,
            **({"class_mass": "every program" if result.masses_exact else "cheapest member"}
               if self.posterior else {}),
            **({"parts": parts} if parts is not None else {}),
        }
        if self.posterior:
            # Each class votes with its prior mass: every program of the class within the bound.
            self.search_masses_ = list(result.masses)
            weights = np.array(result.masses, dtype=float)
            weights /= weights.sum() if len(weights) else 1.0
            self.posterior_ = [(p, b, float(w)) for (p, b), w in zip(result.consistent, weights, strict=True)]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "program_"):
            raise ValueError("this EnumerativeSynthesizer is not fitted yet; call fit(X, y) first")
        if self.program_ is None:
            raise ValueError("the search found no program of the output type within its budget")

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels for ``X``: the MAP program's outputs, or the posterior vote (``posterior=True``)."""
        self._check_fitted()
        env = self.dsl_.env(np.asarray(X))
        if not self.posterior or not getattr(self, "posterior_", None):
            return self.dsl_.decode(self.program_.evaluate(env))
        preds = np.stack([self.dsl_.decode(p.evaluate(env)) for p, _, _ in self.posterior_])
        return weighted_vote(preds, np.array([w for _, _, w in self.posterior_]))


def _merged_weights(dsl: DSL, library: str | None, weights: Mapping[str, float] | None) -> dict[str, float]:
    """The library's weights for ``dsl`` (none without a library), overridden by ``weights``."""
    merged: dict[str, float] = {}
    if library is not None:
        merged = load_library(library).weights_for(dsl)
    return merged | dict(weights or {})


def _data_prior(dsl: DSL, X: np.ndarray, weights: Mapping[str, float] | None) -> Prior:
    """The prior over the DSL's primitives for training inputs ``X`` (:meth:`DSL.data_primitives`:
    e.g. only the token ids that occur); weight names are checked against the whole DSL."""
    Prior(dsl.primitives, weights)  # a weight for an unknown primitive is an error, as before
    prims = dsl.data_primitives(X) if len(X) else dsl.primitives
    names = {p.name for p in prims}
    return Prior(prims, {k: w for k, w in (weights or {}).items() if k in names})


def _search_conjunction(
    prior: Prior, env, target: Target, budget: Budget, seed: int, max_parts: int, jobs: int = 1
) -> tuple[SearchResult, list[dict[str, Any]]]:
    """The decomposed search (:mod:`synth.decompose`) as a search result, with its parts."""
    conj = search_conjunction(prior, env, target, budget, seed, max_parts, jobs)
    acc = math.nan
    if conj.program is not None:
        acc = float(target.score(conj.program.evaluate(env)[None])[0])
    result = SearchResult(
        conj.program, conj.bits, conj.covered, "found" if conj.covered else conj.stop_reason,
        conj.candidates, conj.kept, conj.seconds, conj.bits_reached, 1.0 if conj.covered else acc,
    )
    parts = [{"program": str(p), "bits": round(b, 4), "rejects": g} for p, b, g in conj.parts]
    return result, parts


def _search_subsets(
    prior: Prior,
    dsl: DSL,
    X: np.ndarray,
    target: Target,
    budget: Budget,
    seed: int,
    start: int,
    jobs: int = 1,
) -> tuple[SearchResult, int, int]:
    """Counterexample-guided rounds (see ``subset``): (last round's result with the candidates and
    seconds of all rounds, rounds, examples in the last round)."""
    idx = np.arange(start)
    candidates, seconds, rounds = 0, 0.0, 0
    while True:
        rounds += 1
        left = replace(
            budget,
            max_candidates=None if budget.max_candidates is None else budget.max_candidates - candidates,
            time_limit=None if budget.time_limit is None else max(budget.time_limit - seconds, 1e-9),
        )
        part = Target(target.type, target.values[idx], None if target.mask is None else target.mask[idx])
        result = Enumerator(prior, dsl.env(X[idx]), part, left, seed=seed, jobs=jobs).run()
        candidates += result.candidates
        seconds += result.seconds
        result.candidates, result.seconds = candidates, seconds
        if result.program is None:
            return result, rounds, len(idx)
        values = result.program.evaluate(dsl.env(X))
        ok = _consistent_rows(target, values)
        if not result.found:
            result.train_accuracy = float(target.score(values[None])[0])
            return result, rounds, len(idx)
        missed = np.flatnonzero(~ok)
        if not len(missed):
            return result, rounds, len(idx)
        if left.max_candidates is not None and result.candidates >= budget.max_candidates:
            result.found, result.stop_reason = False, "max_candidates"
            result.train_accuracy = float(target.score(values[None])[0])
            return result, rounds, len(idx)
        idx = np.sort(np.concatenate([idx, missed[: len(idx)]]))


def _consistent_rows(target: Target, values: np.ndarray) -> np.ndarray:
    """Per example: do ``values`` match the target (where its mask says)?"""
    equal = (values == target.values).reshape(len(values), -1)
    if target.mask is not None:
        equal |= ~target.mask.reshape(len(values), -1)
    return equal.all(axis=1)


def _with_free_rows(target: Target, k: int) -> Target:
    """``target`` extended by ``k`` examples whose outputs are free (probe inputs)."""
    pad = np.zeros((k, *target.values.shape[1:]), target.values.dtype)
    mask = np.ones(target.values.shape, bool) if target.mask is None else target.mask
    return Target(
        target.type,
        np.concatenate([target.values, pad]),
        np.concatenate([mask, np.zeros((k, *mask.shape[1:]), bool)]),
    )


def weighted_vote(preds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per entry, the label with the largest total weight among ``preds`` (k, ...) (ties: smallest
    label)."""
    k = len(preds)
    flat = preds.reshape(k, -1)
    m = flat.shape[1]
    entry = np.broadcast_to(np.arange(m), (k, m)).ravel()
    pairs, inverse = np.unique(np.stack([entry, flat.ravel()], axis=1), axis=0, return_inverse=True)
    totals = np.bincount(inverse.ravel(), weights=np.repeat(weights, m) if k else None, minlength=len(pairs))
    order = np.lexsort((pairs[:, 1], -totals, pairs[:, 0]))
    first = np.ones(len(order), bool)
    first[1:] = pairs[order[1:], 0] != pairs[order[:-1], 0]
    chosen = order[first]
    out = np.empty(m, np.int64)
    out[pairs[chosen, 0]] = pairs[chosen, 1]
    return out.reshape(preds.shape[1:])
