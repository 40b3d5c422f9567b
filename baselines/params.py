"""Seeded parameter creation and activation functions shared by the torch models.

Parameters are drawn from an explicit ``torch.Generator`` (on the CPU, so that the same seed gives
the same weights on every device) in a fixed order, which makes a model a pure function of its
config and seed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def normal(shape: tuple[int, ...], std: float, generator: torch.Generator) -> nn.Parameter:
    """A parameter with independent N(0, std²) entries."""
    return nn.Parameter(torch.randn(shape, generator=generator) * std)


def zeros(shape: tuple[int, ...]) -> nn.Parameter:
    return nn.Parameter(torch.zeros(shape))


def maybe_bias(shape: tuple[int, ...], use_bias: bool) -> nn.Parameter | None:
    """A zero-initialized bias, or None when biases are switched off."""
    return zeros(shape) if use_bias else None


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "gelu": nn.functional.gelu,
    # Gromov 2023: a quadratic activation lets a 2-layer MLP solve modular addition analytically.
    "quadratic": torch.square,
}


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation function called ``name``; ValueError naming the accepted ones."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; accepted: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]
