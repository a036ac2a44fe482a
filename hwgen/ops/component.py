"""The frame of every op's Amaranth component (each op builds its own in its file).

Every layer has ports `valid_in`, `x_<i>` (one per input element), `valid_out` and
`y_<j>`; each element is exactly as wide as its inferred code range. Inside, values flow
level by level; after the levels the schedule lists (`node.register_after`) all live values
are registered. Data registers load only while their stage's valid is high: an idle
pipeline then holds its state and its combinational logic sees no transitions, which saves
the dynamic power of the whole datapath for the price of one enable per register (the
cheapest power saving there is). Data registers have no reset: they are never read while
invalid, and reset-less flops are smaller.
"""
from __future__ import annotations

from amaranth.hdl import Const, Module, Shape, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..ir.types import FixedType


def element_shape(lo: int, hi: int) -> Shape:
    """The narrowest Amaranth shape holding every code in [lo, hi]."""
    t = FixedType.for_range(int(lo), int(hi), 0)
    return signed(t.width) if t.signed else unsigned(t.width)


def above(v, c: int):
    """`v > c`, for `c = 2**m - 1` (a saturation limit) as the OR of v's bits from m up and
    not its sign: Yosys maps a comparison with a constant to a carry chain, which costs
    more than that bit test (on xc7 a 20-bit saturation to 6 bits takes 17 LUTs and two
    CARRY4 as comparisons, 10 LUTs as bit tests)."""
    shape = v.shape()
    m = (c + 1).bit_length() - 1
    if c < 0 or (c + 1) != 1 << m:
        return v > c
    top = shape.width - 1 if shape.signed else shape.width
    if m >= top:
        return Const(0)
    high = v[m:top].any()
    return ~v[-1] & high if shape.signed else high


def below(v, c: int):
    """`v < c`, for `c = 0` as the sign bit and for `c = -2**m` as the sign bit and not
    all of v's bits from m up (see `above`)."""
    shape = v.shape()
    if c > 0 or not shape.signed:
        return v < c
    if c == 0:
        return v[-1]
    m = (-c).bit_length() - 1
    if -c != 1 << m:
        return v < c
    if m >= shape.width - 1:
        return Const(0)
    return v[-1] & ~v[m:shape.width - 1].all()


def balanced_sum(terms: list):
    """The sum of `terms` (Amaranth values) as a balanced tree of adders, neighbours
    paired level by level (log2 depth, no registers; `merge.staged_tree` registers)."""
    while len(terms) > 1:
        terms = [terms[k] + terms[k + 1] if k + 1 < len(terms) else terms[k]
                 for k in range(0, len(terms), 2)]
    return terms[0]


def shapes_of(node) -> list[Shape]:
    """Per element, its shape; for a tuple of nodes (a merge's sources) all of theirs."""
    if isinstance(node, tuple):
        return [s for n in node for s in shapes_of(n)]
    return [element_shape(a, b) for a, b in zip(node.lo.reshape(-1), node.hi.reshape(-1))]


def register_stage(m: Module, values: list, valid, prefix: str):
    """A pipeline stage: reset-less registers that load `values` only while `valid` is high
    (an idle stage does not toggle), and the valid bit delayed by one cycle.
    Returns (registers, their valid)."""
    regs = [Signal(v.shape(), name=f"{prefix}_{i}", reset_less=True)
            for i, v in enumerate(values)]
    with m.If(valid):
        m.d.sync += [r.eq(v) for r, v in zip(regs, values)]
    valid_next = Signal(name=f"{prefix}_valid")
    m.d.sync += valid_next.eq(valid)
    return regs, valid_next


def ranged_signal(m: Module, value, lo: int, hi: int, name: str, keep: bool = False) -> Signal:
    """`value` driven onto a signal exactly as wide as its code range [lo, hi]; `keep`:
    marked for synthesis to keep (Yosys's `keep` attribute)."""
    s = Signal(element_shape(lo, hi), name=name, attrs={"keep": 1} if keep else None)
    m.d.comb += s.eq(value)
    return s


class Layer(wiring.Component):
    """Base: ports from the element ranges of the source node(s) and of this node; a
    merge's `x_<i>` are its sources' elements one source after the other."""

    def __init__(self, node, src, out=None):
        self.node, self.src = node, src
        members = {"valid_in": In(1), "valid_out": Out(1)}
        members.update({f"x_{i}": In(s) for i, s in enumerate(shapes_of(src))})
        members.update({f"y_{j}": Out(s) for j, s in enumerate(shapes_of(out or node))})
        super().__init__(wiring.Signature(members))

    @property
    def input_ports(self) -> list:
        """Every `x_<i>`, for the parent to connect."""
        size = sum(n.size for n in self.src) if isinstance(self.src, tuple) else self.src.size
        return [getattr(self, f"x_{i}") for i in range(size)]

    @property
    def inputs(self) -> list:
        """The input elements; one whose range is a single value is that constant (the
        port stays, unread), so per-layer synthesis sees what a whole-design run would:
        a layer after a dead neuron (`passes/drop_dead_logic.py`) builds nothing for it."""
        srcs = self.src if isinstance(self.src, tuple) else (self.src,)
        out = []
        for n in srcs:
            if n.lo is None:
                out += [getattr(self, f"x_{len(out) + i}") for i in range(n.size)]
                continue
            for a, b in zip(n.lo.reshape(-1), n.hi.reshape(-1)):
                port = getattr(self, f"x_{len(out)}")
                out.append(Const(int(a), port.shape()) if a == b else port)
        return out

    @property
    def input_groups(self) -> list[list]:
        """A merge's inputs, one list per source."""
        flat, out, k = self.inputs, [], 0
        for n in self.src:
            out.append(flat[k:k + n.size])
            k += n.size
        return out

    def elaborate(self, platform):
        m = Module()
        self.valid = self.valid_in
        values = self.compute(m)
        m.d.comb += [getattr(self, f"y_{j}").eq(v) for j, v in enumerate(values)]
        m.d.comb += self.valid_out.eq(self.valid)
        return m

    def stage(self, m: Module, level: int, values: list) -> list:
        """Register `values` if the schedule puts a register after `level`."""
        if level not in self.node.register_after:
            return values
        regs, self.valid = register_stage(m, values, self.valid, f"s{level}")
        return regs

    def compute(self, m: Module) -> list:
        raise NotImplementedError


def fit(m, value, node, j, prefix):
    """`value` as output element j of `node`, exactly as wide as its range."""
    return ranged_signal(m, value, node.lo.reshape(-1)[j], node.hi.reshape(-1)[j],
                         f"{prefix}_{j}")
