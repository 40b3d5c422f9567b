"""Head ablations: replace one attention head's output and measure what the model still gets right.

A head's output is its weighted values at ``blocks.{l}.attn.hook_z`` (batch, pos, head, d_head),
before ``W_O`` mixes the heads, so one head can be replaced without touching the others:

- *zero* ablation sets it to 0;
- *mean* ablation sets it to its mean over the data (every example and every non-pad position): the
  head then adds what it adds on average and carries no information about the input. One mean over
  positions, not one per position, because the tasks place their content at random offsets.

Accuracy is the masked accuracy: the share of scored targets (``targets >= 0``) predicted right.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from baselines.hooks import hooks
from mechanisms.heads import CHUNK, activations, model_device

HookFn = Callable[[torch.Tensor, str], torch.Tensor | None]
MODES = ("zero", "mean")


def masked_accuracy(
    model: nn.Module,
    tokens: np.ndarray,
    targets: np.ndarray,
    readout: np.ndarray | None = None,
    fwd_hooks: dict[str, HookFn] | None = None,
) -> float:
    """Share of scored targets (``targets`` (n, P) >= 0, aligned with the model's output positions)
    that the model, with ``fwd_hooks`` attached, predicts right."""
    device = model_device(model)
    right = total = 0
    with torch.no_grad(), hooks(model, fwd_hooks or {}):
        for i in range(0, len(tokens), CHUNK):
            X = torch.as_tensor(tokens[i : i + CHUNK], device=device)
            R = None if readout is None else torch.as_tensor(readout[i : i + CHUNK], device=device)
            pred = model(X, R).argmax(-1).cpu().numpy()
            T = targets[i : i + CHUNK]
            scored = T >= 0
            right += int((pred[scored] == T[scored]).sum())
            total += int(scored.sum())
    return right / total if total else float("nan")


def _z_name(layer: int) -> str:
    return f"blocks.{layer}.attn.hook_z"


def head_means(
    model: nn.Module, tokens: np.ndarray, readout: np.ndarray | None, pad_id: int | None
) -> dict[int, np.ndarray]:
    """Per layer, each head's mean output (heads, d_head) over examples and non-pad positions, from
    the same forward pass as the one evaluated (so the last layer's readout query is what is averaged
    when the model reads one position)."""
    names = [_z_name(layer) for layer in range(model.cfg.n_layers)]
    cache = activations(model, tokens, names, readout)
    means = {}
    for layer, name in enumerate(names):
        z = cache[name]  # (n, pos, heads, d_head)
        if pad_id is not None and z.shape[1] == tokens.shape[1]:
            real = tokens != pad_id
            means[layer] = z[real].mean(axis=0)
        else:
            means[layer] = z.reshape(-1, *z.shape[2:]).mean(axis=0)
    return means


def ablation_hooks(
    heads: list[tuple[int, int]], mode: str, means: dict[int, np.ndarray] | None = None
) -> dict[str, HookFn]:
    """Hooks replacing the output of each (layer, head) in ``heads``: by 0 or by its mean (``means``)."""
    if mode not in MODES:
        raise ValueError(f"unknown ablation mode {mode!r}; accepted: {', '.join(MODES)}")
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)

    def make(layer: int, chosen: list[int]) -> HookFn:
        def replace(z: torch.Tensor, _name: str) -> torch.Tensor:
            z = z.clone()
            for h in chosen:
                if mode == "zero":
                    z[..., h, :] = 0.0
                else:
                    z[..., h, :] = torch.as_tensor(means[layer][h], dtype=z.dtype, device=z.device)
            return z

        return replace

    return {_z_name(layer): make(layer, chosen) for layer, chosen in by_layer.items()}


def ablation_table(
    model: nn.Module,
    tokens: np.ndarray,
    targets: np.ndarray,
    readout: np.ndarray | None,
    induction_head: list[int],
    previous_token_head: list[int],
    pad_id: int | None = None,
) -> dict:
    """Masked accuracy with no head ablated, and with each head ablated alone (zero and mean).

    Returns ``none``; ``induction_head``, ``previous_token_head`` and ``other_heads`` (mean-ablation
    accuracies: the last is the mean over every other head, each ablated alone); ``zero`` (the same
    three keys under zero ablation); ``per_head`` (``layer, head, zero, mean`` for every head);
    ``per_layer`` (``layer, zero, mean``: every head of the layer ablated at once).
    The induction and previous-token heads may be one head (a 1-layer model).
    """
    means = head_means(model, tokens, readout, pad_id)
    per_head = []
    for layer in range(model.cfg.n_layers):
        for h in range(model.cfg.n_heads):
            row = {"layer": layer, "head": h}
            for mode in MODES:
                fwd = ablation_hooks([(layer, h)], mode, means)
                row[mode] = masked_accuracy(model, tokens, targets, readout, fwd)
            per_head.append(row)

    def pick(head: list[int], mode: str) -> float:
        return next(r[mode] for r in per_head if [r["layer"], r["head"]] == list(head))

    def summary(mode: str) -> dict:
        others = [
            r[mode] for r in per_head if [r["layer"], r["head"]] not in (induction_head, previous_token_head)
        ]
        return {
            "induction_head": pick(induction_head, mode),
            "previous_token_head": pick(previous_token_head, mode),
            "other_heads": float(np.mean(others)) if others else None,
        }

    # Whole layers too: a trained model may spread one role over several heads (two induction heads),
    # which single-head ablations cannot show.
    per_layer = []
    for layer in range(model.cfg.n_layers):
        everyone = [(layer, h) for h in range(model.cfg.n_heads)]
        row = {"layer": layer}
        for mode in MODES:
            row[mode] = masked_accuracy(
                model, tokens, targets, readout, ablation_hooks(everyone, mode, means)
            )
        per_layer.append(row)
    return {
        "none": masked_accuracy(model, tokens, targets, readout),
        **summary("mean"),
        "mode": "mean",
        "zero": summary("zero"),
        "per_head": per_head,
        "per_layer": per_layer,
    }
