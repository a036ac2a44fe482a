"""Replace a `Quantize` that still rounds through float32 by an exact step function.

Where `DropExactFloat32Casts` could not prove the float32 cast exact (accumulators of 24
bits or more), the op is "round to a 24-bit significand, then requantize". Both steps are
monotonic, so the op is a step function of the input code; its thresholds are found by
bisection with the reference interpreter itself over each element's inferred range, and
the hardware compares instead of building a floating-point rounder. Needs `InferRanges`.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import UnsupportedError
from ..ir import interp
from ..ir.graph import Graph
from ..ir.rewrite import replacing, rewrite
from ..ops import Quantize, StepFunction
from ..ir.types import Overflow, as_codes

MAX_STEPS = 4096


class LowerFloat32Quantize:
    name = "lower-float32-quantize"

    def run(self, graph: Graph) -> Graph:
        return rewrite(graph, replacing(
            Quantize, lambda node, src: _as_steps(node, src) if node.float32_cast else node))


def _as_steps(node: Quantize, src) -> StepFunction:
    if node.overflow is Overflow.WRAP:
        raise UnsupportedError(
            f"layer '{node.layer}': a wrapping quantizer on an input of 24 bits or more "
            "(rounded through float32 by QKeras) has no hardware form in hwgen; use a "
            "saturating quantizer or fewer accumulator bits")
    f = lambda codes: interp.evaluate(node, src, as_codes(np.asarray(codes)).reshape(-1, 1))
    rows_t, rows_l = [], []
    lo, hi = src.lo.reshape(-1), src.hi.reshape(-1)
    for e in range(lo.size):
        th, lv = _steps(lambda c: int(f([c])[0, 0]), int(lo[e]), int(hi[e]), node)
        rows_t.append(th)
        rows_l.append(lv)
    width = max(len(t) for t in rows_t)
    pad = src.type.max_code + 1
    thresholds = as_codes(np.array([t + [pad] * (width - len(t)) for t in rows_t], dtype=object))
    levels = as_codes(np.array([lv + [lv[-1]] * (width - len(lv) + 1) for lv in rows_l],
                               dtype=object))
    fields = {f.name: getattr(node, f.name) for f in dataclasses.fields(Quantize)
              if f.name in {g.name for g in dataclasses.fields(StepFunction)}}
    return StepFunction(**fields, thresholds=thresholds, levels=levels,
                        function=f"{node.rounding.value},{node.overflow.value} after float32")


def _steps(f, lo: int, hi: int, node) -> tuple[list[int], list[int]]:
    """Thresholds and levels of the monotonic integer function f on [lo, hi]."""
    thresholds, levels = [], [f(lo)]
    a = lo
    while f(a) != f(hi):
        b = hi                      # smallest b > a with f(b) != f(a), by bisection
        left = a
        while b - left > 1:
            mid = (left + b) // 2
            if f(mid) == levels[-1]:
                left = mid
            else:
                b = mid
        thresholds.append(b)
        levels.append(f(b))
        a = b
        if len(thresholds) > MAX_STEPS:
            raise UnsupportedError(
                f"layer '{node.layer}': rounding through float32 gives more than {MAX_STEPS} "
                "output steps; use fewer output bits or a narrower accumulator")
    return thresholds, levels
