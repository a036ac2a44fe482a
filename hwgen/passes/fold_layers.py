"""Fold dense layers onto a few multiply-accumulate lanes (a reuse factor, see `ir/fold.py`).

Needs `InferRanges` and the lowered `LinearSum`s. A layer with reuse 1 keeps its fully
parallel adder trees; a layer with reuse R > 1 gets `fold`: the fewest lanes that take at
most R cycles per vector. The finished outputs' intervals must equal the layer's exact
per-neuron range; a mismatch is a bug, reported as such.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

from ..errors import HwgenError
from ..ir import fold
from ..ir.graph import Graph, LinearSum


class FoldLayers:
    name = "fold-layers"

    def __init__(self, reuse: int = 1, layer_reuse: Mapping[str, int] | None = None):
        self.reuse, self.layer_reuse = reuse, dict(layer_reuse or {})

    def run(self, graph: Graph) -> Graph:
        dense = [n.layer for n in graph.nodes if isinstance(n, LinearSum)]
        unknown = sorted(set(self.layer_reuse) - set(dense))
        if unknown:
            raise HwgenError(f"--reuse names {', '.join(unknown)}, which is not a dense layer "
                             f"of {graph.name}; its dense layers are: "
                             f"{', '.join(dense) or 'none'}")
        nodes = list(graph.nodes)
        for k, node in enumerate(nodes[1:], 1):
            reuse = self.layer_reuse.get(node.layer, self.reuse)
            if not isinstance(node, LinearSum) or reuse <= 1:
                continue
            src = nodes[k - 1]
            if src.lo is None:
                raise ValueError("FoldLayers needs InferRanges first")
            weights, consts = node.matrix(src.size)
            plan = fold.plan(weights, consts, src.lo.reshape(-1), src.hi.reshape(-1), reuse)
            for j, bounds in enumerate(plan.out_bounds):
                if bounds != (int(node.lo[j]), int(node.hi[j])):
                    raise AssertionError(f"{node.name}[{j}]: folded range {bounds} differs "
                                         f"from the layer range [{node.lo[j]}, {node.hi[j]}]")
            nodes[k] = dataclasses.replace(node, fold=plan)
        return dataclasses.replace(graph, nodes=nodes)
