"""Attention-head scores of a transformer, computed from the tokens alone.

Pattern matrices follow TransformerLens's ``head_detector`` (``transformer_lens.head_detector``):

- *previous token*: query ``i`` → key ``i-1``;
- *duplicate token*: query ``i`` → every earlier key ``j < i`` holding the same token;
- *induction* (prefix matching): the duplicate pattern shifted one key to the right, i.e. query ``i``
  → key ``j`` when ``x[j-1] == x[i]`` and ``j-1 < i`` (the token right after an earlier occurrence).

A head's score is its attention mass on the pattern divided by its total attention ("mul"), summed
over every scored query of every row. As in TransformerLens's ``exclude_bos``, attention to the first
position is left out of both sums: with a causal mask the first key is the only one the first queries
can see, and models park attention there when they have nothing to do. Two choices of ours, because
these sequences have no BOS token and carry padding:

- only the query rows where the pattern has at least one key count (a perfect induction head on
  repeated random tokens then scores 1, not the share of second-half rows, which is a property of the
  data rather than the head);
- padding is ignored: pad queries are skipped and pad keys carry no mass.

Because the patterns come from token ids, the scores work for any token data, examples files
included. They are computed on the task's test data and on sequences of repeated random tokens
(Olsson et al. 2022: a random half repeated once).

The *copying* score of a head reads its OV circuit through the unembedding, ``W_E W_V W_O W_U``
(token attended to → logits it adds): the share of tokens whose own logit is strictly the largest of
their row (1 = every token it attends to is the token it promotes; chance is about 1/vocab). It is
defined only where the output classes are tokens (next-token targets); LayerNorm gains are folded in
as per-dimension scales and its centring applied to the embedding, its division by the norm left out
(a fixed per-position scale does not change an argmax).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from baselines.architectures import ATTENTION_PATTERN, architecture
from baselines.hooks import run_with_cache

#: Rows per forward pass when reading activations (keeps memory flat on large splits).
CHUNK = 512
SCORES = ("previous_token", "duplicate", "induction")


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def activations(
    model: nn.Module, tokens: np.ndarray, names: list[str], readout: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The activations at hook points ``names`` on ``tokens`` (n, L), as float64 arrays concatenated
    over rows (``readout``: the model's one readout position per row, or None for every position)."""
    device = model_device(model)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for i in range(0, len(tokens), CHUNK):
        X = torch.as_tensor(tokens[i : i + CHUNK], device=device)
        R = None if readout is None else torch.as_tensor(readout[i : i + CHUNK], device=device)
        _, cache = run_with_cache(model, X, R, names=names)
        for name in names:
            parts[name].append(cache[name].double().cpu().numpy())
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def pattern_matrices(tokens: np.ndarray, pad_id: int | None = None) -> dict[str, np.ndarray]:
    """Boolean (n, q, k) matrices ``previous_token``, ``duplicate`` and ``induction`` for ``tokens``
    (n, L); entries touching a pad (query or key) are False."""
    X = np.asarray(tokens)
    n, L = X.shape
    real = np.ones(X.shape, dtype=bool) if pad_id is None else X != pad_id
    valid = real[:, :, None] & real[:, None, :]
    q, k = np.arange(L)[:, None], np.arange(L)[None, :]
    previous = np.broadcast_to(k == q - 1, (n, L, L)) & valid
    duplicate = (X[:, :, None] == X[:, None, :]) & (k < q) & valid
    induction = np.zeros_like(duplicate)
    induction[:, :, 1:] = duplicate[:, :, :-1]
    return {"previous_token": previous, "duplicate": duplicate, "induction": induction & valid}


