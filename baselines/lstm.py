"""A recurrent network (LSTM or GRU) over token sequences, written out step by step.

The recurrence is plain tensor ops rather than ``nn.LSTM`` so that ``torch.func.vmap`` can train
many of these side by side (see :mod:`baselines.batched`) and so that the hidden states are
readable through hooks. It reads left to right, so the output at position ``t`` depends on tokens
``0..t`` only.

Hook points::

    hook_embed                  (batch, pos, d_embed)
    layers.{l}.hook_hidden      (batch, pos, d_hidden)   hidden state after each token
    layers.{l}.hook_cell        (batch, pos, d_hidden)   LSTM cell state (LSTM only)
    hook_logits                 (batch, pos, d_vocab_out)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from baselines.hooks import HookPoint
from baselines.params import linear, normal, zeros

CELLS = ("lstm", "gru")


@dataclass
class LSTMConfig:
    """Architecture of :class:`LSTM`."""

    d_vocab: int
    d_vocab_out: int
    d_embed: int = 32
    d_hidden: int = 64
    n_layers: int = 1
    cell: str = "lstm"

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; accepted: {', '.join(CELLS)}")


class Recurrent(nn.Module):
    """One recurrent layer; gates are stacked along the last axis (LSTM: i, f, g, o; GRU: r, z, n)."""

    def __init__(self, d_in: int, d_hidden: int, cell: str, g: torch.Generator) -> None:
        super().__init__()
        n_gates = 4 if cell == "lstm" else 3
        std = 1 / math.sqrt(d_hidden)
        self.cell = cell
        self.W_ih = normal((d_in, n_gates * d_hidden), std, g)
        self.W_hh = normal((d_hidden, n_gates * d_hidden), std, g)
        self.b_ih = zeros((n_gates * d_hidden,))
        self.b_hh = zeros((n_gates * d_hidden,))
        if cell == "lstm":
            # A forget-gate bias of 1 keeps memory by default: the usual remedy for early forgetting.
            with torch.no_grad():
                self.b_ih[d_hidden : 2 * d_hidden] = 1.0
            self.hook_cell = HookPoint()
        self.hook_hidden = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, n_pos, _ = x.shape
        d = self.W_hh.shape[0]
        inputs = linear(x, self.W_ih) + self.b_ih  # all positions at once; only the recurrence loops
        h = x.new_zeros(batch, d)
        c = x.new_zeros(batch, d)
        hs, cs = [], []
        for t in range(n_pos):
            rec = h @ self.W_hh + self.b_hh
            if self.cell == "lstm":
                i, f, gate, o = (inputs[:, t] + rec).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gate)
                h = torch.sigmoid(o) * torch.tanh(c)
                cs.append(c)
            else:
                xr, xz, xn = inputs[:, t].chunk(3, dim=-1)
                hr, hz, hn = rec.chunk(3, dim=-1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                h = (1 - z) * torch.tanh(xn + r * hn) + z * h
            hs.append(h)
        if self.cell == "lstm":
            self.hook_cell(torch.stack(cs, dim=1))
        return self.hook_hidden(torch.stack(hs, dim=1))


class LSTM(nn.Module):
    """Token ids ``(batch, pos)`` → logits ``(batch, pos, d_vocab_out)`` at every position, or
    ``(batch, 1, d_vocab_out)`` at one ``readout`` position per row."""

    def __init__(self, cfg: LSTMConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.cfg = cfg
        self.W_E = normal((cfg.d_vocab, cfg.d_embed), 1 / math.sqrt(cfg.d_embed), generator)
        widths = [cfg.d_embed] + [cfg.d_hidden] * cfg.n_layers
        self.layers = nn.ModuleList(
            Recurrent(a, b, cfg.cell, generator) for a, b in zip(widths, widths[1:], strict=False)
        )
        self.W_U = normal((cfg.d_hidden, cfg.d_vocab_out), 1 / math.sqrt(cfg.d_hidden), generator)
        self.b_U = zeros((cfg.d_vocab_out,))
        self.hook_embed, self.hook_logits = HookPoint(), HookPoint()

    def forward(self, tokens: torch.Tensor, readout: torch.Tensor | None = None) -> torch.Tensor:
        x = self.hook_embed(self.W_E[tokens])
        for layer in self.layers:
            x = layer(x)
        if readout is not None:  # only the hidden state at each row's readout position
            x = x[torch.arange(x.shape[0], device=x.device), readout][:, None]
        return self.hook_logits(linear(x, self.W_U) + self.b_U)
