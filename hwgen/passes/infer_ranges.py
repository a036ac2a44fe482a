"""Exact per-element code intervals for every node (the basis of per-neuron widths).

Each node is replaced by a copy with `lo` and `hi` (integer arrays shaped like the node,
codes of `node.type`; the graph passed in is not changed):
every value the node can produce on inputs of the input grid lies in [lo, hi]. Dense
bounds are exact per neuron for independent inputs; monotonic ops map interval ends
through their own `evaluate`, so the rules cannot drift from the semantics. The rules
are the ops' `interval` (hwgen/ops/).
"""
from __future__ import annotations

import dataclasses

from ..ir.graph import Graph
from ..ir.rewrite import rewrite


class InferRanges:
    """Annotate every node with exact element-wise [lo, hi] code intervals."""

    name = "infer-ranges"

    def run(self, graph: Graph) -> Graph:
        def ranged(node, src):        # each op's `interval` rule (hwgen/ops/)
            lo, hi = node.interval(src)
            return dataclasses.replace(node, lo=lo, hi=hi)
        return rewrite(graph, ranged)


def element_width(lo: int, hi: int) -> tuple[bool, int]:
    """(signed, bits) of the narrowest two's complement field holding [lo, hi]."""
    from ..ir.types import FixedType
    t = FixedType.for_range(int(lo), int(hi), 0)
    return t.signed, t.width
