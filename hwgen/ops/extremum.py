"""`Extremum`: the element-wise maximum or minimum of its sources (Keras's Maximum and
Minimum), exactly: the sources aligned to the output's fraction bits, then compared."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Module, Mux

from .base import Node, register
from .component import Layer, fit
from .hls_types import ap_type
from .merge import aligned, aligned_bounds, source_problems, staged_tree, tree_levels


class ExtremumLayer(Layer):
    """Per element a balanced tree of compare-and-select."""

    def compute(self, m: Module) -> list:
        node, frac = self.node, self.node.type.frac
        operands = [[(x[j] << (frac - s.type.frac), None)
                     for x, s in zip(self.input_groups, self.src)] for j in range(node.size)]
        if node.kind == "max":
            pick = lambda a, b: (Mux(b[0] > a[0], b[0], a[0]), None)    # noqa: E731
        else:
            pick = lambda a, b: (Mux(b[0] < a[0], b[0], a[0]), None)    # noqa: E731
        best = staged_tree(self, m, operands, pick)
        return [fit(m, v, node, j, node.kind) for j, (v, _) in enumerate(best)]


@register
@dataclass(eq=False, frozen=True)
class Extremum(Node):
    kind: str = "max"            # "max" (Maximum) or "min" (Minimum)
    op = "extremum"
    arity = None

    def _reduce(self):
        return np.maximum if self.kind == "max" else np.minimum

    def evaluate(self, src, x):
        out = self._reduce().reduce(aligned(x, src, self.type.frac))
        return out.reshape((out.shape[0],) + tuple(self.shape))

    def interval(self, src):
        bounds = aligned_bounds(src, self.type.frac)
        f = self._reduce()
        return (f.reduce([a for a, _ in bounds]).reshape(self.shape),
                f.reduce([b for _, b in bounds]).reshape(self.shape))

    def logic_levels(self) -> int:
        return tree_levels(len(self.inputs))

    def stats(self):
        return 0, 0, 0

    def details(self):
        return [f"{self.kind} of " + ", ".join("%" + i for i in self.inputs)]

    def component(self, src):
        return ExtremumLayer(self, src)

    def hls_precision(self):
        return {"result": ap_type(self.type)}, None

    def manifest_fields(self):
        return {"comparators": self.size * (len(self.inputs) - 1)}

    def problems(self, src):
        out = source_problems(self, src, self.type.frac)
        return out + ([] if self.kind in ("max", "min") else [f"kind {self.kind!r}"])
