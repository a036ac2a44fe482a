"""Build each `LinearSum` output's balanced adder tree with exact per-node widths.

Needs `InferRanges` (input code bounds per element). Every partial sum gets the narrowest
two's complement width its exact interval needs (see `ir/adder_tree.py`), so no adder can
overflow and none is wider than it must be. The root's interval must equal the layer's
exact per-neuron range; a mismatch is a bug, reported as such.
"""
from __future__ import annotations

import dataclasses

from ..ir import adder_tree
from ..ir.graph import Graph
from ..ir.rewrite import replacing, rewrite
from ..ops import LinearSum


class InferWidths:
    name = "infer-widths"

    def run(self, graph: Graph) -> Graph:
        return rewrite(graph, replacing(LinearSum, _with_trees))


def _with_trees(node: LinearSum, src) -> LinearSum:
    if src.lo is None:
        raise ValueError("InferWidths needs InferRanges first")
    lo, hi = src.lo.reshape(-1), src.hi.reshape(-1)
    trees = [adder_tree.build(col, lo, hi) for col in node.terms]
    out_lo, out_hi = node.lo.reshape(-1), node.hi.reshape(-1)
    for j, tree in enumerate(trees):
        root = tree.root
        value = (-root.hi, -root.lo) if root.neg else (root.lo, root.hi)
        if value != (int(out_lo[j]), int(out_hi[j])):
            raise AssertionError(f"{node.name}[{j}]: tree range {value} differs from "
                                 f"the layer range [{out_lo[j]}, {out_hi[j]}]")
    return dataclasses.replace(node, trees=trees)
