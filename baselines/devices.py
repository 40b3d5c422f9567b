"""Which torch device a network learner trains on: the ``device`` parameter, resolved and checked."""

from __future__ import annotations

import torch

from tasks import SpecError


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when present, else the CPU; anything else is passed to ``torch.device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def check_device(device: str) -> None:
    """SpecError when ``device`` is not a device name or names one this machine does not have."""
    accepted = "auto, cpu, cuda, cuda:N"
    try:
        dev = resolve_device(device)
    except (RuntimeError, ValueError):
        raise SpecError(f"device={device!r} is not a device; accepted: {accepted}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SpecError(f"device={device!r}, but this machine has no CUDA GPU; use device=cpu or auto")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise SpecError(f"device={device!r}, but this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if dev.type not in ("cpu", "cuda"):
        raise SpecError(f"device={device!r} is not supported; accepted: {accepted}")


