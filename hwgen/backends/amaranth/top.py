"""The top component: flattened input and output code vectors with valid strobes.

Ports: `clk`, `rst` (synchronous, clears the valid pipeline only), `in_valid`, `in_data`
(input element i at bits [i*w, (i+1)*w)), `out_valid`, `out_data` (the outputs in the
model's order, each element in its output's declared format, element j of an output at
[base + j*w_out, base + (j+1)*w_out); then the argmax index when the model ended in
softmax). Layers are wired as the graph's DAG; where paths meet, the early ones pass
through delay registers (`dly_*`) so that both arrive in the same cycle. One vector every `ii` clocks (1 unless layers are folded; a
vector sooner than that corrupts the one in flight); `out_valid` follows `in_valid` after
`latency` cycles. Inputs (those some output depends on) and outputs are registered, and
so are the logits before the argmax.
"""
from __future__ import annotations

import re

from amaranth.hdl import (Cat, ClockSignal, Const, Instance, Module, Mux, ResetSignal, Signal,
                          signed, unsigned)
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...ir.graph import Graph
from ...ops.component import register_stage
from ...passes.drop_dead_logic import live_elements
from ...passes.schedule_pipeline import arrivals, delay_stages, initiation_interval, latency


def module_name(name: str) -> str:
    """A Verilog-safe identifier made from an IR or Keras name."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return ident if re.match(r"[A-Za-z_]", ident) else "m_" + ident


def argmax_bits(n: int) -> int:
    return max((n - 1).bit_length(), 1)


class Top(wiring.Component):
    """`layers`: the layers' components, made here so that a caller may convert them on
    their own (`layer_modules`); `instanced` then maps a layer's submodule name to its
    converted module (layers with cells only), which the top instantiates by name instead
    of elaborating it."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.layers = [(node, module_name(node.name), node.component(graph.sources(node)))
                       for node in graph.nodes[1:]]
        self.instanced: dict = {}
        t_in = graph.input.type
        heads = graph.heads
        self.in_width = graph.input.size * t_in.width
        self.out_width = sum(h.size * h.type.width for h in heads) + (
            argmax_bits(graph.output.size) if graph.softmax_removed else 0)
        self.latency = latency(graph)      # cycles, counted again while elaborating
        self.ii = initiation_interval(graph)
        self.modules: list[tuple[object, str | None]] = []   # (IR node, submodule name)
        super().__init__({"in_valid": In(1), "in_data": In(self.in_width),
                          "out_valid": Out(1), "out_data": Out(self.out_width)})

    def elaborate(self, platform):
        m = Module()
        g = self.graph
        t_in = g.input.type
        shape_in = signed(t_in.width) if t_in.signed else unsigned(t_in.width)
        values = []
        # An input element no output depends on (its every weight pruned, or read only by
        # neurons nobody reads) gets no register: the layer's port is tied to 0.
        read = live_elements(g)[g.input.name]
        for i in range(g.input.size):
            if not read[i]:
                values.append(Const(0, shape_in))
                continue
            r = Signal(shape_in, name=f"in_{i}", reset_less=True)
            with m.If(self.in_valid):
                m.d.sync += r.eq(self.in_data[i * t_in.width:(i + 1) * t_in.width])
            values.append(r)
        valid = Signal(name="in_valid_r")
        m.d.sync += valid.eq(self.in_valid)
        at = arrivals(g)
        # Per tensor, its values and valid undelayed, then after 1, 2, ... delay registers
        # (the schedule's delay balancing: paths into a node meet in the same cycle).
        taps: dict[str, list] = {g.input.name: [(values, valid)]}
        valids: dict[str, list] = {}
        held: dict[tuple[str, int], tuple] = {}

        def delayed_valid(name: str, k: int):
            line = valids.setdefault(name, [taps[name][0][1]])
            while len(line) <= k:
                v = Signal(name=f"dly_{module_name(name)}_valid{len(line)}")
                m.d.sync += v.eq(line[-1])
                line.append(v)
            return line[k]

        def tapped(name: str, d: int):
            if d and self.ii > 1:
                return holding(name, d)
            line = taps[name]
            while len(line) <= d:
                regs, v = register_stage(m, *line[-1], f"dly_{module_name(name)}_{len(line)}")
                line.append((regs, v))
            return line[d]

        def holding(name: str, d: int):
            """A delay of `d` cycles where a vector comes every II cycles: registers load
            once per vector and then hold for II cycles, so 1 + ceil((d - 1) / II)
            registers do (`schedule_pipeline.delay_stages`): the first loads on the
            source's valid (a folded layer's outputs hold only briefly), each next one
            while the one before still holds, the last d - 1 cycles after the valid, so
            that its value holds for II cycles from the reader's valid on."""
            if (name, d) not in held:
                values = taps[name][0][0]
                stages = delay_stages(d, self.ii)
                for k in range(1, stages + 1):
                    regs = [Signal(v.shape(), name=f"dly_{module_name(name)}_{d}_{k}_{i}",
                                   reset_less=True) for i, v in enumerate(values)]
                    load = 0 if k == 1 else d - 1 - (stages - k) * self.ii
                    with m.If(delayed_valid(name, load)):
                        m.d.sync += [r.eq(v) for r, v in zip(regs, values)]
                    values = regs
                held[(name, d)] = (values, delayed_valid(name, d))
            return held[(name, d)]

        self.modules = []
        for node, name, layer in self.layers:
            start = max(at[i] for i in node.inputs)
            ins = [tapped(i, start - at[i]) for i in node.inputs]
            inputs = [v for vs, _ in ins for v in vs]
            self.modules.append((node, name))
            self.modules += [(p, None) for p in node.post]   # computed in its lanes
            if name in self.instanced:
                taps[node.name] = [_instance(m, name, self.instanced[name], node.size,
                                             ins[0][1], inputs)]
                continue
            m.submodules[name] = layer
            m.d.comb += layer.valid_in.eq(ins[0][1])
            m.d.comb += [x.eq(v) for x, v in zip(layer.input_ports, inputs)]
            taps[node.name] = [([getattr(layer, f"y_{j}") for j in range(node.size)],
                                layer.valid_out)]
        end = max(at[h] for h in g.output_names)
        outs = [tapped(h, end - at[h]) for h in g.output_names]
        values, valid = [v for vs, _ in outs for v in vs], outs[0][1]
        cycles = 1 + end
        if g.softmax_removed:
            # Register the logits first: the comparison tree then has a stage of its own
            # instead of lengthening the last layer's critical path.
            values, valid = register_stage(m, values, valid, "logit")
            cycles += 1
        fields = list(values)
        if g.softmax_removed:
            # The logit register loads once per vector; with II beyond the argmax's depth
            # it holds the logits until the output register takes them, so the argmax
            # stages need not carry them (a folded design).
            carry = self.ii <= len(g.argmax_register_after)
            index, values, valid = _argmax(m, values, valid, g.argmax_register_after, carry)
            cycles += len(g.argmax_register_after)
            fields = list(values) + [index]
        packed, k = [], 0
        for head in g.heads:
            t_out = head.type
            for v in fields[k:k + head.size]:
                s = Signal(signed(t_out.width) if t_out.signed else unsigned(t_out.width))
                m.d.comb += s.eq(v)
                packed.append(s)
            k += head.size
        packed += fields[k:]
        out = Signal(self.out_width, name="out_r", reset_less=True)
        with m.If(valid):
            m.d.sync += out.eq(Cat(*packed))
        out_valid = Signal(name="out_valid_r")
        m.d.sync += out_valid.eq(valid)
        m.d.comb += [self.out_data.eq(out), self.out_valid.eq(out_valid)]
        assert cycles + 1 == self.latency, (cycles, self.latency)
        return m


