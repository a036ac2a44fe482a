"""Input vectors on a model's input grid: corner codes, corner mixes and random codes."""
from __future__ import annotations

import numpy as np

from ..ir.types import FixedType


def corner_codes(t: FixedType) -> list[int]:
    """min, max, zero and +/-1 LSB, as codes of `t` (duplicates removed, in range)."""
    cands = [t.min_code, t.max_code, 0, 1, -1, t.min_code + 1, t.max_code - 1]
    return sorted({c for c in cands if t.min_code <= c <= t.max_code})


def input_codes(t: FixedType, shape: tuple[int, ...], n: int, seed: int = 0,
                extra: np.ndarray | None = None) -> np.ndarray:
    """`n` input vectors [n, *shape] of codes of `t`.

    First one vector per corner code (every element at that code), then the design's own
    data (`extra`, codes) if given, then vectors whose elements mix corner codes, then
    uniformly random codes over the whole range.
    """
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    corners = corner_codes(t)
    rows = [np.full(size, c, dtype=np.int64) for c in corners]
    if extra is not None and len(extra):
        rows.extend(np.asarray(extra, dtype=np.int64).reshape(len(extra), size))
    fixed = np.stack(rows)[:n]
    left = n - len(fixed)
    n_mix = min(left, max(left // 10, 0))
    mix = np.asarray(corners, dtype=np.int64)[rng.integers(0, len(corners), size=(n_mix, size))]
    rand = rng.integers(t.min_code, t.max_code, size=(left - n_mix, size), endpoint=True,
                        dtype=np.int64)
    return np.concatenate([fixed, mix, rand]).reshape((n,) + tuple(shape))


def gaussian_codes(t: FixedType, shape: tuple[int, ...], n: int, seed: int = 0,
                   scale: float = 1.0) -> np.ndarray:
    """`n` vectors of N(0, scale^2) values rounded onto the grid of `t` (and clipped):
    typical inputs of a model trained on standardised features."""
    rng = np.random.default_rng(seed)
    vals = rng.normal(0.0, scale, size=(n,) + tuple(shape))
    codes = np.rint(np.ldexp(vals, t.frac))
    return np.clip(codes, t.min_code, t.max_code).astype(np.int64)
