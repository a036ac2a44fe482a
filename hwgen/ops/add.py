"""`Add`: the exact element-wise sum of its sources, each with a sign (Keras's Add,
Subtract, and Average over 2**k sources), `sum(sign_i * x_i) / 2**scale_bits`.

Sources are aligned to the output's fraction bits less `scale_bits` (exact shifts); the
codes are the exact sum, and `scale_bits` only moves the binary point: Average of 2**k
tensors is the sum with k more fraction bits, exactly what Keras's `sum / n` gives.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Module

from .base import Node, register
from .component import Layer, fit
from .hls_types import ap_type
from .merge import aligned, aligned_bounds, source_problems, staged_tree, tree_levels


class AddLayer(Layer):
    """Per element a balanced tree of adders and subtractors (a sign travels with each
    partial sum, so a subtracted source costs no negation until the very end)."""

    def compute(self, m: Module) -> list:
        node, frac = self.node, self.node.sum_frac
        operands = [[(x[j] << (frac - s.type.frac), sign)
                     for x, s, sign in zip(self.input_groups, self.src, node.signs)]
                    for j in range(node.size)]
        sums = staged_tree(self, m, operands, _signed_add)
        return [fit(m, v if sign > 0 else -v, node, j, "add") for j, (v, sign) in
                enumerate(sums)]


def _signed_add(a, b):
    (va, sa), (vb, sb) = a, b
    if sa == sb:
        return va + vb, sa
    return (va - vb, 1) if sa > 0 else (vb - va, 1)


@register
@dataclass(eq=False, frozen=True)
class Add(Node):
    signs: tuple = ()            # per source: +1 or -1
    scale_bits: int = 0          # the sum divided by 2**scale_bits (Average)
    op = "add"
    arity = None

    @property
    def sum_frac(self) -> int:
        return self.type.frac - self.scale_bits

    def evaluate(self, src, x):
        parts = aligned(x, src, self.sum_frac)
        total = sum(sign * p for sign, p in zip(self.signs, parts))
        return total.reshape((total.shape[0],) + tuple(self.shape))

    def interval(self, src):
        lo = hi = 0
        for sign, (a, b) in zip(self.signs, aligned_bounds(src, self.sum_frac)):
            lo, hi = (lo + a, hi + b) if sign > 0 else (lo - b, hi - a)
        return np.asarray(lo).reshape(self.shape), np.asarray(hi).reshape(self.shape)

    def logic_levels(self) -> int:
        return tree_levels(len(self.signs))

    def stats(self):
        return 0, 0, 0

    def details(self):
        what = " ".join(("+" if s > 0 else "-") + f"%{i}" for s, i in zip(self.signs,
                                                                          self.inputs))
        return [f"sum {what}" + (f", / 2**{self.scale_bits}" if self.scale_bits else "")]

    def component(self, src):
        return AddLayer(self, src)

    def hls_precision(self):
        return {"result": ap_type(self.type)}, None

    def manifest_fields(self):
        return {"adders": self.size * (len(self.signs) - 1)}

    def problems(self, src):
        out = source_problems(self, src, self.sum_frac)
        if len(self.signs) != len(src) or any(s not in (1, -1) for s in self.signs):
            out.append(f"signs {self.signs} for {len(src)} sources")
        return out
