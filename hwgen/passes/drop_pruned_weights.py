"""Lower each `Dense` and each `Conv` to a `LinearSum` with one term per non-zero weight
(a convolution: per output pixel and channel, one term per non-zero kernel weight whose
tap reads a real pixel; padding reads zero and costs nothing).

Pruned (zero) weights produce no term, so they cost no hardware at all; so does a zero
bias. Every term is aligned to the layer's output fraction bits here, once, so later
passes and back ends only ever add integers.
"""
from __future__ import annotations

import dataclasses

from ..ir.graph import Graph
from ..ir.rewrite import rewrite
from ..ir.term import Term
import numpy as np

from ..ops import Conv, Dense, LinearSum


class DropPrunedWeights:
    name = "drop-pruned-weights"

    def run(self, graph: Graph) -> Graph:
        return rewrite(graph, lambda node, src: _lower(node, src) if isinstance(node, Dense)
                       else _lower_conv(node, src) if isinstance(node, Conv) else node)


def _shifts(node, src) -> tuple[int, int]:
    """(left shift of a product, of the bias) onto the output's fraction bits."""
    frac = node.type.frac
    w_shift = frac - (src.type.frac + node.weight_frac)
    b_shift = frac - node.bias_frac
    if w_shift < 0 or (node.bias is not None and b_shift < 0):   # frontend guarantees this
        raise ValueError(f"layer '{node.layer}': output format {node.type} drops bits")
    return w_shift, b_shift


def _lower(node: Dense, src) -> LinearSum:
    w_shift, b_shift = _shifts(node, src)
    terms = []
    for j in range(node.weights.shape[1]):
        col = [Term(i, int(node.weights[i, j]), w_shift)
               for i in range(node.weights.shape[0]) if node.weights[i, j] != 0]
        if node.bias is not None and node.bias[j] != 0:
            col.append(Term(-1, int(node.bias[j]), b_shift))
        terms.append(tuple(col))
    return _linear_sum(node, terms)


def _linear_sum(node, terms) -> LinearSum:
    fields = {f.name: getattr(node, f.name) for f in dataclasses.fields(type(node))
              if f.name in {g.name for g in dataclasses.fields(LinearSum)}}
    return LinearSum(**fields, terms=terms, mult="generic")


def _lower_conv(node: Conv, src) -> LinearSum:
    w_shift, b_shift = _shifts(node, src)
    k = node.kernel.reshape(-1, node.kernel.shape[2], node.kernel.shape[3])   # [taps, in, out]
    c_in, c_out = k.shape[1], k.shape[2]
    # Per output channel, its non-zero weights as (tap, input channel, code).
    weights = [[(int(t), int(ci), int(k[t, ci, co])) for t, ci in zip(*np.nonzero(k[:, :, co]))]
               for co in range(c_out)]
    terms = []
    for taps in node.window.taps:
        for co in range(c_out):
            col = [Term(int(taps[t]) * c_in + ci, w, w_shift)
                   for t, ci, w in weights[co] if taps[t] >= 0]
            if node.bias is not None and node.bias[co] != 0:
                col.append(Term(-1, int(node.bias[co]), b_shift))
            terms.append(tuple(col))
    return _linear_sum(node, terms)
