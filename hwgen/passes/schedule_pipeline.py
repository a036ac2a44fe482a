"""Place pipeline registers every `every` combinational levels along every path, and
balance the branches of a DAG so that they meet in the same cycle.

A level is one adder level of a tree (plus one for the multipliers in `dsp` mode), one
activation (relu, step function, scale-shift), one of a quantize's two (rounding, then
saturation), or a merge's levels. The count runs across layers, so registers fall at a
steady rhythm; a node starts counting from the longest count among its inputs. No
register goes after the last level before an output (the top's output register follows
anyway). The argmax of a model that ended in softmax starts after a register of its own
and is a tree of comparisons with a register after every level (it is small).
`every=0` leaves only the input and output registers. A folded layer
(`FoldedLinearSum`) has its own pipeline and registered outputs: the count starts again
after it.

Where the paths into a node (or into the outputs) arrive in different cycles, the top
delays the early ones by registers (`delays`: cycles per edge; at full rate one delay
line per tensor, tapped by every reader; with II > 1 fewer registers, `delay_stages`),
counted in the manifest.
"""
from __future__ import annotations

import dataclasses

from ..ir.graph import Graph
from ..ops import FoldedLinearSum, Node

# Measured on digits_mlp_pruned (ecp5, Yosys): a register every 2 levels costs 4624
# flip-flops, every 3 levels 2580, every 4 levels 1739. 3 keeps a stage at about three
# carry chains.
DEFAULT_EVERY = 3


def levels(node: Node) -> int:
    """Combinational levels of one op (its `logic_levels` rule; a folded layer has its
    own pipeline: none)."""
    return node.logic_levels()


def node_latency(node: Node) -> int:
    """Cycles a node adds: its scheduled registers and its own pipeline (a folded
    layer's)."""
    return len(node.register_after) + node.own_latency


def arrivals(graph: Graph) -> dict[str, int]:
    """Per node, the cycle its output is valid, counted from the input registers."""
    out = {}
    for node in graph.nodes:
        start = max((out[i] for i in node.inputs), default=0)
        out[node.name] = start + node_latency(node)
    return out


def delays(graph: Graph) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """(cycles each edge (source, reader) is delayed so that a node's inputs arrive
    together, cycles each output is delayed to the last output)."""
    at = arrivals(graph)
    edges = {}
    for node in graph.nodes[1:]:
        start = max(at[i] for i in node.inputs)
        for i in node.inputs:
            edges[(i, node.name)] = start - at[i]
    end = max(at[h] for h in graph.output_names)
    return edges, {h: end - at[h] for h in graph.output_names}


def delay_stages(d: int, ii: int) -> int:
    """Registers that delay a tensor by `d` cycles when a vector comes every `ii` cycles:
    the first loads on the tensor's valid (a folded layer's outputs hold only briefly);
    a register loads once per vector and holds for `ii` cycles, so each further one
    covers up to `ii` cycles (full rate: `d` registers)."""
    return 1 + -(-(d - 1) // ii) if d else 0


def delay_lines(graph: Graph) -> dict[str, int]:
    """Per tensor, the register stages of its delays (full rate: one line as long as the
    longest delay, tapped by every reader; II > 1: ceil(d / II) stages per delay d)."""
    edges, heads = delays(graph)
    ii = initiation_interval(graph)
    wanted: dict[str, set[int]] = {}
    for (src, _), d in list(edges.items()) + [((h, None), d) for h, d in heads.items()]:
        if d:
            wanted.setdefault(src, set()).add(d)
    if ii == 1:
        return {src: max(ds) for src, ds in wanted.items()}
    return {src: sum(delay_stages(d, ii) for d in ds) for src, ds in wanted.items()}


def delay_register_bits(graph: Graph) -> int:
    """Data flip-flops of all delays (each stage as wide as its tensor's elements; the
    valid bits that time them are not counted)."""
    from ..ops.component import shapes_of
    total = 0
    for name, stages in delay_lines(graph).items():
        node = graph.node(name)
        bits = sum(s.width for s in shapes_of(node)) if node.lo is not None else \
            node.size * node.type.width
        total += stages * bits
    return total


def latency(graph: Graph) -> int:
    """Cycles from `in_valid` to `out_valid`: input register, scheduled registers and
    folded layers on the longest path, the register before the argmax (models that ended
    in softmax), output register."""
    at = arrivals(graph)
    return 2 + max(at[h] for h in graph.output_names) + int(graph.softmax_removed) \
        + len(graph.argmax_register_after)


def initiation_interval(graph: Graph) -> int:
    """Cycles between input vectors: the longest folded layer's interval, else 1."""
    return max([n.interval_cycles for n in graph.nodes] + [1])


def argmax_levels(n: int) -> int:
    """Comparison levels of the balanced argmax tree over `n` values."""
    return max(n - 1, 0).bit_length()


def _latches(graph: Graph) -> Graph:
    """Decide which folded layers latch their inputs: those fed by another folded layer's
    output chains with no register in between (the chains change during the next run);
    registers elsewhere (pipeline stages, delay lines) load once per vector and hold."""
    edges, _ = delays(graph)
    from_chain: dict[str, bool] = {}
    nodes = []
    for node in graph.nodes:
        fed = any(from_chain[i] and not edges.get((i, node.name)) for i in node.inputs)
        if isinstance(node, FoldedLinearSum):
            node = dataclasses.replace(node, fold=dataclasses.replace(node.fold, latch=fed))
            from_chain[node.name] = True
        else:
            from_chain[node.name] = fed and not node.register_after
        nodes.append(node)
    return dataclasses.replace(graph, nodes=nodes)


class SchedulePipeline:
    name = "schedule-pipeline"

    def __init__(self, every: int = DEFAULT_EVERY):
        if not isinstance(every, int) or every < 0:
            raise ValueError(f"pipeline must be a whole number of levels >= 0, not {every!r}")
        self.every = every

    def run(self, graph: Graph) -> Graph:
        # Levels still to come on the longest path after each node (0 at an output:
        # no register right before the output register).
        after: dict[str, int] = {}
        for node in reversed(graph.nodes):
            after[node.name] = max((levels(r) + after[r.name]
                                    for r in graph.consumers(node.name)), default=0)
        count: dict[str, int] = {}
        nodes = []
        for node in graph.nodes:
            if node.own_latency:
                count[node.name] = 0      # a folded layer's outputs are registered
                nodes.append(dataclasses.replace(node, register_after=()))
                continue
            c = max((count[i] for i in node.inputs), default=0)
            regs, n = [], levels(node)
            for level in range(1, n + 1):
                c += 1
                if self.every and c % self.every == 0 and (level < n or after[node.name]):
                    regs.append(level)
            count[node.name] = c
            nodes.append(dataclasses.replace(node, register_after=tuple(regs)))
        graph = _latches(dataclasses.replace(graph, nodes=nodes))
        amax = ()
        if graph.softmax_removed and self.every:
            depth = argmax_levels(graph.output.size)
            # A comparison and a select is about as deep as two adder levels, and the
            # tree is small: a register after every level (digits_mlp_pruned on ECP5:
            # 37 MHz unregistered, 49 MHz every 3 levels, argmax then still critical).
            amax = tuple(range(1, depth))
        return dataclasses.replace(graph, argmax_register_after=amax)
