"""How a network learner turns raw inputs into model inputs: :class:`Encoded` (what an analysis may
read) and the separator-token readout of the sequence models (:class:`SequenceEncoding`).

Sequence models (transformer, LSTM) read one label per example at a separator token ``"="`` (id
``d_vocab``) written right after each row's last non-pad token; per-position targets are read at
every position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Encoded:
    """Raw inputs as a network reads them: ``tokens`` (n, k') its input token ids, and ``readout``
    (n,) the position each row's label is read at, or None where every output position counts."""

    tokens: np.ndarray
    readout: np.ndarray | None

    def tensors(self, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(tokens, readout)`` as tensors on ``device`` (what ``model(tokens, readout)`` takes)."""
        readout = None if self.readout is None else torch.as_tensor(self.readout, device=device)
        return torch.as_tensor(self.tokens, device=device), readout


class SequenceEncoding:
    """Separator-token readout for sequence models (see the module docstring)."""

    def _readout_pos(self, X: np.ndarray) -> np.ndarray | None:
        n, k = X.shape
        if self.per_position_:
            return None
        if self.pad_id is None:
            return np.full(n, k)
        real = X != self.pad_id
        last = k - 1 - np.argmax(real[:, ::-1], axis=1)
        return np.where(real.any(axis=1), last + 1, 0)

    def _encode(self, X: np.ndarray) -> np.ndarray:
        if self.per_position_:
            return X
        n, k = X.shape
        out = np.full((n, k + 1), 0 if self.pad_id is None else self.pad_id, dtype=np.int64)
        out[:, :k] = X
        out[np.arange(n), self._readout_pos(X)] = self.d_vocab_
        return out

    def _targets(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.per_position_:
            if y.shape != X.shape:
                raise ValueError(f"per-position targets need y of X's shape {X.shape}, got {y.shape}")
            return y
        return y[:, None]  # read out at the separator (_readout_pos)

    def _model_vocab(self) -> int:
        return self.d_vocab_ + (0 if self.per_position_ else 1)
