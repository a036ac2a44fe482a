"""Remove the logic whose result nothing reads, and fold inputs that are constants.

Needs `InferRanges` and the `LinearSum`s of `DropPrunedWeights`. Liveness runs backwards
from the outputs, per element: a linear sum reads input i only if a live output has a term
on it (a neuron whose every outgoing weight is pruned is read by nobody); an element-wise
op (quantize, relu, step function, scale-shift, reshape) reads its input j only if its
output j is live and not a constant (a step function that maps its whole input range to
one value needs no input); any other op reads all its inputs if any output is live. A
linear-sum output that nothing reads becomes the constant at the low end of its range
(so every op after it still sees a value it could see before, and computes the same
constant where that matters), and a term whose input is a constant becomes a constant
term. The ranges are then inferred again, which makes the ops after a dead neuron
constants too; the pass repeats until nothing changes. The graph's outputs are unchanged
on every input; values nobody reads may differ from the model's, which is the point.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..ir.graph import Graph
from ..ir.term import Term
from ..ops import LinearSum, Quantize, Relu, Reshape, ScaleShift, StepFunction
from .infer_ranges import InferRanges

ELEMENTWISE = (Quantize, Relu, StepFunction, ScaleShift, Reshape)


class DropDeadLogic:
    name = "drop-dead-logic"

    def run(self, graph: Graph) -> Graph:
        for _ in range(8):                      # a chain of layers settles in a few rounds
            new = _once(graph)
            if new is graph:
                return graph
            graph = InferRanges().run(new)
        return graph


def live_elements(graph: Graph) -> dict[str, np.ndarray]:
    """Per node, which of its (flat) elements some output depends on."""
    live = {n.name: np.zeros(n.size, dtype=bool) for n in graph.nodes}
    for name in graph.output_names:
        live[name][:] = True
    for node in reversed(graph.nodes[1:]):
        mine = live[node.name]
        if not mine.any():
            continue
        if isinstance(node, LinearSum):
            src = live[node.inputs[0]]
            cols = node.expanded(src.size)
            for j in np.flatnonzero(mine):
                src[list(cols[j])] = True
        elif isinstance(node, ELEMENTWISE) and node.lo is not None:
            constant = (node.lo == node.hi).reshape(-1)
            live[node.inputs[0]] |= mine & ~constant
        else:
            for i in node.inputs:
                live[i][:] = True
    return live


def _once(graph: Graph) -> Graph:
    live = live_elements(graph)
    changed = False
    nodes = []
    for node in graph.nodes:
        if isinstance(node, LinearSum):
            src = graph.node(node.inputs[0])
            lo, hi = src.lo.reshape(-1), src.hi.reshape(-1)
            out_lo = node.lo.reshape(-1)
            terms = []
            for j, col in enumerate(node.terms):
                if not live[node.name][j]:
                    new = (Term(-1, int(out_lo[j]), 0),) if out_lo[j] else ()
                else:
                    new = tuple(Term(-1, t.coeff * int(lo[t.source]), t.shift)
                                if t.source >= 0 and lo[t.source] == hi[t.source] else t
                                for t in col)
                    new = tuple(t for t in new if t.source >= 0 or t.coeff)
                    new = _merge_constants(new)
                changed |= new != tuple(col)
                terms.append(new)
            node = dataclasses.replace(node, terms=terms)
        nodes.append(node)
    return dataclasses.replace(graph, nodes=nodes) if changed else graph


def _merge_constants(col: tuple) -> tuple:
    """One constant term at most (the sum of them), after the input terms."""
    consts = [t for t in col if t.source < 0]
    if len(consts) <= 1:
        return col
    value = sum(t.value for t in consts)
    return tuple(t for t in col if t.source >= 0) + ((Term(-1, value, 0),) if value else ())
