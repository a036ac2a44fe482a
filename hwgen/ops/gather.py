"""`Gather`: output element j is input element `index[j]`, or zero where `index[j]` is -1
(ZeroPadding, Cropping, UpSampling: pure wiring in hardware)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Const, Module

from ..ir.types import as_codes
from .base import Node, register
from .component import Layer


class GatherLayer(Layer):
    def compute(self, m: Module) -> list:
        x = self.inputs
        return [x[int(i)] if i >= 0 else Const(0, 1) for i in self.node.index]


@register
@dataclass(eq=False, frozen=True)
class Gather(Node):
    index: np.ndarray = field(default=None, repr=False)    # [size] input element or -1
    what: str = ""                                          # e.g. "zero padding (1, 1)"
    # What the map is on a channels-last image, for the streaming form: ("pad" or "crop",
    # (top, bottom, left, right)) or ("upsample", (rows, columns)); () for none of them.
    geometry: tuple = ()
    op = "gather"

    def _take(self, codes, n: int) -> np.ndarray:
        x = as_codes(codes).reshape(n, -1)
        x = np.concatenate([x, np.zeros((n, 1), dtype=x.dtype)], axis=1)
        return x[:, self.index].reshape((n,) + tuple(self.shape))

    def evaluate(self, src, x):
        return self._take(x, x.shape[0])

    def interval(self, src):
        return self._take(src.lo, 1)[0], self._take(src.hi, 1)[0]

    def logic_levels(self) -> int:
        return 0         # wires only

    def stats(self):
        return 0, 0, 0

    def details(self):
        return [self.what] if self.what else []

    def component(self, src):
        return GatherLayer(self, src)

    def hls_precision(self):
        return None, None        # hls4ml's padding, cropping and upsampling keep the type

    def manifest_fields(self):
        return {}

    def problems(self, src):
        out = []
        if self.index is None or self.index.shape != (self.size,):
            out.append(f"index {None if self.index is None else self.index.shape} for "
                       f"{self.size} elements")
        elif self.index.size and (int(self.index.max()) >= src.size or int(self.index.min()) < -1):
            out.append(f"an index outside the input's {src.size} elements")
        if self.type != src.type:
            out.append(f"format {self.type} differs from its input's {src.type}")
        return out
