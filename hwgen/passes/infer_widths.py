"""Build each `LinearSum`'s adder graph with exact per-node widths.

Needs `InferRanges` (input code bounds per element). Every partial sum gets the narrowest
two's complement width its exact interval needs (see `ir/adder_graph.py`), so no adder can
overflow and none is wider than it must be. Each output's interval must equal the layer's
exact per-neuron range; a mismatch is a bug, reported as such.
"""
from __future__ import annotations

import dataclasses

from ..ir import adder_graph
from ..ir.graph import Graph
from ..ir.rewrite import replacing, rewrite
from ..ops import LinearSum


class InferWidths:
    name = "infer-widths"

    def __init__(self, offset_binary: bool = True):
        self.offset_binary = offset_binary

    def run(self, graph: Graph) -> Graph:
        return rewrite(graph, replacing(
            LinearSum, lambda node, src: with_adder_graph(node, src, self.offset_binary)))


def with_adder_graph(node: LinearSum, src, offset_binary: bool = True) -> LinearSum:
    if src.lo is None:
        raise ValueError("InferWidths needs InferRanges first")
    lo, hi = src.lo.reshape(-1), src.hi.reshape(-1)
    graph = adder_graph.build(node.terms, node.shared, src.size, lo, hi, offset_binary)
    out_lo, out_hi = node.lo.reshape(-1), node.hi.reshape(-1)
    for j, ref in enumerate(graph.outputs):
        if (ref.lo, ref.hi) != (int(out_lo[j]), int(out_hi[j])):
            raise AssertionError(f"{node.name}[{j}]: adder graph range [{ref.lo}, "
                                 f"{ref.hi}] differs from the layer range "
                                 f"[{out_lo[j]}, {out_hi[j]}]")
    return dataclasses.replace(node, graph=graph)
