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

A layer folded by the design's reuse factor stays at full rate where its shared adder
graph (what `ShareSubexpressions` and `InferWidths` would build) costs no more logic cells
on the target than the lanes that would replace it (`ir/fold_cost.py`); it is then out of
the balance, and its outputs are ready at once. A layer named by `--reuse LAYER=R` folds
as asked.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

from ..ir import fold, fold_cost
from ..ir.adder_graph import TWOS_COMPLEMENT_TARGETS
from ..ir.graph import Graph
from ..ir.rewrite import rewrite
from ..ops import FoldedLinearSum, LinearSum, Node, Quantize, Relu, StepFunction
from ..options import check_layer_names


class FoldLayers:
    name = "fold-layers"

    def __init__(self, reuse: int = 1, layer_reuse: Mapping[str, int] | None = None,
                 split: bool = False, target: str | None = None):
        self.reuse, self.layer_reuse = reuse, dict(layer_reuse or {})
        self.split = split
        self.target = target      # None: fold every layer asked, whatever it costs

    def run(self, graph: Graph) -> Graph:
        check_layer_names("reuse", self.layer_reuse,
                          [n.layer for n in graph.nodes if isinstance(n, LinearSum)],
                          "dense or convolution layer")
        plans = {}                # node name -> (plan, reuse), in graph order
        posts = {}                # node name -> the lane ops fused into it
        for node in graph.nodes[1:]:
            reuse = self.layer_reuse.get(node.layer, self.reuse)
            if not isinstance(node, LinearSum) or reuse <= 1:
                continue
            plans[node.name] = (self._plan(graph, node, reuse), reuse)
            posts[node.name] = _fusable(graph, node)
        full_rate = {}            # node name -> [cells unshared, cells shared or None]
        while True:
            folded, latched = self._balance(graph, plans, posts)
            cheaper = [name for name, f in folded.items() if self._cheaper_at_full_rate(
                graph, graph.node(name), f, latched[name] or f.fold.own_latch, full_rate)]
            if not cheaper:
                break
            # Out of the balance: the II may drop, the others get fewer cycles and so
            # more lanes, so a layer kept stays cheaper at full rate.
            for name in cheaper:
                del plans[name]
        fused = {p for f in folded.values() for p in f.fold.post}

        def fold_node(node, src):
            if node.name in fused:
                return None             # computed in the lanes; readers read the fold
            if node.name in folded:     # it may read a renamed tensor by now
                return dataclasses.replace(folded[node.name], inputs=node.inputs)
            return node
        return rewrite(graph, fold_node)

    def _balance(self, graph: Graph, plans: dict, posts: dict) -> tuple[dict, dict]:
        """The folded nodes of `plans` and whether each will latch its inputs, balanced:
        the slowest layer sets the design's II,
        so a layer planned in fewer cycles gets fewer lanes, up to that II (same
        throughput, fewer multipliers, more latency). A layer named by `--reuse LAYER=R`
        keeps its own R."""
        latched = {name: self._fed_by_fold(graph, graph.node(name), plans) for name in plans}
        ii = max((_interval(p, latched[name]) for name, (p, _) in plans.items()), default=0)
        folded = {}
        for name, (plan, reuse) in plans.items():
            node = graph.node(name)
            budget = ii - (_interval(plan, latched[name]) - plan.cycles)  # cycles in that II
            if node.layer not in self.layer_reuse and budget > max(reuse, plan.cycles):
                plan = self._plan(graph, node, budget)
                if not latched[name]:
                    plan = self._latch_if_smaller(graph, node, plan, budget + 1)
            post = [] if plan.split else posts[name]
            folded[name] = FoldedLinearSum.of(
                node, dataclasses.replace(plan, post=tuple(p.name for p in post)), post)
        return folded, latched

    def _latch_if_smaller(self, graph: Graph, node: Node, plan: fold.Fold,
                          cycles: int) -> fold.Fold:
        """`plan` (inputs unlatched, so one cycle short of the II), or the plan in the
        whole II `cycles` with the inputs latched where that costs fewer cells on the
        target: the cycle often makes a dense program fit, whose lanes share one
        multiplexer (the zoo jet tagger's fc1 at reuse 16: 16 lanes of 64 cycles reading
        one 16-input multiplexer instead of 16 of them for 62 cycles; by Yosys on ECP5 the
        design went from 6,058 to 3,178 LUT4, and routed in 48 s instead of over 175)."""
        if self.target is None:
            return plan
        latched = dataclasses.replace(self._plan(graph, node, cycles), latch=True,
                                      own_latch=True)
        src = graph.sources(node)
        width = max(node.type.width, 1)
        if fold_cost.folded_cells(latched, width, src.size, self.target) < \
                fold_cost.folded_cells(dataclasses.replace(plan, latch=False), width,
                                       src.size, self.target):
            return latched
        return plan

    def _cheaper_at_full_rate(self, graph: Graph, node: Node, folded: FoldedLinearSum,
                              latched: bool, memo: dict) -> bool:
        """`node`, folded by the design's reuse factor as `folded`, costs no fewer cells
        on the target than its full-rate adder graph (`ir/fold_cost.py`)."""
        if self.target is None or node.layer in self.layer_reuse or \
                node.mult not in ("csd", "csd-per-weight"):
            return False
        src = graph.sources(node)
        out_width = max(folded.type.width, 1)
        lanes = fold_cost.folded_cells(dataclasses.replace(folded.fold, latch=latched),
                                       out_width, src.size, self.target)
        # Each output's own adder tree first (cheap): sharing sums only makes it smaller,
        # and never by CSE_MAX_SAVING, so the shared graph is built only in between.
        if node.name not in memo:
            memo[node.name] = [full_rate_cells(node, src, self.target, shared=False), None]
        cells = memo[node.name]
        if cells[0] <= lanes:
            return True
        if cells[0] > CSE_MAX_SAVING * lanes:
            return False
        if cells[1] is None:
            cells[1] = full_rate_cells(node, src, self.target)
        return cells[1] <= lanes

    def _plan(self, graph: Graph, node: Node, reuse: int) -> fold.Fold:
        src = graph.sources(node)
        if src.lo is None:
            raise ValueError("FoldLayers needs InferRanges first")
        weights, consts = node.matrix(src.size)
        # A split fold's two forms (sparse, or dense with shared multiplexers) weighed in
        # the target's cells; the chains hold sums, and the inputs latch alike in both.
        cost = None if self.target is None else \
            (lambda f: fold_cost.folded_cells(f, 1, src.size, self.target))
        plan = fold.plan(weights, consts, src.lo.reshape(-1), src.hi.reshape(-1), reuse,
                         self.split, cost)
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


# Shared sums take far less than this factor off a layer's adder logic: 1.28x on the zoo
# jet tagger, 1.27x on digits_mlp_pruned, 1.29x on the real QKeras tagger (xc7 LUTs,
# csd-per-weight against csd, make bench-peers).
CSE_MAX_SAVING = 3


def full_rate_cells(node: Node, src: Node, target: str, shared: bool = True) -> float:
    """The cells of `node`'s adder graph at full rate on `target`: the sums
    `ShareSubexpressions` shares (without `shared`: each output its own tree) and the
    widths `InferWidths` gives, as those passes will build them (the same functions)."""
    from .infer_widths import with_adder_graph
    from .share_subexpressions import ShareSubexpressions
    if shared:
        node = ShareSubexpressions().share(node, src)
    node = with_adder_graph(node, src, target not in TWOS_COMPLEMENT_TARGETS)
    return fold_cost.full_rate_cells(node.graph, target)


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
