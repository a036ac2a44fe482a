"""`StepFunction`: a per-channel piecewise-constant map of the input code,
`levels[c][#(thresholds[c] <= x)]` (non-linear quantizers, a batch norm fused with one)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Const, Module, Mux

from ..ir.types import as_codes
from .base import Node, register, same_shape
from .component import Layer, element_shape, fit


class StepLayer(Layer):
    """Per element: comparators against the thresholds inside its input range, and a
    balanced multiplexer tree over the levels (log2 depth instead of a priority chain)."""

    def compute(self, m: Module) -> list:
        node = self.node
        lo, hi = self.src.lo.reshape(-1), self.src.hi.reshape(-1)
        out = []
        for e, x in enumerate(self.inputs):
            c = node.row(e)
            out.append(step_value(x, int(lo[e]), int(hi[e]), node.thresholds[c],
                                  node.levels[c]))
        return self.stage(m, 1, [fit(m, v, self.node, j, "f") for j, v in enumerate(out)])


def step_value(x, lo: int, hi: int, thresholds, levels):
    """One channel's step function of `x` (codes in [lo, hi]): only the thresholds inside
    that range are compared."""
    i0, i1 = _in_range(thresholds, lo, hi)
    return _mux_tree(x, [int(t) for t in thresholds[i0:i1]],
                     [int(v) for v in levels[i0:i1 + 1]])


def _in_range(thresholds, lo: int, hi: int) -> tuple[int, int]:
    """The slice of the thresholds a code in [lo, hi] is compared against (those that can
    change the level)."""
    return (int(np.searchsorted(thresholds, lo, side="right")),
            int(np.searchsorted(thresholds, hi, side="right")))


def _mux_tree(x, thresholds: list[int], levels: list[int]):
    if len(set(levels)) == 1:
        return Const(levels[0], element_shape(levels[0], levels[0]))
    mid = len(thresholds) // 2
    return Mux(x >= thresholds[mid], _mux_tree(x, thresholds[mid + 1:], levels[mid + 1:]),
               _mux_tree(x, thresholds[:mid], levels[:mid + 1]))


@register
@dataclass(eq=False, frozen=True)
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

    def row(self, e: int) -> int:
        """The row of steps that element `e` (flat index) uses: one row for all, one per
        channel (the last axis), or one per element."""
        rows = self.thresholds.shape[0]
        if rows == 1:
            return 0
        return e if rows == self.size else e % self.shape[-1]

    def evaluate(self, src, x):
        """Per-channel (or per-element) lookup; channels are the last axis."""
        th, lv = self.thresholds, self.levels
        if th.shape[0] == 1:
            idx = np.searchsorted(th[0], x.ravel(), side="right").reshape(x.shape)
            return as_codes(lv[0][idx])
        shape = x.shape
        x = x.reshape((-1,) + tuple(self.shape))        # codes may come flat
        flat = x.reshape(-1, x.shape[-1] if th.shape[0] != self.size else self.size)
        out = np.empty(flat.shape, dtype=lv.dtype)
        for c in range(flat.shape[1]):
            out[:, c] = lv[c][np.searchsorted(th[c], flat[:, c], side="right")]
        return as_codes(out.reshape(shape))

    def interval(self, src):
        """min/max of the levels reachable between the interval ends, per element."""
        flat_lo, flat_hi = src.lo.reshape(-1), src.hi.reshape(-1)
        out_lo = np.empty(flat_lo.shape, dtype=object)
        out_hi = np.empty(flat_hi.shape, dtype=object)
        for k in range(flat_lo.size):
            c = self.row(k)
            th, lv = self.thresholds[c], self.levels[c]
            i = np.searchsorted(th, flat_lo[k], side="right")
            j = np.searchsorted(th, flat_hi[k], side="right")
            reach = lv[i:j + 1]
            out_lo[k], out_hi[k] = int(reach.min()), int(reach.max())
        return as_codes(out_lo).reshape(self.shape), as_codes(out_hi).reshape(self.shape)

    def logic_levels(self) -> int:
        return 1

    def level_costs(self, src):
        """One level, as deep as its comparators (a carry chain on the input's width, as
        one LUT level) and its multiplexer tree (a LUT level per level of the tree, about
        what Yosys and ABC map on ECP5: 255 thresholds took ten LUT4s in a row, and the
        random MLP whose schedule counted them as one level routed at 35 MHz against
        its 50 MHz target)."""
        if src.lo is None:
            lo = np.full(self.size, src.type.min_code, dtype=object)
            hi = np.full(self.size, src.type.max_code, dtype=object)
        else:
            lo, hi = src.lo.reshape(-1), src.hi.reshape(-1)
        steps = 0
        for e in range(self.size):
            i0, i1 = _in_range(self.thresholds[self.row(e)], int(lo[e]), int(hi[e]))
            steps = max(steps, i1 - i0)
        bits = max(element_shape(int(a), int(b)).width for a, b in zip(lo, hi))
        return ((max(1, steps.bit_length()), bits),)

    def stats(self):
        return 0, 0, 0

    def details(self):
        return [f"{self.thresholds.shape[0]} channel(s), "
                f"{self.thresholds.shape[1]} thresholds: {self.function}"]

    def component(self, src):
        return StepLayer(self, src)

    def hls_precision(self):
        return None, (f"layer {self.layer} ({self.op}: hwgen folds it exactly; hls4ml "
                      "computes it in its own rounded arithmetic)")

    def manifest_fields(self):
        return {}

    def problems(self, src):
        out = same_shape(self, src)
        rows = self.thresholds.shape[0]
        if rows not in (1, self.shape[-1], self.size) or self.levels.shape != \
                (rows, self.thresholds.shape[1] + 1):
            out.append(f"thresholds {self.thresholds.shape} and levels "
                       f"{self.levels.shape} for {self.shape[-1]} channels, "
                       f"{self.size} elements")
        elif np.any(np.diff(self.thresholds, axis=1) < 0):
            out.append("thresholds not in ascending order")
        return out


    def lane_value(self, m, x, lo: int, hi: int, frac_in: int, name: str):
        """This op on one lane of a folded layer (one row of steps shared by the lane's
        outputs; `passes.fold_layers` fuses only those)."""
        return step_value(x, lo, hi, self.thresholds[0], self.levels[0])
