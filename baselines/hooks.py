"""Named activation sites (TransformerLens style) and ways to read or replace them.

Every model in :mod:`baselines` passes its intermediate activations through :class:`HookPoint`
modules; a hook point's name is its path in the module tree, for example
``blocks.0.attn.hook_pattern``. Mechanism analysis reads activations with :func:`run_with_cache`
and intervenes (ablation, activation patching) with :func:`run_with_hooks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

#: A hook receives the activation and the hook point's name; it returns a replacement or None.
HookFn = Callable[[torch.Tensor, str], "torch.Tensor | None"]


class HookPoint(nn.Module):
    """An identity module marking a named activation site."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def hooked(point: HookPoint) -> bool:
    """Whether anything is attached to ``point`` (else a forward may skip it, or work around it)."""
    return bool(point._forward_hooks or point._forward_pre_hooks)


def hook_points(model: nn.Module) -> dict[str, HookPoint]:
    """All hook points of ``model`` by name, in forward order of definition."""
    return {name: m for name, m in model.named_modules() if isinstance(m, HookPoint)}


def _resolve(model: nn.Module, names: Iterable[str]) -> dict[str, HookPoint]:
    points = hook_points(model)
    unknown = [n for n in names if n not in points]
    if unknown:
        raise ValueError(f"unknown hook point {unknown[0]!r}; accepted: {', '.join(points)}")
    return {n: points[n] for n in names}


@contextmanager
def hooks(model: nn.Module, fwd_hooks: dict[str, HookFn]) -> Iterator[None]:
    """Attach ``fwd_hooks`` (name → function) for the duration of a ``with`` block.

    A function that returns a tensor replaces the activation (for ablations and patching).
    """
    handles = []
    try:
        for name, point in _resolve(model, fwd_hooks).items():
            fn = fwd_hooks[name]
            handles.append(point.register_forward_hook(lambda _m, _i, out, fn=fn, name=name: fn(out, name)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def run_with_hooks(model: nn.Module, *args, fwd_hooks: dict[str, HookFn], **kwargs):
    """Run ``model(*args, **kwargs)`` with the given hooks attached, and return its output."""
    with hooks(model, fwd_hooks):
        return model(*args, **kwargs)


def run_with_cache(
    model: nn.Module, *args, names: Iterable[str] | None = None, **kwargs
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run the model and return ``(output, cache)``: detached activations by hook-point name.

    ``names`` restricts the cache to some hook points (all of them by default). NumPy arrays among
    ``args`` (a split's ``X``, token ids) are turned into tensors on the model's device first.
    """
    names = list(hook_points(model) if names is None else names)
    args = tuple(_as_tensor(model, a) for a in args)
    cache: dict[str, torch.Tensor] = {}

    def store(act: torch.Tensor, name: str) -> None:
        cache[name] = act.detach()

    with torch.no_grad():
        out = run_with_hooks(model, *args, fwd_hooks={n: store for n in names}, **kwargs)
    return out, cache


def _as_tensor(model: nn.Module, value: object) -> object:
    """``value`` as torch takes it: a NumPy array becomes a tensor on the model's device (integers as
    int64 token ids, floats in the model's dtype), since torch's embedding would otherwise fail deep
    inside with an error that names no argument; anything else is passed through."""
    if not isinstance(value, np.ndarray):
        return value
    weight = next(model.parameters(), None)
    device = weight.device if weight is not None else torch.device("cpu")
    if np.issubdtype(value.dtype, np.integer) or value.dtype == np.bool_:
        return torch.as_tensor(value.astype(np.int64), device=device)
    dtype = weight.dtype if weight is not None else torch.float32
    return torch.as_tensor(value, device=device, dtype=dtype)
