"""`Relu`: max(x, 0), exactly (same fraction bits in and out: the codes only clamp)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Module, Mux

from .hls_types import ap_type
from .base import Node, register, same_shape
from .component import Layer, below, fit


class ReluLayer(Layer):
    def compute(self, m: Module) -> list:
        lo = self.src.lo.reshape(-1)
        out = [relu_value(x, lo[e]) for e, x in enumerate(self.inputs)]
        return self.stage(m, 1, [fit(m, v, self.node, j, "r") for j, v in enumerate(out)])



def relu_value(x, lo: int):
    """max(x, 0), with no logic when the range `lo` proves x >= 0."""
    return Mux(below(x, 0), 0, x) if lo < 0 else x


@register
@dataclass(eq=False, frozen=True)
class Relu(Node):
    op = "relu"

    def evaluate(self, src, x):
        return np.maximum(x, 0)

    def interval(self, src):
        return np.maximum(src.lo, 0), np.maximum(src.hi, 0)

    def logic_levels(self) -> int:
        return 1         # a sign test and a select

    def stats(self):
        return 0, 0, 0

    def details(self):
        return []

    def component(self, src):
        return ReluLayer(self, src)

    def lane_value(self, m, x, lo: int, hi: int, frac_in: int, name: str):
        """This op on one lane of a folded layer (codes of `x` in [lo, hi])."""
        return relu_value(x, lo)

    def hls_precision(self):
        return {"result": ap_type(self.type)}, None

    def manifest_fields(self):
        return {}

    def problems(self, src):
        out = same_shape(self, src)
        return out + ([] if self.type.frac == src.type.frac else    # evaluate keeps codes
                      [f"{self.type.frac} fraction bits from {src.type.frac}"])

