"""`Quantize`: requantize to `type` with `rounding` and `overflow`, optionally after
QKeras's float32 cast of the input (quantized_relu rounds its input to float32 first)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned

from ..ir.types import FixedType, Overflow, Rounding, requantize, round_to_float32
from .hls_types import ap_type
from .base import Node, register, same_shape, through
from .component import Layer, above, below, element_shape, fit, ranged_signal


class QuantizeLayer(Layer):
    """Requantize per element in two levels: shift and round by the IR's mode, then
    saturate or wrap, each with only the logic the element's range can reach."""

    def compute(self, m: Module) -> list:
        node = self.node
        rounded, ranges = [], []
        for e, x in enumerate(self.inputs):
            lo, hi = int(self.src.lo.reshape(-1)[e]), int(self.src.hi.reshape(-1)[e])
            r, mlo, mhi = round_value(m, x, lo, hi, self.src.type.frac, node, e)
            rounded.append(r)
            ranges.append((mlo, mhi))
        rounded = self.stage(m, 1, rounded)
        out = [overflow_value(r, mlo, mhi, node) for r, (mlo, mhi) in zip(rounded, ranges)]
        return self.stage(m, 2, [fit(m, v, self.node, j, "q") for j, v in enumerate(out)])


def round_value(m, x, lo: int, hi: int, frac_in: int, node, e):
    """(the input moved to the output's fraction bits and rounded, as a signal exactly as
    wide as its range; that range)."""
    d = frac_in - node.type.frac
    if d <= 0:
        moved = x << -d
    else:
        if x.shape().width <= d:         # make room for the dropped bits and the sign
            wider = Signal(signed(d + 2) if lo < 0 else unsigned(d + 1))
            m.d.comb += wider.eq(x)
            x = wider
        # The dropped bits against half as bit tests, not comparisons (see `above`)
        q, r = x >> d, x[:d]
        neg = below(x, 0) if lo < 0 else Const(0)
        rest = r[:d - 1].any() if d > 1 else Const(0)
        above, tie, odd = r[d - 1] & rest, r[d - 1] & ~rest, q[0]
        inc = {Rounding.TRN: Const(0), Rounding.TRN_ZERO: neg & r.any(),
               Rounding.RND: above | tie, Rounding.RND_ZERO: above | (tie & neg),
               Rounding.RND_MIN_INF: above, Rounding.RND_INF: above | (tie & ~neg),
               Rounding.RND_CONV: above | (tie & odd)}[node.rounding]
        moved = q + inc
    mlo, mhi = rounded_range(node, lo, hi, frac_in)
    return ranged_signal(m, moved, mlo, mhi, f"rounded_{e}"), mlo, mhi


def rounded_range(node, lo: int, hi: int, frac_in: int) -> tuple[int, int]:
    """The codes [lo, hi] (fraction bits `frac_in`) moved to the output's fraction bits and
    rounded, before saturation."""
    t = node.type
    wide = FixedType(t.signed or lo < 0, t.width + 64, t.int_bits + 64)
    mlo, mhi = requantize(np.array([lo, hi], dtype=object), frac_in, wide, node.rounding,
                          Overflow.SAT)
    return int(mlo), int(mhi)


def cannot_overflow(node, mlo: int, mhi: int) -> bool:
    """Whether a rounded range [mlo, mhi] fits the output type, so saturation is wiring."""
    t = node.type
    return saturation_low(node) <= mlo and mhi <= t.max_code


def saturation_low(node) -> int:
    """The lowest code after saturation: SAT_SYM's is -max_code (the most negative code
    saturates too; an input grid that is the quantizer's own format reaches it)."""
    t = node.type
    return -t.max_code if (node.overflow is Overflow.SAT_SYM and t.signed) else t.min_code


def overflow_value(moved, mlo: int, mhi: int, node):
    t = node.type
    low = saturation_low(node)
    if cannot_overflow(node, mlo, mhi):
        return moved                         # the range proves no overflow is possible
    if node.overflow is Overflow.WRAP:
        shape = moved.shape()
        if shape.signed and shape.width < t.width:   # a slice does not sign-extend
            moved = Cat(moved, moved[-1].replicate(t.width - shape.width))
        return moved[:t.width].as_signed() if t.signed else moved[:t.width]
    v = moved
    if mhi > t.max_code:
        v = Mux(above(moved, t.max_code), t.max_code, v)
    if mlo < low:
        v = Mux(below(moved, low), low, v)
    return v


