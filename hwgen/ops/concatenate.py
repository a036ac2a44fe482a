"""`Concatenate`: its sources side by side along `axis` (of the shape without the batch
axis), each aligned to the output's fraction bits (exact shifts: wires in hardware)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Module

from .base import Node, register
from .component import Layer, fit
from .hls_types import ap_type
from .merge import aligned, aligned_bounds, source_problems


class ConcatenateLayer(Layer):
    def compute(self, m: Module) -> list:
        node, frac = self.node, self.node.type.frac
        moved = [[x << (frac - s.type.frac) for x in group]
                 for group, s in zip(self.input_groups, self.src)]
        flat = [v for group in moved for v in group]
        order = node.element_order(self.src)
        return [fit(m, flat[k], node, j, "cat") for j, k in enumerate(order)]


@register
@dataclass(eq=False, frozen=True)
class Concatenate(Node):
    axis: int = -1               # of the shape without the batch axis, >= 0
    op = "concatenate"
    arity = None

    def element_order(self, src) -> list[int]:
        """For each output element (row-major), its index among the sources' elements
        laid one source after the other."""
        base, parts = 0, []
        for s in src:
            parts.append(np.arange(base, base + s.size).reshape(s.shape))
            base += s.size
        return np.concatenate(parts, axis=self.axis).reshape(-1).tolist()

    def evaluate(self, src, x):
        return np.concatenate(aligned(x, src, self.type.frac), axis=self.axis + 1)

    def interval(self, src):
        bounds = aligned_bounds(src, self.type.frac)
        return (np.concatenate([a for a, _ in bounds], axis=self.axis),
                np.concatenate([b for _, b in bounds], axis=self.axis))

    def logic_levels(self) -> int:
        return 0         # wires

    def stats(self):
        return 0, 0, 0

    def details(self):
        return [f"axis {self.axis}"]

    def component(self, src):
        return ConcatenateLayer(self, src)

    def hls_precision(self):
        return {"result": ap_type(self.type)}, None

    def manifest_fields(self):
        return {}

    def problems(self, src):
        out = source_problems(self, src, self.type.frac, same_shape=False)
        try:
            shape = np.concatenate([np.zeros(s.shape) for s in src], axis=self.axis).shape
        except (ValueError, np.exceptions.AxisError) as e:
            return out + [f"sources do not concatenate on axis {self.axis}: {e}"]
        return out + ([] if tuple(shape) == tuple(self.shape) else
                      [f"shape {self.shape}, the sources concatenate to {shape}"])
