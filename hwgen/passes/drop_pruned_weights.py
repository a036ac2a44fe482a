"""Lower each `Dense` to a `LinearSum` with one term per non-zero weight.

Pruned (zero) weights produce no term, so they cost no hardware at all; so does a zero
bias. Every term is aligned to the layer's output fraction bits here, once, so later
passes and back ends only ever add integers.
"""
from __future__ import annotations

import dataclasses

from ..ir.graph import Graph
from ..ir.rewrite import replacing, rewrite
from ..ir.term import Term
from ..ops import Dense, LinearSum


class DropPrunedWeights:
    name = "drop-pruned-weights"

    def run(self, graph: Graph) -> Graph:
        return rewrite(graph, replacing(Dense, _lower))


def _lower(node: Dense, src) -> LinearSum:
    frac = node.type.frac
    w_shift = frac - (src.type.frac + node.weight_frac)
    b_shift = frac - node.bias_frac
    if w_shift < 0 or (node.bias is not None and b_shift < 0):   # frontend guarantees this
        raise ValueError(f"layer '{node.layer}': output format {node.type} drops bits")
    terms = []
    for j in range(node.weights.shape[1]):
        col = [Term(i, int(node.weights[i, j]), w_shift)
               for i in range(node.weights.shape[0]) if node.weights[i, j] != 0]
        if node.bias is not None and node.bias[j] != 0:
            col.append(Term(-1, int(node.bias[j]), b_shift))
        terms.append(tuple(col))
    fields = {f.name: getattr(node, f.name) for f in dataclasses.fields(Dense)
              if f.name in {g.name for g in dataclasses.fields(LinearSum)}}
    return LinearSum(**fields, terms=terms, mult="generic")
