"""`Relu`: max(x, 0), exactly (same fraction bits in and out: the codes only clamp)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Node, register


@register
@dataclass(eq=False)
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