def _instance(m: Module, name: str, converted, size: int, valid, inputs: list):
    """An instance of a layer converted on its own (`layer_modules.LayerModule`), wired
    by its port names. Returns (its outputs `y_<j>`, its `valid_out`)."""
    given = {"clk": ClockSignal(), "rst": ResetSignal(), "valid_in": valid}
    given.update((f"x_{i}", v) for i, v in enumerate(inputs))
    ports, outs = [], {}
    for p in converted.ports:
        if p.direction == "input":
            ports.append(("i", p.name, given[p.name]))
        else:
            outs[p.name] = Signal(signed(p.width) if p.signed else unsigned(p.width),
                                  name=f"{name}_{p.name}")
            ports.append(("o", p.name, outs[p.name]))
    m.submodules[name] = Instance(converted.name, *ports)
    return [outs[f"y_{j}"] for j in range(size)], outs["valid_out"]


def _argmax(m: Module, values: list, valid, register_after: tuple, carry: bool = True):
    """Index of the largest value, the lowest index on ties (numpy's argmax), by a
    balanced tree of comparisons, registered after the scheduled levels. With `carry` the
    logits travel along through the same registers. Returns (index, logits, valid)."""
    bits = argmax_bits(len(values))
    items = [(v, Const(i, bits)) for i, v in enumerate(values)]
    logits = list(values)
    level = 0
    while len(items) > 1:
        level += 1
        nxt = []
        for k in range(0, len(items) - 1, 2):
            (va, ia), (vb, ib) = items[k], items[k + 1]
            take_b = vb > va              # strict: ties keep the lower index
            v = Signal(_wider(va, vb), name=f"amax_v{level}_{k // 2}")
            i = Signal(bits, name=f"amax_i{level}_{k // 2}")
            m.d.comb += [v.eq(Mux(take_b, vb, va)), i.eq(Mux(take_b, ib, ia))]
            nxt.append((v, i))
        if len(items) % 2:
            nxt.append(items[-1])
        items = nxt
        if level in register_after:
            flat = [x for pair in items for x in pair] + (logits if carry else [])
            regs, valid = register_stage(m, flat, valid, f"amax_s{level}")
            items = [(regs[2 * j], regs[2 * j + 1]) for j in range(len(items))]
            if carry:
                logits = regs[2 * len(items):]
    return items[0][1], logits, valid


def _wider(a, b):
    sa, sb = a.shape(), b.shape()
    if sa.signed or sb.signed:
        return signed(max(sa.width + (not sa.signed), sb.width + (not sb.signed)))
    return unsigned(max(sa.width, sb.width))
