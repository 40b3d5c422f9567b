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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from baselines.hooks import HookPoint
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
        for x_t in inputs:
            if self.cell == "lstm":
                i, f, g, o = torch.baddbmm(x_t, h, W_hh).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                cs.append(c)
            else:
                xr, xz, xn = x_t.chunk(3, dim=-1)
                hr, hz, hn = torch.baddbmm(b_hh.unsqueeze(1), h, W_hh).chunk(3, dim=-1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                h = (1 - z) * torch.tanh(xn + r * hn) + z * h
            hs.append(h)
        if self.cell == "lstm":
            self.hook(self.hook_cell, torch.stack(cs, dim=2))
        return self.hook(self.hook_hidden, torch.stack(hs, dim=2))


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


#: A change applied inside the recurrence: the state (batch, d_hidden) at step ``t`` → its replacement.
StateChange = Callable[[torch.Tensor, int], torch.Tensor]


def recurrent_logits(
    model: LSTM,
    tokens: torch.Tensor,
    readout: torch.Tensor | None,
    site: tuple[int, str] | None = None,
    change: StateChange | None = None,
) -> torch.Tensor:
    """The logits of ``model`` (one unstacked :class:`LSTM`) with ``change(state, t)`` applied to the
    state at ``site`` ((layer, "hidden" or "cell")) at every step ``t``, inside the recurrence, before
    the state feeds the next step (the hooks of :class:`Recurrent` see the states only after the
    whole sequence has run, so a hook there would reach the readout alone).

    The step equations are those of :meth:`Recurrent.forward`, written for one model: without
    ``site`` the logits are the model's own (:func:`check_recurrence` tests that they still are).
    """
    x = model.W_E[tokens]
    for index, layer in enumerate(model.layers):
        lstm = layer.cell == "lstm"
        d = layer.W_hh.shape[0]
        inputs = x @ layer.W_ih + (layer.b_ih + layer.b_hh if lstm else layer.b_ih)
        h = c = x.new_zeros(x.shape[0], d)
        states = []
        for t in range(x.shape[1]):
            if lstm:
                i, f, g, o = (inputs[:, t] + h @ layer.W_hh).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                if site == (index, "cell"):
                    c = change(c, t)
                h = torch.sigmoid(o) * torch.tanh(c)
            else:
                xr, xz, xn = inputs[:, t].chunk(3, dim=-1)
                hr, hz, hn = (layer.b_hh + h @ layer.W_hh).chunk(3, dim=-1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                h = (1 - z) * torch.tanh(xn + r * hn) + z * h
            if site == (index, "hidden"):
                h = change(h, t)
            states.append(h)
        x = torch.stack(states, dim=1)
    if readout is not None:
        x = x[torch.arange(len(x), device=x.device), readout][:, None]
    return x @ model.W_U + model.b_U


def check_recurrence(model: LSTM, tokens: torch.Tensor, readout: torch.Tensor | None) -> None:
    """ValueError unless :func:`recurrent_logits` without a change reproduces ``model``'s own logits
    on ``tokens`` (it is a second copy of the step equations: this catches the two drifting apart)."""
    with torch.no_grad():
        if not torch.allclose(recurrent_logits(model, tokens, readout), model(tokens, readout), atol=1e-5):
            raise ValueError("baselines.lstm.recurrent_logits no longer mirrors baselines.lstm.Recurrent")
