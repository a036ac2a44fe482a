"""`Multiply`: the exact element-wise product of its sources (Keras's Multiply); the
output's fraction bits are the sum of theirs, so the codes are the product of the codes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Module

from ..ir.types import as_codes
from .base import Node, register
from .component import Layer, fit
from .hls_types import ap_type
from .merge import source_problems, staged_tree, tree_levels


class MultiplyLayer(Layer):
    """Per element a balanced tree of multipliers (a DSP block each where the target has
    them)."""

    def compute(self, m: Module) -> list:
        operands = [[(x[j], None) for x in self.input_groups] for j in range(self.node.size)]
        products = staged_tree(self, m, operands, lambda a, b: (a[0] * b[0], None))
        return [fit(m, v, self.node, j, "mul") for j, (v, _) in enumerate(products)]


def product_bounds(bounds) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-element [lo, hi] of a product of independent factors in `bounds`."""
    lo, hi = bounds[0]
    for a, b in bounds[1:]:
        corners = [lo * a, lo * b, hi * a, hi * b]
        lo = np.minimum.reduce(corners)
        hi = np.maximum.reduce(corners)
    return lo, hi


@register
@dataclass(eq=False, frozen=True)
class Multiply(Node):
    op = "multiply"
    arity = None

    def evaluate(self, src, x):
        out = as_codes(np.asarray(x[0]))
        for v in x[1:]:
            out = as_codes(out.astype(object) * as_codes(np.asarray(v)).astype(object))
        return out.reshape((out.shape[0],) + tuple(self.shape))

    def interval(self, src):
        lo, hi = product_bounds([(as_codes(np.asarray(s.lo)).astype(object),
                                  as_codes(np.asarray(s.hi)).astype(object)) for s in src])
        return as_codes(lo).reshape(self.shape), as_codes(hi).reshape(self.shape)

    def logic_levels(self) -> int:
        return tree_levels(len(self.inputs))

    def stats(self):
        return 0, 0, self.size * (len(self.inputs) - 1)    # products per inference

    def details(self):
        return ["product " + " * ".join("%" + i for i in self.inputs)]

    def component(self, src):
        return MultiplyLayer(self, src)

    def hls_precision(self):
        return {"result": ap_type(self.type)}, None

    def manifest_fields(self):
        return {"multipliers": self.size * (len(self.inputs) - 1)}

    def problems(self, src):
        out = source_problems(self, src)
        frac = sum(s.type.frac for s in src)
        return out + ([] if frac == self.type.frac else
                      [f"{self.type.frac} fraction bits, the sources' sum to {frac}"])
