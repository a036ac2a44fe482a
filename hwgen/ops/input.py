"""`Input`: the model's input codes, as given (`type` is the input grid)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hls_types import ap_type
from .base import Node, register


@register
@dataclass(eq=False, frozen=True)
class Input(Node):
    op = "input"

    def evaluate(self, src, x):
        return x

    def interval(self, src):
        return (np.full(self.shape, self.type.min_code, dtype=np.int64),
                np.full(self.shape, self.type.max_code, dtype=np.int64))

    def logic_levels(self) -> int:
        return 0

    def stats(self):
        return 0, 0, 0

    def details(self):
        return []

    def component(self, src):
        return None          # the top's input registers are the input

    def hls_precision(self):
        return {"result": ap_type(self.type)}, None

    def manifest_fields(self):
        return {}

    def problems(self, src):
        return []            # the first node; check_graph refuses a second input
