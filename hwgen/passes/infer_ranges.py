"""Exact per-element code intervals for every node (the basis of per-neuron widths).

Each node gets `lo` and `hi` (integer arrays shaped like the node, codes of `node.type`):
every value the node can produce on inputs of the input grid lies in [lo, hi]. Dense
bounds are exact per neuron for independent inputs; monotonic ops map interval ends
through the reference interpreter itself, so the rules cannot drift from its semantics.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import interp
from ..ir.bounds import dense_bounds
from ..ir.graph import Dense, Graph, Input, LinearSum, Node, Quantize, Relu, Reshape, ScaleShift, StepFunction
from ..ir.types import Overflow, as_codes


class InferRanges:
    """Annotate every node with exact element-wise [lo, hi] code intervals."""

    name = "infer-ranges"

    def run(self, graph: Graph) -> Graph:
        prev: Node | None = None
        for node in graph.nodes:
            if isinstance(node, Input):
                node.lo = np.full(node.shape, node.type.min_code, dtype=np.int64)
                node.hi = np.full(node.shape, node.type.max_code, dtype=np.int64)
            else:
                node.lo, node.hi = _interval(node, prev)
            prev = node
        return graph


def _through(node: Node, src: Node, lo, hi):
    """Map interval ends through a monotonic non-decreasing op with the interpreter."""
    ends = as_codes(np.stack([lo, hi]))
    out = interp.evaluate(node, src, ends)
    return out[0], out[1]


def _interval(node: Node, src: Node):
    lo, hi = src.lo, src.hi
    if isinstance(node, Reshape):
        return lo.reshape(node.shape), hi.reshape(node.shape)
    if isinstance(node, Relu):
        return np.maximum(lo, 0), np.maximum(hi, 0)
    if isinstance(node, Quantize):
        if node.overflow is Overflow.WRAP:
            # Wrapping is monotonic only where nothing wraps: check the unwrapped ends (on
            # a wide signed type, so that values below an unsigned type's zero show).
            probe = dataclasses.replace(node, overflow=Overflow.SAT, type=_wide(node.type))
            a, b = _through(probe, src, lo, hi)
            t = node.type
            fits = (a >= t.min_code) & (b <= t.max_code)
            return (np.where(fits, a, t.min_code), np.where(fits, b, t.max_code))
        return _through(node, src, lo, hi)
    if isinstance(node, Dense):
        return _dense(node, src)
    if isinstance(node, LinearSum):
        w, c = node.matrix(src.size)
        return dense_bounds(w, c, lo, hi, 0, 0, 0, 0)
    if isinstance(node, ScaleShift):
        a, b = _through(node, src, lo, hi)
        return np.minimum(a, b), np.maximum(a, b)
    if isinstance(node, StepFunction):
        return _step(node, lo, hi)
    raise TypeError(f"no range rule for op {type(node).__name__}")


def _wide(t):
    from ..ir.types import FixedType
    return FixedType(True, t.width + 65, t.int_bits + 65)


def _dense(node: Dense, src: Node):
    return dense_bounds(node.weights, node.bias, src.lo, src.hi, src.type.frac,
                        node.weight_frac, node.bias_frac, node.type.frac)


def _step(node: StepFunction, lo, hi):
    """min/max of the levels reachable between the interval ends, per element."""
    flat_lo, flat_hi = lo.reshape(-1), hi.reshape(-1)
    channels = node.thresholds.shape[0]
    out_lo = np.empty(flat_lo.shape, dtype=object)
    out_hi = np.empty(flat_hi.shape, dtype=object)
    last = node.shape[-1]
    for k in range(flat_lo.size):
        c = (k % last) if channels > 1 else 0
        th, lv = node.thresholds[c], node.levels[c]
        i = np.searchsorted(th, flat_lo[k], side="right")
        j = np.searchsorted(th, flat_hi[k], side="right")
        reach = lv[i:j + 1]
        out_lo[k], out_hi[k] = int(reach.min()), int(reach.max())
    return as_codes(out_lo).reshape(node.shape), as_codes(out_hi).reshape(node.shape)


def element_width(lo: int, hi: int) -> tuple[bool, int]:
    """(signed, bits) of the narrowest two's complement field holding [lo, hi]."""
    from ..ir.types import FixedType
    t = FixedType.for_range(int(lo), int(hi), 0)
    return t.signed, t.width
