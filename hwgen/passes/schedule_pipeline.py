"""Place pipeline registers, by estimated delay for a clock target or every `every`
combinational levels, and balance the branches of a DAG so that they meet in the same
cycle.

A level is one adder level of a linear sum's adder graph (the multipliers in `dsp` mode
are one), one activation (relu, step function, scale-shift), one of a quantize's two
(rounding, then saturation), or a merge's levels. By delay (the default), each level
costs its estimated time on the target (`ir/delay.py`: wider adders take longer) and a
stage may hold as many as the clock allows: on a chain of layers the schedule is the
optimum (fewest stages, then fewest register bits: a cut goes where the live values are
narrowest, often a layer's input rather than the middle of its sums); on a DAG each path
registers when its next level would overrun the clock. By count (`--pipeline N`), the
count runs across layers, so registers fall at a steady rhythm; a node starts counting
from the longest count among its inputs. No register goes after the last level before
an output (the top's output register follows anyway). The argmax of a model that ended in softmax starts after a register of its own
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

from ..ir import delay
from ..ir.graph import Graph
from ..ops import FoldedLinearSum, Node

# The default schedule: by delay for the target's clock (`every=None`). With a count
# instead, measured on digits_mlp_pruned (ecp5, Yosys, before shared sums): a register
# every 2 levels cost 4624 flip-flops, every 3 levels 2580, every 4 levels 1739.
DEFAULT_EVERY = None


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


def design_bits(graph: Graph) -> int:
    """The design's size for the delay model's routing (`DelayModel.sized`): the bits of
    its adders (a folded layer: its lanes' multipliers and accumulators)."""
    from ..ops import LinearSum
    from ..ops.component import element_shape
    bits = 0
    for node in graph.nodes:
        if isinstance(node, LinearSum):
            bits += sum(n.type.width for n in node.graph.nodes if n.is_adder)
        elif isinstance(node, FoldedLinearSum):
            f = node.fold
            x, w = element_shape(*f.x_bounds).width, element_shape(*f.weight_bounds).width
            acc = max(element_shape(lo, hi).width for lo, hi in f.acc_bounds)
            bits += len(f.lanes) * (x * w + acc)
    return bits


def timing_model(graph: Graph, target: str):
    """The delay model the by-delay schedule times `graph` with on `target`."""
    return delay.model(target).sized(design_bits(graph))


def argmax_levels(n: int) -> int:
    """Comparison levels of the balanced argmax tree over `n` values."""
    return max(n - 1, 0).bit_length()


def _latches(graph: Graph) -> Graph:
    """Decide which folded layers latch their inputs: those fed by another folded layer's
    output chains with no register in between (the chains change during the next run),
    and those FoldLayers chose to latch (`Fold.own_latch`); registers elsewhere (pipeline
    stages, delay lines) load once per vector and hold."""
    edges, _ = delays(graph)
    from_chain: dict[str, bool] = {}
    nodes = []
    for node in graph.nodes:
        fed = any(from_chain[i] and not edges.get((i, node.name)) for i in node.inputs)
        if isinstance(node, FoldedLinearSum):
            node = dataclasses.replace(node, fold=dataclasses.replace(
                node.fold, latch=fed or node.fold.own_latch))
            from_chain[node.name] = True
        else:
            from_chain[node.name] = fed and not node.register_after
        nodes.append(node)
    return dataclasses.replace(graph, nodes=nodes)


class SchedulePipeline:
    """`every=N`: a register every N levels (the manual override, `--pipeline N`).
    `every=None`: registers by estimated delay for a clock of `clock_mhz` (default: the
    target's, `ir/delay.py`): the fewest stages whose every path fits the clock, and
    among schedules with that many, the one whose registers hold the fewest bits (only
    the values live at a cut are registered, and a layer's inputs or outputs are often
    far narrower than its partial sums)."""

    name = "schedule-pipeline"

    def __init__(self, every: int | None = DEFAULT_EVERY, clock_mhz: float | None = None,
                 target: str = "ecp5"):
        if every is not None and (not isinstance(every, int) or every < 0):
            raise ValueError(f"pipeline must be a whole number of levels >= 0, not {every!r}")
        self.every, self.target = every, target
        self.clock_mhz = clock_mhz or delay.model(target).default_mhz
        if self.clock_mhz <= 0:
            raise ValueError(f"clock target must be positive, not {clock_mhz!r}")

    def run(self, graph: Graph) -> Graph:
        if self.every is None:
            model = timing_model(graph, self.target)
            regs = _by_delay(graph, model, model.budget(self.clock_mhz))
        else:
            regs = _by_count(graph, self.every)
        nodes = [dataclasses.replace(n, register_after=regs.get(n.name, ()))
                 for n in graph.nodes]
        graph = _latches(dataclasses.replace(graph, nodes=nodes))
        amax = ()
        if graph.softmax_removed and self.every != 0:
            depth = argmax_levels(graph.output.size)
            # A comparison and a select is about as deep as two adder levels, and the
            # tree is small: a register after every level (digits_mlp_pruned on ECP5:
            # 37 MHz unregistered, 49 MHz every 3 levels, argmax then still critical).
            amax = tuple(range(1, depth))
        return dataclasses.replace(graph, argmax_register_after=amax)


def _by_count(graph: Graph, every: int) -> dict[str, tuple[int, ...]]:
    """A register every `every` levels, counted across layers."""
    after = _levels_after(graph)
    count: dict[str, int] = {}
    out = {}
    for node in graph.nodes:
        if node.own_latency:
            count[node.name] = 0      # a folded layer's outputs are registered
            continue
        c = max((count[i] for i in node.inputs), default=0)
        regs, n = [], levels(node)
        for level in range(1, n + 1):
            c += 1
            if every and c % every == 0 and (level < n or after[node.name]):
                regs.append(level)
        count[node.name] = c
        out[node.name] = tuple(regs)
    return out


def _levels_after(graph: Graph) -> dict[str, int]:
    """Levels still to come on the longest path after each node (0 at an output: no
    register right before the output register)."""
    after: dict[str, int] = {}
    for node in reversed(graph.nodes):
        after[node.name] = max((levels(r) + after[r.name]
                                for r in graph.consumers(node.name)), default=0)
    return after


def level_delays(node: Node, model, src=None) -> list[tuple[float, int]]:
    """Per level of a node, (its fixed time in ns, the width of its widest adder); a level
    that is only wiring for the ranges of `src` (the node's input(s), `Node.wiring_levels`)
    takes no time, and `Node.level_costs` says how many LUT levels deep each level is and
    on which carry width (a step function: its tree's levels, comparators first)."""
    from ..ops import LinearSum
    if node.own_latency:
        return []
    if isinstance(node, LinearSum):
        g = node.graph
        out = [(0.0, 0)] * g.depth
        for n in g.nodes:
            if n.level:
                t, w = out[n.level - 1]
                if n.is_adder:
                    out[n.level - 1] = (max(t, model.level_ns), max(w, n.type.width))
                else:
                    out[n.level - 1] = (max(t, model.multiply_ns), w)
        return out
    width = max(_widths(node) + [1])
    if src is None:
        wiring, costs = frozenset(), ((1, None),) * levels(node)
    else:
        wiring, costs = node.wiring_levels(src), node.level_costs(src, model.lut_inputs)
    return [(0.0, 0) if k in wiring else
            (model.level_ns * depth, width if bits is None else bits)
            for k, (depth, bits) in enumerate(costs, 1)]


def _widths(node: Node) -> list[int]:
    """Per element, the bits its inferred range takes (its hardware signal's width)."""
    from .infer_ranges import element_width
    if node.lo is None:
        return [node.type.width]
    return [element_width(a, b)[1] for a, b in zip(node.lo.reshape(-1), node.hi.reshape(-1))]


def live_bits(node: Node, level: int, src=None) -> int:
    """Bits a register after `level` of `node` holds (`src`: its input(s), for an op whose
    registers inside it hold more than its outputs, `Node.register_bits`)."""
    from ..ops import LinearSum
    if isinstance(node, LinearSum):
        return sum(n.type.width for n in node.graph.live_after(level))
    bits = node.register_bits(level, src) if src is not None else None
    return sum(_widths(node)) if bits is None else bits


def _by_delay(graph: Graph, model, budget: float) -> dict[str, tuple[int, ...]]:
    if _is_chain(graph):
        return _chain_schedule(graph, model, budget)
    return _greedy_schedule(graph, model, budget)


def _is_chain(graph: Graph) -> bool:
    """One path: every node reads the one before it, and only the last is an output."""
    nodes = graph.nodes
    return all(n.inputs == (p.name,) for p, n in zip(nodes, nodes[1:])) \
        and tuple(graph.output_names) == (nodes[-1].name,) \
        and not any(n.own_latency for n in nodes) \
        and all(len(graph.consumers(n.name)) == 1 for n in nodes[:-1])


def _chain_schedule(graph: Graph, model, budget: float) -> dict[str, tuple[int, ...]]:
    """Exact for a chain: over the cut points (after each level), the fewest stages
    within `budget`, then the fewest register bits (a small dynamic programme). A
    level longer than the budget gets a stage of its own."""
    slots = []                                  # (node name, level, (t, w), bits)
    for node in graph.nodes:
        for k, d in enumerate(level_delays(node, model, graph.sources(node)), 1):
            slots.append((node.name, k, d, live_bits(node, k, graph.sources(node))))
    n = len(slots)
    inf = (float("inf"), float("inf"))
    best = [inf] * (n + 1)                      # best[i]: a cut after slot i - 1
    back = [-1] * (n + 1)
    best[0] = (0, 0)
    for i in range(n + 1):                      # the stage after a cut at i
        if best[i] == inf:
            continue
        t, w = 0.0, 0
        for j in range(i, n):
            t, w = t + slots[j][2][0], max(w, slots[j][2][1])
            if model.stage(t, w) > budget and j > i:
                break
            if j + 1 == n:                      # the output register ends this stage
                cand = best[i]
            else:
                cand = (best[i][0] + 1, best[i][1] + slots[j][3])
            if cand < best[j + 1]:
                best[j + 1], back[j + 1] = cand, i
    regs: dict[str, list[int]] = {}
    j = back[n]
    while j > 0:
        name, level = slots[j - 1][0], slots[j - 1][1]
        regs.setdefault(name, []).append(level)
        j = back[j]
    return {k: tuple(sorted(v)) for k, v in regs.items()}


def _greedy_schedule(graph: Graph, model, budget: float) -> dict[str, tuple[int, ...]]:
    """Any DAG: walk the levels in order and register after a level when the next one
    (in this node or in any reader) would overrun `budget`. Each path's time counts from
    its last register; a node starts at the latest of its inputs."""
    delays_of = {n.name: level_delays(n, model, graph.sources(n)) for n in graph.nodes}
    first: dict[str, tuple] = {}                # the first level, through level-less
    for node in reversed(graph.nodes):          # nodes (reshapes)
        d = delays_of[node.name]
        readers = [first[r.name] for r in graph.consumers(node.name)]
        first[node.name] = d[0] if d else (max([r[0] for r in readers] + [0.0]),
                                           max([r[1] for r in readers] + [0]))
    at: dict[str, tuple] = {}
    out = {}
    for node in graph.nodes:
        if node.own_latency:
            at[node.name] = (0.0, 0)
            continue
        t = max([at[i][0] for i in node.inputs] + [0.0])
        w = max([at[i][1] for i in node.inputs] + [0])
        d = delays_of[node.name]
        readers = graph.consumers(node.name)
        regs = []
        for k, (dt, dw) in enumerate(d, 1):
            t, w = t + dt, max(w, dw)
            if k < len(d):
                nxt = d[k]
            elif readers:
                nxt = (max(first[r.name][0] for r in readers),
                       max(first[r.name][1] for r in readers))
            else:
                nxt = (0.0, 0)                  # the output register follows
            if nxt[0] and model.stage(t + nxt[0], max(w, nxt[1])) > budget:
                regs.append(k)
                t, w = 0.0, 0
        at[node.name] = (t, w)
        out[node.name] = tuple(regs)
    return out
