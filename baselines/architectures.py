"""One adapter per network architecture: what an analysis may ask of a model without naming its class.

In the spirit of pyvene's model cards and TransformerLens' conversion layer, each model class of
:mod:`baselines` (:class:`~baselines.transformer.Transformer`, :class:`~baselines.lstm.LSTM`,
:class:`~baselines.mlp.MLP`) has one :class:`Architecture` registered for it; :func:`architecture`
finds it from a model. An adapter says

- the model's **sites** (:class:`Site`: hook point, kind, layer, positions axis) in forward order,
  and the site lists the analyses read (:meth:`Architecture.alignment_sites`,
  :meth:`Architecture.probe_sites`) and the **neuron site** (:meth:`Architecture.neuron_site`);
- whether it has **positions** (one activation per input position, or one vector per example) and
  **attention heads**;
- how to **run it with a change at a site** (:meth:`Architecture.run_with_change`): through the
  site's hook (an LSTM's state hooks fire inside the recurrence, step by step: see
  :mod:`baselines.lstm`);
- how to build an **untrained copy**, and its **cost-model shape** (tokens a training row puts
  through it, attention flops, dispatched ops per training step).

Analyses in :mod:`mechanisms` and the cost model in :mod:`compare` ask the adapter instead of testing
a model's class or a method's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from baselines.hooks import hooks
from baselines.lstm import LSTM
from baselines.mlp import MLP
from baselines.transformer import Transformer

# Site kinds.
EMBED = "embed"
RESIDUAL = "residual"
ATTENTION_PATTERN = "attention_pattern"
HEAD_OUTPUT = "head_output"
MLP_PRE = "mlp_pre"
MLP_POST = "mlp_post"
HIDDEN = "hidden"
CELL = "cell"

#: A change at a site: the activation as (batch, positions, d) → its replacement. Inside a recurrence
#: it is called once per step (the steps to come are zeros then, and only the current step's
#: position of the result is kept), so a change should act position by position.
Change = Callable[[torch.Tensor], torch.Tensor]


def head_site(hook: str, head: int) -> str:
    """The name of one attention head's slice of a per-head hook (``blocks.0.attn.hook_z[1]``)."""
    return f"{hook}[{head}]"


def split_site(site: str) -> tuple[str, int | None]:
    """(hook point, head index or None) of an analysis site name (:func:`head_site`)."""
    if site.endswith("]") and "[" in site:
        hook, _, head = site[:-1].rpartition("[")
        return hook, int(head)
    return site, None


@dataclass(frozen=True)
class Site:
    """A named activation site: its hook point ``name``, its ``kind`` (one of the constants above),
    its ``layer`` (None before the first layer) and whether analyses read it per input position
    (``positions``; False where the architecture has one vector per example)."""

    name: str
    kind: str
    layer: int | None
    positions: bool


