"""`ScaleShift`: per-channel (last axis) `x * scale * 2**-scale_frac + shift *
2**-shift_frac`, exactly (a batch normalization given a precision)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Const, Module

from ..ir.types import as_codes
from ..passes.csd import csd_digits
from .base import Node, align, register, same_shape, through
from .component import Layer, balanced_sum, element_shape, fit


class ScaleShiftLayer(Layer):
    """Per channel `x * scale + shift` with the IR's constants, aligned to the output."""

    def compute(self, m: Module) -> list:
        node = self.node
        last, frac = node.shape[-1], node.type.frac
        prod_shift = frac - (self.src.type.frac + node.scale_frac)
        shift_shift = frac - node.shift_frac
        out = []
        for e, x in enumerate(self.inputs):
            c = e % last
            scale, shift = int(node.scale[c]), int(node.shift[c]) << shift_shift
            out.append((constant_product(x, scale) << prod_shift)
                       + Const(shift, element_shape(shift, shift)))
        return self.stage(m, 1, [fit(m, v, self.node, j, "a") for j, v in enumerate(out)])


def constant_product(x, value: int):
    """x * value by shift and add: one shifted x per canonical signed digit of `value`
    (`passes/csd.py`), summed in a balanced tree. Written out so Yosys sees adders, not a
    `$mul` it would put on a DSP block (ECP5, xc7) for a constant; exact at every width."""
    terms = [(x << s) if sign > 0 else -(x << s) for s, sign in csd_digits(value)]
    return balanced_sum(terms) if terms else Const(0, 1)


@register
@dataclass(eq=False, frozen=True)
class ScaleShift(Node):
    scale: np.ndarray = field(default=None)
    scale_frac: int = 0
    shift: np.ndarray = field(default=None)
    shift_frac: int = 0
    op = "scale_shift"

    def evaluate(self, src, x):
        prod_frac = src.type.frac + self.scale_frac
        y = x.astype(object) * self.scale.astype(object)
        y = align(y, prod_frac, self.type.frac) + align(self.shift.astype(object),
                                                        self.shift_frac, self.type.frac)
        return as_codes(y)

    def interval(self, src):
        a, b = through(self, src)         # monotonic per element, either direction
        return np.minimum(a, b), np.maximum(a, b)

    def logic_levels(self) -> int:
        return 1         # a constant multiply and an add

    def stats(self):
        nonzero = int(np.count_nonzero(self.scale))
        return int(self.scale.size), nonzero, nonzero * (self.size // self.scale.size)

    def details(self):
        return [f"scale frac={self.scale_frac} shift frac={self.shift_frac}"]

    def component(self, src):
        return ScaleShiftLayer(self, src)

    def hls_precision(self):
        return None, (f"layer {self.layer} ({self.op}: hwgen folds it exactly; hls4ml "
                      "computes it in its own rounded arithmetic)")

    def manifest_fields(self):
        return {}

    def problems(self, src):
        out = same_shape(self, src)
        if self.scale.shape != (self.shape[-1],) or self.shift.shape != (self.shape[-1],):
            out.append(f"scale {self.scale.shape} / shift {self.shift.shape} for "
                       f"{self.shape[-1]} channels")
        return out
