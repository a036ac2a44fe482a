"""Fold dense layers onto a few multiply-accumulate lanes (a reuse factor, see `ir/fold.py`).

Needs `InferRanges` and the lowered `LinearSum`s. A layer with reuse 1 keeps its fully
parallel adder trees; a layer with reuse R > 1 gets `fold`: the fewest lanes that take at
most R cycles per vector. The finished outputs' intervals must equal the layer's exact
per-neuron range; a mismatch is a bug, reported as such.

The element-wise ops right after a folded layer that are the same function for every
element (quantize, relu, a step function shared by all channels) join the fold
(`Fold.post`): the lanes apply them to each finished output, so there is one quantizer per
lane instead of one per neuron. Those nodes stay in the graph (the reference runs them);
the back end builds them inside the folded layer.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

from ..errors import HwgenError
from ..ir import fold
from ..ir.graph import Graph
from ..ops import LinearSum, Node, Quantize, Relu, StepFunction


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
        plans = {}                # node index -> (plan, reuse, its inputs latched)
        for k, node in enumerate(nodes[1:], 1):
            reuse = self.layer_reuse.get(node.layer, self.reuse)
            if not isinstance(node, LinearSum) or reuse <= 1:
                continue
            plans[k] = (self._plan(nodes, k, reuse), reuse, self._fed_by_fold(nodes, k, plans))
        # Balance: the slowest layer sets the design's II, so a layer planned in fewer
        # cycles gets fewer lanes, up to that II (same throughput, fewer multipliers, more
        # latency). A layer named by `--reuse LAYER=R` keeps its own R.
        ii = max((_interval(p, latched) for p, _, latched in plans.values()), default=0)
        for k, (plan, reuse, latched) in plans.items():
            budget = ii - (_interval(plan, latched) - plan.cycles)   # cycles within that II
            if nodes[k].layer not in self.layer_reuse and budget > max(reuse, plan.cycles):
                plan = self._plan(nodes, k, budget)
            post = []
            for after in nodes[k + 1:]:
                if not _lane_op(after):
                    break
                post.append(after.name)
            nodes[k] = dataclasses.replace(nodes[k], fold=dataclasses.replace(
                plan, post=tuple(post)))
        return dataclasses.replace(graph, nodes=nodes)

    @staticmethod
    def _plan(nodes: list[Node], k: int, reuse: int) -> fold.Fold:
        node, src = nodes[k], nodes[k - 1]
        if src.lo is None:
            raise ValueError("FoldLayers needs InferRanges first")
        weights, consts = node.matrix(src.size)
        plan = fold.plan(weights, consts, src.lo.reshape(-1), src.hi.reshape(-1), reuse)
        for j, bounds in enumerate(plan.out_bounds):
            if bounds != (int(node.lo[j]), int(node.hi[j])):
                raise AssertionError(f"{node.name}[{j}]: folded range {bounds} differs "
                                     f"from the layer range [{node.lo[j]}, {node.hi[j]}]")
        return plan

    @staticmethod
    def _fed_by_fold(nodes: list[Node], k: int, plans: dict) -> bool:
        """Layer k reads a folded layer's output chains directly (its inputs will be
        latched, see SchedulePipeline): the nodes before it back to a folded layer all
        run in that layer's lanes."""
        j = k - 1
        while j > 0 and j not in plans and _lane_op(nodes[j]):
            j -= 1
        return j in plans


def _interval(plan: fold.Fold, latched: bool) -> int:
    """The layer's interval once SchedulePipeline has decided its latch."""
    return dataclasses.replace(plan, latch=latched).interval


def _lane_op(node: Node) -> bool:
    """An op that is one function of the value for every element."""
    return isinstance(node, (Quantize, Relu)) or (
        isinstance(node, StepFunction) and node.thresholds.shape[0] == 1)


def fused_nodes(graph: Graph) -> set[str]:
    """Names of the nodes computed inside a folded layer's lanes."""
    return {name for n in graph.nodes if getattr(n, "fold", None) for name in n.fold.post}
