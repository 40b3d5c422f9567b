"""JSON output of the one-learner and one-network commands: strict JSON, always.

``json.dumps`` writes a non-finite float as ``NaN`` or ``Infinity``, which no JSON reader accepts.
Here each such value becomes ``null``, and ``not_finite`` (added at the top level only when needed)
says where and what it was: ``{"fourier.loss": "nan", "progress[3].excluded_loss": "inf"}``.

Every other float is rounded here, once, to ``SIGNIFICANT`` significant digits: the analyses keep
full precision while they compute, and the output no longer mixes 4 and 16 decimals (issue 28 item 4).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

#: Significant digits of every float a command prints as JSON: more than any measurement here
#: resolves (accuracies over at most ~10^5 rows, seconds, bits), few enough to read.
SIGNIFICANT = 6


def rounded(value: float, digits: int = SIGNIFICANT) -> float:
    """``value`` to ``digits`` significant digits (finite floats only)."""
    return float(f"{value:.{digits}g}")


def _clean(value: Any, where: str, found: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v, f"{where}.{k}" if where else str(k), found) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, f"{where}[{i}]", found) for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist(), where, found)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        found[where] = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return None
    return rounded(value) if isinstance(value, float) else value


def json_text(result: dict[str, Any]) -> str:
    """``result`` as one line of strict JSON (numpy scalars as numbers, floats to ``SIGNIFICANT``
    digits, non-finite values as null with their place and kind under ``not_finite``)."""
    found: dict[str, str] = {}
    clean = _clean(result, "", found)
    if found:
        clean["not_finite"] = found
    return json.dumps(clean, allow_nan=False, default=float)
