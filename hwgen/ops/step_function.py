"""`StepFunction`: a per-channel piecewise-constant map of the input code,
`levels[c][#(thresholds[c] <= x)]` (non-linear quantizers, a batch norm fused with one)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir.types import as_codes
from .base import Node, register


@register
@dataclass(eq=False)
class StepFunction(Node):
    """`thresholds[c]` is sorted ascending (input codes); `levels[c]` has one more entry
    (output codes). Output is `levels[c][j]` with `j` the number of thresholds <= x.
    A single row applies to every channel. Channels with fewer steps pad `thresholds`
    with a code above the input range. `function` says what it came from.
    """

    thresholds: np.ndarray = field(default=None)
    levels: np.ndarray = field(default=None)
    function: str = ""
    op = "step"

    def evaluate(self, src, x):
        """Per-channel lookup; channels are the last axis."""
        th, lv = self.thresholds, self.levels
        if th.shape[0] == 1:
            idx = np.searchsorted(th[0], x.ravel(), side="right").reshape(x.shape)
            return as_codes(lv[0][idx])
        flat = x.reshape(-1, x.shape[-1])
        out = np.empty(flat.shape, dtype=lv.dtype)
        for c in range(flat.shape[1]):
            out[:, c] = lv[c][np.searchsorted(th[c], flat[:, c], side="right")]
        return as_codes(out.reshape(x.shape))

    def interval(self, src):
        """min/max of the levels reachable between the interval ends, per element."""
        flat_lo, flat_hi = src.lo.reshape(-1), src.hi.reshape(-1)
        channels = self.thresholds.shape[0]
        out_lo = np.empty(flat_lo.shape, dtype=object)
        out_hi = np.empty(flat_hi.shape, dtype=object)
        last = self.shape[-1]
        for k in range(flat_lo.size):
            c = (k % last) if channels > 1 else 0
            th, lv = self.thresholds[c], self.levels[c]
            i = np.searchsorted(th, flat_lo[k], side="right")
            j = np.searchsorted(th, flat_hi[k], side="right")
            reach = lv[i:j + 1]
            out_lo[k], out_hi[k] = int(reach.min()), int(reach.max())
        return as_codes(out_lo).reshape(self.shape), as_codes(out_hi).reshape(self.shape)

    def logic_levels(self) -> int:
        return 1

    def stats(self):
        return 0, 0, 0

    def details(self):
        return [f"{self.thresholds.shape[0]} channel(s), "
                f"{self.thresholds.shape[1]} thresholds: {self.function}"]
