"""Compute the sums that several outputs of a `LinearSum` share once (CMVM, `ir/cmvm.py`).

For `mult="csd"` layers left at full rate (after `FoldLayers`: a folded layer's lanes
step through its weights and share nothing): each weight's minimal signed-digit form is
chosen so that digit pairs repeat (`cmvm.choose_forms`), then the layer's signed
power-of-two terms become `shared` sums plus, per output, the terms left over them.
Constants stay as they are. The effective matrix is unchanged, which the IR verifier and
the reference check.
"""
from __future__ import annotations

import dataclasses

from ..ir import cmvm
from ..ir.graph import Graph
from ..ir.rewrite import replacing, rewrite
from ..ir.term import Term
from ..ops import LinearSum
from .csd import msd_forms


# Shared sums at most 4 adders deep. Deeper chains save almost no logic (on the zoo's
# jet tagger 0.07 % of the adder bits) but leave more, wider partial sums live where the
# pipeline cuts: at the peers' stage clock (160 MHz, xc7, bench-peers' command) the jet
# tagger took 11,590 flip-flops unbounded against 9,150 at depth 4, at 38,954 against
# 38,901 LUTs and the same 8 cycles. Depth 3 costs 0.5 % more adder bits, 5 saves no
# flip-flops.
MAX_SHARED_DEPTH = 4


class ShareSubexpressions:
    name = "share-subexpressions"

    def __init__(self, max_depth: int | None = MAX_SHARED_DEPTH):
        self.max_depth = max_depth

    def run(self, graph: Graph) -> Graph:
        return rewrite(graph, replacing(LinearSum, self.share))

    def share(self, node: LinearSum, src) -> LinearSum:
        if node.mult != "csd" or node.shared:
            return node
        columns = []
        for col in node.terms:          # one weight per input, even where terms repeat one
            weight: dict[int, int] = {}
            for t in col:
                if t.source >= 0:
                    weight[t.source] = weight.get(t.source, 0) + t.value
            columns.append([(i, msd_forms(w)) for i, w in sorted(weight.items()) if w])
        lo, hi = src.lo.reshape(-1), src.hi.reshape(-1)
        digits = cmvm.choose_forms(columns, cmvm.span_widths(lo, hi))
        shared, cols = cmvm.share(digits, src.size, self.max_depth, lo, hi)
        if not shared:
            return node
        terms = []
        for col, left in zip(node.terms, cols):
            terms.append(tuple(Term(s, g, t) for s, t, g in sorted(left))
                         + tuple(t for t in col if t.source < 0))
        pairs = tuple((Term(s.a, 1, 0), Term(s.b, s.sign, s.shift)) for s in shared)
        return dataclasses.replace(node, terms=terms, shared=pairs, n_in=src.size)
