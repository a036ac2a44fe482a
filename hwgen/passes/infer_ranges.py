"""Exact per-element code intervals for every node (the basis of per-neuron widths).

Each node gets `lo` and `hi` (integer arrays shaped like the node, codes of `node.type`):
every value the node can produce on inputs of the input grid lies in [lo, hi]. Dense
bounds are exact per neuron for independent inputs; monotonic ops map interval ends
through their own `evaluate`, so the rules cannot drift from the semantics. The rules
are the ops' `interval` (hwgen/ops/).
"""
from __future__ import annotations

from ..ir.graph import Graph


class InferRanges:
    """Annotate every node with exact element-wise [lo, hi] code intervals."""

    name = "infer-ranges"

    def run(self, graph: Graph) -> Graph:
        prev = None
        for node in graph.nodes:      # each op's `interval` rule (hwgen/ops/)
            node.lo, node.hi = node.interval(prev)
            prev = node
        return graph


def element_width(lo: int, hi: int) -> tuple[bool, int]:
    """(signed, bits) of the narrowest two's complement field holding [lo, hi]."""
    from ..ir.types import FixedType
    t = FixedType.for_range(int(lo), int(hi), 0)
    return t.signed, t.width
