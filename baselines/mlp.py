"""An MLP over learned token embeddings, for inputs of fixed arity (operands, fixed-width tokens).

The ``n_ctx`` input tokens are embedded with one shared table, concatenated and passed through
``n_layers`` hidden layers; the output layer gives ``n_out`` groups of logits (1 for one label per
example, ``L`` for per-position targets).

Hook points::

    hook_embed                        (batch, n_ctx, d_embed)
    blocks.{l}.hook_pre / hook_post   (batch, d_mlp)   hidden layer l before / after the activation
    hook_logits                       (batch, n_out, d_vocab_out)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from baselines.hooks import HookPoint
from baselines.params import activation, maybe_bias, normal
from baselines.stacking import Stackable, StackableModel, embed, linear


@dataclass
class MLPConfig:
    """Architecture of :class:`MLP`."""

    d_vocab: int
    d_vocab_out: int
    n_ctx: int
    n_out: int = 1
    d_embed: int = 32
    d_mlp: int = 128
    n_layers: int = 1
    act: str = "relu"
    use_bias: bool = True

    def __post_init__(self) -> None:
        activation(self.act)


class Hidden(Stackable):
    def __init__(self, d_in: int, d_out: int, act: str, use_bias: bool, g: torch.Generator) -> None:
        super().__init__()
        self.W = normal((d_in, d_out), 1 / math.sqrt(d_in), g)
        self.b = maybe_bias((d_out,), use_bias)
        self.act = activation(act)
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.hook(self.hook_pre, linear(x, self.lead(self.W), self.lead(self.b)))
        return self.hook(self.hook_post, self.act(pre))


class MLP(StackableModel):
    """Token ids ``(batch, n_ctx)`` → logits ``(batch, n_out, d_vocab_out)``; a stack of ``M`` models
    (:func:`baselines.stacking.stack_modules`) takes and gives a leading model axis."""

    def __init__(self, cfg: MLPConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.cfg = cfg
        self.W_E = normal((cfg.d_vocab, cfg.d_embed), 1 / math.sqrt(cfg.d_embed), generator)
        widths = [cfg.n_ctx * cfg.d_embed] + [cfg.d_mlp] * cfg.n_layers
        self.blocks = nn.ModuleList(
            Hidden(a, b, cfg.act, cfg.use_bias, generator) for a, b in zip(widths, widths[1:], strict=False)
        )
        d_out = cfg.n_out * cfg.d_vocab_out
        self.W_U = normal((widths[-1], d_out), 1 / math.sqrt(widths[-1]), generator)
        self.b_U = maybe_bias((d_out,), cfg.use_bias)
        self.hook_embed, self.hook_logits = HookPoint(), HookPoint()

    def run(self, tokens: torch.Tensor, readout: torch.Tensor | None) -> torch.Tensor:
        """``readout`` is accepted for a common interface and ignored (the MLP has no positions)."""
        if tokens.shape[-1] != self.cfg.n_ctx:
            raise ValueError(f"the MLP takes {self.cfg.n_ctx} tokens per example, got {tokens.shape[-1]}")
        x = self.hook(self.hook_embed, embed(self.lead(self.W_E), tokens)).flatten(-2)
        for block in self.blocks:
            x = block(x)
        logits = linear(x, self.lead(self.W_U), self.lead(self.b_U))
        return self.hook(self.hook_logits, logits.unflatten(-1, (self.cfg.n_out, self.cfg.d_vocab_out)))
