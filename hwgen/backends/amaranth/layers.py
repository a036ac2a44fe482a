"""One Amaranth component per lowered IR op.

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

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...ops import LinearSum, Node, Quantize, Relu, Reshape, ScaleShift, StepFunction
from ...ir.types import FixedType, Overflow, Rounding, requantize


def element_shape(lo: int, hi: int) -> Shape:
    """The narrowest Amaranth shape holding every code in [lo, hi]."""
    t = FixedType.for_range(int(lo), int(hi), 0)
    return signed(t.width) if t.signed else unsigned(t.width)


def shapes_of(node: Node) -> list[Shape]:
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


def ranged_signal(m: Module, value, lo: int, hi: int, name: str) -> Signal:
    """`value` driven onto a signal exactly as wide as its code range [lo, hi]."""
    s = Signal(element_shape(lo, hi), name=name)
    m.d.comb += s.eq(value)
    return s


class Layer(wiring.Component):
    """Base: ports from the element ranges of the source node and of this node."""

    def __init__(self, node: Node, src: Node, out: Node | None = None):
        self.node, self.src = node, src
        members = {"valid_in": In(1), "valid_out": Out(1)}
        members.update({f"x_{i}": In(s) for i, s in enumerate(shapes_of(src))})
        members.update({f"y_{j}": Out(s) for j, s in enumerate(shapes_of(out or node))})
        super().__init__(wiring.Signature(members))

    @property
    def inputs(self) -> list:
        return [getattr(self, f"x_{i}") for i in range(self.src.size)]

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


class LinearSumLayer(Layer):
    """Balanced adder trees of shifted (csd) or multiplied (dsp) inputs, exact widths."""

    def compute(self, m: Module) -> list:
        node: LinearSum = self.node
        x = self.inputs
        trees = node.trees
        signal_of: dict[int, object] = {}
        multiplies = node.mult == "dsp" and any(
            abs(t.coeff) > 1 and t.source >= 0 for col in node.terms for t in col)
        for j, tree in enumerate(trees):
            for k, leaf in enumerate(tree.levels[0]):
                signal_of[id(leaf)] = self._leaf(m, leaf, x, f"p{j}_{k}", multiplies)
        level = 0
        if multiplies:
            level = 1
            self._restage(m, level, trees, 0, signal_of)
        for k in range(1, max(t.depth for t in trees) + 1):
            level += 1
            for j, tree in enumerate(trees):
                if k > tree.depth:
                    continue
                for i, n in enumerate(tree.levels[k]):
                    if n.a is not None and n.level == k:     # else carried up as is
                        a, b = signal_of[id(n.a)], signal_of[id(n.b)]
                        expr = b - a if n.sub == "a" else a - b if n.sub == "b" else a + b
                        signal_of[id(n)] = ranged_signal(m, expr, n.lo, n.hi, f"n{j}_{k}_{i}")
            self._restage(m, level, trees, k, signal_of)
        out = []
        for tree in trees:
            root = signal_of[id(tree.root)]
            out.append(-root if tree.root.neg else root)
        return out

    def _leaf(self, m, leaf, x, name, multiplies):
        t = leaf.term
        if t.source < 0:
            return Const(t.value, element_shape(t.value, t.value))
        if multiplies and abs(t.coeff) > 1:
            return ranged_signal(m, (x[t.source] * abs(t.coeff)) << t.shift, leaf.lo, leaf.hi,
                                 name)
        return x[t.source] << t.shift

    def _restage(self, m, level, trees, k, signal_of):
        """Register the frontier of every tree after tree level `k`, if scheduled."""
        if level not in self.node.register_after:
            return
        frontier = [n for tree in trees for n in tree.levels[min(k, tree.depth)]
                    if not isinstance(signal_of[id(n)], Const)]   # constants need no timing
        values = [signal_of[id(n)] for n in frontier]
        values = [v if isinstance(v, Signal) else ranged_signal(m, v, n.lo, n.hi, f"l{level}_{i}")
                  for i, (v, n) in enumerate(zip(values, frontier))]
        regs = self.stage(m, level, values)
        for n, r in zip(frontier, regs):
            signal_of[id(n)] = r


class QuantizeLayer(Layer):
    """Requantize per element in two levels: shift and round by the IR's mode, then
    saturate or wrap, each with only the logic the element's range can reach."""

    def compute(self, m: Module) -> list:
        node: Quantize = self.node
        rounded, ranges = [], []
        for e, x in enumerate(self.inputs):
            lo, hi = int(self.src.lo.reshape(-1)[e]), int(self.src.hi.reshape(-1)[e])
            r, mlo, mhi = _round(m, x, lo, hi, self.src.type.frac, node, e)
            rounded.append(r)
            ranges.append((mlo, mhi))
        rounded = self.stage(m, 1, rounded)
        out = [_overflow(r, mlo, mhi, node) for r, (mlo, mhi) in zip(rounded, ranges)]
        return self.stage(m, 2, [_fit(m, v, self.node, j, "q") for j, v in enumerate(out)])


