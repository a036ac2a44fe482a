"""Place pipeline registers every `every` combinational levels along the whole chain.

A level is one adder level of a tree (plus one for the multipliers in `dsp` mode), one
activation (relu, step function, scale-shift), or one of a quantize's two (rounding,
then saturation). The count runs across layers, so
registers fall at a steady rhythm; the last level is followed by the top's output register
anyway. The argmax of a model that ended in softmax starts after a register of its own and
is a tree of comparisons with a register after every level (it is small). `every=0` leaves only the input and output registers. A folded layer (`ir/fold.py`) has
its own pipeline and registered outputs: the count starts again after it.
"""
from __future__ import annotations

import dataclasses

from ..ir.graph import Graph
from ..ops import Node

# Measured on digits_mlp_pruned (ecp5, Yosys): a register every 2 levels costs 4624
# flip-flops, every 3 levels 2580, every 4 levels 1739. 3 keeps a stage at about three
# carry chains.
DEFAULT_EVERY = 3


def levels(node: Node) -> int:
    """Combinational levels of one op (its `logic_levels` rule; a folded layer has its
    own pipeline: none)."""
    return node.logic_levels()


def latency(graph: Graph) -> int:
    """Cycles from `in_valid` to `out_valid`: input register, scheduled registers, folded
    layers, the register before the argmax (models that ended in softmax), output
    register."""
    return 2 + sum(node_latency(n) for n in graph.nodes) + int(graph.softmax_removed) \
        + len(graph.argmax_register_after)


def node_latency(node: Node) -> int:
    """Cycles a node adds: its scheduled registers, or a folded layer's own latency."""
    folded = getattr(node, "fold", None)
    return len(node.register_after) + (folded.latency if folded is not None else 0)


def initiation_interval(graph: Graph) -> int:
    """Cycles between input vectors: the longest folded layer's interval, else 1."""
    return max([n.fold.interval for n in graph.nodes if getattr(n, "fold", None)] + [1])


def argmax_levels(n: int) -> int:
    """Comparison levels of the balanced argmax tree over `n` values."""
    return max(n - 1, 0).bit_length()


def _latches(nodes: list[Node], fused: set[str]) -> list[Node]:
    """Decide which folded layers latch their inputs: those fed by another folded layer's
    output chains with no pipeline register in between (the chains change during the next
    run); registers elsewhere load once per vector and hold."""
    out, from_chain = [], False
    for node in nodes:
        folded = getattr(node, "fold", None)
        if folded is not None:
            node = dataclasses.replace(node, fold=dataclasses.replace(folded, latch=from_chain))
            from_chain = True
        elif node.register_after and node.name not in fused:
            from_chain = False
        out.append(node)
    return out


class SchedulePipeline:
    name = "schedule-pipeline"

    def __init__(self, every: int = DEFAULT_EVERY):
        if not isinstance(every, int) or every < 0:
            raise ValueError(f"pipeline must be a whole number of levels >= 0, not {every!r}")
        self.every = every

    def run(self, graph: Graph) -> Graph:
        from .fold_layers import fused_nodes
        fused = fused_nodes(graph)
        total = sum(levels(n) for n in graph.nodes if n.name not in fused)
        count, seen, nodes = 0, 0, []
        for node in graph.nodes:
            if getattr(node, "fold", None) is not None or node.name in fused:
                count = 0           # a folded layer's outputs are registered
                nodes.append(dataclasses.replace(node, register_after=()))
                continue
            regs = []
            for level in range(1, levels(node) + 1):
                count += 1
                seen += 1
                if self.every and count % self.every == 0 and seen < total:
                    regs.append(level)
            nodes.append(dataclasses.replace(node, register_after=tuple(regs)))
        nodes = _latches(nodes, fused)
        amax = ()
        if graph.softmax_removed and self.every:
            depth = argmax_levels(graph.output.size)
            # A comparison and a select is about as deep as two adder levels, and the
            # tree is small: a register after every level (digits_mlp_pruned on ECP5:
            # 37 MHz unregistered, 49 MHz every 3 levels, argmax then still critical).
            amax = tuple(range(1, depth))
        return dataclasses.replace(graph, nodes=nodes, argmax_register_after=amax)
