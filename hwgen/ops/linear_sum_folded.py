"""`FoldedLinearSum`: a dense layer folded onto multiply-accumulate lanes (`ir/fold.py`),
driven by a program ROM, that owns the element-wise ops fused into its lanes.

The node holds the `LinearSum` it was made from (`linear`), the plan (`fold`) and the fused
ops (`post`, quantize, relu or a shared step function: one instance per lane instead of
one per neuron); its output is the last fused op's (or the sum's), so it is one node of
the graph where the full-rate form is several.

Ports as every layer (`valid_in`, `x_<i>`, `valid_out`, `y_<j>`). One `valid_in` starts a
run of `cycles` steps; the next may come `cycles` cycles later (the layer's initiation
interval), and the outputs are valid `cycles + 3` cycles after `valid_in`.

    cycle c        inputs latched (x_buf, when fed by a folded layer); step counter at 0,
                   the ROM reads step 0
    c+1+k          ROM word k out: each lane selects x_buf[source] (a multiplexer)
    c+2+k          product source x weight (a DSP block where the target has one; shift
                   and add in logic when an operand has 4 bits or fewer)
    c+3+k          accumulate: acc = (first ? constant : acc) + product << shift;
                   on an output's last step acc also shifts into the lane's output chain
    c+cycles+3     valid_out: every lane's chain holds its outputs in program order

An output split over lanes (`Fold.split`) takes one cycle more: its segments' partial sums
are added into one register per output once the chains are complete. Fused ops do not
join a split fold (`passes.fold_layers`); they follow it as their own nodes.

With fused element-wise ops (`Fold.post`: quantize, relu, a shared step function), a
finished sum is registered first and goes through those ops, one instance per lane, on its
way into the chain: one cycle more, and the chain holds the narrow activations instead of
the accumulator.

The weights, sources and constants of all lanes sit side by side in one ROM word per step
(a block RAM where the synthesis tool maps it): memory instead of logic per weight. The
inputs are latched, so the layer before may change them while this one runs; the output
chains change only on the next run's finished outputs, which come at least `cycles` cycles
later, so the layer after may read them for a whole initiation interval. Every data
register loads only on a valid step: an idle layer does not toggle.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from amaranth.hdl import Array, Module, Mux, Signal, unsigned
from amaranth.lib.memory import Memory

from ..ir.fold import Fold
from .base import Node, register
from .component import Layer, balanced_sum, element_shape, ranged_signal


class FoldedLinearSumLayer(Layer):
    def __init__(self, node, src):
        self.post, self.latch, self.sum = list(node.post), node.fold.latch, node.linear
        super().__init__(node, src)

    def compute(self, m: Module) -> list:
        f: Fold = self.node.fold
        x_shape = element_shape(*f.x_bounds)
        w_shape = element_shape(*f.weight_bounds)
        b_shape = element_shape(*f.bias_bounds)
        # Inputs latched on valid_in, widened to one shape for the multiplexer.
        # Latched only when the layer before is folded too: its output chains change
        # during this layer's run. Any other source (the top's input registers, pipeline
        # registers) loads only on a valid, at most once per II, so it holds for the run.
        x_buf = [Signal(x_shape, name=f"xbuf_{i}", reset_less=self.latch)
                 for i in range(self.src.size)]
        if self.latch:
            with m.If(self.valid_in):
                m.d.sync += [b.eq(x) for b, x in zip(x_buf, self.inputs)]
        else:
            m.d.comb += [b.eq(x) for b, x in zip(x_buf, self.inputs)]
        # The program ROM: per lane [source | weight | constant | first | last]. A lane's
        # multiplexer covers only the inputs its outputs use (pruning makes that a subset)
        # and `source` indexes that subset.
        # Lanes that read the same input at every step (all of a dense layer's, or the
        # same segment of several outputs split alike) share one multiplexer, its select
        # stored once (with the first of them, `Fold.mux_of`).
        used = [sorted({st.source for st in steps}) for steps in f.programs]
        layouts = [[("source", max((len(u) - 1).bit_length(), 1) if f.mux_of[lane] == lane
                     else 0), ("weight", w_shape.width),
                    ("bias", b_shape.width), ("first", 1), ("last", 1)]
                   for lane, u in enumerate(used)]
        words = []
        for k in range(f.cycles):
            word, pos = 0, 0
            for steps, fields, u in zip(f.programs, layouts, used):
                st = steps[k]
                for name, bits in fields:
                    value = u.index(st.source) if name == "source" else int(getattr(st, name))
                    word |= (value & ((1 << bits) - 1)) << pos
                    pos += bits
            words.append(word)
        lane_lsb = [0]
        for fields in layouts:
            lane_lsb.append(lane_lsb[-1] + sum(bits for _, bits in fields))
        # Block RAM: the ROM is wide and, left to its cost model, Yosys builds it from LUTs.
        rom = Memory(shape=unsigned(lane_lsb[-1]), depth=max(f.cycles, 2), init=words,
                     attrs={"rom_style": "block"})
        m.submodules.rom = rom
        rd = rom.read_port()
        # Step counter: 0 when idle; valid_in starts a run of `cycles` addresses.
        step = Signal(range(max(f.cycles, 2)), name="step")
        active = Signal(name="active")
        m.d.comb += active.eq(self.valid_in | (step != 0))
        with m.If(active):
            m.d.sync += step.eq(Mux(step == f.cycles - 1, 0, step + 1))
        m.d.comb += [rd.addr.eq(step), rd.en.eq(active)]
        b_valid, b_end = Signal(name="rom_valid"), Signal(name="rom_end")
        m.d.sync += [b_valid.eq(active), b_end.eq(active & (step == f.cycles - 1))]
        # Stage registers of the three steps after the ROM, per lane.
        c_valid, d_valid, c_end, d_end = (Signal(name=n) for n in
                                          ("op_valid", "prod_valid", "op_end", "prod_end"))
        m.d.sync += [c_valid.eq(b_valid), d_valid.eq(c_valid), c_end.eq(b_valid & b_end),
                     d_end.eq(c_valid & c_end)]
        done = Signal(name="done")
        if self.post:                    # one more stage: the element-wise ops per lane
            e_end = Signal(name="post_end")
            m.d.sync += [e_end.eq(d_valid & d_end), done.eq(e_end)]
        else:
            m.d.sync += done.eq(d_valid & d_end)
        chains = []                      # per lane: its output chain's registers
        selected_by = {}                 # lane -> the input its multiplexer selects
        for lane, (outs, (acc_lo, acc_hi)) in enumerate(zip(f.lanes, f.acc_bounds)):
            word = rd.data[lane_lsb[lane]:lane_lsb[lane + 1]]
            pos, field = 0, {}
            for name, bits in layouts[lane]:
                field[name] = word[pos:pos + bits]
                pos += bits
            weight = field["weight"].as_signed() if w_shape.signed else field["weight"]
            bias = field["bias"].as_signed() if b_shape.signed else field["bias"]
            # operands
            c_x = Signal(x_shape, name=f"l{lane}_x", reset_less=True)
            c_w = Signal(w_shape, name=f"l{lane}_w", reset_less=True)
            c_b = Signal(b_shape, name=f"l{lane}_bias", reset_less=True)
            c_first, c_last = Signal(name=f"l{lane}_first"), Signal(name=f"l{lane}_last")
            if f.mux_of[lane] != lane:
                selected = selected_by[f.mux_of[lane]]
            else:
                selected = selected_by[lane] = \
                    Array(x_buf[i] for i in used[lane])[field["source"]]
            with m.If(b_valid):
                m.d.sync += [c_x.eq(selected), c_w.eq(weight), c_b.eq(bias),
                             c_first.eq(field["first"]), c_last.eq(field["last"])]
            # product
            p_lo, p_hi = _product_bounds(f)
            d_p = Signal(element_shape(p_lo, p_hi), name=f"l{lane}_prod", reset_less=True)
            d_b = Signal(b_shape, name=f"l{lane}_bias_p", reset_less=True)
            d_first, d_last = Signal(name=f"l{lane}_first_p"), Signal(name=f"l{lane}_last_p")
            with m.If(c_valid):
                product = _shift_add(c_x, c_w) if f.product_in_logic else c_x * c_w
                m.d.sync += [d_p.eq(product), d_b.eq(c_b), d_first.eq(c_first),
                             d_last.eq(c_last)]
            # accumulate
            acc_shape = element_shape(acc_lo, acc_hi)
            acc = Signal(acc_shape, name=f"l{lane}_acc", reset_less=True)
            acc_next = Signal(acc_shape, name=f"l{lane}_sum")
            m.d.comb += acc_next.eq(Mux(d_first, d_b, acc) + (d_p << f.shift))
            with m.If(d_valid):
                m.d.sync += acc.eq(acc_next)
            push, value, out_shape = d_valid & d_last, acc_next, acc_shape
            if self.post:
                # The finished sum, registered, then the fused ops on it.
                e_val = Signal(_lane_shape(self.sum, outs), name=f"l{lane}_done",
                               reset_less=True)
                e_push = Signal(name=f"l{lane}_push")
                m.d.sync += e_push.eq(push)
                with m.If(push):
                    m.d.sync += e_val.eq(acc_next)
                value, push = e_val, e_push
                prev = self.sum
                for node in self.post:
                    value = _lane_op(m, node, prev, outs, value, lane)
                    prev = node
                out_shape = _lane_shape(self.post[-1], outs)
            chain = [Signal(out_shape, name=f"l{lane}_out_{k}", reset_less=True)
                     for k in range(len(outs))]
            with m.If(push):
                m.d.sync += [a.eq(b) for a, b in zip(chain, chain[1:] + [value])]
            chains.append(chain)
        parts = [[chains[lane][k] for lane, k in f.segments(j)] for j in range(self.node.size)]
        if not f.split:
            self.valid = done
            return [regs[0] for regs in parts]
        # A split output: its segments' partial sums added once every chain is complete,
        # into a register as wide as the output's interval.
        totals = []
        for j, regs in enumerate(parts):
            total = Signal(element_shape(*f.out_bounds[j]), name=f"y{j}_sum", reset_less=True)
            with m.If(done):
                m.d.sync += total.eq(sum(regs[1:], regs[0]))
            totals.append(total)
        self.valid = Signal(name="sums_valid")
        m.d.sync += self.valid.eq(done)
        return totals


@register
@dataclass(eq=False, frozen=True)
class FoldedLinearSum(Node):
    """`linear` (a `LinearSum` with its exact terms) computed by the lanes of `fold`, then
    the fused element-wise ops `post` in order; the node's type and range are the last
    op's. Its `register_after` stays empty: the lanes have their own pipeline."""

    linear: Node = field(default=None, repr=False)
    fold: Fold = field(default=None, repr=False)
    post: tuple = field(default=(), repr=False)
    op = "folded_linear_sum"

    @classmethod
    def of(cls, linear, fold: Fold, post=()) -> "FoldedLinearSum":
        """The folded form of `linear` with its fused ops `post` (nodes after it)."""
        last = post[-1] if post else linear
        return cls(name=linear.name, layer=linear.layer, shape=last.shape, type=last.type,
                   inputs=linear.inputs, origin=linear.origin, note=linear.note,
                   lo=last.lo, hi=last.hi, linear=linear, fold=fold, post=tuple(post))

    @property
    def own_latency(self) -> int:
        return self.fold.latency

    @property
    def interval_cycles(self) -> int:
        return self.fold.interval

    def evaluate(self, src, x):
        y, prev = self.linear.evaluate(src, x), self.linear
        for node in self.post:
            y, prev = node.evaluate(prev, y), node
        return y

    def interval(self, src):
        lo, hi = self.linear.interval(src)
        prev = dataclasses.replace(self.linear, lo=lo, hi=hi)
        for node in self.post:
            lo, hi = node.interval(prev)
            prev = dataclasses.replace(node, lo=lo, hi=hi)
        return lo, hi

    def logic_levels(self) -> int:
        return 0        # the lanes have their own pipeline (own_latency)

    def stats(self):
        return self.linear.stats()

    def details(self):
        s = self.linear
        lines = [f"sum %{s.name} : {s.type}" + (
            f", range [{int(s.lo.min())}, {int(s.hi.max())}]" if s.lo is not None else "")]
        lines.append(fold_line(self.fold))
        for p in self.post:
            lines.append(f"lanes compute %{p.name} = {p.op} : {p.type}  # {p.origin} "
                         f"'{p.layer}' {p.note}")
            lines += ["    " + line for line in p.details()]
        return lines

    def component(self, src):
        return FoldedLinearSumLayer(self, src)

    def hls_precision(self):
        return self.linear.hls_precision()

    def manifest_fields(self):
        f = self.fold
        return dict(mult="lanes", terms=f.steps, adders=f.multipliers,
                    multipliers=f.multipliers, lanes=f.multipliers, cycles=f.cycles,
                    interval=f.interval, latched_inputs=f.latch, latency=f.latency,
                    rom_words=f.cycles, **({"segments": sum(map(len, f.lanes))}
                                           if f.split else {}))

    def problems(self, src):
        out = [f"linear: {p}" for p in self.linear.problems(src)]
        prev = self.linear
        for node in self.post:
            out += [f"fused %{node.name}: {p}" for p in node.problems(prev)]
            prev = node
        if tuple(prev.shape) != tuple(self.shape) or prev.type != self.type:
            out.append(f"its type {self.type} {self.shape} is not its last op's "
                       f"{prev.type} {prev.shape}")
        if self.register_after:
            out.append("pipeline registers inside a folded layer")
        return out


