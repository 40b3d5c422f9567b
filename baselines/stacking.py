"""One forward pass for one model or a stack of ``M`` models: every tensor carries a leading model axis.

A grid trains hundreds of tiny models, and a CPU runs one batched matrix product over many models
much faster than many small products one after another (each torch op costs microseconds of
dispatch whatever its size). So every model of :mod:`baselines` computes on tensors whose first
axis indexes models, with batched products (``torch.bmm`` / ``torch.baddbmm``) over that axis:

- a **single model** (``stacked`` False) keeps its parameters in their TransformerLens shapes and
  runs as a stack of one (each parameter viewed with a leading axis of 1); its hook points see
  activations without the model axis, as in TransformerLens;
- :func:`stack_modules` turns ``M`` single models of one architecture into one module whose
  parameters hold all of them along a leading axis ``(M, ...)`` (the same names), and whose forward
  takes and returns tensors with that axis.

The same code runs both, so a stack computes what its models compute alone (up to the summation
order inside the products), and each model's gradient depends on its own loss only.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from baselines.hooks import HookPoint, hooked


class Stackable(nn.Module):
    """A module whose parameters may carry a leading model axis (``stacked``)."""

    stacked: bool = False

    def lead(self, t: torch.Tensor | None) -> torch.Tensor | None:
        """``t`` with a leading model axis (a view with an axis of 1 for a single model)."""
        return t if t is None or self.stacked else t.unsqueeze(0)

    def hook(self, point: HookPoint, x: torch.Tensor) -> torch.Tensor:
        """Pass ``x`` (M, ...) through ``point``; a single model's hooks see ``x[0]``."""
        if not hooked(point):
            return x  # nothing attached: skip the module call (most calls, and all of training)
        return point(x) if self.stacked else point(x[0]).unsqueeze(0)


class StackableModel(Stackable):
    """A whole model: ``forward`` takes (batch, ...) alone, or (M, batch, ...) when stacked."""

    def run(self, tokens: torch.Tensor, readout: torch.Tensor | None) -> torch.Tensor:
        """Token ids (M, batch, pos) and readout positions (M, batch) or None → logits (M, batch, P, C)."""
        raise NotImplementedError

    def forward(self, tokens: torch.Tensor, readout: torch.Tensor | None = None) -> torch.Tensor:
        if self.stacked:
            return self.run(tokens, readout)
        return self.run(tokens[None], None if readout is None else readout[None])[0]


def stack_modules(models: list[nn.Module]) -> nn.Module:
    """One module running all ``models`` (one architecture): each parameter stacked to (M, ...)."""
    stack = copy.deepcopy(models[0])
    for name, _ in models[0].named_parameters():
        owner, _, attr = name.rpartition(".")
        values = torch.stack([m.get_parameter(name).detach() for m in models])
        setattr(stack.get_submodule(owner), attr, nn.Parameter(values))
    for module in stack.modules():
        if isinstance(module, Stackable):
            module.stacked = True
    return stack


def per_model(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """``t`` (M, *rest) viewed to broadcast against a tensor of ``ndim`` dims (M, ..., *rest)."""
    return t.view(t.shape[0], *(1,) * (ndim - t.dim()), *t.shape[1:])


def linear(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ W[m] + b[m]`` for each model m: ``x`` (M, ..., d_in), ``W`` (M, d_in, d_out), ``b`` (M, d_out).

    The rows of each model are flattened into one matrix, so a stack runs one batched product (a
    broadcast ``x @ W`` over extra axes would multiply many tiny matrices, 3-4x slower here).
    """
    M, d_in, d_out = W.shape
    flat = x.reshape(M, -1, d_in)
    out = torch.bmm(flat, W) if b is None else torch.baddbmm(b.unsqueeze(1), flat, W)
    return out.view(*x.shape[:-1], d_out)


def embed(W: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Each model's rows of its table: ``W`` (M, d_vocab, d), ``tokens`` (M, ...) → (M, ..., d)."""
    M, d_vocab, _ = W.shape
    if M > 1:  # one lookup in the tables laid end to end
        offsets = torch.arange(0, M * d_vocab, d_vocab, device=tokens.device)
        tokens = tokens + per_model(offsets, tokens.dim())
    return nn.functional.embedding(tokens, W.reshape(M * d_vocab, -1))


def take(x: torch.Tensor, readout: torch.Tensor) -> torch.Tensor:
    """Row ``(m, b)`` of ``x`` (M, batch, pos, ...) at position ``readout[m, b]``, as (M, batch, 1, ...)."""
    M, batch = readout.shape
    rows = torch.arange(M * batch, device=x.device)
    return x.flatten(0, 1)[rows, readout.flatten()].view(M, batch, 1, *x.shape[3:])