class Architecture:
    """What an analysis may ask of a network: the base holds what the architectures share."""

    #: The architecture's name (the learner's method name).
    name: ClassVar[str]
    #: The model class this adapter describes.
    model_class: ClassVar[type[nn.Module]]
    #: One activation per input position (False: one vector per example).
    has_positions: ClassVar[bool] = True
    #: Attention heads whose patterns and outputs have hooks.
    has_heads: ClassVar[bool] = False

    def sites(self, model: nn.Module) -> list[Site]:
        """Every site of ``model`` in the order the forward pass reaches it."""
        raise NotImplementedError

    def alignment_sites(self, model: nn.Module) -> list[str]:
        """The sites program alignment probes and intervenes at (:mod:`mechanisms.align`), in order:
        hook point names, or one head's slice of a per-head hook (:func:`head_site`)."""
        raise NotImplementedError

    def probe_sites(self, model: nn.Module) -> list[str]:
        """The sites the depth probes read (:mod:`mechanisms.probes`), in order."""
        raise NotImplementedError

    def neuron_site(self, cfg: Any) -> str | None:
        """The hook holding the model's neurons, the last hidden layer's post-activation (None
        without one). ``cfg``: the model's config, or any object with its fields (a learner)."""
        return None

    def as_positions(self, act: torch.Tensor) -> torch.Tensor:
        """A site's activation as (batch, positions, d)."""
        return act

    def site_view(self, act: torch.Tensor, site: str) -> torch.Tensor:
        """The activation of ``site`` as (batch, positions, d), from its hook point's activation
        ``act`` (one head's slice for a head site)."""
        _, head = split_site(site)
        return self.as_positions(act if head is None else act[:, :, head])

    def recurrent_state(self, site: str | None) -> tuple[int, str] | None:
        """(layer, state) when ``site`` is a state inside a recurrence (its hook fires at every step),
        else None."""
        return None

    def run_with_change(
        self,
        model: nn.Module,
        tokens: torch.Tensor,
        readout: torch.Tensor | None,
        site: str | None,
        change: Change | None,
    ) -> torch.Tensor:
        """``model(tokens, readout)`` with ``change`` applied at ``site`` (None: no change); the
        result keeps the autograd graph (a change may be trained through it)."""
        if site is None:
            return model(tokens, readout)
        point, head = split_site(site)

        def hook(act: torch.Tensor, _name: str) -> torch.Tensor:
            if head is None:
                return change(self.as_positions(act)).reshape(act.shape)
            parts = list(act.unbind(2))  # one head's slice changed, the others kept (autograd-safe)
            parts[head] = change(parts[head])
            return torch.stack(parts, dim=2)

        with hooks(model, {point: hook}):
            return model(tokens, readout)

    def untrained(self, model: nn.Module, seed: int) -> nn.Module:
        """A freshly initialized network of ``model``'s architecture and config, on its device."""
        fresh = self.model_class(model.cfg, torch.Generator().manual_seed(seed))
        return fresh.to(next(model.parameters()).device).eval()

    # --- the cost model's shape ---------------------------------------------------------------
    def tokens_per_row(self, width: int, per_position: bool) -> int:
        """Tokens one training row of ``width`` tokens puts through the network: a sequence model
        reads the row's tokens, plus the separator where one label is read out."""
        return width + (0 if per_position else 1)

    def attention_flops(self, cfg: Any, tokens: int) -> float:
        """Forward flops per row beyond the weight products (attention scores and mixing)."""
        return 0.0

    def step_ops(self, cfg: Any, tokens: int) -> int:
        """Dispatched operation groups per training step: one per layer, after the embedding."""
        return 1 + cfg.n_layers


class TransformerArchitecture(Architecture):
    """:class:`baselines.transformer.Transformer`: a residual stream with attention heads."""

    name = "transformer"
    model_class = Transformer
    has_heads = True

    def sites(self, model: nn.Module) -> list[Site]:
        out = [Site("blocks.0.hook_resid_pre", RESIDUAL, None, True)]
        for layer in range(model.cfg.n_layers):
            # A later block's hook_resid_pre is the previous block's hook_resid_post: listed once.
            block = f"blocks.{layer}"
            out.append(Site(f"{block}.attn.hook_pattern", ATTENTION_PATTERN, layer, True))
            out.append(Site(f"{block}.attn.hook_z", HEAD_OUTPUT, layer, True))
            if not model.cfg.attn_only:
                out.append(Site(f"{block}.hook_resid_mid", RESIDUAL, layer, True))
                out.append(Site(f"{block}.mlp.hook_pre", MLP_PRE, layer, True))
                out.append(Site(f"{block}.mlp.hook_post", MLP_POST, layer, True))
            out.append(Site(f"{block}.hook_resid_post", RESIDUAL, layer, True))
        return out

    def alignment_sites(self, model: nn.Module) -> list[str]:
        """In forward order: the residual stream before the first block; per block each head's
        output (``hook_z[h]``: a value one head writes, looked for before the residual mixes it),
        the residual after attention, the MLP's input and output, and the residual after the MLP."""
        out = []
        for site in self.sites(model):
            if site.kind == HEAD_OUTPUT:
                out += [head_site(site.name, h) for h in range(model.cfg.n_heads)]
            elif site.kind in (RESIDUAL, MLP_PRE, MLP_POST):
                out.append(site.name)
        return out

    def probe_sites(self, model: nn.Module) -> list[str]:
        """The residual stream before the first block and after each block."""
        posts = [f"blocks.{layer}.hook_resid_post" for layer in range(model.cfg.n_layers)]
        return ["blocks.0.hook_resid_pre", *posts]

    def neuron_site(self, cfg: Any) -> str | None:
        if cfg.attn_only or not cfg.n_layers:
            return None
        return f"blocks.{cfg.n_layers - 1}.mlp.hook_post"

    def attention_flops(self, cfg: Any, tokens: int) -> float:
        """Scores and weighted values: tokens² per head dimension, per layer."""
        return 4 * tokens * tokens * cfg.n_heads * cfg.d_head * cfg.n_layers

    def pattern_sites(self, model: nn.Module) -> list[str]:
        """Each layer's attention pattern (batch, heads, queries, keys), in layer order."""
        return [s.name for s in self.sites(model) if s.kind == ATTENTION_PATTERN]


