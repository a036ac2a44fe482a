"""Drop the float32 rounding of a Quantize where it provably changes nothing.

QKeras rounds a quantizer's input to float32 (24-bit significand) first; that is exact for
every code below 2**24 in magnitude. Where the inferred range of the input stays there,
the hardware needs no float rounding logic. Needs `InferRanges` first.
"""
from __future__ import annotations

import dataclasses

from ..ir.graph import Graph
from ..ir.rewrite import replacing, rewrite
from ..ops import Quantize


class DropExactFloat32Casts:
    name = "drop-exact-float32-casts"

    def run(self, graph: Graph) -> Graph:
        def drop(node, src):
            if not node.float32_cast:
                return node
            if src.lo is None:
                raise ValueError("DropExactFloat32Casts needs InferRanges first")
            peak = max(abs(int(src.lo.min())), abs(int(src.hi.max())))
            return dataclasses.replace(node, float32_cast=False) if peak < 1 << 24 else node
        return rewrite(graph, replacing(Quantize, drop))
