"""`Quantize`: requantize to `type` with `rounding` and `overflow`, optionally after
QKeras's float32 cast of the input (quantized_relu rounds its input to float32 first)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..ir.types import FixedType, Overflow, Rounding, requantize, round_to_float32
from .base import Node, register, through


@register
@dataclass(eq=False)
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

    def stats(self):
        return 0, 0, 0

    def details(self):
        return [f"rounding={self.rounding.value} overflow={self.overflow.value} "
                f"float32_cast={self.float32_cast}"]
