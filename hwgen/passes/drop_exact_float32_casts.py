"""Drop the float32 rounding of a Quantize where it provably changes nothing.

QKeras rounds a quantizer's input to float32 (24-bit significand) first; that is exact for
every code below 2**24 in magnitude. Where the inferred range of the input stays there,
the hardware needs no float rounding logic. Needs `InferRanges` first.
"""
from __future__ import annotations

import dataclasses

from ..ir.graph import Graph

from ..ops import Quantize


class DropExactFloat32Casts:
    name = "drop-exact-float32-casts"

    def run(self, graph: Graph) -> Graph:
        nodes = list(graph.nodes)
        for i, node in enumerate(nodes[1:], 1):
            src = nodes[i - 1]
            if isinstance(node, Quantize) and node.float32_cast:
                if src.lo is None:
                    raise ValueError("DropExactFloat32Casts needs InferRanges first")
                peak = max(abs(int(src.lo.min())), abs(int(src.hi.max())))
                if peak < 1 << 24:
                    nodes[i] = dataclasses.replace(node, float32_cast=False)
        return dataclasses.replace(graph, nodes=nodes)