@register
@dataclass(eq=False, frozen=True)
class Quantize(Node):
    rounding: Rounding = Rounding.RND_CONV
    overflow: Overflow = Overflow.SAT
    float32_cast: bool = False   # round the input to a float32 first (QKeras quantized_relu)
    op = "quantize"

    def evaluate(self, src, x):
        if self.float32_cast:
            x = round_to_float32(x)
        return requantize(x, src.type.frac, self.type, self.rounding, self.overflow)

    def interval(self, src):
        if self.overflow is Overflow.WRAP:
            # Wrapping is monotonic only where nothing wraps: check the unwrapped ends (on
            # a wide signed type, so that values below an unsigned type's zero show).
            t = self.type
            probe = dataclasses.replace(self, overflow=Overflow.SAT,
                                        type=FixedType(True, t.width + 65, t.int_bits + 65))
            a, b = through(probe, src)
            fits = (a >= t.min_code) & (b <= t.max_code)
            return np.where(fits, a, t.min_code), np.where(fits, b, t.max_code)
        return through(self, src)

    def logic_levels(self) -> int:
        return 2            # round (a carry chain), then saturate (compare and select)

    def wiring_levels(self, src):
        """Rounding is wiring when no bits are dropped or when it truncates (TRN drops
        them); saturation is wiring when it wraps or when no element's rounded range can
        overflow (`overflow_value` then passes the value through)."""
        out = set()
        if not self.float32_cast and (src.type.frac <= self.type.frac
                                      or self.rounding is Rounding.TRN):
            out.add(1)
        if self.overflow is Overflow.WRAP:
            out.add(2)
        elif src.lo is not None and all(
                cannot_overflow(self, *rounded_range(self, int(a), int(b), src.type.frac))
                for a, b in zip(src.lo.reshape(-1), src.hi.reshape(-1))):
            out.add(2)
        return frozenset(out)

    def level_costs(self, src, lut_inputs: int = 4):
        """The rounding's carry chain runs over the rounded value (the input's bits above
        the dropped ones), which is wider than the output where saturation narrows it;
        saturation is one level of bit tests and a select on that value."""
        return ((1, max(self._rounded_widths(src) + [1])), (1, None))

    def register_bits(self, level: int, src) -> int | None:
        """A register between rounding and saturation holds the rounded values, at their
        width before saturation."""
        return sum(self._rounded_widths(src)) if level == 1 else None

    def _rounded_widths(self, src) -> list[int]:
        """Per element, the bits of its rounded value (`round_value`'s signal): its range
        is `rounded_range`'s, for all elements at once (rounding is monotonic; the wide
        signed type never saturates), as the schedule asks for it often."""
        if src.lo is None:
            return [src.type.width]
        t = self.type
        wide = FixedType(True, t.width + 65, t.int_bits + 65)
        lo, hi = (requantize(np.asarray(v, dtype=object).reshape(-1), src.type.frac, wide,
                             self.rounding, Overflow.SAT) for v in (src.lo, src.hi))
        return [element_shape(a, b).width for a, b in zip(lo, hi)]

    def stats(self):
        return 0, 0, 0

    def details(self):
        return [f"rounding={self.rounding.value} overflow={self.overflow.value} "
                f"float32_cast={self.float32_cast}"]

    def component(self, src):
        return QuantizeLayer(self, src)

    def lane_value(self, m, x, lo: int, hi: int, frac_in: int, name: str):
        """This op on one lane of a folded layer (codes of `x` in [lo, hi])."""
        r, mlo, mhi = round_value(m, x, lo, hi, frac_in, self, name)
        return overflow_value(r, mlo, mhi, self)

    def hls_precision(self):
        if self.float32_cast:
            return None, (f"layer {self.layer} rounds through float32, which ap_fixed does "
                          "not reproduce")
        return {"result": ap_type(self.type, self.rounding, self.overflow)}, None

    def manifest_fields(self):
        return {}

    def problems(self, src):
        return same_shape(self, src)
