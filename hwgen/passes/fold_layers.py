"""Fold dense layers onto a few multiply-accumulate lanes (a reuse factor, see `ir/fold.py`).

Needs `InferRanges` and the lowered `LinearSum`s. A layer with reuse 1 keeps its fully
parallel adder graph; a layer with reuse R > 1 becomes a `FoldedLinearSum`: the fewest
lanes that take at most R cycles per vector. The finished outputs' intervals must equal the layer's exact
per-neuron range; a mismatch is a bug, reported as such.

The element-wise ops right after a folded layer that are the same function for every
element (quantize, relu, a step function shared by all channels) join the fold
(`FoldedLinearSum.post`): the lanes apply them to each finished output, so there is one
quantizer per lane instead of one per neuron. An op joins only while it is the one reader
of the tensor before it (not a tensor a branch or an output reads too); the readers of
the last one read the folded node instead. With `split`, a layer whose outputs have more
weights than its reuse factor splits them over lanes to meet it (`ir/fold.py`); such a
fold fuses no ops (its outputs are complete only after the lanes' sums are added), so they
stay nodes of their own.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

from ..ir import fold
from ..ir.graph import Graph
from ..ir.rewrite import rewrite
from ..ops import FoldedLinearSum, LinearSum, Node, Quantize, Relu, StepFunction
from ..options import check_layer_names


class FoldLayers:
    name = "fold-layers"

    def __init__(self, reuse: int = 1, layer_reuse: Mapping[str, int] | None = None,
                 split: bool = False):
        self.reuse, self.layer_reuse = reuse, dict(layer_reuse or {})
        self.split = split

    def run(self, graph: Graph) -> Graph:
        check_layer_names("reuse", self.layer_reuse,
                          [n.layer for n in graph.nodes if isinstance(n, LinearSum)],
                          "dense or convolution layer")
        plans = {}                # node name -> (plan, reuse, its inputs latched)
        posts = {}                # node name -> the lane ops fused into it
        for node in graph.nodes[1:]:
            reuse = self.layer_reuse.get(node.layer, self.reuse)
            if not isinstance(node, LinearSum) or reuse <= 1:
                continue
            plans[node.name] = (self._plan(graph, node, reuse), reuse,
                                self._fed_by_fold(graph, node, plans))
            posts[node.name] = _fusable(graph, node)
        # Balance: the slowest layer sets the design's II, so a layer planned in fewer
        # cycles gets fewer lanes, up to that II (same throughput, fewer multipliers, more
        # latency). A layer named by `--reuse LAYER=R` keeps its own R.
        ii = max((_interval(p, latched) for p, _, latched in plans.values()), default=0)
        folded = {}
        for name, (plan, reuse, latched) in plans.items():
            node = graph.node(name)
            budget = ii - (_interval(plan, latched) - plan.cycles)   # cycles within that II
            if node.layer not in self.layer_reuse and budget > max(reuse, plan.cycles):
                plan = self._plan(graph, node, budget)
            post = [] if plan.split else posts[name]
            folded[name] = FoldedLinearSum.of(
                node, dataclasses.replace(plan, post=tuple(p.name for p in post)), post)
        fused = {p for f in folded.values() for p in f.fold.post}

        def fold_node(node, src):
            if node.name in fused:
                return None             # computed in the lanes; readers read the fold
            if node.name in folded:     # it may read a renamed tensor by now
                return dataclasses.replace(folded[node.name], inputs=node.inputs)
            return node
        return rewrite(graph, fold_node)

    def _plan(self, graph: Graph, node: Node, reuse: int) -> fold.Fold:
        src = graph.sources(node)
        if src.lo is None:
            raise ValueError("FoldLayers needs InferRanges first")
        weights, consts = node.matrix(src.size)
        plan = fold.plan(weights, consts, src.lo.reshape(-1), src.hi.reshape(-1), reuse,
                         self.split)
        lo, hi = node.lo.reshape(-1), node.hi.reshape(-1)
        for j, bounds in enumerate(plan.out_bounds):
            if bounds != (int(lo[j]), int(hi[j])):
                raise AssertionError(f"{node.name}[{j}]: folded range {bounds} differs "
                                     f"from the layer range [{lo[j]}, {hi[j]}]")
        return plan

    @staticmethod
    def _fed_by_fold(graph: Graph, node: Node, plans: dict) -> bool:
        """The layer reads a folded layer's output chains directly (its inputs will be
        latched, see SchedulePipeline): the nodes before it back to a folded layer all
        run in that layer's lanes."""
        src = graph.sources(node)
        while src.op != "input" and src.name not in plans and _lane_op(src):
            src = graph.sources(src)
        return src.name in plans


def _fusable(graph: Graph, node: Node) -> list[Node]:
    """The lane ops after `node` that its lanes can compute: each the one reader of the
    tensor before it, which no output reads."""
    post, cur = [], node
    outputs = set(graph.output_names)
    while cur.name not in outputs:
        readers = graph.consumers(cur.name)
        if len(readers) != 1 or not _lane_op(readers[0]) or readers[0].inputs != (cur.name,):
            break
        cur = readers[0]
        post.append(cur)
    return post


def _interval(plan: fold.Fold, latched: bool) -> int:
    """The layer's interval once SchedulePipeline has decided its latch."""
    return dataclasses.replace(plan, latch=latched).interval


def _lane_op(node: Node) -> bool:
    """An op that is one function of the value for every element."""
    return isinstance(node, (Quantize, Relu)) or (
        isinstance(node, StepFunction) and node.thresholds.shape[0] == 1)
