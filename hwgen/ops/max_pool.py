"""`MaxPool`: the maximum over each window of a channels-last image or sequence, per
channel, exactly (MaxPooling1D/2D, GlobalMaxPooling1D/2D). Padding pixels never win, as in
TensorFlow, where they are minus infinity."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Module, Mux

from ..ir.types import as_codes
from .base import Node, register
from .component import Layer, fit
from .hls_types import ap_type
from .merge import staged_tree, tree_levels
from .window import Window, image_of


class MaxPoolLayer(Layer):
    """Per output element a balanced tree of compare-and-select over its window's real
    pixels, registered where the schedule asks."""

    def compute(self, m: Module) -> list:
        node, x = self.node, self.inputs
        c = image_of(tuple(node.shape))[2]
        operands = []
        for taps in node.window.taps:
            real = [int(t) for t in taps if t >= 0]
            for ch in range(c):
                operands.append([(x[t * c + ch], None) for t in real])
        best = staged_tree(self, m, operands,
                           lambda a, b: (Mux(b[0] > a[0], b[0], a[0]), None))
        return [fit(m, v, node, j, "max") for j, (v, _) in enumerate(best)]


@register
@dataclass(eq=False, frozen=True)
class MaxPool(Node):
    window: Window = field(default=None)
    op = "max_pool"

    def _pool(self, codes, n: int, fill) -> np.ndarray:
        x = as_codes(codes).reshape(n, self.window.pixels, -1)
        return np.max(self.window.gather(x, fill), axis=2).reshape((n,) + tuple(self.shape))

    def evaluate(self, src, x):
        # A padding tap reads the least code of the format: it never exceeds a real pixel.
        return self._pool(x, x.shape[0], src.type.min_code)

    def interval(self, src):
        low = src.type.min_code
        return (self._pool(src.lo, 1, low)[0], self._pool(src.hi, 1, low)[0])

    def logic_levels(self) -> int:
        return tree_levels(int(np.max(self.window.counts)))

    def stats(self):
        return 0, 0, 0

    def details(self):
        return [f"max over {self.window.describe()}"]

    def component(self, src):
        return MaxPoolLayer(self, src)

    def hls_precision(self):
        return {"result": ap_type(self.type)}, None

    def manifest_fields(self):
        oh, ow = self.window.out_image
        return {"window": {"kernel": list(self.window.kernel),
                           "strides": list(self.window.strides),
                           "pads": list(self.window.pads), "out_image": [oh, ow]},
                "comparators": int(np.sum(self.window.counts - 1)) * self.shape[-1]}

    def problems(self, src):
        try:
            h, w, c = image_of(tuple(src.shape))
            oh, ow, co = image_of(tuple(self.shape))
        except ValueError as e:
            return [str(e)]
        out = self.window.problems()
        if self.window.image != (h, w) or (oh, ow) != self.window.out_image or c != co:
            out.append(f"window {self.window.describe()} for {src.shape} -> {self.shape}")
        elif np.any(self.window.counts < 1):
            out.append("a window reads only padding")
        if self.type != src.type:
            out.append(f"format {self.type} differs from its input's {src.type}")
        return out
