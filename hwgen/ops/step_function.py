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
    balanced multiplexer tree over the levels (log2 depth instead of a priority chain).
    Level k of the op is the tree's level k from the leaves (the comparators are in level
    1); a register after level k holds the subtrees finished by then and the comparisons
    the levels above still select with."""

    def compute(self, m: Module) -> list:
        node = self.node
        trees = node.element_trees(self.src)
        xs = self.inputs
        selects = [{} for _ in trees]           # per element: mux -> its comparison
        values = [{} for _ in trees]            # per element: mux -> its value
        out: list = [None] * len(trees)

        def select(e, n):
            return selects[e][n] if n in selects[e] else xs[e] >= n.threshold

        def value(e, t):
            return values[e][t] if isinstance(t, _Mux) else Const(t, element_shape(t, t))

        for level in range(1, node.logic_levels() + 1):
            for e, tree in enumerate(trees):
                for n in _at_height(tree, level):
                    values[e][n] = Mux(select(e, n), value(e, n.high), value(e, n.low))
                if max(height(tree), 1) == level:           # this element is done
                    out[e] = fit(m, value(e, tree), node, e, "f")
            if level in node.register_after:
                finished = [e for e, o in enumerate(out) if o is not None]
                live = [(e, kind, n) for e, tree in enumerate(trees) if out[e] is None
                        for kind, n in _live(tree, level)]
                regs = self.stage(m, level, [out[e] for e in finished] +
                                  [select(e, n) if kind == "select" else values[e][n]
                                   for e, kind, n in live])
                for e, r in zip(finished, regs):
                    out[e] = r
                for (e, kind, n), r in zip(live, regs[len(finished):]):
                    (selects if kind == "select" else values)[e][n] = r
        return out


@dataclass(eq=False, frozen=True)
class _Mux:
    """A node of one element's multiplexer tree: `high` where the input is at or above
    `threshold`, else `low`; a subtree whose levels are all one is that level (an int)."""
    threshold: int
    high: "_Mux | int"
    low: "_Mux | int"
    height: int                  # its level from the leaves (1: over two levels)
    lo_level: int
    hi_level: int


def height(tree) -> int:
    return tree.height if isinstance(tree, _Mux) else 0


def step_tree(thresholds, levels):
    """The balanced multiplexer tree of one element's steps (the thresholds inside its
    input's range and the levels between them)."""
    levels = [int(v) for v in levels]
    if len(set(levels)) == 1:
        return levels[0]
    mid = len(thresholds) // 2
    high = step_tree(thresholds[mid + 1:], levels[mid + 1:])
    low = step_tree(thresholds[:mid], levels[:mid + 1])
    return _Mux(int(thresholds[mid]), high, low, 1 + max(height(high), height(low)),
                min(levels), max(levels))


def _at_height(tree, h: int) -> list:
    """The muxes of `tree` at height `h`."""
    if not isinstance(tree, _Mux) or tree.height < h:
        return []
    if tree.height == h:
        return [tree]
    return _at_height(tree.high, h) + _at_height(tree.low, h)


def _live(tree, level: int) -> list:
    """What a register after `level` holds of an unfinished tree: ("value", mux) for each
    subtree finished by then whose parent is not, ("select", mux) for each mux above."""
    if not isinstance(tree, _Mux):
        return []
    if tree.height <= level:
        return [("value", tree)]
    return [("select", tree)] + _live(tree.high, level) + _live(tree.low, level)


def _element_range(src, e: int) -> tuple[int, int]:
    """Element `e`'s input codes (the whole input type where no ranges are inferred)."""
    if src.lo is None:
        return src.type.min_code, src.type.max_code
    return int(src.lo.reshape(-1)[e]), int(src.hi.reshape(-1)[e])


def _in_range(thresholds, lo: int, hi: int) -> tuple[int, int]:
    """The slice of the thresholds a code in [lo, hi] is compared against (those that can
    change the level)."""
    return (int(np.searchsorted(thresholds, lo, side="right")),
            int(np.searchsorted(thresholds, hi, side="right")))


def step_value(x, lo: int, hi: int, thresholds, levels):
    """One channel's step function of `x` (codes in [lo, hi]): only the thresholds inside
    that range are compared (no registers: a folded layer's lane)."""
    i0, i1 = _in_range(thresholds, lo, hi)
    return _tree_value(x, step_tree(thresholds[i0:i1], levels[i0:i1 + 1]))


def _tree_value(x, tree):
    if not isinstance(tree, _Mux):
        return Const(tree, element_shape(tree, tree))
    return Mux(x >= tree.threshold, _tree_value(x, tree.high), _tree_value(x, tree.low))


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

    def element_trees(self, src) -> list:
        """Per element, its multiplexer tree over the thresholds inside its input's range
        (built once for the elements that share their steps and that range)."""
        trees, out = {}, []
        for e in range(self.size):
            c = self.row(e)
            key = (c,) + _in_range(self.thresholds[c], *_element_range(src, e))
            if key not in trees:
                _, i0, i1 = key
                trees[key] = step_tree(self.thresholds[c][i0:i1],
                                       self.levels[c][i0:i1 + 1])
            out.append(trees[key])
        return out

    def logic_levels(self) -> int:
        """The levels of the deepest tree any input range can take: at most the bit length
        of the longest row of thresholds (trees halve it; uniform subtrees are leaves)."""
        return max(1, self.thresholds.shape[1].bit_length())

    def level_costs(self, src):
        """A LUT level per level of the tree (about what Yosys and ABC map on ECP5: 255
        thresholds took ten LUT4s in a row, and the random MLP whose schedule counted
        them as one level routed at 35 MHz against its 50 MHz target); the comparators'
        carry chains, on the input's width, in the first. Levels deeper than every
        element's tree are wiring."""
        deepest = max(height(t) for t in self.element_trees(src))
        bits = max(element_shape(*_element_range(src, e)).width for e in range(self.size))
        return tuple((1, bits if k == 1 else 0) if k <= max(deepest, 1) else (0, 0)
                     for k in range(1, self.logic_levels() + 1))

    def register_bits(self, level: int, src) -> int:
        """Bits a register after `level` holds: the finished outputs, and of each
        unfinished tree its finished subtrees and the comparisons still to select with."""
        held: dict = {}                       # per shared tree
        total = 0
        for e, tree in enumerate(self.element_trees(src)):
            if height(tree) <= level:
                total += element_shape(int(self.lo.reshape(-1)[e]),
                                       int(self.hi.reshape(-1)[e])).width
                continue
            if tree not in held:
                held[tree] = sum(1 if kind == "select" else
                                 element_shape(n.lo_level, n.hi_level).width
                                 for kind, n in _live(tree, level))
            total += held[tree]
        return total

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
