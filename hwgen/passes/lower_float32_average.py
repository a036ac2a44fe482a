"""Replace an `Average` that rounds (a divisor or factor not a power of two) by an exact
step function of the window sum, fused with the quantizer that reads it.

TensorFlow divides a window's float32 sum by its pixel count and rounds to float32; the
quantizer after it rounds again. Each step is monotonic in the sum, so the whole is a step
function of the sum's code, found per element by bisection with the ops' own reference
rules (`evaluate`) over the element's inferred range: the hardware compares the sum with a
few constants instead of dividing. Without a quantizer after it the table has a step per
representable result; beyond `MAX_STEPS` that is refused with what to do instead.
Needs `InferRanges`.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import UnsupportedError
from ..ir.graph import Graph
from ..ir.rewrite import rewrite
from ..ir.types import as_codes, exact_codes
from ..ops import Average, Quantize, StepFunction
from ..ops.average import float32_average
from .lower_float32_quantize import MAX_STEPS, _steps


class LowerFloat32Average:
    name = "lower-float32-average"

    def run(self, graph: Graph) -> Graph:
        fused = {}          # quantizer name -> the rounding average it reads
        for node in graph.nodes:
            if isinstance(node, Average) and not node.exact:
                readers = graph.consumers(node.name)
                if len(readers) == 1 and isinstance(readers[0], Quantize) and \
                        node.name not in graph.output_names:
                    fused[readers[0].name] = node
        averages = {a.name for a in fused.values()}

        def lower(node, src):
            if node.name in averages:
                return None                           # computed inside its quantizer's steps
            if node.name in fused:
                return _as_steps(fused[node.name], node, src)
            if isinstance(node, Average) and not node.exact:
                return _as_steps(node, None, src)
            return node
        return rewrite(graph, lower)


def _as_steps(avg: Average, quant: Quantize | None, src) -> StepFunction:
    """One step row per element: the average (and the quantizer) of the sum's code."""
    frac, count = src.type.frac, avg.count.reshape(-1)
    lo, hi = src.lo.reshape(-1), src.hi.reshape(-1)
    target = quant or avg

    def element(e):
        def f(code: int) -> int:
            v = float32_average(np.array([code]), frac, count[e:e + 1], avg.factors)
            y = as_codes(exact_codes(v.astype(np.float64), avg.type.frac)[0])
            if quant is not None:
                y = quant.evaluate(avg, y.reshape(1, 1))
            return int(np.asarray(y).ravel()[0])
        return f

    rows, cache = [], {}
    for e in range(lo.size):
        key = (int(count[e]), int(lo[e]), int(hi[e]))
        if key not in cache:
            try:
                cache[key] = _steps(element(e), key[1], key[2], target)
            except UnsupportedError:
                raise UnsupportedError(
                    f"layer '{avg.layer}': its average divides by {key[0]} and rounds in "
                    f"float32; hwgen reproduces that exactly as a table of steps, which "
                    f"needs more than {MAX_STEPS} here. Put a quantizer (a QActivation) "
                    "right after the pooling layer, or use a pool size whose area is a "
                    "power of two") from None
        rows.append(cache[key])
    width = max(len(t) for t, _ in rows)
    pad = src.type.max_code + 1
    thresholds = as_codes(np.array([t + [pad] * (width - len(t)) for t, _ in rows], dtype=object))
    levels = as_codes(np.array([lv + [lv[-1]] * (width - len(lv) + 1) for _, lv in rows],
                               dtype=object))
    if len({(tuple(t), tuple(lv)) for t, lv in rows}) == 1:
        thresholds, levels = thresholds[:1], levels[:1]         # one row serves all
    fields = {f.name: getattr(target, f.name) for f in dataclasses.fields(type(target))
              if f.name in {g.name for g in dataclasses.fields(StepFunction)}}
    fields["inputs"] = (src.name,)
    what = f"float32 / {sorted(set(int(c) for c in count))}" + \
        "".join(f" * {c!r}" for c in avg.factors)
    if quant is not None:
        what += f", then {quant.rounding.value},{quant.overflow.value} to {quant.type}"
    return StepFunction(**fields, thresholds=thresholds, levels=levels, function=what)