def _round(m, x, lo: int, hi: int, frac_in: int, node: Quantize, e: int):
    """(the input moved to the output's fraction bits and rounded, as a signal exactly as
    wide as its range; that range)."""
    t, d = node.type, frac_in - node.type.frac
    if d <= 0:
        moved = x << -d
    else:
        if x.shape().width <= d:         # make room for the dropped bits and the sign
            wider = Signal(signed(d + 2) if lo < 0 else unsigned(d + 1))
            m.d.comb += wider.eq(x)
            x = wider
        q, r, half = x >> d, x[:d], 1 << (d - 1)
        neg = (x < 0) if lo < 0 else Const(0)
        above, tie, odd = r > half, r == half, q[0]
        inc = {Rounding.TRN: Const(0), Rounding.TRN_ZERO: neg & (r != 0),
               Rounding.RND: above | tie, Rounding.RND_ZERO: above | (tie & neg),
               Rounding.RND_MIN_INF: above, Rounding.RND_INF: above | (tie & ~neg),
               Rounding.RND_CONV: above | (tie & odd)}[node.rounding]
        moved = q + inc
    wide = FixedType(t.signed or lo < 0, t.width + 64, t.int_bits + 64)
    mlo, mhi = (int(v) for v in requantize(np.array([lo, hi], dtype=object), frac_in, wide,
                                           node.rounding, Overflow.SAT))
    return ranged_signal(m, moved, mlo, mhi, f"rounded_{e}"), mlo, mhi


def _overflow(moved, mlo: int, mhi: int, node: Quantize):
    t = node.type
    if t.min_code <= mlo and mhi <= t.max_code:
        return moved                         # the range proves no overflow is possible
    if node.overflow is Overflow.WRAP:
        shape = moved.shape()
        if shape.signed and shape.width < t.width:   # a slice does not sign-extend
            moved = Cat(moved, moved[-1].replicate(t.width - shape.width))
        return moved[:t.width].as_signed() if t.signed else moved[:t.width]
    low = -t.max_code if (node.overflow is Overflow.SAT_SYM and t.signed) else t.min_code
    v = moved
    if mhi > t.max_code:
        v = Mux(moved > t.max_code, t.max_code, v)
    if mlo < low:
        v = Mux(moved < low, low, v)
    return v


def _fit(m, value, node, j, prefix):
    return ranged_signal(m, value, node.lo.reshape(-1)[j], node.hi.reshape(-1)[j],
                         f"{prefix}_{j}")


class ReluLayer(Layer):
    def compute(self, m: Module) -> list:
        lo = self.src.lo.reshape(-1)
        out = [relu_value(x, lo[e]) for e, x in enumerate(self.inputs)]
        return self.stage(m, 1, [_fit(m, v, self.node, j, "r") for j, v in enumerate(out)])


class StepLayer(Layer):
    """Per element: comparators against the thresholds inside its input range, and a
    balanced multiplexer tree over the levels (log2 depth instead of a priority chain)."""

    def compute(self, m: Module) -> list:
        node: StepFunction = self.node
        lo, hi = self.src.lo.reshape(-1), self.src.hi.reshape(-1)
        rows, last = node.thresholds.shape[0], node.shape[-1]
        out = []
        for e, x in enumerate(self.inputs):
            c = e % last if rows > 1 else 0
            out.append(step_value(x, int(lo[e]), int(hi[e]), node.thresholds[c],
                                  node.levels[c]))
        return self.stage(m, 1, [_fit(m, v, self.node, j, "f") for j, v in enumerate(out)])


def step_value(x, lo: int, hi: int, thresholds, levels):
    """One channel's step function of `x` (codes in [lo, hi]): only the thresholds inside
    that range are compared."""
    i0 = int(np.searchsorted(thresholds, lo, side="right"))
    i1 = int(np.searchsorted(thresholds, hi, side="right"))
    return _mux_tree(x, [int(t) for t in thresholds[i0:i1]],
                     [int(v) for v in levels[i0:i1 + 1]])


def relu_value(x, lo: int):
    """max(x, 0), with no logic when the range `lo` proves x >= 0."""
    return Mux(x < 0, 0, x) if lo < 0 else x


def _mux_tree(x, thresholds: list[int], levels: list[int]):
    if len(set(levels)) == 1:
        return Const(levels[0], element_shape(levels[0], levels[0]))
    mid = len(thresholds) // 2
    return Mux(x >= thresholds[mid], _mux_tree(x, thresholds[mid + 1:], levels[mid + 1:]),
               _mux_tree(x, thresholds[:mid], levels[:mid + 1]))


class ScaleShiftLayer(Layer):
    """Per channel `x * scale + shift` with the IR's constants, aligned to the output."""

    def compute(self, m: Module) -> list:
        node: ScaleShift = self.node
        last, frac = node.shape[-1], node.type.frac
        prod_shift = frac - (self.src.type.frac + node.scale_frac)
        shift_shift = frac - node.shift_frac
        out = []
        for e, x in enumerate(self.inputs):
            c = e % last
            scale, shift = int(node.scale[c]), int(node.shift[c]) << shift_shift
            out.append(((x * scale) << prod_shift) + Const(shift, element_shape(shift, shift)))
        return self.stage(m, 1, [_fit(m, v, self.node, j, "a") for j, v in enumerate(out)])


class ReshapeLayer(Layer):
    def compute(self, m: Module) -> list:
        return list(self.inputs)


LAYERS = {LinearSum: LinearSumLayer, Quantize: QuantizeLayer, Relu: ReluLayer,
          StepFunction: StepLayer, ScaleShift: ScaleShiftLayer, Reshape: ReshapeLayer}


def layer_for(node: Node, src: Node, post: list[Node] = (), latch: bool = True) -> Layer:
    """The component of a lowered op (a `Dense` must be lowered first); `post`: the
    element-wise nodes a folded layer computes in its lanes; `latch`: whether a folded
    layer must latch its inputs."""
    if isinstance(node, LinearSum) and node.fold is not None:
        from .folded import FoldedLinearSumLayer    # it builds on `Layer` in this module
        return FoldedLinearSumLayer(node, src, list(post), latch)
    cls = LAYERS.get(type(node))
    if cls is None:
        raise TypeError(f"no hardware for op {node.op!r} (node {node.name}); run the "
                        "hardware pass pipeline first")
    return cls(node, src)

