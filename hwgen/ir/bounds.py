"""Exact interval arithmetic on codes, shared by the frontend (formats) and the passes
(per-element ranges)."""
from __future__ import annotations

import numpy as np

from .types import as_codes


def dense_bounds(weights, bias, lo_in, hi_in, in_frac: int, weight_frac: int,
                 bias_frac: int, frac: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-neuron [lo, hi] accumulator codes at `frac` fraction bits for inputs with
    element-wise code bounds [lo_in, hi_in] (arrays or scalars) at `in_frac`."""
    w = np.asarray(weights).astype(object)
    n_in = w.shape[0]
    lo_in = np.broadcast_to(np.asarray(lo_in, dtype=object).reshape(-1), (n_in,))
    hi_in = np.broadcast_to(np.asarray(hi_in, dtype=object).reshape(-1), (n_in,))
    pos, neg = np.where(w > 0, w, 0), np.where(w < 0, w, 0)
    shift = 1 << (frac - (in_frac + weight_frac))
    lo = (lo_in @ pos + hi_in @ neg) * shift
    hi = (hi_in @ pos + lo_in @ neg) * shift
    if bias is not None:
        b = np.asarray(bias).astype(object) * (1 << (frac - bias_frac))
        lo, hi = lo + b, hi + b
    return as_codes(lo), as_codes(hi)