def pattern_score(attention: np.ndarray, pattern: np.ndarray, real: np.ndarray | None = None) -> np.ndarray:
    """Per head, the attention mass on ``pattern`` over the total attention (see the module docstring).

    ``attention`` (n, heads, q, k), ``pattern`` (n, q, k) bool, ``real`` (n, k) bool (non-pad keys).
    NaN for a head whose scored rows carry no attention at all (or when no row has a pattern entry).
    """
    A = np.array(attention, dtype=np.float64)
    A[..., 0] = 0.0  # the first position is excluded (TransformerLens's exclude_bos)
    if real is not None:
        A *= real[:, None, None, :]
    P = pattern.copy()
    P[..., 0] = False
    rows = P.any(-1)[:, None, :]  # (n, 1, q): queries where the pattern names a key
    on = ((A * P[:, None]).sum(-1) * rows).sum(axis=(0, 2))
    total = (A.sum(-1) * rows).sum(axis=(0, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, on / np.where(total > 0, total, 1.0), np.nan)


def attention_patterns(model: nn.Module, tokens: np.ndarray) -> np.ndarray:
    """Attention weights (layers, n, heads, q, k) of ``model`` on ``tokens`` (every query position)."""
    names = [site.name for site in architecture(model).sites(model) if site.kind == ATTENTION_PATTERN]
    cache = activations(model, np.asarray(tokens), names)
    return np.stack([cache[name] for name in names])


def repeated_random_tokens(pool: np.ndarray, n: int, half: int, seed: int = 0) -> np.ndarray:
    """``n`` rows of ``half`` random tokens from ``pool`` written twice (2·half tokens); tokens are
    distinct within a half when the pool is large enough, so that every second-half token has exactly
    one earlier occurrence."""
    rng = np.random.default_rng(seed)
    pool = np.unique(np.asarray(pool))
    if len(pool) >= half:
        first = pool[np.argsort(rng.random((n, len(pool))), axis=1)[:, :half]]
    else:
        first = rng.choice(pool, size=(n, half))
    return np.concatenate([first, first], axis=1).astype(np.int64)


def head_scores(model: nn.Module, tokens: np.ndarray, pad_id: int | None = None) -> dict[str, np.ndarray]:
    """Scores (layers, heads) of every head on ``tokens``: previous_token, duplicate, induction."""
    X = np.asarray(tokens)
    patterns = pattern_matrices(X, pad_id)
    real = None if pad_id is None else X != pad_id
    attention = attention_patterns(model, X)
    return {name: np.stack([pattern_score(a, patterns[name], real) for a in attention]) for name in SCORES}


def _ln_gain(norm: nn.Module, d_model: int) -> torch.Tensor:
    return norm.w.detach() if hasattr(norm, "w") else torch.ones(d_model)


def copying_scores(model: nn.Module, tokens: np.ndarray) -> np.ndarray | None:
    """Per head (layers, heads): the share of ``tokens`` whose own logit is strictly the largest in the
    head's full OV circuit ``W_E W_V W_O W_U`` restricted to those tokens; None where the output
    classes cannot be tokens (fewer classes than the largest token id)."""
    tokens = np.unique(np.asarray(tokens))
    cfg = model.cfg
    if len(tokens) < 2 or tokens.max() >= min(cfg.d_vocab, cfg.d_vocab_out):
        return None
    with torch.no_grad():
        idx = torch.as_tensor(tokens, device=model_device(model))
        W_E = model.W_E.detach()[idx]
        if cfg.normalization:
            W_E = W_E - W_E.mean(-1, keepdim=True)
        W_U = (model.W_U.detach() * _ln_gain(model.ln_final, cfg.d_model)[:, None])[:, idx]
        out = np.zeros((cfg.n_layers, cfg.n_heads))
        for layer, block in enumerate(model.blocks):
            gain = _ln_gain(block.ln1, cfg.d_model)
            for h in range(cfg.n_heads):
                circuit = (W_E * gain) @ block.attn.W_V[h].detach() @ block.attn.W_O[h].detach() @ W_U
                own = circuit.diagonal()
                others = circuit.clone()
                others.fill_diagonal_(-torch.inf)
                out[layer, h] = float((own > others.max(-1).values).double().mean())
    return out


def _argmax_head(scores: np.ndarray) -> list[int]:
    filled = np.where(np.isnan(scores), -np.inf, scores)
    layer, head = np.unravel_index(int(np.argmax(filled)), scores.shape)
    return [int(layer), int(head)]


def _num(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def head_table(
    model: nn.Module,
    test_tokens: np.ndarray,
    pad_id: int | None = None,
    n_random: int = 200,
    seed: int = 0,
) -> dict:
    """Every head's scores, and the heads identified as previous-token and induction heads.

    ``test_tokens``: the model's input tokens (n, L) of the task's test data. Repeated random tokens
    are drawn (``seed``) from the tokens present there, ``n_random`` rows of half the test width each
    half (at least 2). The ``previous_token``, ``duplicate`` and ``induction`` scores of each head are
    on the repeated random tokens (the field's standard probe); ``test`` holds the same on the test
    data. The previous-token head and the induction head are the argmax of their score on repeated
    random tokens over all heads.

    Returns ``heads`` (list of ``layer, head, previous_token, duplicate, induction, copying, test``),
    ``previous_token_head`` and ``induction_head`` ([layer, head]), and ``random_tokens`` (how the
    repeated sequences were drawn).
    """
    X = np.asarray(test_tokens)
    pool = np.unique(X if pad_id is None else X[X != pad_id])
    half = max(2, X.shape[1] // 2)
    random = repeated_random_tokens(pool, n_random, half, seed)
    on_random = head_scores(model, random)
    on_test = head_scores(model, X, pad_id)
    copying = copying_scores(model, pool)
    heads = []
    for layer in range(model.cfg.n_layers):
        for h in range(model.cfg.n_heads):
            heads.append(
                {
                    "layer": layer,
                    "head": h,
                    **{name: _num(on_random[name][layer, h]) for name in SCORES},
                    "copying": None if copying is None else float(copying[layer, h]),
                    "test": {name: _num(on_test[name][layer, h]) for name in SCORES},
                }
            )
    return {
        "heads": heads,
        "previous_token_head": _argmax_head(on_random["previous_token"]),
        "induction_head": _argmax_head(on_random["induction"]),
        "random_tokens": {"n": n_random, "half": half, "seed": seed, "pool": len(pool)},
    }


def best_induction_score(model: nn.Module, random_tokens: np.ndarray) -> float | None:
    """The largest induction score of any head on ``random_tokens`` (for progress over checkpoints)."""
    scores = head_scores(model, random_tokens)["induction"]
    return _num(np.nanmax(scores)) if np.isfinite(scores).any() else None
