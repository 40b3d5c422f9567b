"""Linear probes for bracket depth, their control tasks, a counter unit, and the causal test.

Variables, at every real (non-pad) position ``t`` of a bracket word, after reading token ``t``:

- *depth*: openers minus closers so far (negative once the word closes too early);
- *innermost type* (Dyck-2): the type of the open bracket on top of the stack (0 for ``(``, 1 for
  ``[``), or ``n_types`` when none is open; a closer pops the top whatever its type.

Probes (Hewitt & Liang 2019, "Designing and Interpreting Probes with Control Tasks"): a multinomial
logistic regression with fixed settings (standardized features, C = 10, lbfgs, 500 iterations), fitted
on one split's activations and scored on another's, pooled over positions. The *control task* gives
each (token, position) type one random label drawn from the real labels' empirical distribution (same
label set); *selectivity* = probe accuracy − control accuracy.

The *causal test* (decodable is not used): the depth direction at a site is the least-squares
direction of depth in the activations; it is projected out by a hook at the site, at every position,
by replacing each activation's component along it with that component's mean over the data (an
affine projection: the information is removed, the average activation kept, so that what follows sees
in-range values). The task accuracy then is compared with projecting out random directions of the
same dimension (mean over seeded draws). One direction, not the classifier's whole coefficient
subspace: with one class per depth value that subspace has about as many dimensions as there are
depths (half of a 32-wide stream), and removing that many random directions may break a model too;
that version is reported beside it (``subspace``), against random subspaces of its dimension.

In an LSTM the hidden and cell hooks fire inside the recurrence, once per step (:mod:`baselines.lstm`),
so the projection there acts before the state feeds the next step. A site counts only if replacing
it through its hook changes the output (tested by perturbing it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from torch import nn

from baselines.architectures import architecture
from baselines.hooks import run_with_hooks
from mechanisms.ablation import HookFn, masked_accuracy
from mechanisms.heads import activations, model_device

#: Probe settings, fixed on the planted counter before any trained model was probed: at C = 1 the
#: penalty held a probe on an exact depth unit to 0.88 (15 depth classes, some with a handful of
#: samples); C = 10 reaches 0.98. The solver is Newton-CG: the same optimum as lbfgs (test accuracies
#: within 0.001 on a trained LSTM's six probes), reached in 10-16 iterations where lbfgs took 40-500
#: (stopping at its limit on two of the six), in 0.58 s against 0.98 s.
PROBE_C = 10.0
PROBE_MAX_ITER = 500
PROBE_SOLVER = "newton-cg"
N_RANDOM_DIRECTIONS = 5


@dataclass(frozen=True)
class ProbeData:
    """One split as the probes need it: raw tokens ``X`` (n, k) with ``pad_id``; the model's input
    ``tokens`` (n, k') whose first k positions are ``X``'s; the ``readout`` position per row (or None)
    and ``targets`` (n, P) aligned with the model's outputs (-1 = unscored)."""

    X: np.ndarray
    tokens: np.ndarray
    readout: np.ndarray | None
    targets: np.ndarray
    pad_id: int

    @property
    def real(self) -> np.ndarray:
        return self.X != self.pad_id


def running_depth(X: np.ndarray, n_types: int) -> np.ndarray:
    """Depth after each token (n, k): openers (even ids below ``2·n_types``) +1, closers -1, others 0."""
    X = np.asarray(X)
    steps = np.where(X < 2 * n_types, np.where(X % 2 == 0, 1, -1), 0)
    return np.cumsum(steps, axis=1)


def innermost_type(X: np.ndarray, n_types: int) -> np.ndarray:
    """Type of the innermost open bracket after each token (n, k), ``n_types`` when none is open."""
    X = np.asarray(X)
    out = np.full(X.shape, n_types, dtype=np.int64)
    for r, row in enumerate(X):
        stack: list[int] = []
        for t, token in enumerate(row):
            if token < 2 * n_types:
                if token % 2 == 0:
                    stack.append(int(token) // 2)
                elif stack:
                    stack.pop()
            out[r, t] = stack[-1] if stack else n_types
    return out


def control_table(labels: np.ndarray, n_tokens: int, width: int, seed: int) -> np.ndarray:
    """A random label for each (token, position) type (n_tokens, width), drawn from the empirical
    distribution of ``labels`` (Hewitt & Liang's control task)."""
    values, counts = np.unique(labels, return_counts=True)
    rng = np.random.default_rng(seed)
    return rng.choice(values, size=(n_tokens, width), p=counts / counts.sum())


def _classifier() -> LogisticRegression:
    return LogisticRegression(C=PROBE_C, max_iter=PROBE_MAX_ITER, solver=PROBE_SOLVER)


def _fit(model, X: np.ndarray, y: np.ndarray):
    """``model.fit(X, y)`` on one BLAS thread (on problems this small, more threads only contend: 40x
    slower measured on a loaded 2-core machine); a probe stopped at the iteration limit is still the
    probe of these fixed settings, so the warning is not shown."""
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def fit_probe(
    train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, test_labels: np.ndarray
) -> tuple[float, np.ndarray]:
    """Fit the linear probe on the training samples (m, d); return test accuracy and predictions."""
    if len(np.unique(train_labels)) < 2:  # one label: the probe can only say it
        pred = np.full(len(test_labels), train_labels[0] if len(train_labels) else -1)
    else:
        probe = _fit(make_pipeline(StandardScaler(), _classifier()), train_features, train_labels)
        pred = probe.predict(test_features)
    return float(np.mean(pred == test_labels)) if len(test_labels) else float("nan"), pred


def probe_subspace(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """An orthonormal basis (k, d) of the directions the fitted probe reads, in the activations' own
    coordinates: the row space of its class-centred coefficients (the softmax ignores a shift common
    to all classes), k ≤ classes − 1."""
    scaler = StandardScaler().fit(features)
    probe = _fit(_classifier(), scaler.transform(features), labels)
    coef = probe.coef_ / scaler.scale_  # logits = coef_ · (x − mean) / scale
    centred = coef - coef.mean(axis=0) if len(coef) > 1 else coef
    _, sv, Vt = np.linalg.svd(centred, full_matrices=False)
    return Vt[sv > 1e-6 * sv.max()] if sv.size and sv.max() > 0 else Vt[:0]


def _by_position(correct: np.ndarray, real: np.ndarray) -> list[float | None]:
    """Accuracy at each position from per-sample ``correct`` laid out over ``real`` (n, k)."""
    grid = np.zeros(real.shape)
    grid[real] = correct
    counts = real.sum(axis=0)
    return [float(grid[:, t].sum() / c) if c else None for t, c in enumerate(counts)]


def probe_sites(model: nn.Module) -> list[str]:
    """The sites probed (:meth:`baselines.architectures.Architecture.probe_sites`): the embedding and
    each layer's residual stream (transformer: ``blocks.0.hook_resid_pre``,
    ``blocks.{l}.hook_resid_post``), or the embedding and each layer's hidden and cell state (LSTM:
    ``hook_embed``, ``layers.{l}.hook_hidden`` / ``hook_cell``)."""
    return architecture(model).probe_sites(model)


def site_features(model: nn.Module, data: ProbeData, sites: list[str]) -> dict[str, np.ndarray]:
    """Activations (n, k, d) at each site over every input position (no readout shortcut), cut to
    the raw tokens' positions."""
    acts = activations(model, data.tokens, sites)
    return {site: a[:, : data.X.shape[1]] for site, a in acts.items()}


def depth_direction(features: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """The unit least-squares direction of ``depth`` (m,) in ``features`` (m, d) (a small ridge keeps
    it defined when units are constant)."""
    F = features - features.mean(axis=0)
    d = depth - depth.mean()
    gram = F.T @ F
    ridge = 1e-6 * np.trace(gram) / len(gram) + 1e-12
    w = np.linalg.solve(gram + ridge * np.eye(len(gram)), F.T @ d)
    norm = np.linalg.norm(w)
    return w / norm if norm > 0 else w


def projection_hook(directions: np.ndarray, mean: np.ndarray) -> HookFn:
    """A hook replacing the component of each activation along ``directions`` (k, d), orthonormal,
    by the component of ``mean`` (d,)."""

    def project(x: torch.Tensor, _name: str) -> torch.Tensor:
        U = torch.as_tensor(directions, dtype=x.dtype, device=x.device)
        mu = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
        return x - ((x - mu) @ U.T) @ U

    return project


def random_directions(d: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` orthonormal random directions in R^d (k, d)."""
    q, _ = np.linalg.qr(rng.normal(size=(d, k)))
    return q.T


def reaches_output(model: nn.Module, site: str, data: ProbeData) -> bool:
    """Whether replacing the activation at ``site`` changes the model's output (on a few rows)."""
    rows = slice(0, min(16, len(data.tokens)))
    device = model_device(model)
    X = torch.as_tensor(data.tokens[rows], device=device)
    R = None if data.readout is None else torch.as_tensor(data.readout[rows], device=device)
    with torch.no_grad():
        base = model(X, R)
        g = torch.Generator(device="cpu").manual_seed(0)
        bump = lambda x, _n: x + 10.0 * torch.randn(x.shape, generator=g).to(x)  # noqa: E731
        moved = run_with_hooks(model, X, R, fwd_hooks={site: bump})
    return not torch.allclose(base, moved)


def intervenable(model: nn.Module, site: str, data: ProbeData) -> bool:
    """Whether the causal test can act at ``site``: a hook whose replacement reaches the output."""
    return reaches_output(model, site, data)


def projected_accuracy(model: nn.Module, site: str, data: ProbeData, directions: np.ndarray, mean) -> float:
    """Task accuracy on ``data`` with ``directions`` projected out at ``site`` (every position)."""
    project = projection_hook(directions, mean)
    return masked_accuracy(model, data.tokens, data.targets, data.readout, {site: project})


def counter_unit(features: dict[str, np.ndarray], depth: np.ndarray, real: np.ndarray) -> dict | None:
    """The single recurrent unit (hidden or cell state) best correlated with depth (Pearson, by
    absolute value; the sign is kept): ``site``, ``unit``, ``correlation``; None when no site holds
    recurrent units or every unit is constant."""
    best = None
    target = depth[real].astype(np.float64)
    if target.std() == 0:
        return None
    for site, acts in features.items():
        if not site.endswith(("hook_hidden", "hook_cell")):
            continue
        F = acts[real]
        F = F - F.mean(axis=0)
        sd = F.std(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (F * (target - target.mean())[:, None]).mean(axis=0) / (sd * target.std())
        r = np.where(sd > 0, r, 0.0)
        unit = int(np.argmax(np.abs(r)))
        if sd[unit] > 0 and (best is None or abs(r[unit]) > abs(best["correlation"])):
            best = {"site": site, "unit": unit, "correlation": float(r[unit])}
    return best


def _probe_variable(train_F, train_labels, test_F, test_labels, test_real) -> dict:
    acc, pred = fit_probe(train_F, train_labels, test_F, test_labels)
    return {"accuracy": acc, "by_position": _by_position(pred == test_labels, test_real)}


def _depth_variables(
    train: ProbeData, test: ProbeData, n_types: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The probed variables' labels on both splits: depth, and for Dyck-2 the innermost type."""
    variables = {"depth": (running_depth(train.X, n_types), running_depth(test.X, n_types))}
    if n_types > 1:
        variables["type"] = (innermost_type(train.X, n_types), innermost_type(test.X, n_types))
    return variables


def _control_labels(variables: dict, train: ProbeData, test: ProbeData, seed: int) -> dict:
    """Each variable's control labels on both splits (one random label per (token, position))."""
    width = max(train.X.shape[1], test.X.shape[1])
    controls = {}
    for i, (name, (tr_y, _)) in enumerate(variables.items()):
        table = control_table(tr_y[train.real], train.pad_id + 1, width, seed + 7919 * (i + 1))
        controls[name] = tuple(table[D.X, np.arange(D.X.shape[1])] for D in (train, test))
    return controls


def _site_row(
    site: str,
    tr_F: np.ndarray,
    te_F: np.ndarray,
    variables: dict,
    controls: dict,
    tr_real: np.ndarray,
    te_real: np.ndarray,
) -> dict:
    """Probe and control accuracy and selectivity of every variable at ``site`` (the depth probe's
    also per position)."""
    row: dict = {"site": site}
    for name, (tr_y, te_y) in variables.items():
        probe = _probe_variable(tr_F[tr_real], tr_y[tr_real], te_F[te_real], te_y[te_real], te_real)
        tr_c, te_c = controls[name]
        control, _ = fit_probe(tr_F[tr_real], tr_c[tr_real], te_F[te_real], te_c[te_real])
        prefix = "" if name == "depth" else f"{name}_"
        row[f"{prefix}probe_accuracy"] = probe["accuracy"]
        row[f"{prefix}control_accuracy"] = control
        row[f"{prefix}selectivity"] = probe["accuracy"] - control
        if name == "depth":
            row["by_position"] = probe["by_position"]
    return row


def _causal_test(
    model: nn.Module,
    site: str,
    tr_F: np.ndarray,
    te_F: np.ndarray,
    depth: tuple[np.ndarray, np.ndarray],
    test: ProbeData,
    train_real: np.ndarray,
    seed: int,
    n_random: int,
) -> dict:
    """The depth direction (and the depth classifier's subspace) projected out at ``site``, against
    random directions (subspaces) of the same dimension; the direction's R² for depth on ``test``."""
    F = tr_F[train_real]
    u = depth_direction(F, depth[0][train_real].astype(np.float64))[None]
    mean = F.mean(axis=0)
    G = te_F[test.real]
    fitted = (G - mean) @ u[0]
    y = depth[1][test.real].astype(np.float64)
    r2 = float(np.corrcoef(fitted, y)[0, 1] ** 2) if fitted.std() > 0 and y.std() > 0 else 0.0

    def accuracy(directions: np.ndarray) -> float:
        return projected_accuracy(model, site, test, directions, mean)

    rng = np.random.default_rng(seed)
    randoms = [accuracy(random_directions(u.shape[1], u.shape[0], rng)) for _ in range(n_random)]
    # The stronger version: every direction the depth classifier reads, against as many random ones.
    basis = probe_subspace(F, depth[0][train_real])
    k = len(basis)
    random_k = [accuracy(random_directions(u.shape[1], k, rng)) for _ in range(n_random)] if k else []
    return {
        "depth_direction": accuracy(u),
        "random_direction": float(np.mean(randoms)),
        "random_directions": randoms,
        "depth_r2": r2,
        "n_directions": int(u.shape[0]),
        "subspace": {
            "dimension": k,
            "depth_subspace": accuracy(basis) if k else None,
            "random_subspace": float(np.mean(random_k)) if k else None,
        },
    }


def depth_analysis(
    model: nn.Module,
    train: ProbeData,
    test: ProbeData,
    n_types: int,
    seed: int = 0,
    n_random: int = N_RANDOM_DIRECTIONS,
) -> dict:
    """Depth probes at every site, their controls, the counter unit and the causal test.

    Probes are fitted on ``train`` and scored on ``test``; the causal test runs on ``test``.
    Returns ``sites`` (per site: ``site``, ``probe_accuracy``, ``control_accuracy``, ``selectivity``,
    ``by_position`` (probe accuracy per position); for Dyck-2 also ``type_probe_accuracy``,
    ``type_control_accuracy``, ``type_selectivity``), ``best_site`` (highest selectivity),
    ``ablation`` (``site`` tested: the most selective site the causal test can act at;
    ``none``, ``depth_direction``, ``random_direction`` (mean), ``random_directions`` (each draw),
    ``depth_r2`` (the direction's R² for depth on ``test``), ``subspace`` (the same with every
    direction the depth classifier reads removed at once: ``dimension``, ``depth_subspace``,
    ``random_subspace``)), ``counter_unit`` and ``labels``.
    """
    sites = probe_sites(model)
    tr_F, te_F = site_features(model, train, sites), site_features(model, test, sites)
    tr_real, te_real = train.real, test.real
    variables = _depth_variables(train, test, n_types)
    controls = _control_labels(variables, train, test, seed)
    rows = [_site_row(site, tr_F[site], te_F[site], variables, controls, tr_real, te_real) for site in sites]
    ranked = sorted(rows, key=lambda r: -r["selectivity"])

    depth = variables["depth"]
    causal_site = next((r["site"] for r in ranked if intervenable(model, r["site"], test)), None)
    ablation = {"site": causal_site, "none": masked_accuracy(model, test.tokens, test.targets, test.readout)}
    if causal_site is not None:
        ablation |= _causal_test(
            model, causal_site, tr_F[causal_site], te_F[causal_site], depth, test, tr_real, seed, n_random
        )
    else:
        ablation |= {"depth_direction": None, "random_direction": None}
    return {
        "sites": rows,
        "best_site": ranked[0]["site"] if ranked else None,
        "ablation": ablation,
        "counter_unit": counter_unit(te_F, depth[1], te_real),
        "labels": {
            "depth": sorted(int(v) for v in np.unique(depth[0][tr_real])),
            "n_train_samples": int(tr_real.sum()),
            "n_test_samples": int(te_real.sum()),
        },
    }


def depth_probe_accuracy(
    model: nn.Module, site: str, train: ProbeData, test: ProbeData, n_types: int
) -> float:
    """The depth probe's test accuracy at one ``site`` (for progress over checkpoints)."""
    tr_F, te_F = site_features(model, train, [site])[site], site_features(model, test, [site])[site]
    tr_y, te_y = running_depth(train.X, n_types), running_depth(test.X, n_types)
    acc, _ = fit_probe(tr_F[train.real], tr_y[train.real], te_F[test.real], te_y[test.real])
    return acc
