"""Merge what a whole-design synthesis would merge across layers, in the IR, exactly.

- A relu after a saturating quantizer that only it reads: `max(clamp(v, lo, hi), 0)` is
  `clamp(v, 0, hi)` (lo <= 0), one quantizer to the relu's format, when the relu's format
  has the quantizer's fraction bits and top code (QKeras's `quantized_relu` after a
  `quantized_bits` activation, or a QActivation then a ReLU).
- The rounding of a quantizer after a linear sum that only it reads: round-half-up is
  `floor((v + half) / 2**d)` and round-half-down `floor((v + half - 1) / 2**d)`, so the
  half joins the sum's constant (its bias and offset binary's correction,
  `ir/adder_graph.py`: at most one constant add, cheaper than the incrementer it
  replaces, and none where the output adds a constant already) and the quantizer
  truncates. Ties-to-even and the other modes depend on the value's own bits and stay.

Needs `InferRanges` and the `LinearSum`s of `DropPrunedWeights`; infers the ranges again.
"""
from __future__ import annotations

import dataclasses

from ..ir.graph import Graph
from ..ir.rewrite import rewrite
from ..ir.term import Term
from ..ir.types import FixedType, Overflow, Rounding
from ..ops import LinearSum, Quantize, Relu
from .infer_ranges import InferRanges

_FOLDED_HALF = {Rounding.RND: 0, Rounding.RND_MIN_INF: -1}   # offset from half


class FuseActivations:
    name = "fuse-activations"

    def run(self, graph: Graph) -> Graph:
        outputs = set(graph.output_names)

        def only_reader(name: str, node) -> bool:
            readers = graph.consumers(name)
            return name not in outputs and len(readers) == 1 and readers[0] is node

        fused_relu = {}          # quantizer name -> the relu that joins it
        for node in graph.nodes:
            if isinstance(node, Relu):
                q = graph.node(node.inputs[0])
                if isinstance(q, Quantize) and q.overflow in (Overflow.SAT, Overflow.SAT_SYM) \
                        and only_reader(q.name, node) and node.type.frac == q.type.frac \
                        and node.type.max_code == q.type.max_code:
                    fused_relu[q.name] = node
        halves = {}              # linear sum name -> the constant its outputs add
        for node in graph.nodes:
            if isinstance(node, Quantize) and node.rounding in _FOLDED_HALF \
                    and not node.float32_cast:
                s = graph.node(node.inputs[0])
                d = s.type.frac - node.type.frac
                if isinstance(s, LinearSum) and d > 0 and only_reader(s.name, node):
                    halves[s.name] = (1 << (d - 1)) + _FOLDED_HALF[node.rounding]
        if not fused_relu and not halves:
            return graph
        dropped = {r.name for r in fused_relu.values()}

        def fuse(node, src):
            if node.name in dropped:
                return None
            if node.name in halves:
                return _add_constant(node, halves[node.name])
            if isinstance(node, Quantize):
                if node.inputs[0] in halves:
                    node = dataclasses.replace(node, rounding=Rounding.TRN)
                if node.name in fused_relu:
                    relu = fused_relu[node.name]
                    node = dataclasses.replace(node, type=relu.type, overflow=Overflow.SAT)
            return node
        return InferRanges().run(rewrite(graph, fuse))


def _add_constant(node: LinearSum, value: int) -> LinearSum:
    """Every output adds `value` more (to its constant term)."""
    terms = []
    for col in node.terms:
        const = sum(t.value for t in col if t.source < 0) + value
        terms.append(tuple(t for t in col if t.source >= 0)
                     + ((Term(-1, const, 0),) if const else ()))
    lo, hi = int(node.lo.min()) + min(value, 0), int(node.hi.max()) + max(value, 0)
    t = node.type
    if lo < t.min_code or hi > t.max_code:       # room for the larger sums
        t = FixedType.for_range(min(lo, 0), max(hi, 0), t.frac)
    return dataclasses.replace(node, terms=terms, type=t)