def fold_line(fold) -> str:
    """One line of a folded layer's plan: lanes, program, II, latency, how inputs are read."""
    return (f"folded: {len(fold.lanes)} multiply-accumulate lane(s), {fold.cycles} cycles "
            f"({fold.steps} products), interval {fold.interval}, latency {fold.latency}, "
            f"weights >> {fold.shift} in ROM, "
            + ("one input multiplexer shared by all lanes" if fold.shared_source
               else "an input multiplexer per lane" if fold.multiplexers == len(fold.lanes)
               else f"{fold.multiplexers} input multiplexers shared by lanes that select alike")
            + (", inputs latched" if fold.latch else "")
            + (f", outputs split over lanes ({sum(map(len, fold.lanes))} segments)"
               if fold.split else "")
            + (f", computes {', '.join('%' + p for p in fold.post)}" if fold.post else ""))


def _lane_bounds(node, outs) -> tuple[int, int]:
    lo, hi = node.lo.reshape(-1), node.hi.reshape(-1)
    return min(int(lo[j]) for j in outs), max(int(hi[j]) for j in outs)


def _lane_shape(node, outs):
    return element_shape(*_lane_bounds(node, outs))


def _lane_op(m: Module, node, prev, outs, x, lane: int):
    """`node` (an element-wise op's `lane_value`: quantize, relu or a shared step function)
    on one lane's value `x`, whose codes lie in the union of `prev`'s ranges over the
    lane's outputs; the same logic as the element-wise layers, sized for that union."""
    lo, hi = _lane_bounds(prev, outs)
    out = node.lane_value(m, x, lo, hi, prev.type.frac, f"l{lane}")
    return ranged_signal(m, out, *_lane_bounds(node, outs), f"l{lane}_{node.op}")


def _shift_add(x, w):
    """x * w as the narrower operand's bits selecting shifted copies of the other, summed
    in a balanced tree (the sign bit of a signed operand weighs -2^(n-1)). Written out so
    Yosys sees adders, not a `$mul` it would put on a DSP block (`Fold.product_in_logic`);
    the sum is truncated to the product's register, which holds the exact product."""
    a, b = (x, w) if len(x) <= len(w) else (w, x)
    terms = [Mux(a[i], b, 0) << i for i in range(len(a))]
    if a.shape().signed:
        terms[-1] = -terms[-1]
    return balanced_sum(terms)


def _product_bounds(f: Fold) -> tuple[int, int]:
    """Bounds of x * w over the multiplexer's and the weights' ranges."""
    corners = [a * b for a in f.x_bounds for b in f.weight_bounds]
    return min(corners), max(corners)
