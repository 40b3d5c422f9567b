"""A recurrent network (LSTM or GRU) over token sequences, written out step by step.

The recurrence is plain tensor ops rather than ``nn.LSTM`` so that many of these train side by side
as one stack (see :mod:`baselines.stacking`) and so that the hidden states are readable through
hooks. It reads left to right, so the output at position ``t`` depends on tokens
``0..t`` only.

Hook points::

    hook_embed                  (batch, pos, d_embed)
    layers.{l}.hook_hidden      (batch, pos, d_hidden)   hidden state after each token
    layers.{l}.hook_cell        (batch, pos, d_hidden)   LSTM cell state (LSTM only)
    hook_logits                 (batch, pos, d_vocab_out)

The state hooks fire *inside* the recurrence, once per step (see :meth:`Recurrent._at_step`): a hook
that replaces a state changes every later step, as an intervention on a recurrent variable must, and
the last call sees the whole sequence (what :func:`baselines.hooks.run_with_cache` keeps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from baselines.hooks import HookPoint, hooked
from baselines.params import normal, zeros
from baselines.stacking import Stackable, StackableModel, embed, linear, take

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


class Recurrent(Stackable):
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
        """``x`` (M, batch, pos, d_in) → hidden states (M, batch, pos, d_hidden)."""
        W_ih, W_hh, b_ih, b_hh = map(self.lead, (self.W_ih, self.W_hh, self.b_ih, self.b_hh))
        M, batch = x.shape[:2]
        d = W_hh.shape[1]
        # The input part of every gate at all positions at once (only the recurrence loops), split by
        # position in one op (indexing position t instead makes the backward pass build a zero
        # gradient of the whole input for every t: quadratic in the length, 60% of a step here).
        bias = b_ih + b_hh if self.cell == "lstm" else b_ih  # the GRU's candidate gate scales b_hh by r
        inputs = linear(x, W_ih, bias).unbind(2)
        h = c = x.new_zeros(M, batch, d)
        hs, cs = [], []
        # A hook attached to a state fires inside the recurrence, once per step, so that what it
        # returns feeds the later steps; unhooked (all of training), the loop is the plain one.
        hook_c = self.cell == "lstm" and hooked(self.hook_cell)
        hook_h = hooked(self.hook_hidden)
        for t, x_t in enumerate(inputs):
            if self.cell == "lstm":
                i, f, g, o = torch.baddbmm(x_t, h, W_hh).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                if hook_c:
                    c = self._at_step(self.hook_cell, cs, c, t, len(inputs))
                h = torch.sigmoid(o) * torch.tanh(c)
                cs.append(c)
            else:
                xr, xz, xn = x_t.chunk(3, dim=-1)
                hr, hz, hn = torch.baddbmm(b_hh.unsqueeze(1), h, W_hh).chunk(3, dim=-1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                h = (1 - z) * torch.tanh(xn + r * hn) + z * h
            if hook_h:
                h = self._at_step(self.hook_hidden, hs, h, t, len(inputs))
            hs.append(h)
        return torch.stack(hs, dim=2)

    def _at_step(self, point: HookPoint, past: list[torch.Tensor], state: torch.Tensor, t: int, T: int):
        """The state of step ``t`` (M, batch, d) as ``point``'s hooks leave it. They see the whole
        sequence's shape (M, batch, T, d): the states so far (``past``, detached: only step ``t`` is
        read back), step ``t``, and zeros for the steps to come; position ``t`` of what they return
        is the new state. A hook that acts position by position thus acts at each step as the
        recurrence reaches it, and the last call (t = T − 1) sees every state, as a cache should."""
        future = state.new_zeros(*state.shape[:2], T - t - 1, state.shape[-1])
        seq = torch.cat([torch.stack([p.detach() for p in past] + [state], dim=2), future], dim=2)
        return self.hook(point, seq)[:, :, t]


class LSTM(StackableModel):
    """Token ids ``(batch, pos)`` → logits ``(batch, pos, d_vocab_out)`` at every position, or
    ``(batch, 1, d_vocab_out)`` at one ``readout`` position per row; a stack of ``M`` models
    (:func:`baselines.stacking.stack_modules`) takes and gives a leading model axis."""

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

    def run(self, tokens: torch.Tensor, readout: torch.Tensor | None) -> torch.Tensor:
        x = self.hook(self.hook_embed, embed(self.lead(self.W_E), tokens))
        for layer in self.layers:
            x = layer(x)
        if readout is not None:  # only the hidden state at each row's readout position
            x = take(x, readout)
        return self.hook(self.hook_logits, linear(x, self.lead(self.W_U), self.lead(self.b_U)))
