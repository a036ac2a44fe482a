"""The top component: flattened input and output code vectors with valid strobes.

Ports: `clk`, `rst` (synchronous, clears the valid pipeline only), `in_valid`, `in_data`
(input element i at bits [i*w, (i+1)*w)), `out_valid`, `out_data` (output element j at
[j*w_out, (j+1)*w_out) in the output node's declared format, then the argmax index when the
model ended in softmax). One vector every `ii` clocks (1 unless layers are folded; a
vector sooner than that corrupts the one in flight); `out_valid` follows `in_valid` after
`latency` cycles. Inputs and outputs are registered, and so are the logits before the
argmax.
"""
from __future__ import annotations

import re

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...ir.graph import Graph
from ...ops import Input
from ...ops.component import register_stage
from ...passes.fold_layers import fused_nodes
from ...passes.schedule_pipeline import initiation_interval, latency, node_latency


def module_name(name: str) -> str:
    """A Verilog-safe identifier made from an IR or Keras name."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return ident if re.match(r"[A-Za-z_]", ident) else "m_" + ident


def argmax_bits(n: int) -> int:
    return max((n - 1).bit_length(), 1)


class Top(wiring.Component):
    def __init__(self, graph: Graph):
        self.graph = graph
        t_in, t_out = graph.input.type, graph.output.type
        self.in_width = graph.input.size * t_in.width
        self.out_width = graph.output.size * t_out.width + (
            argmax_bits(graph.output.size) if graph.softmax_removed else 0)
        self.latency = latency(graph)      # cycles, counted again while elaborating
        self.ii = initiation_interval(graph)
        self.modules: list[tuple[str, str]] = []      # (IR node name, submodule name)
        super().__init__({"in_valid": In(1), "in_data": In(self.in_width),
                          "out_valid": Out(1), "out_data": Out(self.out_width)})

    def elaborate(self, platform):
        m = Module()
        g = self.graph
        t_in = g.input.type
        shape_in = signed(t_in.width) if t_in.signed else unsigned(t_in.width)
        values = []
        for i in range(g.input.size):
            r = Signal(shape_in, name=f"in_{i}", reset_less=True)
            with m.If(self.in_valid):
                m.d.sync += r.eq(self.in_data[i * t_in.width:(i + 1) * t_in.width])
            values.append(r)
        valid = Signal(name="in_valid_r")
        m.d.sync += valid.eq(self.in_valid)
        cycles = 1
        prev = g.input
        self.modules = []
        fused = fused_nodes(g)
        for node in g.nodes:
            if isinstance(node, Input):
                continue
            if node.name in fused:         # computed in the lanes of the folded layer before
                self.modules.append((node.name, None))
                prev = node
                continue
            folded = getattr(node, "fold", None)
            post = [g.node(n) for n in folded.post] if folded else []
            layer = node.component(prev, post, folded.latch if folded else True)
            name = module_name(node.name)
            m.submodules[name] = layer
            self.modules.append((node.name, name))
            m.d.comb += layer.valid_in.eq(valid)
            m.d.comb += [x.eq(v) for x, v in zip(layer.inputs, values)]
            values = [getattr(layer, f"y_{j}") for j in range((post or [node])[-1].size)]
            valid = layer.valid_out
            cycles += node_latency(node)
            prev = node
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
        packed = []
        t_out = g.output.type
        for v in fields[:g.output.size]:
            s = Signal(signed(t_out.width) if t_out.signed else unsigned(t_out.width))
            m.d.comb += s.eq(v)
            packed.append(s)
        packed += fields[g.output.size:]
        out = Signal(self.out_width, name="out_r", reset_less=True)
        with m.If(valid):
            m.d.sync += out.eq(Cat(*packed))
        out_valid = Signal(name="out_valid_r")
        m.d.sync += out_valid.eq(valid)
        m.d.comb += [self.out_data.eq(out), self.out_valid.eq(out_valid)]
        assert cycles + 1 == self.latency, (cycles, self.latency)
        return m


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
