"""The reference: what the hardware must compute, in integers.

This is the definition of every op's semantics. Back ends are tested against it with
exact equality; it is tested against QKeras's own `predict`.
"""
from __future__ import annotations

import numpy as np

from .graph import (Dense, Graph, Input, LinearSum, Node, Quantize, Relu, Reshape, ScaleShift,
                    StepFunction)
from .bounds import dense_bounds
from .types import INT64_SAFE, as_codes, requantize, round_to_float32, shift_left


def run(graph: Graph, x: np.ndarray, keep: bool = False):
    """Evaluate `graph` on input codes `x` of shape [N, *input shape].

    Returns the output codes [N, *output shape], or with `keep` a dict of every node's
    codes by node name.
    """
    x = as_codes(np.asarray(x))
    if tuple(x.shape[1:]) != tuple(graph.input.shape):
        raise ValueError(f"input codes have shape {x.shape[1:]}, expected {graph.input.shape}")
    t = graph.input.type
    if x.size and (int(np.min(x)) < t.min_code or int(np.max(x)) > t.max_code):
        raise ValueError(f"input codes outside {t} range [{t.min_code}, {t.max_code}]")
    values = {}
    cur = x
    prev: Node | None = None
    for node in graph.nodes:
        if not isinstance(node, Input):
            cur = evaluate(node, prev, cur)
        values[node.name] = cur
        prev = node
    return values if keep else cur


def evaluate(node: Node, src: Node, x: np.ndarray) -> np.ndarray:
    """One op: codes of `src` (format `src.type`) to codes of `node`."""
    n = x.shape[0]
    if isinstance(node, Dense):
        return _dense(node, src, x.reshape(n, -1))
    if isinstance(node, LinearSum):
        return _linear_sum(node, src, x.reshape(n, -1))
    if isinstance(node, Quantize):
        if node.float32_cast:
            x = round_to_float32(x)
        return requantize(x, src.type.frac, node.type, node.rounding, node.overflow)
    if isinstance(node, Relu):   # same fraction bits in and out: the codes only clamp
        return np.maximum(x, 0)
    if isinstance(node, ScaleShift):
        return _scale_shift(node, src, x)
    if isinstance(node, StepFunction):
        return _step(node, x)
    if isinstance(node, Reshape):
        return x.reshape((n,) + tuple(node.shape))
    raise TypeError(f"no reference semantics for op {type(node).__name__}")


def _align(codes: np.ndarray, frac: int, target: int) -> np.ndarray:
    return shift_left(codes, target - frac)


def _dense(node: Dense, src: Node, x: np.ndarray) -> np.ndarray:
    acc_frac = src.type.frac + node.weight_frac
    w = node.weights
    lo, hi = dense_bounds(w, None, src.type.min_code, src.type.max_code, src.type.frac,
                          node.weight_frac, 0, node.type.frac)
    if max(-int(lo.min()), int(hi.max())) < INT64_SAFE and w.dtype != object \
            and x.dtype != object:
        acc = x.astype(np.int64) @ w.astype(np.int64)
    else:
        acc = x.astype(object) @ w.astype(object)
    acc = _align(acc, acc_frac, node.type.frac)
    if node.bias is not None:
        acc = acc + _align(node.bias, node.bias_frac, node.type.frac)
    return as_codes(acc) if acc.dtype == object else acc


def _linear_sum(node: LinearSum, src: Node, x: np.ndarray) -> np.ndarray:
    w, c = node.matrix(x.shape[1])
    lo, hi = dense_bounds(w, c, src.type.min_code, src.type.max_code, 0, 0, 0, 0)
    if max(-int(lo.min()), int(hi.max())) < INT64_SAFE and x.dtype != object \
            and max(abs(int(v)) for v in list(w.ravel()) + [0]) < INT64_SAFE:
        return x.astype(np.int64) @ w.astype(np.int64) + c.astype(np.int64)
    return as_codes(x.astype(object) @ w + c)


def _scale_shift(node: ScaleShift, src: Node, x: np.ndarray) -> np.ndarray:
    prod_frac = src.type.frac + node.scale_frac
    y = x.astype(object) * node.scale.astype(object)
    y = _align(y, prod_frac, node.type.frac) + _align(node.shift.astype(object),
                                                      node.shift_frac, node.type.frac)
    return as_codes(y)


def _step(node: StepFunction, x: np.ndarray) -> np.ndarray:
    """Per-channel lookup; channels are the last axis."""
    th, lv = node.thresholds, node.levels
    if th.shape[0] == 1:
        idx = np.searchsorted(th[0], x.ravel(), side="right").reshape(x.shape)
        return as_codes(lv[0][idx])
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty(flat.shape, dtype=lv.dtype)
    for c in range(flat.shape[1]):
        out[:, c] = lv[c][np.searchsorted(th[c], flat[:, c], side="right")]
    return as_codes(out.reshape(x.shape))
