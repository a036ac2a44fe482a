"""`Reshape`: the same codes in a new shape (Flatten, Reshape)."""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module

from .base import Node, register
from .component import Layer


class ReshapeLayer(Layer):
    def compute(self, m: Module) -> list:
        return list(self.inputs)


@register
@dataclass(eq=False, frozen=True)
class Reshape(Node):
    op = "reshape"

    def evaluate(self, src, x):
        return x.reshape((x.shape[0],) + tuple(self.shape))

    def interval(self, src):
        return src.lo.reshape(self.shape), src.hi.reshape(self.shape)

    def logic_levels(self) -> int:
        return 0         # wires only

    def stats(self):
        return 0, 0, 0

    def details(self):
        return []

    def component(self, src):
        return ReshapeLayer(self, src)

    def hls_precision(self):
        return None, None       # hls4ml's reshape keeps its input's type

    def manifest_fields(self):
        return {}

    def problems(self, src):
        out = [] if self.size == src.size else \
            [f"{self.size} elements from an input of {src.size}"]
        return out + ([] if self.type == src.type else
                      [f"format {self.type} differs from its input's {src.type}"])