class LSTMArchitecture(Architecture):
    """:class:`baselines.lstm.LSTM`: recurrent hidden (and, for an LSTM cell, cell) states."""

    name = "lstm"
    model_class = LSTM

    def sites(self, model: nn.Module) -> list[Site]:
        out = [Site("hook_embed", EMBED, None, True)]
        for layer, block in enumerate(model.layers):
            if block.cell == "lstm":  # the cell state of a step is computed before its hidden state
                out.append(Site(f"layers.{layer}.hook_cell", CELL, layer, True))
            out.append(Site(f"layers.{layer}.hook_hidden", HIDDEN, layer, True))
        return out

    def alignment_sites(self, model: nn.Module) -> list[str]:
        """The embedding, then each layer's hidden and cell state."""
        out = ["hook_embed"]
        for layer, block in enumerate(model.layers):
            out.append(f"layers.{layer}.hook_hidden")
            if block.cell == "lstm":
                out.append(f"layers.{layer}.hook_cell")
        return out

    def probe_sites(self, model: nn.Module) -> list[str]:
        return self.alignment_sites(model)

    def recurrent_state(self, site: str | None) -> tuple[int, str] | None:
        if site is None or not site.startswith("layers."):
            return None
        _, layer, hook = site.split(".")
        return int(layer), hook.removeprefix("hook_")

    def step_ops(self, cfg: Any, tokens: int) -> int:
        """The recurrence runs step by step: one group per token per layer."""
        return 1 + cfg.n_layers * tokens


class MLPArchitecture(Architecture):
    """:class:`baselines.mlp.MLP`: one vector per example (the embeddings concatenated)."""

    name = "mlp"
    model_class = MLP
    has_positions = False

    def sites(self, model: nn.Module) -> list[Site]:
        out = [Site("hook_embed", EMBED, None, False)]
        for layer in range(len(model.blocks)):
            out.append(Site(f"blocks.{layer}.hook_pre", MLP_PRE, layer, False))
            out.append(Site(f"blocks.{layer}.hook_post", MLP_POST, layer, False))
        return out

    def alignment_sites(self, model: nn.Module) -> list[str]:
        """The embedding and each hidden layer before and after its activation."""
        return [s.name for s in self.sites(model)]

    def probe_sites(self, model: nn.Module) -> list[str]:
        """The embedding alone: the depth probes read positions, which only the embedding keeps."""
        return ["hook_embed"]

    def neuron_site(self, cfg: Any) -> str | None:
        return f"blocks.{cfg.n_layers - 1}.hook_post" if cfg.n_layers else None

    def as_positions(self, act: torch.Tensor) -> torch.Tensor:
        return act.reshape(act.shape[0], 1, -1)

    def tokens_per_row(self, width: int, per_position: bool) -> int:
        """The MLP reads a row as one input."""
        return 1


#: The adapters by model class.
ARCHITECTURES: dict[type[nn.Module], Architecture] = {
    arch.model_class: arch for arch in (TransformerArchitecture(), LSTMArchitecture(), MLPArchitecture())
}
TRANSFORMER = ARCHITECTURES[Transformer]
LSTM_ARCHITECTURE = ARCHITECTURES[LSTM]
MLP_ARCHITECTURE = ARCHITECTURES[MLP]


def architecture(model: nn.Module) -> Architecture:
    """The adapter of ``model``'s class; ValueError naming the known architectures otherwise."""
    try:
        return ARCHITECTURES[type(model)]
    except KeyError:
        known = ", ".join(cls.__name__ for cls in ARCHITECTURES)
        raise ValueError(f"no architecture adapter for {type(model).__name__}; known: {known}") from None
